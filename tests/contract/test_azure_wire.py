"""The azure provider's wire against the ARM emulator over real HTTP (issues 13 and 10 §4):
pipelined paging and raw-bytes fingerprints, gallery operations polled under ``capsOperations``,
a throttling ``Retry-After`` longer than 120 s waited out within the change's deadline, and
tokens that expire during a run. Time is fake everywhere: the provider sleeps on the shared
``FakeClock``, and token expiry reads a wall clock that follows it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.errors import ProviderError
from reconciler.model import CatalogConfig, ImageSpec, ImageType, OSState, Source
from reconciler.providers import azure
from reconciler.providers.azure.auth import CredentialToken
from reconciler.providers.clouds import get_cloud
from reconciler.providers.http.transport import PAGES_AHEAD, Transport

from .harness_azure_gallery import GALLERY, NameMap, gallery_state
from .harness_azure_managed import RP, TOKEN, FakeClock, managed_state, settings, vm_resource
from .seed import OWNER, SEED

EPOCH = 1_800_000_000.0  # the wall clock at FakeClock's start: 2027-01-15 08:00:00 UTC


def wall_of(fake: FakeClock) -> Any:
    start = fake.now
    return lambda: EPOCH + (fake.now - start)


def jwt(exp: float) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': int(exp)})}.c2ln"


def open_azure(emu: ArmEmulator, fake: FakeClock, env: dict[str, str] | None = None,
               **extra: Any) -> azure.AzureProvider:
    config = CatalogConfig(name=OWNER, provider="azure", settings=settings(emu, **extra))
    return azure.open_provider(config, env=env or {"AZURE_ACCESS_TOKEN": TOKEN}, clock=fake.clock, sleep=fake.sleep,
                               rand=lambda: 0.5, wall=wall_of(fake))


def spec(name: str, vm: str, **kw: Any) -> ImageSpec:
    kw.setdefault("type", ImageType.OS)
    kw.setdefault("os_state", OSState.GENERALIZED)
    return ImageSpec(name=name, os="linux", source=Source(vm=vm), **kw)


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


def many_images(n: int) -> dict[str, Any]:
    state = managed_state(SEED)
    template = next(r for r in state["resources"] if r["type"] == "Microsoft.Compute/images")
    for i in range(n):
        name = f"bulk-{i:03d}"
        state["resources"].append({**template, "id": f"{RP}/images/{name}", "name": name,
                                   "tags": {**template.get("tags", {}), "n": str(i)}})
    return state


# --------------------------------------------------------------------------------------------------
# Paging and fingerprints


def test_pipelined_snapshot_reads_every_page_once_in_order(fake: FakeClock) -> None:
    with ArmEmulator(many_images(57), page_size=5, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            images = azure.ManagedScope.list_images(p.backend.scope, p.backend.arm)  # type: ignore[arg-type]
            lists = [r for r in emu.requests if r.path.endswith("/images") and r.method == "GET"]
            total = len([r for r in emu.dump_state()["resources"] if r["type"] == "Microsoft.Compute/images"])
            assert len(images) == total and len({i.name for i in images}) == total
            assert len(lists) == -(-total // 5)
            assert [r.query.get("$skiptoken") is None for r in lists] == [True] + [False] * (len(lists) - 1)
            assert len({r.query.get("$skiptoken") for r in lists}) == len(lists)
        finally:
            p.close()


def test_closing_the_pages_early_stops_the_helper(fake: FakeClock) -> None:
    with ArmEmulator(many_images(60), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            pages = p.t.pages(f"{RP}/images", params={"api-version": azure.COMPUTE_API})
            first = next(pages)
            assert len(first) == 2
            pages.close()  # joins the helper: whatever it fetched ahead is all it fetches
            sent = len(emu.requests)
            assert 1 <= sent <= 1 + PAGES_AHEAD
            assert p.t.get(f"{RP}/images", params={"api-version": azure.COMPUTE_API}).status == 200
            assert len(emu.requests) == sent + 1
        finally:
            p.close()


def test_a_failing_page_raises_in_the_callers_thread(fake: FakeClock) -> None:
    with ArmEmulator(many_images(10), page_size=3, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            pages = p.t.pages(f"{RP}/images", params={"api-version": azure.COMPUTE_API}, what="list images")
            next(pages)
            emu.faults.update({"throttle_next": 50, "retry_after": 1200})  # too long for the transport
            with pytest.raises(ProviderError) as e:
                list(pages)
            assert e.value.status == 429 and e.value.retry_after == 1200
            assert e.value.message.startswith("list images:")
        finally:
            p.close()


def test_fingerprints_hash_the_bytes_as_sent_the_same_from_a_list_and_a_get(fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            snap = p.snapshot()
            raw = p.t.request_text("GET", f"{RP}/images/owned-web", params={"api-version": azure.COMPUTE_API},
                                   what="")[1]
            listed = snap.image_index()["owned-web"]
            assert listed.fingerprint == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
            live = p.backend.read_image("owned-web", ImageType.OS)
            assert live is not None and live.image.fingerprint == listed.fingerprint
            # An etag, where ARM sends one, still wins.
            assert azure.image_from_managed({"etag": "W/1"}, raw).fingerprint == "etag:W/1"
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# Gallery operations: capsOperations


@pytest.fixture
def gallery(fake: FakeClock) -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def test_gallery_writes_are_polled_under_caps_operations(gallery: tuple[ArmEmulator, Any]) -> None:
    emu, p = gallery
    image = p.capture(spec("app/1.2.3", "vm-spec-data", type=ImageType.VM, os_state=OSState.SPECIALIZED))
    polls = [r.path for r in emu.requests if "/locations/" in r.path]
    assert polls and all("/capsOperations/" in path for path in polls)
    p.remove(image)
    deletes = [r for r in emu.requests if r.method == "DELETE"]
    assert deletes and "/capsOperations/" in [r.path for r in emu.requests if "/locations/" in r.path][-1]


def test_a_role_without_caps_operations_read_is_named(gallery: tuple[ArmEmulator, Any]) -> None:
    emu, p = gallery
    emu.faults.update({"caps_operations_read": "deny"})
    with pytest.raises(ProviderError) as e:
        p.capture(spec("app/1.2.3", "vm-spec-data", type=ImageType.VM, os_state=OSState.SPECIALIZED))
    assert e.value.status == 403 and e.value.code == "AuthorizationFailed"
    assert "Microsoft.Compute/locations/capsOperations/read" in e.value.hint and "docs/azure.md" in e.value.hint


# --------------------------------------------------------------------------------------------------
# Retry-After longer than 120 s


def test_a_long_retry_after_is_waited_out_within_the_deadline(fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), clock=fake.clock, faults=Faults(retry_after=0)) as emu:
        p = open_azure(emu, fake, timeout=3600)
        try:
            emu.faults.update({"throttle_next": 1, "throttle_only": "PUT", "retry_after": 1200})
            steps: list[str] = []
            emu.requests.clear()
            started = fake.now
            image = p.capture(spec("patient", "vm-gen-os"), steps.append)
            assert image.name == "patient"
            waits = [s for s in steps if s.startswith("throttled")]
            assert waits == ["throttled by Azure (OperationNotAllowed): waiting 20 min as its Retry-After asks, "
                             "then sending the request again"]
            puts = [r.status for r in emu.requests if r.method == "PUT"]
            assert puts == [429, 201]
            assert fake.now - started >= 1200
        finally:
            p.close()


def test_the_reads_of_a_change_wait_too_but_not_the_plans(fake: FakeClock) -> None:
    """Compute throttles reads (``HighCostGet30Min``): the guard's re-read opening a change waits
    like its write; a snapshot outside any change fails at once, its hint naming the wait."""
    with ArmEmulator(managed_state(SEED), clock=fake.clock, faults=Faults(retry_after=0)) as emu:
        p = open_azure(emu, fake, timeout=3600)
        try:
            emu.faults.update({"throttle_next": 1, "throttle_only": "GET", "retry_after": 1200})
            emu.requests.clear()
            steps: list[str] = []
            with pytest.raises(ProviderError) as e:
                p.snapshot()
            assert e.value.status == 429 and "asks to wait 1200 s (Retry-After)" in e.value.hint
            emu.faults.update({"throttle_next": 1, "throttle_only": "GET"})
            started = fake.now
            image = p.capture(spec("patient-read", "vm-gen-os"), steps.append)
            assert image.name == "patient-read" and fake.now - started >= 1200
            assert steps[0].startswith("throttled by Azure (OperationNotAllowed): waiting 20 min")
            first_get = next(r for r in emu.requests if r.method == "GET" and r.path.endswith("/patient-read"))
            assert first_get.status == 429
        finally:
            p.close()


def test_a_throttled_generalize_is_waited_out_like_the_deallocate_before_it(fake: FakeClock) -> None:
    # Generalize is a plain POST (200, no body, no operation): it waits within the change's deadline too.
    state = managed_state(SEED)
    state["resources"].append(vm_resource({"name": "vm-dealloc-spec", "os": "linux", "power_state": "deallocated",
                                           "os_state": "specialized"}))
    with ArmEmulator(state, clock=fake.clock, faults=Faults(retry_after=0)) as emu:
        p = open_azure(emu, fake, timeout=3600)
        try:
            emu.faults.update({"throttle_next": 1, "throttle_only": "POST", "throttle_path": "/generalize",
                               "retry_after": 1200})
            emu.requests.clear()
            steps: list[str] = []
            started = fake.now
            gen = ImageSpec(name="gen-patient", os="linux", type=ImageType.OS, os_state=OSState.GENERALIZED,
                            source=Source(vm="vm-dealloc-spec", generalize=True))
            image = p.capture(gen, steps.append)
            assert image.name == "gen-patient" and fake.now - started >= 1200
            assert [r.status for r in emu.requests if r.path.endswith("/generalize")] == [429, 200]
            assert [s for s in steps if s.startswith("throttled")] == [
                "throttled by Azure (OperationNotAllowed): waiting 20 min as its Retry-After asks, "
                "then sending the request again"]
            assert steps.index("generalizing vm-dealloc-spec") < steps.index("capturing")
        finally:
            p.close()


@pytest.mark.parametrize("retry_after", [7, 1200])
def test_the_per_vm_instance_view_reads_wait_as_every_other_read(fake: FakeClock, retry_after: int) -> None:
    # A VM list that ignored $expand=instanceView: one instanceView GET per VM (BEHAVIOURS.md row 9),
    # through the same read as the others: a short Retry-After is the transport's; a long one fails a
    # plan's snapshot at once (its hint names the wait) and is waited out within a change.
    with ArmEmulator(managed_state(SEED), clock=fake.clock,
                     faults=Faults(retry_after=0, vm_list_expand="ignore")) as emu:
        p = open_azure(emu, fake, timeout=3600)
        try:
            emu.faults.update({"throttle_next": 1, "throttle_only": "GET", "throttle_path": "/instanceView",
                               "retry_after": retry_after})
            if retry_after <= 120:
                assert p.snapshot().vm_index()["vm-gen-os"].os_state is OSState.GENERALIZED
            else:
                with pytest.raises(ProviderError) as e:
                    p.snapshot()
                assert e.value.status == 429 and "asks to wait 1200 s (Retry-After)" in e.value.hint
                emu.faults.update({"throttle_next": 1})
                steps: list[str] = []
                started = fake.now
                with p.backend.arm.change(steps.append):
                    vms = p.backend.snapshot().vm_index()
                assert vms["vm-gen-os"].os_state is OSState.GENERALIZED and fake.now - started >= 1200
                assert [s for s in steps if s.startswith("throttled")] and len(steps) == 1
            assert [r.status for r in emu.requests if r.path.endswith("/instanceView")].count(429) == (
                1 if retry_after <= 120 else 2)
        finally:
            p.close()


def test_a_retry_after_past_the_deadline_is_a_clear_error(fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), clock=fake.clock, faults=Faults(retry_after=0)) as emu:
        p = open_azure(emu, fake, timeout=600)
        try:
            emu.faults.update({"throttle_next": 1, "throttle_only": "PUT", "retry_after": 1200})
            emu.requests.clear()
            started = fake.now
            with pytest.raises(ProviderError) as e:
                p.capture(spec("impatient", "vm-gen-os"), lambda _s: None)
            assert "asks to wait 20 min (Retry-After: 1200 s)" in e.value.message
            assert "left of this change's deadline" in e.value.message and "'timeout'" in e.value.hint
            assert e.value.status == 429 and e.value.retryable
            assert [r.status for r in emu.requests if r.method == "PUT"] == [429]
            assert fake.now == started, "nothing was waited for"
        finally:
            p.close()


def test_a_short_retry_after_stays_the_transports_business(fake: FakeClock) -> None:
    with ArmEmulator(managed_state(SEED), clock=fake.clock, faults=Faults(retry_after=0)) as emu:
        p = open_azure(emu, fake, timeout=600)
        try:
            emu.faults.update({"throttle_next": 2, "throttle_only": "PUT", "retry_after": 7})
            steps: list[str] = []
            p.capture(spec("quick", "vm-gen-os"), steps.append)
            assert not [s for s in steps if s.startswith("throttled")]
            assert [r.status for r in emu.requests if r.method == "PUT"] == [429, 429, 201]
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# Tokens that expire during a run


def test_a_static_token_that_expires_is_a_clear_error_not_a_401_loop(fake: FakeClock) -> None:
    wall = wall_of(fake)
    with ArmEmulator(managed_state(SEED), clock=fake.clock, wall=wall) as emu:
        p = open_azure(emu, fake, env={"AZURE_ACCESS_TOKEN": jwt(EPOCH + 1800)})
        try:
            assert p.snapshot().images
            fake.sleep(1800)
            sent = len(emu.requests)
            with pytest.raises(ProviderError) as e:
                p.snapshot()
            assert "AZURE_ACCESS_TOKEN expired at 2027-01-15 08:30:00 UTC" in e.value.message
            assert "az login" in e.value.hint
            assert len(emu.requests) == sent, "an expired token is not sent"
        finally:
            p.close()


def test_a_static_token_refused_as_expired_by_arm_is_said_once(fake: FakeClock) -> None:
    """ARM's clock ahead of ours: the token looks valid here, ARM answers ExpiredAuthenticationToken."""
    ahead = wall_of(fake)
    with ArmEmulator(managed_state(SEED), clock=fake.clock, wall=lambda: ahead() + 7200) as emu:
        p = open_azure(emu, fake, env={"AZURE_ACCESS_TOKEN": jwt(EPOCH + 3600)})
        try:
            with pytest.raises(ProviderError) as e:
                p.snapshot()
            assert e.value.status == 401 and e.value.message.startswith(
                "the access token in AZURE_ACCESS_TOKEN expired at 2027-01-15 09:00:00 UTC (Azure: The access "
                "token expiry UTC time '1/15/2027 9:00:00 AM' is earlier than current UTC time '1/15/2027 10:00:00 AM'")
            assert [r.status for r in emu.requests] == [401]
        finally:
            p.close()


class Identity:
    """An azure-identity credential stand-in issuing JWTs that live one hour on the wall clock."""

    def __init__(self, wall: Any) -> None:
        self.wall = wall
        self.calls = 0

    def get_token(self, *scopes: str) -> Any:
        self.calls += 1
        exp = self.wall() + 3600

        class Tok:
            token = jwt(exp)
            expires_on = exp

        return Tok()


def _credential_provider(emu: ArmEmulator, fake: FakeClock, identity: Identity, **extra: Any) -> azure.AzureProvider:
    config = CatalogConfig(name=OWNER, provider="azure", settings=settings(emu, **extra))
    token = CredentialToken(lambda authority: identity, get_cloud(None), wall_of(fake))
    transport = Transport(emu.url, token=token, clock=fake.clock, sleep=fake.sleep, rand=lambda: 0.5)
    return azure.AzureProvider(config, transport, clock=fake.clock, sleep=fake.sleep)


def test_a_capture_longer_than_a_token_lives_renews_it_while_polling(fake: FakeClock) -> None:
    wall = wall_of(fake)
    faults = Faults(lro_seconds=3 * 3600, lro_polls=0, retry_after=0)
    with ArmEmulator(managed_state(SEED), clock=fake.clock, wall=wall, faults=faults) as emu:
        identity = Identity(wall)
        p = _credential_provider(emu, fake, identity, poll_interval=60, timeout=4 * 3600)
        try:
            image = p.capture(spec("replicated", "vm-gen-os"), lambda _s: None)
            assert image.name == "replicated"
            assert identity.calls >= 3  # three hours of polling: renewed before each expiry
            assert 401 not in [r.status for r in emu.requests]
        finally:
            p.close()


def test_a_refused_credential_token_is_renewed_once_then_the_401_is_reported(fake: FakeClock) -> None:
    ahead = wall_of(fake)
    with ArmEmulator(managed_state(SEED), clock=fake.clock, wall=lambda: ahead() + 7200) as emu:
        identity = Identity(wall_of(fake))
        p = _credential_provider(emu, fake, identity)
        try:
            with pytest.raises(ProviderError) as e:
                p.snapshot()
            assert e.value.status == 401 and e.value.code == "ExpiredAuthenticationToken" and e.value.hint
            assert [r.status for r in emu.requests] == [401, 401] and identity.calls == 2
        finally:
            p.close()
