"""The plan for a terminal or a CI log (Terraform-like), its footer, and the plan as JSON.

Layer: pure core (views).
"""

from __future__ import annotations

from typing import Any

from ..errors import Diagnostic, Location, Severity
from ..model import Action, Change, FieldDiff, Image, ImageSpec, Plan
from ..plandoc import is_destructive, plan_document
from .common import (
    _ACTION_COLOR,
    _BOLD,
    _BOLD_RED,
    _RED,
    _YELLOW,
    _paint,
    _plural,
    consumes_wording,
    destructive_first,
    shown_steps,
)
from .escape import _value, escape_controls
from .lifecycle import change_storage, held_section, latest_lines, storage_line, waiting_section

_LEGEND = {
    Action.CAPTURE: "capture (a new image from its source)",
    Action.UPDATE: "update in place",
    Action.REPLACE: "replace (remove the image, then capture it again)",
    Action.REMOVE: "remove",
}
#: Legend and block order of actions in the text view (destructive ones are pulled first anyway).
_ACTION_ORDER = (Action.REMOVE, Action.REPLACE, Action.CAPTURE, Action.UPDATE)


def _describe(change: Change) -> str:
    """``vm, linux, generalized`` from the desired spec, else from the live image."""
    obj: ImageSpec | Image | None = change.after if change.after is not None else change.before
    if obj is None:
        return ""
    return f"{obj.type.value}, {escape_controls(obj.os)}, {obj.os_state.value}"


def footer(plan: Plan) -> str:
    """``Plan: N to capture, N to update, N to replace, N to remove.``"""
    n = plan.counts()
    return (
        f"Plan: {n['capture']} to capture, {n['update']} to update, {n['replace']} to replace, {n['remove']} to remove."
    )


# --------------------------------------------------------------------------------------------------
# Plan: text


def render_plan_text(plan: Plan, *, color: bool = False, verbose: bool = False, drift: bool = False) -> str:
    """The Terraform-like plan for a terminal or a CI log.

    Destructive changes come first so a reviewer scrolling a long plan cannot miss them; no-ops
    are only counted unless ``verbose`` (or they carry an error or a warning).
    """
    out: list[str] = []
    pending = destructive_first(plan.pending)
    noops = [c for c in plan.changes if c.action is Action.NOOP]  # ``plan.unchanged`` are the rest
    noisy_noops = [c for c in noops if c.errors or c.warnings]
    n_errors = len(plan.all_errors)

    if plan.targets:
        targets = ", ".join(escape_controls(t) for t in plan.targets)
        out.append(f"Limited to --target {targets}: other images were not planned.")
        out.append("")

    if not pending and not plan.errored:
        out.append("No changes. The catalog matches the desired state.")
        out.append("")
    if pending:
        used = [a for a in _ACTION_ORDER if any(c.action is a for c in pending)]
        out.append(
            f'{"Drift in" if drift else "Plan for"} catalog "{escape_controls(plan.catalog)}" '
            f"(provider {escape_controls(plan.provider)}). Actions are shown with these symbols:"
        )
        for a in used:
            out.append(f"{_paint(a.value.rjust(3), _ACTION_COLOR[a], color)} {_LEGEND[a]}")
        out.append("")
        out.append(
            "The live catalog differs from the desired state; apply would perform these actions:"
            if drift
            else "Reconciler will perform the following actions:"
        )
        out.append("")
        for c in pending:
            out.extend(_change_block(c, plan.provider, color))
            out.append("")
    held = held_section(plan)
    if held:
        out.extend([_paint(held[0], _YELLOW, color), *held[1:], ""])
    waiting = waiting_section(plan)
    if waiting:
        out.extend([_paint(waiting[0], _YELLOW, color), *waiting[1:], ""])
    latest = latest_lines(plan)
    if latest:
        out.extend([*latest, ""])

    shown_noops = plan.noops() if verbose else noisy_noops
    for c in shown_noops:
        out.extend(_change_block(c, plan.provider, color))
        out.append("")
    # A refused entry is shown with its error, not "unchanged".
    unchanged = sum(1 for c in noops if not c.errors) + len(plan.unchanged)
    if unchanged and not verbose:
        out.append(f"{unchanged} unchanged.")
        out.append("")

    for d in plan.warnings:
        out.extend(_diag_block(d, color, indent=""))
        out.append("")
    for d in plan.errors:
        out.extend(_diag_block(d, color, indent=""))
        out.append("")

    if pending or plan.errored:
        out.append(footer(plan))
    storage = storage_line(plan)
    if storage and pending:
        out.append(storage)
    if plan.errored:
        msg = f"The plan has {_plural(n_errors, 'error')} and cannot be applied: fix them and run plan again."
        out.append(_paint(msg, _BOLD_RED, color))
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def _change_block(c: Change, provider: str, color: bool) -> list[str]:
    destructive = is_destructive(c)
    symbol = c.action.value.rjust(3) if c.action is not Action.NOOP else "   "
    title = f"{c.action.word} {escape_controls(c.name)}" if c.action is not Action.NOOP else escape_controls(c.name)
    desc = _describe(c)
    head = f"{title} ({desc})" if desc else title
    if color and destructive:
        head = _paint(head, _BOLD, color)
    lines = [f"{_paint(symbol, _ACTION_COLOR[c.action], color)} {head} — {escape_controls(c.reason)}"]
    for f in c.fields:
        lines.append("      " + _field_text(c.action, f))
    # A lone step ("update image") repeats the action; steps are shown when they say more (shown_steps).
    steps = shown_steps(c)
    if steps:
        lines.append("      steps:")
        lines.extend(f"        {i}. {escape_controls(s)}" for i, s in enumerate(steps, 1))
    storage = change_storage(c)
    if storage and c.action is not Action.NOOP:
        lines.append(f"      storage: {storage}")
    if c.consumes_vm is not None:
        loud = f"! consumes VM {escape_controls(c.consumes_vm)} ({consumes_wording(provider)})"
        lines.append("      " + _paint(loud, _BOLD_RED, color))
    for d in c.warnings + c.errors:
        lines.extend(_diag_block(d, color, indent="      "))
    return lines


def _field_text(action: Action, f: FieldDiff) -> str:
    if f.path.startswith("tags.") and action not in (Action.CAPTURE, Action.REMOVE) and None in (f.before, f.after):
        # A tag that goes away (or comes) is a removal (an addition), never `"old" -> null`.
        text = (f"- {escape_controls(f.path)}: {_value(f.before)}" if f.after is None
                else f"+ {escape_controls(f.path)}: {_value(f.after)}")
    elif action is Action.CAPTURE and f.before is None:
        text = f"{escape_controls(f.path)}: {_value(f.after)}"
    elif action is Action.REMOVE and f.after is None:
        text = f"{escape_controls(f.path)}: {_value(f.before)}"
    else:
        text = f"{escape_controls(f.path)}: {_value(f.before)} -> {_value(f.after)}"
    if f.forces_replace:
        text += "  # forces replacement"
    return text


def _diag_block(d: Diagnostic, color: bool, indent: str) -> list[str]:
    is_error = d.severity is Severity.ERROR
    word = "error" if is_error else "warning"
    head = f"{indent}{_paint(word, _RED if is_error else _YELLOW, color)}: {escape_controls(d.summary)}"
    lines = [head]
    where = _where(d.location)
    if where:
        lines.append(f"{indent}  at {where}")
    if d.hint:
        lines.append(f"{indent}  hint: {escape_controls(d.hint)}")
    return lines


def _where(loc: Location | None) -> str:
    if loc is None:
        return ""
    parts = [p for p in (str(loc), loc.json_path) if p]
    return escape_controls(", ".join(parts))


# --------------------------------------------------------------------------------------------------
# Plan: JSON


def render_plan_json(plan: Plan) -> dict[str, Any]:
    """The machine-readable plan (``schemas/plan.schema.json``, laid out by ``plandoc``); also the
    body of a saved plan."""
    return plan_document(plan)


__all__ = ["footer", "render_plan_json", "render_plan_text"]
