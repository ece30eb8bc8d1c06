"""Saved plan files: exact round trip, refusals with a clear message, and staleness."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from test_render_plans import empty_plan, errored_plan, full_plan, image, plans

from reconciler.errors import PlanFileError, StalePlanError
from reconciler.model import VM, Action, Change, FieldDiff, Plan, PowerState, Snapshot
from reconciler.plandoc import compact
from reconciler.planfile import (
    MAX_PLAN_DEPTH,
    checksum,
    deeper_than,
    dump_plan,
    ensure_fresh,
    ensure_same_plan,
    is_plan_document,
    load_plan,
    plan_differences,
    stale_reasons,
)
from reconciler.render import render_plan_json

CREATED = "2026-11-26T07:00:00Z"


def _reseal(doc: dict) -> bytes:
    """Re-compute the checksum after an edit, as a tool (not a person) rewriting the file would."""
    doc["plan_file"].pop("checksum", None)
    doc["plan_file"]["checksum"] = checksum(doc)
    return json.dumps(doc).encode()


# --------------------------------------------------------------------------------------------------
# Round trip


@pytest.mark.parametrize("make", [full_plan, errored_plan, empty_plan])
def test_round_trip_is_exact(make: object) -> None:
    plan: Plan = make()  # type: ignore[operator]
    back = load_plan(dump_plan(plan, created=CREATED), "plan.json")
    assert back == compact(plan)  # an unchanged image comes back as its name (and fingerprint)
    # compare=False fields too: the spec's line survives (messages point at the file)
    assert [c.after.line if c.after else None for c in back.changes] == [
        c.after.line if c.after else None for c in compact(plan).changes
    ]


@settings(max_examples=200, deadline=None)
@given(plans)
def test_round_trip_property(plan: Plan) -> None:
    data = dump_plan(plan, created=CREATED)
    assert load_plan(data, "p.json") == compact(plan)
    assert compact(compact(plan)) == compact(plan)
    assert dump_plan(load_plan(data, "p.json"), created=CREATED) == data  # stable bytes


def test_file_shape() -> None:
    data = dump_plan(full_plan(), created=CREATED)
    doc = json.loads(data)
    assert data.endswith(b"\n") and data.decode("ascii")
    assert list(doc) == sorted(doc)  # sorted keys
    assert doc["plan_file"]["format"] == "reconciler-plan"
    assert doc["plan_file"]["version"] == 2
    assert doc["plan_file"]["created"] == CREATED
    assert doc["plan_file"]["checksum"].startswith("sha256:") and len(doc["plan_file"]["checksum"]) == 71
    body = {k: v for k, v in doc.items() if k != "plan_file"}
    assert body == json.loads(json.dumps(render_plan_json(full_plan())))


def test_non_ascii_and_surrogates_survive() -> None:
    base = full_plan()
    plan = Plan(**{**base.__dict__, "catalog": "plätform-\ud800-☃"})
    assert load_plan(dump_plan(plan, created=CREATED), "p.json") == compact(plan)


def test_nan_cannot_be_saved() -> None:
    base = full_plan()
    c0 = base.changes[0]
    bad_field = type(c0.fields[0])("label", float("nan"), 1.0)
    plan = Plan(**{**base.__dict__, "changes": (dataclasses.replace(c0, fields=(bad_field,)),)})
    with pytest.raises(PlanFileError, match="JSON cannot carry"):
        dump_plan(plan, created=CREATED)


# --------------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"\xff\xfe not utf-8", b"plan: yes\n"],
    ids=["empty", "cut", "binary", "yaml"],
)
def test_not_json(data: bytes) -> None:
    with pytest.raises(PlanFileError) as e:
        load_plan(data, "plan.json")
    assert "plan.json: the file is truncated or not a plan file" in e.value.message
    assert e.value.hint


def test_truncated_real_file() -> None:
    data = dump_plan(full_plan(), created=CREATED)
    with pytest.raises(PlanFileError, match="truncated or not a plan file"):
        load_plan(data[: len(data) // 2], "plan.json")


@pytest.mark.parametrize("doc", [[1, 2], {"format_version": "1.0"}, {"plan_file": {"version": 1}}, {"plan_file": 3}])
def test_foreign_json(doc: object) -> None:
    with pytest.raises(PlanFileError) as e:
        load_plan(json.dumps(doc).encode(), "other.json")
    assert "other.json is not a reconciler plan file" in e.value.message
    assert "plan --out" in e.value.hint


def test_a_json_plan_without_envelope_is_refused() -> None:
    # `plan --format json` output is not a saved plan: it carries no checksum.
    with pytest.raises(PlanFileError, match="not a reconciler plan file"):
        load_plan(json.dumps(render_plan_json(full_plan())).encode(), "plan.json")


def test_another_format() -> None:
    with pytest.raises(PlanFileError, match="is a 'terraform-plan' file"):
        load_plan(json.dumps({"plan_file": {"format": "terraform-plan", "version": 1}}).encode(), "x.json")


def test_another_version() -> None:
    doc = json.loads(dump_plan(full_plan(), created=CREATED))
    doc["plan_file"]["version"] = 3
    with pytest.raises(PlanFileError) as e:
        load_plan(_reseal(doc), "plan.json")
    assert "plan file version 3" in e.value.message and "reads version 2" in e.value.message


def test_a_version_1_plan_gets_its_own_message() -> None:
    """Plans saved before issue 13 (version 1: every no-op in full, indented) are refused with the
    reason, not as edited or misshapen files."""
    doc = json.loads(dump_plan(full_plan(), created=CREATED))
    doc["plan_file"]["version"] = 1
    with pytest.raises(PlanFileError) as e:
        load_plan(_reseal(doc), "plan.json")
    assert e.value.message == (
        "plan.json is a version 1 plan file, written by an older reconciler; this one reads version 2 "
        "(unchanged images are saved as fingerprints since)"
    )
    assert "run `reconciler plan --out FILE` again" in e.value.hint


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["resource_changes"][-1].__setitem__("action", "no-op"),
        lambda d: d["resource_changes"][0]["errors"].append(d["diagnostics"][0]),
        lambda d: d.__setitem__("applyable", False),
        lambda d: d["plan_file"].__setitem__("created", "1999-01-01T00:00:00Z"),
        lambda d: d["fingerprints"].pop("vm:build-web-01"),
    ],
    ids=["action", "errors", "flag", "created", "fingerprint"],
)
def test_edited_file_is_refused(edit: object) -> None:
    doc = json.loads(dump_plan(full_plan(), created=CREATED))
    edit(doc)  # type: ignore[operator]
    with pytest.raises(PlanFileError) as e:
        load_plan(json.dumps(doc).encode(), "plan.json")
    assert "the plan file was edited after it was written: run plan again" in e.value.message


def test_whitespace_changes_are_not_edits() -> None:
    doc = json.loads(dump_plan(full_plan(), created=CREATED))
    assert load_plan(json.dumps(doc, indent=2).encode(), "plan.json") == compact(full_plan())


def test_shape_errors_name_the_path() -> None:
    doc = json.loads(dump_plan(full_plan(), created=CREATED))
    doc["resource_changes"][1]["after"]["type"] = "container"
    del doc["summary"]
    with pytest.raises(PlanFileError) as e:
        load_plan(_reseal(doc), "plan.json")
    msg = e.value.message
    assert "does not have the shape of a plan" in msg
    assert "'summary' is a required property" in msg
    assert "$.resource_changes[1]" in msg


def test_unknown_action_is_a_shape_error() -> None:
    doc = json.loads(dump_plan(full_plan(), created=CREATED))
    doc["resource_changes"][0]["action"] = "explode"
    with pytest.raises(PlanFileError, match="shape of a plan"):
        load_plan(_reseal(doc), "plan.json")


# --------------------------------------------------------------------------------------------------
# Staleness


def _snapshot_for(plan: Plan) -> Snapshot:
    """The live catalog exactly as ``full_plan`` recorded it."""
    images = tuple(image(c.before.name, fingerprint=c.before.fingerprint) for c in plan.changes if c.before is not None)
    vms = (VM("Build-Web-01", "linux", PowerState.STOPPED, fingerprint="fp-vm-1"),)
    return Snapshot(images=images, vms=vms)


def test_fresh_plan_has_no_reasons() -> None:
    plan = full_plan()
    assert stale_reasons(plan, _snapshot_for(plan)) == []
    assert stale_reasons(plan, _snapshot_for(plan), plan.desired_digest) == []
    ensure_fresh(plan, _snapshot_for(plan), plan.desired_digest)


def test_each_difference_is_named() -> None:
    plan = full_plan()
    snap = _snapshot_for(plan)
    images = [i for i in snap.images if i.name != "web-base-2026-08"]  # deleted
    images = [image(i.name, fingerprint="fp-new") if i.name == "web-base-2026-10" else i for i in images]  # changed
    images.append(image("Web-Base-2026-11", fingerprint="fp-x"))  # recorded absent (""), now present
    images.append(image("someone-elses", owner="other", fingerprint="fp-y"))  # unrecorded: does not count
    vms = (VM("Build-Web-01", "linux", PowerState.RUNNING, fingerprint="fp-vm-2"),)
    reasons = stale_reasons(plan, Snapshot(tuple(images), vms), "sha256:other")
    assert reasons == [
        "the desired-state file changed since the plan was made",
        "image 'web-base-2026-08' was deleted",
        "image 'web-base-2026-10' changed since the plan was made",
        "image 'Web-Base-2026-11' appeared",
        "VM 'Build-Web-01' changed since the plan was made",
    ]


def test_deleted_vm_and_unrecorded_vm() -> None:
    plan = full_plan()
    snap = _snapshot_for(plan)
    extra_vm = VM("unrelated", "linux", PowerState.RUNNING, fingerprint="fp")
    reasons = stale_reasons(plan, Snapshot(snap.images, (extra_vm,)))
    assert reasons == ["VM 'build-web-01' was deleted"]  # a new VM the plan never read does not count


def test_a_recorded_family_that_changed_or_was_deleted_makes_the_plan_stale() -> None:
    # issue 10 §2: the live gallery definitions a plan compared (``family:NAME``) count as images do.
    from reconciler.model import Family, FamilySpec

    plan = dataclasses.replace(full_plan(), fingerprints={**full_plan().fingerprints, "family:web-base": "fp-f1",
                                                          "family:gone": "fp-g"})
    snap = _snapshot_for(plan)
    same = {"web-base": Family(FamilySpec("Web-Base"), fingerprint="fp-f1"),
            "gone": Family(FamilySpec("gone"), fingerprint="fp-g"),
            "other": Family(FamilySpec("other"), fingerprint="fp-o")}
    assert stale_reasons(plan, dataclasses.replace(snap, families=same)) == []
    changed = {"web-base": Family(FamilySpec("Web-Base"), fingerprint="fp-f2"),
               "other": Family(FamilySpec("other"), fingerprint="fp-changed")}  # unrecorded: does not count
    assert stale_reasons(plan, dataclasses.replace(snap, families=changed)) == [
        "family 'gone' was deleted",
        "family 'Web-Base' changed since the plan was made",
    ]
    # Recorded absent (""), now present: appeared.
    absent = dataclasses.replace(plan, fingerprints={**full_plan().fingerprints, "family:new": ""})
    assert stale_reasons(absent, dataclasses.replace(snap, families={"new": Family(FamilySpec("New"), fingerprint="x")})
                         ) == ["family 'New' appeared"]
    assert stale_reasons(absent, snap) == []


def test_digest_only_checked_when_given() -> None:
    plan = full_plan()
    assert stale_reasons(plan, _snapshot_for(plan), None) == []


def test_ensure_fresh_raises_with_reasons() -> None:
    plan = full_plan()
    with pytest.raises(StalePlanError) as e:
        ensure_fresh(plan, Snapshot(), None)
    assert e.value.message.startswith("Saved plan is stale: image ")
    assert "image 'web-base-2026-10' was deleted" in e.value.message
    assert e.value.message.count("since") <= 1 and "run plan again" not in e.value.message  # said once, in the hint
    assert "plan" in e.value.hint
    stale = "^Saved plan is stale: the desired-state file changed since the plan was made$"
    with pytest.raises(StalePlanError, match=stale):
        ensure_fresh(plan, _snapshot_for(plan), "sha256:other")


# --------------------------------------------------------------------------------------------------
# The saved plan's bytes are pinned: a format change is a deliberate, versioned decision


def test_golden_saved_plan_bytes_and_checksum_are_pinned():
    """``dump_plan`` of a fixed plan gives exactly ``golden/saved-plan.json``, with a pinned checksum.

    If this fails, the saved-plan format changed: older versions of reconciler would refuse the new
    files as edited (or newer ones the old files). Bump ``planfile.VERSION``, say so in
    docs/plan-format.md, and only then rewrite the golden file (RECONCILER_UPDATE_GOLDEN=1).
    """
    from test_render_plans import check_golden

    data = dump_plan(full_plan(), created="2026-11-30T12:00:00Z")
    check_golden("saved-plan.json", data.decode("ascii"))
    doc = json.loads(data)
    assert doc["plan_file"]["version"] == 2
    assert doc["plan_file"]["checksum"] == GOLDEN_CHECKSUM
    assert load_plan(data, "saved-plan.json") == compact(full_plan())


#: The checksum of golden/saved-plan.json; changes only with a deliberate format change.
GOLDEN_CHECKSUM = "sha256:9877ae7ca4da2174a3db6a72a2279e92d19a1ab08c48d174e8f692470e59789a"


def test_canonical_json_form_is_pinned():
    """The checksum is computed over this exact byte form: sorted keys, no spaces, ASCII escapes."""
    from reconciler.planfile import canonical_json

    doc = {"b": [1, 2.5, None, True], "a": {"z": "é\u202e", "y": ""}}
    assert canonical_json(doc) == b'{"a":{"y":"","z":"\\u00e9\\u202e"},"b":[1,2.5,null,true]}'


def test_saved_plan_layout_is_canonical_json_and_newline_terminated():
    """Version 2: the file is the canonical JSON (the checksum's own byte form), not indented."""
    from reconciler.planfile import canonical_json

    data = dump_plan(full_plan(), created="2026-11-30T12:00:00Z")
    text = data.decode("ascii")
    assert text.endswith("}\n") and not text.endswith("\n\n") and text.count("\n") == 1
    assert text.startswith('{"applyable":')
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert data == canonical_json(doc) + b"\n"
    assert doc["plan_file"]["checksum"] == checksum(doc)


def test_an_unchanged_image_costs_its_name_and_fingerprint():
    """A no-op is an ``unchanged`` entry, not a change, and its fingerprint is not written twice."""
    plan = full_plan()
    noops = [c for c in plan.changes if c.action is Action.NOOP and not c.errors and not c.warnings]
    assert noops
    doc = json.loads(dump_plan(plan, created=CREATED))
    assert doc["unchanged"] == {"web-base": {c.name: c.before.fingerprint for c in noops if c.before}}
    assert all(c["action"] != "no-op" or c["errors"] or c["warnings"] for c in doc["resource_changes"])
    for c in noops:
        assert f"image:{c.key}" not in doc["fingerprints"]
    assert doc["summary"]["no_op"] == sum(1 for c in plan.changes if c.action is Action.NOOP)


# --------------------------------------------------------------------------------------------------
# Same plan: a re-sealed edit is caught by comparing with a fresh plan (issue 8, item 4)


def _with_changes(plan: Plan, *changes: Change) -> Plan:
    return dataclasses.replace(plan, changes=tuple(changes))


def _named(plan: Plan, name: str) -> Change:
    return next(c for c in plan.changes if c.name == name)


def test_same_plan_has_no_differences() -> None:
    plan = full_plan()
    assert plan_differences(plan, plan) == []
    assert plan_differences(load_plan(dump_plan(plan, created=CREATED), "p.json"), plan) == []
    ensure_same_plan(plan, plan, "plan.json")


def test_order_reason_and_line_do_not_count() -> None:
    plan = full_plan()
    shuffled = tuple(
        dataclasses.replace(c, reason="whatever", after=dataclasses.replace(c.after, line=999) if c.after else None)
        for c in reversed(plan.changes)
    )
    assert plan_differences(_with_changes(plan, *shuffled), plan) == []


def test_an_update_turned_into_a_remove_is_named() -> None:
    fresh = full_plan()
    upd = _named(fresh, "web-base-2026-10")
    forged = dataclasses.replace(upd, action=Action.REMOVE, after=None, fields=(), destructive=True)
    saved = _with_changes(fresh, *(forged if c is upd else c for c in fresh.changes))
    assert plan_differences(saved, fresh) == [
        "the saved plan removes web-base-2026-10, a fresh plan updates it",
    ]
    with pytest.raises(PlanFileError) as e:
        ensure_same_plan(saved, fresh, "forged.json")
    assert e.value.message.startswith("forged.json is not the plan")
    assert e.value.message.endswith("the saved plan removes web-base-2026-10, a fresh plan updates it: run plan again")
    assert "plan --out" in e.value.hint


def test_a_duplicated_change_is_a_difference() -> None:
    fresh = full_plan()
    saved = _with_changes(fresh, *fresh.changes, _named(fresh, "web-base-2026-08"))
    assert plan_differences(saved, fresh) == ["the saved plan lists web-base-2026-08 twice"]
    thrice = _with_changes(fresh, *fresh.changes, *(_named(fresh, "web-base-2026-08"),) * 2)
    assert plan_differences(thrice, fresh) == ["the saved plan lists web-base-2026-08 3 times"]


def test_dropped_and_added_changes_are_named() -> None:
    fresh = full_plan()
    saved = _with_changes(fresh, *(c for c in fresh.changes if c.name not in ("web-base-2026-11", "web-base-2026-09")))
    assert plan_differences(saved, fresh) == [
        "a fresh plan also captures web-base-2026-11",
        "a fresh plan also lists web-base-2026-09 (unchanged)",
    ]
    assert plan_differences(fresh, saved) == [
        "the saved plan captures web-base-2026-11, a fresh plan does not list it",
        "the saved plan lists web-base-2026-09, a fresh plan does not list it",
    ]


def test_noop_turned_into_a_change_and_back() -> None:
    fresh = full_plan()
    noop_c = _named(fresh, "web-base-2026-09")
    saved = _with_changes(fresh, *(dataclasses.replace(c, action=Action.UPDATE) if c is noop_c else c
                                   for c in fresh.changes))
    assert plan_differences(saved, fresh) == [
        "the saved plan updates web-base-2026-09, a fresh plan leaves it unchanged"
    ]
    assert plan_differences(fresh, saved) == [
        "the saved plan leaves web-base-2026-09 unchanged, a fresh plan updates it"
    ]


def test_same_action_different_data_names_the_parts() -> None:
    fresh = full_plan()
    upd = _named(fresh, "web-base-2026-10")
    rem = _named(fresh, "web-base-2026-08")
    assert upd.after is not None and rem.before is not None
    forged_upd = dataclasses.replace(
        upd,
        fields=(*upd.fields[:-1], FieldDiff(upd.fields[-1].path, upd.fields[-1].before, "evil")),
        after=dataclasses.replace(upd.after, description="evil", tags={"team": "evil"}),
    )
    forged_rem = dataclasses.replace(rem, before=dataclasses.replace(rem.before, id="/images/someone-elses"))
    saved = _with_changes(fresh, *({upd.key: forged_upd, rem.key: forged_rem}.get(c.key, c) for c in fresh.changes))
    diffs = plan_differences(saved, fresh)
    assert diffs == [
        f"the saved plan's update of web-base-2026-10 differs from a fresh plan's in the field changes "
        f"({upd.fields[-1].path}), the desired image (description, tags)",
        "the saved plan's remove of web-base-2026-08 differs from a fresh plan's in the live image (id)",
    ]


def test_data_is_compared_strictly() -> None:
    # JSON true and 1 are equal in Python, not as plan data.
    fresh = full_plan()
    upd = _named(fresh, "web-base-2026-10")
    assert upd.after is not None
    a = dataclasses.replace(upd, after=dataclasses.replace(upd.after, extra={"x": 1}))
    b = dataclasses.replace(upd, after=dataclasses.replace(upd.after, extra={"x": True}))
    assert plan_differences(_with_changes(fresh, a), _with_changes(fresh, b)) == [
        "the saved plan's update of web-base-2026-10 differs from a fresh plan's in the desired image (extra)"
    ]


def test_names_compare_case_insensitively_but_spelling_counts() -> None:
    fresh = full_plan()
    upd = _named(fresh, "web-base-2026-10")
    saved = _with_changes(fresh, *(dataclasses.replace(c, name="WEB-base-2026-10") if c is upd else c
                                   for c in fresh.changes))
    assert plan_differences(saved, fresh) == [
        "the saved plan's update of WEB-base-2026-10 differs from a fresh plan's in the name "
        "(WEB-base-2026-10 / web-base-2026-10)"
    ]


def test_a_fresh_plan_with_errors_is_a_difference() -> None:
    saved = errored_plan()
    clean = dataclasses.replace(
        saved, errors=(), changes=tuple(dataclasses.replace(c, errors=()) for c in saved.changes)
    )
    diffs = plan_differences(clean, saved)
    assert diffs == [
        "a fresh plan has errors (--target 'nope' matches no declared image and no owned image; "
        "source VM 'ghost' of image 'web-base-2026-12' does not exist)"
    ]


# --------------------------------------------------------------------------------------------------
# Input shape (issue 8, item 5)


def test_bom_is_accepted() -> None:
    data = dump_plan(full_plan(), created=CREATED)
    assert load_plan(b"\xef\xbb\xbf" + data, "plan.json") == compact(full_plan())


@pytest.mark.parametrize(
    "data",
    [
        b'{"plan_file": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # past the JSON decoder's recursion
        b'{"plan_file": ' + b"[" * 500 + b"]" * 500 + b"}",  # decodes, but would overflow the encoder/validator
    ],
    ids=["100k", "500"],
)
def test_deep_nesting_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(PlanFileError) as e:
        load_plan(data, "deep.json")
    assert e.value.message == (
        f"deep.json: the file nests too deeply (more than {MAX_PLAN_DEPTH} levels): it is not a plan file"
    )


def test_deeper_than() -> None:
    assert not deeper_than({"a": [1, {"b": []}]}, 4)  # four containers deep
    assert deeper_than({"a": [1, {"b": [[]]}]}, 4)
    assert not deeper_than(5, 0)
    assert deeper_than([[]] * 3, 1)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (dump_plan(full_plan(), created=CREATED), True),
        (b"\xef\xbb\xbf" + dump_plan(full_plan(), created=CREATED), True),
        (dump_plan(full_plan(), created=CREATED)[:300], True),  # truncated: still the plan file's message
        (json.dumps(render_plan_json(full_plan())).encode(), True),  # plan --format json: load_plan explains
        (b'{"version": 1, "catalog": {"name": "platform"}, "images": []}', False),  # JSON desired state
        (b"\xef\xbb\xbf{\"version\": 1}", False),
        (b"version: 1\ncatalog: {name: platform}\nimages: []\n", False),
        (b"{version: 1, catalog: {name: platform}, images: []}", False),  # YAML flow mapping
        (b'{"images": [{"name": "plan_file"}]}', False),  # the word alone is not the key
        (b"[" * 100_000, False),
        (b'{"plan_file": ' + b"[" * 100_000, True),
        (b"", False),
        (b"\xff\xfe", False),
    ],
)
def test_is_plan_document(data: bytes, expected: bool) -> None:
    assert is_plan_document(data) is expected
