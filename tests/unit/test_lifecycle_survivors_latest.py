"""Mutation survivors of the declared-latest and lifecycle planning (``make mutation``): versions that
tie on their number, family-less images next to a family named like a placeholder, the order in
which families and flags are walked, rings on a provider that replaces on a region change, and a
rollout planned again once applied."""

from __future__ import annotations

from dataclasses import replace

import pytest
from planning import desired, image, spec
from test_lifecycle import CAPS, NOW, RCAPS, REGIONS, VERSIONS, _flags, _latest_state, _ring_world, _rings_state

from reconciler.lifecycle import latest_marks
from reconciler.model import Action, FamilySpec, LifecyclePolicy, Policy, Ring, Snapshot
from reconciler.plan import make_plan


def _names(plan, action):
    return sorted(c.name for c in plan.changes if c.action is action)


def test_versions_tied_on_their_number_order_by_creation_then_by_casefolded_name():
    # a-1.0.0 is newer, B-1.0.0 sorts after it casefolded: latest 1.0.0 names B (the higher name),
    # and a-1.0.0, created later, orders above it and is excluded; today latest resolves to a-1.0.0.
    live = Snapshot(images=(image("a-1.0.0", family="f", created="2026-02-01"),
                            image("B-1.0.0", family="f", created="2026-01-01")))
    plan = make_plan(_latest_state("1.0.0"), live, CAPS)
    (c,) = plan.pending
    assert (c.name, c.reason) == ("a-1.0.0", "latest(f): 1.0.0")
    assert [(f.path, f.after) for f in c.fields] == [("extra.exclude_from_latest", True)]
    assert [(m.before, m.after) for m in plan.latest] == [("1.0.0", "1.0.0")]
    assert latest_marks(live.images) == {"a-1.0.0": "latest"}
    regional = [replace(i, extra={"target_regions": ["westeurope"]}) for i in live.images]
    assert latest_marks(regional) == {"a-1.0.0": "latest"}


def test_latest_marks_per_region_name_regions_without_spaces():
    new = image("f-1.1.0", family="f", created="2026-02-01",
                extra={"target_regions": ["westeurope", {"name": "North Europe", "exclude_from_latest": True}]})
    old = image("f-1.0.0", family="f", created="2026-01-01",
                extra={"target_regions": ["westeurope", {"name": "North Europe"}]})
    assert latest_marks([old, new]) == {"f-1.1.0": "latest in westeurope", "f-1.0.0": "latest in northeurope"}


def test_a_family_without_latest_does_not_stop_the_next_one():
    d = replace(desired(), families={"e": FamilySpec(name="e"), "f": FamilySpec(name="f", latest="1.3.2")})
    assert [c.name for c in make_plan(d, VERSIONS, CAPS).pending] == ["f-1.4.0"]


def test_a_flagged_declared_version_does_not_stop_the_higher_ones():
    s = spec("f-1.3.2", family="f", source=VERSIONS.images[0].source)
    plan = make_plan(_latest_state("1.3.2", s), VERSIONS, CAPS)
    assert _names(plan, Action.UPDATE) == ["f-1.3.2", "f-1.4.0"]


def test_a_deprecated_version_does_not_stop_the_higher_ones():
    live = Snapshot(images=(image("f-1.0.0", family="f", created="2020-01-01"),
                            image("f-2.0.0", family="f", created="2020-01-02"),
                            image("f-3.0.0", family="f", created="2026-11-30")))
    d = replace(desired(), families={"f": FamilySpec(name="f", latest="1.0.0")},
                policy=Policy(lifecycle={"f": LifecyclePolicy(deprecate_after="30d")}))
    plan = make_plan(d, live, CAPS, now=NOW)
    got = {c.name: c.reason for c in plan.pending}
    assert got == {"f-2.0.0": "lifecycle: older than 30d, not among the newest 0", "f-3.0.0": "latest(f): 1.0.0"}


def test_a_family_less_capture_is_no_version_of_a_family_named_xxxx():
    live = Snapshot(images=(image("xxxx-1.0.0", family="xxxx", created="2026-01-01"),
                            image("xxxx-2.0.0", family="xxxx", created="2025-01-01")))
    d = replace(desired(spec("zz-9.0.0"), spec("g-9.0.0", family="g")),
                families={"xxxx": FamilySpec(name="xxxx", latest="2.0.0")},
                policy=Policy(lifecycle={"xxxx": LifecyclePolicy(keep=0)}))
    plan = make_plan(d, live, CAPS)
    assert {c.name: c.after.extra for c in plan.changes if c.action is Action.CAPTURE} == {"zz-9.0.0": {},
                                                                                        "g-9.0.0": {}}
    assert _names(plan, Action.REMOVE) == []  # 2.0.0 is latest, 1.0.0 the newest


@pytest.mark.parametrize("other", [spec("g-9.0.0", family="g"), spec("zz-8.0.0")])
def test_a_family_less_image_is_no_member_of_a_family_named_xxxx(other):
    live = Snapshot(images=(image("xxxx-1.0.0", family="xxxx", created="2026-01-01"),
                            image("xxxx-2.0.0", family="xxxx", created="2025-01-01"),
                            image("zz-9.0.0", created="2026-02-01")))
    d = replace(desired(spec("zz-9.0.0", source=live.images[2].source), other),
                policy=Policy(lifecycle={"xxxx": LifecyclePolicy(keep=0)}))
    assert _names(make_plan(d, live, CAPS), Action.REMOVE) == []


def test_retention_keeps_the_newest_and_an_aging_lifecycle_does_not_stop_it():
    live = Snapshot(images=(image("f-2.0.0", family="f", created="2026-01-01", extra={"exclude_from_latest": True}),
                            image("f-1.0.0", family="f", created="2026-03-01", extra={"exclude_from_latest": True}),
                            image("f-0.5.0", family="f", created="2026-02-01", extra={"exclude_from_latest": True})))
    d = replace(desired(), policy=Policy(lifecycle={"a": LifecyclePolicy(deprecate_after="1d"),
                                                    "f": LifecyclePolicy(keep=0)}))
    plan = make_plan(d, live, CAPS, now=NOW)
    assert _names(plan, Action.REMOVE) == ["f-0.5.0", "f-2.0.0"]  # f-1.0.0 is the newest


def test_a_lifecycle_counts_only_owned_images_among_the_newest():
    live = Snapshot(images=(image("f-1.0.0", family="f", created="2020-01-01"),
                            image("f-1.1.0", family="f", created="2020-01-02"),
                            image("f-0.5.0", family="f", created="2020-03-01", owner="other")))
    d = replace(desired(), policy=Policy(lifecycle={"f": LifecyclePolicy(keep=2, deprecate_after="1d")}))
    plan = make_plan(d, live, CAPS, now=NOW)
    # The two owned ones are the newest 2: the foreign one neither counts nor is deprecated.
    assert (plan.errors, plan.changes) == ((), ())


def test_regions_without_a_rollout_move_latest_at_once():
    world = _ring_world()
    excluded = Snapshot(images=(world.images[0], replace(world.images[1], extra={
        **world.images[1].extra, "exclude_from_latest": True})))
    flat = replace(_rings_state(), families={"f": FamilySpec(name="f", latest="1.1.0")})
    plan = make_plan(flat, excluded, RCAPS, now=NOW)
    (c,) = plan.pending
    assert [(f.path, f.after) for f in c.fields] == [("extra.exclude_from_latest", False)]
    assert [(m.before, m.after, m.regions) for m in plan.latest] == [("1.0.0", "1.1.0", ())]


def test_a_rolling_family_does_not_stop_the_next_one():
    d = replace(_rings_state(), families={"f": _rings_state().families["f"], "g": FamilySpec(name="g", latest="1.0.0")})
    world = Snapshot(images=_ring_world().images + (image("g-1.0.0", family="g", created="2026-01-01"),
                                                   image("g-2.0.0", family="g", created="2026-02-01")))
    plan = make_plan(d, world, RCAPS, now=NOW)
    assert sorted(c.name for c in plan.pending) == ["f-1.1.0", "g-2.0.0"]
    assert ("g", "2.0.0", "1.0.0") in [(m.family, m.before, m.after) for m in plan.latest]


def test_a_flag_or_ring_that_forces_a_replace_is_planned_with_its_capture_checks():
    fixed = replace(CAPS, mutable_fields=CAPS.mutable_fields - {"extra.exclude_from_latest"})
    s = spec("f-1.4.0", family="f", source=VERSIONS.images[1].source)
    c = {c.name: c for c in make_plan(_latest_state("1.3.2", s), VERSIONS, fixed).changes}["f-1.4.0"]
    assert c.action is Action.REPLACE and c.after.extra == {"exclude_from_latest": True}
    rfixed = replace(RCAPS, mutable_fields=RCAPS.mutable_fields - {"extra.target_regions"})
    # An undeclared version is only ever updated: the replace its rings would need is not planned.
    assert make_plan(_rings_state(), _ring_world(), rfixed, now=NOW).changes == ()


def test_a_declared_version_rolls_out_in_its_own_update():
    world = _ring_world()
    s = spec("f-1.1.0", family="f", source=world.images[1].source, extra={"target_regions": REGIONS})
    (c,) = make_plan(_rings_state(s), world, RCAPS, now=NOW).pending
    assert (c.action, c.reason) == (Action.UPDATE, "latest(f): ring 1 of 2")
    assert _flags(c)["westeurope"] is False and _flags(c)["eastus"] is True


def test_a_rollout_planned_again_once_applied_is_empty():
    world = _ring_world()
    (c,) = make_plan(_rings_state(), world, RCAPS, now=NOW).pending
    applied = Snapshot(images=(world.images[0], replace(world.images[1], extra=c.after.extra, tags=c.after.tags)))
    again = make_plan(_rings_state(), applied, RCAPS, now=NOW)
    assert again.changes == ()


def test_unnumbered_versions_roll_forward_by_name_and_back_at_once():
    old = image("web-a", family="f", created="2026-01-01", extra={"target_regions": ["westeurope", "eastus"]})
    new = image("web-b", family="f", created="2026-02-01", extra={"target_regions": ["westeurope", "eastus"]})
    rollout = (Ring(("westeurope",)), Ring(("eastus",), after="24h"))
    fwd = make_plan(_rings_state(latest="web-b", rollout=rollout), Snapshot(images=(old, new)), RCAPS, now=NOW)
    assert [(m.before, m.after, m.regions) for m in fwd.latest][0] == ("web-a", "web-b", ("westeurope",))
    back = make_plan(_rings_state(latest="web-a", rollout=rollout), Snapshot(images=(old, new)), RCAPS, now=NOW)
    assert [(m.before, m.after, m.regions) for m in back.latest] == [("web-b", "web-a", ())]


def test_a_region_without_a_name_is_the_empty_region_in_the_last_ring():
    regions = ["westeurope", {"region": "eastus"}]
    old = image("f-1.0.0", family="f", created="2026-01-01", extra={"target_regions": regions})
    new = image("f-1.1.0", family="f", created="2026-02-01", extra={"target_regions": regions})
    plan = make_plan(_rings_state(), Snapshot(images=(old, new)), RCAPS, now=NOW)
    assert [m.regions for m in plan.latest] == [("westeurope",), ("northeurope", "eastus", "")]
