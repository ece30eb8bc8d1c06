"""Table-driven tests of the planner's rules that mutation testing found unpinned (issue 15).

Each test is named for the rule it pins; together they kill the logic mutants of reconciler/plan.py
that the scenario and golden tests let through (docs/testing.md lists the ones left and why). Where
the order of names could matter, the scenario runs with the names sorted both ways.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from planning import CAPS, OWNER, desired, image_of, spec, vm

from reconciler.errors import Diagnostic, Location, Severity
from reconciler.model import Action, Category, Change, ImageType, OSState, Plan, PowerState, Snapshot, Source
from reconciler.plan import REPLACE_REQUESTED, make_plan
from reconciler.plandoc import is_destructive, plan_document, to_dict


def only(plan, name: str):
    (c,) = [c for c in plan.changes if c.name == name]
    return c


# --------------------------------------------------------------------------------------------------
# What a change carries: the live image before, the declared spec after


S = spec("web", label="L")
LIVE = image_of(S)

BEFORE_AFTER = {
    # case: (snapshot images, declared?, expected action, before is the live image, after is the spec)
    "capture": ((), True, Action.CAPTURE, False, True),
    "no-op": ((LIVE,), True, Action.NOOP, True, True),
    "update": ((replace(LIVE, label="old"),), True, Action.UPDATE, True, True),
    "replace": ((replace(LIVE, os_state=OSState.SPECIALIZED),), True, Action.REPLACE, True, True),
    "refused, public": ((replace(LIVE, owner=None, category=Category.PUBLIC),), True, Action.NOOP, True, True),
    "refused, unowned": ((replace(LIVE, owner=None),), True, Action.NOOP, True, True),
    "refused, foreign": ((replace(LIVE, owner="other"),), True, Action.NOOP, True, True),
    "remove": ((LIVE,), False, Action.REMOVE, True, False),
}


@pytest.mark.parametrize("case", BEFORE_AFTER)
def test_every_change_carries_the_live_image_before_and_the_declared_spec_after(case):
    images, declared, action, has_before, has_after = BEFORE_AFTER[case]
    d = desired(S, prune=True) if declared else desired(prune=True)
    c = only(make_plan(d, Snapshot(images=images, vms=(vm("vm-web"),)), CAPS), "web")
    assert c.action is action
    assert c.before == (images[0] if has_before else None)
    assert c.after == (S if has_after else None)


# --------------------------------------------------------------------------------------------------
# What a plan records about how it was made (a saved plan and apply read these back)


@pytest.mark.parametrize(
    ("file_prune", "override", "prune_on"),
    [(False, None, False), (True, None, True), (False, True, True), (True, False, False)],
)
def test_a_plan_records_its_catalog_provider_digest_prune_and_targets(file_prune, override, prune_on):
    d = desired(S, prune=file_prune)
    p = make_plan(d, Snapshot(vms=(vm("vm-web"),)), replace(CAPS, provider="gallery"), prune=override,
                  targets=["WEB", "web", "Other"])
    assert (p.catalog, p.provider, p.desired_digest, p.prune) == (OWNER, "gallery", d.digest, prune_on)
    assert p.targets == ("other", "web"), "casefolded, without duplicates, sorted"
    assert make_plan(d, Snapshot(), CAPS).targets == ()


# --------------------------------------------------------------------------------------------------
# Every diagnostic points at the entry of the file it is about, and at the key it is about: the key's
# own line and column when the file gave positions (test_actionable_messages), else the entry's line


def _at(index: int, line: int, key: str = "") -> Location:
    return Location(file="images.yaml", line=line, col=0, json_path=f"$.images[{index}]" + (f".{key}" if key else ""))


#: The key each error code points at.
_KEY = {"vm-missing": "source.vm", "vm-power-state": "source.vm", "protected": "protect", "foreign": "name",
        "vm-consumed": "source.vm"}


LOCATED = {
    # case: (snapshot, the image entry whose change carries the error, the error's code)
    "capture, VM missing": (Snapshot(), "web", "vm-missing"),
    "replace, VM missing": (Snapshot(images=(replace(LIVE, os_state=OSState.SPECIALIZED),)), "web", "vm-missing"),
    "replace, VM running": (Snapshot(images=(replace(LIVE, os_state=OSState.SPECIALIZED),),
                                     vms=(vm("vm-web", power_state=PowerState.RUNNING),)), "web", "vm-power-state"),
    "replace of a protected image": (Snapshot(images=(replace(LIVE, os_state=OSState.SPECIALIZED, protected=True),),
                                              vms=(vm("vm-web"),)), "web", "protected"),
    "declared name held by another catalog": (Snapshot(images=(replace(LIVE, owner="other"),)), "web", "foreign"),
}


@pytest.mark.parametrize("case", LOCATED)
def test_a_change_error_points_at_its_entry_file_line_and_json_path(case):
    snap, name, code = LOCATED[case]
    first = spec("aaa", line=3)
    d = desired(first, replace(S, line=9))
    p = make_plan(d, Snapshot(images=snap.images, vms=snap.vms + (vm("vm-aaa"),)), CAPS)
    errors = [(e.code, e.location) for e in only(p, name).errors]
    assert (code, _at(1, 9, _KEY[code])) in errors
    assert all(loc == _at(1, 9, _KEY[c]) for c, loc in errors)


@pytest.mark.parametrize("consumer_first", [True, False])
def test_the_vm_consumed_error_points_at_the_entry_of_the_other_capture(consumer_first):
    gen = spec("gen", source=Source(vm="shared"), line=4)
    spc = spec("spc", os_state=OSState.SPECIALIZED, source=Source(vm="shared"), line=12)
    d = desired(*((gen, spc) if consumer_first else (spc, gen)))
    p = make_plan(d, Snapshot(vms=(vm("shared", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),)),
                  CAPS)
    (err,) = only(p, "spc").errors
    assert err.code == "vm-consumed"
    assert err.location == _at(1 if consumer_first else 0, 12, "source.vm")


# --------------------------------------------------------------------------------------------------
# Provider checks (Capabilities.extra_checks): they see the snapshot, and keep what they say


def test_provider_checks_see_the_planned_snapshot_and_keep_their_severity_code_and_location():
    seen = []
    own = Location(file="gallery", json_path="$.definitions.web")

    def checks(s, snapshot):
        seen.append((s.name, snapshot))
        return [Diagnostic.warning("gallery is far", "a hint", code="gallery-far"),
                Diagnostic.error("definition is generalized", "fix it", own, code="gallery-state")]

    caps = replace(CAPS, extra_checks=checks)
    fresh = replace(S, name="new", source=Source(vm="vm-web"), line=2)
    snap = Snapshot(images=(replace(LIVE, os_state=OSState.SPECIALIZED),), vms=(vm("vm-web"),))
    p = make_plan(desired(replace(S, line=5), fresh), snap, caps)

    assert sorted(name for name, _ in seen) == ["new", "web"], "called for a capture and for a replace"
    assert all(snapshot is snap for _, snapshot in seen)
    for name, index, line in (("new", 1, 2), ("web", 0, 5)):
        got = [(e.severity, e.code, e.location) for e in only(p, name).errors]
        assert (Severity.WARNING, "gallery-far", _at(index, line)) in got, "no location: the entry's"
        assert (Severity.ERROR, "gallery-state", own) in got, "its own location is kept"


def test_a_vhd_capture_looks_for_no_source_vm():
    vhd = spec("disk", source=Source(vhd="https://store/disk.vhd"))
    p = make_plan(desired(vhd), Snapshot(), replace(CAPS, vhd_source=True))
    c = only(p, "disk")
    assert (c.action, c.errors, c.destructive, c.consumes_vm) == (Action.CAPTURE, (), False, None)


# --------------------------------------------------------------------------------------------------
# A consumed VM: only another capture or replace from it is a conflict


@pytest.mark.parametrize("consumer", ["aaa-gen", "zzz-gen"])
def test_only_a_capture_or_replace_competes_for_a_consumed_vm(consumer):
    gen = spec(consumer, source=Source(vm="shared"))
    kept = spec("mmm-kept", source=Source(vm="shared"), label="same")
    updated = spec("mmm-upd", source=Source(vm="shared"), label="new")
    snap = Snapshot(images=(image_of(kept), image_of(updated, label="old")), vms=(vm("shared"),))
    p = make_plan(desired(gen, kept, updated), snap, CAPS)
    assert [(c.name, c.action) for c in sorted(p.changes, key=lambda c: c.name)] == sorted(
        [(consumer, Action.CAPTURE), ("mmm-kept", Action.NOOP), ("mmm-upd", Action.UPDATE)])
    assert [e for c in p.changes for e in c.errors] == [], "a no-op or an update does not use the VM"
    assert only(p, consumer).consumes_vm == "shared"


# --------------------------------------------------------------------------------------------------
# Field diffs: display order, paths, and which top-level field a nested path belongs to

FIELD_CAPS = replace(CAPS, image_fields={"zone": "where", "regions": "replicas"},
                     mutable_fields=CAPS.mutable_fields | {"extra.zone", "extra.regions"})


def test_field_diffs_are_in_display_order_not_alphabetical_with_nested_paths_under_their_field():
    s = spec("web", type=ImageType.VM, os="linux", os_state=OSState.GENERALIZED, source=Source(vm="vm-new"),
             family="f2", label="L2", description="D2", recommended_vm_size="big", protect=True,
             tags={"cost.center": "2", "team x": "2"}, extra={"zone": "b", "regions": [{"name": "west"}]})
    live = image_of(s, type=ImageType.OS, os="windows", os_state=OSState.SPECIALIZED, source=Source(vm="vm-old"),
                    family="f1", label="L1", description="D1", recommended_vm_size="small", protected=False,
                    tags={"cost.center": "1", "team x": "1"}, extra={"zone": "a", "regions": [{"name": "east"}]})
    p = make_plan(desired(s), Snapshot(images=(live,), vms=(vm("vm-new"),)), FIELD_CAPS)
    c = only(p, "web")
    assert [f.path for f in c.fields] == [
        "type", "os", "os_state", "source.vm", "family", "label", "description", "recommended_vm_size",
        "tags.cost.center", "tags.team x", "protect", "extra.regions[0].name", "extra.zone",
    ]
    assert c.reason == "type, os, os_state, source cannot change in place"
    assert {f.path: f.forces_replace for f in c.fields if f.forces_replace} == {
        "type": True, "os": True, "os_state": True, "source.vm": True}


SHAPES = {
    # case: (extra field, live value, declared value, the diff's path)
    "list item": ("regions", ["east"], ["west"], "extra.regions[0]"),
    "list in a list": ("regions", [["east"]], [["west"]], "extra.regions[0][0]"),
    "key of a mapping in a list": ("regions", [{"name": "east"}], [{"name": "west"}], "extra.regions[0].name"),
    "key of a mapping": ("zone", {"id": 1}, {"id": 2}, "extra.zone.id"),
    "key of a mapping in a mapping": ("zone", {"id": {"n": 1}}, {"id": {"n": 2}}, "extra.zone.id.n"),
}


@pytest.mark.parametrize("case", SHAPES)
@pytest.mark.parametrize("mutable", [True, False])
def test_a_nested_provider_field_updates_in_place_exactly_when_its_top_field_is_mutable(case, mutable):
    field, before, after, path = SHAPES[case]
    caps = FIELD_CAPS if mutable else replace(FIELD_CAPS, mutable_fields=CAPS.mutable_fields)
    s = spec("web", extra={field: after})
    p = make_plan(desired(s), Snapshot(images=(image_of(s, extra={field: before}),), vms=(vm("vm-web"),)), caps)
    c = only(p, "web")
    assert [(f.path, f.forces_replace) for f in c.fields] == [(path, not mutable)]
    if mutable:
        assert (c.action, c.reason) == (Action.UPDATE, f"{field} differs")
    else:
        assert (c.action, c.reason) == (Action.REPLACE, f"{field} cannot change in place")


@pytest.mark.parametrize("key", ["cost.center", "team x", "a.b.c"])
def test_a_tag_whose_key_has_dots_or_spaces_is_still_a_tag_and_updates_in_place(key):
    s = spec("web", tags={key: "new"})
    p = make_plan(desired(s), Snapshot(images=(image_of(s, tags={key: "old"}),)), CAPS)
    c = only(p, "web")
    assert (c.action, c.reason) == (Action.UPDATE, "tags differ")
    assert [(f.path, f.before, f.after, f.forces_replace) for f in c.fields] == [(f"tags.{key}", "old", "new", False)]


def test_a_capture_lists_only_the_fields_it_sets():
    s = spec("web", label="", description=None, tags={}, protect=False, family="f")
    c = only(make_plan(desired(s), Snapshot(vms=(vm("vm-web"),)), CAPS), "web")
    assert [f.path for f in c.fields] == ["type", "os", "os_state", "source", "family"]


# --------------------------------------------------------------------------------------------------
# What a saved plan depends on


def test_a_saved_plan_depends_on_whatever_holds_a_declared_name_and_on_missing_vms():
    held = replace(LIVE, owner=None, fingerprint="fp-held")
    lost = spec("lost", source=Source(vm="ghost"))
    p = make_plan(desired(S, lost), Snapshot(images=(held,)), CAPS)
    # The VM of the capture ("ghost", missing) is recorded; "web"'s is not: the plan captures nothing
    # from it (the name is held), so nothing it plans reads that VM.
    assert p.fingerprints == {"image:lost": "", "image:web": "fp-held", "vm:ghost": ""}


def test_a_saved_plan_depends_on_the_vms_of_its_captures_and_replaces_only():
    vms = (vm("vm-new"), vm("vm-web"), vm("vm-same"))
    new = spec("new", source=Source(vm="VM-New"))
    same = spec("same", source=Source(vm="vm-same"))
    changed = replace(S, label="changed")  # an update: its VM is not read
    live = (replace(LIVE, owner=OWNER, fingerprint="fp-web"), image_of(same, owner=OWNER, fingerprint="fp-same"))
    p = make_plan(desired(changed, new, same), Snapshot(images=live, vms=vms), CAPS)
    assert [c.action for c in p.changes] == [Action.CAPTURE, Action.NOOP, Action.UPDATE]
    assert {k for k in p.fingerprints if k.startswith("vm:")} == {"vm:vm-new"}
    recaptured = make_plan(desired(changed, new, same), Snapshot(images=live, vms=vms), CAPS, replace=["web"])
    assert {k for k in recaptured.fingerprints if k.startswith("vm:")} == {"vm:vm-new", "vm:vm-web"}


# --------------------------------------------------------------------------------------------------
# What counts as destructive in every output: never a single flag


@pytest.mark.parametrize(
    ("action", "flag", "consumes", "expected"),
    [
        (Action.REMOVE, False, None, True),  # a remove deletes an image, whatever the flag says
        (Action.REPLACE, False, None, True),
        (Action.CAPTURE, False, "build-01", True),  # a capture that consumes its VM
        (Action.CAPTURE, True, None, True),  # the planner's flag alone is enough too
        (Action.UPDATE, True, None, True),
        (Action.CAPTURE, False, None, False),
        (Action.UPDATE, False, None, False),
        (Action.NOOP, False, None, False),
    ],
)
def test_a_change_is_destructive_by_its_action_or_its_consumed_vm_whatever_its_flag(action, flag, consumes, expected):
    c = Change(name="web", action=action, reason="r", destructive=flag, consumes_vm=consumes)
    assert is_destructive(c) is expected


# --------------------------------------------------------------------------------------------------
# --replace: recapture a declared, owned image whatever differs (issue 12)


def _forced(plan) -> list[tuple[str, Action, str, bool, str | None, tuple[str, ...]]]:
    return [(c.name, c.action, c.reason, c.destructive, c.consumes_vm, c.steps) for c in plan.changes]


REPLACED = {
    # case: (live image of S, the change's fields, the VM it consumes)
    "up to date": (LIVE, (), "vm-web"),
    "a field differs": (replace(LIVE, label="old"), (("label", "old", "L"),), "vm-web"),
}


@pytest.mark.parametrize("case", REPLACED)
@pytest.mark.parametrize("name", ["web", "WEB"])
def test_replace_recaptures_a_declared_owned_image_whatever_differs(case, name):
    live, fields, consumes = REPLACED[case]
    p = make_plan(desired(S), Snapshot(images=(live,), vms=(vm("vm-web"),)), CAPS, replace=[name])
    assert _forced(p) == [("web", Action.REPLACE, REPLACE_REQUESTED, True, consumes, ("remove image", "capture image"))]
    c = only(p, "web")
    assert (c.before, c.after, c.errors) == (live, S, ())
    assert [(f.path, f.before, f.after) for f in c.fields] == list(fields)
    assert (p.replace, p.errors) == (("web",), ())


def test_without_replace_the_same_plan_is_a_no_op_and_records_no_replace():
    p = make_plan(desired(S), Snapshot(images=(LIVE,), vms=(vm("vm-web"),)), CAPS)
    assert _forced(p) == [("web", Action.NOOP, "up to date", False, None, ())]
    assert p.replace == ()


@pytest.mark.parametrize("order", ["declared first", "undeclared first"])
def test_replace_of_a_name_not_declared_is_a_plan_error_and_the_declared_ones_still_replace(order):
    names = ["web", "Ghost"] if order == "declared first" else ["Ghost", "web"]
    p = make_plan(desired(S), Snapshot(images=(LIVE,), vms=(vm("vm-web"),)), CAPS, replace=names)
    assert [(e.code, e.severity) for e in p.errors] == [("replace", Severity.ERROR)]
    assert "'Ghost'" in p.errors[0].summary, "named as the user spelled it"
    assert p.replace == ("web",)
    assert only(p, "web").action is Action.REPLACE


def test_replace_checks_capture_preconditions_at_the_entry_and_passes_the_snapshot_to_provider_checks():
    seen = []

    def checks(s, snapshot):
        seen.append(snapshot)
        return [Diagnostic.warning("far", "a hint", code="far")]

    snap = Snapshot(images=(LIVE,))  # no VM: the recapture's source is missing
    d = desired(spec("aaa", line=2), replace(S, line=7))
    p = make_plan(d, Snapshot(images=snap.images, vms=(vm("vm-aaa"),)), replace(CAPS, extra_checks=checks),
                  replace=["web"])
    got = [(e.code, e.location) for e in only(p, "web").errors]
    assert got == [("vm-missing", _at(1, 7)), ("far", _at(1, 7))]
    assert all(s is not None and s.images == snap.images for s in seen)


REPLACE_REFUSED = {
    # case: (live image, action, error code)
    "protected": (replace(LIVE, protected=True), Action.REPLACE, "protected"),
    "unowned": (replace(LIVE, owner=None), Action.NOOP, "unowned"),
    "another catalog's": (replace(LIVE, owner="other"), Action.NOOP, "foreign"),
}


@pytest.mark.parametrize("case", REPLACE_REFUSED)
def test_replace_of_an_image_that_may_not_be_replaced_is_an_error_on_its_change(case):
    live, action, code = REPLACE_REFUSED[case]
    p = make_plan(desired(replace(S, line=4)), Snapshot(images=(live,), vms=(vm("vm-web"),)), CAPS, replace=["web"])
    c = only(p, "web")
    assert c.action is action
    assert [e.code for e in c.errors] == [code]
    if action is Action.REPLACE:
        assert c.errors[0].summary.startswith("--replace: ")
        assert c.errors[0].location == _at(0, 4)


# --------------------------------------------------------------------------------------------------
# Capabilities.set_only_fields: an update that would clear such a field is refused at plan time

SET_ONLY = replace(CAPS, set_only_fields=frozenset({"description"}), provider="classic")

CLEARED = {
    # case: (live description, declared description, live label, declared label, expect an error)
    "clears a set-only field": ("D", None, "L", "L", True),
    "sets a set-only field": (None, "D", "L", "L", False),
    "changes a set-only field": ("D", "E", "L", "L", False),
    "clears a field that is not set-only": ("D", "D", "L", None, False),
}


@pytest.mark.parametrize("case", CLEARED)
def test_an_update_may_not_clear_a_set_only_field(case):
    d_before, d_after, l_before, l_after, refused = CLEARED[case]
    s = spec("web", description=d_after, label=l_after, line=6)
    p = make_plan(desired(spec("aaa", line=2), s), Snapshot(
        images=(image_of(s, description=d_before, label=l_before),), vms=(vm("vm-aaa"),)), SET_ONLY)
    c = only(p, "web")
    assert c.action is Action.UPDATE
    assert [(e.code, e.location) for e in c.errors] == ([("field-not-clearable", _at(1, 6))] if refused else [])
    if refused:
        assert "'web'" in c.errors[0].summary and "classic" in c.errors[0].summary


# --------------------------------------------------------------------------------------------------
# Key positions (DesiredState.positions): an error points at the key's own line and column, else at
# its nearest parent's, else at the entry's line


POSITIONED = {
    # case: (positions given, expected (line, col))
    "the key itself": ({"$.images[1].source.vm": (8, 9), "$.images[1].source": (7, 5), "$.images[1]": (6, 3)},
                       (8, 9)),
    "its parent only": ({"$.images[1].source": (7, 5), "$.images[1]": (6, 3)}, (7, 5)),
    "another entry's key only": ({"$.images[0].source.vm": (3, 9), "$.images[0].source": (2, 5)}, (6, 0)),
    "none": ({}, (6, 0)),
}


@pytest.mark.parametrize("case", POSITIONED)
def test_an_error_points_at_the_position_of_its_key_or_of_the_nearest_parent_that_has_one(case):
    positions, (line, col) = POSITIONED[case]
    d = replace(desired(spec("aaa", line=1), replace(S, line=6)), path="conf/images.yaml", positions=positions)
    p = make_plan(d, Snapshot(vms=(vm("vm-aaa"),)), CAPS)
    (err,) = only(p, "web").errors
    assert (err.code, err.location) == (
        "vm-missing", Location(file="conf/images.yaml", line=line, col=col, json_path="$.images[1].source.vm"))


# --------------------------------------------------------------------------------------------------
# Image.facts (typed provider facts) show in the plan document inside the image's extra (issue 9)


@dataclass(frozen=True)
class Facts:
    definition: str

    def document_fields(self):
        return {"definition": self.definition}


FACTS = replace(LIVE, extra={"zone": "a"}, facts=Facts("web-def"))
MERGED = {"zone": "a", "definition": "web-def"}


def _plan_of(*changes: Change) -> Plan:
    return Plan(catalog=OWNER, provider="test", changes=changes, fingerprints={}, desired_digest="d" * 64)


DOCUMENTED = {
    # case: (the live image, what its document's extra holds)
    "with facts": (FACTS, MERGED),
    "without facts": (replace(FACTS, facts=None), {"zone": "a"}),
}


@pytest.mark.parametrize("case", DOCUMENTED)
def test_an_images_facts_are_merged_into_its_extra_wherever_the_document_shows_it(case):
    live, extra = DOCUMENTED[case]
    update = Change(name="web", action=Action.UPDATE, reason="r", before=live, after=S)
    capture = Change(name="new", action=Action.CAPTURE, reason="r", after=spec("new"))
    plan = _plan_of(capture, update)
    doc = plan_document(plan)
    assert [c["before"] and c["before"]["extra"] for c in doc["resource_changes"]] == [None, extra]
    assert to_dict(plan) == doc
    assert to_dict(live)["extra"] == extra
    assert to_dict(update)["before"]["extra"] == extra
    assert to_dict(capture)["before"] is None
    assert live.extra == {"zone": "a"}, "the image itself is left as it was"
