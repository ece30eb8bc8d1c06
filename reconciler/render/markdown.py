"""The plan as one sticky pull-request comment (Markdown), never longer than GitHub allows.

Layer: pure core (views).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import Diagnostic, Location
from ..model import Action, Change, Plan
from ..plandoc import is_destructive
from .common import _plural, consumes_wording, destructive_first, shown_steps
from .escape import _html_escape, _value, escape_controls, md_escape
from .lifecycle import change_storage, consumers_phrase, latest_lines, storage_line


def _omitted_details(n: int) -> str:
    return f"_{n} {'change' if n == 1 else 'changes'}' details omitted: run plan locally or see the JSON artifact._\n\n"


def markdown_summary(plan: Plan) -> str:
    """The first line of the comment: counts, destructive breakdown, error count."""
    n = plan.counts()
    if plan.pending:
        line = (
            f"**Plan:** {n['capture']} to capture, {n['update']} to update, "
            f"{n['replace']} to replace, {n['remove']} to remove"
        )
    else:
        line = "**No changes.**"
    destructive = [c for c in plan.pending if is_destructive(c)]
    if destructive:
        parts = []
        removes = sum(1 for c in destructive if c.action is Action.REMOVE)
        replaces = sum(1 for c in destructive if c.action is Action.REPLACE)
        consumed = sum(1 for c in destructive if c.consumes_vm is not None)
        if removes:
            parts.append(f"{removes} remove")
        if replaces:
            parts.append(f"{replaces} replace")
        if consumed:
            parts.append(f"{consumed} VM{'s' if consumed != 1 else ''} consumed")
        line += f" — ⚠️ {len(destructive)} destructive ({', '.join(parts)})"
    if plan.held:
        line += f" — ⏸️ {_plural(len(plan.held), 'remove')} held (in use)"
    if plan.waiting:
        line += f" — ⏳ {_plural(len(plan.waiting), 'promotion')} waiting"
    storage = storage_line(plan)
    if storage and plan.pending:
        line += f" — {md_escape(storage.removeprefix('Storage: ').removesuffix('.'))}"
    if plan.errored:
        line += f" — ❌ {_plural(len(plan.all_errors), 'error')}: cannot be applied"
    return line


def _md_held(plan: Plan) -> _Section:
    """The held removes (issue 11 §4): in use, shown, not applied."""
    rows = [f"- {md_escape(c.name)} HELD: {md_escape(consumers_phrase(c.held_by))}\n" for c in plan.held]
    return _Section(
        head="### ⏸️ Held removes: the image is in use (not applied)\n\n",
        rows=rows,
        note=lambda n: f"_{n} more held removes not shown: see the JSON artifact._\n\n",
    )


def _md_latest(plan: Plan) -> _Section:
    """Where each family's ``latest`` moves (issue 11 §2): ``latest(web-base): 1.3.2 -> 1.4.0``."""
    return _Section(
        head="### 🏷️ latest moves\n\n",
        rows=[f"- {md_escape(line).replace(' -&gt; ', ' → ')}\n" for line in latest_lines(plan)],
        note=lambda n: f"_{n} more latest moves not shown: see the JSON artifact._\n\n",
    )


def _md_waiting(plan: Plan) -> _Section:
    """The waiting promotions (issue 11 §1): their gate is not met yet, not applied."""
    rows = [f"- {md_escape(c.name)} WAITING: {md_escape(c.waiting or '')}\n" for c in plan.waiting]
    return _Section(
        head="### ⏳ Waiting promotions: the promote_when gate is not met yet (not applied)\n\n",
        rows=rows,
        note=lambda n: f"_{n} more waiting promotions not shown: see the JSON artifact._\n\n",
    )


def markdown_marker(catalog: str) -> str:
    """The hidden marker that identifies a catalog's comment (``<!-- reconciler:catalog=NAME -->``):
    the CI updates the comment that carries it, so several catalogs can post in one pull request.
    Only ``[A-Za-z0-9._-]`` of the name are kept (a catalog name is ``[a-z0-9-]``), so it cannot end
    the HTML comment."""
    return f"<!-- reconciler:catalog={re.sub(r'[^A-Za-z0-9._-]', '_', catalog)} -->"


def markdown_title(plan: Plan) -> str:
    """The comment's head: the marker, then a title naming the catalog and the provider."""
    return (f"{markdown_marker(plan.catalog)}\n"
            f"### reconciler plan: catalog **{md_escape(plan.catalog)}** ({md_escape(plan.provider)})\n\n")


def render_plan_markdown(plan: Plan, *, max_chars: int = 65000) -> str:
    """A pull-request comment never longer than ``max_chars`` (GitHub's limit is 65,536).

    It opens with ``markdown_title`` (the hidden marker and the catalog's title). Sections are
    filled in priority order (summary, errors, family counts, change table,
    warnings, details); when the budget runs out, details go first, then table rows, each
    replaced by a note saying how much was left out. The summary line is always whole.
    """
    summary = markdown_title(plan) + markdown_summary(plan) + "\n\n"
    ordered = destructive_first(plan.pending)
    errors = _md_errors(plan)
    held = _md_held(plan)
    waiting = _md_waiting(plan)
    latest = _md_latest(plan)
    families = _md_families(plan)
    table = _md_table(ordered)
    warnings = _md_warnings(plan)
    details = [_md_details(c, plan.provider) for c in ordered]

    budget = max_chars - len(summary)
    if budget < 0:
        return summary[:max_chars]
    sections = (errors, held, waiting, latest, families, table, warnings)
    if sum(s.full_length() for s in sections) + sum(len(d) for d in details) <= budget:
        return (summary + "".join(s.fit(budget)[0] for s in sections) + "".join(details)).rstrip("\n") + "\n"
    # It does not all fit: some details go for sure, so their note's room is set aside first.
    note = _omitted_details(len(details)) if details else ""
    budget -= len(note)
    pieces: list[str] = []
    for section in sections:
        text, used = section.fit(budget)
        pieces.append(text)
        budget -= used
    kept_details: list[str] = []
    for d in details:
        if len(d) > budget:
            break
        kept_details.append(d)
        budget -= len(d)
    left = len(details) - len(kept_details)
    if left and budget + len(note) >= len(_omitted_details(left)):
        kept_details.append(_omitted_details(left))
    body = "".join(pieces) + "".join(kept_details)
    return (summary + body).rstrip("\n") + "\n"


@dataclass
class _Section:
    """A Markdown section that can shrink: a fixed head, rows, and a note for rows left out."""

    head: str
    rows: list[str]
    note: Callable[[int], str]
    tail: str = "\n"

    def full_length(self) -> int:
        return len(self.head) + sum(len(r) for r in self.rows) + len(self.tail) if self.rows else 0

    def fit(self, budget: int) -> tuple[str, int]:
        if not self.rows:
            return "", 0
        full = self.head + "".join(self.rows) + self.tail
        if len(full) <= budget:
            return full, len(full)
        fixed = len(self.head) + len(self.tail) + len(self.note(len(self.rows)))
        room = budget - fixed
        if room < 0:
            return "", 0
        kept = []
        for r in self.rows:
            if len(r) > room:
                break
            kept.append(r)
            room -= len(r)
        text = self.head + "".join(kept) + self.tail + self.note(len(self.rows) - len(kept))
        return text, len(text)


def _md_where(loc: Location | None) -> str:
    if loc is None:
        return ""
    parts = []
    if str(loc):
        parts.append(md_escape(str(loc)))
    if loc.json_path:
        parts.append(md_escape(loc.json_path))
    return " (" + ", ".join(parts) + ")" if parts else ""


def _md_diag(d: Diagnostic, name: str | None = None) -> str:
    who = f"**{md_escape(name)}**: " if name else ""
    hint = f" — {md_escape(d.hint)}" if d.hint else ""
    return f"- {who}{md_escape(d.summary)}{_md_where(d.location)}{hint}\n"


def _md_diagnostics(
    head: str, kind: str, general: Sequence[Diagnostic], by_change: Iterable[tuple[str, Sequence[Diagnostic]]]
) -> _Section:
    """One row per diagnostic of one ``kind`` (errors, warnings): the plan's own, then each change's
    under its name."""
    rows = [_md_diag(d) for d in general]
    rows += [_md_diag(d, name) for name, diags in by_change for d in diags]
    return _Section(head=head, rows=rows, note=lambda n: f"_{n} more {kind} not shown: see the JSON artifact._\n\n")


def _md_errors(plan: Plan) -> _Section:
    by_change = ((c.name, c.errors) for c in plan.changes)
    return _md_diagnostics("### ❌ Errors: this plan cannot be applied\n\n", "errors", plan.errors, by_change)


def _md_warnings(plan: Plan) -> _Section:
    by_change = ((c.name, c.warnings) for c in plan.changes)
    return _md_diagnostics("### ⚠️ Warnings\n\n", "warnings", plan.warnings, by_change)


#: The counts of the "Family" table, by action word.
_FAMILY_COLUMNS = ("capture", "update", "replace", "remove", "no-op")


def _md_families(plan: Plan) -> _Section:
    per: defaultdict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FAMILY_COLUMNS, 0))
    for c in plan.changes:
        row = per[c.family or ""]
        if c.held or c.waiting is not None:  # not a change: each has its own section
            continue
        if not (c.action is Action.NOOP and c.errors):  # a refused entry is not "unchanged"
            row[c.action.word] += 1
    for s in plan.unchanged:  # the up-to-date no-ops the plan lists by spec (issue 13)
        per[s.family or ""]["no-op"] += 1
    rows = [
        f"| {md_escape(fam) if fam else '_(none)_'} | {r['capture']} | {r['update']} | {r['replace']} | "
        f"{r['remove']} | {r['no-op']} |\n"
        for fam, r in sorted(per.items(), key=lambda kv: (kv[0] == "", kv[0].casefold(), kv[0]))
    ]
    return _Section(
        head=(
            "| Family | Capture | Update | Replace | Remove | Unchanged |\n| --- | ---: | ---: | ---: | ---: | ---: |\n"
        ),
        rows=rows,
        note=lambda n: f"_{n} more families not shown._\n\n",
    )


def _md_table(changes: Sequence[Change]) -> _Section:
    rows = []
    for c in changes:
        mark = ""
        if is_destructive(c):
            mark = "⚠️ consumes VM " + md_escape(c.consumes_vm) if c.consumes_vm is not None else "⚠️ yes"
        failed = "❌ " if c.errors else ""
        rows.append(
            f"| `{c.action.value}` {c.action.word} | {failed}{md_escape(c.name)} | {md_escape(c.family or '')} | "
            f"{md_escape(c.reason)} | {mark} |\n"
        )
    return _Section(
        head="| | Image | Family | Reason | Destructive |\n| --- | --- | --- | --- | --- |\n",
        rows=rows,
        note=lambda n: f"_… and {n} more changes not shown in this table: see the JSON artifact._\n\n",
    )


def _fence(body: str) -> str:
    """A backtick fence longer than any backtick run in ``body``, so user text cannot close it."""
    longest = max((len(m.group()) for m in re.finditer(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _md_details(c: Change, provider: str) -> str:
    lines: list[str] = []
    for f in c.fields:
        suffix = "  # forces replacement" if f.forces_replace else ""
        path = escape_controls(f.path)
        # A tag that goes away is a removal (`- tags.x: "old"`), a new one an addition: no null side.
        tag = f.path.startswith("tags.")
        if not ((c.action is Action.CAPTURE or tag) and f.before is None):
            lines.append(f"- {path}: {_value(f.before)}")
        if not ((c.action is Action.REMOVE or tag) and f.after is None):
            lines.append(f"+ {path}: {_value(f.after)}{suffix}")
    steps = shown_steps(c)
    if steps:
        if lines:
            lines.append("")
        lines.extend(f"  step {i}: {escape_controls(s)}" for i, s in enumerate(steps, 1))
    if c.consumes_vm is not None:
        lines.append(f"! consumes VM {escape_controls(c.consumes_vm)} ({consumes_wording(provider)})")
    storage = change_storage(c)
    if storage:
        lines.append(f"  storage: {storage}")
    body = "\n".join(lines) or "  (no field changes)"
    fence = _fence(body)
    summary = f"<code>{_html_escape(c.action.value)}</code> {c.action.word} <b>{_html_escape(c.name)}</b>"
    if is_destructive(c):
        summary += " ⚠️"
    summary += f" — {_html_escape(c.reason)}"
    return f"<details><summary>{summary}</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>\n\n"


__all__ = ["markdown_marker", "markdown_summary", "markdown_title", "render_plan_markdown"]
