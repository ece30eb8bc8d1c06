"""Escaping of untrusted strings: for a terminal or log (``escape_controls``), a Markdown cell
(``md_escape``) or HTML text and attributes (``_html_escape``); ``_value`` shows a field value as JSON.

Layer: pure core (views). Every human output passes user-supplied text through these (docs/security.md).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

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


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~<>&])")


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


__all__ = ["escape_controls", "md_escape"]
