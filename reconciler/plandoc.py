"""The JSON plan document (``schemas/plan.schema.json``): a ``Plan`` as plain data and back.

Layer: pure core. Imports only ``model``, ``errors``, ``codec`` and the package version. The one
home of the document's layout: ``render`` prints it (``plan --format json``) and ``planfile``
seals it into a saved plan and reads it back, so neither imports the other.

The layout is the model's own, field for field (``codec``), except what ``PLAN_FORMAT`` says:
an action is written by its word, a change carries display keys derived from it (``family``,
Terraform's ``actions``, ``symbol``, ``replace_paths``), and the plan has a version header, a
``summary`` and one ``diagnostics`` list for its errors and warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from operator import itemgetter
from typing import Any

from . import __version__
from .codec import OMIT, Codec, Shape
from .errors import Diagnostic, Severity
from .model import UP_TO_DATE, Action, Change, Image, LatestMove, Plan, Source

#: Version of the JSON plan document (``format_version``). Minor bumps only add fields. 2.0 (issue
#: 13): an unchanged image is a name and a fingerprint in ``unchanged``, grouped by family (``""``:
#: none), no longer a change with its full before and after, so a document costs what changed.
FORMAT_VERSION = "2.0"


def is_destructive(change: Change) -> bool:
    """A change that deletes an image or consumes a VM, whatever flag the planner set.

    Display code never trusts a single flag for safety: a remove or replace is destructive by
    definition, and so is any capture that names a VM it consumes.
    """
    return change.destructive or change.action in (Action.REMOVE, Action.REPLACE) or change.consumes_vm is not None


def _summary(plan: Plan) -> dict[str, int]:
    counts = plan.counts()
    return {
        "capture": counts["capture"],
        "update": counts["update"],
        "replace": counts["replace"],
        "remove": counts["remove"],
        "no_op": plan.noop_count,
        "destructive": sum(1 for c in plan.pending if is_destructive(c)),
        **({"held": len(plan.held)} if plan.held else {}),
        **({"waiting": len(plan.waiting)} if plan.waiting else {}),
    }


def storage_totals(plan: Plan) -> Any:
    """The plan's storage totals (issue 11 §5): GiB stored by its captures and freed by its removes,
    by storage type and in all; ``OMIT`` when no change's footprint is known (documents of plans
    without footprints are what they were)."""
    per_type = plan.storage()
    if not per_type["stored"] and not per_type["freed"]:
        return OMIT
    return {**per_type, "stored_gib": sum(per_type["stored"].values()), "freed_gib": sum(per_type["freed"].values())}


def _replace_paths(c: Change) -> Any:
    return [f.path for f in c.fields if f.forces_replace] if c.action is Action.REPLACE else OMIT


def _diagnostics(plan: Plan) -> list[dict[str, Any]]:
    return [PLAN_FORMAT.to_dict(d) for d in plan.errors + plan.warnings]


#: The plan document's format. ``resource_changes`` keep plan (apply) order and include no-ops,
#: so the document rebuilds the exact ``Plan``; only the human views reorder.
PLAN_FORMAT = Codec(
    shapes={
        Plan: Shape(
            keys=(
                "format_version",
                "reconciler_version",
                "catalog",
                "provider",
                "applyable",
                "errored",
                "prune",
                "targets",
                "replace",
                "summary",
                "storage",
                "changes",
                "diagnostics",
                "desired_digest",
                "fingerprints",
                "now",
                "latest",
            ),
            rename={"changes": "resource_changes"},
            # Left out when empty: documents without --replace (issue 11: without a time-based rule,
            # without a latest move) are what they were before these existed.
            omit_defaults=frozenset({"replace", "now", "latest"}),
            computed={
                "format_version": lambda p: FORMAT_VERSION,
                "reconciler_version": lambda p: __version__,
                "applyable": lambda p: p.applyable,
                "errored": lambda p: p.errored,
                "summary": _summary,
                "storage": storage_totals,
                "diagnostics": _diagnostics,
            },
        ),
        # A live image's typed provider facts are not a field of the document: ``_with_facts``
        # writes them into its ``extra``; read back, they stay there (plain data, never checked).
        # ``failed`` is left out when None: documents of images that did not fail are what they were.
        LatestMove: Shape(omit_defaults=frozenset({"regions", "due"})),
        Image: Shape(exclude=frozenset({"facts"}), omit_defaults=frozenset({"failed", "footprint"})),
        # The sources beyond vm/vhd and the guest steps are left out when unset: documents of VM and
        # VHD captures are what they were before these existed.
        Source: Shape(omit_defaults=frozenset({"image", "snapshot", "disk", "data_snapshots", "deprovision",
                                               "sysprepped"})),
        Change: Shape(
            keys=(
                "name",
                "family",
                "action",
                "actions",
                "symbol",
                "reason",
                "destructive",
                "consumes_vm",
                "steps",
                "before",
                "after",
                "fields",
                "errors",
                "warnings",
                "replace_paths",
                "held_by",
                "stored",
                "freed",
                "waiting",
            ),
            # Issue 11: left out when empty, so documents of plans without them are what they were.
            omit_defaults=frozenset({"held_by", "stored", "freed", "waiting"}),
            computed={
                "family": lambda c: c.family,
                "actions": lambda c: c.action.tf_actions,
                "symbol": lambda c: c.action.value,
                "replace_paths": _replace_paths,
            },
        ),
    },
    enums={Action: "word"},
)


def _with_facts(image: Image | None, doc: dict[str, Any] | None) -> None:
    """Merge ``image.facts`` (``model.ProviderFacts``) into the ``extra`` of its document ``doc``.

    Provider facts travelled in ``extra`` before they were typed; the document keeps them there,
    so plan JSON, saved plans and ``images list --format json`` are what they were.
    """
    if image is not None and image.facts is not None and doc is not None:
        doc["extra"] = {**doc["extra"], **image.facts.document_fields()}


def is_unchanged(change: Change) -> bool:
    """A no-op with nothing to say (no error, no warning): the document lists it in ``unchanged``,
    by name and fingerprint, instead of as a change with its before and after."""
    return change.action is Action.NOOP and not change.errors and not change.warnings


def _unchanged_fingerprint(plan: Plan, change: Change) -> str:
    if change.before is not None:
        return change.before.fingerprint
    return plan.fingerprints.get(f"image:{change.key}", "")


def _unchanged(plan: Plan) -> dict[str, dict[str, str]]:
    """The unchanged images of ``plan`` (``is_unchanged``) as the document keeps them: family
    (``""``: none) -> name -> fingerprint of the live image, in plan order. The family costs its
    name once, so ``show PLAN`` counts each image under its family as the plan did. A name listed
    twice (only in a hand-made plan) is one entry, its last. ``Plan.unchanged`` take their
    places among them (by name), their fingerprints from ``plan.fingerprints``."""
    listed = (c for c in plan.changes if is_unchanged(c))
    if plan.unchanged:  # the planner's unchanged specs, merged into the no-ops' order (issue 13)
        fingerprints = plan.fingerprints
        entries = [(c.key, c.name, c.family or "", _unchanged_fingerprint(plan, c)) for c in listed]
        entries += [(s.key, s.name, s.family or "", fingerprints.get("image:" + s.key, "")) for s in plan.unchanged]
        entries.sort(key=itemgetter(0))
        last = {name: (family, fingerprint) for _, name, family, fingerprint in entries}
    else:
        last = {c.name: (c.family or "", _unchanged_fingerprint(plan, c)) for c in listed}
    out: dict[str, dict[str, str]] = {}
    for name, (family, fingerprint) in last.items():
        out.setdefault(family, {})[name] = fingerprint
    return out


def _bare(unchanged: Mapping[str, Mapping[str, str]], fingerprints: Mapping[str, str]) -> tuple[
        tuple[Change, ...], dict[str, str]]:
    """The unchanged images read back: bare no-ops sorted by name (then family), each with its
    family, and ``fingerprints`` with theirs added (sorted by key)."""
    merged = dict(fingerprints)
    entries = sorted((name, family) for family, names in unchanged.items() for name in names)
    for names in unchanged.values():
        for name, fingerprint in names.items():
            merged.setdefault(f"image:{name.casefold()}", fingerprint)
    bare = tuple(Change(name=n, action=Action.NOOP, reason=UNCHANGED_REASON, known_family=f or None)
                 for n, f in entries)
    return bare, dict(sorted(merged.items()))


def plan_document(plan: Plan) -> dict[str, Any]:
    """The machine-readable plan; also the body of a saved plan (``planfile``).

    Every change but the unchanged images (``is_unchanged``) is a ``resource_changes`` entry;
    those are ``unchanged``: name -> fingerprint of the live image, which ``fingerprints`` then does
    not repeat. The document of a 100,000-image catalog with 1,000 changes holds 1,000 changes."""
    listed = tuple(c for c in plan.changes if not is_unchanged(c))
    unchanged = _unchanged(plan)
    body = PLAN_FORMAT.to_dict(replace(plan, changes=listed))
    for change, change_doc in zip(listed, body["resource_changes"], strict=True):
        _with_facts(change.before, change_doc["before"])
    fingerprints = dict(body["fingerprints"])
    for names in unchanged.values():
        for name, fingerprint in names.items():
            key = f"image:{name.casefold()}"
            if fingerprints.get(key) == fingerprint:
                del fingerprints[key]
    doc: dict[str, Any] = {}
    for k, v in body.items():
        doc[k] = fingerprints if k == "fingerprints" else v
        if k == "resource_changes":
            doc["unchanged"] = unchanged
    # The no-ops the document holds: a name listed twice (only in a hand-made plan) is one entry.
    held = sum(len(names) for names in unchanged.values())
    doc["summary"] = {**_summary(plan), "no_op": held + sum(1 for c in listed if c.action is Action.NOOP)}
    return doc


def compact(plan: Plan) -> Plan:
    """``plan`` as its document keeps it (``plan_from_document(plan_document(plan))``): each
    unchanged image a bare no-op (no before, no after, reason "up to date") after the other
    changes, sorted by name, with its family (``Change.known_family``), its fingerprint in
    ``fingerprints``. Nothing an apply acts on, or ``show`` counts, is lost."""
    listed = tuple(c for c in plan.changes if not is_unchanged(c))
    if len(listed) == len(plan.changes) and not plan.unchanged:
        return plan
    bare, fingerprints = _bare(_unchanged(plan), plan.fingerprints)
    return replace(plan, changes=listed + bare, fingerprints=fingerprints, unchanged=())


#: The reason of an unchanged image read back from a document.
UNCHANGED_REASON = UP_TO_DATE


def plan_from_document(doc: Mapping[str, Any]) -> Plan:
    """Build a ``Plan`` from a (schema-valid) plan document; the inverse of ``plan_document``.

    A saved plan's ``plan_file`` envelope is not part of the plan and is ignored here.
    """
    diags = [PLAN_FORMAT.from_dict(Diagnostic, d) for d in doc["diagnostics"]]
    # family ("": none) -> name -> fingerprint; a plain codec document has none
    unchanged: Mapping[str, Mapping[str, str]] = doc.get("unchanged") or {}
    plan = PLAN_FORMAT.from_dict(
        Plan,
        {k: v for k, v in doc.items() if k not in ("plan_file", "unchanged")},
        errors=tuple(d for d in diags if d.severity is Severity.ERROR),
        warnings=tuple(d for d in diags if d.severity is Severity.WARNING),
    )
    bare, fingerprints = _bare(unchanged, plan.fingerprints)
    return replace(plan, changes=plan.changes + bare, fingerprints=fingerprints)


def to_dict(obj: Any) -> dict[str, Any]:
    """One part of the plan document (a change, an image, a spec, a diagnostic ...) as plain data."""
    if isinstance(obj, Plan):
        return plan_document(obj)
    doc = PLAN_FORMAT.to_dict(obj)
    if isinstance(obj, Image):
        _with_facts(obj, doc)
    elif isinstance(obj, Change):
        _with_facts(obj.before, doc["before"])
    return doc


__all__ = [
    "FORMAT_VERSION",
    "PLAN_FORMAT",
    "UNCHANGED_REASON",
    "compact",
    "is_destructive",
    "is_unchanged",
    "plan_document",
    "plan_from_document",
    "storage_totals",
    "to_dict",
]
