"""The apply report: one line per pending change, or the same as JSON-ready data.

Layer: pure core (views).
"""

from __future__ import annotations

from typing import Any

from ..model import ApplyResult, ChangeResult, Outcome
from .common import _ACTION_COLOR, _BOLD_RED, _GREEN, _YELLOW, _paint
from .escape import escape_controls

_OUTCOME_COLOR = {Outcome.DONE: _GREEN, Outcome.FAILED: _BOLD_RED, Outcome.NOT_STARTED: _YELLOW}


def render_apply_report(result: ApplyResult, *, color: bool = False, logged: bool = False) -> str:
    """One line per pending change (done / failed with its error / not started), then the count.

    ``logged``: a log line already said each change that finished as done (apply without a
    terminal): those are not listed again, only what failed or did not start."""
    out = []
    for r in result.results:
        if logged and r.outcome is Outcome.DONE:
            continue
        symbol = _paint(r.action.value.rjust(3), _ACTION_COLOR[r.action], color)
        outcome = _paint(r.outcome.value, _OUTCOME_COLOR[r.outcome], color)
        line = f"{symbol} {r.action.word} {escape_controls(r.name)}: {outcome}"
        if r.outcome is Outcome.DONE and r.seconds:
            line += f" ({r.seconds:.1f}s)"
        if r.outcome is Outcome.FAILED and r.error:
            line += f": {escape_controls(r.error)}"
        out.append(line)
    n = _outcome_counts(result)
    out.append(f"Apply finished: {n['done']} done, {n['failed']} failed, {n['not_started']} not started.")
    return "\n".join(out) + "\n"


def _outcome_counts(result: ApplyResult) -> dict[str, int]:
    return {
        "done": len(result.of(Outcome.DONE)),
        "failed": len(result.of(Outcome.FAILED)),
        "not_started": len(result.of(Outcome.NOT_STARTED)),
    }


def _result_to_dict(r: ChangeResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "action": r.action.word,
        "actions": r.action.tf_actions,
        "outcome": r.outcome.value,
        "error": r.error,
        "seconds": r.seconds,
    }


def apply_report_json(result: ApplyResult) -> dict[str, Any]:
    """``{ok, summary: {done, failed, not_started}, results: [...]}`` in plan order."""
    return {
        "ok": result.ok,
        "summary": _outcome_counts(result),
        "results": [_result_to_dict(r) for r in result.results],
    }


__all__ = ["apply_report_json", "render_apply_report"]
