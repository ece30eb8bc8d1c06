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
