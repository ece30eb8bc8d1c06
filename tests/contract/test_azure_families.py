"""Families as gallery image definitions, over real HTTP against the ARM emulator (issue 10 §2).

The matrix of source VMs (Gen1/Gen2 x Standard/TrustedLaunch, and an Arm64 NVMe one) captured into
new families, undeclared (everything inferred) and declared (what the file says, checked against
the VM at plan time); convergence (plan -> apply -> plan empty); ``import`` adopting definitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.apply import apply_plan
from reconciler.emulators.arm import ArmEmulator
from reconciler.model import Action
from reconciler.plan import make_plan
from reconciler.providers import azure
from reconciler.spec import parse_spec

from .harness_azure_managed import LOCATION, RG, RP, SUB, FakeClock, vm_resource
from .test_azure_provider import open_azure

GALLERY = "fams"
GPATH = f"{RP}/galleries/{GALLERY}"

#: VM name -> (generation, security type, size, disk controller).
VMS = {
    "gen1-std": ("V1", None, "Standard_D2s_v5", None),
    "gen2-std": ("V2", None, "Standard_D2s_v5", None),
    "gen2-tl": ("V2", "TrustedLaunch", "Standard_D2s_v5", None),
    "gen2-tl-arm": ("V2", "TrustedLaunch", "Standard_D2ps_v5", "NVMe"),
}


def source_vm(name: str) -> dict[str, Any]:
    gen, security, size, controller = VMS[name]
    vm = vm_resource({"name": name, "os": "linux", "power_state": "deallocated", "os_state": "generalized"})
    vm["properties"]["instanceView"]["hyperVGeneration"] = gen
    vm["properties"]["hardwareProfile"]["vmSize"] = size
    if security:
        vm["properties"]["securityProfile"] = {"securityType": security}
    if controller:
        vm["properties"]["storageProfile"]["diskControllerType"] = controller
    return vm


def gallery_resource() -> dict[str, Any]:
    return {"id": GPATH, "name": GALLERY, "type": "Microsoft.Compute/galleries", "location": LOCATION,
            "properties": {"identifier": {"uniqueName": f"{SUB}-{GALLERY.upper()}"}, "provisioningState": "Succeeded"}}


def definition_resource(name: str, owner: str | None) -> dict[str, Any]:
    return {"id": f"{GPATH}/images/{name}", "name": name, "type": "Microsoft.Compute/galleries/images",
            "location": LOCATION, "tags": {azure.TAG_OWNER: owner} if owner else {},
            "properties": {"osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
                           "identifier": {"publisher": "them", "offer": name, "sku": name},
                           "description": "theirs", "provisioningState": "Succeeded"}}


def version_resource(definition: str, version: str, owner: str | None) -> dict[str, Any]:
    return {"id": f"{GPATH}/images/{definition}/versions/{version}", "name": version,
            "type": "Microsoft.Compute/galleries/images/versions", "location": LOCATION,
            "tags": {azure.TAG_OWNER: owner, azure.TAG_TYPE: "os"} if owner else {},
            "properties": {"publishingProfile": {"targetRegions": [{"name": "West Europe", "regionalReplicaCount": 1,
                                                                    "storageAccountType": "Standard_LRS"}],
                                                 "replicaCount": 1, "publishedDate": "2026-01-01T00:00:00Z"},
                           "storageProfile": {"source": {"virtualMachineId": f"{RP}/virtualMachines/gen2-std"},
                                              "osDiskImage": {"hostCaching": "ReadWrite"}},
                           "provisioningState": "Succeeded"}}


@pytest.fixture
def world() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    resources = [source_vm(n) for n in VMS] + [gallery_resource()]
    resources += [definition_resource("unowned", None), version_resource("unowned", "1.0.0", None),
                  definition_resource("theirs", "other-catalog"), version_resource("theirs", "1.0.0", None)]
    with ArmEmulator({"resources": resources}, page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def desired(emu: ArmEmulator, images: list[tuple[str, str]], families: str = "") -> Any:
    lines = ["version: 1", "catalog:", "  name: platform", "  provider: azure", f"  subscription: {SUB}",
             f"  resource_group: {RG}", f"  location: {LOCATION}", f"  gallery: {GALLERY}", f"  endpoint: {emu.url}"]
    if families:
        lines += ["families:", *(f"  {line}" for line in families.strip("\n").splitlines())]
    lines.append("images:")
    for name, vm in images:
        lines += [f"  - name: {name}", "    type: os", "    os: linux", f"    source: {{vm: {vm}}}"]
    return parse_spec(("\n".join(lines) + "\n").encode(), "images.yaml")


def definition(emu: ArmEmulator, name: str) -> dict[str, Any]:
    found = emu.backend.get(f"{GPATH}/images/{name}")
    assert found is not None, name
    props: dict[str, Any] = found["properties"]
    return props


def features(props: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in props.get("features") or []}


def converge(p: azure.AzureProvider, state: Any) -> Any:
    plan = make_plan(state, p.snapshot(), p.capabilities)
    assert plan.applyable, plan.all_errors
    result = apply_plan(plan, p, parallelism=4)
    assert result.ok, [r.error for r in result.results]
    again = make_plan(state, p.snapshot(), p.capabilities)
    assert [c.action for c in again.changes] == [Action.NOOP] * len(again.changes) and not again.errors
    return plan


def test_every_source_kind_converges_into_a_new_family_with_everything_inferred(world) -> None:
    emu, p = world
    state = desired(emu, [(f"{vm}/1.0.0", vm) for vm in VMS])
    plan = converge(p, state)
    steps = {c.name: c.steps for c in plan.changes}
    assert steps["gen2-tl/1.0.0"] == ("create definition gen2-tl (V2, TrustedLaunch, x64)", "capture image")
    assert steps["gen1-std/1.0.0"] == ("create definition gen1-std (V1, Standard, x64)", "capture image")
    expected = {
        "gen1-std": ("V1", "x64", {}),
        "gen2-std": ("V2", "x64", {}),
        "gen2-tl": ("V2", "x64", {"SecurityType": "TrustedLaunch"}),
        "gen2-tl-arm": ("V2", "Arm64", {"SecurityType": "TrustedLaunch", "DiskControllerTypes": "SCSI, NVMe"}),
    }
    for vm, (gen, arch, feats) in expected.items():
        props = definition(emu, vm)
        assert (props["hyperVGeneration"], props["architecture"], features(props)) == (gen, arch, feats), vm
        assert props["identifier"] == {"publisher": "platform", "offer": vm, "sku": vm}


def test_a_declared_family_is_created_as_declared_and_plans_empty_after(world) -> None:
    emu, p = world
    families = """
web:
  description: nginx
  publisher: contoso
  security_type: TrustedLaunch
  accelerated_networking: true
  hibernation: false
  recommended: {vcpus: {min: 2}}
  eula: see https://contoso.example/eula
  end_of_life_date: 2028-01-01
"""
    converge(p, desired(emu, [("web/1.0.0", "gen2-tl")], families))
    props = definition(emu, "web")
    assert (props["description"], props["identifier"]["publisher"], props["hyperVGeneration"]) == (
        "nginx", "contoso", "V2")
    assert features(props) == {"SecurityType": "TrustedLaunch", "IsAcceleratedNetworkSupported": "true",
                               "IsHibernateSupported": "false"}
    assert (props["recommended"], props["endOfLifeDate"][:10]) == ({"vCPUs": {"min": 2}}, "2028-01-01")
    # A second version captured from a matching VM: no definition step, still converges.
    plan = converge(p, desired(emu, [("web/1.0.0", "gen2-tl"), ("web/1.1.0", "gen2-tl")], families))
    assert [c.steps for c in plan.pending] == [("capture image",)]


@pytest.mark.parametrize(("vm", "family", "code"), [
    ("gen2-tl", "hyper_v_generation: V1", "azure-gallery-generation"),
    ("gen2-tl", "security_type: TrustedLaunchSupported", "azure-gallery-security-type"),
    ("gen1-std", "security_type: TrustedLaunch", "azure-gallery-security-type"),
    ("gen2-std", "architecture: Arm64", "azure-gallery-architecture"),
])
def test_a_declared_family_the_source_vm_cannot_go_into_is_a_plan_error(world, vm: str, family: str,
                                                                        code: str) -> None:
    emu, p = world
    plan = make_plan(desired(emu, [("web/1.0.0", vm)], f"web: {{{family}}}"), p.snapshot(), p.capabilities)
    assert [e.code for e in plan.all_errors] == [code]
    assert "as families.web declares it" in plan.all_errors[0].summary


def test_a_vm_that_does_not_match_an_existing_definition_is_refused_at_plan_time(world) -> None:
    emu, p = world
    converge(p, desired(emu, [("web/1.0.0", "gen2-tl")]))
    plan = make_plan(desired(emu, [("web/1.0.0", "gen2-tl"), ("web/1.1.0", "gen1-std")]), p.snapshot(),
                     p.capabilities)
    assert sorted(e.code for e in plan.all_errors) == ["azure-gallery-generation", "azure-gallery-security-type"]


def test_import_adopts_an_unowned_definition_but_never_another_catalogs(world) -> None:
    emu, p = world
    snap = p.snapshot()
    assert snap.families["unowned"].owner is None and snap.families["theirs"].owner == "other-catalog"
    index = snap.image_index()
    p.adopt(index["unowned/1.0.0"])
    p.adopt(index["theirs/1.0.0"])
    assert emu.backend.get(f"{GPATH}/images/unowned")["tags"][azure.TAG_OWNER] == "platform"
    assert emu.backend.get(f"{GPATH}/images/theirs")["tags"][azure.TAG_OWNER] == "other-catalog"
    after = p.snapshot()
    assert after.families["unowned"].owner == "platform"
    # Now ours: its declared description is an in-place update; theirs is a plan error.
    fams = "unowned: {description: ours}\ntheirs: {description: ours}"
    plan = make_plan(desired(emu, [("unowned/1.0.0", "gen2-std"), ("theirs/1.0.0", "gen2-std")], fams), after,
                     p.capabilities)
    assert [e.code for e in plan.errors] == ["family-not-owned"]
    carrier = next(c for c in plan.changes if c.name == "unowned/1.0.0")
    assert (carrier.action, [f.path for f in carrier.fields]) == (Action.UPDATE, ["families.unowned.description"])


def empty_definition(emu: ArmEmulator, name: str = "empty", owner: str | None = "platform") -> None:
    """A definition (Linux, generalized, V2, Standard, x64) with no versions in it."""
    emu.backend.resources[f"{GPATH}/images/{name}".lower()] = {
        **definition_resource(name, owner), "id": f"{GPATH}/images/{name}"}


def test_the_snapshot_holds_every_definition_also_those_without_versions(world) -> None:
    emu, p = world
    empty_definition(emu)
    emu.requests.clear()
    families = p.snapshot().families
    assert sorted(families) == ["empty", "theirs", "unowned"]
    empty = families["empty"]
    assert (empty.owner, empty.spec.hyper_v_generation, empty.spec.description) == ("platform", "V2", "theirs")
    assert empty.facts is not None and empty.facts.os_state.value == "generalized"  # type: ignore[attr-defined]
    # One paged list of the gallery's definitions (page size 2: two pages for three), no GET of any.
    gets = [r.path for r in emu.requests if r.method == "GET" and "/images" in r.path]
    assert gets.count(f"{GPATH}/images") == 2
    assert not [g for g in gets if g.startswith(f"{GPATH}/images/") and "/versions" not in g]


def test_a_capture_into_an_existing_empty_definition_that_matches_plans_no_create_and_converges(world) -> None:
    emu, p = world
    empty_definition(emu)
    state = desired(emu, [("empty/1.0.0", "gen2-std")], "empty: {hyper_v_generation: V2, description: ours}")
    plan = converge(p, state)
    [change] = plan.pending
    # The definition exists: no "create definition"; its declared description is updated in place.
    assert change.steps == ("update definition empty", "capture image")
    assert [f.path for f in change.fields if f.path.startswith("families.")] == ["families.empty.description"]
    assert definition(emu, "empty")["description"] == "ours"
    assert emu.backend.get(f"{GPATH}/images/empty/versions/1.0.0") is not None


def test_a_capture_into_an_existing_empty_definition_that_matches_without_declaring_it(world) -> None:
    emu, p = world
    empty_definition(emu)
    plan = converge(p, desired(emu, [("empty/1.0.0", "gen2-std")]))
    assert [c.steps for c in plan.pending] == [("capture image",)]
    assert definition(emu, "empty")["description"] == "theirs"  # undeclared: unmanaged


@pytest.mark.parametrize(("vm", "codes"), [
    ("gen1-std", ["azure-gallery-generation"]),
    ("gen2-tl", ["azure-gallery-security-type"]),
    ("gen2-tl-arm", ["azure-gallery-architecture", "azure-gallery-security-type"]),
])
def test_a_capture_into_an_existing_empty_definition_that_mismatches_is_a_plan_error(world, vm: str,
                                                                                     codes: list[str]) -> None:
    emu, p = world
    empty_definition(emu)
    plan = make_plan(desired(emu, [("empty/1.0.0", vm)]), p.snapshot(), p.capabilities)
    assert not plan.applyable
    assert sorted(e.code for e in plan.all_errors) == codes
    assert all("gallery definition 'empty'" in e.summary for e in plan.all_errors), plan.all_errors
    assert not any(s.startswith("create definition") for c in plan.changes for s in c.steps)


def test_a_declared_immutable_difference_on_an_existing_empty_definition_is_a_plan_error(world) -> None:
    emu, p = world
    empty_definition(emu)
    plan = make_plan(desired(emu, [("empty/1.0.0", "gen1-std")], "empty: {hyper_v_generation: V1}"), p.snapshot(),
                     p.capabilities)
    codes = sorted(e.code for e in plan.all_errors)
    assert codes == ["azure-gallery-generation", "family-immutable"], plan.all_errors


def test_a_definition_created_after_the_plan_is_checked_when_the_capture_finds_it(world) -> None:
    # The plan read no definition and plans its creation; someone creates it (V2) before apply:
    # apply finds it, refuses the fixed difference before writing anything.
    emu, p = world
    bad = desired(emu, [("empty/1.0.0", "gen1-std")], "empty: {hyper_v_generation: V1}")
    plan = make_plan(bad, p.snapshot(), p.capabilities)
    assert plan.applyable and plan.changes[0].steps[0].startswith("create definition empty")
    empty_definition(emu)
    result = apply_plan(plan, p)
    [failed] = result.results
    assert "exists with hyper_v_generation 'V2', families.empty declares 'V1'" in failed.error
    assert emu.backend.get(f"{GPATH}/images/empty/versions/1.0.0") is None
