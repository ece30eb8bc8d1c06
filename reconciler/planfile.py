"""Saved plans (design §4): write a Plan as a checked JSON file, read it back exactly, detect staleness.

Layer: pure core. Bytes in, bytes out: the caller (``cli.py``) reads and writes the file and passes
the creation time in; nothing here touches the clock, the environment or the disk. Imports only
``model``, ``errors``, ``plandoc`` and jsonschema.

The saved file is the JSON plan document (``plandoc.plan_document``) plus a ``plan_file``
envelope ``{format, version, created, checksum}``. The checksum is the SHA-256 of the canonical
JSON of the whole document without the checksum itself, so an edited plan (a hand-tweaked
action, a removed error) is refused instead of applied. It is a tamper *evident* seal against
accidents and well-meaning edits, not a signature: anyone can recompute it. What makes a saved
plan trustworthy is ``ensure_same_plan``: apply plans again and runs the saved changes only if
they equal the fresh plan's (docs/plan-format.md, "What applying a saved plan guarantees").
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is imported when a saved plan is read, not by every command
    from jsonschema import Draft202012Validator

from .errors import PlanFileError, StalePlanError
from .model import Action, Change, Plan, Snapshot
from .plandoc import plan_document, plan_from_document, to_dict

FORMAT = "reconciler-plan"
#: 2 (issue 13): plan document 2.0 (unchanged images as family -> name -> fingerprint), no indentation.
VERSION = 2

_RERUN = "run `reconciler plan --out FILE` again and apply the new file"

#: The deepest nesting a plan file may have. A plan holds desired-state values (at most
#: ``spec.MAX_DEPTH`` = 32 levels) a few levels down; 64 leaves room and stops a hostile file
#: before any recursive code (the JSON encoder, the schema validator) sees it.
MAX_PLAN_DEPTH = 64


# --------------------------------------------------------------------------------------------------
# Writing


def canonical_json(doc: Any) -> bytes:
    """The one byte form the checksum is computed over: sorted keys, no spaces, ASCII escapes.

    ASCII escapes (rather than raw UTF-8) keep any string Python can hold, lone surrogates
    included, round-trippable; NaN and infinities are refused because JSON cannot carry them.
    """
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def checksum(doc: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of ``doc`` with ``plan_file.checksum`` left out."""
    body = dict(doc)
    envelope = dict(body.get("plan_file") or {})
    envelope.pop("checksum", None)
    if "plan_file" in body:
        body["plan_file"] = envelope
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def dump_plan(plan: Plan, *, created: str) -> bytes:
    """The saved-plan file for ``plan``: its canonical JSON (sorted keys, no spaces, ASCII), then a
    newline. ``created`` is the caller's timestamp (ISO 8601); it is covered by the checksum.

    The file is the very bytes the checksum is computed over, with the checksum put into the
    envelope: one serialization, by the C encoder (an indented file took a second, Python-level
    one, and most of the time of ``plan --out``).
    """
    doc = plan_document(plan)
    envelope = {"created": created, "format": FORMAT, "version": VERSION}
    doc["plan_file"] = envelope
    try:
        body = canonical_json(doc)
    except ValueError as e:
        raise PlanFileError(
            f"the plan holds a value JSON cannot carry ({e})",
            "this is a bug in the planner or a provider: report it with the desired-state file",
        ) from e
    sealed = {"checksum": "sha256:" + hashlib.sha256(body).hexdigest(), **envelope}
    # Sorted keys put the envelope at the top level after "format_version"; no key or string before
    # it can hold this text (strings escape their quotes), so the first match is the envelope.
    unsealed_text = b'"plan_file":' + canonical_json(envelope)
    at = body.index(unsealed_text)
    return body[:at] + b'"plan_file":' + canonical_json(sealed) + body[at + len(unsealed_text):] + b"\n"


# --------------------------------------------------------------------------------------------------
# Reading


@cache
def _schema_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    text = resources.files("reconciler").joinpath("schemas", "plan.schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of the plan document (``schemas/plan.schema.json``)."""
    schema = _schema_validator().schema
    assert isinstance(schema, Mapping), "the plan schema is an object"
    return dict(schema)


def validate_plan_document(doc: Any) -> list[str]:
    """Every schema violation of a plan document, as ``$.json.path: message``, sorted by path."""
    errors = sorted(_schema_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{e.json_path}: {e.message}" for e in errors]


def load_plan(data: bytes, filename: str) -> Plan:
    """Rebuild the exact ``Plan`` saved by ``dump_plan``, or refuse with ``PlanFileError``.

    Checks, in order: JSON, the ``plan_file`` envelope (format, version), the checksum, the
    document's shape (the schema), then builds the plan.
    """
    try:
        doc = json.loads(data.decode("utf-8-sig"))  # a BOM (added by some editors) is not an edit
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PlanFileError(
            f"{filename}: the file is truncated or not a plan file ({e})",
            f"pass the file written by `reconciler plan --out`, or {_RERUN}",
        ) from e
    except RecursionError:
        doc = _TOO_DEEP
    if doc is _TOO_DEEP or deeper_than(doc, MAX_PLAN_DEPTH):
        raise PlanFileError(
            f"{filename}: the file nests too deeply (more than {MAX_PLAN_DEPTH} levels): it is not a plan file",
            f"pass the file written by `reconciler plan --out`, or {_RERUN}",
        )
    envelope = doc.get("plan_file") if isinstance(doc, dict) else None
    if not isinstance(envelope, dict) or "format" not in envelope:
        raise PlanFileError(
            f"{filename} is not a reconciler plan file (it has no plan_file.format)",
            "a JSON plan printed by `plan --format json` cannot be applied: save one with `plan --out FILE`",
        )
    if envelope.get("format") != FORMAT:
        raise PlanFileError(
            f"{filename} is a '{envelope.get('format')}' file, not a reconciler plan",
            "pass the file written by `reconciler plan --out`",
        )
    if envelope.get("version") == 1:
        raise PlanFileError(
            f"{filename} is a version 1 plan file, written by an older reconciler; this one reads version "
            f"{VERSION} (unchanged images are saved as fingerprints since)",
            f"{_RERUN} with this version of reconciler: a saved plan is applied by the version that made it",
        )
    if envelope.get("version") != VERSION:
        raise PlanFileError(
            f"{filename} is plan file version {envelope.get('version')!r}; this reconciler reads version {VERSION}",
            f"{_RERUN} with this version of reconciler",
        )
    try:
        expected = checksum(doc)
    except ValueError as e:  # NaN/Infinity literals: json accepts them, canonical JSON does not
        raise PlanFileError(f"{filename}: the plan file holds values JSON does not allow ({e})", _RERUN) from e
    if envelope.get("checksum") != expected:
        raise PlanFileError(
            f"{filename}: the plan file was edited after it was written: run plan again",
            f"its checksum does not match its content; {_RERUN}",
        )
    problems = validate_plan_document(doc)
    if problems:
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        raise PlanFileError(
            f"{filename}: the plan file does not have the shape of a plan: {shown}",
            f"it may come from another tool or an incompatible version; {_RERUN}",
        )
    try:
        return plan_from_document(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise PlanFileError(f"{filename}: the plan file could not be read back ({e!r})", _RERUN) from e


_TOO_DEEP: Any = object()


def deeper_than(doc: Any, limit: int) -> bool:
    """Whether ``doc`` nests lists and objects more than ``limit`` levels deep (no recursion).

    Parsed JSON that passed the decoder can still be deep enough to exhaust the recursion of the
    JSON encoder or the schema validator: this is checked before either sees it.
    """
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


_PLAN_START = re.compile(r'\{\s*"(?:applyable|plan_file|format_version)"\s*:')


def is_plan_document(data: bytes) -> bool:
    """Whether ``data`` is meant as a saved plan rather than a desired-state file, by its content.

    A plan is a JSON object with a top-level ``plan_file`` key (the envelope), or with the
    ``format_version`` and ``resource_changes`` of a plan printed by ``plan --format json`` (which
    ``load_plan`` then refuses with its own message). Text that is not complete JSON but opens
    the way ``dump_plan`` writes a file (sorted keys: ``{"applyable": ...``) is a truncated plan.
    Anything else is a desired-state file, whatever its name: JSON is YAML.
    """
    text = data.decode("utf-8-sig", errors="replace")
    if not text.lstrip().startswith("{"):
        return False
    try:
        doc = json.loads(text)
    except RecursionError:
        return _PLAN_START.match(text.lstrip()) is not None or '"plan_file"' in text
    except ValueError:
        return _PLAN_START.match(text.lstrip()) is not None
    return isinstance(doc, dict) and ("plan_file" in doc or {"format_version", "resource_changes"} <= doc.keys())


# --------------------------------------------------------------------------------------------------
# Staleness


def stale_reasons(plan: Plan, snapshot: Snapshot, desired_digest: str | None = None) -> list[str]:
    """Why ``plan`` no longer matches the live ``snapshot`` (and the desired-state file); [] if it does.

    Only keys the plan recorded count: the planner records everything the plan depends on
    (declared names, owned images, source VMs and disks, live families), so unrelated catalog activity — someone else's
    new image, a public image update — never makes a plan stale. A recorded fingerprint ``""``
    means the image or VM was absent when the plan was made.
    """
    reasons: list[str] = []
    if desired_digest is not None and desired_digest != plan.desired_digest:
        reasons.append("the desired-state file changed since the plan was made")
    now = snapshot.fingerprints()
    names = _display_names(plan, snapshot)
    recorded = plan.fingerprints
    image_reasons: list[tuple[str, str]] = []
    vm_reasons: list[tuple[str, str]] = []
    for key in sorted(recorded):
        kind, _, bare = key.partition(":")
        if kind not in ("image", "vm", "source", "family"):
            continue
        # A family: a live gallery definition the plan compared or captures into (issue 10 §2).
        noun = {"image": "image", "vm": "VM", "family": "family"}.get(kind)
        # A capture's managed image, snapshot or disk (issue 10 §3): "" now is one that is gone.
        label = f"{noun} '{names.get(key, bare)}'" if noun else "source {} '{}'".format(*bare.partition(":")[::2])
        was = recorded.get(key)
        current = now.get(key) if noun or now.get(key) != "" else None
        if was is None or was == "":
            reason = f"{label} appeared" if current is not None and (was is None or current != "") else None
        elif current is None:
            reason = f"{label} was deleted"
        elif current != was:
            reason = f"{label} changed since the plan was made"
        else:
            reason = None
        if reason is not None:
            (image_reasons if kind == "image" else vm_reasons).append((key, reason))
    return reasons + [r for _, r in image_reasons] + [r for _, r in vm_reasons]


def ensure_fresh(plan: Plan, snapshot: Snapshot, desired_digest: str | None = None) -> None:
    """Raise ``StalePlanError`` naming every difference when the saved plan is stale."""
    reasons = stale_reasons(plan, snapshot, desired_digest)
    if not reasons:
        return
    raise StalePlanError(
        f"Saved plan is stale: {'; '.join(reasons)}",
        "run `reconciler plan --out FILE` again, review it, and apply the new file",
    )


def _display_names(plan: Plan, snapshot: Snapshot) -> dict[str, str]:
    """``image:key`` / ``vm:key`` -> the name as spelled by the live catalog or the plan."""
    names: dict[str, str] = {}
    for c in plan.changes:
        names[f"image:{c.key}"] = c.name
        if c.after is not None and c.after.source.vm:
            names[f"vm:{c.after.source.vm.casefold()}"] = c.after.source.vm
    for i in snapshot.images:
        names[f"image:{i.key}"] = i.name
    for v in snapshot.vms:
        names[f"vm:{v.key}"] = v.name
    for k, f in snapshot.families.items():
        names[f"family:{k}"] = f.spec.name
    return names


# --------------------------------------------------------------------------------------------------
# Same plan: the saved changes equal a fresh plan's (the answer to a re-sealed, edited file)


_DOES = {
    Action.CAPTURE: "captures",
    Action.UPDATE: "updates",
    Action.REPLACE: "replaces",
    Action.REMOVE: "removes",
}


def _does(action: Action, name: str) -> str:
    return f"leaves {name} unchanged" if action is Action.NOOP else f"{_DOES[action]} {name}"


def _data(value: Any) -> bytes:
    """Type-strict equality of plain data: JSON ``1`` and ``true`` differ, key order does not."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _differing_keys(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[str]:
    a, b = a or {}, b or {}
    return sorted(k for k in set(a) | set(b) if k not in a or k not in b or _data(a[k]) != _data(b[k]))


def _change_differences(saved: Change, fresh: Change) -> list[str]:
    """What differs between two changes to the same image with the same action, as phrases."""
    what: list[str] = []
    if saved.name != fresh.name:
        what.append(f"the name ({saved.name} / {fresh.name})")
    s_fields = {f.path: to_dict(f) for f in saved.fields}
    f_fields = {f.path: to_dict(f) for f in fresh.fields}
    paths = _differing_keys(s_fields, f_fields)
    if paths or len(s_fields) != len(saved.fields):  # a path listed twice is a difference too
        what.append(f"the field changes ({', '.join(paths) or 'a path listed twice'})")
    after = _differing_keys(
        {k: v for k, v in to_dict(saved.after).items() if k != "line"} if saved.after else None,
        {k: v for k, v in to_dict(fresh.after).items() if k != "line"} if fresh.after else None,
    )
    if after:
        what.append(f"the desired image ({', '.join(after)})")
    before = _differing_keys(
        to_dict(saved.before) if saved.before else None, to_dict(fresh.before) if fresh.before else None
    )
    if before:
        what.append(f"the live image ({', '.join(before)})")
    for label, a, b in (
        ("steps", list(saved.steps), list(fresh.steps)),
        ("the consumed VM", saved.consumes_vm, fresh.consumes_vm),
        ("the destructive flag", saved.destructive, fresh.destructive),
        # Held or not counts; who holds it (a scale set's capacity) may move between plan and apply.
        ("whether it is held (in use)", saved.held, fresh.held),
        ("whether it is a waiting promotion", saved.waiting, fresh.waiting),
    ):
        if _data(a) != _data(b):
            what.append(label)
    return what


def plan_differences(saved: Plan, fresh: Plan) -> list[str]:
    """Every way the saved plan's changes differ from a fresh plan's; [] when they are the same.

    Changes are matched by image (names compare case-insensitively) and compared as data: the
    action, the name, the field diff, the desired and live images apply acts on, the steps and
    the flags; of a no-op, its family only. Order does not count (apply orders changes itself);
    an image listed twice does. ``reason`` (display only) and the spec's ``line`` do not count. A
    fresh plan with errors is a difference too: the saved plan has none (it would not be applyable
    otherwise).
    Messages name the image and both sides: "the saved plan removes web-01, a fresh plan
    updates it".
    """
    out: list[str] = []
    fresh_by_key = {c.key: c for c in fresh.all_changes()}  # the no-ops listed by spec too
    saved_by_key: dict[str, Change] = {}
    counts: dict[str, int] = {}
    for c in saved.all_changes():
        counts[c.key] = counts.get(c.key, 0) + 1
        saved_by_key.setdefault(c.key, c)
    for key, c in saved_by_key.items():
        n = counts[key]
        if n > 1:
            out.append(f"the saved plan lists {c.name} {'twice' if n == 2 else f'{n} times'}")
        f = fresh_by_key.get(key)
        if f is None:
            side = f"lists {c.name}" if c.action is Action.NOOP else _does(c.action, c.name)
            out.append(f"the saved plan {side}, a fresh plan does not list it")
        elif f.action is not c.action:
            out.append(f"the saved plan {_does(c.action, c.name)}, a fresh plan {_does(f.action, 'it')}")
        elif c.action is Action.NOOP:
            # A saved no-op is a name and its family (its image's fingerprint is checked by
            # ensure_fresh); apply never acts on one, but ``show`` counts it under its family.
            if (c.family or "") != (f.family or ""):
                out.append(f"the saved plan lists {c.name} in family {c.family or '(none)'}, "
                           f"a fresh plan in {f.family or '(none)'}")
        else:
            what = _change_differences(c, f)
            if what:
                out.append(
                    f"the saved plan's {c.action.word} of {c.name} differs from a fresh plan's in {', '.join(what)}"
                )
    for key, f in fresh_by_key.items():
        if key not in saved_by_key:
            side = f"lists {f.name} (unchanged)" if f.action is Action.NOOP else _does(f.action, f.name)
            out.append(f"a fresh plan also {side}")
    if fresh.errored:
        shown = "; ".join(d.summary for d in fresh.all_errors[:3])
        more = len(fresh.all_errors) - 3
        out.append(f"a fresh plan has errors ({shown}{f'; and {more} more' if more > 0 else ''})")
    return out


def ensure_same_plan(saved: Plan, fresh: Plan, filename: str) -> None:
    """Raise ``PlanFileError`` naming every difference when ``saved`` is not what ``fresh`` plans.

    ``fresh`` is the plan made now from the same desired-state file and the live catalog, with
    the saved plan's own ``prune`` and ``targets``. Together with ``ensure_fresh`` this is what
    makes a saved plan trustworthy: its checksum only detects edits, anyone can recompute it.
    """
    diffs = plan_differences(saved, fresh)
    if diffs:
        raise PlanFileError(
            f"{filename} is not the plan the desired-state file and the live catalog give now: "
            f"{'; '.join(diffs)}: run plan again",
            "the file was edited (and re-sealed) or made from other inputs; nothing was changed. "
            "Run `reconciler plan --out FILE` again, review it, and apply the new file",
        )


__all__ = [
    "FORMAT",
    "MAX_PLAN_DEPTH",
    "VERSION",
    "canonical_json",
    "checksum",
    "deeper_than",
    "dump_plan",
    "ensure_fresh",
    "ensure_same_plan",
    "is_plan_document",
    "load_plan",
    "plan_differences",
    "plan_from_document",
    "plan_schema",
    "stale_reasons",
    "validate_plan_document",
]
