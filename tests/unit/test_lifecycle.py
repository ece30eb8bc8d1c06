"""Issue 11 §2/§3: durations, time, version order, a declared ``latest`` and the lifecycle policy.

The pure rules (``reconciler/lifecycle.py``) with exact strings and age boundaries, then the
planner applying them (``make_plan(now=...)``): deprecation an update, deletion a remove, the
declared and the effective latest spared, ``policy.retention`` as ``lifecycle.keep``, exclude flags
computed so that ``latest`` resolves to the declared version, and what a plan then records.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planning import OWNER, desired, image, spec

from reconciler.lifecycle import (
    DEPRECATED_TAG,
    LATEST_RING_TAG,
    Member,
    Rollout,
    age,
    deprecated_at,
    deprecation_fields,
    duration_problem,
    format_time,
    latest_flags,
    latest_marks,
    lifecycle_decisions,
    names_version,
    parse_duration,
    parse_ring_tag,
    parse_time,
    resolve_latest,
    ring_progress,
    version_key,
    version_of,
)
from reconciler.model import (
    Action,
    Capabilities,
    Category,
    Consumer,
    ConsumersPolicy,
    FamilySpec,
    ImageType,
    LifecyclePolicy,
    Policy,
    Ring,
    Snapshot,
)
from reconciler.plan import make_plan
from reconciler.plandoc import plan_document, plan_from_document
from reconciler.render import render_plan_markdown, render_plan_text

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

#: A provider with the two fields a lifecycle and a declared latest set (as local).
CAPS = Capabilities(
    provider="test",
    mutable_fields=frozenset({"family", "label", "description", "recommended_vm_size", "tags", "protect",
                              "extra.exclude_from_latest", "extra.end_of_life_date"}),
    specialized_types=frozenset({ImageType.VM}),
    image_fields={"exclude_from_latest": "flag", "end_of_life_date": "date"},
)


# --------------------------------------------------------------------------------------------------
# Durations and time


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("72h", 259200), ("30d", 2592000), ("2w", 1209600),
                                               ("0h", 0), (" 1d ", 86400)])
def test_durations_parse_in_their_unit(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["30", "30days", "1.5h", "-1d", "d", "", "1y", "1234567d"])
def test_anything_else_is_not_a_duration(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
    assert duration_problem(text) == f"'{text}' is not a duration"


def test_a_non_string_duration_says_so():
    assert duration_problem(30) == "30 is not a duration (a string like 72h)"
    assert duration_problem("72h") is None


def test_times_parse_to_utc_and_format_one_way():
    assert parse_time("2026-12-01T12:00:00Z") == NOW
    assert parse_time("2026-12-01T13:00:00+01:00") == NOW
    assert parse_time("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_time("") is None and parse_time("yesterday") is None
    assert format_time(NOW + timedelta(microseconds=5)) == "2026-12-01T12:00:00Z"


def test_age_and_deprecation_come_from_created_and_the_tag():
    img = image("a", created="2026-11-30T12:00:00Z", tags={DEPRECATED_TAG: "2026-11-01T00:00:00Z"})
    assert age(img, NOW) == timedelta(days=1)
    assert age(image("b", created=""), NOW) is None
    assert deprecated_at(img) == datetime(2026, 11, 1, tzinfo=UTC)
    assert deprecated_at(image("c")) is None


def test_deprecation_sets_only_the_fields_the_provider_has():
    assert deprecation_fields(NOW, CAPS.image_fields) == {"end_of_life_date": "2026-12-01", "exclude_from_latest": True}
    assert deprecation_fields(NOW, {"exclude_from_latest": ""}) == {"exclude_from_latest": True}
    assert deprecation_fields(NOW, {}) == {}


# --------------------------------------------------------------------------------------------------
# Versions and latest


def test_the_version_of_a_name():
    assert version_of("web-base/1.4.0") == "1.4.0"
    assert version_of("web-base-1.4.0") == "1.4.0"
    assert version_of("web_base_v2.10") == "2.10"
    assert version_of("web-base-2026-08") == "web-base-2026-08"
    assert version_of("a/b/1.0") == "1.0"
    assert names_version("web-base/1.4.0", "1.4.0") and names_version("Web-Base-1.4.0", "web-base-1.4.0")
    assert not names_version("web-base/1.4.0", "1.4")


def test_versions_order_by_number_not_text():
    names = ["f/1.10.0", "f/1.9.0", "f/2.0.0", "f/1.9.1"]
    assert sorted(names, key=lambda n: version_key(n, "")) == ["f/1.9.0", "f/1.9.1", "f/1.10.0", "f/2.0.0"]
    assert version_key("f/odd", "") < version_key("f/0.0.1", "")  # not a version: before every version
    assert version_key("f-x", "2026-02") > version_key("f-y", "2026-01")  # then by creation time


def test_latest_is_the_highest_version_not_excluded():
    ms = [Member("f/1.0.0"), Member("f/1.2.0"), Member("f/1.1.0"), Member("f/2.0.0", excluded=True)]
    assert resolve_latest(ms) == "f/1.2.0"
    assert resolve_latest([Member("f/1.0.0", excluded=True)]) is None
    assert resolve_latest([]) is None


def test_latest_flags_exclude_every_higher_version_and_leave_lower_ones():
    ms = [Member("f/1.0.0", excluded=True), Member("f/1.3.2"), Member("f/1.4.0"), Member("f/2.0.0")]
    assert latest_flags(ms, "f/1.3.2") == {"f/1.3.2": False, "f/1.4.0": True, "f/2.0.0": True}
    assert latest_flags(ms, "f/2.0.0") == {"f/2.0.0": False}
    assert resolve_latest(replace(m, excluded=latest_flags(ms, "f/1.3.2").get(m.name, m.excluded)) for m in ms) \
        == "f/1.3.2"


def test_images_list_marks_latest_and_per_region_where_it_differs():
    plain = [image("f-1.0.0", created="1"), image("f-1.1.0", created="2"),
             image("f-2.0.0", created="3", extra={"exclude_from_latest": True})]
    assert latest_marks(plain) == {"f-1.1.0": "latest"}
    regional = [
        image("f/1.0.0", extra={"target_regions": ["westeurope", "eastus"]}),
        image("f/1.1.0", extra={"target_regions": [{"name": "westeurope"}, {"name": "East US",
                                                                          "exclude_from_latest": True}]}),
    ]
    assert latest_marks(regional) == {"f/1.0.0": "latest in eastus", "f/1.1.0": "latest in westeurope"}
    regional[1] = replace(regional[1], extra={"target_regions": ["westeurope", "eastus"]})
    assert latest_marks(regional) == {"f/1.1.0": "latest"}


# --------------------------------------------------------------------------------------------------
# Lifecycle decisions: boundaries of ages


def _family(*created: str, tags: dict[str, str] | None = None):
    return [image(f"f-1.{n}.0", family="f", created=c, tags=tags or {}) for n, c in enumerate(created)]


def test_an_image_exactly_deprecate_after_old_is_deprecated_a_second_younger_is_not():
    imgs = [image("old", created="2026-10-31T12:00:00Z"), image("young", created="2026-10-31T12:00:01Z")]
    got = lifecycle_decisions(imgs, keep=0, deprecate_after=timedelta(days=31), delete_after=None, now=NOW)
    assert {k: (d.action, d.reason) for k, d in got.items()} == {
        "old": ("deprecate", "lifecycle: older than 31d, not among the newest 0")}


def test_deletion_waits_exactly_delete_after_from_the_deprecation():
    due = image("due", created="2020-01-01T00:00:00Z", tags={DEPRECATED_TAG: "2026-11-01T12:00:00Z"})
    early = image("early", created="2020-01-01T00:00:00Z", tags={DEPRECATED_TAG: "2026-11-01T12:00:01Z"})
    got = lifecycle_decisions([due, early], keep=0, deprecate_after=timedelta(days=1), delete_after=timedelta(days=30),
                              now=NOW)
    assert {k: (d.action, d.reason) for k, d in got.items()} == {
        "due": ("delete", "lifecycle: deprecated 2026-11-01T12:00:00Z, delete after 30d")}


def test_keep_spares_the_newest_and_spared_names_whatever_their_age():
    imgs = _family("2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01")
    got = lifecycle_decisions(imgs, keep=2, deprecate_after=timedelta(0), delete_after=None, now=NOW,
                              spared=["F-1.0.0"])
    assert sorted(got) == ["f-1.1.0"]
    assert got["f-1.1.0"].reason == "lifecycle: older than 0m, not among the newest 2"


def test_no_delete_after_keeps_deprecated_images_and_unknown_ages_are_never_deprecated():
    dep = image("dep", created="2020-01-01", tags={DEPRECATED_TAG: "2020-01-02T00:00:00Z"})
    unknown = image("unknown", created="")
    assert lifecycle_decisions([dep, unknown], keep=0, deprecate_after=timedelta(days=1), delete_after=None,
                               now=NOW) == {}


def test_deprecated_images_are_only_deleted_when_deprecation_is_off():
    dep = image("dep", created="2020-01-01", tags={DEPRECATED_TAG: "2020-01-02T00:00:00Z"})
    fresh = image("fresh", created="2020-01-01")
    got = lifecycle_decisions([dep, fresh], keep=0, deprecate_after=None, delete_after=timedelta(days=1), now=NOW)
    assert {k: d.action for k, d in got.items()} == {"dep": "delete"}


# --------------------------------------------------------------------------------------------------
# The planner: lifecycle


def _lifecycle_state(entry: LifecyclePolicy, *specs, families=(), consumers: ConsumersPolicy | None = None):
    d = desired(*specs)
    return replace(d, policy=Policy(lifecycle={"f": entry}, consumers=consumers or ConsumersPolicy()),
                   families={f.name: f for f in families})


def _by_name(plan):
    return {c.name: c for c in plan.changes if c.action is not Action.NOOP}


def test_the_plan_deprecates_with_an_update_and_deletes_with_a_remove_listed_first():
    live = Snapshot(images=(
        image("f-1.0.0", family="f", created="2026-01-01T00:00:00Z", tags={DEPRECATED_TAG: "2026-06-01T00:00:00Z"}),
        image("f-1.1.0", family="f", created="2026-09-01T00:00:00Z"),
        image("f-1.2.0", family="f", created="2026-11-25T00:00:00Z"),
    ))
    d = _lifecycle_state(LifecyclePolicy(keep=1, deprecate_after="30d", delete_after="90d"))
    plan = make_plan(d, live, CAPS, now=NOW)
    got = _by_name(plan)
    assert set(got) == {"f-1.0.0", "f-1.1.0"}
    remove, update = got["f-1.0.0"], got["f-1.1.0"]
    assert remove.action is Action.REMOVE and remove.destructive
    assert remove.reason == "lifecycle: deprecated 2026-06-01T00:00:00Z, delete after 90d"
    assert update.action is Action.UPDATE and not update.destructive
    assert update.reason == "lifecycle: older than 30d, not among the newest 1"
    assert {f.path: (f.before, f.after) for f in update.fields} == {
        "tags.deprecated-at": (None, "2026-12-01T12:00:00Z"),
        "extra.end_of_life_date": (None, "2026-12-01"),
        "extra.exclude_from_latest": (None, True),
    }
    assert plan.now == "2026-12-01T12:00:00Z"
    text = render_plan_text(plan)
    assert text.index("- remove f-1.0.0") < text.index("~ update f-1.1.0")


def test_a_lifecycle_never_touches_declared_protected_foreign_or_latest_images():
    live = Snapshot(images=(
        image("f-1.0.0", family="f", created="2020-01-01T00:00:00Z"),                      # declared
        image("f-1.1.0", family="f", created="2020-01-01T00:00:00Z", owner="other"),       # not ours
        image("f-1.2.0", family="f", created="2020-01-01T00:00:00Z", protected=True,
              tags={DEPRECATED_TAG: "2020-01-02T00:00:00Z"}),                            # protected
        image("f-1.3.0", family="f", created="2020-01-01T00:00:00Z"),                      # the effective latest
    ))
    d = _lifecycle_state(LifecyclePolicy(deprecate_after="1d", delete_after="1d"),
                         spec("f-1.0.0", family="f", tags={}))
    plan = make_plan(d, live, CAPS, now=NOW)
    assert plan.pending == ()
    assert [w.summary for w in plan.warnings] == [
        "image 'f-1.2.0' is no longer declared but is protected: it is kept"]


def test_without_a_time_a_lifecycle_that_ages_is_an_error_and_a_plain_keep_needs_none():
    live = Snapshot(images=tuple(_family("2020-01-01", "2020-02-01")))
    plan = make_plan(_lifecycle_state(LifecyclePolicy(keep=1, deprecate_after="1d")), live, CAPS)
    assert [e.code for e in plan.errors] == ["lifecycle-no-time"]
    keep = make_plan(_lifecycle_state(LifecyclePolicy(keep=1)), live, CAPS)
    assert {c.name: c.reason for c in keep.pending} == {"f-1.0.0": "retention: keep 1"}
    assert keep.now == ""


def test_retention_is_lifecycle_keep_and_a_lifecycle_entry_wins():
    assert Policy(retention={"f": 2}).lifecycles() == {"f": LifecyclePolicy(keep=2)}
    both = Policy(retention={"f": 2, "g": 1}, lifecycle={"f": LifecyclePolicy(keep=5)})
    assert both.lifecycles() == {"f": LifecyclePolicy(keep=5), "g": LifecyclePolicy(keep=1)}


def test_block_if_in_use_per_family_holds_a_lifecycle_delete():
    policy = Policy(lifecycle={"f": LifecyclePolicy(block_if_in_use=True), "g": LifecyclePolicy(block_if_in_use=False)},
                    consumers=ConsumersPolicy(block_if_in_use=True))
    assert policy.blocks_if_in_use("f") and not policy.blocks_if_in_use("g") and policy.blocks_if_in_use(None)
    assert policy.may_block and not Policy().may_block
    assert Policy(lifecycle={"f": LifecyclePolicy(block_if_in_use=True)}).may_block
    live = Snapshot(
        images=(image("f-1.0.0", family="f", created="2020-01-01", tags={DEPRECATED_TAG: "2020-01-02T00:00:00Z"}),
                image("f-1.1.0", family="f", created="2020-02-01")),
        consumers={"f-1.0.0": (Consumer(kind="vm", name="web-01", image="f-1.0.0"),)})
    d = _lifecycle_state(LifecyclePolicy(delete_after="1d", block_if_in_use=True))
    plan = make_plan(d, live, CAPS, now=NOW)
    assert [c.name for c in plan.held] == ["f-1.0.0"] and plan.pending == ()


# --------------------------------------------------------------------------------------------------
# The planner: a declared latest


def _latest_state(latest: str, *specs):
    d = desired(*specs)
    return replace(d, families={"f": FamilySpec(name="f", latest=latest)})


VERSIONS = Snapshot(images=(
    image("f-1.3.2", family="f", created="2026-10-01"),
    image("f-1.4.0", family="f", created="2026-11-01"),
    image("f-1.2.0", family="f", created="2026-09-01", extra={"exclude_from_latest": True}),
))


def test_declaring_an_older_latest_excludes_the_newer_versions_and_shows_the_move():
    plan = make_plan(_latest_state("1.3.2"), VERSIONS, CAPS)
    got = _by_name(plan)
    assert list(got) == ["f-1.4.0"]
    assert got["f-1.4.0"].reason == "latest(f): 1.3.2"
    assert [(f.path, f.before, f.after) for f in got["f-1.4.0"].fields] == [("extra.exclude_from_latest", None, True)]
    assert [(m.family, m.before, m.after) for m in plan.latest] == [("f", "1.4.0", "1.3.2")]
    assert "latest(f): 1.4.0 -> 1.3.2" in render_plan_text(plan)
    assert "- latest(f): 1.4.0 → 1.3.2\n" in render_plan_markdown(plan)
    doc = plan_document(plan)
    assert doc["latest"] == [{"family": "f", "before": "1.4.0", "after": "1.3.2"}]
    assert plan_from_document(doc).latest == plan.latest


def test_rolling_back_is_reverting_the_line_and_the_flags_follow():
    after = Snapshot(images=tuple(replace(i, extra={"exclude_from_latest": True}) if i.name == "f-1.4.0" else i
                                  for i in VERSIONS.images))
    plan = make_plan(_latest_state("1.4.0"), after, CAPS)
    got = _by_name(plan)
    assert [(f.path, f.before, f.after) for f in got["f-1.4.0"].fields] == [("extra.exclude_from_latest", True, False)]
    assert [(m.before, m.after) for m in plan.latest] == [("1.3.2", "1.4.0")]
    # Already where it should be: no change, no move (a lower excluded version stays as it is).
    assert make_plan(_latest_state("1.4.0"), VERSIONS, CAPS).pending == ()
    assert make_plan(_latest_state("1.4.0"), VERSIONS, CAPS).latest == ()


def test_a_declared_latest_rides_on_the_declared_images_and_a_capture_can_be_it():
    s = spec("f-1.5.0", family="f")
    plan = make_plan(_latest_state("1.5.0", s), VERSIONS, CAPS)
    capture = _by_name(plan)["f-1.5.0"]
    assert capture.action is Action.CAPTURE and capture.after.extra == {"exclude_from_latest": False}
    assert [(m.before, m.after) for m in plan.latest] == [("1.4.0", "1.5.0")]


def test_a_declared_flag_that_contradicts_latest_is_an_error_at_the_flag():
    s = spec("f-1.4.0", family="f", extra={"exclude_from_latest": False}, source=VERSIONS.images[1].source)
    plan = make_plan(_latest_state("1.3.2", s), VERSIONS, CAPS)
    (err,) = plan.errors
    assert err.code == "latest-conflict"
    assert err.summary == ("image 'f-1.4.0' declares exclude_from_latest: false, but families.f.latest: 1.3.2 "
                           "needs it true")


def test_latest_naming_no_version_or_needing_a_foreign_flag_is_an_error():
    (err,) = make_plan(_latest_state("9.9.9"), VERSIONS, CAPS).errors
    assert err.code == "latest-unknown"
    assert err.summary == "families.f.latest: 9.9.9 is no version of family 'f'"
    assert err.hint == "declare that image, or name a version the family holds (highest: 1.2.0, 1.3.2, 1.4.0)"
    foreign = Snapshot(images=VERSIONS.images + (image("f-2.0.0", family="f", created="2026-11-15", owner="other"),))
    errs = make_plan(_latest_state("1.4.0"), foreign, CAPS).errors
    assert [e.code for e in errs] == ["latest-not-owned"]
    assert errs[0].summary == ("latest of family 'f' cannot resolve to 1.4.0: 'f-2.0.0' needs exclude_from_latest: "
                               "true, but it is owned by catalog 'other'")


def test_retention_never_removes_the_declared_latest():
    live = Snapshot(images=tuple(image(f"f-1.{n}.0", family="f", created=f"2026-0{n + 1}-01") for n in range(4)))
    d = replace(_latest_state("1.0.0"), policy=Policy(retention={"f": 1}))
    plan = make_plan(d, live, CAPS)
    assert sorted(c.name for c in plan.pending if c.action is Action.REMOVE) == ["f-1.1.0", "f-1.2.0"]
    assert {c.name for c in plan.pending if c.action is Action.UPDATE} == {"f-1.3.0"}  # excluded: 1.0.0 is latest


def test_a_provider_without_the_flag_plans_no_latest():
    bare = replace(CAPS, image_fields={})
    assert make_plan(_latest_state("1.3.2"), VERSIONS, bare).pending == ()


def test_public_images_of_the_family_do_not_count():
    live = Snapshot(images=VERSIONS.images + (image("f-3.0.0", family="f", owner=None, category=Category.PUBLIC),))
    assert [c.name for c in make_plan(_latest_state("1.3.2"), live, CAPS).pending] == ["f-1.4.0"]
    assert OWNER == "platform"


# --------------------------------------------------------------------------------------------------
# Rings


def test_ring_tags_parse_and_anything_else_is_no_ring():
    assert parse_ring_tag("2@2026-12-01T12:00:00Z") == (2, NOW)
    assert parse_ring_tag(None) == (0, None)
    assert parse_ring_tag("x@2026-12-01T12:00:00Z") == (0, None)
    assert parse_ring_tag("2@soon") == (0, None)


def test_the_first_ring_moves_at_once_and_the_next_exactly_after_its_duration():
    afters = [None, "24h", "48h"]
    first = ring_progress(afters, None, NOW)
    assert first == Rollout(1, "1@2026-12-01T12:00:00Z", True, NOW + timedelta(hours=24))
    almost = ring_progress(afters, first.tag, NOW + timedelta(hours=24) - timedelta(seconds=1))
    assert almost == Rollout(1, first.tag, False, NOW + timedelta(hours=24))
    second = ring_progress(afters, first.tag, NOW + timedelta(hours=24))
    assert second == Rollout(2, "2@2026-12-02T12:00:00Z", True, NOW + timedelta(hours=72))
    last = ring_progress(afters, "3@2026-12-01T12:00:00Z", NOW + timedelta(days=30))
    assert last == Rollout(3, "3@2026-12-01T12:00:00Z", False, None)
    assert ring_progress(afters, "9@2026-12-01T12:00:00Z", NOW).moved == 3  # more than there are: all


# --------------------------------------------------------------------------------------------------
# Validate: where the concepts do not exist


def test_azure_classic_refuses_latest_and_an_aging_lifecycle_at_validate_time():
    from reconciler.providers import capabilities_for
    from reconciler.spec import check_spec

    text = b"""version: 1
catalog: {name: platform, provider: azure-classic, subscription: 00000000-0000-0000-0000-000000000000}
policy:
  lifecycle:
    web: {keep: 2, deprecate_after: 30d}
families:
  web: {latest: web-2}
images:
  - {name: web-2, type: os, os: linux, family: web, source: {vm: svc/dep/role}}
"""
    caps = capabilities_for("azure-classic", {"subscription": "00000000-0000-0000-0000-000000000000"})
    _, diags = check_spec(text, "images.yaml", capabilities=caps)
    got = [(d.location.line, d.location.col, d.summary) for d in diags if d.severity.value == "error"]
    assert got == [
        (5, 20, "lifecycle deprecation is not supported by azure-classic: its images have no exclude-from-latest "
                "flag or end-of-life date"),
        (7, 9, "family field 'latest' is not supported by azure-classic"),
    ]
    ok = text.replace(b", deprecate_after: 30d", b"").replace(b"  web: {latest: web-2}\n", b"  web: {}\n")
    _, diags = check_spec(ok, "images.yaml", capabilities=caps)
    assert [d.summary for d in diags if d.severity.value == "error"] == []


def test_a_deprecated_version_above_latest_is_one_update_with_both_reasons_folded():
    live = Snapshot(images=(
        image("f-1.0.0", family="f", created="2026-11-30T00:00:00Z"),
        image("f-2.0.0", family="f", created="2020-01-01T00:00:00Z"),  # old, higher: deprecated and excluded
    ))
    d = replace(_latest_state("1.0.0"), policy=Policy(lifecycle={"f": LifecyclePolicy(deprecate_after="30d")}))
    plan = make_plan(d, live, CAPS, now=NOW)
    (c,) = plan.pending
    assert (c.name, c.action) == ("f-2.0.0", Action.UPDATE)
    assert c.reason == "lifecycle: older than 30d, not among the newest 0"
    assert {f.path: f.after for f in c.fields}["extra.exclude_from_latest"] is True


def test_a_declared_update_keeps_its_own_fields_and_gains_the_flag():
    s = spec("f-1.4.0", family="f", label="new", source=VERSIONS.images[1].source)
    plan = make_plan(_latest_state("1.3.2", s), VERSIONS, CAPS)
    c = _by_name(plan)["f-1.4.0"]
    assert c.action is Action.UPDATE
    assert [(f.path, f.after) for f in c.fields] == [("label", "new"), ("extra.exclude_from_latest", True)]
    assert c.steps == ("update image",)


# --------------------------------------------------------------------------------------------------
# Property: whatever the live flags, applying the plan makes latest resolve to the declared version


def _apply_flags(plan, snapshot: Snapshot) -> Snapshot:
    """A correct provider's apply of the plan's updates, as far as ``extra`` and tags go."""
    images = {i.key: i for i in snapshot.images}
    for c in plan.pending:
        if c.action is Action.UPDATE and c.after is not None and c.before is not None:
            images[c.key] = replace(c.before, extra=dict(c.after.extra), tags=dict(c.after.tags))
    return Snapshot(images=tuple(images.values()))


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.booleans()), min_size=1, max_size=6,
                unique_by=lambda t: t[:2]), st.integers(0, 5))
@settings(derandomize=True, max_examples=200, deadline=None)
def test_property_latest_resolves_to_the_declared_version_once_applied(versions, pick):
    live = Snapshot(images=tuple(
        image(f"f-{a}.{b}.0", family="f", created=f"2026-01-0{1 + (a + b) % 9}",
              extra={"exclude_from_latest": True} if excluded else {})
        for a, b, excluded in versions))
    target = live.images[pick % len(live.images)]
    d = _latest_state(version_of(target.name))
    plan = make_plan(d, live, CAPS)
    assert not plan.errored, plan.all_errors
    after = _apply_flags(plan, live)
    assert latest_marks(after.images) == {target.key: "latest"}
    again = make_plan(d, after, CAPS)
    assert again.pending == () and again.latest == ()


# --------------------------------------------------------------------------------------------------
# The planner: rings (a provider with regions, compared plainly)

RCAPS = replace(CAPS, image_fields={**CAPS.image_fields, "target_regions": "regions"},
                mutable_fields=CAPS.mutable_fields | {"extra.target_regions"})
REGIONS = ["westeurope", {"name": "North Europe"}, "eastus", "japaneast"]


def _rings_state(*specs, latest="1.1.0", rollout=None):
    rollout = rollout or (Ring(("westeurope",)), Ring(("northeurope", "eastus"), after="24h"))
    return replace(desired(*specs), families={"f": FamilySpec(name="f", latest=latest, latest_rollout=rollout)})


def _ring_world(tag: str | None = None):
    old = image("f-1.0.0", family="f", created="2026-01-01", extra={"target_regions": REGIONS})
    tags = {LATEST_RING_TAG: tag} if tag else {}
    new = image("f-1.1.0", family="f", created="2026-02-01", extra={"target_regions": REGIONS}, tags=tags)
    return Snapshot(images=(old, new))


def _flags(change) -> dict[str, bool]:
    return {(r if isinstance(r, str) else r["name"]).replace(" ", "").lower(): r["exclude_from_latest"]
            for r in change.after.extra["target_regions"]}


def test_the_first_ring_moves_now_and_the_rest_stay_excluded_until_due():
    plan = make_plan(_rings_state(), _ring_world(), RCAPS, now=NOW)
    (c,) = plan.pending
    assert c.reason == "latest(f): ring 1 of 2"
    assert _flags(c) == {"westeurope": False, "northeurope": True, "eastus": True, "japaneast": True}
    assert c.after.tags[LATEST_RING_TAG] == "1@2026-12-01T12:00:00Z"
    assert c.after.extra["exclude_from_latest"] is False
    assert [(m.family, m.before, m.after, m.regions, m.due) for m in plan.latest] == [
        ("f", "1.0.0", "1.1.0", ("westeurope",), ""),
        ("f", "1.0.0", "1.1.0", ("northeurope", "eastus", "japaneast"), "2026-12-02T12:00:00Z")]
    assert plan.now == "2026-12-01T12:00:00Z"
    text = render_plan_text(plan)
    assert "latest(f): 1.0.0 -> 1.1.0 in westeurope\n" in text
    assert "latest(f): 1.0.0 -> 1.1.0 in northeurope, eastus, japaneast (due 2026-12-02T12:00:00Z)" in text


def test_the_last_ring_takes_the_unlisted_regions_exactly_when_due():
    tag = "1@2026-11-30T12:00:00Z"
    early = make_plan(_rings_state(), _ring_world(tag), RCAPS, now=NOW - timedelta(seconds=1))
    (c,) = early.pending  # the world's flags are not set yet: ring 1's flags are written, the tag kept
    assert c.after.tags[LATEST_RING_TAG] == tag and _flags(c)["eastus"] is True
    assert [(m.regions, m.due) for m in early.latest] == [(("northeurope", "eastus", "japaneast"),
                                                           "2026-12-01T12:00:00Z")]
    due = make_plan(_rings_state(), _ring_world(tag), RCAPS, now=NOW)
    (c,) = due.pending
    assert c.reason == "latest(f): ring 2 of 2"
    assert set(_flags(c).values()) == {False}
    assert c.after.tags[LATEST_RING_TAG] == "2@2026-12-01T12:00:00Z"
    assert [(m.regions, m.due) for m in due.latest] == [(("northeurope", "eastus", "japaneast"), "")]


def test_a_rollback_or_a_version_without_regions_moves_at_once():
    world = _ring_world()
    back = make_plan(_rings_state(latest="1.0.0"), world, RCAPS, now=NOW)
    assert [(m.before, m.after, m.regions) for m in back.latest] == [("1.1.0", "1.0.0", ())]
    bare = Snapshot(images=tuple(replace(i, extra={}) for i in world.images))
    ahead = make_plan(_rings_state(), bare, RCAPS, now=NOW)
    assert [(m.before, m.after, m.regions) for m in ahead.latest] == []  # 1.1.0 already resolves
    assert ahead.pending == ()


def test_rings_without_a_time_are_an_error_and_a_declared_region_flag_may_not_contradict():
    assert [e.code for e in make_plan(_rings_state(), _ring_world(), RCAPS).errors] == ["lifecycle-no-time"]
    s = spec("f-1.1.0", family="f", source=_ring_world().images[1].source,
             extra={"target_regions": [{"name": "eastus", "exclude_from_latest": False}, "westeurope"]})
    (err,) = make_plan(_rings_state(s), _ring_world(), RCAPS, now=NOW).errors
    assert err.code == "latest-conflict"
    assert err.summary == ("image 'f-1.1.0' declares exclude_from_latest: false in region eastus, but "
                           "families.f.latest_rollout needs it true there now")


def test_a_declared_capture_carries_ring_one():
    world = Snapshot(images=(_ring_world().images[0],))
    s = spec("f-1.1.0", family="f", extra={"target_regions": ["westeurope", "eastus"]})
    plan = make_plan(_rings_state(s), world, RCAPS, now=NOW)
    c = _by_name(plan)["f-1.1.0"]
    assert c.action is Action.CAPTURE
    assert _flags(c) == {"westeurope": False, "eastus": True}
    assert c.after.tags == {LATEST_RING_TAG: "1@2026-12-01T12:00:00Z"}


# --------------------------------------------------------------------------------------------------
# What the mutation run asked for (make mutation: reconciler/lifecycle.py)


def test_durations_are_spelled_in_their_largest_whole_unit():
    from reconciler.lifecycle import spell

    assert [spell(timedelta(seconds=s)) for s in (0, 5400, 7200, 259200, 1209600, 90000)] == [
        "0m", "90m", "2h", "3d", "2w", "25h"]


def test_times_do_not_depend_on_the_machine_time_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert parse_time("2026-12-01T12:00:00") == NOW  # a naive time is UTC, not local
        assert parse_time("2026-12-01T21:00:00+09:00").tzinfo is UTC
        tokyo = NOW.astimezone()
        assert format_time(tokyo) == "2026-12-01T12:00:00Z"
        late = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # already 2026-12-02 in Tokyo
        assert deprecation_fields(late.astimezone(), {"end_of_life_date": ""}) == {"end_of_life_date": "2026-12-01"}
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_later_ring_without_after_moves_with_the_previous_one():
    moved = ring_progress([None, None, "1h"], "1@2026-12-01T12:00:00Z", NOW)
    assert moved == Rollout(2, "2@2026-12-01T12:00:00Z", True, NOW + timedelta(hours=1))
    assert ring_progress([None, None], None, NOW).next_due == NOW


def test_latest_marks_order_unnumbered_names_by_creation_and_join_regions():
    plain = [image("web-b", created="2026-01-02"), image("web-a", created="2026-01-01")]
    assert latest_marks(plain) == {"web-b": "latest"}
    regional = [
        image("f/1.0.0", extra={"target_regions": ["westeurope", "East US", "japaneast"]}),
        image("f/1.1.0", extra={"target_regions": [{"name": "westeurope"}, {"name": "East US",
                                                                          "exclude_from_latest": True},
                                                   {"name": "japaneast", "exclude_from_latest": True}, {}]}),
    ]
    assert latest_marks(regional) == {"f/1.0.0": "latest in eastus, japaneast", "f/1.1.0": "latest in westeurope"}
    everywhere = [image("f/1.0.0", extra={"target_regions": ["westeurope"]}),
                  image("f/1.1.0", extra={"target_regions": ["westeurope"], "exclude_from_latest": True})]
    assert latest_marks(everywhere) == {"f/1.0.0": "latest"}
    assert latest_marks([image("f/1.0.0", extra={"exclude_from_latest": True})]) == {}
    assert latest_marks([]) == {}


def test_a_ring_tag_needs_a_count_and_a_time():
    assert parse_ring_tag("12@2026-12-01T12:00:00Z") == (12, NOW)
    assert parse_ring_tag("@2026-12-01T12:00:00Z") == (0, None)
    assert parse_ring_tag("1@") == (0, None)
    assert parse_ring_tag("") == (0, None)
    assert deprecated_at(image("x", tags={DEPRECATED_TAG: ""})) is None


def _diag(d):
    loc = d.location
    return (d.code, d.summary, d.hint, loc.json_path if loc is not None else None)


def test_every_latest_error_says_what_to_do_and_where():
    conflict = spec("f-1.4.0", family="f", extra={"exclude_from_latest": False}, source=VERSIONS.images[1].source)
    assert [_diag(e) for e in make_plan(_latest_state("1.3.2", conflict), VERSIONS, CAPS).errors] == [(
        "latest-conflict",
        "image 'f-1.4.0' declares exclude_from_latest: false, but families.f.latest: 1.3.2 needs it true",
        "remove exclude_from_latest from 'f-1.4.0' (the plan sets it from latest), or change latest",
        "$.images[0].exclude_from_latest")]
    foreign = Snapshot(images=VERSIONS.images + (image("f-2.0.0", family="f", created="2026-11-15", owner="other"),))
    assert [_diag(e) for e in make_plan(_latest_state("1.4.0"), foreign, CAPS).errors] == [(
        "latest-not-owned",
        "latest of family 'f' cannot resolve to 1.4.0: 'f-2.0.0' needs exclude_from_latest: true, but it is owned "
        "by catalog 'other'",
        "set its flag in the catalog that owns it, or declare latest: 2.0.0", "$.families.f.latest")]
    assert [_diag(e) for e in make_plan(_latest_state("9.9.9"), Snapshot(), CAPS).errors] == [(
        "latest-unknown", "families.f.latest: 9.9.9 is no version of family 'f'",
        "declare that image, or name a version the family holds (highest: none)", "$.families.f.latest")]
    live = Snapshot(images=tuple(image(f"f-1.{n}.0", family="f", created="2026-01-01") for n in range(4, 12)))
    (err,) = make_plan(_latest_state("9.9.9", spec("g-1.0.0", family="g"), spec("x-1.0.0")), live, CAPS).errors
    assert err.hint == "declare that image, or name a version the family holds (highest: 1.7.0, 1.8.0, 1.9.0, " \
                       "1.10.0, 1.11.0)"


def test_a_failing_family_or_version_does_not_stop_the_others():
    live = Snapshot(images=VERSIONS.images + (
        image("f-1.5.0", family="f", created="2026-11-02", owner="other"),
        image("f-1.6.0", family="f", created="2026-11-03"),
        image("g-1.0.0", family="g", created="2026-11-03"),
        image("g-2.0.0", family="g", created="2026-11-04"),
    ))
    d = replace(desired(spec("f-1.4.0", family="f", extra={"exclude_from_latest": False},
                             source=VERSIONS.images[1].source)),
                families={"e": FamilySpec(name="e", latest="1.0.0"), "f": FamilySpec(name="f", latest="1.3.2"),
                          "g": FamilySpec(name="g", latest="1.0.0")})
    plan = make_plan(d, live, CAPS)
    assert [e.code for e in plan.errors] == ["latest-unknown", "latest-conflict", "latest-not-owned"]
    assert {c.name for c in plan.changes if c.action is Action.UPDATE} == {"f-1.4.0", "f-1.6.0", "g-2.0.0"}
    assert [(m.family, m.before, m.after) for m in plan.latest] == [("f", "1.6.0", "1.3.2"), ("g", "2.0.0", "1.0.0")]


def test_a_first_version_moves_latest_from_none():
    plan = make_plan(_latest_state("1.0.0", spec("f-1.0.0", family="f")), Snapshot(), CAPS)
    assert [(m.before, m.after) for m in plan.latest] == [(None, "1.0.0")]
    assert "latest(f): none -> 1.0.0" in render_plan_text(plan)


def test_an_unnumbered_capture_declared_latest_is_the_newest():
    live = Snapshot(images=(image("web-2026-10", family="f", created="2026-10-01"),))
    plan = make_plan(_latest_state("web-2026-11", spec("web-2026-11", family="f")), live, CAPS)
    assert [c.name for c in plan.pending] == ["web-2026-11"]  # nothing above it to exclude


def test_without_a_time_the_errors_say_it_is_the_callers_bug():
    live = Snapshot(images=tuple(_family("2020-01-01", "2020-02-01")))
    (err,) = make_plan(_lifecycle_state(LifecyclePolicy(keep=1, deprecate_after="1d")), live, CAPS).errors
    assert (err.summary, err.hint) == (
        "policy.lifecycle deprecates and deletes by age, but the plan was given no time (now)",
        "this is a bug in the caller: the command line always passes the time (RECONCILER_NOW in tests)")
    (err,) = make_plan(_rings_state(), _ring_world(), RCAPS).errors
    assert (err.summary, err.hint) == (
        "families.f.latest_rollout moves latest by time, but the plan was given no time (now)",
        "this is a bug in the caller: the command line always passes the time (RECONCILER_NOW in tests)")


def test_a_flag_keeps_a_family_update_and_rides_on_a_replace():
    from reconciler.model import Family

    fcaps = replace(CAPS, family_mutable=frozenset({"description"}), family_noun="definition")
    fams = {"f": Family(spec=FamilySpec(name="f", description="old"), owner=OWNER)}
    s = spec("f-1.4.0", family="f", source=VERSIONS.images[1].source)
    d = replace(desired(s), families={"f": FamilySpec(name="f", description="new", latest="1.3.2")})
    only_family = make_plan(d, replace(VERSIONS, families=fams), fcaps)
    c = _by_name(only_family)["f-1.4.0"]
    assert [(f.path, f.after) for f in c.fields] == [("extra.exclude_from_latest", True),
                                                      ("families.f.description", "new")]
    assert c.steps == ("update definition f", "update image")
    fams_same = {"f": Family(spec=FamilySpec(name="f", description="new"), owner=OWNER)}
    s_ok = spec("f-1.3.2", family="f", source=VERSIONS.images[0].source)
    d_ok = replace(desired(s_ok), families={"f": FamilySpec(name="f", description="old", latest="1.3.2")})
    flagged = tuple(replace(i, extra={"exclude_from_latest": False}) if i.name == "f-1.3.2" else i
                    for i in VERSIONS.images)
    kept = make_plan(d_ok, Snapshot(images=flagged, families=fams_same), fcaps)
    c = _by_name(kept)["f-1.3.2"]  # the image itself is up to date: the family update is kept as it was
    assert [f.path for f in c.fields] == ["families.f.description"] and c.after.extra == {"exclude_from_latest": False}
    replaced = spec("f-1.4.0", family="f", type=ImageType.OS, source=VERSIONS.images[1].source)
    c = _by_name(make_plan(_latest_state("1.3.2", replaced), VERSIONS, CAPS))["f-1.4.0"]
    assert c.action is Action.REPLACE and c.after.extra == {"exclude_from_latest": True}


def test_a_ring_conflict_says_where():
    s = spec("f-1.1.0", family="f", source=_ring_world().images[1].source,
             extra={"target_regions": [{"name": "eastus", "exclude_from_latest": False}]})
    (err,) = make_plan(_rings_state(s), _ring_world(), RCAPS, now=NOW).errors
    assert (err.hint, err.location.json_path) == (
        "remove exclude_from_latest from its target_regions (the rollout sets it), or the rollout",
        "$.images[0].target_regions")


@pytest.mark.parametrize("case", ["live flag", "declared flag", "capture flag"])
def test_retention_spares_the_version_latest_resolves_to_after_the_plan(case):
    live = [image("f-1.0.0", family="f", created="2026-01-01"), image("f-1.1.0", family="f", created="2026-02-01"),
            image("g-9.0.0", family="g", created="2026-01-01"),
            image("f-9.0.0", family="f", owner=None, category=Category.PUBLIC, created="2026-01-01")]
    specs = []
    if case == "live flag":
        live.append(image("f-2.0.0", family="f", created="2026-03-01", extra={"exclude_from_latest": True}))
    elif case == "declared flag":
        live.append(image("f-2.0.0", family="f", created="2026-03-01"))
        specs.append(spec("f-2.0.0", family="f", extra={"exclude_from_latest": True}, source=live[-1].source))
    else:
        specs.append(spec("f-3.0.0", family="f", extra={"exclude_from_latest": True}))
    d = replace(desired(*specs), policy=Policy(lifecycle={"f": LifecyclePolicy(keep=0 if specs else 1)}))
    plan = make_plan(d, Snapshot(images=tuple(live)), CAPS)
    assert {c.name for c in plan.changes if c.action is Action.REMOVE} == {"f-1.0.0"}  # f-1.1.0 is latest


def test_latest_flag_details_that_a_mutation_run_asked_for():
    target = spec("f-1.3.2", family="f", extra={"exclude_from_latest": True}, source=VERSIONS.images[0].source)
    (err,) = make_plan(_latest_state("1.3.2", target), VERSIONS, CAPS).errors
    assert err.summary == ("image 'f-1.3.2' declares exclude_from_latest: true, but families.f.latest: 1.3.2 "
                           "needs it false")
    # An undeclared version keeps its other fields (local compares them plainly): only the flag changes.
    dated = Snapshot(images=tuple(replace(i, extra={"end_of_life_date": "2027-01-01"}) if i.name == "f-1.4.0" else i
                                  for i in VERSIONS.images))
    (c,) = make_plan(_latest_state("1.3.2"), dated, CAPS).pending
    assert [(f.path, f.before, f.after) for f in c.fields] == [("extra.exclude_from_latest", None, True)]
    # A capture into another family is no version of this one.
    other = spec("g-5.0.0", family="g")
    plan = make_plan(_latest_state("1.3.2", other), VERSIONS, CAPS)
    assert _by_name(plan)["g-5.0.0"].after.extra == {}
    # A provider with regions but no rollout declared moves latest at once.
    flat = replace(_rings_state(), families={"f": FamilySpec(name="f", latest="1.0.0")})
    plan = make_plan(flat, _ring_world(), RCAPS, now=NOW)
    assert [(m.before, m.after, m.regions) for m in plan.latest] == [("1.1.0", "1.0.0", ())]
    (c,) = plan.pending
    assert [(f.path, f.after) for f in c.fields] == [("extra.exclude_from_latest", True)]


def test_a_ring_conflict_on_a_region_declared_true():
    s = spec("f-1.1.0", family="f", source=_ring_world().images[1].source,
             extra={"target_regions": [{"name": "westeurope", "exclude_from_latest": True}]})
    (err,) = make_plan(_rings_state(s), _ring_world(), RCAPS, now=NOW).errors
    assert err.summary == ("image 'f-1.1.0' declares exclude_from_latest: true in region westeurope, but "
                           "families.f.latest_rollout needs it false there now")
