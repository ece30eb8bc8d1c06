"""``reconciler fmt``: a desired-state file in canonical form, its comments kept (like ``terraform fmt``).

Layer: core (text to text; no I/O). A ruamel.yaml round trip keeps every comment and the author's
quoting; the canonical form is the key order of the documented example (docs/file-format.md) and
2-space indentation (sequence items indented under their key, as in ``images.yaml.example``). Keys
this module does not order (provider settings, provider image fields) follow the known ones in the
order they were written.

A comment belongs to the key below it, and moves with it: ruamel stores the comment lines between
two keys as the trailing comment of the first one, so before reordering a mapping they are taken
apart (the end-of-line comment stays with its key, the lines after it become the next key's
leading comment) and put back for the new order.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

#: Key orders, as in the documented example; other keys keep their order after these.
TOP_ORDER = ("version", "catalog", "policy", "families", "sources", "images")
CATALOG_ORDER = ("name", "provider")
POLICY_ORDER = ("prune", "retention", "lifecycle")
IMAGE_ORDER = (
    "name",
    "type",
    "os",
    "os_state",
    "family",
    "label",
    "description",
    "recommended_vm_size",
    "source",
    "tags",
    "protect",
    "promote_when",
)
SOURCE_ORDER = ("vm", "vhd", "generalize")
#: A ``families:`` entry: the order of ``model.FAMILY_FIELDS`` (identity, then what Azure infers,
#: then the updatable links and dates).
FAMILY_ORDER = (
    "description", "publisher", "offer", "sku", "hyper_v_generation", "security_type", "architecture",
    "disk_controllers", "accelerated_networking", "hibernation", "recommended", "eula", "release_notes",
    "privacy_statement", "end_of_life_date", "purchase_plan", "latest", "latest_rollout",
)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never re-wrap a long line
    return y


def format_yaml(text: str) -> str:
    """``text`` (a valid desired-state file) in canonical form; comments and quoting kept."""
    y = _yaml()
    doc = y.load(text)
    if _is_map(doc):
        _above(doc, _order(doc, TOP_ORDER), None)
        for section, order in (("catalog", CATALOG_ORDER), ("policy", POLICY_ORDER)):
            if _is_map(doc.get(section)):
                _above(doc, _order(doc[section], order), section)
        families = doc.get("families")
        if _is_map(families):
            for fam in list(families):
                if _is_map(families[fam]) and len(families[fam]):
                    _above(families, _order(families[fam], FAMILY_ORDER), fam)
        images = doc.get("images")
        if _is_seq(images):
            for i, image in enumerate(images):
                if _is_map(image):
                    _above(images, _order(image, IMAGE_ORDER), i)
                    if _is_map(image.get("source")):
                        _above(image, _order(image["source"], SOURCE_ORDER), "source")
    if _is_map(doc):
        _set_columns(doc.ca.comment[1] if doc.ca.comment else None, 0)
        _reindent(doc, 0, 0)
    out = io.StringIO()
    y.dump(doc, out)
    formatted = out.getvalue()
    _check_same_data(text, formatted)
    return formatted


def _check_same_data(before: str, after: str) -> None:
    """The formatted file must mean exactly what the file meant (as the spec reader reads YAML)."""
    import yaml

    from .errors import ReconcilerError

    if yaml.safe_load(before) != yaml.safe_load(after):
        raise ReconcilerError(
            "fmt would change what the file means, so it was left as it is",
            "please report this file's layout as a bug; format it by hand meanwhile",
        )


def _above(parent: Any, text: str, key: Any) -> None:
    """Put comment lines above the value ``parent[key]`` (``key`` None: above the document)."""
    if not text:
        return
    tokens = comment_tokens(text)
    if key is None:
        if parent.ca.comment is None:
            parent.ca.comment = [None, []]
        parent.ca.comment[1] = (parent.ca.comment[1] or []) + tokens
    elif _is_seq(parent):
        # Above the item's dash, which sits 2 columns left of the item's keys.
        for t in tokens:
            t.start_mark.column = max(0, t.start_mark.column - 2)
        entry = parent.ca.items.setdefault(key, [None, None, None, None])
        entry[1] = (entry[1] or []) + tokens
    else:
        # Above the first key of a nested mapping: after its parent's key line.
        first = list(parent[key].keys())[0]
        entry = parent[key].ca.items.setdefault(first, [None, None, None, None])
        entry[1] = tokens + (entry[1] or [])


def _set_columns(tokens: Any, column: int) -> None:
    """Full-line comment tokens start at ``column`` (the indentation of what they stand above)."""
    for t in tokens or ():
        if t is not None and t.value.strip():
            t.start_mark.column = column


def _reindent_text(value: str, inner: int, after: int, written: int) -> str:
    """A trailing token's text with its full-line comments (after the first line) re-indented: a
    line written at least as deep as the mapping's keys were (``written``) goes to ``inner``, one
    written shallower stands above what follows the mapping, at ``after``."""
    eol, rest = _split(value)
    if not rest:
        return value
    lines = []
    for line in rest.split("\n"):
        body = line.lstrip(" ")
        column = inner if len(line) - len(body) >= written else after
        lines.append(" " * column + body if body else "")
    return (eol or "\n") + "\n".join(lines)


def _shift_eol(token: Any, delta: int) -> None:
    """An end-of-line comment moves with its line's re-indentation (its gap and alignment kept)."""
    if token is not None and token.value.startswith("#") and delta:
        token.start_mark.column = max(0, token.start_mark.column + delta)


def _written_column(node: Any) -> int:
    """The column ``node``'s keys or dashes were written at (ruamel records it)."""
    try:
        return int(node.lc.col)
    except (AttributeError, TypeError):
        return 0


def _reindent(node: Any, indent: int, after: int) -> None:
    """Full-line comments at the canonical indentation: a mapping's keys at ``indent``, the items of
    a sequence under a key with their dash 2 columns further (``- name:``). ``after``: the
    indentation of what follows ``node`` (the comments after its last value stand above that)."""
    if _is_map(node):
        _set_columns(node.ca.comment[1] if node.ca.comment else None, indent)
        keys = list(node.keys())
        for i, k in enumerate(keys):
            nxt = indent if i + 1 < len(keys) else after
            entry = node.ca.items.get(k)
            if entry:
                _set_columns(entry[1], indent)
                _shift_eol(entry[2], indent - _written_column(node))
                if entry[2] is not None and not _block(node[k]):
                    entry[2].value = _reindent_text(entry[2].value, indent, nxt, _written_column(node))
                if len(entry) > 3 and isinstance(entry[3], list):
                    _set_columns(entry[3], indent + (2 if _is_seq(node[k]) else 2))
            value = node[k]
            if _block(value):
                _reindent(value, indent + 2, nxt)
    elif _is_seq(node):
        dash = indent
        _set_columns(node.ca.comment[1] if node.ca.comment else None, dash)
        for j in range(len(node)):
            nxt = dash if j + 1 < len(node) else after
            entry = node.ca.items.get(j)
            if entry:
                _set_columns(entry[1], dash)
                _shift_eol(entry[0], dash - _written_column(node))
                if entry[0] is not None and not _block(node[j]):
                    entry[0].value = _reindent_text(entry[0].value, dash, nxt, _written_column(node))
            if _block(node[j]):
                _reindent(node[j], dash + 2, nxt)


def _is_map(x: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap

    return isinstance(x, CommentedMap)


def _is_seq(x: Any) -> bool:
    from ruamel.yaml.comments import CommentedSeq

    return isinstance(x, CommentedSeq)


def _block(x: Any) -> bool:
    """A block (not flow) mapping or sequence: the comments after it live inside it."""
    return (_is_map(x) or _is_seq(x)) and not x.fa.flow_style() and len(x) > 0


def _split(value: str) -> tuple[str, str]:
    """A trailing comment token's text as (end-of-line comment, the lines after it)."""
    if value.startswith("#"):
        i = value.find("\n")
        return (value, "") if i < 0 else (value[: i + 1], value[i + 1 :])
    return "", value[1:] if value.startswith("\n") else value


def _token(value: str, column: int) -> Any:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    return CommentToken(value, CommentMark(column), None)


def _take_trailing(node: Any) -> str:
    """Detach and return the comment lines after the last value of ``node`` (deepest first)."""
    if _is_map(node):
        last: Any = list(node.keys())[-1]
        slot = 2
    else:
        last, slot = len(node) - 1, 0
    value = node[last]
    if _block(value):
        return _take_trailing(value)
    entry = node.ca.items.get(last)
    if not entry or entry[slot] is None:
        return ""
    eol, rest = _split(entry[slot].value)
    if eol:
        entry[slot].value = eol
    else:
        entry[slot] = None
    return rest


def _put_trailing(node: Any, rest: str) -> None:
    """Append ``rest`` (comment lines) after the last value of ``node``."""
    if not rest:
        return
    if _is_map(node):
        last: Any = list(node.keys())[-1]
        slot, size = 2, 4
    else:
        last, slot, size = len(node) - 1, 0, 2
    value = node[last]
    if _block(value):
        _put_trailing(value, rest)
        return
    entry = node.ca.items.setdefault(last, [None] * size)
    if entry[slot] is None:
        entry[slot] = _token("\n" + rest, 0)
    else:
        eol, more = _split(entry[slot].value)
        entry[slot].value = (eol or "\n") + more + rest


def _order(node: Any, order: Sequence[str]) -> str:
    """Reorder the keys of the mapping ``node``: ``order`` first, the others after, as written.

    Returns the comment lines that belonged above a key which is now the first one: the caller
    puts them above the mapping (ruamel keeps the lines above a mapping's first key in its parent).
    """
    keys = list(node.keys())
    rank = {k: i for i, k in enumerate(order)}
    new = sorted(keys, key=lambda k: (rank.get(k, len(order)), keys.index(k)))
    if new == keys:
        return ""
    # The comment lines above each key (but the first, whose live in the parent) and after the last.
    lead: dict[Any, str] = {}
    tail = ""
    for i, k in enumerate(keys):
        value = node[k]
        if _block(value):
            rest = _take_trailing(value)
        else:
            entry = node.ca.items.get(k)
            rest = ""
            if entry and entry[2] is not None:
                eol, rest = _split(entry[2].value)
                if eol:
                    entry[2].value = eol
                else:
                    entry[2] = None
        if i + 1 < len(keys):
            lead[keys[i + 1]] = rest
        else:
            tail = rest
    for k in new:
        node.move_to_end(k)
    for k in new[1:]:
        if lead.get(k):
            entry = node.ca.items.setdefault(k, [None, None, None, None])
            entry[1] = (entry[1] or []) + comment_tokens(lead[k])
    if tail:
        _put_trailing(node, tail)
    return lead.get(new[0], "")


def comment_tokens(text: str) -> list[Any]:
    """Comment lines (``"  # a\n\n  # b\n"``) as ruamel's tokens, one per line, blank lines kept."""
    out = []
    for line in text.rstrip("\n").split("\n"):
        body = line.lstrip(" ")
        out.append(_token((body or "") + "\n", len(line) - len(body)))
    return out


__all__ = ["IMAGE_ORDER", "TOP_ORDER", "format_yaml"]
