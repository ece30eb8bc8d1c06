"""The desired-state file's JSON Schema: loading it, and checking plain data against it.

Layer: pure core. Imports ``jsonschema`` and ``jsonschema_rs``; reads only the packaged schema.

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

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import jsonschema
import jsonschema_rs

from ..errors import Diagnostic
from .messages import translate
from .positions import Locator

#: Catalog keys that are not provider settings.
CATALOG_CORE = frozenset({"name", "provider"})

#: Image fields every provider understands; any other image property of the schema is a
#: provider-specific field that must appear in ``Capabilities.image_fields``.
CORE_IMAGE_FIELDS = frozenset(
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


@functools.cache
def load_schema(name: str = "images.schema.json") -> dict[str, Any]:
    """The named JSON Schema shipped in ``reconciler/schemas`` (works from an installed wheel).

    Cached: callers share one dict and must not mutate it.
    """
    text = (files("reconciler") / "schemas" / name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class Validators:
    """Built once per process. ``full``/``image``: jsonschema, for messages; ``fast_full``/
    ``fast_image``: jsonschema-rs, the pre-check. ``split_images``: the ``images`` array schema is
    just a list of ``#/$defs/image`` items, so images may be validated one by one (else the whole
    document is)."""

    full: jsonschema.protocols.Validator
    image: jsonschema.protocols.Validator
    fast_full: jsonschema_rs.Validator
    fast_image: jsonschema_rs.Validator
    catalog_props: Mapping[str, Any]
    image_props: frozenset[str]
    split_images: bool


@functools.cache
def validators() -> Validators:
    """The validators of ``images.schema.json`` (cached)."""
    schema = load_schema()
    cls = jsonschema.Draft202012Validator
    checker = cls.FORMAT_CHECKER
    full = cls(schema, format_checker=checker)
    image_schema = schema["$defs"]["image"]
    fast = jsonschema_rs.validator_map_for(
        _ascii_patterns(schema),
        validate_formats=True,
        formats={name: functools.partial(_conforms, checker, name) for name in _formats(schema)},
        offline=True,
    )
    images = schema["properties"]["images"]
    fast_full, fast_image = fast.get("#"), fast.get("#/$defs/image")
    assert fast_full is not None and fast_image is not None  # both pointers exist in the schema
    return Validators(
        full=full,
        image=full.evolve(schema=image_schema),
        fast_full=fast_full,
        fast_image=fast_image,
        catalog_props=schema["$defs"]["catalog"]["properties"],
        image_props=frozenset(image_schema["properties"]),
        split_images=set(images) <= {"type", "items", "description"}
        and images.get("items") == {"$ref": "#/$defs/image"},
    )


def schema_diagnostics(data: Mapping[str, Any], where: Locator) -> list[Diagnostic]:
    """Every schema error of the document ``data`` (the top-level mapping), in our words."""
    v = validators()
    if _fast_ok(v.fast_full, data):
        return []
    out: list[Diagnostic] = []
    images = data.get("images")
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


def _fast_ok(validator: jsonschema_rs.Validator, instance: Any) -> bool:
    try:
        return bool(validator.is_valid(instance))
    except (ValueError, OverflowError):  # not representable in Rust (a lone surrogate): ask jsonschema
        return False


def _conforms(checker: jsonschema.FormatChecker, name: str, value: Any) -> bool:
    return checker.conforms(value, name)


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


__all__ = ["CATALOG_CORE", "CORE_IMAGE_FIELDS", "Validators", "load_schema", "schema_diagnostics", "validators"]
