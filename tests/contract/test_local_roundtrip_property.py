"""Design §8's first invariant against the real embedded catalog, not a simulation:
for random catalogs and desired states, plan -> apply (SQLite, real provider) -> plan is empty,
and nothing unowned, public or protected was touched."""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.apply import apply_plan
from reconciler.model import (
    VM,
    CatalogConfig,
    Category,
    DesiredState,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Outcome,
    Policy,
    PowerState,
    Snapshot,
    Source,
)
from reconciler.plan import make_plan
from reconciler.providers.local import LocalProvider, capabilities, init_catalog

OWNER = "platform"
NAMES = ["a", "b", "c", "d", "e"]
VMS = ["vm-a", "vm-b", "vm-c", "vm-d", "vm-e", "vm-shared"]
_counter = itertools.count()


@st.composite
def specs(draw):
    name = draw(st.sampled_from(NAMES))
    os_state = draw(st.sampled_from(list(OSState)))
    kind = ImageType.VM if os_state is OSState.SPECIALIZED or draw(st.booleans()) else ImageType.OS
    return ImageSpec(
        name=name,
        type=kind,
        os="linux",
        os_state=os_state,
        source=Source(vm=f"vm-{name}" if draw(st.integers(0, 4)) else "vm-shared"),
        family=draw(st.sampled_from([None, "fam"])),
        label=draw(st.sampled_from([None, "x", "y"])),
        tags=draw(st.sampled_from([{}, {"t": "1"}, {"t": "2"}])),
        protect=draw(st.booleans()),
    )


@st.composite
def worlds(draw):
    declared = {}
    for s in draw(st.lists(specs(), max_size=4)):
        declared.setdefault(s.key, s)
    images = {}
    for s in draw(st.lists(specs(), max_size=4)):
        category = draw(st.sampled_from([Category.USER, Category.USER, Category.PUBLIC]))
        owner = None if category is Category.PUBLIC else draw(st.sampled_from([OWNER, OWNER, None, "other"]))
        images.setdefault(
            s.key,
            Image(
                name=s.name,
                type=s.type,
                os=s.os,
                os_state=s.os_state,
                category=category,
                family=s.family,
                label=draw(st.sampled_from([None, "x", "z"])),
                tags=s.tags,
                owner=owner,
                protected=category is Category.USER and draw(st.booleans()),
                source=s.source,
                created=draw(st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"])),
            ),
        )
    # Mostly VMs that suit the captures declared from them, so most plans are applyable; the rest
    # random (missing, running, wrong OS state) for the error paths.
    wants = {s.source.vm: s.os_state for s in declared.values()}
    vms = []
    for v in VMS:
        if not draw(st.integers(0, 9)):
            continue  # missing
        suited = v in wants and draw(st.integers(0, 9)) > 1
        vms.append(
            VM(
                name=v,
                os="linux",
                power_state=PowerState.STOPPED if suited else draw(st.sampled_from(list(PowerState)[:3])),
                os_state=wants[v] if suited else draw(st.sampled_from(list(OSState))),
                data_disks=("d0",),
            )
        )
    desired = DesiredState(
        catalog=CatalogConfig(OWNER, "local"),
        policy=Policy(prune=draw(st.booleans()), retention=draw(st.sampled_from([{}, {"fam": 1}]))),
        images=tuple(declared.values()),
        digest="0" * 64,
    )
    return desired, Snapshot(tuple(images.values()), tuple(vms))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_plan_apply_plan_is_empty_on_the_real_catalog(world):
    desired, seed = world
    caps = capabilities({})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"c{next(_counter)}.db"
        init_catalog(path, seed)
        provider = LocalProvider(str(path), OWNER, capabilities=caps)
        try:
            before = provider.snapshot()
            plan = make_plan(desired, before, caps)
            event(f"errored={plan.errored} changes={bool(plan.pending)}")
            if plan.errored:
                return
            result = apply_plan(plan, provider, parallelism=3)
            assert result.ok, [r for r in result.results if r.outcome is not Outcome.DONE]
            after = provider.snapshot()
            again = make_plan(desired, after, caps)
            assert not again.errored, again.all_errors
            assert again.pending == (), [(c.name, c.action, c.reason) for c in again.pending]
            # Never touched: unowned, public, protected-and-undeclared images keep their fingerprint.
            now = after.image_index()
            declared = {s.key for s in desired.images}
            for img in before.images:
                untouchable = img.owner != OWNER or img.category is Category.PUBLIC
                if untouchable or (img.protected and img.key not in declared):
                    assert img.key in now and replace(now[img.key]) == img
        finally:
            provider.close()
