"""Diagnostics (validate, and any ``ReconcilerError`` the CLI reports) as text, JSON-ready data or
GitHub Actions workflow commands.

Layer: pure core (views).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..codec import to_dict
from ..errors import Diagnostic, Severity
from .common import _BOLD, _RED, _YELLOW, _paint, _plural
from .escape import escape_controls


def render_diagnostics_text(diags: Sequence[Diagnostic], *, color: bool = False, count: bool = True) -> str:
    """``file:line:col: error: summary``, then ``  at $.path`` and ``  hint: ...``, then a count
    (unless ``count`` is False: a single runtime error needs no tally)."""
    out: list[str] = []
    for d in diags:
        is_error = d.severity is Severity.ERROR
        word = _paint(d.severity.value, _RED if is_error else _YELLOW, color)
        where = str(d.location) if d.location is not None else ""
        prefix = f"{escape_controls(where)}: " if where else ""
        out.append(f"{prefix}{word}: {_paint(escape_controls(d.summary), _BOLD, color)}")
        if d.location is not None and d.location.json_path:
            out.append(f"  at {escape_controls(d.location.json_path)}")
        if d.hint:
            out.append(f"  hint: {escape_controls(d.hint)}")
    if count:
        errors = sum(1 for d in diags if d.severity is Severity.ERROR)
        warnings = len(diags) - errors
        out.append(f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}.")
    return "\n".join(out) + "\n"


def render_diagnostics_json(diags: Sequence[Diagnostic]) -> dict[str, Any]:
    """``{valid, error_count, warning_count, diagnostics}``; valid means no errors (warnings allowed)."""
    errors = sum(1 for d in diags if d.severity is Severity.ERROR)
    return {
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": len(diags) - errors,
        "diagnostics": [to_dict(d) for d in diags],
    }


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def render_diagnostics_github(diags: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands (``::error file=F,line=L,col=C,title=reconciler::msg``).

    Escaping follows actions/toolkit: ``%``, CR and LF in the message; also ``:`` and ``,`` in
    properties. The hint goes on a second line of the message, the JSON path in parentheses.
    """
    out = []
    for d in diags:
        props = []
        loc = d.location
        if loc is not None and loc.file:
            props.append(f"file={_gh_property(escape_controls(loc.file))}")
            if loc.line:
                props.append(f"line={loc.line}")
                if loc.col:
                    props.append(f"col={loc.col}")
        props.append("title=reconciler")
        # Line breaks survive (as %0A, so they never end the command); every other control is escaped.
        message = escape_controls(d.summary, multiline=True)
        if loc is not None and loc.json_path:
            message += f" (at {escape_controls(loc.json_path)})"
        if d.hint:
            message += f"\nhint: {escape_controls(d.hint, multiline=True)}"
        command = "error" if d.severity is Severity.ERROR else "warning"
        out.append(f"::{command} {','.join(props)}::{_gh_data(message)}")
    return "".join(line + "\n" for line in out)


__all__ = ["render_diagnostics_github", "render_diagnostics_json", "render_diagnostics_text"]
