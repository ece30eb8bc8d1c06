"""Reading the desired-state file: bytes -> plain data, with the position of every value.

Layer: pure core. Imports ``yaml`` (when a file needs it: ``_yaml``); never prints, reads files or
the environment.

1. Bytes are decoded as strict UTF-8 here, so that binary input and bad encodings are reported
   with their byte offset and line instead of a reader traceback.
2. YAML is read as a stream of *events* from libyaml's C parser (``yaml.CSafeLoader``; the pure
   Python ``SafeLoader`` when libyaml is missing) and turned into plain data by ``_build_data``,
   not by PyYAML's composer or constructor. That lets us (a) keep a path -> position map for
   messages, (b) report duplicate keys, which PyYAML silently overwrites, (c) refuse aliases
   outright, so an alias bomb is never expanded, and (d) keep timestamps and version-like scalars
   as strings. It is also faster: 273 ms against 667 ms for ``CSafeLoader`` on 95,000 lines, and
   ``yaml.compose`` alone takes about 2 s on 120,000 lines, because its per-node Python resolver
   calls dominate. Scalar and key positions are recorded lazily (see ``Document``).
3. Before that, the fast read (``_fast_read``, below) tries the block-style subset the format is
   written in, without event objects (issue 13: 1.3 s instead of 2.5 s for 100,000 images); it
   gives up on anything else, errors included, and the event reader then reads the file, so every
   message and position comes from the event reader. The fast read resolves plain words, bools,
   nulls and decimal integers itself, so a file in the usual subset never imports ``yaml`` (15 ms
   of every run; issue 13); any other number asks yaml's own resolvers.
"""

from __future__ import annotations

import functools
import marshal
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from operator import methodcaller
from sys import intern
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, Location
from .messages import describe
from .positions import DataPath, Mark, Positions, json_path, line_col

#: Aliases (``*name``) are refused altogether: nothing in this format needs them, and refusing them
#: is the only policy under which an alias bomb ("billion laughs") costs nothing to reject.
ALIASES_REFUSED = True

#: Deeper nesting than this is refused: the format itself is at most 5 levels deep.
MAX_DEPTH = 32

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


if TYPE_CHECKING:
    import yaml

    from .forked import Helper

def _yaml() -> Any:
    """The ``yaml`` module, imported the first time a file needs it, and the module globals
    ``_NoTimestampLoader`` (libyaml's safe loader, pure Python when libyaml is missing, without the
    timestamp resolver: dates and versions stay strings, ``2026-11-26`` is the text "2026-11-26"
    and the schema's ``format: date`` checks it) and ``_PLAIN_SCALAR_TAGS`` (the constructors of
    the plain scalar tags) defined then; ``_loader`` and ``_scalar_tags`` read them (a test may
    replace the loader)."""
    import yaml

    if "_NoTimestampLoader" not in globals():
        loader: Any = type("_NoTimestampLoader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})
        loader.yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        scalars = yaml.constructor.SafeConstructor()
        globals().update(_NoTimestampLoader=loader, _PLAIN_SCALAR_TAGS={
            "tag:yaml.org,2002:null": scalars.construct_yaml_null,
            "tag:yaml.org,2002:bool": scalars.construct_yaml_bool,
            "tag:yaml.org,2002:int": scalars.construct_yaml_int,
            "tag:yaml.org,2002:float": scalars.construct_yaml_float,
        })
    return yaml


def _loader() -> Any:
    _yaml()
    return globals()["_NoTimestampLoader"]


def _scalar_tags() -> dict[str, Callable[[Any], Any]]:
    _yaml()
    tags: dict[str, Callable[[Any], Any]] = globals()["_PLAIN_SCALAR_TAGS"]
    return tags


def __getattr__(name: str) -> Any:
    if name in ("_NoTimestampLoader", "_PLAIN_SCALAR_TAGS"):
        _yaml()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_STR = "tag:yaml.org,2002:str"
# Tags that mean "just text" to us: merge ``<<`` and value ``=`` are not supported features, and
# an explicit ``!!timestamp`` still stays a string.
_TEXT_TAGS = frozenset({_STR, "!", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value", _TIMESTAMP_TAG})
_MAP_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map"})
_SEQ_TAGS = frozenset({None, "!", "tag:yaml.org,2002:seq"})

# Characters YAML 1.1 allows in a stream (tab, line breaks, printable); anything else is refused
# before parsing so the message can name the character and its position.
@functools.cache
def _disallowed() -> re.Pattern[str]:
    """The characters YAML 1.1 refuses in a stream (compiled when a file has a character that is not
    printable: 4 ms of every run otherwise; issue 13)."""
    return re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class Document(Positions):
    """Parsed data plus where its values and keys are (``Positions``).

    The first (fast) read records the marks of the top-level sections and their entries only
    (paths of at most two steps: ``images[3]``), which is all a valid file needs
    (``ImageSpec.line``). The first message that needs the position of a scalar or a key re-reads
    ``text`` once with every mark recorded (``full``): invalid files pay for positions, valid
    120,000-line files do not.
    """

    text: str = ""
    data: Any = None
    full: bool = False
    #: Every key and scalar of the file is printable text (``str.isprintable``), so the semantic
    #: check of invisible characters has nothing to look at (issue 13: it was a walk of the tree).
    printable: bool = False

    #: The file's bytes, zlib-compressed, kept instead of ``text`` once released (``release``).
    packed: bytes = b""

    #: The line (0-based) each entry of the ``images:`` list starts on, when the split read took the
    #: list (``_fast_split``), and their column: the marks of ``images[i]``, kept apart from
    #: ``marks`` (two tuples and a dict entry an image were 18 MB of a 100,000-image read; issue 13).
    #: ``line`` reads them; ``first_marks`` gives them as ``marks`` would hold them.
    entry_lines: list[int] = field(default_factory=list)
    entry_col: int = 0

    def line(self, path: DataPath) -> int:
        lines = self.entry_lines
        if lines and len(path) == 2 and path[0] == "images" and path[1].__class__ is int and 0 <= path[1] < len(lines):
            return lines[path[1]] + 1
        return super().line(path)

    def first_marks(self) -> dict[DataPath, Mark]:
        """The marks of the first read, the entries' (``entry_lines``) among them."""
        marks = dict(self.marks)
        marks.update({("images", i): (at, self.entry_col) for i, at in enumerate(self.entry_lines)})
        return marks

    def release(self, packed: bytes = b"") -> None:
        """Let the data and the marks go once the desired state is built (issue 13: they were kept
        for the whole run, most of a large file's memory). A later ``loc`` reads ``text`` again;
        ``packed``: the file's bytes compressed (``zlib``), kept instead of the text."""
        self.data = None
        if not self.full:
            self.marks, self.key_marks, self.entry_lines = {}, {}, []
            self.pack(packed)

    def pack(self, packed: bytes) -> None:
        """Keep ``packed`` (the file's bytes compressed) instead of the text, the data and marks
        kept: a streamed read lets the text go once it has cut its last piece (issue 13: 25 MB at
        the peak of a 100,000-image read). ``source`` gives the text again."""
        if packed:
            self.packed, self.text = packed, ""

    def source(self) -> str:
        """The file's text, from the packed copy when it was let go of (as ``read_document``
        decoded it)."""
        if self.packed:
            self.text, self.packed = zlib.decompress(self.packed).decode("utf-8-sig"), b""
        return self.text

    def loc(self, path: DataPath, *, key: bool = False) -> Location:
        if not self.full:
            self.full = True
            self.marks, self.key_marks, self.entry_lines = {}, {}, []
            _build_data(_events(self.source()), self, [], full=True)
        return super().loc(path, key=key)


def _events(text: str) -> Iterator[Any]:
    """libyaml's events of ``text``, as ``yaml.parse`` gives them but without its generator: the
    loader's own ``get_event`` called until it answers None (8% of reading a large file)."""
    return iter(_loader()(text).get_event, None)


_SKIP: Any = object()  # pending key of a value that must not be stored (duplicate or complex key)


class _MultipleDocuments(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__("more than one document")
        self.mark = mark


def _build_data(
    events: Iterable[Any], doc: Document, diags: list[Diagnostic], *, full: bool = False
) -> tuple[bool, Any]:
    """Parser events -> plain data (dict, list, str, int, float, bool, None) and marks.

    ``full``: record the marks of every scalar and key too, not only of mappings and lists.

    One tight loop with an explicit stack (no recursion, so depth is bounded by ``MAX_DEPTH``, not
    by the Python recursion limit); this loop is most of the cost of reading a large file.
    Returns (a root node was seen, the root value).
    """
    filename = doc.filename
    marks = doc.marks
    key_marks = doc.key_marks
    yaml = _yaml()
    resolvers = _loader().yaml_implicit_resolvers
    Scalar, MapStart, SeqStart = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    Alias = yaml.AliasEvent
    CollEnd, DocStart = (yaml.MappingEndEvent, yaml.SequenceEndEvent), yaml.DocumentStartEvent

    def error(path: DataPath, mark: Any, summary: str, hint: str) -> None:
        loc = Location(filename, mark.line + 1, mark.column + 1, json_path(path))
        diags.append(Diagnostic.error(summary, hint, loc, "yaml"))

    stack: list[tuple[Any, DataPath, bool, Any, bool, dict[str, Any]]] = []
    # The current frame, unpacked into locals for speed.
    container: Any = None
    path: DataPath = ()
    is_map = False
    key: Any = None
    discard = False
    first_lines: dict[str, Any] = {}  # key -> the mark where it first appeared
    root: Any = None
    have_root = False
    documents = 0
    aliases_seen: set[str] = set()
    printable = True

    for ev in events:
        cls = type(ev)
        if cls is Scalar:  # its mark is read only where it is used: most values never need it
            value: Any = ev.value
            if printable and not value.isprintable():
                printable = False
            if is_map and key is None:  # a key
                value = intern(value)  # a few dozen distinct keys, 100,000 times each: one string each
                if discard:
                    key = _SKIP
                    continue
                mark = ev.start_mark
                first = first_lines.get(value)
                if first is not None:
                    error(path + (value,), mark, f"duplicate key '{value}' (first on line {first.line + 1})",
                          "YAML would keep only one of them: remove or rename this one")
                    key = _SKIP
                    continue
                first_lines[value] = mark
                if full:
                    key_marks[path + (value,)] = (mark.line, mark.column)
                key = value
                continue
            tag = ev.tag
            if tag is None and ev.implicit[0]:
                for rtag, rx in resolvers.get(value[:1], ()):
                    if rx.match(value):
                        tag = rtag
                        break
            if tag is not None and tag not in _TEXT_TAGS:
                vp = path + (key,) if is_map else path + (len(container),) if container is not None else ()
                report = _ignore if discard or key is _SKIP else functools.partial(error, vp, ev.start_mark)
                value = _construct(tag, value, report)
        elif cls is MapStart or cls is SeqStart:
            mark = ev.start_mark
            new: Any = {} if cls is MapStart else []
            if is_map and key is None:  # a mapping or list used as a key
                if not discard:
                    error(path, mark, "a key must be plain text, not a mapping or a list",
                          "write the key as a simple word")
                key = _SKIP
                stack.append((container, path, is_map, key, discard, first_lines))
                container, is_map, key, discard, first_lines = new, cls is MapStart, None, True, {}
                continue
            child = path + (key,) if is_map else path + (len(container),) if container is not None else ()
            child_discard = discard or key is _SKIP
            if not child_discard and ev.tag not in (_MAP_TAGS if cls is MapStart else _SEQ_TAGS):
                error(child, mark, f"unsupported YAML tag '{ev.tag}'", "remove the tag")
            if not child_discard and len(stack) >= MAX_DEPTH:
                error(child, mark, f"the file nests too deeply (nested deeper than {MAX_DEPTH} levels)",
                      f"flatten the document: no desired-state file needs more than {MAX_DEPTH} levels")
                child_discard = True
            if container is None and not stack:
                root, have_root = new, True
            elif not child_discard:
                if is_map:
                    container[key] = new
                else:
                    container.append(new)
            if not child_discard and (full or len(child) <= 2):  # the fast read: entries' marks only
                marks[child] = (mark.line, mark.column)
            stack.append((container, path, is_map, None, discard, first_lines))
            container, path, is_map, key, discard, first_lines = new, child, cls is MapStart, None, child_discard, {}
            continue
        elif cls in CollEnd:
            container, path, is_map, key, discard, first_lines = stack.pop()
            continue
        elif cls is Alias:
            mark = ev.start_mark
            if not discard and ev.anchor not in aliases_seen:  # one message per anchor is enough
                aliases_seen.add(ev.anchor)
                error(path + (key,) if is_map and key is not None and key is not _SKIP else path, mark,
                      f"YAML aliases are not allowed (found *{ev.anchor})",
                      "write the value out in full; aliases and '<<' merges are refused")
            if is_map:
                key = _SKIP if key is None else None
            continue
        elif cls is DocStart:
            documents += 1
            if documents > 1:
                raise _MultipleDocuments(ev.start_mark)
            continue
        else:
            continue
        # A scalar value: store it.
        if container is None and not stack:
            root, have_root = value, True
            mark = ev.start_mark
            marks[()] = (mark.line, mark.column)
        elif is_map:
            if key is not _SKIP and not discard:
                container[key] = value
                if full:
                    mark = ev.start_mark
                    marks[path + (key,)] = (mark.line, mark.column)
            key = None
        elif not discard:
            if full:
                mark = ev.start_mark
                marks[path + (len(container),)] = (mark.line, mark.column)
            container.append(value)
    if not full:
        doc.printable = printable
    return have_root, root


def _ignore(summary: str, hint: str) -> None:
    return None


def _construct(tag: str, value: str, error: Callable[[str, str], None]) -> Any:
    """A scalar with a non-text tag. On failure the text itself is kept, so that one bad tag
    yields one message rather than a cascade of type errors."""
    yaml = _yaml()
    construct = _scalar_tags().get(tag)
    if construct is None:
        error(f"unsupported YAML tag '{tag}'", "remove the tag; quote the value")
        return value
    try:
        return construct(yaml.ScalarNode(tag, value))
    except (ValueError, KeyError, yaml.YAMLError):
        error(f"'{value}' is not a valid {tag.rsplit(':', 1)[-1]}", "fix or quote it")
        return value



# --------------------------------------------------------------------------------------------------
# The fast read (issue 13): the block-style subset desired-state files are written in, one regular
# expression over the text (in C) and a short loop over its lines, without libyaml's Python event
# objects (about 1.6 s of a 100,000-image file). It raises ``_NotFast`` on anything outside that
# subset or anything wrong, and ``read_document`` then reads the file with the event reader above,
# so every message, position and edge case (errors, anchors, tags, block scalars, quoting with
# escapes, multi-line and nested flow values...) comes from one place.
# ``tests/unit/test_spec_fast_reader.py`` checks fast == full (data, marks, printable) on generated
# documents, and that every document outside the subset is read by the event reader.

_FAST_KEY = r"[A-Za-z0-9_][A-Za-z0-9_./-]*(?: [A-Za-z0-9_./-]+)*"
#: One line: indentation, "- " of a list entry, a plain key and its ":", the rest. The second form
#: also drops trailing spaces; it is slower, and used only when some line has them.
_FAST_LINE = re.compile(rf"^( *)(- +)?(?:({_FAST_KEY}):( +|$))?(.*)$", re.M)
_FAST_LINE_TRAILING = re.compile(rf"^( *)(- +)?(?:({_FAST_KEY}):( +|$))?(.*?) *$", re.M)
#: What a plain scalar must not start with (``"`` ``'`` ``{`` ``[`` are read apart); inside, no
#: ``: `` or `` #``, and no ``:`` at the end (tabs and line breaks are refused before).
_FAST_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@` ")
#: What a plain scalar inside ``{...}`` and ``[...]`` must not hold at all.
_FAST_FLOW_SPECIAL = re.compile(r"[,\[\]{}:#'\"]|  | \Z")
_FAST_DQ = re.compile(r'"([^"\\]*)"\Z')
_FAST_SQ = re.compile(r"'([^']*)'\Z")
_FAST_FLOW_KEY = re.compile(_FAST_KEY)
_MISS: Any = object()
#: A plain scalar that is text, known at a glance: it starts with a letter no implicit resolver
#: reads (bools and nulls start with f n o t y, numbers with digits . + -), and holds only word
#: characters, ``./-`` and single spaces between them (so nothing a flow or block value refuses).
_FAST_TEXT = re.compile(r"[A-EG-MP-SU-XZa-eg-mp-su-xz][\w./-]*(?: [\w./-]+)*\Z")
#: A flow mapping of plain words and simple quoted text, ``{vm: build-7, index: "7"}``: its pairs
#: are found by one ``findall`` (``_fast_value`` reads any other flow mapping item by item).
_FLOW_WORD = r'(?:[\w./-]+|"[\w./ -]*")'
_FLOW_SIMPLE = re.compile(rf"\{{(?:[A-Za-z0-9_][\w./-]*: {_FLOW_WORD}(?:, [A-Za-z0-9_][\w./-]*: {_FLOW_WORD})*)?\}}\Z")
_FLOW_PAIR = re.compile(r'([A-Za-z0-9_][\w./-]*): (?:"([\w./ -]*)"|([\w./-]+))')  # (key, quoted, plain)
_FAST_DEPTH = 12  # deeper files are read by the event reader (``MAX_DEPTH`` and its message)


def _printable(text: str) -> bool:
    """Every character but the line breaks is printable (``str.isprintable``: no control, format,
    surrogate, private-use or unassigned code point, no separator but the space). A megabyte at a
    time: a copy of a 25 MB text without its line breaks stayed in the C heap after it was freed
    (issue 13)."""
    n = 1 << 20
    return all(text[i:i + n].replace("\n", "").isprintable() for i in range(0, len(text), n))


class _NotFast(Exception):
    """The text is outside the fast read's subset: read it with the event reader."""


class _NotSplit(Exception):
    """The ``images:`` list is not written as the split read takes it: read it line by line."""


def _fast_scalar(value: str, cache: dict[str, Any], flow: bool) -> Any:
    """A value that is not a collection: quoted text, or a plain scalar resolved as the event reader
    resolves it (YAML 1.1 implicit tags but timestamps). ``cache``: the values already resolved."""
    if _FAST_TEXT.match(value) is not None:
        cache[value] = value
        return value
    first = value[:1]
    if first == '"' or first == "'":
        m = (_FAST_DQ if first == '"' else _FAST_SQ).match(value)
        if m is None:
            raise _NotFast
        out: Any = m.group(1)
    elif (not value or (first in _FAST_INDICATORS and not (first == "-" and value[1:2] not in ("", " ")))
          or ": " in value or " #" in value or value[-1] == ":"
          or (flow and _FAST_FLOW_SPECIAL.search(value) is not None)):
        raise _NotFast
    elif first in _FAST_NUMERIC:
        out = int(value) if _FAST_DECIMAL.match(value) is not None else _yaml_scalar(value, first)
    else:  # the only resolvers of a word are yaml's exact bool and null spellings (and "<<", "=": text)
        out = _FAST_WORDS.get(value, value)
    cache[value] = out
    return out


#: What yaml's implicit resolvers (YAML 1.1, PyYAML's lists) make of a plain scalar, without them:
#: a number starts with one of these; a decimal integer (``[-+]?(0|[1-9][0-9]*)``, no ``_``) is an
#: int; any other number is left to them (``_yaml_scalar``). Bools and nulls are these exact words.
_FAST_NUMERIC = frozenset("+-.0123456789")
_FAST_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FAST_WORDS: dict[str, Any] = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("~", "null", "Null", "NULL"), None),
}


def _yaml_scalar(value: str, first: str) -> Any:
    """A plain scalar that may be a number, resolved by yaml's own resolvers and constructors."""
    yaml = _yaml()
    for rtag, rx in _loader().yaml_implicit_resolvers.get(first, ()):
        if rx.match(value):
            if rtag in _TEXT_TAGS:
                return value
            construct = _scalar_tags().get(rtag)
            if construct is None:
                raise _NotFast
            try:
                return construct(yaml.ScalarNode(rtag, value))
            except (ValueError, KeyError, yaml.YAMLError):
                raise _NotFast from None
    return value


def _fast_value(value: str, cache: dict[str, Any], flow_cache: dict[str, Any], path: DataPath,
                marks: dict[DataPath, Mark], line: int, col: int) -> Any:
    """A value not in ``cache``: a scalar, or ``{a: b, c: "d"}`` / ``[a, b]`` on one line with
    nothing nested. ``line``, ``col``: where it starts (a collection at two steps or fewer is marked)."""
    if _FAST_TEXT.match(value) is not None:
        cache[value] = value
        return value
    if value[0] == "{" and _FLOW_SIMPLE.match(value) is not None:
        get = flow_cache.get
        simple = {intern(k): quoted if not plain else v if (v := get(plain, _MISS)) is not _MISS
                  else _fast_scalar(plain, flow_cache, True) for k, quoted, plain in _FLOW_PAIR.findall(value)}
        if len(simple) == value.count(":"):  # else a duplicate key: read below, which refuses it
            if len(path) <= 2:
                marks[path] = (line, col)
            return simple
    cut = value.find(" #")
    if cut > 0:  # a comment after the value (a quoted "a #b" is then cut short, and refused)
        value = value[:cut].rstrip(" ")
    first = value[0]
    if first != "{" and first != "[":
        return _fast_scalar(value, cache, False)
    inner = value[1:-1]
    if value[-1] != ("}" if first == "{" else "]") or "{" in inner or "}" in inner or "[" in inner or "]" in inner:
        raise _NotFast
    if len(path) <= 2:
        marks[path] = (line, col)
    if not inner.strip(" "):
        return {} if first == "{" else []
    items = inner.split(",")
    get = flow_cache.get
    flow_keys: dict[str, bool] = flow_cache.setdefault(_MISS, {})  # flow keys seen: whether they are keys
    if first == "[":
        out = []
        for item in items:
            item = item.strip(" ")
            v = get(item, _MISS)
            out.append(_fast_scalar(item, flow_cache, True) if v is _MISS else v)
        return out
    pairs: dict[str, Any] = {}
    for item in items:
        k, colon, text = item.strip(" ").partition(": ")
        ok = flow_keys.get(k) if colon else False  # keys repeat: each is checked once
        if ok is None:
            ok = flow_keys[k] = _FAST_FLOW_KEY.fullmatch(k) is not None
        if not ok or k in pairs:
            raise _NotFast
        text = text.lstrip(" ")
        v = get(text, _MISS)
        pairs[intern(k)] = _fast_scalar(text, flow_cache, True) if v is _MISS else v
    return pairs


def _fast_read(text: str, doc: Document, printable: bool | None = None, stream: bool = False) -> dict[str, Any]:
    """The root mapping of ``text``, with the marks the event reader's first read records (the
    collections at paths of at most two steps) in ``doc``; raises ``_NotFast``. ``printable``:
    ``_printable(text)``, when the caller knows it already. ``stream``: see ``_fast_split``."""
    if printable is None:
        printable = _printable(text)
    if "\t" in text or "\r" in text or not printable:
        raise _NotFast  # tabs and CRs (their messages), NEL/LS/PS line breaks, invisible characters
    cache: dict[str, Any] = {}
    flow_cache: dict[str, Any] = {}
    trailing = " \n" in text or text.endswith(" ")
    findall = (_FAST_LINE_TRAILING if trailing else _FAST_LINE).findall
    size = len(text)
    root: dict[str, Any] | None = (None if trailing else
                                   _fast_split(text, doc.marks, cache, flow_cache, findall, doc, stream))
    if root is None:
        doc.marks.clear()
        root = {}
        lineno, _, _ = _fast_lines(text, 0, size, -1, root, doc.marks, cache, flow_cache, findall)
        if lineno != text.count("\n"):
            raise _NotFast
    if not root:
        raise _NotFast
    first, pos = 0, 0
    while True:  # the root's mark: its first key, on the first line that is not blank or a comment
        nl = text.find("\n", pos)
        content = text[pos:nl if nl >= 0 else size].lstrip(" ")
        if content and content[0] != "#":
            doc.marks[()] = (first, 0)
            return root
        if nl < 0:
            raise _NotFast
        first, pos = first + 1, nl + 1


#: The ``images:`` line of the split read (``_fast_split``), and the end of the list below it: the
#: next line at column 1 that is not blank.
_FAST_IMAGES = re.compile(r"^images:\n", re.M)
_FAST_SECTION_END = re.compile(r"\n(?=[^ \n])")
#: Paths inside a list entry (three steps) are never marked: ``_fast_value`` is given this one.
_FAST_DEEP: DataPath = ("images", 0, "")


def _fast_split(text: str, marks: dict[DataPath, Mark], cache: dict[str, Any], flow_cache: dict[str, Any],
                findall: Any, doc: Document | None = None, stream: bool = False) -> dict[str, Any] | None:
    """The root mapping, its ``images:`` list read entry by entry with ``str.split`` (in C) instead
    of line by line: the whole of a large file is that list, written as ``export`` writes it (one
    ``key: value`` per line at one indentation, no comments or blank lines inside an entry, no
    nested block). None when the list is not written so (``_fast_read`` then reads every line,
    with fresh marks); raises ``_NotFast`` where the line-by-line read would. ``doc``: where the
    entries' marks go (``Document.entry_lines``); without it, into ``marks``.

    ``stream`` (with ``doc``): a list of ``_STREAM_MIN`` characters or more is not read here: the
    root's ``images`` is an ``Entries``, which reads it a piece at a time when asked (``check``'s
    streamed read).

    ``tests/unit/test_spec_fast_reader.py`` checks split == line by line == event reader."""
    m = _FAST_IMAGES.search(text)
    if m is None:
        return None
    head_end = m.end() - 1  # the newline that ends the ``images:`` line
    root: dict[str, Any] = {}
    lineno, pending, at_root = _fast_lines(text, 0, head_end, -1, root, marks, cache, flow_cache, findall)
    if pending != "images" or not at_root:
        return None
    start = m.end()
    lead = text[start:start + 64]
    col = len(lead) - len(lead.lstrip(" "))  # the list's indentation: at least one space (else line by line)
    if not 0 < col < 64 or text[start + col:start + col + 2] != "- " or text[start + col + 2:start + col + 3] == " ":
        return None
    end_m = _FAST_SECTION_END.search(text, start)
    stop = end_m.start() if end_m is not None else len(text)
    if end_m is not None and text[stop + 1] in "#-":  # a comment or a list at column 1: line by line
        return None
    first = start + col + 2  # the first entry's first key
    marker = "\n" + " " * col + "- "
    sep = "\n" + " " * (col + 2)
    line = lineno + 1
    marks[("images",)] = (line, col)
    helper: Helper | None = None
    mine = stop  # the entries this process reads: all, or the first half
    middle = text.find(marker, first + (stop - first) * 55 // 100, stop) if stop - first >= _PARALLEL_MIN else -1
    # This process takes a little more than half: the helper also pickles its answer, which this
    # one unpickles in a tenth of the time (55% measured best on 100,000 images; issue 13).
    streamed = stream and doc is not None and stop - first >= _STREAM_MIN
    if middle >= 0:  # a large list: its second half read by a helper process meanwhile (``forked``)
        from . import forked  # late: pickle is 1 ms of a small file's plan

        other = partial(_split_pieces if streamed else _split_answer, text, middle + len(marker), stop,
                        line + text.count("\n", first, middle) + 1, marker, sep, cache, flow_cache)
        helper = forked.start(other)
        mine = middle if helper is not None else stop
    if streamed:
        assert doc is not None
        doc.entry_col = col + 2
        entries = Entries(doc, (text, first, mine, marker, sep, line, cache, flow_cache), helper,
                          other if helper is not None else None, line + text.count("\n", first, stop) + 1)
        try:
            root["images"] = entries
            lineno = entries.line_after - 1
            if end_m is not None:
                lineno, _, _ = _fast_lines(text, stop + 1, len(text), lineno, root, marks, cache, flow_cache, findall)
            if lineno != text.count("\n"):
                raise _NotFast
        except BaseException:
            entries.close()
            raise
        return root
    try:
        read = _split_entries(text, first, mine, marker, sep, line, cache, flow_cache)
        if read is not None and helper is not None:
            try:
                answer = helper.result()
            except forked.HelperFailed:
                answer = other()  # the helper's half, read here
            if answer is _NotFast:
                raise _NotFast
            read = None if answer is None else (read[0] + answer[0], read[1] + answer[1], answer[2])
            helper = None
    finally:
        if helper is not None:  # this half declined (or raised): the other half is not needed
            helper.cancel()
    if read is None:
        return None
    items, lines, line = read
    inner = col + 2
    if doc is not None:
        doc.entry_lines, doc.entry_col = lines, inner
    else:
        marks.update({("images", index): (at, inner) for index, at in enumerate(lines)})
    root["images"] = items
    lineno = line - 1
    if end_m is not None:
        lineno, _, _ = _fast_lines(text, stop + 1, len(text), lineno, root, marks, cache, flow_cache, findall)
    if lineno != text.count("\n"):
        raise _NotFast
    return root


#: The values the split read remembers (raw text -> value) before it forgets them all: most are
#: an entry's own (its name, its label) and never come again, and a cache of 300,000 of them was
#: slower per lookup than one that stays small (a sixth of the read of 100,000 images; issue 13).
_CACHE_MAX = 2048

#: The text the split read cuts into entries at once (``str.split``): a whole list of 100,000 was a
#: copy of 25 MB held to the end of the read (issue 13).
_SPLIT_CHARS = 1 << 20

#: The size (characters) of an ``images:`` list from which the split read shares the work with a
#: helper process (``forked``): below it, the fork and the answer's pickle cost more than half the
#: read saves (a 1,000-image list is read in 10 ms).
_PARALLEL_MIN = 4 << 20


def _split_entries(text: str, first: int, stop: int, marker: str, sep: str, line: int, cache: dict[str, Any],
                   flow_cache: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int], int] | None:
    """The entries of ``text[first:stop]`` (each after a ``marker``, its lines after ``sep``) and
    the line each starts on (``line``: the first's), then the line after the last; None where the
    split read declines the list (``_fast_split``). Raises ``_NotFast``."""
    items: list[dict[str, Any]] = []
    lines: list[int] = []
    for piece in _entry_pieces(text, first, stop, marker, sep, line, cache, flow_cache):
        if piece is None:
            return None
        items += piece[0]
        lines += piece[1]
        line = piece[2]
    return items, lines, line


def _entry_pieces(text: str, first: int, stop: int, marker: str, sep: str, line: int, cache: dict[str, Any],
                  flow_cache: dict[str, Any]) -> Iterator[tuple[list[dict[str, Any]], list[int], int] | None]:
    """``_split_entries``, a piece of about ``_SPLIT_CHARS`` characters at a time (cut before an
    entry): each piece's entries, the line each starts on, and the line after its last; None (and
    nothing after it) where the split read declines the list. Raises ``_NotFast``. The entries'
    texts are then short-lived copies: one list of every entry's text was 25 MB (issue 13)."""
    canon: dict[str, str] = {}  # the keys seen, checked and interned
    get = cache.get
    split = methodcaller("split", ": ", 1)
    unmarked: dict[DataPath, Mark] = {}  # a value inside an entry is never marked (``_FAST_DEEP``)

    def value_of(value: str) -> Any:
        if not value or value[0] == " " or value[0] == "#":
            raise _NotSplit  # "key:  value" (its column), a comment, a value on the next lines
        return _fast_value(value, cache, flow_cache, _FAST_DEEP, unmarked, line, 0)

    pos = first
    while True:
        cut = text.find(marker, pos + _SPLIT_CHARS, stop)  # -1: the rest is the last piece
        items: list[dict[str, Any]] = []
        lines: list[int] = []
        try:
            for entry in text[pos:cut if cut >= 0 else stop].split(marker):
                lines.append(line)
                if len(cache) > _CACHE_MAX or len(flow_cache) > _CACHE_MAX:  # mostly names read once
                    cache.clear()
                    flow_cache.clear()
                body = entry.rstrip("\n")
                pieces = body.split(sep)
                raw = dict(map(split, pieces))  # ValueError: a line without ": "
                if len(raw) != len(pieces) or len(pieces) != body.count("\n") + 1:
                    raise _NotSplit  # a duplicate key; a line at another indentation (a nested block...)
                if not canon.keys() >= raw.keys():
                    for key in raw.keys() - canon.keys():
                        if _FAST_FLOW_KEY.fullmatch(key) is None:
                            raise _NotSplit
                        canon[key] = intern(key)
                items.append({canon[k]: v if (v := get(text, _MISS)) is not _MISS else value_of(text)
                              for k, text in raw.items()})
                line += entry.count("\n") + 1
        except (ValueError, _NotSplit):
            yield None
            return
        yield items, lines, line
        if cut < 0:
            return
        pos = cut + len(marker)  # may be ``stop``: then an empty last entry, as one split gives


class StreamBroken(Exception):
    """A piece of a streamed ``images:`` list is not read as the split read takes it (``Entries``):
    read the whole file again (``read_text``), which says what it is."""


#: A streamed list's pieces: this process's are ``_entry_pieces``' (about ``_SPLIT_CHARS``
#: characters), the helper's this many entries (``Entries``).
_PIECE_ENTRIES = 4096

#: The size (characters) of an ``images:`` list from which a streamed read (``_fast_split``'s
#: ``stream``) leaves it to ``Entries``: below it, the whole list is a few megabytes at most.
_STREAM_MIN = 1 << 20


class Entries:
    """The ``images:`` list of a streamed read, not read yet: ``pieces`` reads it a piece at a time
    (index of the first entry, the entries), recording each entry's line in the document
    (``Document.entry_lines``) before it answers the piece. The same split read as the whole list's
    (``_entry_pieces``): the same entries and lines (``tests/unit/test_spec_streamed.py``).

    A piece the split read declines or refuses raises ``StreamBroken``: the caller reads the
    whole file again. ``close`` (also after the last piece) ends a helper still reading.
    ``done_with_text``: called once every piece is cut or answered, before the helper's pieces are
    answered: nothing of the stream needs the text any more (the caller may let it go)."""

    done_with_text: Callable[[], None] | None = None

    def __init__(self, doc: Document, mine: tuple[Any, ...], helper: Helper | None,
                 other: Callable[[], Any] | None, line_after: int) -> None:
        # ``mine``: ``_entry_pieces``' arguments for this process's entries (text, first, stop, ...).
        self._doc, self._mine, self._helper, self._other = doc, mine, helper, other
        self.line_after = line_after  # the line after the list, as the whole read counts it

    def pieces(self) -> Iterator[tuple[int, list[Any]]]:
        try:
            yield from self._pieces()
        finally:
            self.close()

    def _pieces(self) -> Iterator[tuple[int, list[Any]]]:
        lines_of = self._doc.entry_lines
        _, _, _, _, _, line, _, _ = self._mine  # the first entry's line: the line after, if there is none
        index = 0
        try:
            for piece in _entry_pieces(*self._mine):
                if piece is None:
                    raise StreamBroken
                items, lines, line = piece
                lines_of.extend(lines)
                yield index, items
                index += len(items)
        except _NotFast:
            raise StreamBroken from None
        if self._helper is not None:
            from . import forked

            helper, self._helper = self._helper, None
            try:
                answer = helper.result()
            except forked.HelperFailed:
                assert self._other is not None
                answer = self._other()  # the helper's half, read here
            if answer is None or answer is _NotFast:
                raise StreamBroken
            self._mine, self._other = (), None  # they hold the text
            if self.done_with_text is not None:
                self.done_with_text()
            blobs, lines, line = answer
            lines_of.extend(lines)
            for k, blob in enumerate(blobs):
                blobs[k] = b""
                items = _load_piece(blob)
                yield index, items
                index += len(items)
        if line != self.line_after:
            raise StreamBroken

    def close(self) -> None:
        helper, self._helper = self._helper, None
        if helper is not None:
            helper.cancel()


def _split_pieces(text: str, first: int, stop: int, line: int, marker: str, sep: str, cache: dict[str, Any],
                  flow_cache: dict[str, Any]) -> Any:
    """``_split_answer`` as a streamed read's helper answers it: the entries in pieces of
    ``_PIECE_ENTRIES`` each (``_dump_piece``), so that the parent holds one piece's entries at a time."""
    answer = _split_answer(text, first, stop, line, marker, sep, cache, flow_cache)
    if answer is None or answer is _NotFast:
        return answer
    items, lines, line = answer
    return [_dump_piece(items[i:i + _PIECE_ENTRIES]) for i in range(0, len(items), _PIECE_ENTRIES)], lines, line


def _dump_piece(items: list[Any]) -> bytes:
    """A piece of the helper's entries as bytes for ``_load_piece``: ``marshal`` (the entries are
    plain dicts, lists and scalars; issue 13: loading 50,000 entries took 0.13 s, against 0.20 s
    unpickled, and this process waits for it), ``pickle`` for a piece holding any other type. Both
    processes are the same interpreter (a fork), so marshal's version-bound format is safe here."""
    try:
        return marshal.dumps(items)
    except ValueError:  # a value marshal does not take
        import pickle  # late, as in ``forked``

        return pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)


def _load_piece(blob: bytes) -> list[Any]:
    """The entries ``_dump_piece`` wrote: a pickle begins with its PROTO opcode (0x80), which
    no marshal dump does (a list is ``[``, or ``[`` with its reference flag: 0x5b, 0xdb)."""
    if blob[:1] == b"\x80":
        import pickle  # late, as in ``forked``

        items: list[Any] = pickle.loads(blob)
        return items
    loaded: list[Any] = marshal.loads(blob)
    return loaded


def _split_answer(text: str, first: int, stop: int, line: int, marker: str, sep: str, cache: dict[str, Any],
                  flow_cache: dict[str, Any]) -> Any:
    """``_split_entries`` as the helper answers it: ``_NotFast`` (the class) for its exception."""
    try:
        return _split_entries(text, first, stop, marker, sep, line, cache, flow_cache)
    except _NotFast:
        return _NotFast


def _fast_lines(text: str, pos: int, stop: int, lineno: int, root: dict[str, Any], marks: dict[DataPath, Mark],
                cache: dict[str, Any], flow_cache: dict[str, Any], findall: Any) -> tuple[int, str | None, bool]:
    """Read the lines of ``text[pos:stop]`` into ``root`` (``stop``: a newline, or the end), the
    first one at column 1; ``lineno``: the index of the line before. Returns the index of the last
    line read, the key still waiting for its value (on the next lines), and whether the read ended
    in the root mapping. Raises ``_NotFast``."""
    # Frames (indent, container, is_map, path); the innermost one lives in these locals.
    stack: list[tuple[int, Any, bool, DataPath]] = []
    indent, is_map = 0, True
    container_: Any = root
    path: DataPath = ()
    child: DataPath
    pending: str | None = None  # a key whose value is on the next lines, and its indentation
    pending_indent = 0
    while pos <= stop:  # a megabyte at a time: the list of one chunk's lines is short-lived
        end = text.find("\n", pos + (1 << 20))
        if end < 0 or end > stop:
            end = stop
        for ind, dash, key, gap, val in findall(text, pos, end):
            lineno += 1
            if key and not dash and pending is None and is_map and len(ind) == indent:  # most lines
                key = intern(key)
                if key in container_:
                    raise _NotFast  # a duplicate key: the event reader says where both are
                if val and val[0] != "#":
                    v = cache.get(val, _MISS)
                    container_[key] = (_fast_value(val, cache, flow_cache, path + (key,), marks, lineno,
                                                   indent + len(key) + 1 + len(gap)) if v is _MISS else v)
                else:
                    container_[key] = None
                    pending, pending_indent = key, indent
                continue
            if not key and not dash:
                if not val or val[0] == "#":
                    continue  # a blank line or a comment
                raise _NotFast  # a scalar on a line of its own (a continued value, a root scalar...)
            col = len(ind)
            if not root and (col or dash):
                raise _NotFast  # the root is not a mapping at column 1
            if pending is not None:
                if col > pending_indent or (dash and col == pending_indent):
                    new: Any = [] if dash else {}
                    child = path + (pending,)
                    container_[pending] = new
                    if len(child) <= 2:
                        marks[child] = (lineno, col)
                    stack.append((indent, container_, is_map, path))
                    if len(stack) > _FAST_DEPTH:
                        raise _NotFast  # deep nesting: the event reader's message
                    indent, container_, is_map, path = col, new, not dash, child
                pending = None
            if col != indent:
                while col < indent:
                    indent, container_, is_map, path = stack.pop()
                if col != indent:
                    raise _NotFast
            if not dash:
                if not is_map:  # a key after an indentless list, at its mapping's indentation
                    indent, container_, is_map, path = stack.pop()
                    if col != indent or not is_map:
                        raise _NotFast
            else:
                if is_map:
                    raise _NotFast
                inner = col + len(dash)
                child = path + (len(container_),)
                if not key:
                    if not val:
                        raise _NotFast  # "-" alone: the entry on the next lines
                    v = cache.get(val, _MISS)
                    container_.append(_fast_value(val, cache, flow_cache, child, marks, lineno, inner)
                                      if v is _MISS else v)
                    continue
                new = {}
                container_.append(new)
                if len(child) <= 2:
                    marks[child] = (lineno, inner)
                stack.append((indent, container_, is_map, path))
                if len(stack) > _FAST_DEPTH:
                    raise _NotFast
                indent, container_, is_map, path = inner, new, True, child
            key = intern(key)
            if key in container_:
                raise _NotFast  # a duplicate key: the event reader says where both are
            if not val or val[0] == "#":
                container_[key] = None
                pending, pending_indent = key, indent
                continue
            v = cache.get(val, _MISS)
            container_[key] = (_fast_value(val, cache, flow_cache, path + (key,), marks, lineno,
                                           indent + len(key) + 1 + len(gap)) if v is _MISS else v)
        pos = end + 1
    return lineno, pending, container_ is root


def _fatal(diags: list[Diagnostic], filename: str, summary: str, hint: str, line: int = 0, col: int = 0,
           code: str = "yaml") -> None:
    diags.append(Diagnostic.error(summary, hint, Location(filename, line, col, "$"), code))


def read_document(data: bytes | list[bytes], filename: str, *,
                  stream: bool = False) -> tuple[Document | None, list[Diagnostic]]:
    """Decode and parse; None when the file cannot be read as one YAML mapping.

    ``data``: the file's bytes, or a list holding them, handed over: it is emptied, and the bytes
    let go of once decoded (when nothing else holds them: 24 MB less at the peak of reading a
    100,000-image file; issue 13).

    ``stream``: a long ``images:`` list the split read takes is left unread: the document's
    ``images`` is an ``Entries`` that reads it a piece at a time (``check``'s streamed read); its
    caller reads the whole text again (``read_text``) if a piece breaks."""
    if isinstance(data, list):
        data = data.pop()
    diags: list[Diagnostic] = []
    fatal = partial(_fatal, diags, filename)

    nul = data.find(b"\x00")
    if nul >= 0:
        line, col = line_col(data, nul)
        fatal(
            f"binary content: NUL byte at offset {nul}",
            "the desired-state file must be UTF-8 text; is this the right file?",
            line,
            col,
            "encoding",
        )
        return None, diags
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        offset = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line, col = line_col(data, offset)
        fatal(
            f"not UTF-8: invalid byte 0x{data[offset]:02x} at offset {offset}",
            "save the file as UTF-8",
            line,
            col,
            "encoding",
        )
        return None, diags
    del data  # the text is the file from here on
    return read_text(text, filename, diags, stream=stream)


def read_text(text: str, filename: str, diags: list[Diagnostic] | None = None, *,
              stream: bool = False) -> tuple[Document | None, list[Diagnostic]]:
    """``read_document`` of the decoded text (``diags``: what was said already)."""
    diags = [] if diags is None else diags
    fatal = partial(_fatal, diags, filename)

    printable = _printable(text)
    bad = None if printable else _disallowed().search(text)  # a printable character is one YAML allows
    if bad is not None:
        line, col = line_col(text, bad.start())
        fatal(
            f"control character U+{ord(bad.group()):04X} is not allowed in YAML",
            "remove it, or write it as an escape inside a double-quoted string",
            line,
            col,
            "encoding",
        )
        return None, diags

    doc = Document(filename, text=text)
    try:
        doc.data, doc.printable = _fast_read(text, doc, printable, stream), True
        return doc, diags
    except _NotFast:
        doc = Document(filename, text=text)
    yaml = _yaml()
    try:
        have_root, root = _build_data(_events(text), doc, diags)
    except _MultipleDocuments as e:
        fatal(
            "more than one YAML document in the file",
            "keep a single document: remove the second '---'",
            e.mark.line + 1,
            e.mark.column + 1,
        )
        return None, diags
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        problem = e.problem or str(e)
        if "maximum nesting depth" in problem:  # libyaml's own limit (1000), far past ours
            summary = f"the file nests too deeply (nested deeper than {MAX_DEPTH} levels)"
            if not any(d.summary == summary for d in diags):  # already said where it passed ours
                fatal(
                    summary,
                    f"flatten the document: no desired-state file needs more than {MAX_DEPTH} levels",
                    (m.line + 1) if m else 0,
                    (m.column + 1) if m else 0,
                )
            return None, diags
        summary, hint, m = _syntax_error(text, e, problem, m)
        fatal(summary, hint, (m.line + 1) if m else 0, (m.column + 1) if m else 0)
        return None, diags
    except yaml.YAMLError as e:  # reader errors carry an offset, not a mark
        fatal(f"YAML error: {e}", "check the file is plain UTF-8 YAML")
        return None, diags

    if not have_root or root is None:
        fatal(
            "the file is empty",
            "start from images.yaml.example: version, catalog and images are required",
            1,
            1,
        )
        return None, diags
    if not isinstance(root, dict):
        fatal(
            f"the top level must be a mapping (version, catalog, policy, images), not {describe(root)}",
            "start from images.yaml.example",
            max(doc.line(()), 1),
            1,
        )
        return None, diags
    doc.data = root
    return doc, diags




#: The constructs a parser error can name as still open (``e.context``), with their opening bracket.
_OPENED = {
    "while parsing a flow sequence": ("flow sequence", "[", "]"),
    "while parsing a flow mapping": ("flow mapping", "{", "}"),
    "while scanning a quoted scalar": ("quoted string", "", ""),
}


def _syntax_error(text: str, e: yaml.MarkedYAMLError, problem: str, m: Any) -> tuple[str, str, Any]:
    """(summary, hint, mark) of a YAML syntax error, in words a person can act on.

    A tab where YAML wants indentation is called a tab. A construct still open when the parser
    gave up (``[vm`` with no ``]``) is named with the line and column it opened at, and reported
    there: the parser itself only notices at the next token, often the end of the file.
    """
    index = getattr(m, "index", None) if m is not None else None
    if isinstance(index, int) and 0 <= index < len(text) and text[index] == "\t":
        indenting = not text[text.rfind("\n", 0, index) + 1:index].strip()
        return ("a tab character is used for indentation; YAML indents with spaces only" if indenting
                else "a tab character is not allowed here in YAML", "replace the tab with spaces", m)
    opened = _OPENED.get(e.context or "")
    cm = e.context_mark
    if opened is not None and cm is not None:
        what, _, close = opened
        where = f"line {cm.line + 1}, column {cm.column + 1}"
        rest = text[getattr(cm, "index", 0):]
        at_end = isinstance(index, int) and not text[index:].strip()
        if at_end or (close and close not in rest):
            closer = f" (no '{close}')" if close else ""
            return (f"YAML syntax error: the {what} opened on {where} is never closed{closer}",
                    f"close it{f' with {close!r}' if close else ' with its quote'} on the line it belongs to", cm)
        return (f"YAML syntax error: {problem} in the {what} opened on {where}",
                "check the commas and quoting inside it", m)
    context = f" ({e.context})" if e.context else ""
    return f"YAML syntax error: {problem}{context}", "check indentation, quoting and ':' at this line", m


__all__ = ["ALIASES_REFUSED", "MAX_DEPTH", "Document", "read_document"]
