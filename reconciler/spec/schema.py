"""The desired-state file's JSON Schema: loading it, and checking plain data against it.

Layer: pure core. Imports ``jsonschema``, ``referencing`` and ``jsonschema_rs``; reads only the
packaged core schema and the registered providers' fragments (``providers.registry``).

One schema, composed (``compose``): ``images.schema.json`` is the core every provider shares, and
each provider package ships a fragment (``schema.json``, ``$id`` ``urn:reconciler:provider:NAME``)
with its catalog settings and image fields. The composed schema refers to them by ``$ref``; a
``referencing.Registry`` of the fragments resolves them for jsonschema, a ``jsonschema_rs.Registry``
of the same fragments for jsonschema-rs.

Two validators, one schema. jsonschema-rs answers "is this valid?" (about 7 ms for 10,000
images). Only when it says no does ``jsonschema`` walk the invalid parts and write the messages
(``messages.translate``): the catalog and policy, and each image jsonschema-rs rejects, so a file
with one bad image costs one image's worth of slow validation, not 10,000.

Soundness rule: the pre-check may be stricter than jsonschema (then jsonschema finds nothing and
the data is valid), never laxer, so a "valid" from jsonschema-rs is final. What keeps it so:

* formats are decided by jsonschema's own format checker, called back from jsonschema-rs (so a
  format jsonschema cannot check here, ``uri`` without ``rfc3987``, passes in both);
* patterns are given to jsonschema-rs with ASCII classes where Python's ``re`` and Rust's regex
  disagree about Unicode (``\\w``, ``\\d``, ``\\s`` and their negations): the Rust side then refuses
  what only a wider class accepts. Rust's ``$`` matches only at the end, Python's also before a
  final newline: stricter again. Anything ``_ascii_pattern`` cannot vouch for is refused when
  the validators are built, so a schema edit cannot weaken the pre-check unnoticed;
* a value jsonschema-rs cannot take (a string with a lone surrogate) counts as "not valid".
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from ..errors import Diagnostic
from .messages import translate
from .positions import Locator

if TYPE_CHECKING:  # jsonschema (and referencing) load only when a document is invalid (issue 13)
    import jsonschema
    import referencing

#: The desired-state file's schema: the core, composed with every provider's fragment.
IMAGES = "images.schema.json"


@functools.cache
def _read(name: str) -> dict[str, Any]:
    text = (files("reconciler") / "schemas" / name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def load_schema(name: str = IMAGES) -> dict[str, Any]:
    """The named JSON Schema shipped in ``reconciler/schemas`` (works from an installed wheel).

    ``images.schema.json`` comes composed (``compose``): the core file, whose catalog and image
    know only what every provider shares, plus each registered provider's settings and image
    fields as ``$ref``s into its fragment. Validate it with ``registry()`` (jsonschema's
    ``referencing``), which holds the fragments. Cached: callers share one dict and must not mutate it.
    """
    schema = _read(name)
    return compose(schema, _fragments()) if name == IMAGES else schema


#: Catalog keys that are not provider settings (the core file's catalog properties).
CATALOG_CORE = frozenset(_read(IMAGES)["$defs"]["catalog"]["properties"])

#: Image fields every provider understands (the core file's image properties); any other image
#: property of the composed schema is a provider field that must appear in ``Capabilities.image_fields``.
CORE_IMAGE_FIELDS = frozenset(_read(IMAGES)["$defs"]["image"]["properties"])

# Where each table of a fragment goes in the core: ``$defs.<section>.properties``.
_SECTIONS = {"settings": "catalog", "image": "image"}
# Annotations: two fragments may word a shared field differently, but never constrain it differently.
_ANNOTATIONS = frozenset({"description", "title", "$comment", "examples"})


def compose(core: Mapping[str, Any], fragments: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``core`` with the provider enum set to ``fragments``' names and each fragment's settings and
    image fields added as ``{"$ref": "<fragment $id>#/$defs/<table>/properties/<key>"}``.

    The union, not a per-provider ``if``/``then``: every known setting and field is schema-checked
    whatever the provider, and "not known to provider X" is the semantic check's (``semantics``),
    with its own message. A key several providers share is referenced from the first; the others
    must constrain it the same way (annotations aside), else ``ValueError``. A provider may not
    redefine a core field.
    """
    out = copy.deepcopy(dict(core))
    defs = out["$defs"]
    defs["catalog"]["properties"]["provider"]["enum"] = list(fragments)
    owners: dict[tuple[str, str], str] = {}
    for name, frag in fragments.items():
        for table, section in _SECTIONS.items():
            target = defs[section]["properties"]
            for key, sub in frag["$defs"][table]["properties"].items():
                if key in core["$defs"][section]["properties"]:
                    raise ValueError(f"provider '{name}' redefines the core {section} field '{key}'")
                first = owners.setdefault((table, key), name)
                if first == name:
                    target[key] = {"$ref": f"{frag['$id']}#/$defs/{table}/properties/{key}"}
                elif _constraints(sub) != _constraints(fragments[first]["$defs"][table]["properties"][key]):
                    raise ValueError(f"providers '{first}' and '{name}' constrain the {table} field '{key}' "
                                     "differently: a shared name must mean the same value")
    if "origin" in defs:  # a ``sources:`` entry takes the catalog's provider settings (issue 11 §1)
        defs["origin"]["properties"]["provider"]["enum"] = list(fragments)
        defs["origin"]["properties"].update(
            {k: v for k, v in defs["catalog"]["properties"].items() if k not in core["$defs"]["catalog"]["properties"]})
    return out


#: The self-contained schema for editors (``bundled_schema``), shipped beside the core file.
FULL = "images.full.schema.json"


def bundled_schema() -> dict[str, Any]:
    """``load_schema()`` with every provider fragment ``$ref`` replaced by its target: one
    self-contained file an editor (yaml-language-server) can use with no registry. Written to
    ``reconciler/schemas/images.full.schema.json``; a test keeps that file up to date."""
    fragments = {frag["$id"]: frag for frag in _fragments().values()}

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and "#" in ref and not ref.startswith("#"):
                uri, pointer = ref.split("#", 1)
                target: Any = fragments[uri]
                for part in pointer.strip("/").split("/"):
                    target = target[part.replace("~1", "/").replace("~0", "~")]
                merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
                return resolve(merged)
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    out: dict[str, Any] = resolve(load_schema())
    out["$id"] = out["$id"].replace("images.schema.json", FULL)
    out["description"] = (
        "The desired-state file, every provider's settings and image fields included (generated from "
        "images.schema.json and the providers' fragments; for editors). " + str(out.get("description", ""))
    )
    return out


def _constraints(sub: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sub.items() if k not in _ANNOTATIONS}


def _fragments() -> dict[str, dict[str, Any]]:
    from ..providers import registry  # late: the providers' packages are read when first needed

    return registry.fragments()


@functools.cache
def registry() -> referencing.Registry[Any]:
    """The fragments ``load_schema()`` refers to, as a ``referencing`` registry for jsonschema."""
    import referencing
    from referencing.jsonschema import DRAFT202012

    return referencing.Registry().with_resources(
        (frag["$id"], referencing.Resource.from_contents(frag, default_specification=DRAFT202012))
        for frag in _fragments().values()
    )


@dataclass(frozen=True)
class Validators:
    """Built once per process. ``full``/``image``: jsonschema, for messages; ``fast_full``/
    ``fast_image``: jsonschema-rs, the pre-check. Both resolve the providers' fragments through a
    registry (``registry()``; jsonschema-rs gets the same fragments, patterns narrowed).
    ``catalog_props``: every catalog property, its ``$ref`` resolved (the fragment's own schema).
    ``split_images``: the ``images`` array schema is just a list of ``#/$defs/image`` items, so
    images may be validated one by one (else the whole document is)."""

    fast_full: jsonschema_rs.Validator
    catalog_props: Mapping[str, Any]
    image_props: frozenset[str]
    split_images: bool
    family_props: frozenset[str] = frozenset()
    _slow: dict[str, jsonschema.protocols.Validator] = field(default_factory=dict, repr=False)
    _compile: Callable[[], jsonschema_rs.ValidatorMap] | None = field(default=None, repr=False)
    _fast: dict[str, jsonschema_rs.Validator] = field(default_factory=dict, repr=False)

    @property
    def fast_image(self) -> jsonschema_rs.Validator:
        """The pre-check of one image, compiled the first time a document fails ``fast_full``
        (a valid file never needs it: compiling every subschema was 7 ms of each run; issue 13)."""
        if "image" not in self._fast:
            assert self._compile is not None
            found = self._compile().get("#/$defs/image")
            assert found is not None  # the pointer exists in the schema
            self._fast["image"] = found
        return self._fast["image"]

    # jsonschema itself is built (and imported) the first time a message is needed: a valid file
    # never pays for it (issue 13: 45 ms of every run's fixed cost).
    @property
    def full(self) -> jsonschema.protocols.Validator:
        if "full" not in self._slow:
            import jsonschema

            cls = jsonschema.Draft202012Validator
            self._slow["full"] = cls(load_schema(), format_checker=cls.FORMAT_CHECKER, registry=registry())
        return self._slow["full"]

    @property
    def image(self) -> jsonschema.protocols.Validator:
        if "image" not in self._slow:
            self._slow["image"] = self.full.evolve(schema=load_schema()["$defs"]["image"])
        return self._slow["image"]


@functools.cache
def validators() -> Validators:
    """The validators of ``images.schema.json`` (cached)."""
    schema = load_schema()
    fragments = list(_fragments().values())
    image_schema = schema["$defs"]["image"]
    formats = _formats(schema).union(*(_formats(f) for f in fragments))
    # Fragments are only ever referenced from ``properties`` (``compose``), a monotone place, so
    # narrowing their patterns keeps the pre-check stricter, never laxer.
    narrowed = _ascii_patterns(schema)
    options: dict[str, Any] = {
        "validate_formats": True, "formats": {name: functools.partial(_conforms, name) for name in formats},
        "offline": True,
    }

    def fragments_registry() -> jsonschema_rs.Registry:
        return jsonschema_rs.Registry([(f["$id"], _ascii_patterns(f)) for f in fragments])

    def every_subschema() -> jsonschema_rs.ValidatorMap:
        return jsonschema_rs.validator_map_for(narrowed, registry=fragments_registry(), **options)

    images = schema["properties"]["images"]
    by_id = {f["$id"]: f for f in fragments}
    return Validators(
        fast_full=jsonschema_rs.validator_for(narrowed, registry=fragments_registry(), **options),
        _compile=every_subschema,
        catalog_props={
            key: _lookup(by_id, sub["$ref"]) if "$ref" in sub else sub
            for key, sub in schema["$defs"]["catalog"]["properties"].items()
        },
        image_props=frozenset(image_schema["properties"]),
        family_props=frozenset(schema["$defs"]["family"]["properties"]),
        split_images=set(images) <= {"type", "items", "description"}
        and images.get("items") == {"$ref": "#/$defs/image"},
    )


def _fragment_ids() -> list[str]:
    return [frag["$id"] for frag in _fragments().values()]


def schema_diagnostics(data: Mapping[str, Any], where: Locator) -> list[Diagnostic]:
    """Every schema error of the document ``data`` (the top-level mapping), in our words."""
    v = validators()
    images = data.get("images")
    if _fast_document_ok(v, data, images):
        return []
    out: list[Diagnostic] = []
    if v.split_images and isinstance(images, list):
        for err in v.full.iter_errors(dict(data, images=[])):
            out.extend(translate(err, (), where))
        for i, img in enumerate(images):
            if not _fast_ok(v.fast_image, img):
                for err in v.image.iter_errors(img):
                    out.extend(translate(err, ("images", i), where))
    else:
        for err in v.full.iter_errors(data):
            out.extend(translate(err, (), where))
    return out


#: The images one pre-check call is given (``_fast_document_ok``).
_CHUNK = 2048


def _fast_document_ok(v: Validators, data: Mapping[str, Any], images: Any) -> bool:
    """The pre-check of the document; a long ``images`` list ``_CHUNK`` images at a time, each
    chunk in the document in place of the list (``split_images``: no rule of the schema is about
    the list as a whole). jsonschema-rs copies what it checks into Rust values: the whole list at
    once was 66 MB more at the peak of a 100,000-image plan, and 40 ms slower (issue 13)."""
    if not (v.split_images and isinstance(images, list) and len(images) > _CHUNK):
        return _fast_ok(v.fast_full, data)
    return all(piece_ok(data, images[i:i + _CHUNK]) for i in range(0, len(images), _CHUNK))


def piece_ok(data: Mapping[str, Any], images: list[Any]) -> bool:
    """The pre-check of the document ``data`` with ``images`` (a piece of its list) in place of its
    list: True only when it finds no schema error. False also when the list's schema says more
    than what each item is (``split_images``): a piece of the list then answers nothing."""
    v = validators()
    return v.split_images and _fast_ok(v.fast_full, dict(data, images=images))


def _fast_ok(validator: jsonschema_rs.Validator, instance: Any) -> bool:
    try:
        return bool(validator.is_valid(instance))
    except (ValueError, OverflowError):  # not representable in Rust (a lone surrogate): ask jsonschema
        return False


def _lookup(fragments: Mapping[str, Any], ref: str) -> Any:
    """The target of a ``$ref`` into a fragment (``urn:...#/$defs/settings/properties/path``)."""
    uri, _, pointer = ref.partition("#")
    target: Any = fragments[uri]
    for part in pointer.strip("/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


def _conforms(name: str, value: Any) -> bool:
    """jsonschema's own format check, called back by jsonschema-rs (imported on the first value
    with a format: a file without dates, URIs or UUIDs never loads it)."""
    import jsonschema

    return bool(jsonschema.Draft202012Validator.FORMAT_CHECKER.conforms(value, name))


def _formats(schema: Any) -> set[str]:
    """Every ``format`` value used anywhere in ``schema``."""
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        for value in schema.values():
            found |= _formats(value)
        return found
    if isinstance(schema, list):
        return set().union(*(_formats(v) for v in schema))
    return set()


# --------------------------------------------------------------------------------------------------
# Patterns that mean no more in Rust than in Python

# Each class escape as an ASCII subset of what Python's ``re`` matches for it (inside a class, and
# as a class of its own).
_ASCII_CLASSES = {
    "w": "A-Za-z0-9_",
    "d": "0-9",
    "s": "\\t\\n\\v\\f\\r ",
    "S": "!-~",
    "W": "\\x00-/:-@\\[-^`{-\\x7f",
    "D": "\\x00-/:-\\x7f",
}
# Escapes that mean the same in both dialects.
_SAME_ESCAPES = frozenset("nrtfv") | frozenset(r"\.^$|?*+()[]{}/-")


def _ascii_pattern(pattern: str) -> str:
    """``pattern`` with every class escape narrowed to ASCII, so that Rust's regex matches no string
    Python's ``re`` does not. Refuses (``ValueError``) what narrowing could widen instead: a class
    escape inside a negated class, lookarounds, and escapes whose meaning differs between them."""
    out: list[str] = []
    in_class = negated = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            i += 2
            if e in _ASCII_CLASSES:
                if negated:
                    raise ValueError(f"pattern {pattern!r}: a class escape inside a negated class")
                out.append(_ASCII_CLASSES[e] if in_class else f"[{_ASCII_CLASSES[e]}]")
            elif e in _SAME_ESCAPES:
                out.append(c + e)
            else:
                raise ValueError(f"pattern {pattern!r}: the escape \\{e} is not known to mean the same in Rust")
            continue
        if c == "[" and not in_class:
            in_class, negated = True, pattern.startswith("[^", i)
        elif c == "]" and in_class:
            in_class = negated = False
        elif c == "(" and not in_class and re.match(r"\(\?<?[!=]", pattern[i:]):
            raise ValueError(f"pattern {pattern!r}: lookarounds are not supported by the pre-check")
        out.append(c)
        i += 1
    return "".join(out)


# Keywords under which a narrower pattern could make the pre-check laxer, not stricter: "not" and
# "if" invert, "oneOf" counts matches, a "patternProperties" key moves a key to other rules.
_NOT_MONOTONE = frozenset({"not", "oneOf", "if", "patternProperties"})


def _ascii_patterns(schema: Any, monotone: bool = True) -> Any:
    """A copy of ``schema`` with every ``pattern`` ASCII-narrowed. A pattern that narrowing
    changes where that would not be sound (``_NOT_MONOTONE``) is refused (``ValueError``)."""
    if isinstance(schema, list):
        return [_ascii_patterns(v, monotone) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k == "pattern" and isinstance(v, str):
            out[k] = _ascii_pattern(v)
            if out[k] != v and not monotone:
                raise ValueError(f"pattern {v!r}: cannot be narrowed soundly under not/oneOf/if")
        elif k == "patternProperties" and isinstance(v, dict):
            if any(_ascii_pattern(p) != p for p in v):
                raise ValueError("patternProperties keys with class escapes cannot be narrowed soundly")
            out[k] = {p: _ascii_patterns(sub, monotone) for p, sub in v.items()}
        else:
            out[k] = _ascii_patterns(v, monotone and k not in _NOT_MONOTONE)
    return out


__all__ = [
    "CATALOG_CORE",
    "CORE_IMAGE_FIELDS",
    "FULL",
    "Validators",
    "bundled_schema",
    "load_schema",
    "piece_ok",
    "schema_diagnostics",
    "validators",
]
