"""Scenario tests that pin the planner's safety rules, one table row per rule.

Each test is named for the rule it pins and was written against a mutant of the planner that the
older suite let through (issue 15): retention scoped to its family, prune and retention together,
loops that must not stop at the first kept image, removes marked destructive, consumed source VMs,
provider fields that update in place or force a replace. No test depends on the order names happen
to sort in: where order could matter, the scenario runs with the names sorted both ways.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from planning import CAPS, desired, image, image_of, spec, vm

from reconciler.model import Action, Category, OSState, PowerState, Snapshot, Source
from reconciler.plan import make_plan


def removes(plan) -> dict[str, str]:
    """name -> reason of every remove in the plan."""
    return {c.name: c.reason for c in plan.changes if c.action is Action.REMOVE}


def aged(name: str, family: str, created: str, **kw) -> object:
    return image(name, family=family, created=created, **kw)


# --------------------------------------------------------------------------------------------------
# Retention is scoped to its family


def test_retention_removes_only_images_of_its_own_family():
    live = Snapshot(images=(
        aged("web-1", "web", "2026-01-01"),
        aged("web-2", "web", "2026-02-01"),
        aged("web-3", "web", "2026-03-01"),
        aged("db-1", "db", "2026-01-01"),
        aged("db-2", "db", "2026-02-01"),
    ))
    p = make_plan(desired(retention={"web": 1}), live, CAPS)
    assert removes(p) == {"web-1": "retention: keep 1", "web-2": "retention: keep 1"}


def test_two_families_under_retention_each_keep_their_own_count():
    live = Snapshot(images=tuple(
        [aged(f"web-{n}", "web", f"2026-0{n}-01") for n in range(1, 5)]
        + [aged(f"db-{n}", "db", f"2026-0{n}-01") for n in range(1, 5)]
    ))
    p = make_plan(desired(retention={"web": 1, "db": 2}), live, CAPS)
    assert removes(p) == {
        "web-1": "retention: keep 1", "web-2": "retention: keep 1", "web-3": "retention: keep 1",
        "db-1": "retention: keep 2", "db-2": "retention: keep 2",
    }


@pytest.mark.parametrize("empty_family", ["aaa-empty", "zzz-empty"])
def test_a_retention_family_without_live_images_does_not_switch_retention_off_for_the_others(empty_family):
    live = Snapshot(images=tuple(aged(f"web-{n}", "web", f"2026-0{n}-01") for n in range(1, 4)))
    for retention in ({empty_family: 1, "web": 1}, {"web": 1, empty_family: 1}):
        p = make_plan(desired(retention=retention), live, CAPS)
        assert removes(p) == {"web-1": "retention: keep 1", "web-2": "retention: keep 1"}, retention


def test_retention_never_removes_the_newest_image_of_the_family_even_when_it_is_undeclared():
    live = Snapshot(images=(aged("web-1", "web", "2026-01-01"), aged("web-2", "web", "2026-02-01")))
    p = make_plan(desired(retention={"web": 0}), live, CAPS)
    assert removes(p) == {"web-1": "retention: keep 0"}


def test_retention_ignores_images_of_other_owners_and_public_images():
    live = Snapshot(images=(
        aged("web-1", "web", "2026-01-01", owner="other"),
        aged("web-2", "web", "2026-02-01", owner=None),
        aged("web-3", "web", "2026-03-01", category=Category.PUBLIC, owner=None),
        aged("web-4", "web", "2026-04-01"),
        aged("web-5", "web", "2026-05-01"),
    ))
    p = make_plan(desired(retention={"web": 0}), live, CAPS)
    assert removes(p) == {"web-4": "retention: keep 0"}


# --------------------------------------------------------------------------------------------------
# Prune and retention together


def test_prune_with_retention_keeps_the_retained_images_and_prunes_the_other_families():
    live = Snapshot(images=(
        aged("web-1", "web", "2026-01-01"),
        aged("web-2", "web", "2026-02-01"),
        aged("web-3", "web", "2026-03-01"),
        aged("web-4", "web", "2026-04-01"),
        aged("old-1", "old", "2026-01-01"),
        aged("loose", "", "2026-01-01"),
    ))
    p = make_plan(desired(prune=True, retention={"web": 2}), live, CAPS)
    assert removes(p) == {
        "web-1": "retention: keep 2",
        "web-2": "retention: keep 2",
        "old-1": "no longer declared",
        "loose": "no longer declared",
    }


def test_prune_never_removes_the_newest_image_of_a_retention_family():
    live = Snapshot(images=(aged("web-1", "web", "2026-01-01"), aged("web-2", "web", "2026-02-01")))
    p = make_plan(desired(prune=True, retention={"web": 5}), live, CAPS)
    assert removes(p) == {}


# --------------------------------------------------------------------------------------------------
# The prune and retention loops go on past a kept image


@pytest.mark.parametrize("protected_name", ["a-kept", "m-kept", "z-kept"])
def test_a_protected_undeclared_image_is_kept_and_the_loop_goes_on(protected_name):
    live = Snapshot(images=(
        image("b-gone"),
        image("y-gone"),
        image(protected_name, protected=True),
        image("not-ours", owner="other"),
        image("public", category=Category.PUBLIC, owner=None),
    ))
    p = make_plan(desired(prune=True), live, CAPS)
    assert removes(p) == {"b-gone": "no longer declared", "y-gone": "no longer declared"}
    assert [w.code for w in p.warnings] == ["protected"]
    assert protected_name in p.warnings[0].summary


@pytest.mark.parametrize("declared_name", ["a-declared", "z-declared"])
def test_declared_and_retained_images_do_not_stop_the_prune_loop(declared_name):
    s = spec(declared_name)
    live = Snapshot(images=(image_of(s), image("b-gone"), image("y-gone")), vms=(vm(f"vm-{declared_name}"),))
    p = make_plan(desired(s, prune=True), live, CAPS)
    assert removes(p) == {"b-gone": "no longer declared", "y-gone": "no longer declared"}


@pytest.mark.parametrize("protected_name", ["web-0-protected", "web-9-protected"])
def test_a_protected_image_under_retention_is_kept_and_the_others_still_go(protected_name):
    live = Snapshot(images=(
        aged(protected_name, "web", "2026-01-01", protected=True),
        aged("web-a", "web", "2026-02-01"),
        aged("web-b", "web", "2026-03-01"),
        aged("web-c", "web", "2026-04-01"),
    ))
    p = make_plan(desired(retention={"web": 1}), live, CAPS)
    assert removes(p) == {"web-a": "retention: keep 1", "web-b": "retention: keep 1"}
    assert [w.code for w in p.warnings] == ["protected"]


def test_prune_off_and_no_retention_removes_nothing():
    live = Snapshot(images=(image("a"), image("b")))
    assert removes(make_plan(desired(), live, CAPS)) == {}


# --------------------------------------------------------------------------------------------------
# Destructive marking


def test_every_remove_is_destructive_and_lists_what_it_deletes():
    live = Snapshot(images=(
        image("gone", label="L"), aged("web-1", "web", "2026-01-01"), aged("web-2", "web", "2026-02-01"),
    ))
    p = make_plan(desired(prune=True, retention={"web": 0}), live, CAPS)
    rm = [c for c in p.changes if c.action is Action.REMOVE]
    assert {c.name for c in rm} == {"gone", "web-1"}
    assert all(c.destructive for c in rm)
    assert all(c.steps == ("remove image",) for c in rm)
    gone = next(c for c in rm if c.name == "gone")
    assert ("label", "L", None) in [(f.path, f.before, f.after) for f in gone.fields]


def test_an_update_is_not_destructive_and_a_replace_is():
    s = spec("a", label="new")
    p = make_plan(desired(s), Snapshot(images=(image_of(s, label="old"),)), CAPS)
    assert p.changes[0].action is Action.UPDATE and not p.changes[0].destructive
    s2 = spec("b", os="windows")
    p2 = make_plan(desired(s2), Snapshot(images=(image_of(s2, os="linux"),), vms=(vm("vm-b", os="windows"),)), CAPS)
    assert p2.changes[0].action is Action.REPLACE and p2.changes[0].destructive


# --------------------------------------------------------------------------------------------------
# Consumed source VMs


def test_a_replace_from_a_generalized_vm_consumes_it_and_blocks_a_second_capture_from_it():
    # The replace generalizes the (specialized, stopped) VM itself; the second capture would need it
    # specialized, which it no longer is once the replace has run.
    replaced = spec("a-replaced", source=Source(vm="shared", generalize=True))
    second = spec("b-second", os_state=OSState.SPECIALIZED, source=Source(vm="shared"))
    live = Snapshot(
        images=(image_of(replaced, source=Source(vm="older")),),
        vms=(vm("shared", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),),
    )
    p = make_plan(desired(replaced, second), live, CAPS)
    by_name = {c.name: c for c in p.changes}
    assert by_name["a-replaced"].action is Action.REPLACE
    assert by_name["a-replaced"].consumes_vm == "shared"
    assert by_name["a-replaced"].errors == ()
    assert [e.code for e in by_name["b-second"].errors] == ["vm-consumed"]


@pytest.mark.parametrize("consumer_first", [True, False])
def test_vm_consumed_error_lands_on_the_other_change_not_the_consumer(consumer_first):
    consumer = spec("gen", source=Source(vm="shared"))
    other = spec("spec", os_state=OSState.SPECIALIZED, source=Source(vm="shared"))
    order = (consumer, other) if consumer_first else (other, consumer)
    live = Snapshot(vms=(vm("shared", os_state=OSState.GENERALIZED),))
    p = make_plan(desired(*order), live, CAPS)
    by_name = {c.name: c for c in p.changes}
    assert by_name["gen"].consumes_vm == "shared"
    assert not any(e.code == "vm-consumed" for e in by_name["gen"].errors)
    assert any(e.code == "vm-consumed" for e in by_name["spec"].errors)


def test_a_vm_group_without_conflict_does_not_end_the_shared_source_check():
    # Two specialized captures share vm "calm" (no consumer: fine); two captures share "hot",
    # one of which consumes it. The calm group comes first in the file.
    calm1 = spec("calm-1", os_state=OSState.SPECIALIZED, source=Source(vm="calm"))
    calm2 = spec("calm-2", os_state=OSState.SPECIALIZED, source=Source(vm="calm"))
    hot1 = spec("hot-1", source=Source(vm="hot"))
    hot2 = spec("hot-2", os_state=OSState.SPECIALIZED, source=Source(vm="hot"))
    live = Snapshot(vms=(
        vm("calm", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),
        vm("hot", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),
    ))
    caps = replace(CAPS, generalize=True)
    hot1 = replace(hot1, source=Source(vm="hot", generalize=True))
    p = make_plan(desired(calm1, calm2, hot1, hot2), live, caps)
    codes = {c.name: [e.code for e in c.errors] for c in p.changes}
    assert codes["calm-1"] == [] and codes["calm-2"] == []
    assert codes["hot-1"] == []
    assert codes["hot-2"] == ["vm-consumed"]


def test_a_single_consuming_capture_has_no_shared_source_error():
    s = spec("only", source=Source(vm="v"))
    p = make_plan(desired(s), Snapshot(vms=(vm("v"),)), CAPS)
    assert p.changes[0].consumes_vm == "v" and p.changes[0].errors == ()


# --------------------------------------------------------------------------------------------------
# Provider fields (extra.*): update in place or replace, as the capabilities say


EXTRA_CAPS = replace(
    CAPS,
    mutable_fields=CAPS.mutable_fields | {"extra.end_of_life_date"},
    image_fields={"end_of_life_date": "updatable", "hyper_v_generation": "immutable"},
)


@pytest.mark.parametrize(
    ("field", "before", "after", "action"),
    [
        ("end_of_life_date", "2027-01-01", "2028-01-01", Action.UPDATE),
        ("end_of_life_date", None, "2028-01-01", Action.UPDATE),
        ("hyper_v_generation", "V1", "V2", Action.REPLACE),
        ("hyper_v_generation", None, "V2", Action.REPLACE),
    ],
)
def test_provider_fields_update_in_place_only_when_the_provider_says_they_are_mutable(field, before, after, action):
    s = spec("a", extra={field: after})
    live_extra = {field: before} if before is not None else {}
    p = make_plan(desired(s), Snapshot(images=(image_of(s, extra=live_extra),), vms=(vm("vm-a"),)), EXTRA_CAPS)
    c = p.changes[0]
    assert c.action is action
    (f,) = [f for f in c.fields if f.path == f"extra.{field}"]
    assert (f.before, f.after) == (before, after)
    assert f.forces_replace is (action is Action.REPLACE)


def test_provider_fields_equal_on_both_sides_are_no_change():
    s = spec("a", extra={"end_of_life_date": "2027-01-01", "hyper_v_generation": "V2"})
    p = make_plan(desired(s), Snapshot(images=(image_of(s),)), EXTRA_CAPS)
    assert p.changes[0].action is Action.NOOP


# --------------------------------------------------------------------------------------------------
# Retention judges the family as it will be once the plan is applied (found by the generator of
# test_plan_properties.py: the old planner spared "the newest" image, which the next plan removed)


@pytest.mark.parametrize("how", ["capture", "replace", "update-into-family"])
def test_retention_counts_what_this_plan_makes_newest(how):
    old = aged("web-old", "web", "2026-01-01")
    if how == "capture":
        s = spec("web-new", family="web")
        live = Snapshot(images=(old,), vms=(vm("vm-web-new"),))
    elif how == "replace":
        s = spec("web-new", family="web")
        live = Snapshot(images=(old, image_of(s, source=Source(vm="elsewhere"), created="2025-01-01")),
                        vms=(vm("vm-web-new"),))
    else:  # an image moved into the family by an update, newer than web-old
        s = spec("web-new", family="web")
        live = Snapshot(images=(old, image_of(s, family="db", created="2026-06-01")))
    p = make_plan(desired(s, retention={"web": 0}), live, CAPS)
    assert removes(p) == {"web-old": "retention: keep 0"}


def test_retention_still_spares_the_newest_when_the_plan_adds_nothing_to_the_family():
    live = Snapshot(images=(aged("web-old", "web", "2026-01-01"),), vms=(vm("vm-db-new"),))
    p = make_plan(desired(spec("db-new", family="db"), retention={"web": 0}), live, CAPS)
    assert removes(p) == {}
