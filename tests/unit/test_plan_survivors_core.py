"""The planner rules that mutation testing found unpinned after the issue 10/11 work (docs/testing.md):
the provider's ``compare_extra`` reading both sides, promotions after other entries, the mismatch
wording, footprints of no-ops, held removes per family, the spec of an undeclared update, a change
planned again (``_replan``), field order and tops of paths. Pure functions, exact values."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from planning import CAPS, OWNER, desired, image, image_of, spec, vm

from reconciler.errors import Diagnostic
from reconciler.model import (
    PROMOTION_EXTRA,
    Action,
    ConsumersPolicy,
    ExtraComparison,
    FamilySpec,
    FieldDiff,
    Image,
    ImageSpec,
    ImageType,
    LifecyclePolicy,
    OSState,
    Policy,
    Snapshot,
    Source,
)
from reconciler.plan import REPLACE_REQUESTED, _field_diffs, _field_rank, _replan, _top, _undeclared_update, make_plan
from reconciler.plan import _locator as locator_of

# ---- compare_extra reads the spec and the live image ---------------------------------------------


def _regions_caps():
    return replace(CAPS, image_fields={"regions": "r"}, mutable_fields=CAPS.mutable_fields | {"extra.regions"},
                   compare_extra=lambda s, i: ExtraComparison({"extra.regions": list(i.extra["regions"])},
                                                              {"extra.regions": list(s.extra["regions"])}))


def test_compare_extra_is_given_the_spec_and_the_live_image():
    s = spec("web", extra={"regions": ["a", "b"]})
    live = image_of(s, extra={"regions": ["a"]})
    (c,) = make_plan(desired(s), Snapshot((live,), (vm("vm-web"),)), _regions_caps()).changes
    assert c.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in c.fields] == [("extra.regions[1]", None, "b")]


def test_an_entry_only_one_side_of_compare_extra_has_is_a_difference():
    caps = replace(_regions_caps(), compare_extra=lambda s, i: ExtraComparison({"extra.regions": ["a"]}, {}))
    s = spec("web", extra={"regions": ["a"]})
    (c,) = make_plan(desired(s), Snapshot((image_of(s),), (vm("vm-web"),)), caps).changes
    assert c.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in c.fields] == [("extra.regions", ["a"], None)]


# ---- promotions ----------------------------------------------------------------------------------

REF = "dev:web-base/1.4.0"


def _promoted(name: str = "web-base/1.4.0", **kw) -> ImageSpec:
    extra = {PROMOTION_EXTRA: {"from": REF, "source": "dev", "image": "web-base/1.4.0"}}
    return ImageSpec(name=name, type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(image=REF), extra=extra, **kw)


def test_a_promotion_after_a_no_op_and_a_capture_from_a_vm_is_still_checked():
    up = spec("a-up")
    new = spec("b-new")
    d = desired(up, new, _promoted())
    (_, _, c) = make_plan(d, Snapshot((image_of(up),), (vm("vm-b-new"),)), CAPS).changes
    assert c.name == "web-base/1.4.0" and [e.code for e in c.errors] == ["promotion-source-missing"]


def test_a_promotion_of_another_os_says_what_the_source_is_and_what_to_set():
    windows = Image(name="web-base/1.4.0", type=ImageType.OS, os="windows", os_state=OSState.GENERALIZED)
    (c,) = make_plan(desired(_promoted()), Snapshot(origins={REF: windows}), CAPS).changes
    (e,) = c.errors
    assert e.summary == "'web-base/1.4.0' declares os: linux, but its source dev:web-base/1.4.0 is windows"
    assert e.hint == "set os: windows (a promotion copies the image as it is)"
    assert e.code == "promotion-source-mismatch"


# ---- footprints ----------------------------------------------------------------------------------


def test_a_no_op_or_an_update_stores_and_frees_nothing_and_a_capture_after_them_stores():
    caps = replace(CAPS, footprint=lambda s, v: {"local": 7.0})
    same, upd, new = spec("a", label="L"), spec("b", label="new"), spec("c")
    snap = Snapshot((image_of(same, footprint={"local": 3.0}), image_of(upd, label="old", footprint={"local": 5.0})),
                    (vm("vm-c"),))
    a, b, c = make_plan(desired(same, upd, new), snap, caps).changes
    assert (a.action, a.stored, a.freed) == (Action.NOOP, {}, {})
    assert (b.action, b.stored, b.freed) == (Action.UPDATE, {}, {})
    assert (c.action, c.stored, c.freed) == (Action.CAPTURE, {"local": 7.0}, {})


def test_a_capture_from_a_vhd_stores_nothing_known():
    caps = replace(CAPS, footprint=lambda s, v: {"local": 7.0})
    s = spec("v", type=ImageType.OS, source=Source(vhd="https://x/y.vhd"))
    (c,) = make_plan(desired(s), Snapshot(), caps).changes
    assert (c.action, c.stored, c.freed) == (Action.CAPTURE, {}, {})


# ---- held removes: the family's lifecycle decides -------------------------------------------------


def test_removes_to_check_asks_the_removed_image_s_family():
    from reconciler.plan import removes_to_check

    d = replace(desired(prune=True), policy=Policy(prune=True, consumers=ConsumersPolicy(block_if_in_use=False),
                                                   lifecycle={"web": LifecyclePolicy(keep=1, block_if_in_use=True)}))
    old = image("web-1", family="web", created="2026-01-01")
    snap = Snapshot(images=(old, image("web-2", family="web", created="2026-02-01"), image("db-1", family="db")))
    p = make_plan(d, snap, CAPS)
    assert [(c.name, c.action) for c in p.changes] == [("db-1", Action.REMOVE), ("web-1", Action.REMOVE)]
    assert removes_to_check(d, p) == (old,)


# ---- the spec an undeclared image is updated with -------------------------------------------------


def test_an_undeclared_update_keeps_the_provider_fields_the_image_has_when_compared_plainly():
    caps = replace(CAPS, image_fields={"a": "A", "b": "B"})
    live = image("old", extra={"a": 1, "b": None, "z": 2}, tags={"t": "1"})
    s = _undeclared_update(live, caps, {"c": 3})
    assert s.extra == {"a": 1, "c": 3} and s.tags == {"t": "1"} and s.name == "old"
    assert _undeclared_update(live, caps, {"a": 9}, {"x": "y"}).extra == {"a": 9}
    assert _undeclared_update(live, caps, {}, {"x": "y"}).tags == {"x": "y"}


def test_an_undeclared_update_with_the_provider_s_own_comparison_manages_only_the_fields_given():
    caps = replace(CAPS, image_fields={"a": "A"}, compare_extra=lambda s, i: ExtraComparison({}, {}))
    live = image("old", extra={"a": 1})
    assert _undeclared_update(live, caps, {"c": 3}).extra == {"c": 3}


# ---- a change planned again ----------------------------------------------------------------------


def test_a_replan_keeps_a_requested_replace_as_it_is():
    s = spec("web")
    live = image_of(s)
    forced = make_plan(desired(s), Snapshot((live,), (vm("vm-web"),)), CAPS, replace=["web"]).changes[0]
    assert forced.action is Action.REPLACE
    flagged = replace(s, label="flagged")
    again = _replan(forced, flagged, live, {}, Snapshot(), CAPS, OWNER, locator_of(desired(s), {s.key: 0}))
    assert again == replace(forced, after=flagged) and again.reason == REPLACE_REQUESTED


def test_a_replan_that_now_replaces_checks_the_vm_and_the_snapshot():
    s = spec("web", label="a")
    live = image_of(s)
    seen: list[Snapshot] = []

    def checks(spec_: ImageSpec, snap: Snapshot) -> list[Diagnostic]:
        seen.append(snap)
        return [Diagnostic.error(f"{len(snap.vms)} vms", "h", code="x")]

    caps = replace(CAPS, extra_checks=checks)
    snap = Snapshot((live,), (vm("vm-web"),))
    noop = make_plan(desired(s), snap, caps).changes[0]
    assert noop.action is Action.NOOP
    changed = replace(s, os_state=OSState.SPECIALIZED)  # cannot change in place: a replace
    vms = {"vm-web": vm("vm-web", os_state=OSState.SPECIALIZED)}
    again = _replan(noop, changed, live, vms, snap, caps, OWNER, locator_of(desired(s), {s.key: 0}))
    assert again.action is Action.REPLACE and again.consumes_vm is None
    assert [(e.code, e.summary) for e in again.errors] == [("x", "1 vms")]
    assert seen == [snap]


# ---- field order and tops ------------------------------------------------------------------------


def test_fields_differ_in_display_order_with_the_provider_s_last():
    before = {"tags": {"a": "1"}, "label": "x", "extra.regions": ["a"], "os": "linux", "protect": False}
    after = {"tags": {"a": "2"}, "label": "y", "extra.regions": ["b"], "os": "windows", "protect": True}
    assert [f.path for f in _field_diffs(before, after)] == ["os", "label", "tags.a", "protect", "extra.regions[0]"]
    assert [_field_rank(p) for p in ("type", "os", "source.vm", "tags[0]", "protect", "extra.x", "extra")] == \
        [0, 1, 3, 8, 9, 10, 10]


def test_the_top_of_a_path():
    assert [_top(p) for p in ("tags.team", "tags", "extra.target_regions[0].name", "extra.a.b", "source[1]",
                              "extra", "data_snapshots[0].lun", "a.b.c")] == \
        ["tags", "tags", "extra.target_regions", "extra.a", "source", "extra", "data_snapshots", "a"]
    assert FieldDiff("extra.x[0]", 1, 2).path == "extra.x[0]"


# ---- a deprecation or a latest flag the provider cannot set in place is not planned ----------------

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _aging(extra_mutable: bool):
    seen: list[Snapshot] = []

    def checks(spec_: ImageSpec, snap: Snapshot) -> list[Diagnostic]:
        seen.append(snap)
        return []

    fields = {"end_of_life_date": "eol", "exclude_from_latest": "x"}
    both = {"extra.end_of_life_date", "extra.exclude_from_latest"}
    mutable = CAPS.mutable_fields | (both if extra_mutable else set())
    caps = replace(CAPS, image_fields=fields, mutable_fields=frozenset(mutable), extra_checks=checks)
    old = image("web-1", family="web", created="2026-01-01T00:00:00Z")
    new = image("web-2", family="web", created="2026-11-30T00:00:00Z")
    snap = Snapshot(images=(old, new), vms=(vm("vm-web-1"), vm("vm-web-2")))
    return caps, snap, seen


def test_a_deprecation_is_an_update_only_where_the_provider_sets_the_fields_in_place():
    d = replace(desired(), policy=Policy(lifecycle={"web": LifecyclePolicy(deprecate_after="1d")}))
    caps, snap, seen = _aging(extra_mutable=True)
    (c,) = make_plan(d, snap, caps, now=NOW).changes
    assert (c.name, c.action) == ("web-1", Action.UPDATE) and seen == []
    caps, snap, seen = _aging(extra_mutable=False)
    assert make_plan(d, snap, caps, now=NOW).changes == ()
    assert seen == [snap]  # the replace it would be was planned (against this snapshot) and dropped


def test_a_latest_flag_the_provider_cannot_set_in_place_is_not_planned():
    d = replace(desired(), families={"web": FamilySpec(name="web", latest="web-1")})
    caps, snap, seen = _aging(extra_mutable=True)
    (c,) = make_plan(d, snap, caps, now=NOW).changes
    assert (c.name, c.action) == ("web-2", Action.UPDATE) and seen == []
    caps, snap, seen = _aging(extra_mutable=False)
    assert make_plan(d, snap, caps, now=NOW).changes == ()
    assert seen == [snap]
