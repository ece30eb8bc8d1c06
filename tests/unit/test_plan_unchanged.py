"""Up-to-date images kept as their fingerprints (issue 13): the same plan, listed by spec.

A provider may run the planner's ``unchanged_test`` on each live image of a declared name as it
reads the catalog and keep one that passes as its fingerprint alone (``Snapshot.unchanged``); the
planner then lists its spec in ``Plan.unchanged`` instead of building a ``Change`` for it. A
hypothesis property plans worlds of every role (``planning.applyable_worlds``) with up-to-date
images added, a lifecycle that ages images, a declared ``latest``, ``--target`` and ``--replace``,
once from the full snapshot and once from the snapshot the test thinned, and checks they are the
same plan: the same changes (an unchanged no-op without its live image), errors, warnings,
fingerprints and latest moves, the same document, saved plan, text (verbose too) and markdown.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planning import CAPS, OWNER, applyable_worlds, desired, image, image_of, spec, thinned

from reconciler import plan as planner
from reconciler.model import (
    Action,
    Change,
    DesiredState,
    FamilySpec,
    LifecyclePolicy,
    Plan,
    Snapshot,
    unchanged_change,
)
from reconciler.plandoc import compact, plan_document, plan_from_document
from reconciler.planfile import plan_differences
from reconciler.render import render_plan_markdown, render_plan_text

PROFILE = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

#: A provider with the fields a lifecycle and a declared latest set (as local).
FLAG_CAPS = replace(CAPS, image_fields={"exclude_from_latest": "flag", "end_of_life_date": "date"},
                    mutable_fields=CAPS.mutable_fields | {"extra.exclude_from_latest", "extra.end_of_life_date"})


@st.composite
def _worlds(draw: st.DrawFn) -> dict[str, Any]:
    d, snap, _roles = draw(applyable_worlds())
    extra_specs, extra_images = [], []
    for i in range(draw(st.integers(0, 5))):  # up-to-date images, the most of a real catalog
        s = spec(f"{draw(st.sampled_from('bnx'))}{i}-same", family=draw(st.sampled_from(["web", "db", "app", None])),
                 label=draw(st.sampled_from([None, "x"])), tags=draw(st.sampled_from([{}, {"t": "1"}])))
        extra_specs.append(s)
        extra_images.append(image_of(s, created=f"2026-0{i + 1}-01T00:00:00Z", owner=OWNER,
                                     fingerprint=f"etag-{i}", failed=draw(st.sampled_from([None, None, "failed"]))))
    policy = d.policy
    if draw(st.booleans()):  # a lifecycle that ages the family's images
        policy = replace(policy, lifecycle={draw(st.sampled_from(["web", "app"])): LifecyclePolicy(
            keep=draw(st.integers(0, 1)), deprecate_after="30d", delete_after=draw(st.sampled_from([None, "30d"])))})
    families = {}
    if draw(st.booleans()):  # a declared latest
        latest = draw(st.sampled_from([s.name for s in extra_specs] or ["none"]))
        family = draw(st.sampled_from(["web", "db", "app"]))
        families = {family: FamilySpec(name=family, latest=latest)}
    d = replace(d, images=d.images + tuple(extra_specs), policy=policy, families=families)
    snap = replace(snap, images=snap.images + tuple(extra_images))
    names = [s.name for s in d.images] + [i.name for i in snap.images]
    return {
        "desired": d, "snapshot": snap, "caps": draw(st.sampled_from([CAPS, FLAG_CAPS])),
        "replace": tuple(draw(st.lists(st.sampled_from([s.name for s in d.images]), max_size=1))
                         if d.images else ()),
        "targets": tuple(draw(st.lists(st.sampled_from(names), max_size=3, unique=True)) if draw(st.booleans())
                         else ()),
        "fingerprints": draw(st.booleans()),
    }


def _plans(world: dict[str, Any]) -> tuple[Plan, Plan, Snapshot]:
    d, snap, caps = world["desired"], world["snapshot"], world["caps"]
    kw = dict(replace=world["replace"], targets=world["targets"], now=NOW, fingerprints=world["fingerprints"])
    thin = thinned(d, snap, caps, replace_names=world["replace"], fingerprints=world["fingerprints"])
    return planner.make_plan(d, snap, caps, **kw), planner.make_plan(d, thin, caps, **kw), thin


def test_property_a_thinned_snapshot_plans_the_full_snapshots_plan() -> None:
    seen = {"thinned": 0, "kept-in-scanned-family": 0, "targeted": 0}

    @PROFILE
    @given(_worlds())
    def check(world: dict[str, Any]) -> None:
        full, thin, snap = _plans(world)
        found = snap.unchanged
        # The same changes, each unchanged no-op without the live image it matched.
        expected = tuple(replace(c, before=None) if c.key in found else c for c in full.changes)
        assert thin.all_changes() == expected
        assert [s.key for s in thin.unchanged] == [k for k in (s.key for s in world["desired"].images)
                                                  if k in found and any(c.key == k for c in full.changes)]
        assert all(c.action is Action.NOOP and c.reason == "up to date" and not c.errors and not c.warnings
                   for c in expected if c.key in found)
        assert replace(thin, changes=expected, unchanged=()) == replace(full, changes=expected)
        # Every view of it is the same. A plan that records no fingerprints is only shown, never
        # written as a document (``plan --out`` and ``--format json`` record them).
        if world["fingerprints"]:
            assert plan_document(thin) == plan_document(full)
            assert compact(thin) == compact(full)
            assert plan_from_document(plan_document(thin)) == plan_from_document(plan_document(full))
        for verbose in (False, True):
            assert render_plan_text(thin, verbose=verbose) == render_plan_text(full, verbose=verbose)
        assert render_plan_markdown(thin) == render_plan_markdown(full)
        assert thin.noop_count == len(full.noops()) and thin.noops() == [
            replace(c, before=None) if c.key in found else c for c in full.noops()]
        # A saved plan of either is the plan of the other.
        if not full.errored and world["fingerprints"]:
            assert plan_differences(compact(full), thin) == []
            assert plan_differences(thin, full) == [] and plan_differences(full, thin) == []
        seen["thinned"] += len(thin.unchanged)
        scanned = {f.casefold() for f in world["desired"].policy.lifecycles()} | set(world["desired"].families)
        seen["kept-in-scanned-family"] += sum(
            1 for c in full.changes if c.reason == "up to date" and c.key not in found and (c.family or "") in scanned)
        seen["targeted"] += len(thin.unchanged) if world["targets"] else 0

    check()
    # Each way occurs: images thinned (also under --target), and up-to-date images a family's
    # lifecycle or latest scans kept whole.
    assert seen["thinned"] > 200 and seen["kept-in-scanned-family"] > 50 and seen["targeted"] > 10, seen


def test_only_an_up_to_date_image_that_nothing_else_reads_passes() -> None:
    s = spec("web-01", family="web", label="Web")
    live = image_of(s, owner=OWNER, fingerprint="etag-1")
    d = desired(s)
    test = planner.unchanged_test(d, CAPS)
    assert test(s, live) == "etag-1"
    assert planner.unchanged_test(d, CAPS, fingerprints=False)(s, live) == ""
    assert test(s, replace(live, label="other")) is None  # differs
    assert test(s, replace(live, owner="other")) is None  # not ours
    assert test(s, replace(live, owner=None)) is None  # unowned
    assert test(s, replace(live, failed="provisioning failed")) is None  # replaced
    assert planner.unchanged_test(d, CAPS, replace=["WEB-01"])(s, live) is None  # --replace
    aged = replace(d, policy=replace(d.policy, retention={"Web": 1}))
    assert planner.unchanged_test(aged, CAPS)(s, live) is None  # its family's members are scanned
    latest = replace(d, families={"web": FamilySpec(name="web", latest="web-01")})
    assert planner.unchanged_test(latest, CAPS)(s, live) is None
    compared = replace(CAPS, compare_extra=lambda spec, image: None)  # the provider's own comparison
    assert planner.unchanged_test(d, compared)(s, live) is None  # type: ignore[arg-type]


def test_an_unchanged_entry_is_the_no_op_it_stands_for_without_its_live_image() -> None:
    s = spec("Web-01", family="web")
    d = desired(s)
    (noop,) = planner.make_plan(d, Snapshot((image_of(s, owner=OWNER),)), CAPS).changes
    assert noop.before is not None and unchanged_change(s) == replace(noop, before=None)


# --------------------------------------------------------------------------------------------------
# One world, every consumer of ``Plan.unchanged`` (deterministic: the mutation selection runs these)

WEB = spec("web-01", family="web")
DB = spec("db-01")
APP = spec("app-01", label="new")
KEPT = spec("m-01", family="keep")  # up to date, but its family's retention scans its members


def _world() -> tuple[DesiredState, Snapshot]:
    d = desired(WEB, DB, APP, KEPT, prune=True, retention={"keep": 1})
    live = (image_of(APP, label="old"), image_of(DB), image("gone"), image_of(KEPT), image_of(WEB))
    return d, Snapshot(live)


def test_a_thinned_snapshot_plans_its_unchanged_images_by_spec_in_file_order() -> None:
    d, snap = _world()
    thin = thinned(d, snap, CAPS)
    assert thin.unchanged == {"db-01": "fp-db-01", "web-01": "fp-web-01"}
    assert [i.name for i in thin.images] == ["app-01", "gone", "m-01"]
    p = planner.make_plan(d, thin, CAPS)
    assert p.unchanged == (WEB, DB)  # the file's order
    assert [(c.name, c.action) for c in p.changes] == [("app-01", Action.UPDATE), ("gone", Action.REMOVE),
                                                       ("m-01", Action.NOOP)]
    assert [c.name for c in p.all_changes()] == ["app-01", "db-01", "gone", "m-01", "web-01"]
    assert [c.name for c in p.noops()] == ["db-01", "m-01", "web-01"] and p.noop_count == 3
    assert p.fingerprints == {"image:app-01": "fp-app-01", "image:db-01": "fp-db-01", "image:gone": "fp-gone",
                              "image:m-01": "fp-m-01", "image:web-01": "fp-web-01"} == {
        **planner.make_plan(d, snap, CAPS).fingerprints}
    assert planner.make_plan(d, thin, CAPS, fingerprints=False).fingerprints == {}
    assert thin.fingerprints() == snap.fingerprints()


def test_a_target_may_name_an_unchanged_image_and_keeps_only_the_targeted_ones() -> None:
    d, snap = _world()
    thin = thinned(d, snap, CAPS)
    p = planner.make_plan(d, thin, CAPS, targets=["WEB-01", "app-01"])
    assert p.unchanged == (WEB,) and [c.name for c in p.changes] == ["app-01"] and p.errors == ()
    only = planner.make_plan(d, thin, CAPS, targets=["db-01"])
    assert only.unchanged == (DB,) and only.changes == () and only.errors == ()
    assert [e.code for e in planner.make_plan(d, thin, CAPS, targets=["nothing"]).errors] == ["target"]


def test_the_document_and_the_saved_plan_list_unchanged_specs_among_the_no_ops_by_name() -> None:
    d, snap = _world()
    full, thin = planner.make_plan(d, snap, CAPS), planner.make_plan(d, thinned(d, snap, CAPS), CAPS)
    doc = plan_document(thin)
    # By name: db-01 (no family), m-01 (a listed no-op), web-01; each family once, where it comes first.
    assert doc["unchanged"] == {"": {"db-01": "fp-db-01"}, "keep": {"m-01": "fp-m-01"}, "web": {"web-01": "fp-web-01"}}
    assert list(doc["unchanged"]) == ["", "keep", "web"]
    assert doc["summary"]["no_op"] == 3 and [c["name"] for c in doc["resource_changes"]] == ["app-01", "gone"]
    assert not any(k in doc["fingerprints"] for k in ("image:db-01", "image:m-01", "image:web-01"))
    assert doc == plan_document(full)
    compacted = compact(thin)
    assert compacted.unchanged == () and compacted == compact(full)
    assert [(c.name, c.known_family, c.before, c.after) for c in compacted.changes[2:]] == [
        ("db-01", None, None, None), ("m-01", "keep", None, None), ("web-01", "web", None, None)]


def test_a_saved_plan_is_compared_with_a_thinned_fresh_plan_image_by_image() -> None:
    d, snap = _world()
    full, thin = planner.make_plan(d, snap, CAPS), planner.make_plan(d, thinned(d, snap, CAPS), CAPS)
    saved = compact(full)
    assert plan_differences(saved, thin) == [] and plan_differences(thin, saved) == []
    moved = replace(thin, unchanged=(replace(WEB, family="db"), DB))
    assert plan_differences(saved, moved) == ["the saved plan lists web-01 in family web, a fresh plan in db"]
    fewer = replace(thin, unchanged=(DB,))
    assert plan_differences(saved, fewer) == ["the saved plan lists web-01, a fresh plan does not list it"]
    assert plan_differences(fewer, saved) == ["a fresh plan also lists web-01 (unchanged)"]
    twice = replace(thin, unchanged=(WEB, DB, WEB))
    assert plan_differences(twice, saved) == ["the saved plan lists web-01 twice"]


def test_the_text_and_markdown_count_unchanged_specs_and_verbose_shows_them() -> None:
    d, snap = _world()
    full, thin = planner.make_plan(d, snap, CAPS), planner.make_plan(d, thinned(d, snap, CAPS), CAPS)
    text = render_plan_text(thin)
    assert "3 unchanged." in text and text == render_plan_text(full)
    verbose = render_plan_text(thin, verbose=True)
    assert "unchanged." not in verbose and all(f"  {n}" in verbose for n in ("db-01", "m-01", "web-01"))
    assert verbose == render_plan_text(full, verbose=True)
    markdown = render_plan_markdown(thin)
    assert markdown == render_plan_markdown(full)
    assert "| web | 0 | 0 | 0 | 0 | 1 |" in markdown and "| _(none)_ | 0 | 1 | 0 | 1 | 1 |" in markdown


def test_only_the_replaced_name_is_kept_whole() -> None:
    s = spec("web-01")
    live = image_of(s, owner=OWNER, fingerprint="etag-1")
    assert planner.unchanged_test(desired(s), CAPS, replace=["db-01"])(s, live) == "etag-1"


def test_the_document_of_a_plan_without_fingerprints_lists_unchanged_specs_without_one() -> None:
    d, snap = _world()
    plan = planner.make_plan(d, thinned(d, snap, CAPS, fingerprints=False), CAPS, fingerprints=False)
    assert plan_document(plan)["unchanged"] == {"": {"db-01": ""}, "keep": {"m-01": "fp-m-01"}, "web": {"web-01": ""}}


def test_unchanged_specs_take_their_places_among_listed_no_ops_by_casefolded_name() -> None:
    # A hand-made plan: bare no-ops listed (as read back, no family, fingerprints in the plan's)
    # beside unchanged specs, names in both cases: the groups follow the casefolded names.
    bare = Change(name="Beta", action=Action.NOOP, reason="up to date")
    plan = Plan("platform", "test", (bare,), {"image:beta": "fp-b", "image:alpha": "fp-a", "image:zed": "fp-z"},
                "d" * 64, unchanged=(spec("Zed", family="z"), spec("alpha", family="a")))
    assert plan_document(plan)["unchanged"] == {"a": {"alpha": "fp-a"}, "": {"Beta": "fp-b"}, "z": {"Zed": "fp-z"}}
    assert list(plan_document(plan)["unchanged"]) == ["a", "", "z"]
    # A name listed twice (only in a hand-made plan): its last entry, in the plan's order.
    twice = replace(plan, changes=(), unchanged=(spec("alpha", family="a"), spec("alpha", family="")))
    assert plan_document(twice)["unchanged"] == {"": {"alpha": "fp-a"}}
