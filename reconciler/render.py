"""Renderers: plans, diagnostics, image listings and apply results as text, JSON-ready data or Markdown.

Layer: pure core (views). Data in, ``str``/``dict`` out: no printing, no environment, no clock, no
files. Imports only ``model``, ``errors``, ``codec`` and ``plandoc``, and the provider registry for
one piece of declared wording (``consumes_wording``). ``cli.py`` decides where the
output goes and whether colour is wanted (TTY, ``NO_COLOR``).

Every user-supplied string (image names, labels, reasons, messages, whether from the file, the live
catalog or a saved plan) is treated as untrusted: every human view passes it through
``escape_controls``, so a name cannot smuggle terminal escape sequences and a bidi control cannot
make a pull-request comment read differently from what it does (docs/security.md), and the
Markdown view also escapes table/HTML syntax so a label cannot break the comment's structure.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .codec import to_dict
from .errors import Diagnostic, Location, ReconcilerError, Severity
from .model import (
    Action,
    ApplyResult,
    Change,
    ChangeResult,
    FieldDiff,
    Image,
    ImageSpec,
    ImageType,
    Outcome,
    Plan,
)
from .plandoc import FORMAT_VERSION, is_destructive, plan_document
from .plandoc import to_dict as document_dict

_LEGEND = {
    Action.CAPTURE: "capture (a new image from its source)",
    Action.UPDATE: "update in place",
    Action.REPLACE: "replace (remove the image, then capture it again)",
    Action.REMOVE: "remove",
}
#: Legend and block order of actions in the text view (destructive ones are pulled first anyway).
_ACTION_ORDER = (Action.REMOVE, Action.REPLACE, Action.CAPTURE, Action.UPDATE)


_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_BOLD_RED = "\x1b[1;31m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_MAGENTA = "\x1b[35m"
_ACTION_COLOR = {
    Action.CAPTURE: _GREEN,
    Action.UPDATE: _YELLOW,
    Action.REMOVE: _RED,
    Action.REPLACE: _MAGENTA,
    Action.NOOP: "",
}


# --------------------------------------------------------------------------------------------------
# Shared helpers


def consumes_wording(provider: str) -> str:
    """What a generalized capture does to its source VM with this provider, for display (design §2):
    the provider's ``Capabilities.consumes_vm``. The plan records only the VM's name, not the
    provider's capability record, so the wording is the registry's, by provider name."""
    from .providers.registry import consumes_wording as wording  # late: a lookup of declared data

    return wording(provider)


def destructive_first(changes: Iterable[Change]) -> list[Change]:
    """Destructive changes first, then the rest, each group in plan order (stable)."""
    items = list(changes)
    return [c for c in items if is_destructive(c)] + [c for c in items if not is_destructive(c)]


#: Unicode categories never shown as they are: controls (C0, DEL, C1: ESC drives a terminal),
#: format characters (bidi controls such as U+202E, the Trojan Source trick of CVE-2021-42574,
#: and zero-width ones), lone surrogates (they cannot even be encoded), private-use and unassigned
#: code points (a later Unicode may make them format characters), line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _escape_char(ch: str) -> str:
    n = ord(ch)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def escape_controls(s: str, *, multiline: bool = False) -> str:
    """``s`` with every control, bidi, invisible or separator character shown as an escape.

    The one escaping function of every human output (text and Markdown plans, diagnostics, image
    listings, the apply report, CI annotations, progress lines): it is applied where an untrusted
    string (anything from the desired-state file, the live catalog, a saved plan or an error) is
    put into output, so the output reads exactly as the data is. ``\\x1b`` below U+0100,
    ``\\u202e`` in the BMP, ``\\U000e0041`` above. Ordinary text, letters and spaces of any
    script included, comes back unchanged. JSON output needs none of this: ``json.dumps`` with
    the default ``ensure_ascii=True`` writes every non-ASCII character as a ``\\u`` escape.

    ``multiline``: keep line feeds and tabs, for an output whose own syntax then encodes them
    (a CI annotation's ``%0A``); nowhere else is a line break of user text kept.
    """
    if s.isprintable():  # the fast path: no control, format, separator or unassigned character
        return s
    keep = "\n\t" if multiline else ""
    return "".join(
        _escape_char(ch) if ch not in keep and unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in s
    )


def _value(v: Any) -> str:
    """A field value as the plan shows it: JSON, so strings are quoted and null is explicit.

    ``ensure_ascii=False`` keeps letters of every script readable; JSON escapes C0 controls
    itself and ``escape_controls`` then escapes the rest (DEL, C1, bidi, zero-width, ...).
    """
    return escape_controls(json.dumps(v, ensure_ascii=False, sort_keys=True, default=str))


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _paint(s: str, code: str, color: bool) -> str:
    return f"{code}{s}{_RESET}" if color and code else s


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
    noops = [c for c in plan.changes if c.action is Action.NOOP]
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

    shown_noops = noops if verbose else noisy_noops
    for c in shown_noops:
        out.extend(_change_block(c, plan.provider, color))
        out.append("")
    if noops and not verbose:
        out.append(f"{len(noops)} unchanged.")
        out.append("")

    for d in plan.warnings:
        out.extend(_diag_block(d, color, indent=""))
        out.append("")
    for d in plan.errors:
        out.extend(_diag_block(d, color, indent=""))
        out.append("")

    if pending or plan.errored:
        out.append(footer(plan))
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
    # A lone step ("update image") repeats the action; steps are shown when there is a sequence.
    if len(c.steps) > 1 and c.action is not Action.NOOP:
        lines.append("      steps:")
        lines.extend(f"        {i}. {escape_controls(s)}" for i, s in enumerate(c.steps, 1))
    if c.consumes_vm is not None:
        loud = f"! consumes VM {escape_controls(c.consumes_vm)} ({consumes_wording(provider)})"
        lines.append("      " + _paint(loud, _BOLD_RED, color))
    for d in c.warnings + c.errors:
        lines.extend(_diag_block(d, color, indent="      "))
    return lines


def _field_text(action: Action, f: FieldDiff) -> str:
    if action is Action.CAPTURE and f.before is None:
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


# --------------------------------------------------------------------------------------------------
# Plan: Markdown (one sticky pull-request comment)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~<>&])")


def _omitted_details(n: int) -> str:
    return f"_{n} {'change' if n == 1 else 'changes'}' details omitted: run plan locally or see the JSON artifact._\n\n"


def md_escape(s: str) -> str:
    """Escape a user string for a Markdown table cell or paragraph (no HTML, no pipes, no code)."""
    s = escape_controls(s)

    def sub(m: re.Match[str]) -> str:
        ch = m.group()
        return {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(ch, "\\" + ch)

    return _MD_SPECIAL.sub(sub, s)


def _html_escape(s: str) -> str:
    s = escape_controls(s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


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
    if plan.errored:
        line += f" — ❌ {_plural(len(plan.all_errors), 'error')}: cannot be applied"
    return line


def render_plan_markdown(plan: Plan, *, max_chars: int = 65000) -> str:
    """A pull-request comment never longer than ``max_chars`` (GitHub's limit is 65,536).

    Sections are filled in priority order (summary, errors, family counts, change table,
    warnings, details); when the budget runs out, details go first, then table rows, each
    replaced by a note saying how much was left out. The summary line is always whole.
    """
    summary = markdown_summary(plan) + "\n\n"
    ordered = destructive_first(plan.pending)
    errors = _md_errors(plan)
    families = _md_families(plan)
    table = _md_table(ordered)
    warnings = _md_warnings(plan)
    details = [_md_details(c, plan.provider) for c in ordered]

    budget = max_chars - len(summary)
    if budget < 0:
        return summary[:max_chars]
    sections = (errors, families, table, warnings)
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


def _md_errors(plan: Plan) -> _Section:
    rows = [_md_diag(d) for d in plan.errors]
    rows += [_md_diag(e, c.name) for c in plan.changes for e in c.errors]
    return _Section(
        head="### ❌ Errors: this plan cannot be applied\n\n",
        rows=rows,
        note=lambda n: f"_{n} more errors not shown: see the JSON artifact._\n\n",
    )


def _md_warnings(plan: Plan) -> _Section:
    rows = [_md_diag(d) for d in plan.warnings]
    rows += [_md_diag(w, c.name) for c in plan.changes for w in c.warnings]
    return _Section(
        head="### ⚠️ Warnings\n\n",
        rows=rows,
        note=lambda n: f"_{n} more warnings not shown: see the JSON artifact._\n\n",
    )


def _md_families(plan: Plan) -> _Section:
    per: dict[str, dict[str, int]] = {}
    for c in plan.changes:
        fam = c.family or ""
        row = per.setdefault(fam, {"capture": 0, "update": 0, "replace": 0, "remove": 0, "no-op": 0})
        row[c.action.word] += 1
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
        if not (c.action is Action.CAPTURE and f.before is None):
            lines.append(f"- {path}: {_value(f.before)}")
        if not (c.action is Action.REMOVE and f.after is None):
            lines.append(f"+ {path}: {_value(f.after)}{suffix}")
    if len(c.steps) > 1:
        if lines:
            lines.append("")
        lines.extend(f"  step {i}: {escape_controls(s)}" for i, s in enumerate(c.steps, 1))
    if c.consumes_vm is not None:
        lines.append(f"! consumes VM {escape_controls(c.consumes_vm)} ({consumes_wording(provider)})")
    body = "\n".join(lines) or "  (no field changes)"
    fence = _fence(body)
    summary = f"<code>{_html_escape(c.action.value)}</code> {c.action.word} <b>{_html_escape(c.name)}</b>"
    if is_destructive(c):
        summary += " ⚠️"
    summary += f" — {_html_escape(c.reason)}"
    return f"<details><summary>{summary}</summary>\n\n{fence}diff\n{body}\n{fence}\n\n</details>\n\n"


# --------------------------------------------------------------------------------------------------
# Diagnostics (validate, and any ReconcilerError the CLI reports)


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


# --------------------------------------------------------------------------------------------------
# Read views: images and families (design §2)

_CATEGORIES = ("user", "public", "all")


def filter_images(
    images: Iterable[Image],
    *,
    family: str | None = None,
    type: ImageType | str | None = None,  # mirrors the --type flag
    category: str = "user",
) -> list[Image]:
    """Select images for a listing, sorted by name (case-insensitive).

    ``family`` compares case-insensitively; ``type`` ``vm`` lists only VM images (those with
    data-disk configurations); ``category`` is ``user`` (default), ``public`` or ``all``.
    """
    if category not in _CATEGORIES:
        raise ReconcilerError(f"unknown image category '{category}'", "use one of: user, public, all")
    wanted_type: ImageType | None = None
    if type is not None:
        try:
            wanted_type = ImageType(type)
        except ValueError as e:
            raise ReconcilerError(f"unknown image type '{type}'", "use one of: vm, os") from e
    fam = family.casefold() if family is not None else None
    out = [
        i
        for i in images
        if (category == "all" or i.category.value == category)
        and (wanted_type is None or i.type is wanted_type)
        and (fam is None or (i.family or "").casefold() == fam)
    ]
    return sorted(out, key=lambda i: (i.key, i.name))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(header)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines) + "\n"


def render_images_table(images: Sequence[Image]) -> str:
    """Aligned columns; DISKS counts data disks (the OS disk is always there)."""
    if not images:
        return "No images found.\n"
    header = ("NAME", "TYPE", "OS", "STATE", "FAMILY", "CATEGORY", "OWNER", "PROTECTED", "DISKS", "CREATED")
    rows = [
        (
            escape_controls(i.name),
            i.type.value,
            escape_controls(i.os),
            i.os_state.value,
            escape_controls(i.family or "-"),
            i.category.value,
            escape_controls(i.owner or "-"),
            "yes" if i.protected else "no",
            str(i.data_disks),
            escape_controls(i.created or "-"),
        )
        for i in images
    ]
    return _table(header, rows)


def render_images_json(images: Sequence[Image]) -> list[dict[str, Any]]:
    """Each image as the plan document writes a live image (``plandoc``: provider facts in ``extra``)."""
    return [document_dict(i) for i in images]


def families_json(images: Iterable[Image]) -> list[dict[str, Any]]:
    """One entry per family (case-insensitive), sorted: ``family``, ``images``, ``newest``, ``types``.

    The newest image is the one with the latest ``created`` (name breaks ties); the family is
    spelled as on that image. Images without a family are not listed.
    """
    groups: dict[str, list[Image]] = {}
    for i in images:
        if i.family:
            groups.setdefault(i.family.casefold(), []).append(i)
    out = []
    for key in sorted(groups):
        members = groups[key]
        newest = max(members, key=lambda i: (i.created, i.key))
        out.append(
            {
                "family": newest.family,
                "images": len(members),
                "newest": newest.name,
                "newest_created": newest.created,
                "types": sorted({i.type.value for i in members}),
                "categories": sorted({i.category.value for i in members}),
            }
        )
    return out


def render_families(images: Iterable[Image]) -> str:
    fams = families_json(images)
    if not fams:
        return "No image families found.\n"
    rows = [
        (
            escape_controls(f["family"]),
            str(f["images"]),
            escape_controls(f["newest"]),
            escape_controls(f["newest_created"] or "-"),
            ",".join(f["types"]),
        )
        for f in fams
    ]
    return _table(("FAMILY", "IMAGES", "NEWEST", "CREATED", "TYPES"), rows)


# --------------------------------------------------------------------------------------------------
# Apply report

_OUTCOME_COLOR = {Outcome.DONE: _GREEN, Outcome.FAILED: _BOLD_RED, Outcome.NOT_STARTED: _YELLOW}


def render_apply_report(result: ApplyResult, *, color: bool = False) -> str:
    """One line per pending change (done / failed with its error / not started), then the count."""
    out = []
    for r in result.results:
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


__all__ = [
    "FORMAT_VERSION",
    "apply_report_json",
    "consumes_wording",
    "destructive_first",
    "escape_controls",
    "families_json",
    "filter_images",
    "footer",
    "is_destructive",
    "markdown_summary",
    "md_escape",
    "render_apply_report",
    "render_diagnostics_github",
    "render_diagnostics_json",
    "render_diagnostics_text",
    "render_families",
    "render_images_json",
    "render_images_table",
    "render_plan_json",
    "render_plan_markdown",
    "render_plan_text",
]
