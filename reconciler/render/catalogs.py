"""Several catalogs at once (``plan DIR``, ``catalogs DIR``): one section per catalog, an overall summary,
and the ``strategy.matrix`` of a GitHub Actions workflow.

Layer: pure core (views). The data come from ``operations.find_catalogs`` / ``plan_catalogs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import Diagnostic
from ..model import Plan
from .common import _plural
from .diagnostics import render_diagnostics_text
from .escape import escape_controls, md_escape
from .markdown import markdown_marker, render_plan_markdown
from .text import render_plan_json, render_plan_text

# What these views read of ``operations.CatalogFile`` / ``CatalogPlan`` / ``MultiPlan`` (render
# imports no orchestration code).


class CatalogFile(Protocol):
    @property
    def file(self) -> Path: ...
    @property
    def name(self) -> str | None: ...
    @property
    def provider(self) -> str: ...


class CatalogPlan(Protocol):
    @property
    def file(self) -> Path: ...
    @property
    def plan(self) -> Plan | None: ...
    @property
    def errors(self) -> tuple[Diagnostic, ...]: ...
    @property
    def errored(self) -> bool: ...
    @property
    def has_changes(self) -> bool: ...


class MultiPlan(Protocol):
    @property
    def catalogs(self) -> Sequence[CatalogPlan]: ...
    @property
    def errored(self) -> bool: ...
    @property
    def has_changes(self) -> bool: ...


def _label(c: CatalogPlan) -> str:
    if c.plan is not None:
        return f"catalog {c.plan.catalog} ({c.plan.provider})"
    return "not planned"


def multi_summary(multi: MultiPlan) -> str:
    """``3 catalogs: 1 with changes, 1 with errors, 1 unchanged.``"""
    n = len(multi.catalogs)
    errors = sum(1 for c in multi.catalogs if c.errored)
    changes = sum(1 for c in multi.catalogs if not c.errored and c.has_changes)
    rest = n - errors - changes
    return (f"{_plural(n, 'catalog')}: {changes} with changes, {errors} with errors, "
            f"{rest} without changes.")


def render_multi_text(multi: MultiPlan, *, color: bool = False) -> str:
    """One section per catalog (``== FILE: catalog NAME (PROVIDER) ==`` and its plan), then the summary."""
    out: list[str] = []
    for c in multi.catalogs:
        out.append(f"== {escape_controls(str(c.file))}: {escape_controls(_label(c))} ==")
        if c.plan is not None:
            out.append(render_plan_text(c.plan, color=color).rstrip("\n"))
        if c.errors:
            out.append(render_diagnostics_text(list(c.errors), color=color).rstrip("\n"))
        out.append("")
    out.append(multi_summary(multi))
    return "\n".join(out) + "\n"


def render_multi_markdown(multi: MultiPlan, *, max_chars: int = 65000) -> str:
    """The overall summary, then each catalog's comment (title and marker included), within ``max_chars``
    shared evenly; a catalog that could not be planned shows its errors."""
    head = f"**reconciler plan:** {md_escape(multi_summary(multi))}\n\n"
    share = max(200, (max_chars - len(head)) // max(1, len(multi.catalogs)) - 10)
    parts = [head]
    for c in multi.catalogs:
        if c.plan is not None:
            parts.append(render_plan_markdown(c.plan, max_chars=share))
        else:
            lines = [f"### ❌ {md_escape(str(c.file))}: not planned\n\n"]
            lines += [f"- {md_escape(d.summary)}{' — ' + md_escape(d.hint) if d.hint else ''}\n" for d in c.errors]
            parts.append("".join(lines)[:share])
        parts.append("\n---\n\n")
    return "".join(parts).rstrip("\n-").rstrip() + "\n"


def render_multi_json(multi: MultiPlan) -> dict[str, Any]:
    """``{"catalogs": [{"file", "plan" | null, "errors": [...]}], "errored", "has_changes"}``."""
    from .diagnostics import render_diagnostics_json

    return {
        "catalogs": [
            {
                "file": str(c.file),
                "plan": render_plan_json(c.plan) if c.plan is not None else None,
                "errors": render_diagnostics_json(list(c.errors))["diagnostics"] if c.errors else [],
            }
            for c in multi.catalogs
        ],
        "errored": multi.errored,
        "has_changes": multi.has_changes,
    }


def catalogs_matrix(files: Sequence[CatalogFile]) -> dict[str, Any]:
    """The ``strategy.matrix`` of one job per catalog: ``{"include": [{"catalog", "file", "provider"}]}``."""
    return {"include": [{"catalog": c.name or "", "file": str(c.file), "provider": c.provider} for c in files]}


def render_catalogs_table(files: Sequence[CatalogFile]) -> str:
    """``CATALOG  PROVIDER  FILE``, one line each (names as untrusted text)."""
    rows = [("CATALOG", "PROVIDER", "FILE")] + [
        (escape_controls(c.name or "?"), escape_controls(c.provider), escape_controls(str(c.file))) for c in files
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows) + "\n"


def comment_marker(files: Sequence[CatalogFile]) -> str:
    """The names a comment of these catalogs is keyed by (``catalogs --format names``), one a line."""
    return "".join(f"{c.name}\n" for c in files if c.name) or ""


__all__ = [
    "catalogs_matrix",
    "comment_marker",
    "markdown_marker",
    "multi_summary",
    "render_catalogs_table",
    "render_multi_json",
    "render_multi_markdown",
    "render_multi_text",
]
