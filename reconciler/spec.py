"""The desired-state file: YAML bytes -> validated ``DesiredState``, and back (``dump_spec``).

Layer: pure core, except ``load_spec`` (the thin wrapper that reads a file). Imports ``yaml`` and
``jsonschema``; never ``requests`` or ``typer``; never prints, reads the environment or exits (the
environment reaches us as the ``defaults`` mapping built by ``cli.py``).

How a file is checked, and why it is built this way:

1. Bytes are decoded as strict UTF-8 ourselves, so that binary input and bad encodings are reported
   with their byte offset and line instead of a reader traceback.
2. YAML is read as a stream of *events* from libyaml's C parser (``yaml.CSafeLoader``; the pure
   Python ``SafeLoader`` when libyaml is missing) and turned into plain data by ``_build_data``,
   not by PyYAML's composer or constructor. That lets us (a) keep a path -> position map for
   messages, (b) report duplicate keys, which PyYAML silently overwrites, (c) refuse aliases
   outright, so an alias bomb is never expanded, and (d) keep timestamps and version-like scalars
   as strings. It is also faster: ``yaml.compose`` alone takes about 2 s on a 120,000-line file,
   because its per-node Python resolver calls dominate. Scalar and key positions are recorded
   lazily (see ``_Doc``).
3. The data is validated against ``schemas/images.schema.json`` with a format checker. The
   catalog and policy always go through ``jsonschema``. An image goes through it only when a
   small compiled pre-check (``_compile``) rejects it, so jsonschema writes every message. The
   pre-check may be stricter than jsonschema (then jsonschema just finds nothing), but never
   laxer.
4. Semantic checks the schema cannot express (duplicate names, os_state rules, what the chosen
   provider supports) run on the same data, and every problem is returned together, sorted by line.
"""

from __future__ import annotations

import difflib
import functools
import gc
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from .errors import Diagnostic, Location, ReconcilerError, Severity, SpecError
from .model import (
    Capabilities,
    CatalogConfig,
    DesiredState,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    Source,
)

__all__ = [
    "ALIASES_REFUSED",
    "MAX_DEPTH",
    "check_spec",
    "dump_spec",
    "load_schema",
    "load_spec",
    "parse_spec",
]

#: Aliases (``*name``) are refused altogether: nothing in this format needs them, and refusing them
#: is the only policy under which an alias bomb ("billion laughs") costs nothing to reject.
ALIASES_REFUSED = True

#: Deeper nesting than this is refused: the format itself is at most 5 levels deep.
MAX_DEPTH = 32

_Path = tuple[str | int, ...]

# Image fields every provider understands; anything else in the schema's image properties is a
# provider-specific field that must appear in ``Capabilities.image_fields``.
_CORE_IMAGE_FIELDS = frozenset(
    {
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
    }
)
_CATALOG_CORE = frozenset({"name", "provider"})

_DEFAULT_PROVIDER = "local"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# --------------------------------------------------------------------------------------------------
# Schema


@functools.cache
def load_schema(name: str = "images.schema.json") -> dict[str, Any]:
    """The named JSON Schema shipped in ``reconciler/schemas`` (works from an installed wheel).

    Cached: callers share one dict and must not mutate it.
    """
    text = (files("reconciler") / "schemas" / name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class _Validators:
    """Built once per process. ``split_images``: the ``images`` array schema is just a list of
    ``#/$defs/image`` items, so images may be validated one by one (else the whole document is)."""

    full: jsonschema.protocols.Validator
    image: jsonschema.protocols.Validator
    image_ok: Callable[[Any], bool]
    catalog_props: Mapping[str, Any]
    image_props: frozenset[str]
    split_images: bool


@functools.cache
def _validators() -> _Validators:
    schema = load_schema()
    cls = jsonschema.Draft202012Validator
    full = cls(schema, format_checker=cls.FORMAT_CHECKER)
    image_schema = schema["$defs"]["image"]
    return _Validators(
        full=full,
        image=full.evolve(schema=image_schema),
        image_ok=_compile(image_schema, schema, cls.FORMAT_CHECKER),
        catalog_props=schema["$defs"]["catalog"]["properties"],
        image_props=frozenset(image_schema["properties"]),
        split_images=set(schema["properties"]["images"]) <= {"type", "items", "description"}
        and schema["properties"]["images"].get("items") == {"$ref": "#/$defs/image"},
    )


_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "default", "examples", "$comment"})


def _reject(_: Any) -> bool:
    return False


def _accept(_: Any) -> bool:
    return True


def _compile(schema: Any, root: Mapping[str, Any], formats: jsonschema.FormatChecker) -> Callable[[Any], bool]:
    """A fast validity predicate for the subset of JSON Schema our schema uses.

    Soundness rule: it may answer False for a valid instance (jsonschema then runs and finds
    nothing), never True for an invalid one. Any keyword it does not know compiles to "reject",
    so growing the schema can only cost speed, not correctness.
    """
    if schema is True or schema == {}:
        return _accept
    if schema is False or not isinstance(schema, Mapping):
        return _reject
    checks: list[Callable[[Any], bool]] = []
    for kw, val in schema.items():
        if kw in _ANNOTATIONS or (kw == "additionalProperties" and "properties" in schema):
            continue  # additionalProperties is folded into the properties loop
        check = _compile_keyword(kw, val, schema, root, formats)
        if check is None:
            return _reject
        checks.append(check)
    if len(checks) == 1:
        return checks[0]
    a, b, *rest = checks

    def conj(x: Any) -> bool:
        if not (a(x) and b(x)):
            return False
        for c in rest:
            if not c(x):
                return False
        return True

    return conj


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_num,
    # Stricter than jsonschema (which also accepts 3.0): allowed by the soundness rule.
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
}


def _compile_keyword(
    kw: str, val: Any, schema: Mapping[str, Any], root: Mapping[str, Any], formats: jsonschema.FormatChecker
) -> Callable[[Any], bool] | None:
    sub = functools.partial(_compile, root=root, formats=formats)
    if kw == "$ref" and isinstance(val, str) and val.startswith("#/"):
        target: Any = root
        for part in val[2:].split("/"):
            target = target[part]
        cell: list[Callable[[Any], bool]] = []

        def ref(x: Any) -> bool:  # compiled on first use: refs may be recursive
            if not cell:
                cell.append(sub(target))
            return cell[0](x)

        return ref
    if kw == "type" and isinstance(val, str) and val in _TYPES:
        return _TYPES[val]
    if kw == "enum" and all(isinstance(v, str) for v in val):
        allowed = frozenset(val)
        return lambda x: isinstance(x, str) and x in allowed
    if kw == "const" and isinstance(val, int | str) and not isinstance(val, bool):
        return lambda x: type(x) is type(val) and x == val
    if kw == "pattern":
        rx = re.compile(val)
        return lambda x: not isinstance(x, str) or rx.search(x) is not None
    if kw == "format":
        return lambda x: not isinstance(x, str) or formats.conforms(x, val)
    if kw in ("minLength", "maxLength"):
        op = (lambda n: n >= val) if kw == "minLength" else (lambda n: n <= val)
        return lambda x: not isinstance(x, str) or op(len(x))
    if kw == "minItems":
        return lambda x: not isinstance(x, list) or len(x) >= val
    if kw == "minimum":
        return lambda x: not _is_num(x) or x >= val
    if kw == "exclusiveMinimum":
        return lambda x: not _is_num(x) or x > val
    if kw == "required":
        need = tuple(val)

        def required_ok(x: Any) -> bool:
            if type(x) is dict:
                for k in need:
                    if k not in x:
                        return False
            return True

        return required_ok
    if kw == "properties" or kw == "additionalProperties":
        # One loop over the object for both keywords: this is the hot path for 10,000 images.
        if "patternProperties" in schema:
            return None
        props = {k: sub(v) for k, v in schema.get("properties", {}).items()}
        extra = sub(schema.get("additionalProperties", True))

        def object_ok(x: Any) -> bool:
            if type(x) is not dict:
                return True
            for k, v in x.items():
                if not props.get(k, extra)(v):
                    return False
            return True

        return object_ok
    if kw == "propertyNames":
        name_ok = sub(val)
        return lambda x: not isinstance(x, dict) or all(name_ok(k) for k in x)
    if kw == "items":
        item_ok = sub(val)
        return lambda x: not isinstance(x, list) or all(item_ok(i) for i in x)
    if kw == "oneOf" and all(isinstance(s, Mapping) and set(s) == {"required"} for s in val):
        # Only exact branches: a conservative branch could turn "two match" into "one matches".
        branches = [tuple(s["required"]) for s in val]
        return lambda x: not isinstance(x, dict) or sum(all(k in x for k in b) for b in branches) == 1
    return None


# --------------------------------------------------------------------------------------------------
# Reading YAML: decode, then events -> data with marks


class _NoTimestampLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader (pure Python when libyaml is missing), without the timestamp resolver.

    Dates and versions stay strings: ``2026-11-26`` is the text "2026-11-26", and the schema's
    ``format: date`` checks it.
    """


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SCALARS = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_PLAIN_SCALAR_TAGS = {
    "tag:yaml.org,2002:null": _SCALARS.construct_yaml_null,
    "tag:yaml.org,2002:bool": _SCALARS.construct_yaml_bool,
    "tag:yaml.org,2002:int": _SCALARS.construct_yaml_int,
    "tag:yaml.org,2002:float": _SCALARS.construct_yaml_float,
}
# Tags that mean "just text" to us: merge ``<<`` and value ``=`` are not supported features, and
# an explicit ``!!timestamp`` still stays a string.
_TEXT_TAGS = frozenset({_STR, "!", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value", _TIMESTAMP_TAG})
_MAP_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map"})
_SEQ_TAGS = frozenset({None, "!", "tag:yaml.org,2002:seq"})

# Characters YAML 1.1 allows in a stream (tab, line breaks, printable); anything else is refused
# before parsing so the message can name the character and its position.
_DISALLOWED = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _line_col_of_offset(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


@dataclass
class _Doc:
    """Parsed data plus where its values and keys are: path -> 0-based (line, column) of the mark.

    The first (fast) read records the marks of mappings and lists only, which is all a valid file
    needs (``ImageSpec.line``). The first message that needs the position of a scalar or a key
    re-reads ``text`` once with every mark recorded (``full``): invalid files pay for positions,
    valid 120,000-line files do not. Plain int tuples rather than ``yaml.Mark`` objects keep the
    cyclic GC from scanning them.
    """

    filename: str
    text: str = ""
    data: Any = None
    marks: dict[_Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[_Path, tuple[int, int]] = field(default_factory=dict)
    full: bool = False

    def loc(self, path: _Path, *, key: bool = False) -> Location:
        """Location of ``path``: its key's position when ``key`` (and known), else its value's.

        A path that does not exist (a missing field) falls back to its nearest existing parent.
        """
        if not self.full:
            self.full = True
            self.marks, self.key_marks = {}, {}
            _build_data(yaml.parse(self.text, Loader=_NoTimestampLoader), self, [], full=True)
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

    def line(self, path: _Path) -> int:
        mark = self.marks.get(path)
        return mark[0] + 1 if mark is not None else 0


_SKIP: Any = object()  # pending key of a value that must not be stored (duplicate or complex key)


class _MultipleDocuments(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__("more than one document")
        self.mark = mark


def _build_data(
    events: Iterable[yaml.Event], doc: _Doc, diags: list[Diagnostic], *, full: bool = False
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
    resolvers = _NoTimestampLoader.yaml_implicit_resolvers
    Scalar, MapStart, SeqStart = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    Alias = yaml.AliasEvent
    CollEnd, DocStart = (yaml.MappingEndEvent, yaml.SequenceEndEvent), yaml.DocumentStartEvent

    def error(path: _Path, mark: yaml.Mark, summary: str, hint: str) -> None:
        loc = Location(filename, mark.line + 1, mark.column + 1, json_path(path))
        diags.append(Diagnostic.error(summary, hint, loc, "yaml"))

    stack: list[tuple[Any, _Path, bool, Any, bool, dict[str, int]]] = []
    # The current frame, unpacked into locals for speed.
    container: Any = None
    path: _Path = ()
    is_map = False
    key: Any = None
    discard = False
    first_lines: dict[str, int] = {}
    root: Any = None
    have_root = False
    documents = 0
    aliases_seen: set[str] = set()

    for ev in events:
        cls = type(ev)
        if cls is Scalar:
            mark = ev.start_mark
            value: Any = ev.value
            if is_map and key is None:  # a key
                if discard:
                    key = _SKIP
                    continue
                first = first_lines.get(value)
                if first is not None:
                    error(path + (value,), mark, f"duplicate key '{value}' (first on line {first})",
                          "YAML would keep only one of them: remove or rename this one")
                    key = _SKIP
                    continue
                first_lines[value] = mark.line + 1
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
                report = _ignore if discard or key is _SKIP else functools.partial(error, vp, mark)
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
            if not child_discard:
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
            marks[()] = (mark.line, mark.column)
        elif is_map:
            if key is not _SKIP and not discard:
                container[key] = value
                if full:
                    marks[path + (key,)] = (mark.line, mark.column)
            key = None
        elif not discard:
            if full:
                marks[path + (len(container),)] = (mark.line, mark.column)
            container.append(value)
    return have_root, root


def _ignore(summary: str, hint: str) -> None:
    return None


def _construct(tag: str, value: str, error: Callable[[str, str], None]) -> Any:
    """A scalar with a non-text tag. On failure the text itself is kept, so that one bad tag
    yields one message rather than a cascade of type errors."""
    construct = _PLAIN_SCALAR_TAGS.get(tag)
    if construct is None:
        error(f"unsupported YAML tag '{tag}'", "remove the tag; quote the value")
        return value
    try:
        return construct(yaml.ScalarNode(tag, value))
    except (ValueError, KeyError, yaml.YAMLError):
        error(f"'{value}' is not a valid {tag.rsplit(':', 1)[-1]}", "fix or quote it")
        return value


def _read(data: bytes, filename: str) -> tuple[_Doc | None, list[Diagnostic]]:
    """Decode and parse; None when the file cannot be read as one YAML mapping."""
    diags: list[Diagnostic] = []

    def fatal(summary: str, hint: str, line: int = 0, col: int = 0, code: str = "yaml") -> None:
        diags.append(Diagnostic.error(summary, hint, Location(filename, line, col, "$"), code))

    nul = data.find(b"\x00")
    if nul >= 0:
        line, col = _line_col_of_offset(data, nul)
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
        line, col = _line_col_of_offset(data, offset)
        fatal(
            f"not UTF-8: invalid byte 0x{data[offset]:02x} at offset {offset}",
            "save the file as UTF-8",
            line,
            col,
            "encoding",
        )
        return None, diags
    bad = _DISALLOWED.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        fatal(
            f"control character U+{ord(bad.group()):04X} is not allowed in YAML",
            "remove it, or write it as an escape inside a double-quoted string",
            line,
            col,
            "encoding",
        )
        return None, diags

    doc = _Doc(filename, text)
    try:
        have_root, root = _build_data(yaml.parse(text, Loader=_NoTimestampLoader), doc, diags)
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
        context = f" ({e.context})" if e.context else ""
        fatal(
            f"YAML syntax error: {problem}{context}",
            "check indentation, quoting and ':' at this line",
            (m.line + 1) if m else 0,
            (m.column + 1) if m else 0,
        )
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
            f"the top level must be a mapping (version, catalog, policy, images), not {_kind(root)}",
            "start from images.yaml.example",
            max(doc.line(()), 1),
            1,
        )
        return None, diags
    doc.data = root
    return doc, diags


# --------------------------------------------------------------------------------------------------
# Messages


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


def _kind(x: Any) -> str:
    if x is None:
        return "an empty value"
    if isinstance(x, bool):
        return f"a boolean ({str(x).lower()})"
    if isinstance(x, int | float):
        return f"a number ({x})"
    if isinstance(x, str):
        return f"the text '{_short(x)}'"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "a mapping"
    return type(x).__name__


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "boolean": "true or false",
    "number": "a number",
    "integer": "a whole number",
    "null": "empty",
}


def _shape(path: _Path) -> str:
    """``images[].source.vm``: a path with indices erased, to key per-field hints."""
    return ".".join("[]" if isinstance(p, int) else p for p in path).replace(".[]", "[]")


_TYPE_HINTS = {
    "object": "write a mapping: indented 'key: value' lines, or {key: value}",
    "array": "write a list: '- item' lines, or [a, b]",
    "string": "write text",
    "boolean": "write true or false",
    "number": "write a number, for example 30 or 2.5",
    "integer": "write a whole number, for example 3",
}

_PATTERN_HINTS = {
    "catalog.name": "lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters",
    "images[].name": "letters, digits, '.', '_', '-' and '/', starting with a letter or digit, at most 80 characters",
    "images[].recommended_vm_size": "an Azure size name such as Standard_D2s_v5",
    "images[].source.vhd": "an https:// URL of the VHD blob",
    "images[].source.storage_account": "3-24 lowercase letters and digits",
    "catalog.lock_storage_account": "3-24 lowercase letters and digits",
    "catalog.lock_container": "3-63 lowercase letters, digits and '-'",
    "catalog.gallery": "letters, digits, '.' and '_' (no '-'), at most 80 characters",
    "catalog.resource_group": "letters, digits, '-', '_', '.', '(' and ')', not ending in '.'",
    "catalog.endpoint": "an http(s):// URL",
    "catalog.lock_endpoint": "an http(s):// URL",
    "catalog.x_ms_version": 'a quoted date such as "2014-10-01"',
}
_FORMAT_HINTS = {
    "date": "write a date as YYYY-MM-DD",
    "uuid": "a subscription id looks like 00000000-0000-0000-0000-000000000000",
    "uri": "write a full URL, such as https://example.net/path",
}


def _field(path: _Path) -> str:
    for p in reversed(path):
        if isinstance(p, str):
            return p
    return "value"


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _translate(err: ValidationError, prefix: _Path, doc: _Doc) -> list[Diagnostic]:
    """One jsonschema error -> user diagnostics with positions, in our words."""
    path: _Path = prefix + tuple(err.absolute_path)
    kw = err.validator
    inst = err.instance
    name = _field(path)
    E = Diagnostic.error

    if "propertyNames" in err.relative_schema_path:
        return [E(f"a key in {name} is empty or too long ('{_short(str(inst))}')", "use a non-empty key",
                  doc.loc(path, key=True), "schema")]
    if kw == "additionalProperties" and isinstance(inst, dict):
        known = list(err.schema.get("properties", {}))
        out = []
        for k in inst:
            if k in known:
                continue
            hint = _suggest(k, known)
            if not hint:
                hint = f"allowed here: {', '.join(known)}" if len(known) <= 12 else "see docs/file-format.md"
            out.append(E(f"unknown field '{k}'", hint, doc.loc(path + (k,), key=True), "schema"))
        return out
    if kw == "required" and isinstance(inst, dict):
        return [
            E(f"missing required field '{k}'" + (f" in {json_path(path)[2:]}" if path else ""),
              f"add '{k}:' here", doc.loc(path, key=True), "schema")
            for k in err.validator_value
            if k not in inst
        ]
    if kw in ("oneOf", "anyOf") and _shape(path).endswith("source") and isinstance(inst, dict):
        both = "vm" in inst and "vhd" in inst
        summary = "source sets both 'vm' and 'vhd'" if both else "source needs 'vm' or 'vhd'"
        return [E(summary, "set exactly one of source.vm (a VM name) or source.vhd (a blob URL)",
                  doc.loc(path, key=True), "schema")]
    if kw in ("oneOf", "anyOf") and err.context:
        return _translate(best_match(err.context), prefix, doc)
    loc = doc.loc(path)
    if kw == "type":
        expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        hint = _TYPE_HINTS.get(expected[0], "write the value in the expected form")
        if "string" in expected and isinstance(inst, bool | int | float):
            hint = 'quote it so YAML keeps it as text, for example "1.10" or "yes"'
        elif inst is None:
            hint = "the value is empty: write one, or remove the key"
        return [E(f"{name} must be {want}, not {_kind(inst)}", hint, loc, "schema")]
    if kw == "enum":
        allowed = [str(v) for v in err.validator_value]
        hint = _suggest(str(inst), allowed) if isinstance(inst, str) else ""
        hint = f"{hint} (one of: {', '.join(allowed)})" if hint else f"use one of: {', '.join(allowed)}"
        return [E(f"{name} cannot be {_kind(inst)}", hint, loc, "schema")]
    if kw == "const":
        return [E(f"{name} must be {err.validator_value!r}, not {_kind(inst)}",
                  f"write {name}: {err.validator_value}", loc, "schema")]
    if kw == "pattern":
        hint = _PATTERN_HINTS.get(_shape(path), f"it must match {err.validator_value}")
        return [E(f"{name} '{_short(str(inst))}' is not valid", hint, loc, "schema")]
    if kw == "format":
        fmt = str(err.validator_value)
        return [E(f"{name} '{_short(str(inst))}' is not a valid {fmt}", _FORMAT_HINTS.get(fmt, ""), loc, "schema")]
    if kw in ("minimum", "exclusiveMinimum"):
        bound = "at least" if kw == "minimum" else "greater than"
        return [E(f"{name} must be {bound} {err.validator_value}, not {inst}", "use a larger number", loc, "schema")]
    if kw == "minLength":
        return [E(f"{name} must not be empty", "write a value or remove the key", loc, "schema")]
    if kw == "maxLength":
        return [E(f"{name} is too long (at most {err.validator_value} characters)", "shorten it", loc, "schema")]
    if kw == "minItems":
        return [E(f"{name} must list at least {err.validator_value} item(s)", "add one or remove the key",
                  loc, "schema")]
    return [E(err.message, "", loc, "schema")]


def _schema_diagnostics(doc: _Doc) -> list[Diagnostic]:
    v = _validators()
    data = doc.data
    out: list[Diagnostic] = []
    images = data.get("images")
    if v.split_images and isinstance(images, list):
        # Images are checked one by one so that a valid image costs only the compiled pre-check.
        for err in v.full.iter_errors(dict(data, images=[])):
            out.extend(_translate(err, (), doc))
        for i, img in enumerate(images):
            if not v.image_ok(img):
                for err in v.image.iter_errors(img):
                    out.extend(_translate(err, ("images", i), doc))
    else:
        for err in v.full.iter_errors(data):
            out.extend(_translate(err, (), doc))
    return out


# --------------------------------------------------------------------------------------------------
# Defaults (catalog settings from the environment) and capabilities


def _coerce_default(value: Any, prop_schema: Mapping[str, Any]) -> Any:
    """Environment values arrive as text: read numbers and booleans the way the schema wants them."""
    if not isinstance(value, str):
        return value
    kind = prop_schema.get("type")
    if kind in ("number", "integer"):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value) if kind == "number" else value
            except ValueError:
                return value
    if kind == "boolean":
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
            value.strip().lower(), value
        )
    return value


def _coerce_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults that name a catalog setting or the provider, coerced to the schema's types."""
    props = _validators().catalog_props
    # The ownership marker is never defaulted; keys that are not catalog settings are not ours.
    return {k: _coerce_default(v, props[k]) for k, v in defaults.items() if k in props and k != "name"}


def _default_errors(used: Mapping[str, Any], filename: str) -> list[Diagnostic]:
    """Schema-check the defaults actually used (a bad value the file overrides is harmless)."""
    v = _validators()
    diags = []
    for key, value in used.items():
        errs = list(v.full.evolve(schema=v.catalog_props[key]).iter_errors(value))
        if errs:
            best = best_match(errs)
            hint = "fix the environment variable, or set the value in the file (the file wins)"
            if best.validator == "enum" and isinstance(value, str):
                close = _suggest(value, [str(c) for c in best.validator_value])
                hint = f"{close} {hint}" if close else hint
            diags.append(
                Diagnostic.error(
                    f"catalog.{key} from the environment is invalid: {best.message}",
                    hint,
                    Location(filename, 0, 0, f"$.catalog.{key}"),
                    "defaults",
                )
            )
    return diags


def _setting_problems(doc: _Doc, diags: list[Diagnostic], caps: Capabilities, settings: Mapping[str, Any],
                      from_file: set[str], trusted_hosts: tuple[str, ...]) -> list[Diagnostic]:
    """The provider's ``check_settings`` as diagnostics at each setting's position (a setting from
    the environment has no position: its JSON path says which). A setting that already has an
    error (its schema) is not reported twice."""
    assert caps.check_settings is not None
    flagged = {d.location.json_path for d in diags if d.severity is Severity.ERROR and d.location}
    out = []
    for problem in caps.check_settings(settings, trusted_hosts):
        path = f"$.catalog.{problem.setting}"
        if path in flagged:
            continue
        if problem.setting in from_file:
            loc = doc.loc(("catalog", problem.setting))
            summary = problem.message
        else:
            loc = Location(doc.filename, 0, 0, path)
            summary = f"{problem.message} (catalog.{problem.setting} from the environment)"
        out.append(Diagnostic.error(summary, problem.hint, loc, "provider"))
    return out


def _capabilities_for(provider: str, settings: Mapping[str, Any]) -> Capabilities:
    from .providers import capabilities_for  # late: keeps provider modules out of import time

    return capabilities_for(provider, settings)


# --------------------------------------------------------------------------------------------------
# Semantic checks


@dataclass
class _Context:
    doc: _Doc
    diags: list[Diagnostic]
    provider: str
    caps: Capabilities | None

    def error(self, path: _Path, summary: str, hint: str, *, key: bool = False) -> None:
        self.diags.append(Diagnostic.error(summary, hint, self.doc.loc(path, key=key), "semantic"))

    def warning(self, path: _Path, summary: str, hint: str, *, key: bool = False) -> None:
        self.diags.append(Diagnostic.warning(summary, hint, self.doc.loc(path, key=key), "semantic"))


def _check_catalog_settings(ctx: _Context, catalog: Mapping[str, Any]) -> None:
    if ctx.caps is None:
        return
    known = ctx.caps.settings
    for key in catalog:
        if key in _CATALOG_CORE or key not in _validators().catalog_props or key in known:
            continue
        hint = (
            f"provider '{ctx.provider}' knows: {', '.join(sorted(known))}"
            if known
            else f"provider '{ctx.provider}' takes no settings"
        )
        ctx.error(("catalog", key), f"setting '{key}' is not known to provider '{ctx.provider}'",
                  f"remove it; {hint}", key=True)


def _check_image(ctx: _Context, i: int, img: Mapping[str, Any], seen: dict[str, int]) -> None:
    p: _Path = ("images", i)
    name = img.get("name")
    if isinstance(name, str):
        first = seen.get(name.casefold())
        if first is not None:
            ctx.error(p + ("name",), f"duplicate image name '{name}' (first declared on line {first})",
                      "image names compare case-insensitively: rename or remove one")
        else:
            seen[name.casefold()] = ctx.doc.line(p)
    itype = img.get("type")
    os_state = img.get("os_state")
    if itype == "vm" and "os_state" not in img:
        ctx.error(p, f"VM image '{name}' must state os_state",
                  "add os_state: generalized (reusable; consumes the VM) or specialized (the VM as it is)")
    if itype == "os" and os_state == "specialized":
        ctx.error(p + ("os_state",), "an OS image is always generalized",
                  "remove os_state, or use type: vm for a specialized image")
    source = img.get("source") if isinstance(img.get("source"), dict) else {}
    if source.get("generalize") is True and os_state == "specialized":
        ctx.error(p + ("source", "generalize"), "source.generalize contradicts os_state: specialized",
                  "generalizing makes a generalized image: drop generalize or set os_state: generalized")
    if "storage_account" in source and "vm" in source and "vhd" not in source:
        ctx.warning(p + ("source", "storage_account"), "source.storage_account is ignored for a VM source",
                    "it only applies to source.vhd; remove it", key=True)

    caps = ctx.caps
    if caps is None:
        return
    prov = ctx.provider
    image_props = _validators().image_props
    for key in img:
        if key in _CORE_IMAGE_FIELDS or key not in image_props or key in caps.image_fields:
            continue
        fields = ", ".join(sorted(caps.image_fields))
        ctx.error(p + (key,), f"field '{key}' is not supported by provider '{prov}'",
                  f"remove it (provider '{prov}' image fields: {fields or 'none'})", key=True)
    types = {t.value for t in caps.image_types}
    if isinstance(itype, str) and itype in ("vm", "os") and itype not in types:
        ctx.error(p + ("type",), f"provider '{prov}' cannot hold {itype} images",
                  f"use type: {' or '.join(sorted(types))}")
    spec_types = {t.value for t in caps.specialized_types}
    if os_state == "specialized" and itype == "vm" and itype not in spec_types:
        ctx.error(p + ("os_state",), f"provider '{prov}' cannot hold a specialized {itype} image",
                  "capture it generalized, or use a provider that keeps specialized images")
    if "vhd" in source and not caps.vhd_source:
        ctx.error(p + ("source", "vhd"), f"provider '{prov}' cannot capture from a VHD",
                  "use source.vm", key=True)
    if source.get("generalize") is True and not caps.generalize:
        ctx.error(p + ("source", "generalize"), f"provider '{prov}' cannot generalize a VM itself",
                  "generalize the VM first (sysprep / waagent -deprovision) and remove source.generalize")
    if caps.name_pattern and isinstance(name, str) and not re.fullmatch(caps.name_pattern, name):
        ctx.error(p + ("name",), f"image name '{name}' is not valid for provider '{prov}'",
                  caps.name_hint or f"it must match {caps.name_pattern}")


# Characters a reviewer cannot see (docs/security.md, "What a pull request can put in front of a
# reviewer"). Every human output escapes them anyway (render.escape_controls); the file refuses the
# ones no image needs, so a pull request cannot make its own diff read differently from what it does.

#: Bidirectional controls, the Trojan Source trick (CVE-2021-42574): refused in every string.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CHAR_KINDS = {
    "Cc": "control character",
    "Cf": "invisible formatting character",
    "Cs": "surrogate code point",
    "Co": "private-use character",
    "Cn": "unassigned code point",
    "Zl": "line separator",
    "Zp": "paragraph separator",
    "Zs": "non-standard space",
}


def _char(ch: str) -> tuple[str, str]:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``, and how the outputs show it."""
    from .render import escape_controls  # the one escaping function of the outputs

    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else ""), escape_controls(ch)


def _text_kind(path: _Path) -> str:
    """What a string value at ``path`` is: ``description`` / ``text`` (free text) or ``identifier``."""
    if len(path) == 3 and path[0] == "images" and path[2] in ("label", "description"):
        return "description" if path[2] == "description" else "text"
    if len(path) == 4 and path[0] == "images" and path[2] == "tags":
        return "text"
    return "identifier"


def _check_string(ctx: _Context, path: _Path, s: str, *, key: bool) -> None:
    """One diagnostic for the first character of ``s`` a reviewer could not see (``s`` is not printable).

    Bidi controls: an error anywhere. Keys and identifiers (names, families, tag keys, settings):
    an error for anything but printable characters. Free text (label, description, tag values):
    an error for controls other than tab (and line breaks in a description) and for line/paragraph
    separators; a warning for other invisible formatting characters (a zero-width joiner can be
    part of an emoji); other spaces, private-use and unassigned characters pass.
    """
    kind = "identifier" if key else _text_kind(path)
    if key:
        what = f"tag key '{_short(s)}'" if len(path) == 4 and path[2:3] == ("tags",) else f"key '{_short(s)}'"
    elif path[-1:] == ("name",) and len(path) == 3 and path[0] == "images":
        what = f"image name '{_short(s)}'"
    elif kind == "text" and len(path) == 4:
        what = f"the value of tag '{path[3]}'"
    else:
        what = _field(path)
    warn: tuple[int, str, str] | None = None
    for i, ch in enumerate(s, 1):
        cat = unicodedata.category(ch)
        if ch in _BIDI:
            label, shown = _char(ch)
            ctx.error(path, f"{what} contains the bidirectional control character {label} at character {i}",
                      f"remove it (outputs show it as {shown}): a bidi control can make the plan a reviewer "
                      "reads differ from what it does, and nothing in this file needs one", key=key)
            return
        if cat not in _CHAR_KINDS or (cat == "Zs" and ch == " "):
            continue
        if kind == "identifier":
            label, shown = _char(ch)
            seen = f" (outputs show it as {shown})" if shown != ch else ""  # a space is shown as it is
            ctx.error(path, f"{what} contains the {_CHAR_KINDS[cat]} {label} at character {i}",
                      f"names, keys and settings hold printable characters only: remove it{seen}", key=key)
            return
        if cat == "Cc" and (ch == "\t" or (kind == "description" and ch in "\n\r")):
            continue
        if cat in ("Cc", "Cs", "Zl", "Zp"):
            label, shown = _char(ch)
            allowed = "tabs and line breaks" if kind == "description" else "tabs (a description also line breaks)"
            ctx.error(path, f"{what} contains the {_CHAR_KINDS[cat]} {label} at character {i}",
                      f"remove it (outputs show it as {shown}); the only control characters text may hold are "
                      f"{allowed}", key=key)
            return
        if cat == "Cf" and warn is None:
            warn = (i, *_char(ch))
    if warn is not None:
        i, label, shown = warn
        ctx.warning(path, f"{what} contains the invisible character {label} at character {i}",
                    f"outputs show it as {shown}; remove it unless it is meant (an emoji joiner, say)", key=key)


def _check_characters(ctx: _Context, data: Any, path: _Path = ()) -> None:
    """Walk every key and string of the file; only non-printable strings are looked at closely."""
    if isinstance(data, str):
        if not data.isprintable():
            _check_string(ctx, path, data, key=False)
    elif isinstance(data, dict):
        for k, v in data.items():
            p = path + (k,)
            if isinstance(k, str) and not k.isprintable():
                _check_string(ctx, p, k, key=True)
            if not isinstance(v, bool | int | float) and v is not None:
                _check_characters(ctx, v, p)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            if isinstance(v, str | dict | list):
                _check_characters(ctx, v, path + (i,))


def _check_semantics(ctx: _Context, data: Mapping[str, Any]) -> None:
    _check_characters(ctx, data)
    catalog = data.get("catalog")
    if isinstance(catalog, dict):
        _check_catalog_settings(ctx, catalog)
    images = data.get("images")
    families: set[str] = set()
    if isinstance(images, list):
        seen: dict[str, int] = {}
        for i, img in enumerate(images):
            if isinstance(img, dict):
                _check_image(ctx, i, img, seen)
                if isinstance(img.get("family"), str):
                    families.add(img["family"])
    policy = data.get("policy")
    retention = policy.get("retention") if isinstance(policy, dict) else None
    if isinstance(retention, dict) and isinstance(images, list):
        for fam in retention:
            if fam not in families:
                ctx.warning(("policy", "retention", fam), f"no declared image has family '{fam}'",
                            "check the spelling of the family", key=True)


# --------------------------------------------------------------------------------------------------
# Building the DesiredState (only from a document with no errors)


def _build(doc: _Doc, provider: str, settings: Mapping[str, Any], image_fields: Iterable[str],
           digest: str) -> DesiredState:
    data = doc.data
    cat = data["catalog"]
    pol = data.get("policy") or {}
    provider_fields = frozenset(image_fields)
    images = []
    for i, img in enumerate(data["images"]):
        src = img["source"]
        itype = ImageType(img["type"])
        images.append(
            ImageSpec(
                name=img["name"],
                type=itype,
                os=img["os"],
                os_state=OSState(img.get("os_state", "generalized")),
                source=Source(
                    vm=src.get("vm"),
                    vhd=src.get("vhd"),
                    generalize=bool(src.get("generalize", False)),
                    storage_account=src.get("storage_account"),
                ),
                family=img.get("family"),
                label=img.get("label"),
                description=img.get("description"),
                recommended_vm_size=img.get("recommended_vm_size"),
                tags=dict(img.get("tags") or {}),
                protect=bool(img.get("protect", False)),
                extra={k: v for k, v in img.items() if k in provider_fields},
                line=doc.line(("images", i)),
            )
        )
    return DesiredState(
        catalog=CatalogConfig(name=cat["name"], provider=provider, settings=dict(settings)),
        policy=Policy(
            prune=bool(pol.get("prune", False)),
            retention={k: int(v) for k, v in (pol.get("retention") or {}).items()},
        ),
        images=tuple(images),
        digest=digest,
        path=doc.filename,
    )


# --------------------------------------------------------------------------------------------------
# Public API


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    unique: dict[tuple[Any, ...], Diagnostic] = {}
    for d in diags:
        unique.setdefault((d.severity, d.summary, d.location), d)
    return sorted(unique.values(), key=Diagnostic.sort_key)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a file becomes data.

    Reading builds hundreds of thousands of long-lived containers in one go; on CPython 3.11 the
    collector keeps rescanning them and doubles the time of a 10,000-image file. Nothing built here
    is cyclic, so nothing is lost by collecting afterwards. Restores the previous state.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_spec(
    data: bytes,
    filename: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    trusted_hosts: Iterable[str] = (),
) -> tuple[DesiredState | None, list[Diagnostic]]:
    """Every problem of a desired-state file (errors and warnings, sorted by position).

    Returns the ``DesiredState`` when there is no error (warnings allowed), else None. Pure.

    ``defaults``: catalog settings (and ``provider``) taken from the environment by the CLI. A
    setting in the file wins; a default only fills a missing one, and only when the provider knows
    it (the environment may carry settings of other providers). ``name`` is never defaulted: the
    ownership marker must be reviewed in the file. Text values are coerced to the schema's type.

    ``capabilities``: the provider's record, for tests and for callers that already hold it; when
    None it comes from ``providers.capabilities_for(provider, settings)``.

    ``trusted_hosts``: hosts the CLI's environment trusts with a credential
    (``RECONCILER_TRUSTED_ENDPOINTS``); the provider's ``check_settings`` refuses an endpoint
    outside its cloud, loopback and these. Never read from the file.
    """
    with _gc_paused():
        return _check(data, filename, defaults or {}, capabilities, tuple(trusted_hosts))


def _check(
    data: bytes, filename: str, defaults: Mapping[str, Any], capabilities: Capabilities | None,
    trusted_hosts: tuple[str, ...] = (),
) -> tuple[DesiredState | None, list[Diagnostic]]:
    digest = hashlib.sha256(data).hexdigest()
    doc, diags = _read(data, filename)
    if doc is None:
        return None, _sorted(diags)
    diags.extend(_schema_diagnostics(doc))

    env = _coerce_defaults(defaults)
    catalog = doc.data.get("catalog")
    catalog = catalog if isinstance(catalog, dict) else {}
    used: dict[str, Any] = {}
    if "provider" not in catalog and "provider" in env:
        used["provider"] = env["provider"]
    provider = catalog.get("provider", used.get("provider", _DEFAULT_PROVIDER))
    file_settings = {k: v for k, v in catalog.items() if k not in _CATALOG_CORE}
    env_settings = {k: v for k, v in env.items() if k != "provider" and k not in file_settings}

    caps = capabilities
    if caps is None and isinstance(provider, str) and provider in ("local", "azure", "azure-classic"):
        try:
            caps = _capabilities_for(provider, {**env_settings, **file_settings})
        except ReconcilerError as e:
            where = ("catalog", "provider") if "provider" in catalog else ("catalog",)
            diags.append(Diagnostic.error(e.message, e.hint, doc.loc(where, key="provider" not in catalog),
                                          "provider"))
    if caps is not None:
        used.update({k: v for k, v in env_settings.items() if k in caps.settings})
    diags.extend(_default_errors(used, filename))
    settings = {**file_settings, **{k: v for k, v in used.items() if k != "provider"}}
    if caps is not None and caps.check_settings is not None:
        diags.extend(_setting_problems(doc, diags, caps, settings, set(file_settings), trusted_hosts))

    _check_semantics(_Context(doc, diags, str(provider), caps), doc.data)
    diags = _sorted(diags)
    if any(d.severity is Severity.ERROR for d in diags):
        return None, diags
    fields = caps.image_fields if caps is not None else ()
    return _build(doc, str(provider), settings, fields, digest), diags


def parse_spec(
    data: bytes,
    filename: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    trusted_hosts: Iterable[str] = (),
) -> DesiredState:
    """The validated desired state; raises ``SpecError`` carrying every error (and warning)."""
    state, diags = check_spec(data, filename, defaults=defaults, capabilities=capabilities,
                              trusted_hosts=trusted_hosts)
    if state is None:
        raise SpecError(diags)
    return state


def load_spec(
    path: str | Path,
    *,
    defaults: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    trusted_hosts: Iterable[str] = (),
) -> DesiredState:
    """Read and parse a desired-state file; an unreadable file is a ``ReconcilerError`` with a hint."""
    from .files import read_input

    hint = "create it from images.yaml.example or pass the path of the desired-state file"
    data = read_input(Path(path), "desired-state file", hint)
    return parse_spec(data, str(path), defaults=defaults, capabilities=capabilities, trusted_hosts=trusted_hosts)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_spec(catalog: CatalogConfig, policy: Policy, images: Sequence[ImageSpec]) -> str:
    """A desired-state YAML document that ``parse_spec`` reads back to equal ``ImageSpec``s.

    Used by ``export``. Defaults are left out (no ``protect: false``), an OS image's implied
    ``os_state`` too; strings YAML would read as something else are quoted by the dumper.
    """
    cat: dict[str, Any] = {"name": catalog.name, "provider": catalog.provider}
    cat.update(catalog.settings)
    pol: dict[str, Any] = {"prune": bool(policy.prune)}
    if policy.retention:
        pol["retention"] = dict(policy.retention)
    doc: dict[str, Any] = {"version": 1, "catalog": cat, "policy": pol, "images": [_image_dict(s) for s in images]}
    # Live text may hold bidi or invisible characters, which YAML writes as they are when it may use
    # Unicode: then every non-ASCII character is written as an escape instead, so the exported file
    # (and the terminal it is printed to) shows them, and validate points at them.
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=not _hides_characters(doc),
                         default_flow_style=False, width=100))


def _hides_characters(data: Any) -> bool:
    """Whether a string or key in ``data`` holds a control (but tab and line feed), format,
    separator, surrogate, private-use or unassigned character."""
    if isinstance(data, str):
        return not data.isprintable() and any(
            ch not in "\t\n" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in data
        )
    if isinstance(data, dict):
        return any(_hides_characters(k) or _hides_characters(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_hides_characters(v) for v in data)
    return False


def _image_dict(spec: ImageSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"name": spec.name, "type": spec.type.value, "os": spec.os}
    if spec.type is ImageType.VM or spec.os_state is not OSState.GENERALIZED:
        d["os_state"] = spec.os_state.value
    for key in ("family", "label", "description", "recommended_vm_size"):
        value = getattr(spec, key)
        if value is not None:
            d[key] = value
    src: dict[str, Any] = spec.source.as_dict()
    if spec.source.generalize:
        src["generalize"] = True
    if spec.source.storage_account is not None:
        src["storage_account"] = spec.source.storage_account
    d["source"] = src
    if spec.tags:
        d["tags"] = dict(spec.tags)
    if spec.protect:
        d["protect"] = True
    d.update(spec.extra)
    return d
