"""Saved plans (reconciler/planfile.py): every refusal and every difference it words, pinned.

One golden file (tests/fixtures/golden/planfile-messages.txt) holds what ``load_plan`` says for each
kind of file it refuses, what ``stale_reasons`` / ``ensure_fresh`` say for each kind of live change,
and what ``plan_differences`` / ``ensure_same_plan`` say for each kind of difference between a saved
and a fresh plan. A wording change is a reviewed golden diff (``RECONCILER_UPDATE_GOLDEN=1``); the
table tests below pin the logic the golden file cannot show (which documents count as plans, what is
not a difference). Only the planfile functions that survive the codec rewrite are used.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_render_plans import check_golden, errored_plan, full_plan

from reconciler import planfile
from reconciler.errors import Diagnostic, Location, PlanFileError, ReconcilerError, Severity, StalePlanError
from reconciler.model import (
    VM,
    Action,
    Category,
    Change,
    Consumer,
    FieldDiff,
    Image,
    ImageSpec,
    ImageType,
    LatestMove,
    OSState,
    Plan,
    PowerState,
    Snapshot,
    Source,
)
from reconciler.planfile import (
    checksum,
    dump_plan,
    ensure_fresh,
    ensure_same_plan,
    is_plan_document,
    load_plan,
    plan_differences,
    stale_reasons,
)

CREATED = "2026-11-26T07:00:00Z"


def _doc() -> dict:
    return json.loads(dump_plan(full_plan(), created=CREATED))


def _sealed(edit: Callable[[dict], object]) -> bytes:
    """A saved plan edited by a tool that also recomputes the checksum."""
    doc = _doc()
    edit(doc)
    doc["plan_file"].pop("checksum", None)
    doc["plan_file"]["checksum"] = checksum(doc)
    return json.dumps(doc).encode()


def _drop(*keys: str) -> Callable[[dict], object]:
    return lambda d: [d.pop(k) for k in keys]


def _error(e: ReconcilerError) -> str:
    # json's wording of a NaN refusal grew a suffix in Python 3.13; the planner's own words are what is pinned.
    message = re.sub(r"(Out of range float values are not JSON compliant)[^)]*", r"\1", e.message)
    return f"{type(e).__name__}: {message}\n    hint: {e.hint}"


# --------------------------------------------------------------------------------------------------
# load_plan: each refusal


def _unreadable() -> Iterator[tuple[str, bytes]]:
    yield "not JSON", b"hello"
    yield "not UTF-8", b"\xff\xfe{}"
    yield "truncated", b'{"applyable": '
    yield "nested too deeply", b'{"plan_file": ' + b"[" * 70 + b"]" * 70 + b"}"
    yield "a JSON plan without the envelope", b'{"format_version": "1.0", "resource_changes": []}'
    yield "an envelope that is not an object", b'{"plan_file": 3}'
    yield "an envelope without a format", b'{"plan_file": {"version": 1}}'
    yield "another format", b'{"plan_file": {"format": "terraform-plan", "version": 1}}'
    yield "another version", _sealed(lambda d: d["plan_file"].__setitem__("version", 3))
    yield "a version 1 plan (before issue 13)", _sealed(lambda d: d["plan_file"].__setitem__("version", 1))
    yield "a version that is a string", _sealed(lambda d: d["plan_file"].__setitem__("version", "1"))
    yield "no version", _sealed(lambda d: d["plan_file"].pop("version"))
    yield "edited", json.dumps(dict(_doc(), catalog="someone-else")).encode()
    yield "a NaN literal", json.dumps(dict(_doc(), desired_digest=float("nan"))).encode()
    yield "one shape problem", _sealed(_drop("summary"))
    yield "three shape problems", _sealed(_drop("summary", "applyable", "targets"))
    yield "four shape problems", _sealed(_drop("summary", "applyable", "targets", "prune"))
    yield "five shape problems", _sealed(_drop("summary", "applyable", "targets", "prune", "provider"))


def _load_section() -> str:
    out = []
    for title, data in _unreadable():
        try:
            load_plan(data, "plan.json")
            out.append(f"{title}: loaded")
        except PlanFileError as e:
            out.append(f"{title}: {_error(e)}")
    return "## load_plan\n" + "\n".join(out)


def _dump_section() -> str:
    nan = dataclasses.replace(full_plan(), fingerprints={"image:x": float("nan")})  # type: ignore[dict-item]
    with pytest.raises(PlanFileError) as e:
        dump_plan(nan, created=CREATED)
    return f"## dump_plan\na NaN in the plan: {_error(e.value)}"


# --------------------------------------------------------------------------------------------------
# stale_reasons / ensure_fresh: each kind of change in the live catalog


def _img(name: str, fingerprint: str) -> Image:
    return Image(name, ImageType.VM, "linux", OSState.GENERALIZED, owner="platform", fingerprint=fingerprint)


def _vm(name: str, fingerprint: str) -> VM:
    return VM(name, "linux", PowerState.STOPPED, fingerprint=fingerprint)


def _recorded(**fingerprints: str) -> Plan:
    """A plan with no changes that read these fingerprints (``image__web`` -> ``image:web``)."""
    fps = {k.replace("__", ":", 1): v for k, v in fingerprints.items()}
    return Plan(catalog="platform", provider="test", changes=(), fingerprints=fps, desired_digest="sha256:file")


STALE = {
    # case: (plan, live snapshot, the desired-state digest now, or None)
    "nothing changed": (_recorded(image__web="fp1", vm__build="fp2"),
                        Snapshot((_img("web", "fp1"),), (_vm("build", "fp2"),)), "sha256:file"),
    "the desired-state file changed": (_recorded(image__web="fp1"), Snapshot((_img("web", "fp1"),)), "sha256:other"),
    "the file is not checked": (_recorded(image__web="fp1"), Snapshot((_img("web", "fp1"),)), None),
    "an image changed": (_recorded(image__web="fp1"), Snapshot((_img("Web", "fp9"),)), None),
    "an image was deleted, named by its key": (_recorded(image__web="fp1"), Snapshot(), None),
    "an image appeared": (_recorded(image__web=""), Snapshot((_img("WEB", "fp1"),)), None),
    "still absent": (_recorded(image__web="", vm__build=""), Snapshot(), None),
    "present without a fingerprint, as recorded": (_recorded(image__web=""), Snapshot((_img("web", ""),)), None),
    "a VM changed, was deleted, appeared": (
        _recorded(vm__a="fp1", vm__b="fp2", vm__c=""), Snapshot(vms=(_vm("A", "fp9"), _vm("C", "fp3"))), None),
    "images and VMs together, with the file": (
        _recorded(image__zz="fp1", vm__aa="fp2"), Snapshot(), "sha256:other"),
    "a kind this version does not know is skipped": (
        _recorded(image__web="fp1", gallery__defs="fp1", vm__build="fp2"), Snapshot(), None),
    "a name with a colon": (_recorded(**{"image__odd:name": "fp1"}), Snapshot(), None),
}


def _stale_section() -> str:
    out = []
    for title, (plan, snap, digest) in STALE.items():
        out.append(f"{title}: {json.dumps(stale_reasons(plan, snap, digest))}")
        try:
            ensure_fresh(plan, snap, digest)
        except StalePlanError as e:
            out.append(f"  {_error(e)}")
    return "## stale_reasons / ensure_fresh\n" + "\n".join(out)


def test_a_reason_spells_names_as_the_live_catalog_then_the_plan_does():
    cap = _named(full_plan(), CAP)
    assert cap.after is not None
    after = dataclasses.replace(cap.after, source=Source(vm="Build-VM"))
    spelled = dataclasses.replace(cap, name="Web-Img", after=after)
    plan = dataclasses.replace(_recorded(**{"image__web-img": "fp1", "vm__build-vm": "fp2"}), changes=(spelled,))
    assert stale_reasons(plan, Snapshot()) == ["image 'Web-Img' was deleted", "VM 'Build-VM' was deleted"]
    live = Snapshot((_img("WEB-IMG", "fp9"),), (_vm("BUILD-vm", "fp9"),))
    assert stale_reasons(plan, live) == [
        "image 'WEB-IMG' changed since the plan was made", "VM 'BUILD-vm' changed since the plan was made"]


# --------------------------------------------------------------------------------------------------
# plan_differences / ensure_same_plan: each kind of difference between a saved and a fresh plan


def _named(plan: Plan, name: str) -> Change:
    return next(c for c in plan.changes if c.name == name)


def _edit(name: str, **kw: object) -> Plan:
    """``full_plan`` with the change of ``name`` edited."""
    plan = full_plan()
    return dataclasses.replace(
        plan, changes=tuple(dataclasses.replace(c, **kw) if c.name == name else c for c in plan.changes))


def _with_errors(n: int) -> Plan:
    plan = full_plan()
    return dataclasses.replace(plan, errors=tuple(Diagnostic.error(f"problem {i}") for i in range(1, n + 1)))


UPD = "web-base-2026-10"
REM = "web-base-2026-08"
CAP = "web-base-2026-11"


def _differences() -> Iterator[tuple[str, Plan, Plan]]:
    fresh = full_plan()
    upd, rem, cap = _named(fresh, UPD), _named(fresh, REM), _named(fresh, CAP)
    assert rem.before is not None
    yield "the same plan", fresh, fresh
    more = upd.fields + (FieldDiff("recommended_vm_size", None, "big"),)
    yield "a field only the saved plan changes", _edit(UPD, fields=more), fresh
    yield "a field only a fresh plan changes", fresh, _edit(UPD, fields=more)
    yield "a path listed twice", _edit(UPD, fields=upd.fields + upd.fields[-1:]), fresh
    yield "two fields differ", _edit(UPD, fields=(FieldDiff("label", "x", "y"), FieldDiff("description", "", "z"))), \
        fresh
    yield "the live image differs in two keys", _edit(
        REM, before=dataclasses.replace(rem.before, id="/other", label="other")), fresh
    yield "steps, the consumed VM and the destructive flag", _edit(
        CAP, steps=("capture image", "capture image"), consumes_vm="other-vm", destructive=not cap.destructive), fresh
    yield "only the steps", _edit(CAP, steps=()), fresh
    yield "only the consumed VM", _edit(CAP, consumes_vm=None), fresh
    yield "only the destructive flag", _edit(CAP, destructive=not cap.destructive), fresh
    yield "a fresh plan with three errors", fresh, _with_errors(3)
    yield "a fresh plan with four errors", fresh, _with_errors(4)
    yield "a fresh plan with five errors", fresh, _with_errors(5)
    yield "a fresh plan with errors on its changes", fresh, errored_plan()


def _same_section() -> str:
    out = []
    for title, saved, fresh in _differences():
        out.append(f"{title}: {json.dumps(plan_differences(saved, fresh), indent=2)}")
        try:
            ensure_same_plan(saved, fresh, "saved.json")
        except PlanFileError as e:
            out.append(f"  {_error(e)}")
    return "## plan_differences / ensure_same_plan\n" + "\n".join(out)


def test_every_saved_plan_message_is_pinned():
    sections = [_load_section(), _dump_section(), _stale_section(), _same_section()]
    check_golden("planfile-messages.txt", "\n\n".join(sections) + "\n")


# --------------------------------------------------------------------------------------------------
# Logic the golden file cannot show


def test_a_schema_valid_file_the_reader_cannot_rebuild_is_a_plan_file_error_not_a_crash(monkeypatch):
    # Defence in depth: if the schema and the reader ever disagree, the user gets a message.
    def reader_that_disagrees(doc):
        raise KeyError("resource_changes")

    monkeypatch.setattr(planfile, "plan_from_document", reader_that_disagrees)
    with pytest.raises(PlanFileError) as e:
        load_plan(dump_plan(full_plan(), created=CREATED), "plan.json")
    assert (e.value.message, e.value.hint) == (
        "plan.json: the plan file could not be read back (KeyError('resource_changes'))",
        "run `reconciler plan --out FILE` again and apply the new file",
    )


@pytest.mark.parametrize(
    "kind",
    ["tag order", "extra order", "non-ASCII text"],
)
def test_data_equal_up_to_key_order_is_no_difference_and_any_text_compares(kind):
    fresh = full_plan()
    upd = _named(fresh, UPD)
    assert upd.after is not None and upd.before is not None
    if kind == "tag order":
        one, other = {"a": "1", "b": "2"}, {"b": "2", "a": "1"}
        saved_after = dataclasses.replace(upd.after, tags=one)
        fresh_after = dataclasses.replace(upd.after, tags=other)
    elif kind == "extra order":
        one, other = {"x": {"p": 1, "q": 2}}, {"x": {"q": 2, "p": 1}}
        saved_after = dataclasses.replace(upd.after, extra=one)
        fresh_after = dataclasses.replace(upd.after, extra=other)
    else:
        saved_after = fresh_after = dataclasses.replace(upd.after, label="café \u202e")
    saved = dataclasses.replace(fresh, changes=(dataclasses.replace(upd, after=saved_after),))
    again = dataclasses.replace(fresh, changes=(dataclasses.replace(upd, after=fresh_after),))
    assert plan_differences(saved, again) == []
    changed = dataclasses.replace(saved_after, label="café")
    assert plan_differences(saved, dataclasses.replace(fresh, changes=(dataclasses.replace(upd, after=changed),))) \
        == [f"the saved plan's update of {UPD} differs from a fresh plan's in the desired image (label)"]


_DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\n  " + dump_plan(full_plan(), created=CREATED), True),  # leading whitespace
        (b"\n  " + dump_plan(full_plan(), created=CREATED)[:300], True),  # ... and truncated
        (b'{"plan_file": {}}', True),  # the envelope alone
        (b'{"format_version": "1.0", "resource_changes": []}', True),  # plan --format json, nothing else
        (b'{"format_version": "1.0"}', False),
        (b'{"resource_changes": []}', False),
        # past the JSON decoder's recursion: judged by the opening, or by the envelope's key anywhere
        (b'{"applyable": ' + _DEEP + b"}", True),
        (b'\n {"applyable": ' + _DEEP + b"}", True),
        (b'{"zzz": ' + _DEEP + b', "plan_file": {}}', True),
        (b'{"images": ' + _DEEP + b"}", False),
        (b'{"images": ' + _DEEP + b', "PLAN_FILE": {}}', False),
    ],
    ids=["whitespace", "whitespace-truncated", "envelope-only", "json-plan-minimal", "format-version-only",
         "resource-changes-only", "deep-applyable", "deep-whitespace", "deep-envelope-later", "deep-desired",
         "deep-upper-case"],
)
def test_what_counts_as_a_plan_document(data: bytes, expected: bool) -> None:
    assert is_plan_document(data) is expected


# --------------------------------------------------------------------------------------------------
# Every field survives the round trip, each with a value other than its default


def _not_defaults(obj: object) -> list[str]:
    """The fields of ``obj`` that hold their default value (a round trip dropping them would pass)."""
    same = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            same.append(f.name)
        if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
            same.append(f.name)
    return same


def test_every_field_of_a_saved_plan_survives_the_round_trip_with_a_non_default_value():
    where = Location(file="images.yaml", line=4, col=7, json_path="$.images[0]")
    source = Source(vm="build", vhd="https://store/d.vhd", generalize=True, storage_account="store", image="img",
                    snapshot="snap", disk="disk", data_snapshots=("d0",), deprovision=True, sysprepped=True)
    live = Image("web", ImageType.OS, "windows", OSState.SPECIALIZED, category=Category.PUBLIC, family="f",
                 label="L", description="D", recommended_vm_size="big", tags={"t": "1"}, owner="platform",
                 protected=True, source=source, data_disks=2, extra={"zone": [1, {"a": None}]}, id="/images/web",
                 fingerprint="fp", created="2026-01-01T00:00:00Z", failed="provisioning failed",
                 footprint={"Standard_LRS": 30.0, "Premium_LRS": 2.5})
    declared = ImageSpec("web", ImageType.OS, "windows", OSState.SPECIALIZED, source, family="f", label="L",
                         description="D", recommended_vm_size="big", tags={"t": "1"}, protect=True,
                         extra={"zone": [1, {"a": None}]}, line=4)
    warn = Diagnostic(Severity.WARNING, "careful", "a hint", where, code="protected")
    err = Diagnostic(Severity.ERROR, "broken", "fix it", where, code="vm-missing")
    change = Change("web", Action.REPLACE, "type cannot change in place", before=live, after=declared,
                    fields=(FieldDiff("type", "vm", "os", forces_replace=True),), destructive=True,
                    consumes_vm="build", steps=("remove image", "capture image"), errors=(err,), warnings=(warn,),
                    held_by=(Consumer("vmss", "vmss-web", "web", via="definition", instances=14, scope="sub/rg",
                                      id="/vmss/vmss-web"),),
                    stored={"Standard_LRS": 60.0}, freed={"Standard_LRS": 30.0, "Premium_LRS": 2.5},
                    waiting="dev:web is 1h old, needs 72h")
    plan = Plan("platform", "gallery", (change,), {"image:web": "fp"}, "sha256:file", prune=True,
                targets=("web",), errors=(err,), warnings=(warn,), replace=("web",), now="2026-12-01T11:00:00Z",
                latest=(LatestMove("web-base", "1.3.2", "1.4.0", regions=("westeurope",), due="2026-12-02T11:00:00Z"),))
    # ``Image.facts`` (typed provider facts) is stored by no format: the document shows them inside
    # the image's ``extra`` (``plandoc._with_facts``), and a saved plan reads them back there.
    # ``Change.known_family`` is the family of a bare no-op, which only ``unchanged`` holds (by
    # family: tests/unit/test_plan_document_v2.py); a listed change has its family in before/after.
    # ``Plan.unchanged`` (the planner's up-to-date specs) is stored as ``unchanged`` too, and read
    # back as bare no-ops (tests/unit/test_plan_unchanged.py).
    unstored = {Image: {"facts"}, Change: {"known_family"}, Plan: {"unchanged"}}
    for obj in (live, declared, source, where, warn, change, plan):
        assert [f for f in _not_defaults(obj) if f not in unstored.get(type(obj), set())] == [], type(obj).__name__

    back = load_plan(dump_plan(plan, created=CREATED), "plan.json")
    assert back == plan
    assert back.changes[0].after is not None and back.changes[0].after.line == 4, "line is not compared: check it"
    assert back.changes[0].warnings == (warn,) and back.warnings == (warn,)


def test_the_published_plan_schema_is_the_packaged_file_load_plan_checks_against():
    packaged = json.loads((Path(planfile.__file__).parent / "schemas" / "plan.schema.json").read_text("utf-8"))
    schema = planfile.plan_schema()
    assert schema == packaged
    schema.clear()  # a copy: a caller cannot change what load_plan checks
    assert planfile.plan_schema() == packaged
