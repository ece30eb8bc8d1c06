"""Plan document 2.0 / saved plan version 2 (issue 13): an unchanged image costs its name and its
fingerprint; what apply acts on, and what a saved plan is checked against, is what it was."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_render_plans import full_plan, image, noop, remove_old, spec, update_label

from reconciler.errors import Diagnostic, PlanFileError
from reconciler.model import Action, Change, Plan
from reconciler.plandoc import UNCHANGED_REASON, compact, is_unchanged, plan_document, plan_from_document
from reconciler.planfile import canonical_json, checksum, dump_plan, load_plan, plan_differences

CREATED = "2026-12-01T00:00:00Z"


def _plan(*changes: Change, fingerprints: dict[str, str] | None = None) -> Plan:
    return dataclasses.replace(full_plan(), changes=changes,
                               fingerprints=fingerprints if fingerprints is not None else {})


def test_only_a_quiet_noop_is_unchanged() -> None:
    quiet = noop("a")
    assert is_unchanged(quiet)
    assert not is_unchanged(dataclasses.replace(quiet, errors=(Diagnostic.error("e", "h"),)))
    assert not is_unchanged(dataclasses.replace(quiet, warnings=(Diagnostic.warning("w", "h"),)))
    assert not is_unchanged(update_label())
    assert not is_unchanged(remove_old())


def test_unchanged_entries_and_fingerprints_are_not_repeated() -> None:
    a, b = noop("a"), noop("b")
    fps = {"image:a": a.before.fingerprint, "image:b": "another", "vm:x": "fp-x"}  # type: ignore[union-attr]
    doc = plan_document(_plan(update_label(), a, b, fingerprints=fps))
    assert doc["unchanged"] == {"web-base": {"a": "fp-a", "b": "fp-b"}}
    # a's fingerprint is in ``unchanged`` only; b's recorded one differs from its image's: kept
    assert doc["fingerprints"] == {"image:b": "another", "vm:x": "fp-x"}
    assert [c["name"] for c in doc["resource_changes"]] == [update_label().name]
    assert doc["summary"]["no_op"] == 2
    assert list(doc).index("unchanged") == list(doc).index("resource_changes") + 1


def test_a_bare_noop_takes_its_fingerprint_from_the_plan() -> None:
    bare = Change(name="Web", action=Action.NOOP, reason=UNCHANGED_REASON)
    doc = plan_document(_plan(bare, fingerprints={"image:web": "fp-w"}))
    assert doc["unchanged"] == {"": {"Web": "fp-w"}} and doc["fingerprints"] == {}
    assert plan_document(_plan(bare))["unchanged"] == {"": {"Web": ""}}


def test_compact_is_what_the_document_keeps() -> None:
    a = noop("zz")
    plan = _plan(a, update_label(), fingerprints={"vm:x": "1"})
    small = compact(plan)
    assert small.changes == (update_label(), Change(name="zz", action=Action.NOOP, reason="up to date",
                                                    known_family="web-base"))
    assert small.fingerprints == {"image:zz": "fp-zz", "vm:x": "1"}
    assert plan_from_document(json.loads(json.dumps(plan_document(plan)))) == small
    assert compact(small) == small
    nothing_unchanged = _plan(update_label(), fingerprints={"vm:x": "1"})
    assert compact(nothing_unchanged) is nothing_unchanged
    assert plan_from_document(plan_document(nothing_unchanged)) == nothing_unchanged


def test_unchanged_come_back_sorted_by_name_after_the_changes() -> None:
    plan = _plan(noop("b"), update_label(), noop("a"), noop("C"))
    names = [c.name for c in load_plan(dump_plan(plan, created=CREATED), "p.json").changes]
    assert names == [update_label().name, "C", "a", "b"]


def test_the_saved_file_is_its_own_checksummed_canonical_json() -> None:
    data = dump_plan(full_plan(), created=CREATED)
    doc = json.loads(data)
    assert data == canonical_json(doc) + b"\n"
    assert doc["plan_file"] == {"checksum": checksum(doc), "created": CREATED, "format": "reconciler-plan",
                                "version": 2}


def test_a_name_that_looks_like_the_envelope_does_not_fool_the_sealing() -> None:
    """The checksum goes into the top-level envelope even when a string holds the envelope's text."""
    tricky = '"plan_file":{"created":"' + CREATED + '","format":"reconciler-plan","version":2}'
    plan = dataclasses.replace(full_plan(), catalog=tricky)
    data = dump_plan(plan, created=CREATED)
    assert load_plan(data, "p.json").catalog == tricky


def test_one_hundred_unchanged_images_cost_their_names_and_fingerprints() -> None:
    """The size of a saved plan grows by an unchanged image's name and fingerprint, and by its
    family's name once per family, nothing more."""
    base = _plan(update_label())
    many = _plan(update_label(), *(noop(f"img-{i:06d}") for i in range(100)))
    grown = len(dump_plan(many, created=CREATED)) - len(dump_plan(base, created=CREATED))
    # each: its entry in ``unchanged`` (99 commas between them), in the one family's group; the
    # summary's no_op went from 0 to 100
    assert grown == len('"web-base":{}') + 100 * len('"img-000000":"fp-img-000000"') + 99 + len("100") - len("0")


def test_two_noops_are_the_same_whatever_they_hold() -> None:
    """A saved no-op is a name: compared with a fresh no-op of a full image, no difference; a saved
    no-op where a fresh plan changes the image is one."""
    fresh = _plan(noop("a"), update_label())
    saved = compact(fresh)
    assert plan_differences(saved, fresh) == []
    assert plan_differences(fresh, saved) == []
    changed_live = _plan(dataclasses.replace(noop("a"), before=image("a", label="other")), update_label())
    assert plan_differences(saved, changed_live) == []
    fresh_updates = _plan(dataclasses.replace(update_label(), name="a"), update_label())
    assert plan_differences(saved, fresh_updates) == [
        "the saved plan leaves a unchanged, a fresh plan updates it"
    ]


def test_a_version_1_file_is_refused_with_its_reason() -> None:
    doc = json.loads(dump_plan(full_plan(), created=CREATED))
    doc["plan_file"]["version"] = 1
    doc["plan_file"]["checksum"] = checksum(doc)
    with pytest.raises(PlanFileError, match="a version 1 plan file, written by an older reconciler"):
        load_plan(json.dumps(doc).encode(), "old.json")


# ---- unchanged images keep their family (show PLAN counts them as the plan did) ---------------------


def _in(family: str | None, name: str) -> Change:
    """A quiet no-op of an image of ``family`` (None: none), declared and live alike."""
    return Change(name=name, action=Action.NOOP, reason="up to date", before=image(name, family=family),
                  after=spec(name, family=family))


def test_unchanged_images_are_grouped_by_family_and_come_back_with_it() -> None:
    plan = _plan(_in("web-base", "w1"), update_label(), _in(None, "Loose"), _in("db-base", "d1"),
                 _in("web-base", "w2"), fingerprints={"image:w2": "recorded"})
    doc = plan_document(plan)
    assert doc["unchanged"] == {"web-base": {"w1": "fp-w1", "w2": "fp-w2"}, "": {"Loose": "fp-Loose"},
                                "db-base": {"d1": "fp-d1"}}
    assert list(doc["unchanged"]) == ["web-base", "", "db-base"]  # in plan order
    assert doc["fingerprints"] == {"image:w2": "recorded"}  # differs from its image's: kept
    assert doc["summary"]["no_op"] == 4
    back = load_plan(dump_plan(plan, created=CREATED), "p.json")
    assert [(c.name, c.known_family, c.family) for c in back.changes] == [
        (update_label().name, None, "web-base"),
        ("Loose", None, None), ("d1", "db-base", "db-base"), ("w1", "web-base", "web-base"),
        ("w2", "web-base", "web-base"),
    ]
    assert back.fingerprints == {"image:d1": "fp-d1", "image:loose": "fp-Loose", "image:w1": "fp-w1",
                                 "image:w2": "recorded"}
    assert back == compact(plan)


def test_a_name_listed_twice_is_one_unchanged_entry_its_last() -> None:
    plan = _plan(_in("web-base", "a"), dataclasses.replace(_in("db-base", "a"), before=image("a", fingerprint="2")))
    doc = plan_document(plan)
    assert doc["unchanged"] == {"db-base": {"a": "2"}}
    assert doc["summary"]["no_op"] == 1


def test_a_document_with_a_name_in_two_families_reads_back_both_sorted_by_family() -> None:
    doc = plan_document(_plan())
    doc["unchanged"] = {"web-base": {"a": "1"}, "db-base": {"a": "2"}, "": {"B": "3"}}
    back = plan_from_document(doc)
    assert [(c.name, c.known_family) for c in back.changes] == [("B", None), ("a", "db-base"), ("a", "web-base")]
    assert back.fingerprints == {"image:a": "1", "image:b": "3"}  # the first group's, by document order
    assert plan_differences(back, _plan(_in("web-base", "a"), _in(None, "B"))) == [
        "the saved plan lists a twice", "the saved plan lists a in family db-base, a fresh plan in web-base"]


def test_a_change_s_family_is_its_images_and_else_the_one_it_was_read_back_with() -> None:
    assert Change(name="x", action=Action.NOOP, reason="", known_family="f").family == "f"
    assert Change(name="x", action=Action.NOOP, reason="").family is None
    assert dataclasses.replace(_in("web-base", "x"), known_family="other").family == "web-base"
    assert dataclasses.replace(_in("web-base", "x"), after=None, known_family="other").family == "web-base"


def test_a_saved_noop_of_another_family_is_a_difference() -> None:
    fresh = _plan(_in("web-base", "a"), _in(None, "b"), update_label())
    saved = compact(fresh)
    assert plan_differences(saved, fresh) == []
    moved = dataclasses.replace(saved, changes=tuple(
        dataclasses.replace(c, known_family={"a": None, "b": "db-base"}.get(c.name, c.known_family))
        for c in saved.changes))
    assert plan_differences(moved, fresh) == [
        "the saved plan lists a in family (none), a fresh plan in web-base",
        "the saved plan lists b in family db-base, a fresh plan in (none)",
    ]
    # no family is no family, however it is spelled
    blank = dataclasses.replace(saved, changes=tuple(
        dataclasses.replace(c, known_family="") if c.name == "b" else c for c in saved.changes))
    assert plan_differences(blank, fresh) == []
