"""Where a value is in an input file: path -> position, and the one spelling of a JSON path.

Layer: pure core. Imports only ``errors``. Shared by the desired-state file (``reader`` fills a
``Positions`` from YAML parser events) and the catalog seed (``json_positions`` fills one from JSON
text), so both report ``file:line:col`` and ``$.images[0].name`` the same way.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import Location

#: A path into the data: mapping keys and list indices, from the root.
DataPath = tuple[str | int, ...]
#: A 0-based (line, column) position. Plain int tuples rather than ``yaml.Mark`` objects keep the
#: cyclic GC from scanning hundreds of thousands of them.
Mark = tuple[int, int]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def json_path(path: Iterable[str | int]) -> str:
    """``$.images[0].source.vm``; keys that are not simple words are bracketed: ``$.tags['a.b']``."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


def line_col(text: str | bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and column of ``offset`` in ``text`` (characters, or bytes for bytes)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")  # one character per byte: the same counts
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


class Locator(Protocol):
    """Anything that can say where a path is (``Positions`` and the reader's ``Document``)."""

    def loc(self, path: DataPath, *, key: bool = False) -> Location: ...

    def line(self, path: DataPath) -> int: ...


@dataclass
class Positions:
    """Where the values and keys of one file are: path -> ``Mark`` of the value, and of its key."""

    filename: str
    marks: dict[DataPath, Mark] = field(default_factory=dict)
    key_marks: dict[DataPath, Mark] = field(default_factory=dict)

    def loc(self, path: DataPath, *, key: bool = False) -> Location:
        """Location of ``path``: its key's position when ``key`` (and known), else its value's.

        A path that does not exist (a missing field) falls back to its nearest existing parent,
        preferring the parent's key (the line that names it) to its value.
        """
        line, col = 0, 0
        p = path
        while True:
            mark = (self.key_marks.get(p) if key else None) or self.marks.get(p)
            if mark is not None:
                line, col = mark[0] + 1, mark[1] + 1
                break
            if not p:
                break
            p, key = p[:-1], True
        return Location(self.filename, line, col, json_path(path))

    def line(self, path: DataPath) -> int:
        """The 1-based line of the value at ``path`` (0: unknown)."""
        mark = self.marks.get(path)
        return mark[0] + 1 if mark is not None else 0


# --------------------------------------------------------------------------------------------------
# JSON text -> Positions

_WS = re.compile(r"[ \t\n\r]*")


def json_positions(text: str, filename: str) -> tuple[Positions, list[tuple[DataPath, Mark]]]:
    """The positions of every value and key of a JSON text, and the keys repeated in one object.

    Only ever run on text ``json.loads`` accepted, so it reports no syntax errors itself. The
    desired-state reader's YAML events cannot stand in here: libyaml refuses some valid JSON
    (``"\\/"`` escapes, keys over 1024 characters) and the pure-Python parser refuses tabs.
    """
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    pos = Positions(filename)
    dups: list[tuple[DataPath, Mark]] = []
    decoder = json.JSONDecoder()

    def mark(i: int) -> Mark:
        line = bisect.bisect_right(starts, i) - 1
        return line, i - starts[line]

    def skip(i: int) -> int:
        m = _WS.match(text, i)
        return m.end() if m else i

    def value(i: int, path: DataPath) -> int:
        pos.marks[path] = mark(i)
        c = text[i]
        if c == "{":
            i = skip(i + 1)
            seen: set[str] = set()
            if text[i] == "}":
                return i + 1
            while True:
                key_at = i
                key, i = decoder.raw_decode(text, i)  # a JSON string: the key
                child = (*path, key)
                if key in seen:
                    dups.append((child, mark(key_at)))
                seen.add(key)
                pos.key_marks.setdefault(child, mark(key_at))
                i = skip(skip(i) + 1)  # past ':'
                i = skip(value(i, child))
                if text[i] == "}":
                    return i + 1
                i = skip(i + 1)  # past ','
        if c == "[":
            i = skip(i + 1)
            if text[i] == "]":
                return i + 1
            n = 0
            while True:
                i = skip(value(i, (*path, n)))
                n += 1
                if text[i] == "]":
                    return i + 1
                i = skip(i + 1)
        _, end = decoder.raw_decode(text, i)
        return int(end)

    value(skip(0), ())
    return pos, dups


__all__ = ["Locator", "Mark", "DataPath", "Positions", "json_path", "json_positions", "line_col"]
