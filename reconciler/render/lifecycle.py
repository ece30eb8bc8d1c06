"""Who uses an image and what images cost (issue 11 §4, §5; docs/lifecycle.md): the held-remove
line, the storage wording of a change and of a plan, and ``reconciler consumers`` as a table or JSON.

Layer: pure core (views).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..codec import to_dict
from ..model import Change, Consumer, Plan
from .common import _plural
from .escape import escape_controls

#: How many consumers a held line names before "and N more".
_NAMED = 3


def gib(amount: float) -> str:
    """``360 GiB``; a fraction only where there is one (``0.5 GiB``)."""
    return f"{amount:,.1f}".removesuffix(".0") + " GiB"


def consumers_phrase(consumers: Sequence[Consumer]) -> str:
    """``used by 14 instances (vmss-web in sub-prod)``: every machine counted, the first few named."""
    total = sum(c.instances for c in consumers)
    named = [escape_controls(f"{c.name} in {c.scope}" if c.scope else c.name) for c in consumers[:_NAMED]]
    if len(consumers) > _NAMED:
        named.append(f"and {len(consumers) - _NAMED} more")
    return f"used by {_plural(total, 'instance')} ({', '.join(named)})"


def held_line(change: Change) -> str:
    """``- web-base/1.1.0 HELD: used by 14 instances (vmss-web in sub-prod)``."""
    return f"- {escape_controls(change.name)} HELD: {consumers_phrase(change.held_by)}"


def footprint_phrase(amounts: Mapping[str, float]) -> str:
    """``120 GiB (Standard_LRS 100 GiB, Premium_LRS 20 GiB)``; one storage type: ``30 GiB Standard_LRS``."""
    total = sum(amounts.values())
    if len(amounts) == 1:
        kind = next(iter(amounts))
        return f"{gib(total)} {escape_controls(kind)}"
    parts = ", ".join(f"{escape_controls(k)} {gib(v)}" for k, v in sorted(amounts.items()))
    return f"{gib(total)} ({parts})"


def change_storage(change: Change) -> str:
    """What one change stores and frees: ``+30 GiB Standard_LRS stored``; "" when unknown."""
    parts = []
    if change.stored:
        parts.append(f"+{footprint_phrase(change.stored)} stored")
    if change.freed and not change.held:
        parts.append(f"-{footprint_phrase(change.freed)} freed")
    return ", ".join(parts)


def storage_line(plan: Plan) -> str:
    """``Storage: +360 GiB stored, -120 GiB freed.``; "" when no change's footprint is known."""
    totals = plan.storage()
    if not totals["stored"] and not totals["freed"]:
        return ""
    return (f"Storage: +{gib(sum(totals['stored'].values()))} stored, "
            f"-{gib(sum(totals['freed'].values()))} freed.")


def latest_lines(plan: Plan) -> list[str]:
    """``latest(web-base): 1.3.2 -> 1.4.0`` for each family whose ``latest`` moves (issue 11 §2);
    a move limited to regions names them, a ring not due yet says when it is."""
    out = []
    for m in plan.latest:
        where = f" in {', '.join(escape_controls(r) for r in m.regions)}" if m.regions else ""
        due = f" (due {escape_controls(m.due)})" if m.due else ""
        out.append(f"latest({escape_controls(m.family)}): {escape_controls(m.before or 'none')} -> "
                   f"{escape_controls(m.after or 'none')}{where}{due}")
    return out


def waiting_line(change: Change) -> str:
    """``~ web-base/1.4.0 WAITING: dev:web-base/1.4.0 is 20h old, needs 72h`` (issue 11 §1)."""
    return f"~ {escape_controls(change.name)} WAITING: {escape_controls(change.waiting or '')}"


def waiting_section(plan: Plan) -> list[str]:
    """The waiting promotions, one line each, under a heading; [] when none."""
    waiting = plan.waiting
    if not waiting:
        return []
    lines = [f"{_plural(len(waiting), 'promotion')} waiting: its promote_when gate is not met yet; not applied:"]
    lines.extend(waiting_line(c) for c in waiting)
    return lines


def held_section(plan: Plan) -> list[str]:
    """The held removes, one line each, under a heading; [] when none."""
    held = plan.held
    if not held:
        return []
    lines = [f"{_plural(len(held), 'remove')} held: the image is in use (policy.consumers.block_if_in_use); "
             "not applied:"]
    lines.extend(held_line(c) for c in held)
    return lines


# --------------------------------------------------------------------------------------------------
# reconciler consumers


def render_consumers_table(images: Iterable[str], consumers: Mapping[str, Sequence[Consumer]]) -> str:
    """One block per image (in the order given): its consumers, or "not in use"."""
    out: list[str] = []
    for name in images:
        found = consumers.get(name.casefold(), ())
        if not found:
            out.append(f"{escape_controls(name)}: not in use")
            continue
        out.append(f"{escape_controls(name)}: {consumers_phrase(found)}")
        rows = [(c.kind, c.name, str(c.instances), c.via, c.scope) for c in found]
        header = ("KIND", "NAME", "INSTANCES", "VIA", "WHERE")
        widths = [max(len(h), *(len(escape_controls(r[i])) for r in rows)) for i, h in enumerate(header)]
        out.append("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        for r in rows:
            out.append("  " + "  ".join(escape_controls(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(out) + "\n" if out else "No images.\n"


def consumers_json(images: Iterable[str], consumers: Mapping[str, Sequence[Consumer]]) -> dict[str, Any]:
    """``{"images": [{"name", "in_use", "instances", "consumers": [...]}]}`` (docs/lifecycle.md)."""
    out = []
    for name in images:
        found = consumers.get(name.casefold(), ())
        out.append({
            "name": name,
            "in_use": bool(found),
            "instances": sum(c.instances for c in found),
            "consumers": [to_dict(c) for c in found],
        })
    return {"images": out}


__all__ = [
    "change_storage",
    "consumers_json",
    "consumers_phrase",
    "footprint_phrase",
    "gib",
    "held_line",
    "held_section",
    "waiting_line",
    "waiting_section",
    "render_consumers_table",
    "storage_line",
]
