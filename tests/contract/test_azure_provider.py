"""The azure provider against the ARM emulator over real HTTP: what the shared contract cannot see.

Request counts of a snapshot, the deallocate -> generalize -> capture sequence, failed and timed-out
operations, gallery definitions and updatable version fields, VHD sources, endpoint and credential
rules, and a 50-image apply under injected throttling, server errors and dropped connections.
Time is fake everywhere (the emulator and the provider share a clock moved by the provider's sleep).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.apply import apply_plan
from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.errors import NotFound, OperationFailed, OperationTimeout, ProviderError, ReconcilerError
from reconciler.model import (
    FAMILY_EXTRA,
    Action,
    CatalogConfig,
    DesiredState,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    PowerState,
    Source,
)
from reconciler.plan import make_plan
from reconciler.providers import azure
from reconciler.providers.http.transport import Transport

from .harness_azure_gallery import GALLERY, NameMap, gallery_state
from .harness_azure_managed import RG, SUB, TOKEN, FakeClock, managed_state, settings
from .seed import OWNER, SEED


def open_azure(emu: ArmEmulator, fake: FakeClock, **extra: Any) -> azure.AzureProvider:
    config = CatalogConfig(name=OWNER, provider="azure", settings=settings(emu, **extra))
    return azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": TOKEN}, clock=fake.clock, sleep=fake.sleep,
                               rand=lambda: 0.5)


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


@pytest.fixture
def managed(fake: FakeClock) -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    with ArmEmulator(managed_state(SEED), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            yield emu, p
        finally:
            p.close()


@pytest.fixture
def gallery(fake: FakeClock) -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def spec(name: str, vm: str, **kw: Any) -> ImageSpec:
    kw.setdefault("type", ImageType.OS)
    kw.setdefault("os_state", OSState.GENERALIZED)
    return ImageSpec(name=name, os="linux", source=kw.pop("source", Source(vm=vm)), **kw)


# --------------------------------------------------------------------------------------------------
# Reading


def test_managed_snapshot_maps_markers_without_public_images(managed: tuple[ArmEmulator, Any]) -> None:
    _, p = managed
    snap = p.snapshot()
    index = snap.image_index()
    assert set(index) == {i["name"].casefold() for i in SEED["images"] if i["category"] != "public"}
    web = index["owned-web"]
    assert (web.owner, web.family, web.label, web.description) == (OWNER, "web-base", "Web base", "nginx baseline")
    assert (web.type, web.data_disks, dict(web.tags)) == (ImageType.VM, 1, {"team": "web"})
    assert web.source is not None and web.source.as_dict() == {"vm": "old-web-vm"}
    assert web.created == "2026-08-01T10:00:00Z"
    assert index["owned-protected"].protected and index["owned-protected"].os == "windows"
    assert index["unowned-tools"].owner is None
    assert all(i.id.startswith(f"/subscriptions/{SUB}/resourceGroups/{RG}/") for i in snap.images)
    assert all(i.fingerprint.startswith(("etag:", "sha256:")) for i in snap.images)


def test_snapshot_request_count_is_pages_not_images(fake: FakeClock) -> None:
    images = [{"name": f"img-{i:04d}", "type": "os", "os": "linux", "os_state": "generalized", "category": "user",
               "owner": OWNER, "tags": {}} for i in range(250)]
    seed = {"vms": SEED["vms"], "images": images}
    with ArmEmulator(managed_state(seed), page_size=100, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            snap = p.snapshot()
            assert len(snap.images) == 250 and len(snap.vms) == 4
            gets = [r for r in emu.requests if r.method == "GET"]
            # 3 pages of images + 1 page of VMs (ARM ignores $expand without $filter: emulator default)
            # + 1 instanceView per VM: images cost pages, VMs (few) one read each.
            assert len(gets) == 3 + 1 + 4, [(r.path, r.query) for r in gets]
            assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in gets)
        finally:
            p.close()


def test_vms_carry_power_and_os_state(managed: tuple[ArmEmulator, Any]) -> None:
    _, p = managed
    vms = p.snapshot().vm_index()
    assert vms["vm-running"].power_state is PowerState.RUNNING
    assert vms["vm-gen-data"].os_state is OSState.GENERALIZED
    assert vms["vm-gen-data"].data_disks == ("vm-gen-data-d0", "vm-gen-data-d1")
    assert vms["vm-gen-os"].os_disk == "vm-gen-os-osdisk"


def test_gallery_snapshot_names_versions_by_definition(gallery: tuple[ArmEmulator, Any]) -> None:
    _, p = gallery
    index = p.snapshot().image_index()
    web = index["web-base/1.0.0"]
    assert web.family == "web-base" and web.owner == OWNER and web.label == "Web base"
    assert web.facts == azure.GalleryVersionFacts("web-base", OSState.GENERALIZED, publisher=OWNER,
                                                  offer="web-base", sku="web-base", hyper_v_generation="V1",
                                                  provisioning_state="Succeeded",
                                                  replication=(("westeurope", "completed"),))
    # Every version field is read back (the planner compares only the declared ones), a value
    # Azure fills in by default left out; the definition's fields only where declared.
    assert web.extra == {"target_regions": [{"name": "westeurope"}], "storage_account_type": "Standard_LRS"}


# --------------------------------------------------------------------------------------------------
# Capture


def test_generalize_opt_in_deallocates_then_generalizes_then_captures(managed: tuple[ArmEmulator, Any]) -> None:
    emu, p = managed
    steps: list[str] = []
    image = p.capture(spec("from-running", "vm-running", source=Source(vm="vm-running", generalize=True)),
                      steps.append)
    assert image.owner == OWNER and image.source is not None and image.source.vm == "vm-running"
    writes = [(r.method, r.path.rsplit("/", 1)[-1]) for r in emu.requests if r.method != "GET"]
    assert writes == [("POST", "deallocate"), ("POST", "generalize"), ("PUT", "from-running")]
    assert steps[0] == "deallocating vm-running" and "generalizing vm-running" in steps and "capturing" in steps
    assert any(s.startswith("polling (") for s in steps)
    vm = p.snapshot().vm_index()["vm-running"]
    assert (vm.power_state, vm.os_state) == (PowerState.DEALLOCATED, OSState.GENERALIZED)


def test_not_generalized_vm_without_opt_in_is_refused_before_any_write(managed: tuple[ArmEmulator, Any]) -> None:
    emu, p = managed
    with pytest.raises(ProviderError) as e:
        p.capture(spec("nope", "vm-spec-data"))
    assert e.value.code == "vm-not-generalized" and "generalize" in e.value.hint
    assert not [r for r in emu.requests if r.method != "GET"]


def test_os_image_captures_only_the_os_disk(managed: tuple[ArmEmulator, Any]) -> None:
    emu, p = managed
    image = p.capture(spec("os-only", "vm-gen-data"))
    assert (image.type, image.data_disks) == (ImageType.OS, 0)
    put = next(r for r in emu.requests if r.method == "PUT")
    assert put.body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].endswith("/disks/vm-gen-data-osdisk")
    assert "sourceVirtualMachine" not in put.body["properties"]
    assert image.source is not None and image.source.vm == "vm-gen-data"


def test_failed_operation_surfaces_azure_code_and_message(managed: tuple[ArmEmulator, Any]) -> None:
    emu, p = managed
    emu.faults.fail_operations.add("doomed")
    with pytest.raises(OperationFailed) as e:
        p.capture(spec("doomed", "vm-gen-os"))
    assert e.value.code == "InternalExecutionError" and "fault injected" in e.value.message
    # A retry does not pretend the failed image is fine.
    with pytest.raises(OperationFailed) as again:
        p.capture(spec("doomed", "vm-gen-os"))
    assert again.value.code == "ProvisioningFailed"


def test_operation_past_its_deadline_times_out(fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), clock=fake.clock, faults=Faults(lro_polls=1000)) as emu:
        p = open_azure(emu, fake, timeout=30, poll_interval=5)
        try:
            with pytest.raises(OperationTimeout) as e:
                p.capture(spec("slow", "vm-gen-os"))
            assert "30s" in e.value.message
        finally:
            p.close()


def test_managed_vhd_capture(managed: tuple[ArmEmulator, Any]) -> None:
    emu, p = managed
    url = "https://acct01.blob.core.windows.net/vhds/base.vhd"
    image = p.capture(spec("from-vhd", "", source=Source(vhd=url)))
    assert image.source is not None and image.source.vhd == url
    put = next(r for r in emu.requests if r.method == "PUT")
    assert put.body["properties"]["storageProfile"]["osDisk"]["blobUri"] == url


def test_gallery_capture_creates_definition_with_identifier(gallery: tuple[ArmEmulator, Any]) -> None:
    emu, p = gallery
    s = spec("app/1.2.3", "vm-spec-data", type=ImageType.VM, os_state=OSState.SPECIALIZED,
             extra={FAMILY_EXTRA: {"publisher": "contoso"}, "replica_count": 2,
                    "target_regions": [{"name": "westeurope"}, {"name": "northeurope", "replicas": 3}]})
    steps: list[str] = []
    image = p.capture(s, steps.append)
    assert "creating definition app (V1, Standard, x64)" in steps
    assert (image.name, image.family, image.os_state, image.data_disks) == ("app/1.2.3", "app",
                                                                           OSState.SPECIALIZED, 2)
    assert image.extra["replica_count"] == 2 and FAMILY_EXTRA not in image.extra
    assert image.extra["target_regions"] == [{"name": "westeurope"}, {"name": "northeurope", "replicas": 3}]
    d = next(r for r in emu.requests if r.method == "PUT" and r.path.endswith("/images/app"))
    assert d.body["properties"]["identifier"] == {"publisher": "contoso", "offer": "app", "sku": "app"}
    assert d.body["properties"]["osState"] == "Specialized"


def test_gallery_update_changes_publishing_fields_in_place(gallery: tuple[ArmEmulator, Any]) -> None:
    _, p = gallery
    image = p.capture(spec("app/1.0.0", "vm-gen-os", extra={"replica_count": 1}))
    wanted = spec("app/1.0.0", "vm-gen-os", label="L",
                  extra={"replica_count": 2, "end_of_life_date": "2027-12-31", "exclude_from_latest": True})
    after = p.update(image, wanted)
    assert after.label == "L"
    assert (after.extra["replica_count"], after.extra["end_of_life_date"], after.extra["exclude_from_latest"]) == (
        2, "2027-12-31", True)
    assert after.fingerprint != image.fingerprint


def test_gallery_definition_os_state_mismatch_is_refused(gallery: tuple[ArmEmulator, Any]) -> None:
    emu, p = gallery
    with pytest.raises(ProviderError) as e:
        p.capture(spec("web-base/2.0.0", "vm-spec-data", type=ImageType.VM, os_state=OSState.SPECIALIZED))
    assert e.value.code == "BadRequest"
    assert not [r for r in emu.requests if r.method == "PUT"]


def test_missing_gallery_is_a_clear_error(fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery="nosuch")
        try:
            with pytest.raises(ProviderError) as e:
                p.snapshot()
            assert "gallery 'nosuch' does not exist" in e.value.message and e.value.hint
        finally:
            p.close()


def test_remove_of_a_missing_image_is_a_no_op_and_update_is_not_found(managed: tuple[ArmEmulator, Any]) -> None:
    _, p = managed
    ghost = p.snapshot().image_index()["owned-web"]
    p.remove(ghost)
    p.remove(ghost)
    with pytest.raises(NotFound):
        p.update(ghost, spec("owned-web", "x"))


# --------------------------------------------------------------------------------------------------
# Settings, endpoint, credentials


@pytest.mark.parametrize("endpoint", ["http://management.azure.com", "http://10.0.0.1:8080", "ftp://x"])
def test_plain_http_only_to_loopback(endpoint: str) -> None:
    config = CatalogConfig(name=OWNER, provider="azure",
                           settings={"subscription": SUB, "resource_group": RG, "endpoint": endpoint})
    with pytest.raises(ReconcilerError) as e:
        azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": "t"})
    assert e.value.hint


def test_loopback_and_https_endpoints_are_accepted() -> None:
    assert azure.check_endpoint("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert azure.check_endpoint("http://[::1]:9") == "http://[::1]:9"
    assert azure.check_endpoint("https://management.azure.com") == "https://management.azure.com"


def test_missing_subscription_names_the_env_var() -> None:
    config = CatalogConfig(name=OWNER, provider="azure", settings={"resource_group": RG})
    with pytest.raises(ReconcilerError) as e:
        azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": "t"})
    assert "subscription" in e.value.message and "AZURE_SUBSCRIPTION_ID" in e.value.hint


def test_token_is_redacted_from_debug_logs_and_errors(managed: tuple[ArmEmulator, Any],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    _, p = managed
    caplog.set_level(logging.DEBUG, logger="reconciler.http")
    p.snapshot()
    with pytest.raises(NotFound) as e:
        p.adopt(azure.image_from_managed({"name": "ghost"}))
    assert TOKEN not in caplog.text and "<redacted>" in caplog.text
    assert TOKEN not in str(e.value)


def test_wrong_token_is_an_authentication_error(fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), clock=fake.clock) as emu:
        config = CatalogConfig(name=OWNER, provider="azure", settings=settings(emu))
        # A blank AZURE_ACCESS_TOKEN now counts as unset (azure-identity would be asked), so the
        # blank token the emulator refuses is handed to the transport directly.
        transport = Transport(emu.url, token=lambda: " ", clock=fake.clock, sleep=fake.sleep)
        p = azure.AzureProvider(config, transport, clock=fake.clock, sleep=fake.sleep)
        try:
            with pytest.raises(ProviderError) as e:
                p.snapshot()
            assert e.value.status == 401 and e.value.hint
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# Apply under faults


def test_fifty_image_apply_converges_under_faults_capturing_each_once(fake: FakeClock) -> None:
    """20% of requests throttled, failed or dropped (some after the write happened): every image is
    created exactly once, and the next plan is empty."""
    vms = []
    for i in range(50):
        if i % 2:
            vms.append({"name": f"vm-{i:02d}", "os": "linux", "power_state": "running", "os_state": "specialized"})
        else:
            vms.append({"name": f"vm-{i:02d}", "os": "linux", "power_state": "deallocated",
                        "os_state": "generalized"})
    faults = Faults(throttle=0.1, server_error=0.05, drop=0.05, lro_polls=1)
    with ArmEmulator(managed_state({"vms": vms, "images": []}), page_size=20, faults=faults, clock=fake.clock,
                     seed=7) as emu:
        p = open_azure(emu, fake, timeout=10**6)
        try:
            specs = tuple(
                spec(f"img-{i:02d}", f"vm-{i:02d}", source=Source(vm=f"vm-{i:02d}", generalize=bool(i % 2)),
                     tags={"n": str(i)})
                for i in range(50)
            )
            desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(),
                                   images=specs, digest="d")
            plan = make_plan(desired, p.snapshot(), p.capabilities)
            assert not plan.errored, plan.all_errors
            assert plan.counts()["capture"] == 50
            result = apply_plan(plan, p, parallelism=10)
            assert result.ok, [r.error for r in result.results if r.error]

            creates = [op for op in emu.backend.operations.values() if op.kind == "create"]
            per_image: dict[str, int] = {}
            for op in creates:
                per_image[op.resource_name] = per_image.get(op.resource_name, 0) + 1
            assert per_image == {f"img-{i:02d}": 1 for i in range(50)}
            assert sum(1 for r in emu.requests if r.status == 0) > 0, "some connections were dropped"
            assert sum(1 for r in emu.requests if r.status == 429) > 0, "some requests were throttled"

            emu.faults.throttle = emu.faults.server_error = emu.faults.drop = 0.0
            again = make_plan(desired, p.snapshot(), p.capabilities)
            assert [c.action for c in again.changes] == [Action.NOOP] * 50
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# VMs where ARM refuses $expand=instanceView without $filter, or ignores it (BEHAVIOURS.md row 9)


@pytest.mark.parametrize("mode", ["reject", "ignore"])
def test_vm_read_falls_back_to_instance_view_per_vm(mode: str, fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), page_size=2, clock=fake.clock,
                     faults=Faults(vm_list_expand=mode)) as emu:
        p = open_azure(emu, fake)
        try:
            vms = p.snapshot().vm_index()
            assert vms["vm-running"].power_state is PowerState.RUNNING
            assert vms["vm-gen-os"].os_state is OSState.GENERALIZED
            views = [r for r in emu.requests if r.path.endswith("/instanceView")]
            assert len(views) == len(SEED["vms"])
            refused = [r for r in emu.requests if r.path.endswith("/virtualMachines") and r.status == 400]
            assert len(refused) == (1 if mode == "reject" else 0)
            # After a 400 the provider remembers: a second snapshot does not try the refused list again.
            before = len(emu.requests)
            p.snapshot()
            vm_lists = [r for r in emu.requests[before:] if r.path.endswith("/virtualMachines")]
            assert vm_lists and all(("$expand" in r.query) is (mode == "ignore") for r in vm_lists)
            assert all(r.status == 200 for r in emu.requests[before:])
        finally:
            p.close()


def test_gallery_update_keeps_undeclared_publishing_fields(gallery: tuple[ArmEmulator, Any]) -> None:
    emu, p = gallery
    regions = [{"name": "westeurope"}, {"name": "northeurope", "replicas": 3}]
    image = p.capture(spec("app/1.0.0", "vm-gen-os", extra={"target_regions": regions}))
    # The file stops declaring target_regions: they become unmanaged, not reset to one region.
    after = p.update(image, spec("app/1.0.0", "vm-gen-os", label="relabelled"))
    assert after.label == "relabelled" and after.extra["target_regions"] == regions
    version = next(r for r in emu.dump_state()["resources"] if r["id"].endswith("/app/versions/1.0.0"))
    names = [r["name"] for r in version["properties"]["publishingProfile"]["targetRegions"]]
    assert names == ["westeurope", "northeurope"]
