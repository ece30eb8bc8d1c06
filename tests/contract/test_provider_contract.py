"""The provider contract: what every catalog backend must do, run against every harness.

Layer: contract tests. Providers differ (a SQLite file, ARM, classic Service Management), so a test
consults ``provider.capabilities`` to choose what it may ask for and skips, with a reason, what a
provider cannot hold. The seed is ``tests/contract/seed.py``; the catalog is "platform".
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import pytest

from reconciler.errors import LockError, NotFound, ProviderError, RefusedError
from reconciler.model import (
    Category,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    PowerState,
    Snapshot,
    Source,
)
from reconciler.providers import LockInfo, Provider

from .seed import OWNER, SEED


def _seed_image(name: str) -> dict[str, Any]:
    return next(i for i in SEED["images"] if i["name"] == name)


def _seed_vm(name: str) -> dict[str, Any]:
    return next(v for v in SEED["vms"] if v["name"] == name)


def _image(snap: Snapshot, name: str) -> Image | None:
    return snap.image_index().get(name.casefold())


def _live(provider: Provider, name: str) -> Image:
    image = _image(provider.snapshot(), name)
    assert image is not None, f"{name} missing from the snapshot"
    return image


def _spec(name: str, type_: ImageType, os_state: OSState, vm: str, **kw: Any) -> ImageSpec:
    return ImageSpec(name=name, type=type_, os="linux", os_state=os_state, source=Source(vm=vm), **kw)


def _spec_of(image: Image, **changes: Any) -> ImageSpec:
    """The spec that declares ``image`` exactly as it is live, with ``changes`` applied."""
    spec = ImageSpec(
        name=image.name,
        type=image.type,
        os=image.os,
        os_state=image.os_state,
        source=image.source or Source(vm="unknown"),
        family=image.family,
        label=image.label,
        description=image.description,
        recommended_vm_size=image.recommended_vm_size,
        tags=dict(image.tags),
        protect=image.protected,
    )
    return replace(spec, **changes)


def _require_type(provider: Provider, type_: ImageType, os_state: OSState) -> None:
    caps = provider.capabilities
    if type_ not in caps.image_types:
        pytest.skip(f"{caps.provider} cannot hold {type_.value} images")
    if os_state is OSState.SPECIALIZED and type_ not in caps.specialized_types:
        pytest.skip(f"{caps.provider} cannot hold specialized {type_.value} images")


def _assert_consumed(snap: Snapshot, vm_name: str) -> None:
    """A generalized capture consumes its VM: deleted (classic) or left generalized (ARM)."""
    vm = snap.vm_index().get(vm_name.casefold())
    assert vm is None or vm.os_state is OSState.GENERALIZED


class FakeClock:
    """An injected clock whose ``sleep`` only advances time: lock waits cost nothing real."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


# --------------------------------------------------------------------------------------------------
# Snapshot


def _public_if(request: pytest.FixtureRequest, name: str) -> None:
    """Skip (with the harness's reason) when ``name`` is the seed's public image and it has none."""
    if name == "Ubuntu-Public":
        request.getfixturevalue("public_images")


def test_snapshot_holds_every_seeded_image_with_its_markers(provider: Provider) -> None:
    snap = provider.snapshot()
    index = snap.image_index()
    user = {i["name"].casefold() for i in SEED["images"] if i.get("category", "user") == "user"}
    assert user <= set(index)

    web = index["owned-web"]
    assert (web.category, web.owner, web.protected) == (Category.USER, OWNER, False)
    assert (web.type, web.os, web.os_state) == (ImageType.VM, "linux", OSState.GENERALIZED)
    assert (web.family, web.label) == ("web-base", "Web base")
    # User tags only: ownership and protection markers never leak into tags.
    assert dict(web.tags) == {"team": "web"}
    assert web.data_disks == 1

    protected = index["owned-protected"]
    assert protected.protected is True
    assert protected.owner == OWNER
    assert dict(protected.tags) == {"team": "desktop"}

    assert index["unowned-tools"].owner is None
    assert dict(index["unowned-tools"].tags) == {"made-by": "hand"}
    assert index["other-owned"].owner == "someone-else"

    assert all(i.fingerprint for i in snap.images)


def test_snapshot_holds_public_images_unowned(provider: Provider, public_images: None) -> None:
    index = provider.snapshot().image_index()
    assert {i["name"].casefold() for i in SEED["images"]} <= set(index)
    public = index["ubuntu-public"]
    assert public.category is Category.PUBLIC
    assert public.owner is None
    assert public.family == "ubuntu"


def test_snapshot_holds_vms_with_power_and_os_state(provider: Provider) -> None:
    vms = provider.snapshot().vm_index()
    for seeded in SEED["vms"]:
        vm = vms[seeded["name"].casefold()]
        assert vm.power_state is PowerState(seeded["power_state"])
        assert vm.os_state is OSState(seeded["os_state"])
        assert vm.os == seeded["os"]
        assert len(vm.data_disks) == len(seeded["data_disks"])
        assert vm.fingerprint


def test_fingerprint_changes_when_an_image_is_updated(provider: Provider) -> None:
    snap = provider.snapshot()
    before = _image(snap, "owned-web")
    assert before is not None
    provider.update(before, _spec_of(before, label="Web base, relabelled"))
    after = _live(provider, "owned-web")
    assert after.fingerprint and after.fingerprint != before.fingerprint
    # An untouched image keeps its fingerprint, so a saved plan is not made stale by others' changes.
    assert _live(provider, "other-owned").fingerprint == snap.image_index()["other-owned"].fingerprint


# --------------------------------------------------------------------------------------------------
# Capture


def test_capture_os_image_from_generalized_vm(provider: Provider) -> None:
    _require_type(provider, ImageType.OS, OSState.GENERALIZED)
    steps: list[str] = []
    spec = _spec("new-os", ImageType.OS, OSState.GENERALIZED, "vm-gen-os", family="f", label="L", tags={"a": "1"})
    returned = provider.capture(spec, steps.append)
    assert returned.name == "new-os"

    snap = provider.snapshot()
    image = _image(snap, "new-os")
    assert image is not None
    assert (image.type, image.os_state, image.category) == (ImageType.OS, OSState.GENERALIZED, Category.USER)
    assert image.owner == OWNER
    assert image.protected is False
    assert image.data_disks == 0
    assert (image.family, image.label, dict(image.tags)) == ("f", "L", {"a": "1"})
    assert image.fingerprint
    if image.source is not None:
        assert image.source.as_dict() == {"vm": "vm-gen-os"}
    _assert_consumed(snap, "vm-gen-os")
    assert steps, "capture reports its steps"


def test_generalized_vm_image_copies_data_disks_and_consumes_the_vm(provider: Provider) -> None:
    _require_type(provider, ImageType.VM, OSState.GENERALIZED)
    provider.capture(_spec("new-vm", ImageType.VM, OSState.GENERALIZED, "vm-gen-data"))
    snap = provider.snapshot()
    image = _image(snap, "new-vm")
    assert image is not None
    assert image.type is ImageType.VM
    assert image.data_disks == len(_seed_vm("vm-gen-data")["data_disks"]) == 2
    _assert_consumed(snap, "vm-gen-data")


def test_specialized_capture_keeps_the_vm(provider: Provider) -> None:
    _require_type(provider, ImageType.VM, OSState.SPECIALIZED)
    before = provider.snapshot().vm_index()["vm-spec-data"]
    provider.capture(_spec("new-spec", ImageType.VM, OSState.SPECIALIZED, "vm-spec-data"))
    snap = provider.snapshot()
    image = _image(snap, "new-spec")
    assert image is not None and image.os_state is OSState.SPECIALIZED
    assert image.data_disks == 2
    vm = snap.vm_index().get("vm-spec-data")
    assert vm is not None, "a specialized capture keeps its VM"
    assert vm.os_state is OSState.SPECIALIZED
    assert vm.power_state is before.power_state


def test_capture_with_protect_writes_the_protection_marker(provider: Provider) -> None:
    _require_type(provider, ImageType.OS, OSState.GENERALIZED)
    provider.capture(_spec("new-protected", ImageType.OS, OSState.GENERALIZED, "vm-gen-os", protect=True))
    assert _live(provider, "new-protected").protected is True


def test_capturing_twice_with_the_same_spec_makes_one_image(provider: Provider) -> None:
    caps = provider.capabilities
    if ImageType.VM in caps.specialized_types:
        spec = _spec("twice", ImageType.VM, OSState.SPECIALIZED, "vm-spec-data")
    else:
        _require_type(provider, ImageType.OS, OSState.GENERALIZED)
        spec = _spec("twice", ImageType.OS, OSState.GENERALIZED, "vm-gen-os")
    first = provider.capture(spec)
    # A retry of the same call (the VM may be consumed by now) returns the same image.
    second = provider.capture(spec)
    assert first.name == second.name
    names = [i.key for i in provider.snapshot().images]
    assert names.count("twice") == 1


def test_capture_refuses_a_name_taken_by_an_image_it_does_not_own(provider: Provider) -> None:
    _require_type(provider, ImageType.OS, OSState.GENERALIZED)
    before = _live(provider, "unowned-tools")
    with pytest.raises(ProviderError) as e:
        provider.capture(_spec("Unowned-Tools", ImageType.OS, OSState.GENERALIZED, "vm-gen-os"))
    assert not isinstance(e.value, NotFound)
    after = _live(provider, "unowned-tools")
    assert after.owner is None and after.fingerprint == before.fingerprint
    assert "vm-gen-os" in provider.snapshot().vm_index(), "a refused capture leaves the VM alone"


def test_capture_refuses_a_running_vm(provider: Provider) -> None:
    _require_type(provider, ImageType.VM, OSState.SPECIALIZED)
    if PowerState.RUNNING in provider.capabilities.capture_power_states:
        pytest.skip("this provider captures running VMs")
    with pytest.raises(ProviderError):
        provider.capture(_spec("from-running", ImageType.VM, OSState.SPECIALIZED, "vm-running"))
    assert _image(provider.snapshot(), "from-running") is None


def test_capture_from_a_missing_vm_is_not_found(provider: Provider) -> None:
    _require_type(provider, ImageType.OS, OSState.GENERALIZED)
    with pytest.raises(NotFound):
        provider.capture(_spec("orphan", ImageType.OS, OSState.GENERALIZED, "no-such-vm"))
    assert _image(provider.snapshot(), "orphan") is None


# --------------------------------------------------------------------------------------------------
# Update


def test_update_changes_only_the_mutable_fields(provider: Provider) -> None:
    caps = provider.capabilities
    before = _live(provider, "owned-web")
    wanted: dict[str, Any] = {
        "family": "web-next",
        "label": "Web base, v2",
        "description": "nginx + hardening",
        "recommended_vm_size": "Standard_D4s_v5",
        "tags": {"team": "web", "tier": "gold"},
    }
    changes = {k: v for k, v in wanted.items() if k in caps.mutable_fields}
    if not changes:
        pytest.skip(f"{caps.provider} has no mutable metadata fields")
    returned = provider.update(before, _spec_of(before, **changes))
    assert returned.name == "owned-web"

    after = _live(provider, "owned-web")
    for field_name, value in changes.items():
        got = dict(after.tags) if field_name == "tags" else getattr(after, field_name)
        assert got == value, field_name
    for field_name in ("type", "os", "os_state", "category", "owner", "protected", "data_disks", "created"):
        assert getattr(after, field_name) == getattr(before, field_name), field_name
    assert (after.source is None) or (after.source.as_dict() == before.source.as_dict())  # type: ignore[union-attr]


def test_update_sets_and_clears_the_protection_marker(provider: Provider) -> None:
    if "protect" not in provider.capabilities.mutable_fields:
        pytest.skip("this provider cannot change protection in place")
    image = _live(provider, "owned-web")
    provider.update(image, _spec_of(image, protect=True))
    protected = _live(provider, "owned-web")
    assert protected.protected is True
    assert dict(protected.tags) == {"team": "web"}, "the marker is not a user tag"
    provider.update(protected, _spec_of(protected, protect=False))
    assert _live(provider, "owned-web").protected is False


@pytest.mark.parametrize("name", ["unowned-tools", "other-owned", "Ubuntu-Public"])
def test_update_refuses_images_it_does_not_own(
    provider_factory: Any, request: pytest.FixtureRequest, name: str
) -> None:
    _public_if(request, name)
    provider = provider_factory()
    image = _live(provider, name)
    with pytest.raises(ProviderError):
        provider.update(image, _spec_of(image, label="hijacked"))
    # As it was: the seed's label (a Resource Manager public image has none, Azure keeps no label).
    assert _live(provider, name).label == image.label
    assert image.label in (_seed_image(name)["label"], None if image.category is Category.PUBLIC else "")


# --------------------------------------------------------------------------------------------------
# Remove


def test_remove_deletes_an_owned_image(provider: Provider) -> None:
    provider.remove(_live(provider, "owned-web"))
    assert _image(provider.snapshot(), "owned-web") is None


@pytest.mark.parametrize("name", ["owned-protected", "unowned-tools", "other-owned", "Ubuntu-Public"])
def test_remove_refuses_protected_unowned_and_public_images(
    provider_factory: Any, request: pytest.FixtureRequest, name: str
) -> None:
    _public_if(request, name)
    provider = provider_factory()
    image = _live(provider, name)
    with pytest.raises(ProviderError) as e:
        provider.remove(image)
    assert not isinstance(e.value, NotFound)
    assert e.value.hint, "a refusal says what to do"
    assert _image(provider.snapshot(), name) is not None


def test_remove_of_a_protected_image_works_once_the_marker_is_cleared(provider: Provider) -> None:
    if "protect" not in provider.capabilities.mutable_fields:
        pytest.skip("this provider cannot change protection in place")
    image = _live(provider, "owned-protected")
    provider.update(image, _spec_of(image, protect=False))
    provider.remove(_live(provider, "owned-protected"))
    assert _image(provider.snapshot(), "owned-protected") is None


# --------------------------------------------------------------------------------------------------
# Adopt (import)


def test_adopt_marks_an_unowned_user_image_as_owned(provider: Provider) -> None:
    before = _live(provider, "unowned-tools")
    returned = provider.adopt(before)
    assert returned.owner == OWNER
    after = _live(provider, "unowned-tools")
    assert after.owner == OWNER
    assert dict(after.tags) == {"made-by": "hand"}, "the ownership marker is not a user tag"
    assert after.fingerprint != before.fingerprint
    # Owned now, so it can be changed.
    provider.update(after, _spec_of(after, label="Tools, adopted"))
    assert _live(provider, "unowned-tools").label == "Tools, adopted"


def test_adopt_refuses_a_public_image(provider: Provider, public_images: None) -> None:
    with pytest.raises(ProviderError):
        provider.adopt(_live(provider, "Ubuntu-Public"))
    assert _live(provider, "Ubuntu-Public").owner is None


def test_adopt_refuses_an_image_owned_by_another_catalog_and_names_it(provider: Provider) -> None:
    with pytest.raises(ProviderError) as e:
        provider.adopt(_live(provider, "other-owned"))
    assert "someone-else" in str(e.value)
    assert _live(provider, "other-owned").owner == "someone-else"


# --------------------------------------------------------------------------------------------------
# Lock


def test_lock_excludes_a_second_holder_and_names_the_first(provider: Provider) -> None:
    first = LockInfo.new("apply", who="alice", run_id="run-1")
    second = LockInfo.new("apply", who="bob")
    fake = FakeClock()
    handle = provider.acquire_lock(first, 0, clock=fake.clock, sleep=fake.sleep)
    assert handle.info.id == first.id

    with pytest.raises(LockError) as e:
        provider.acquire_lock(second, 30, clock=fake.clock, sleep=fake.sleep)
    message = str(e.value)
    assert "alice" in message and str(first.pid) in message and "run-1" in message
    # It waited (in fake time) the whole timeout before giving up, polling more than once.
    assert fake.now - 1000.0 >= 30
    assert len(fake.slept) > 1

    handle.release()
    again = provider.acquire_lock(second, 0, clock=fake.clock, sleep=fake.sleep)
    again.release()


def test_a_held_lock_checks_clean_and_stays_held(provider: Provider) -> None:
    handle = provider.acquire_lock(LockInfo.new("apply", who="alice"), 0)
    handle.check()  # every provider's handle has check(): apply calls it before each change
    handle.check()
    with pytest.raises(LockError):
        provider.acquire_lock(LockInfo.new("apply", who="bob"), 0)
    handle.release()
    provider.acquire_lock(LockInfo.new("apply", who="bob"), 0).release()


def test_a_lock_freed_while_waiting_is_taken(provider: Provider) -> None:
    first = LockInfo.new("apply", who="alice")
    handle = provider.acquire_lock(first, 0)
    fake = FakeClock()

    def sleep_then_release(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.slept) == 2:
            handle.release()

    second = provider.acquire_lock(LockInfo.new("apply", who="bob"), 60, clock=fake.clock, sleep=sleep_then_release)
    assert second.info.who == "bob"
    second.release()


def test_release_deletes_only_its_own_lock(provider: Provider) -> None:
    first = provider.acquire_lock(LockInfo.new("apply", who="alice"), 0)
    provider.force_unlock(first.info.id)
    second = provider.acquire_lock(LockInfo.new("apply", who="bob"), 0)
    # A stale handle may report that its lock was lost, but it must never free bob's lock.
    with contextlib.suppress(LockError):
        first.release()
    with pytest.raises(LockError):
        provider.acquire_lock(LockInfo.new("apply", who="carol"), 0)
    second.release()


def test_force_unlock_requires_the_exact_lock_id(provider: Provider) -> None:
    held = provider.acquire_lock(LockInfo.new("apply", who="alice"), 0)
    with pytest.raises(LockError) as e:
        provider.force_unlock("not-the-id")
    assert "alice" in str(e.value), "the refusal says who holds the lock"
    with pytest.raises(LockError):
        provider.acquire_lock(LockInfo.new("apply", who="bob"), 0)

    released = provider.force_unlock(held.info.id)
    assert released.id == held.info.id
    provider.acquire_lock(LockInfo.new("apply", who="bob"), 0).release()


def test_force_unlock_without_a_lock_fails(provider: Provider) -> None:
    with pytest.raises(LockError):
        provider.force_unlock("anything")


# --------------------------------------------------------------------------------------------------
# Missing images


def test_operations_on_a_missing_image_raise_not_found(provider: Provider) -> None:
    ghost = Image(name="ghost", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED, owner=OWNER)
    with pytest.raises(NotFound):
        provider.update(ghost, _spec_of(ghost, source=Source(vm="x")))
    with pytest.raises(NotFound):
        provider.adopt(ghost)
    # A remove of what is already gone may be a no-op (ARM DELETE is idempotent) or NotFound.
    try:
        provider.remove(ghost)
    except NotFound:
        pass
    assert _image(provider.snapshot(), "ghost") is None


# --------------------------------------------------------------------------------------------------
# One refusal, one code: every provider refuses through the same write-time guard (rules.py)


def _refusal_code(call: Any) -> str:
    with pytest.raises(RefusedError) as e:
        call()
    assert e.value.status == 409 and e.value.hint
    return e.value.code


def test_removing_a_public_image_is_refused_as_public(provider: Provider, public_images: None) -> None:
    image = _live(provider, "Ubuntu-Public")
    assert _refusal_code(lambda: provider.remove(image)) == "public"
    assert _image(provider.snapshot(), "Ubuntu-Public") is not None


def test_updating_an_unowned_image_is_refused_as_unowned(provider: Provider) -> None:
    image = _live(provider, "unowned-tools")
    assert _refusal_code(lambda: provider.update(image, _spec_of(image, label="hijacked"))) == "unowned"
    assert _live(provider, "unowned-tools").fingerprint == image.fingerprint


def test_removing_a_protected_image_is_refused_as_protected(provider: Provider) -> None:
    image = _live(provider, "owned-protected")
    assert _refusal_code(lambda: provider.remove(image)) == "protected"
    assert _image(provider.snapshot(), "owned-protected") is not None


def test_capturing_onto_a_foreign_name_is_refused_as_foreign(provider: Provider) -> None:
    _require_type(provider, ImageType.OS, OSState.GENERALIZED)
    before = _live(provider, "other-owned")
    spec = _spec("Other-Owned", ImageType.OS, OSState.GENERALIZED, "vm-gen-os")
    assert _refusal_code(lambda: provider.capture(spec)) == "foreign"
    assert _live(provider, "other-owned").fingerprint == before.fingerprint
    assert "vm-gen-os" in provider.snapshot().vm_index(), "a refused capture leaves the VM alone"


def test_a_retry_of_ones_own_capture_returns_the_existing_image(provider: Provider) -> None:
    caps = provider.capabilities
    if ImageType.VM in caps.specialized_types:
        spec = _spec("retried", ImageType.VM, OSState.SPECIALIZED, "vm-spec-data")
    else:
        _require_type(provider, ImageType.OS, OSState.GENERALIZED)
        spec = _spec("retried", ImageType.OS, OSState.GENERALIZED, "vm-gen-os")
    first = provider.capture(spec)
    live = _live(provider, "retried")
    # Even with the source VM consumed by now, the retry is recognised and returns that image.
    again = provider.capture(spec)
    assert (again.name, again.owner, again.fingerprint) == (first.name, OWNER, live.fingerprint)
    assert _live(provider, "retried").fingerprint == live.fingerprint, "the retry wrote nothing"
