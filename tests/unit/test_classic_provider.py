"""The azure-classic provider against the classic emulator on loopback: HTTP behaviour the contract suite does not pin.

Layer: tests. Real HTTP(S) on 127.0.0.1, injected sleep and clock (nothing sleeps), the emulator's
request log as the witness of what went over the wire.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.classic import ClassicEmulator, iter_roles
from reconciler.errors import LockError, NotFound, OperationFailed, OperationTimeout, ProviderError
from reconciler.model import CatalogConfig, ImageSpec, ImageType, OSState, Source
from reconciler.providers import LockInfo
from reconciler.providers import open_provider as open_any
from reconciler.providers.classic import ClassicProvider, open_provider
from reconciler.providers.classic.wire import Marker, compose_description

SUB = "11111111-2222-3333-4444-555555555555"
NS = "{http://schemas.microsoft.com/windowsazure}"
OWNER = "platform"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "azure-classic"


def role(name: str, status: str = "StoppedVM", disks: int = 1) -> dict[str, Any]:
    return {"RoleName": name, "InstanceStatus": status, "RoleSize": "Small", "OS": "Linux",
            "OSDisk": {"DiskName": f"{name}-os", "MediaLink": f"https://s.blob.core.windows.net/vhds/{name}.vhd"},
            "DataDisks": [{"DiskName": f"{name}-d{i}", "Lun": i} for i in range(disks)]}


def state() -> dict[str, Any]:
    owned = compose_description("mine", Marker(owner=OWNER, source="websvc/web01"))
    return {
        "subscription": SUB,
        "os_images": [
            {"Category": "User", "Label": "hand made", "Name": "unowned-os", "OS": "Linux", "OSState": "Generalized",
             "MediaLink": "https://s.blob.core.windows.net/vhds/u.vhd", "LogicalSizeInGB": 30},
        ],
        "vm_images": [
            {"Name": "owned-vm", "Label": "owned", "Category": "User", "Description": owned, "ImageFamily": "web",
             "OSDiskConfiguration": {"Name": "o-os", "OSState": "Specialized", "OS": "Linux",
                                     "MediaLink": "https://s.blob.core.windows.net/vhds/o-os.vhd"},
             "DataDiskConfigurations": [], "RoleName": "web01", "CreatedTime": "2015-01-01T00:00:00Z"},
        ],
        "hosted_services": [
            {"ServiceName": "websvc", "Description": 'reconciler: {"generalized":["gen01"]}', "deployments": [
                {"Name": "websvc", "DeploymentSlot": "Production",
                 "roles": [role("web01"), role("gen01"), role("busy01", "ReadyRole")]}]},
            {"ServiceName": "othersvc", "deployments": [
                {"Name": "othersvc", "DeploymentSlot": "Production", "roles": [role("web01")]}]},
        ],
    }


class Clock:
    """Fake time: ``sleep`` advances ``now`` and records the wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def em() -> Iterator[ClassicEmulator]:
    with ClassicEmulator(state()) as e:
        yield e


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(em: ClassicEmulator, clock: Clock, env: dict[str, str] | None = None, **settings: Any) -> ClassicProvider:
    base: dict[str, Any] = {"subscription": SUB, "endpoint": em.url, "poll_interval": 2, "timeout": 60}
    base.update(settings)
    return open_provider(CatalogConfig(OWNER, "azure-classic", base), env=env or {}, sleep=clock.sleep, clock=clock)


@pytest.fixture
def provider(em: ClassicEmulator, clock: Clock) -> Iterator[ClassicProvider]:
    p = make(em, clock)
    yield p
    p.close()


def spec(name: str, vm: str, type_: ImageType = ImageType.VM, os_state: OSState = OSState.SPECIALIZED,
         **kw: Any) -> ImageSpec:
    return ImageSpec(name=name, type=type_, os="linux", os_state=os_state, source=Source(vm=vm), **kw)


def mutating(em: ClassicEmulator) -> list[str]:
    return [f"{r.method} {r.path.removeprefix('/' + SUB)}" for r in em.requests if r.method != "GET"]


# --------------------------------------------------------------------------------------------------
# Wire basics


def test_opens_through_the_provider_registry(em: ClassicEmulator) -> None:
    p = open_any(CatalogConfig(OWNER, "azure-classic", {"subscription": SUB, "endpoint": em.url}), env={})
    try:
        assert isinstance(p, ClassicProvider) and p.capabilities.provider == "azure-classic"
    finally:
        p.close()


def test_every_request_carries_the_configured_version(em: ClassicEmulator, clock: Clock) -> None:
    p = make(em, clock, x_ms_version="2015-04-01")
    try:
        p.snapshot()
    finally:
        p.close()
    assert em.requests and {r.headers.get("x-ms-version") for r in em.requests} == {"2015-04-01"}


def test_snapshot_names_vms_and_reads_markers(provider: ClassicProvider) -> None:
    snap = provider.snapshot()
    assert [v.name for v in snap.vms] == ["busy01", "gen01", "othersvc/web01", "websvc/web01"]
    vms = snap.vm_index()
    assert vms["gen01"].os_state is OSState.GENERALIZED and vms["websvc/web01"].os_state is OSState.SPECIALIZED
    assert vms["busy01"].power_state.value == "running" and vms["websvc/web01"].data_disks == ("web01-d0",)
    images = snap.image_index()
    assert images["owned-vm"].owner == OWNER and images["owned-vm"].description == "mine"
    assert images["owned-vm"].source == Source(vm="websvc/web01")
    assert images["unowned-os"].owner is None


def test_missing_subscription_is_a_config_error() -> None:
    with pytest.raises(ProviderError, match="subscription"):
        open_provider(CatalogConfig(OWNER, "azure-classic", {"endpoint": "http://127.0.0.1:9"}), env={})


# --------------------------------------------------------------------------------------------------
# Retries and polling


def test_throttling_and_busy_are_retried_honouring_retry_after(em: ClassicEmulator, clock: Clock,
                                                               provider: ClassicProvider) -> None:
    em.faults.throttle(1, retry_after=7, path="/services/images$")
    em.faults.server_error(1, path="/services/images$")
    provider.snapshot()
    assert clock.slept[0] == 7 and len(clock.slept) == 2
    assert [r.status for r in em.requests[:3]] == [429, 503, 200]


def test_a_dropped_read_is_retried(em: ClassicEmulator, clock: Clock, provider: ClassicProvider) -> None:
    em.faults.drop(1, method="GET", path="/services/vmimages")
    assert "owned-vm" in provider.snapshot().image_index()


def test_a_dropped_capture_is_not_sent_twice(em: ClassicEmulator, provider: ClassicProvider) -> None:
    em.faults.drop(1, method="POST")
    with pytest.raises(ProviderError) as info:
        provider.capture(spec("new", "websvc/web01"))
    assert info.value.retryable and info.value.code == "ConnectionError"
    assert [m for m in mutating(em) if m.startswith("POST")] == [
        "POST /services/hostedservices/websvc/deployments/websvc/roleinstances/web01/Operations"]


def test_a_throttled_capture_is_retried_and_a_dropped_remove_sent_again(em: ClassicEmulator, clock: Clock,
                                                                         provider: ClassicProvider) -> None:
    """The one policy on the session: 429/5xx are retried for every method (the service did not act),
    a lost answer only for the methods safe to send twice (DELETE yes, a capture POST no)."""
    em.faults.throttle(1, retry_after=3, method="POST")
    provider.capture(spec("new", "websvc/web01"))
    assert [m for m in mutating(em) if m.startswith("POST")] == [
        "POST /services/hostedservices/websvc/deployments/websvc/roleinstances/web01/Operations"] * 2
    assert clock.slept[0] == 3 and provider.backend.client.retries >= 1
    em.faults.drop(1, method="DELETE")
    image = provider.snapshot().image_index()["new"]
    provider.remove(image)
    assert len([m for m in mutating(em) if m.startswith("DELETE /services/vmimages/new")]) == 2
    assert "new" not in provider.snapshot().image_index()


def test_a_failed_operation_raises_operation_failed(em: ClassicEmulator, provider: ClassicProvider) -> None:
    em.faults.fail_operations(1, code="InternalError", message="disk copy failed")
    with pytest.raises(OperationFailed, match="disk copy failed") as info:
        provider.capture(spec("new", "websvc/web01"))
    assert info.value.code == "InternalError" and info.value.request_id
    assert "new" not in provider.snapshot().image_index()


def test_polling_stops_at_the_deadline(em: ClassicEmulator, clock: Clock, provider: ClassicProvider) -> None:
    em.faults.op_polls = 1000
    with pytest.raises(OperationTimeout):
        provider.capture(spec("slow", "websvc/web01"))
    assert set(clock.slept) == {2} and clock.now >= 60


# --------------------------------------------------------------------------------------------------
# Captures


def test_vm_image_capture_writes_the_marker_in_one_call(em: ClassicEmulator, provider: ClassicProvider) -> None:
    image = provider.capture(spec("new", "websvc/web01", tags={"team": "web"}, protect=True, label="New & <1>",
                                  extra={"delete_media": True}))
    assert (image.owner, image.protected, dict(image.tags), image.label) == (OWNER, True, {"team": "web"}, "New & <1>")
    assert image.source == Source(vm="websvc/web01") and dict(image.extra) == {"delete_media": True}
    assert mutating(em) == ["POST /services/hostedservices/websvc/deployments/websvc/roleinstances/web01/Operations"]
    body = ET.fromstring(next(r.body for r in em.requests if r.method == "POST"))
    assert body.findtext(f"{NS}OSState") == "Specialized"
    assert body.findtext(f"{NS}Description", "").startswith("reconciler: {")
    assert ["othersvc/web01", "websvc/web01"] == sorted(
        f"{s}/{r['RoleName']}" for s, _, r in iter_roles(em.dump_state()) if r["RoleName"] == "web01")


def test_os_image_capture_deletes_the_vm_then_writes_the_marker(em: ClassicEmulator, provider: ClassicProvider) -> None:
    image = provider.capture(spec("new-os", "gen01", ImageType.OS, OSState.GENERALIZED, family="base"))
    assert (image.type, image.owner, image.family, image.label) == (ImageType.OS, OWNER, "base", None)
    assert image.created  # PublishedDate stands in for the creation time
    assert mutating(em) == [
        "POST /services/hostedservices/websvc/deployments/websvc/roleinstances/gen01/Operations",
        "PUT /services/images/new-os",
    ]
    assert "gen01" not in provider.snapshot().vm_index()
    fixture = SHARED / "capture-role.request.xml"
    if fixture.exists():  # the same elements as the shared fixture, whatever their values
        sent = ET.fromstring(next(r.body for r in em.requests if r.method == "POST"))
        assert [c.tag for c in sent] == [c.tag for c in ET.fromstring(fixture.read_bytes())]


def test_a_retried_capture_returns_the_image_instead_of_capturing_again(em: ClassicEmulator,
                                                                        provider: ClassicProvider) -> None:
    first = provider.capture(spec("again", "websvc/web01"))
    again = provider.capture(spec("again", "websvc/web01"))
    assert again.fingerprint == first.fingerprint
    assert len([m for m in mutating(em) if m.startswith("POST")]) == 1


def test_capture_refuses_names_taken_by_unowned_images(em: ClassicEmulator, provider: ClassicProvider) -> None:
    with pytest.raises(ProviderError, match="not owned") as info:
        provider.capture(spec("UNOWNED-OS", "gen01", ImageType.OS, OSState.GENERALIZED))
    assert info.value.status == 409 and "reconciler import unowned-os" in info.value.hint
    assert mutating(em) == []


@pytest.mark.parametrize(("vm", "error"), [
    ("web01", "ambiguous"),
    ("ghost", "vm-missing"),
    ("busy01", "running"),
    ("gen01", "vm-generalized"),
])
def test_capture_rechecks_the_source_vm(em: ClassicEmulator, provider: ClassicProvider, vm: str, error: str) -> None:
    with pytest.raises(ProviderError, match=error):
        provider.capture(spec("x", vm))
    assert mutating(em) == []


def test_a_generalized_capture_needs_a_vm_marked_generalized(provider: ClassicProvider) -> None:
    with pytest.raises(ProviderError, match="vm-not-generalized"):
        provider.capture(spec("x", "websvc/web01", os_state=OSState.GENERALIZED))


# --------------------------------------------------------------------------------------------------
# Update, remove, adopt


def test_update_puts_the_fields_and_keeps_the_recorded_source(em: ClassicEmulator, provider: ClassicProvider) -> None:
    image = provider.snapshot().image_index()["owned-vm"]
    updated = provider.update(image, spec("owned-vm", "websvc/web01", label="L2", description="new text",
                                          family="web2", tags={"a": "b"}, protect=True))
    assert (updated.label, updated.description, updated.family, dict(updated.tags), updated.protected) == (
        "L2", "new text", "web2", {"a": "b"}, True)
    assert updated.source == Source(vm="websvc/web01") and updated.fingerprint != image.fingerprint
    assert mutating(em) == ["PUT /services/vmimages/owned-vm"]


def test_update_cannot_clear_a_family(em: ClassicEmulator, provider: ClassicProvider) -> None:
    image = provider.snapshot().image_index()["owned-vm"]
    with pytest.raises(ProviderError, match="cannot clear family"):
        provider.update(image, spec("owned-vm", "websvc/web01", family=None))
    assert mutating(em) == []


def test_unowned_images_are_never_changed(em: ClassicEmulator, provider: ClassicProvider) -> None:
    image = provider.snapshot().image_index()["unowned-os"]
    with pytest.raises(ProviderError, match="not owned"):
        provider.update(image, spec("unowned-os", "x", ImageType.OS, OSState.GENERALIZED))
    with pytest.raises(ProviderError, match="not owned"):
        provider.remove(image)
    assert mutating(em) == []


@pytest.mark.parametrize(("delete_media", "query"), [(True, {"comp": ["media"]}), (False, {})])
def test_remove_deletes_media_only_when_the_spec_said_so(em: ClassicEmulator, provider: ClassicProvider,
                                                         delete_media: bool, query: dict[str, Any]) -> None:
    image = provider.capture(spec("gone", "websvc/web01", extra={"delete_media": delete_media}))
    provider.remove(image)
    (delete,) = [r for r in em.requests if r.method == "DELETE"]
    assert delete.query == query
    assert "gone" not in provider.snapshot().image_index()
    assert bool(em.dump_state().get("deleted_blobs")) is delete_media


def test_remove_of_a_vanished_image_is_not_found(em: ClassicEmulator, provider: ClassicProvider) -> None:
    image = provider.snapshot().image_index()["owned-vm"]
    em.state["vm_images"].clear()
    with pytest.raises(NotFound):
        provider.remove(image)


def test_adopt_writes_the_marker_and_keeps_the_text(em: ClassicEmulator, provider: ClassicProvider) -> None:
    image = provider.snapshot().image_index()["unowned-os"]
    adopted = provider.adopt(image)
    assert adopted.owner == OWNER and adopted.label == "hand made"
    assert mutating(em) == ["PUT /services/images/unowned-os"]


# --------------------------------------------------------------------------------------------------
# Auth


def test_bearer_token_from_the_environment(clock: Clock) -> None:
    with ClassicEmulator({**state(), "tokens": ["tok"]}) as em:
        p = make(em, clock, env={"AZURE_ACCESS_TOKEN": "tok"})
        bad = make(em, clock, env={"AZURE_ACCESS_TOKEN": "nope"})
        try:
            assert p.snapshot().images
            with pytest.raises(ProviderError) as info:
                bad.snapshot()
            assert (info.value.status, info.value.code) == (403, "ForbiddenError") and "certificate" in info.value.hint
            assert "nope" not in str(info.value)
        finally:
            p.close()
            bad.close()


def test_management_certificate_from_a_publishsettings_file(tmp_path: Path, clock: Clock) -> None:
    with ClassicEmulator(state(), tls=True, tls_dir=str(tmp_path / "tls")) as em:
        files = em.tls_files
        assert files is not None
        # Subscription, endpoint and certificate all come from the file.
        p = open_provider(
            CatalogConfig(OWNER, "azure-classic", {"publish_settings": files.publishsettings,
                                                   "ca_bundle": files.ca_cert}),
            env={}, sleep=clock.sleep, clock=clock,
        )
        temp = p.client.cert
        try:
            assert "owned-vm" in p.snapshot().image_index()
            assert {r.client_thumbprint for r in em.requests} == {files.client_thumbprint}
        finally:
            p.close()
        assert temp is not None and not Path(temp).exists()  # the temporary PEM is gone


def test_an_unknown_certificate_is_refused_with_a_hint(tmp_path: Path, clock: Clock) -> None:
    with ClassicEmulator(state(), tls=True) as em:
        assert em.tls_files is not None
        stranger = str(tmp_path / "stranger.pem")
        em.issue_client_certificate(stranger, accepted=False)
        p = make(em, clock, certificate=stranger, ca_bundle=em.tls_files.ca_cert)
        try:
            with pytest.raises(ProviderError) as info:
                p.snapshot()
        finally:
            p.close()
        assert info.value.status == 403 and "upload the certificate" in info.value.hint


# --------------------------------------------------------------------------------------------------
# The lock


def test_lock_is_exclusive_names_its_holder_and_force_unlocks(em: ClassicEmulator, clock: Clock,
                                                              provider: ClassicProvider) -> None:
    first = LockInfo.new("apply", who="alice")
    handle = provider.acquire_lock(first, 0)
    with pytest.raises(LockError, match="alice") as info:
        provider.acquire_lock(LockInfo.new("apply", who="bob"), 12, clock=clock, sleep=clock.sleep)
    assert info.value.holder["id"] == first.id and clock.now >= 12
    with pytest.raises(LockError, match="does not match"):
        provider.force_unlock("wrong")
    assert provider.force_unlock(first.id).who == "alice"
    handle.release()  # already gone: a no-op
    second = provider.acquire_lock(LockInfo.new("apply", who="bob"), 0)
    second.release()
    with pytest.raises(LockError, match="not locked"):
        provider.force_unlock(second.info.id)
    # The lock's cloud service never shows up as a VM.
    assert all(not v.name.startswith("reconciler-lock") for v in provider.snapshot().vms)


def test_check_reports_a_lock_service_deleted_or_taken_by_another_run(em: ClassicEmulator, clock: Clock,
                                                                      provider: ClassicProvider) -> None:
    handle = provider.acquire_lock(LockInfo.new("apply", who="alice"), 0)
    handle.check()
    # Someone deletes the lock's cloud service behind alice's back (as force-unlock does)...
    provider.client.request("DELETE", f"/services/hostedservices/{provider.lock_service}", ok=(200, 202),
                            what="delete the lock")
    with pytest.raises(LockError, match="this run lost the lock on catalog 'platform'") as gone:
        handle.check()
    assert "gone" in gone.value.message and gone.value.holder["id"] == handle.info.id
    # ... and bob takes it: alice's handle names him, and her release leaves his lock alone.
    other = make(em, clock)
    try:
        bob = other.acquire_lock(LockInfo.new("apply", who="bob"), 0)
        with pytest.raises(LockError, match="bob") as taken:
            handle.check()
        assert bob.info.id in taken.value.message
        handle.release()
        bob.check()
        bob.release()
    finally:
        other.close()


def test_the_ca_bundle_can_come_from_the_environment(clock: Clock) -> None:
    with ClassicEmulator(state(), tls=True) as em:
        assert em.tls_files is not None
        p = make(em, clock, env={"REQUESTS_CA_BUNDLE": em.tls_files.ca_cert}, certificate=em.tls_files.client_pem)
        try:
            assert p.snapshot().images
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# With the real planner: apply, then plan again, gives no changes


SPEC_FILE = f"""
version: 1
catalog:
  name: {OWNER}
  provider: azure-classic
  subscription: {SUB}
policy:
  prune: true
images:
  - name: owned-vm
    type: vm
    os: linux
    os_state: specialized
    family: web
    label: relabelled
    description: mine
    source: {{vm: websvc/web01}}
    tags: {{team: web}}
  - name: golden
    type: vm
    os: linux
    os_state: generalized
    family: golden
    source: {{vm: gen01}}
    protect: true
    delete_media: true
"""


def test_apply_then_plan_again_is_empty(em: ClassicEmulator, provider: ClassicProvider) -> None:
    from reconciler.apply import apply_plan
    from reconciler.model import Action
    from reconciler.plan import make_plan
    from reconciler.spec import parse_spec

    desired = parse_spec(SPEC_FILE.encode(), "images.yaml", defaults={"endpoint": em.url},
                         capabilities=provider.capabilities)
    plan = make_plan(desired, provider.snapshot(), provider.capabilities)
    assert not plan.errored, plan.all_errors
    actions = {c.name: c.action for c in plan.pending}
    assert actions == {"owned-vm": Action.UPDATE, "golden": Action.CAPTURE}
    assert next(c for c in plan.pending if c.name == "golden").consumes_vm == "gen01"
    result = apply_plan(plan, provider, parallelism=2)
    assert result.ok, result.results
    again = make_plan(desired, provider.snapshot(), provider.capabilities)
    assert not again.has_changes, [(c.name, c.reason, c.fields) for c in again.pending]
    assert "gen01" not in provider.snapshot().vm_index()  # consumed by the generalized capture


# --------------------------------------------------------------------------------------------------
# Issue 8 item 10: an endpoint nobody answers on fails in seconds


def test_a_closed_port_fails_after_a_few_quick_tries(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import socket

    from reconciler.providers.classic.client import Client

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    caplog.set_level(logging.WARNING, logger="reconciler.http")
    for method in ("GET", "POST"):
        c = Client(f"http://127.0.0.1:{port}", SUB, token="tok", sleep=clock.sleep, rand=lambda: 1.0)
        clock.slept.clear()
        try:
            with pytest.raises(ProviderError) as info:
                c.request(method, "/services/images", what="list images")
        finally:
            c.close()
        assert c.sent == 3 and sum(clock.slept) <= 3.0, method
        assert info.value.retryable and "connection refused" in info.value.message
    warnings = [r for r in caplog.records if r.name == "reconciler.http" and r.levelno == logging.WARNING]
    assert len(warnings) == 4 and "tok" not in caplog.text.replace("list images", "")
