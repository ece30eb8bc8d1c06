"""Source VM facts over real HTTP (issue 10 §1): generation, security type, architecture, NVMe.

Gen1/Gen2 x Standard/TrustedLaunch source VMs against the ARM emulator, in managed mode (Azure makes
no managed image from a Trusted Launch VM: a plan-time error, and the emulator's refusal if the check
were skipped) and in gallery mode (a definition must match its source: plan-time errors naming both
values, and the emulator refusing what a skipped check would send), under both ``$expand=instanceView``
behaviours of the VM list. Plus the generalize story: Run Command deprovision before deallocate and
generalize, and Windows without ``sysprepped`` refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.errors import ProviderError
from reconciler.model import CatalogConfig, DesiredState, ImageSpec, ImageType, OSState, Policy, Source
from reconciler.plan import make_plan
from reconciler.providers import azure
from reconciler.providers.azure.vmfacts import VmFacts

from .harness_azure_managed import LOCATION, RP, TOKEN, FakeClock, settings

GALLERY = "facts"
GPATH = f"{RP}/galleries/{GALLERY}"
OWNER = "platform"

#: name -> (generation, security type, vm size)
VMS: dict[str, tuple[str, str, str]] = {
    "gen1-std": ("V1", "Standard", "Standard_D2s_v5"),
    "gen2-std": ("V2", "Standard", "Standard_D2s_v5"),
    "gen2-tl": ("V2", "TrustedLaunch", "Standard_D2s_v5"),
    "gen2-cvm": ("V2", "ConfidentialVM", "Standard_DC2as_v5"),
    "gen2-tl-arm": ("V2", "TrustedLaunch", "Standard_D2ps_v5"),
}

#: definition -> (hyperVGeneration or None, SecurityType feature or None, architecture or None)
DEFINITIONS: dict[str, tuple[str | None, str | None, str | None]] = {
    "d-v1": (None, None, None),
    "d-v2": ("V2", None, None),
    "d-v2-tl": ("V2", "TrustedLaunch", None),
    "d-v2-tls": ("V2", "TrustedLaunchSupported", None),
    "d-v2-tl-arm": ("V2", "TrustedLaunch", "Arm64"),
}


def vm(name: str, generation: str, security: str, size: str, *, os_type: str = "Linux",
       power: str = "deallocated", generalized: bool = True, nvme: bool = False) -> dict[str, Any]:
    statuses = [{"code": "ProvisioningState/succeeded", "level": "Info"},
                {"code": f"PowerState/{power}", "level": "Info"}]
    if generalized:
        statuses.append({"code": "OSState/generalized", "level": "Info"})
    props: dict[str, Any] = {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {
            "osDisk": {"osType": os_type, "name": f"{name}-os", "caching": "ReadWrite",
                       "managedDisk": {"id": f"{RP}/disks/{name}-os"}},
            "dataDisks": [{"lun": 0, "name": f"{name}-d0", "managedDisk": {"id": f"{RP}/disks/{name}-d0"}}],
            **({"diskControllerType": "NVMe"} if nvme else {}),
        },
        "provisioningState": "Succeeded",
        "instanceView": {"hyperVGeneration": generation, "statuses": statuses},
    }
    if security != "Standard":
        props["securityProfile"] = {"securityType": security,
                                    "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True}}
    return {"id": f"{RP}/virtualMachines/{name}", "name": name, "type": "Microsoft.Compute/virtualMachines",
            "location": LOCATION, "properties": props}


def definition(name: str, generation: str | None, security: str | None, arch: str | None) -> dict[str, Any]:
    props: dict[str, Any] = {"osType": "Linux", "osState": "Generalized", "provisioningState": "Succeeded",
                             "identifier": {"publisher": OWNER, "offer": name, "sku": name}}
    if generation:
        props["hyperVGeneration"] = generation
    if security:
        props["features"] = [{"name": "SecurityType", "value": security}]
    if arch:
        props["architecture"] = arch
    return {"id": f"{GPATH}/images/{name}", "name": name, "type": "Microsoft.Compute/galleries/images",
            "location": LOCATION, "tags": {azure.TAG_OWNER: OWNER}, "properties": props}


def version(definition_name: str) -> dict[str, Any]:
    """One version per definition, so the snapshot knows the definition (``definition_of``)."""
    return {"id": f"{GPATH}/images/{definition_name}/versions/0.0.1", "name": "0.0.1",
            "type": "Microsoft.Compute/galleries/images/versions", "location": LOCATION,
            "tags": {azure.TAG_OWNER: OWNER, azure.TAG_TYPE: "os"},
            "properties": {"provisioningState": "Succeeded",
                           "storageProfile": {"source": {"virtualMachineId": f"{RP}/virtualMachines/old"}},
                           "publishingProfile": {"targetRegions": [{"name": "West Europe"}]}}}


def state(*, gallery: bool, extra_vms: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    resources = [vm(n, *facts) for n, facts in VMS.items()] + list(extra_vms)
    if gallery:
        resources.append({"id": GPATH, "name": GALLERY, "type": "Microsoft.Compute/galleries",
                          "location": LOCATION, "properties": {"provisioningState": "Succeeded"}})
        resources += [definition(n, *d) for n, d in DEFINITIONS.items()]
        resources += [version(n) for n in DEFINITIONS]
    return {"resources": resources}


def open_azure(emu: ArmEmulator, fake: FakeClock, **extra: Any) -> azure.AzureProvider:
    config = CatalogConfig(name=OWNER, provider="azure", settings=settings(emu, **extra))
    return azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": TOKEN}, clock=fake.clock, sleep=fake.sleep,
                               rand=lambda: 0.5)


@pytest.fixture(params=["ignore", "reject"])
def expand_mode(request: pytest.FixtureRequest) -> str:
    """Both answers ARM may give a VM list with ``$expand=instanceView`` and no ``$filter``."""
    return str(request.param)


@pytest.fixture
def managed(expand_mode: str) -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    with ArmEmulator(state(gallery=False), page_size=2, clock=fake.clock,
                     faults=Faults(vm_list_expand=expand_mode)) as emu:
        p = open_azure(emu, fake)
        try:
            yield emu, p
        finally:
            p.close()


@pytest.fixture
def gallery(expand_mode: str) -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    with ArmEmulator(state(gallery=True), page_size=2, clock=fake.clock,
                     faults=Faults(vm_list_expand=expand_mode)) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def spec(name: str, vm_name: str, **kw: Any) -> ImageSpec:
    kw.setdefault("type", ImageType.OS)
    kw.setdefault("os_state", OSState.GENERALIZED)
    kw.setdefault("os", "linux")
    if "/" in name:
        kw.setdefault("family", name.split("/", 1)[0])
    return ImageSpec(name=name, source=kw.pop("source", Source(vm=vm_name)), **kw)


def plan_errors(p: azure.AzureProvider, *specs: ImageSpec) -> dict[str, list[str]]:
    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(), images=specs,
                           digest="d")
    plan = make_plan(desired, p.snapshot(), p.capabilities)
    return {c.name: [e.code for e in c.errors] for c in plan.changes if c.name in {s.name for s in specs}}


# --------------------------------------------------------------------------------------------------
# Facts


def test_snapshot_vms_carry_generation_security_architecture_controller(
    managed: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    _, p = managed
    vms = p.snapshot().vm_index()
    assert vms["gen1-std"].facts == VmFacts("V1", "Standard", "x64", "SCSI", (0,))
    assert vms["gen2-tl"].facts == VmFacts("V2", "TrustedLaunch", "x64", "SCSI", (0,))
    assert vms["gen2-cvm"].facts == VmFacts("V2", "ConfidentialVM", "x64", "SCSI", (0,))
    assert vms["gen2-tl-arm"].facts == VmFacts("V2", "TrustedLaunch", "Arm64", "SCSI", (0,))


def test_nvme_vm_reads_as_nvme() -> None:
    fake = FakeClock()
    nvme = vm("nvme", "V2", "TrustedLaunch", "Standard_E2bds_v5", nvme=True)
    with ArmEmulator(state(gallery=False, extra_vms=(nvme,)), clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            facts = p.snapshot().vm_index()["nvme"].facts
            assert isinstance(facts, VmFacts) and facts.disk_controller == "NVMe"
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# Managed images: no Trusted Launch (BEHAVIOURS.md row 1); the generation is sent


@pytest.mark.parametrize(("vm_name", "refused"), [("gen1-std", False), ("gen2-std", False), ("gen2-tl", True),
                                                  ("gen2-cvm", True)])
def test_managed_capture_of_trusted_launch_is_a_plan_error(
    managed: tuple[ArmEmulator, azure.AzureProvider], vm_name: str, refused: bool,
) -> None:
    _, p = managed
    errors = plan_errors(p, spec("img", vm_name))
    assert ("azure-managed-security-type" in errors["img"]) is refused, errors


def test_managed_plan_error_names_the_gallery_fix(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = managed
    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(),
                           images=(spec("img", "gen2-tl"),), digest="d")
    error = next(e for e in make_plan(desired, p.snapshot(), p.capabilities).all_errors
                 if e.code == "azure-managed-security-type")
    assert "TrustedLaunch" in error.summary and "gen2-tl" in error.summary
    assert "gallery" in error.hint


@pytest.mark.parametrize("kind", [ImageType.OS, ImageType.VM])
def test_emulator_refuses_a_managed_image_of_a_trusted_launch_vm(
    managed: tuple[ArmEmulator, azure.AzureProvider], kind: ImageType,
) -> None:
    # As if the plan-time check were skipped: Azure's own answer (sourceVirtualMachine and OS disk).
    _, p = managed
    with pytest.raises(ProviderError) as e:
        p.capture(spec("img", "gen2-tl", type=kind))
    assert (e.value.status, e.value.code) == (400, "OperationNotAllowed")
    assert "Creation of managed images are not supported for virtual machine with TrustedLaunch security type" \
        in str(e.value)


@pytest.mark.parametrize(("vm_name", "generation"), [("gen1-std", "V1"), ("gen2-std", "V2")])
def test_managed_capture_sends_the_vms_generation(
    managed: tuple[ArmEmulator, azure.AzureProvider], vm_name: str, generation: str,
) -> None:
    emu, p = managed
    p.capture(spec("img", vm_name))
    put = next(r for r in emu.requests if r.method == "PUT")
    assert put.body["properties"]["hyperVGeneration"] == generation
    stored = next(r for r in emu.dump_state()["resources"] if r["id"].endswith("/images/img"))
    assert stored["properties"]["hyperVGeneration"] == generation


def test_managed_declared_generation_must_be_the_vms(managed: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = managed
    assert "azure-generation" in plan_errors(p, spec("img", "gen2-std", extra={"hyper_v_generation": "V1"}))["img"]


# --------------------------------------------------------------------------------------------------
# Gallery: a definition must match its source (BEHAVIOURS.md rows 3-5)

MATRIX = [
    # (vm, definition, expected plan-time error codes)
    ("gen1-std", "d-v1", set()),
    ("gen2-std", "d-v2", set()),
    ("gen2-tl", "d-v2-tl", set()),
    ("gen2-tl-arm", "d-v2-tl-arm", set()),
    ("gen2-std", "d-v1", {"azure-gallery-generation"}),
    ("gen1-std", "d-v2", {"azure-gallery-generation"}),
    ("gen2-tl", "d-v1", {"azure-gallery-generation", "azure-gallery-security-type"}),
    ("gen2-tl", "d-v2", {"azure-gallery-security-type"}),
    ("gen2-std", "d-v2-tl", {"azure-gallery-security-type"}),
    ("gen2-tl", "d-v2-tls", {"azure-gallery-security-type"}),
    ("gen2-tl-arm", "d-v2-tl", {"azure-gallery-architecture"}),
    ("gen2-tl", "d-v2-tl-arm", {"azure-gallery-architecture"}),
]

#: What the emulator answers the same captures when no check stops them (status, code).
REFUSAL = {
    "azure-gallery-generation": (409, "Conflict"),
    "azure-gallery-security-type": (400, "InvalidParameter"),
    "azure-gallery-architecture": (400, "InvalidParameter"),
}


def _needs_definition_facts(codes: set[str]) -> None:
    needs = {"azure-gallery-security-type": "security_type", "azure-gallery-architecture": "architecture"}
    missing = [a for c, a in needs.items() if c in codes and not hasattr(azure.GalleryDefinition, a)
               and a not in getattr(azure.GalleryDefinition, "__dataclass_fields__", {})]
    if missing:
        pytest.xfail(f"GalleryDefinition does not read {', '.join(missing)} yet (issue 10 §2, families)")


@pytest.mark.parametrize(("vm_name", "definition_name", "codes"), MATRIX,
                         ids=[f"{v}-into-{d}" for v, d, _ in MATRIX])
def test_gallery_capture_into_an_existing_definition_is_checked_at_plan_time(
    gallery: tuple[ArmEmulator, azure.AzureProvider], vm_name: str, definition_name: str, codes: set[str],
) -> None:
    _needs_definition_facts(codes)
    _, p = gallery
    name = f"{definition_name}/1.0.0"
    found = set(plan_errors(p, spec(name, vm_name))[name]) & set(REFUSAL)
    assert found == codes


@pytest.mark.parametrize(("vm_name", "definition_name", "codes"), MATRIX,
                         ids=[f"{v}-into-{d}" for v, d, _ in MATRIX])
def test_emulator_refuses_what_a_skipped_check_would_send(
    gallery: tuple[ArmEmulator, azure.AzureProvider], vm_name: str, definition_name: str, codes: set[str],
) -> None:
    emu, p = gallery
    name = f"{definition_name}/1.0.0"
    if not codes:
        image = p.capture(spec(name, vm_name))
        assert image.name == name
        return
    with pytest.raises(ProviderError) as e:
        p.capture(spec(name, vm_name))
    # The first refusal Azure makes is the generation (409), then security type, then architecture.
    first = next(c for c in REFUSAL if c in codes)
    assert (e.value.status, e.value.code) == REFUSAL[first]


def test_emulator_messages_are_azures(gallery: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = gallery
    with pytest.raises(ProviderError) as gen:
        p.capture(spec("d-v1/1.0.0", "gen2-std"))
    assert "has a different Hypervisor generation ['V2'] than the parent gallery image Hypervisor " \
        "generation ['V1']" in str(gen.value)
    with pytest.raises(ProviderError) as tls:
        p.capture(spec("d-v2-tls/1.0.0", "gen2-tl"))
    assert "The security type 'TrustedLaunchSupported' is not supported for the source id" in str(tls.value)
    assert "Currently only Vhd Blob, User Image and Gallery Image Version sources are supported" in str(tls.value)


def test_gallery_plan_error_names_both_values_and_the_fix(gallery: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = gallery
    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(),
                           images=(spec("d-v1/1.0.0", "gen2-std"),), digest="d")
    error = next(e for e in make_plan(desired, p.snapshot(), p.capabilities).all_errors
                 if e.code == "azure-gallery-generation")
    assert "V2" in error.summary and "V1" in error.summary and "d-v1" in error.summary
    assert "hyper_v_generation: V2" in error.hint


# --------------------------------------------------------------------------------------------------
# Generalize: what ARM's generalize does not do (BEHAVIOURS.md row 11)


@pytest.fixture
def running() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    extra = (vm("lin-run", "V2", "TrustedLaunch", "Standard_D2s_v5", power="running", generalized=False),
             vm("lin-stop", "V2", "TrustedLaunch", "Standard_D2s_v5", power="stopped", generalized=False),
             vm("win-run", "V2", "TrustedLaunch", "Standard_D2s_v5", power="running", generalized=False,
                os_type="Windows"))
    with ArmEmulator(state(gallery=True, extra_vms=extra), clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def test_deprovision_runs_waagent_then_deallocates_then_generalizes(
    running: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    emu, p = running
    src = Source(vm="lin-run", generalize=True, deprovision=True)
    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(),
                           images=(spec("d-v2-tl/1.0.0", "lin-run", source=src),), digest="d")
    plan = make_plan(desired, p.snapshot(), p.capabilities)
    assert not plan.errored, plan.all_errors
    change = next(c for c in plan.changes if c.name == "d-v2-tl/1.0.0")
    assert change.steps[:3] == ("deprovision the guest of VM lin-run (waagent -deprovision+user)",
                                "deallocate VM lin-run", "generalize VM lin-run")
    steps: list[str] = []
    p.capture(spec("d-v2-tl/1.0.0", "lin-run", source=src), steps.append)
    writes = [(r.method, r.path.rsplit("/", 1)[-1]) for r in emu.requests if r.method != "GET"]
    assert writes[:3] == [("POST", "runCommand"), ("POST", "deallocate"), ("POST", "generalize")]
    run = next(r for r in emu.requests if r.path.endswith("/runCommand"))
    assert run.body == {"commandId": "RunShellScript", "script": ["waagent -deprovision+user -force"]}
    assert any("Run Command" in s for s in steps)


def test_generalize_without_deprovision_says_the_guest_is_not_deprovisioned(
    running: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    _, p = running
    src = Source(vm="lin-run", generalize=True)
    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(),
                           images=(spec("d-v2-tl/1.0.0", "lin-run", source=src),), digest="d")
    change = next(c for c in make_plan(desired, p.snapshot(), p.capabilities).changes
                  if c.name == "d-v2-tl/1.0.0")
    assert not change.errors
    assert any("the guest is not deprovisioned" in s for s in change.steps), change.steps


def test_deprovision_needs_a_running_vm(running: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = running
    src = Source(vm="lin-stop", generalize=True, deprovision=True)
    assert "azure-deprovision-power" in plan_errors(p, spec("d-v2-tl/1.0.0", "lin-stop", source=src))[
        "d-v2-tl/1.0.0"]


def test_emulator_run_command_refuses_a_stopped_vm(running: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = running
    with pytest.raises(ProviderError) as e:
        p.capture(spec("d-v2-tl/1.0.0", "lin-stop", source=Source(vm="lin-stop", generalize=True,
                                                                    deprovision=True)))
    assert (e.value.status, e.value.code) == (409, "OperationNotAllowed")


def test_windows_generalize_needs_sysprepped(running: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = running
    name = "d-v2-tl/1.0.0"
    plain = spec(name, "win-run", os="windows", source=Source(vm="win-run", generalize=True))
    assert "azure-sysprep" in plan_errors(p, plain)[name]
    stated = spec(name, "win-run", os="windows", source=Source(vm="win-run", generalize=True, sysprepped=True))
    errors = plan_errors(p, stated)[name]
    assert "azure-sysprep" not in errors


# --------------------------------------------------------------------------------------------------
# Sources beyond VM and VHD: a managed image, an OS snapshot, a managed disk (issue 10 §3)


def disk(kind: str, name: str, *, security: str | None = None) -> dict[str, Any]:
    """A ``Microsoft.Compute/snapshots`` or ``disks`` resource as seeded in the emulator's state."""
    props: dict[str, Any] = {"osType": "Linux", "hyperVGeneration": "V1", "provisioningState": "Succeeded",
                             "diskSizeGB": 30}
    if security:
        props["securityProfile"] = {"securityType": security}
    return {"id": f"{RP}/{kind}/{name}", "name": name, "type": f"Microsoft.Compute/{kind}", "location": LOCATION,
            "properties": props}


def managed_image(name: str) -> dict[str, Any]:
    return {"id": f"{RP}/images/{name}", "name": name, "type": "Microsoft.Compute/images", "location": LOCATION,
            "properties": {"provisioningState": "Succeeded", "hyperVGeneration": "V1", "storageProfile": {
                "osDisk": {"osType": "Linux", "osState": "Generalized", "caching": "ReadWrite"}, "dataDisks": []}}}


SOURCES = (disk("snapshots", "snap-os"), disk("snapshots", "snap-d0"), disk("disks", "disk-os"),
           disk("snapshots", "snap-tl", security="TrustedLaunch"))


def converge(p: azure.AzureProvider, *specs: ImageSpec) -> None:
    """plan -> apply -> plan: the second plan is empty (the source reads back as declared)."""
    from reconciler.apply import apply_plan
    from reconciler.model import Action

    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(), images=specs,
                           digest="d")
    plan = make_plan(desired, p.snapshot(), p.capabilities)
    assert not plan.errored, plan.all_errors
    result = apply_plan(plan, p)
    assert result.ok, [r.error for r in result.results if r.error]
    again = make_plan(desired, p.snapshot(), p.capabilities)
    assert [c.action for c in again.changes if c.name in {s.name for s in specs}] == [Action.NOOP] * len(specs)


@pytest.fixture
def managed_sources() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    with ArmEmulator({"resources": [*state(gallery=False)["resources"], *SOURCES]}, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            yield emu, p
        finally:
            p.close()


@pytest.fixture
def gallery_sources() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    resources = [*state(gallery=True)["resources"], *SOURCES, managed_image("golden")]
    with ArmEmulator({"resources": resources}, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def test_managed_image_from_a_snapshot_with_data_snapshots(
    managed_sources: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    emu, p = managed_sources
    src = Source(snapshot="snap-os", data_snapshots=("snap-d0",))
    converge(p, spec("from-snap", "", type=ImageType.VM, source=src, extra={"hyper_v_generation": "V1"}))
    put = next(r for r in emu.requests if r.method == "PUT")
    profile = put.body["properties"]["storageProfile"]
    assert profile["osDisk"]["snapshot"]["id"] == f"{RP}/snapshots/snap-os"
    assert profile["dataDisks"] == [{"lun": 0, "snapshot": {"id": f"{RP}/snapshots/snap-d0"}}]
    assert put.body["properties"]["hyperVGeneration"] == "V1"
    image = p.snapshot().image_index()["from-snap"]
    assert image.source == src and image.data_disks == 1


def test_managed_image_from_a_disk(managed_sources: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, p = managed_sources
    converge(p, spec("from-disk", "", source=Source(disk="disk-os"), extra={"hyper_v_generation": "V1"}))
    put = next(r for r in emu.requests if r.method == "PUT")
    assert put.body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"] == f"{RP}/disks/disk-os"


def test_managed_disk_sources_are_checked_at_plan_time(
    managed_sources: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    _, p = managed_sources
    assert plan_errors(p, spec("a", "", source=Source(snapshot="snap-os")))["a"] == ["azure-generation"]
    assert plan_errors(p, spec("b", "", source=Source(image="golden")))["b"] == ["azure-managed-source"]


def test_emulator_refuses_a_missing_or_trusted_launch_snapshot(
    managed_sources: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    _, p = managed_sources
    with pytest.raises(ProviderError) as missing:
        p.capture(spec("gone", "", source=Source(snapshot="nope"), extra={"hyper_v_generation": "V1"}))
    assert (missing.value.status, missing.value.code) == (404, "NotFound")
    with pytest.raises(ProviderError) as tl:
        p.capture(spec("tl", "", source=Source(snapshot="snap-tl"), extra={"hyper_v_generation": "V2"}))
    assert (tl.value.status, tl.value.code) == (400, "OperationNotAllowed")


def test_gallery_version_from_a_managed_image(gallery_sources: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, p = gallery_sources
    converge(p, spec("d-v1/1.0.0", "", source=Source(image="golden")))
    put = next(r for r in emu.requests if r.method == "PUT" and "/versions/" in r.path)
    assert put.body["properties"]["storageProfile"] == {"source": {"id": f"{RP}/images/golden"}}
    assert p.snapshot().image_index()["d-v1/1.0.0"].source == Source(image="golden")


def test_gallery_version_from_snapshots(gallery_sources: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    emu, p = gallery_sources
    src = Source(snapshot="snap-os", data_snapshots=("snap-d0",))
    converge(p, spec("d-v1/1.1.0", "", type=ImageType.VM, source=src))
    put = next(r for r in emu.requests if r.method == "PUT" and "/versions/" in r.path)
    assert put.body["properties"]["storageProfile"] == {
        "osDiskImage": {"source": {"id": f"{RP}/snapshots/snap-os"}},
        "dataDiskImages": [{"lun": 0, "source": {"id": f"{RP}/snapshots/snap-d0"}}]}
    assert p.snapshot().image_index()["d-v1/1.1.0"].source == src


def test_gallery_disk_source_into_a_new_definition_needs_a_declared_generation(
    gallery_sources: tuple[ArmEmulator, azure.AzureProvider],
) -> None:
    _, p = gallery_sources
    errors = plan_errors(p, spec("fresh/1.0.0", "", source=Source(disk="disk-os")))["fresh/1.0.0"]
    assert "azure-generation" in errors


def test_gallery_emulator_refuses_a_missing_snapshot(gallery_sources: tuple[ArmEmulator, azure.AzureProvider]) -> None:
    _, p = gallery_sources
    with pytest.raises(ProviderError) as e:
        p.capture(spec("d-v1/1.2.0", "", source=Source(snapshot="nope")))
    assert (e.value.status, e.value.code) == (404, "NotFound")
