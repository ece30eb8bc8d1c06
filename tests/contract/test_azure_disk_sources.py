"""Plan-time checks of non-VM sources over real HTTP (issue 10 §3, last bullet).

A managed image, an OS snapshot or a managed disk (and data snapshots) named by a capture is read
at plan time (``Provider.capture_sources``: DiskRP ``Disks - Get`` / ``Snapshots - Get``, ComputeRP
``Images_Get``) and checked, in managed mode and in gallery mode: it exists and is Succeeded, its
OS is the declared one, its generation is the declared (managed) or the definition's, its security
type and architecture are the definition's; a Trusted Launch disk makes no managed image. A plan
without such sources reads none. The emulator serves the GETs in the REST reference's shape, and
a saved plan notices a source that changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator
from reconciler.model import (
    FAMILY_EXTRA,
    CatalogConfig,
    DesiredState,
    ImageSpec,
    ImageType,
    Plan,
    Policy,
    Source,
    capture_source_key,
)
from reconciler.operations.saved import make_plan, read_snapshot
from reconciler.planfile import stale_reasons
from reconciler.providers import azure
from reconciler.providers.azure.vmfacts import VmFacts

from .harness_azure_managed import LOCATION, RP, SUB, TOKEN, FakeClock, settings
from .test_azure_vm_facts import GALLERY, GPATH, OWNER, definition, spec, version, vm

OTHER_RP = f"/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.Compute"


def disk(kind: str, name: str, *, os_type: str | None = "Linux", generation: str | None = "V1",
         security: str | None = None, arch: str | None = None, state: str = "Succeeded",
         disk_state: str | None = None, rp: str = RP) -> dict[str, Any]:
    """A ``Microsoft.Compute/snapshots`` or ``disks`` resource as DiskRP returns it (REST reference)."""
    props: dict[str, Any] = {"provisioningState": state, "diskSizeGB": 30}
    if os_type:
        props["osType"] = os_type
    if generation:
        props["hyperVGeneration"] = generation
    if security:
        props["securityProfile"] = {"securityType": security}
    if arch:
        props["supportedCapabilities"] = {"architecture": arch, "diskControllerTypes": "SCSI, NVMe"}
    if disk_state:
        props["diskState"] = disk_state
    return {"id": f"{rp}/{kind}/{name}", "name": name, "type": f"Microsoft.Compute/{kind}", "location": LOCATION,
            "properties": props}


def image(name: str, generation: str, *, os_type: str = "Linux") -> dict[str, Any]:
    return {"id": f"{RP}/images/{name}", "name": name, "type": "Microsoft.Compute/images", "location": LOCATION,
            "properties": {"provisioningState": "Succeeded", "hyperVGeneration": generation, "storageProfile": {
                "osDisk": {"osType": os_type, "osState": "Generalized", "caching": "ReadWrite"}, "dataDisks": []}}}


SOURCES = (
    disk("snapshots", "snap-v1"), disk("snapshots", "snap-v2", generation="V2"),
    disk("snapshots", "snap-v2-tl", generation="V2", security="TrustedLaunch"),
    disk("snapshots", "snap-cvm", generation="V2", security="ConfidentialVM_DiskEncryptedWithPlatformKey"),
    disk("snapshots", "snap-win", os_type="Windows"), disk("snapshots", "snap-creating", state="Creating"),
    disk("snapshots", "snap-nogen", generation=None), disk("snapshots", "snap-d0", os_type=None, generation=None),
    disk("disks", "disk-v2", generation="V2"),
    disk("disks", "disk-v2-tl-arm", generation="V2", security="TrustedLaunch", arch="Arm64"),
    disk("disks", "disk-uploading", disk_state="ReadyToUpload"),
    disk("snapshots", "far", generation="V2", rp=OTHER_RP),
    image("golden-v1", "V1"), image("golden-v2", "V2"),
)

DEFINITIONS: dict[str, tuple[str | None, str | None, str | None]] = {
    "d-v1": (None, None, None),
    "d-v2": ("V2", None, None),
    "d-v2-tl": ("V2", "TrustedLaunch", None),
    "d-v2-tl-arm": ("V2", "TrustedLaunch", "Arm64"),
}


def open_azure(emu: ArmEmulator, fake: FakeClock, **extra: Any) -> azure.AzureProvider:
    config = CatalogConfig(name=OWNER, provider="azure", settings=settings(emu, **extra))
    return azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": TOKEN}, clock=fake.clock, sleep=fake.sleep,
                               rand=lambda: 0.5)


@pytest.fixture
def managed() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    resources = [vm("gen2-std", "V2", "Standard", "Standard_D2s_v5"), *SOURCES]
    with ArmEmulator({"resources": resources}, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            yield emu, p
        finally:
            p.close()


@pytest.fixture
def gallery() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    resources: list[dict[str, Any]] = [
        vm("gen2-tl", "V2", "TrustedLaunch", "Standard_D2s_v5"), *SOURCES,
        {"id": GPATH, "name": GALLERY, "type": "Microsoft.Compute/galleries", "location": LOCATION,
         "properties": {"provisioningState": "Succeeded"}}]
    resources += [definition(n, *d) for n, d in DEFINITIONS.items()] + [version(n) for n in DEFINITIONS]
    with ArmEmulator({"resources": resources}, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def desired(*specs: ImageSpec) -> DesiredState:
    return DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(), images=specs,
                        digest="d")


def plan_of(p: azure.AzureProvider, *specs: ImageSpec) -> Plan:
    """The plan as ``reconciler plan`` makes it: the snapshot, then the sources its captures read."""
    return make_plan(desired(*specs), p)


def errors(p: azure.AzureProvider, one: ImageSpec) -> list[str]:
    change = next(c for c in plan_of(p, one).changes if c.name == one.name)
    return [e.code for e in change.errors]


def messages(p: azure.AzureProvider, one: ImageSpec) -> list[str]:
    change = next(c for c in plan_of(p, one).changes if c.name == one.name)
    return [f"{e.summary} | {e.hint}" for e in change.errors]


def from_(name: str, source: Source, **kw: Any) -> ImageSpec:
    return spec(name, "", source=source, **kw)


def converge(p: azure.AzureProvider, *specs: ImageSpec) -> None:
    from reconciler.apply import apply_plan
    from reconciler.model import Action

    plan = plan_of(p, *specs)
    assert not plan.errored, plan.all_errors
    result = apply_plan(plan, p)
    assert result.ok, [r.error for r in result.results if r.error]
    again = plan_of(p, *specs)
    assert [c.action for c in again.changes if c.name in {s.name for s in specs}] == [Action.NOOP] * len(specs)


def disk_gets(emu: ArmEmulator) -> list[str]:
    return [r.path for r in emu.requests if r.method == "GET" and ("/snapshots/" in r.path or "/disks/" in r.path
                                                                   or "/images/golden" in r.path)]


# --------------------------------------------------------------------------------------------------
# Reading


def test_the_sources_a_plan_captures_from_are_read_with_their_facts(
    managed: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    emu, p = managed
    specs = [from_("a", Source(snapshot="snap-v2-tl", data_snapshots=("snap-d0",)), type=ImageType.VM),
             from_("b", Source(disk="disk-v2-tl-arm"))]
    snapshot = read_snapshot(desired(*specs), p)
    assert snapshot.capture_sources is not None
    tl = snapshot.capture_sources[capture_source_key("snapshot", "snap-v2-tl")]
    assert tl is not None and (tl.kind, tl.name, tl.os, tl.state) == ("snapshot", "snap-v2-tl", "linux", "Succeeded")
    assert tl.facts == VmFacts(hyper_v_generation="V2", security_type="TrustedLaunch")
    arm = snapshot.capture_sources[capture_source_key("disk", "disk-v2-tl-arm")]
    assert arm is not None and isinstance(arm.facts, VmFacts) and arm.facts.architecture == "Arm64"
    assert set(snapshot.capture_sources) == {"snapshot:snap-v2-tl", "snapshot:snap-d0", "disk:disk-v2-tl-arm"}
    # One GET each, with DiskRP's api-version.
    gets = [r for r in emu.requests if r.method == "GET" and ("/snapshots/" in r.path or "/disks/" in r.path)]
    assert sorted(r.path.rsplit("/", 1)[-1] for r in gets) == ["disk-v2-tl-arm", "snap-d0", "snap-v2-tl"]
    assert {r.query.get("api-version") for r in gets} == {"2024-03-02"}


def test_a_plan_without_such_sources_reads_none(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, p = managed
    plan = plan_of(p, spec("from-vm", "gen2-std", extra={"hyper_v_generation": "V2"}))
    assert not plan.errored
    assert disk_gets(emu) == []
    assert read_snapshot(desired(spec("x", "gen2-std")), p).capture_sources is None


def test_a_full_resource_id_elsewhere_is_read_there(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, p = managed
    ref = f"{OTHER_RP}/snapshots/far"
    assert errors(p, from_("far-img", Source(snapshot=ref))) == []
    assert f"{OTHER_RP}/snapshots/far" in disk_gets(emu)


# --------------------------------------------------------------------------------------------------
# Managed images


def test_managed_source_that_does_not_exist(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = managed
    assert errors(p, from_("a", Source(snapshot="nope"))) == ["azure-source-missing"]
    assert errors(p, from_("b", Source(disk="nope"))) == ["azure-source-missing"]
    text = messages(p, from_("a", Source(snapshot="nope")))[0]
    assert "source.snapshot of 'a' names snapshot 'nope', which does not exist" in text
    assert "full resource id" in text


def test_managed_data_snapshot_that_does_not_exist(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = managed
    src = Source(snapshot="snap-v1", data_snapshots=("snap-d0", "gone"))
    got = messages(p, from_("a", src, type=ImageType.VM))
    assert len(got) == 1 and got[0].startswith("source.data_snapshots of 'a' names snapshot 'gone'")


@pytest.mark.parametrize(("source", "why"), [(Source(snapshot="snap-creating"), "is Creating, not Succeeded"),
                                             (Source(disk="disk-uploading"), "diskState is ReadyToUpload")])
def test_managed_source_not_succeeded(managed: tuple[ArmEmulator, azure.AzureProvider], source: Source,
                                      why: str) -> None:
    _, p = managed
    one = from_("a", source, extra={"hyper_v_generation": "V1"})
    assert errors(p, one) == ["azure-source-state"]
    assert why in messages(p, one)[0]


def test_managed_source_of_another_os(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = managed
    one = from_("a", Source(snapshot="snap-win"))
    assert errors(p, one) == ["azure-source-os"]
    assert messages(p, one)[0] == ("'a' declares os: linux, but its source snapshot 'snap-win' is windows | "
                                   "declare os: windows, or capture from a linux snapshot")
    assert errors(p, from_("w", Source(snapshot="snap-win"), os="windows")) == []


def test_managed_generation_is_read_from_the_source(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, p = managed
    # Undeclared: no error, and the capture sends the snapshot's own generation.
    converge(p, from_("gen2", Source(snapshot="snap-v2")))
    put = next(r for r in emu.requests if r.method == "PUT" and r.path.endswith("/images/gen2"))
    assert put.body["properties"]["hyperVGeneration"] == "V2"
    converge(p, from_("disk2", Source(disk="disk-v2")))
    put = next(r for r in emu.requests if r.method == "PUT" and r.path.endswith("/images/disk2"))
    assert put.body["properties"]["hyperVGeneration"] == "V2"


def test_managed_declared_generation_must_be_the_sources(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = managed
    one = from_("a", Source(snapshot="snap-v2"), extra={"hyper_v_generation": "V1"})
    assert errors(p, one) == ["azure-generation"]
    assert messages(p, one)[0].startswith(
        "'a' declares hyper_v_generation: V1, but its source snapshot 'snap-v2' is V2")
    assert errors(p, from_("b", Source(snapshot="snap-v2"), extra={"hyper_v_generation": "V2"})) == []
    # A source that states no generation still needs one declared.
    assert errors(p, from_("c", Source(snapshot="snap-nogen"))) == ["azure-generation"]
    assert errors(p, from_("d", Source(snapshot="snap-nogen"), extra={"hyper_v_generation": "V1"})) == []


@pytest.mark.parametrize(("source", "security"), [(Source(snapshot="snap-v2-tl"), "TrustedLaunch"),
                                                  (Source(snapshot="snap-cvm"), "ConfidentialVM"),
                                                  (Source(disk="disk-v2-tl-arm"), "TrustedLaunch")])
def test_managed_image_of_a_trusted_launch_disk_is_a_plan_error(
    managed: tuple[ArmEmulator, azure.AzureProvider], source: Source, security: str,
) -> None:
    _, p = managed
    one = from_("tl", source)
    assert errors(p, one) == ["azure-managed-security-type"]
    text = messages(p, one)[0]
    assert f"is {security}, and Azure does not create managed images from {security} VMs or their disks" in text
    assert "catalog.gallery" in text


# --------------------------------------------------------------------------------------------------
# Gallery versions


def test_gallery_source_that_does_not_exist(gallery: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = gallery
    assert errors(p, from_("d-v1/1.0.0", Source(snapshot="nope"))) == ["azure-source-missing"]
    assert errors(p, from_("d-v1/1.0.1", Source(image="nope"))) == ["azure-source-missing"]
    # Into a new definition: the missing source is the one error (no generation error besides).
    assert errors(p, from_("fresh/1.0.0", Source(disk="nope"))) == ["azure-source-missing"]
    got = errors(p, from_("d-v1/1.0.2", Source(snapshot="snap-v1", data_snapshots=("gone",)), type=ImageType.VM))
    assert got == ["azure-source-missing"]


def test_gallery_source_not_succeeded_or_of_another_os(gallery: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = gallery
    assert errors(p, from_("d-v1/1.0.0", Source(snapshot="snap-creating"))) == ["azure-source-state"]
    assert errors(p, from_("d-v1/1.0.1", Source(snapshot="snap-win"))) == ["azure-source-os"]


@pytest.mark.parametrize(("definition_name", "source", "codes"), [
    ("d-v1", Source(snapshot="snap-v1"), []),
    ("d-v1", Source(snapshot="snap-v2"), ["azure-gallery-generation"]),
    ("d-v2", Source(snapshot="snap-v1"), ["azure-gallery-generation"]),
    ("d-v2", Source(disk="disk-v2"), []),
    ("d-v2", Source(snapshot="snap-v2-tl"), ["azure-gallery-security-type"]),
    ("d-v2-tl", Source(snapshot="snap-v2"), ["azure-gallery-security-type"]),
    ("d-v2-tl", Source(snapshot="snap-v2-tl"), []),
    ("d-v2-tl", Source(disk="disk-v2-tl-arm"), ["azure-gallery-architecture"]),
    ("d-v2-tl-arm", Source(disk="disk-v2-tl-arm"), []),
    ("d-v1", Source(image="golden-v1"), []),
    ("d-v1", Source(image="golden-v2"), ["azure-gallery-generation"]),
    ("d-v2-tl", Source(image="golden-v2"), []),  # a managed image states no security type: Azure's to judge
])
def test_gallery_source_must_match_an_existing_definition(
    gallery: tuple[ArmEmulator, azure.AzureProvider], definition_name: str, source: Source, codes: list[str],
) -> None:
    _, p = gallery
    assert errors(p, from_(f"{definition_name}/2.0.0", source)) == codes


def test_gallery_mismatch_names_both_values_and_the_fix(gallery: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = gallery
    text = messages(p, from_("d-v1/2.0.0", Source(snapshot="snap-v2")))[0]
    assert text.startswith("source snapshot 'snap-v2' of 'd-v1/2.0.0' is Hyper-V generation V2, but gallery "
                           "definition 'd-v1' is V1")
    assert "hyper_v_generation: V2" in text and "or from a V1 snapshot" in text


def test_gallery_new_definition_is_inferred_from_the_snapshot(
    gallery: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    emu, p = gallery
    converge(p, from_("fresh/1.0.0", Source(snapshot="snap-v2-tl")))
    put = next(r for r in emu.requests if r.method == "PUT" and r.path.endswith("/images/fresh"))
    props = put.body["properties"]
    assert props["hyperVGeneration"] == "V2"
    assert {"name": "SecurityType", "value": "TrustedLaunch"} in props["features"]


def test_gallery_new_definition_as_declared_must_take_the_source(
    gallery: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    _, p = gallery
    declared = from_("fresh/1.0.0", Source(snapshot="snap-v2"), extra={FAMILY_EXTRA: {"hyper_v_generation": "V1"}})
    assert errors(p, declared) == ["azure-gallery-generation"]
    assert "as families.fresh declares it" in messages(p, declared)[0]
    # A source that states no generation, into a new definition that declares none: say so.
    assert errors(p, from_("fresh/1.0.1", Source(snapshot="snap-nogen"))) == ["azure-generation"]
    ok = from_("fresh/1.0.2", Source(snapshot="snap-nogen"), extra={FAMILY_EXTRA: {"hyper_v_generation": "V1"}})
    assert errors(p, ok) == []


# --------------------------------------------------------------------------------------------------
# Staleness: a saved plan notices a source that changed


def test_a_saved_plan_is_stale_when_its_source_changed(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, p = managed
    specs = (from_("a", Source(snapshot="snap-v2")),)
    plan = plan_of(p, *specs)
    assert plan.fingerprints["source:snapshot:snap-v2"].startswith("sha256:")
    assert stale_reasons(plan, read_snapshot(desired(*specs), p)) == []
    stored = emu.backend.get(f"{RP}/snapshots/snap-v2")
    assert stored is not None
    stored["properties"]["diskSizeGB"] = 64
    assert stale_reasons(plan, read_snapshot(desired(*specs), p)) == [
        "source snapshot 'snap-v2' changed since the plan was made"]
    del emu.backend.resources[f"{RP}/snapshots/snap-v2".lower()]
    assert stale_reasons(plan, read_snapshot(desired(*specs), p)) == ["source snapshot 'snap-v2' was deleted"]


# --------------------------------------------------------------------------------------------------
# The emulator's DiskRP GETs


def test_emulator_serves_seeded_disks_and_snapshots_in_the_reference_shape(
    managed: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    _, p = managed
    t = p.backend.t
    got = t.get(f"{RP}/snapshots/snap-v2-tl", params={"api-version": "2024-03-02"}, ok=(200,), what="get").body
    assert got["type"] == "Microsoft.Compute/snapshots" and got["name"] == "snap-v2-tl"
    props = got["properties"]
    assert (props["osType"], props["hyperVGeneration"], props["securityProfile"]["securityType"]) == (
        "Linux", "V2", "TrustedLaunch")
    assert (props["provisioningState"], props["diskState"]) == ("Succeeded", "Unattached")
    assert "sku" in got and "creationData" in props


def test_emulator_describes_a_vms_os_disk(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = managed
    got = p.backend.t.get(f"{RP}/disks/gen2-std-os", params={"api-version": "2024-03-02"}, ok=(200,),
                          what="get").body
    assert got["managedBy"] == f"{RP}/virtualMachines/gen2-std"
    assert got["properties"]["hyperVGeneration"] == "V2" and got["properties"]["diskState"] == "Reserved"
    assert got["properties"]["supportedCapabilities"]["architecture"] == "x64"
    # So a capture from that disk is checked like any other.
    assert errors(p, from_("os-disk", Source(disk="gen2-std-os"))) == []


def test_emulator_disk_errors_are_arms(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, _ = managed
    import requests  # noqa: PLC0415 - the raw wire, as a client other than ours sees it

    def call(method: str, path: str, version: str = "2024-03-02") -> requests.Response:
        return requests.request(method, f"{emu.url}{path}", params={"api-version": version},
                                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    missing = call("GET", f"{RP}/snapshots/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    assert "Microsoft.Compute/snapshots/nope" in missing.json()["error"]["message"]
    bad = call("GET", f"{RP}/disks/disk-v2", version="2019-01-01")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert call("DELETE", f"{RP}/disks/disk-v2").status_code == 405
    # A snapshot is not served as a disk.
    assert call("GET", f"{RP}/disks/snap-v1").status_code == 404
