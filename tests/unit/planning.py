"""Builders shared by the planner tests: desired states, snapshots, and a pure simulated apply."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.model import (
    VM,
    Action,
    Capabilities,
    CatalogConfig,
    Category,
    DesiredState,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Plan,
    Policy,
    PowerState,
    Snapshot,
    Source,
)

OWNER = "platform"

CAPS = Capabilities(
    provider="test",
    mutable_fields=frozenset({"family", "label", "description", "recommended_vm_size", "tags", "protect"}),
    specialized_types=frozenset({ImageType.VM}),
    generalize=True,
)


def spec(name: str, **kw: Any) -> ImageSpec:
    kw.setdefault("type", ImageType.VM)
    kw.setdefault("os", "linux")
    kw.setdefault("os_state", OSState.GENERALIZED)
    kw.setdefault("source", Source(vm=f"vm-{name}"))
    return ImageSpec(name=name, **kw)


def image(name: str, **kw: Any) -> Image:
    kw.setdefault("type", ImageType.VM)
    kw.setdefault("os", "linux")
    kw.setdefault("os_state", OSState.GENERALIZED)
    kw.setdefault("owner", OWNER)
    kw.setdefault("source", Source(vm=f"vm-{name}"))
    kw.setdefault("fingerprint", f"fp-{name}")
    return Image(name=name, **kw)


def image_of(s: ImageSpec, **kw: Any) -> Image:
    """The live image a successful capture of ``s`` yields."""
    base = dict(
        name=s.name,
        type=s.type,
        os=s.os,
        os_state=s.os_state,
        family=s.family,
        label=s.label,
        description=s.description,
        recommended_vm_size=s.recommended_vm_size,
        tags=dict(s.tags),
        owner=OWNER,
        protected=s.protect,
        source=Source(vm=s.source.vm, vhd=s.source.vhd),
        extra=dict(s.extra),
        fingerprint=f"fp-{s.name}",
    )
    base.update(kw)
    return Image(**base)


def vm(name: str, **kw: Any) -> VM:
    kw.setdefault("os", "linux")
    kw.setdefault("power_state", PowerState.DEALLOCATED)
    kw.setdefault("os_state", OSState.GENERALIZED)
    kw.setdefault("fingerprint", f"fp-vm-{name}")
    return VM(name=name, **kw)


def desired(*specs: ImageSpec, prune: bool = False, retention: dict[str, int] | None = None) -> DesiredState:
    return DesiredState(
        catalog=CatalogConfig(name=OWNER, provider="test"),
        policy=Policy(prune=prune, retention=retention or {}),
        images=tuple(specs),
        digest="d" * 64,
        path="images.yaml",
    )


def simulate(plan: Plan, snapshot: Snapshot) -> Snapshot:
    """Apply ``plan`` to ``snapshot`` the way a correct provider would, purely."""
    images = {i.key: i for i in snapshot.images}
    vms = {v.key: v for v in snapshot.vms}
    for c in plan.pending:
        if c.action in (Action.REMOVE, Action.REPLACE):
            images.pop(c.key)
        if c.action in (Action.CAPTURE, Action.REPLACE):
            assert c.after is not None
            images[c.key] = image_of(c.after, created="9999")
            if c.consumes_vm:
                vms.pop(c.consumes_vm.casefold(), None)
        if c.action is Action.UPDATE:
            assert c.after is not None and c.before is not None
            s = c.after
            images[c.key] = replace(
                c.before,
                family=s.family,
                label=s.label,
                description=s.description,
                recommended_vm_size=s.recommended_vm_size,
                tags=dict(s.tags),
                protected=s.protect,
                fingerprint=c.before.fingerprint + "'",
            )
    return Snapshot(tuple(images.values()), tuple(vms.values()))


__all__ = ["Category", "CAPS", "OWNER", "desired", "image", "image_of", "simulate", "spec", "vm"]


# --------------------------------------------------------------------------------------------------
# A generator of worlds that reach every action (issue 15): built role by role, so most examples are
# applyable and hold captures, updates, replaces, removes, protected images, several families under
# retention together with prune, and source VMs shared by specialized captures. A small share is
# broken on purpose (a missing or running VM) so the error paths are reached too; the properties count
# those instead of returning early.

from hypothesis import strategies as _st  # noqa: E402

ROLES = (
    "capture", "capture", "noop", "update", "update", "replace", "replace",
    "undeclared", "undeclared", "protected-undeclared", "protected-undeclared", "protected-update",
    "foreign", "unowned", "public",
    "shared-capture", "broken",
)
FAMILIES = ("web", "web", "db", None)


def _suited_vm(draw, name: str, s_state: OSState, os: str) -> tuple[VM, bool]:
    """A VM a capture of ``s_state`` can use; returns (vm, generalize-needed)."""
    if s_state is OSState.GENERALIZED and draw(_st.booleans()):
        # Not generalized yet: reconciler generalizes it (source.generalize), from any power state.
        power = draw(_st.sampled_from([PowerState.RUNNING, PowerState.STOPPED, PowerState.DEALLOCATED]))
        return vm(name, os=os, os_state=OSState.SPECIALIZED, power_state=power), True
    power = draw(_st.sampled_from([PowerState.STOPPED, PowerState.DEALLOCATED]))
    return vm(name, os=os, os_state=s_state, power_state=power), False


@_st.composite
def applyable_worlds(draw, max_images: int = 8, owner: str = OWNER, provider: str = "test"):
    """(desired, snapshot, roles): a world and the role each image name was given."""
    n = draw(_st.integers(1, max_images))
    declared: list[ImageSpec] = []
    live: list[Image] = []
    vms: dict[str, VM] = {}
    roles: dict[str, str] = {}
    # The prefix letter varies where a name sorts, so no property depends on sort order.
    for i in range(n):
        role = draw(_st.sampled_from(ROLES))
        name = f"{draw(_st.sampled_from('amz'))}{i}-{role}"
        roles[name] = role
        family = draw(_st.sampled_from(FAMILIES))
        created = f"2026-{draw(_st.integers(1, 12)):02d}-01T00:00:00Z"
        os = draw(_st.sampled_from(["linux", "windows"]))
        state = draw(_st.sampled_from(list(OSState)))
        itype = ImageType.OS if state is OSState.GENERALIZED and draw(_st.booleans()) else ImageType.VM
        common = dict(type=itype, os=os, os_state=state, family=family,
                      label=draw(_st.sampled_from([None, "x", "y"])), tags=draw(_st.sampled_from([{}, {"t": "1"}])))
        if role in ("capture", "replace", "broken"):
            vm_name = f"vm-{name}"
            machine, generalize = _suited_vm(draw, vm_name, state, os)
            s = spec(name, source=Source(vm=vm_name, generalize=generalize), protect=draw(_st.booleans()), **common)
            declared.append(s)
            if role == "broken":
                if draw(_st.booleans()):
                    pass  # the VM does not exist
                else:
                    vms[vm_name] = vm(vm_name, os=os, os_state=state, power_state=PowerState.RUNNING)
                    declared[-1] = replace(s, source=Source(vm=vm_name))
            else:
                vms[vm_name] = machine
            if role == "replace":
                # An immutable field differs: the image was captured from another VM, or is of another state.
                old = image_of(s, created=created, owner=owner, protected=False)
                if draw(_st.booleans()) or itype is ImageType.OS:
                    old = replace(old, source=Source(vm=f"old-{vm_name}"))
                else:
                    other = OSState.SPECIALIZED if state is OSState.GENERALIZED else OSState.GENERALIZED
                    old = replace(old, os_state=other)
                live.append(old)
        elif role == "shared-capture":
            # Specialized VM images captured from one shared VM: allowed, nothing consumes it.
            machine = vms.setdefault("vm-shared", vm("vm-shared", os="linux", os_state=OSState.SPECIALIZED,
                                                     power_state=PowerState.STOPPED))
            s = spec(name, **{**common, "type": ImageType.VM, "os": machine.os, "os_state": OSState.SPECIALIZED},
                     source=Source(vm="vm-shared"))
            declared.append(s)
        elif role in ("noop", "update", "protected-update"):
            s = spec(name, protect=draw(_st.booleans()), **common)
            declared.append(s)
            current = image_of(s, created=created, owner=owner)
            if role == "update":
                current = replace(current, label=draw(_st.sampled_from(["old", None])) if s.label else "old",
                                  tags={"t": "old"}, family=draw(_st.sampled_from(FAMILIES)))
            elif role == "protected-update":
                current = replace(current, protected=True, label="old")
                declared[-1] = replace(s, protect=draw(_st.booleans()))
            live.append(current)
        else:
            base = spec(name, **common)
            img = image_of(base, created=created, owner=owner)
            if role == "protected-undeclared":
                img = replace(img, protected=True)
            elif role == "foreign":
                img = replace(img, owner="other")
            elif role == "unowned":
                img = replace(img, owner=None)
            elif role == "public":
                img = replace(img, owner=None, category=Category.PUBLIC)
            live.append(img)
    retention = draw(_st.sampled_from([{}, {"web": 1}, {"web": 0, "db": 1}, {"db": 0, "web": 1}, {"db": 1}]))
    d = DesiredState(
        catalog=CatalogConfig(name=owner, provider=provider),
        policy=Policy(prune=draw(_st.sampled_from([True, True, False])), retention=retention),
        images=tuple(declared),
        digest="d" * 64,
        path="images.yaml",
    )
    return d, Snapshot(tuple(live), tuple(vms.values())), roles


def action_kinds(plan: Plan) -> set[str]:
    """The actions a plan holds, as words, plus the features worth counting in a distribution."""
    kinds = {c.action.word for c in plan.pending}
    if any(w.code == "protected" for w in plan.all_warnings):
        kinds.add("protected-kept")
    if any(c.reason.startswith("retention") for c in plan.pending):
        kinds.add("retention-remove")
    return kinds


def thinned(d: DesiredState, snap: Snapshot, caps: Capabilities, *, replace_names: tuple[str, ...] = (),
            fingerprints: bool = True) -> Snapshot:
    """``snap`` as a provider reads it with ``unchanged_test``: each image that passes kept as
    what the test keeps of it."""
    from reconciler.plan import unchanged_test

    test = unchanged_test(d, caps, replace=replace_names, fingerprints=fingerprints)
    declared = {s.key: s for s in d.images}
    kept, found = [], {}
    for image in snap.images:
        s = declared.get(image.key)
        fingerprint = test(s, image) if s is not None else None
        if fingerprint is None:
            kept.append(image)
        else:
            found[image.key] = fingerprint
    return replace(snap, images=tuple(kept), unchanged=found)
