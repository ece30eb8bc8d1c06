"""Schema errors in the user's words: a jsonschema ``ValidationError`` -> ``Diagnostic``s with positions.

Layer: pure core. Imports ``jsonschema`` (for its error type and ``best_match``), ``errors`` and
``positions``. Shared by the desired-state file (``translate``: our words, a hint for every
keyword, did-you-mean for unknown fields and enum values) and the catalog seed (``plain``:
jsonschema's own message at the same kind of position). Both locate an error through a
``Locator`` and spell its path with the one ``positions.json_path``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic
from .positions import DataPath, Locator, json_path

if TYPE_CHECKING:  # jsonschema is imported with the first error to word (schema.Validators)
    from jsonschema.exceptions import ValidationError


def describe(x: Any) -> str:
    """A value as a message names it: "the text 'abc'", "a number (3)", "a list"."""
    if x is None:
        return "an empty value"
    if isinstance(x, bool):
        return f"a boolean ({str(x).lower()})"
    if isinstance(x, int | float):
        return f"a number ({x})"
    if isinstance(x, str):
        return f"the text '{short(x)}'"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "a mapping"
    return type(x).__name__


def short(s: str, n: int = 40) -> str:
    """``s`` cut to ``n`` characters, with an ellipsis when cut."""
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


def _shape(path: DataPath) -> str:
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

# Hints for the core's patterns and formats. A provider's setting or image field carries its own,
# as the annotations ``x-pattern-hint`` / ``x-format-hint`` beside the keyword in its fragment
# (``_schema_hint``), which win over these.
_PATTERN_HINTS = {
    "catalog.name": "lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters",
    "images[].name": "letters, digits, '.', '_', '-' and '/', starting with a letter or digit, at most 80 characters",
    "images[].recommended_vm_size": "an Azure size name such as Standard_D2s_v5",
    "images[].source.vhd": "an https:// URL of the VHD blob",
    "images[].source.storage_account": "3-24 lowercase letters and digits",
}
_FORMAT_HINTS = {
    "date": "write a date as YYYY-MM-DD",
    "uri": "write a full URL, such as https://example.net/path",
}


def _schema_hint(err: ValidationError, annotation: str) -> str:
    """The hint the failing subschema carries itself (``x-pattern-hint``, ``x-format-hint``), or ""."""
    hint = err.schema.get(annotation) if isinstance(err.schema, dict) else None
    return hint if isinstance(hint, str) else ""


def field_name(path: DataPath) -> str:
    """The last key of ``path`` (the field a message is about), or "value"."""
    for p in reversed(path):
        if isinstance(p, str):
            return p
    return "value"


def suggest(word: str, choices: Iterable[str]) -> str:
    """"did you mean 'x'?" for the closest of ``choices``, or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def translate(err: ValidationError, prefix: DataPath, where: Locator) -> list[Diagnostic]:
    """One jsonschema error -> user diagnostics with positions, in our words."""
    path: DataPath = prefix + tuple(err.absolute_path)
    kw = err.validator
    inst = err.instance
    value: Any = err.validator_value  # typed as maybe-unset; always set on a reported error
    name = field_name(path)
    E = Diagnostic.error

    if "propertyNames" in err.relative_schema_path:
        return [E(f"a key in {name} is empty or too long ('{short(str(inst))}')", "use a non-empty key",
                  where.loc(path, key=True), "schema")]
    if kw == "additionalProperties" and isinstance(inst, dict):
        known = list(err.schema.get("properties", {})) if isinstance(err.schema, dict) else []
        out = []
        for k in unknown_keys(err):
            hint = suggest(k, known)
            if not hint:
                hint = f"allowed here: {', '.join(known)}" if len(known) <= 12 else "see docs/file-format.md"
            out.append(E(f"unknown field '{k}'", hint, where.loc(path + (k,), key=True), "schema"))
        return out
    if kw == "required" and isinstance(inst, dict):
        return [
            E(f"missing required field '{k}'" + (f" in {json_path(path)[2:]}" if path else ""),
              f"add '{k}:' here", where.loc(path, key=True), "schema")
            for k in value
            if k not in inst
        ]
    if kw in ("oneOf", "anyOf") and _shape(path).endswith("source") and not isinstance(inst, dict):
        return []  # not a mapping at all: the type error says so (jsonschema: "None is valid under each of")
    if kw in ("oneOf", "anyOf") and _shape(path).endswith("source") and isinstance(inst, dict):
        given = [k for k in ("vm", "vhd", "image", "snapshot", "disk") if k in inst]
        summary = (f"source sets both '{given[0]}' and '{given[1]}'" if len(given) == 2
                   else f"source sets {', '.join(repr(k) for k in given)}" if given
                   else "source needs 'vm' or 'vhd'")
        return [E(summary, "set exactly one of source.vm (a VM name) or source.vhd (a blob URL); where the "
                  "provider supports them, source.image, source.snapshot or source.disk",
                  where.loc(path, key=True), "schema")]
    if kw in ("oneOf", "anyOf") and err.context:
        from jsonschema.exceptions import best_match

        return translate(best_match(err.context), prefix, where)
    loc = where.loc(path)
    if kw == "type":
        expected: list[str] = value if isinstance(value, list) else [value]
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        hint = _TYPE_HINTS.get(expected[0], "write the value in the expected form")
        if "string" in expected and isinstance(inst, bool | int | float):
            hint = 'quote it so YAML keeps it as text, for example "1.10" or "yes"'
        elif inst is None:
            hint = "the value is empty: write one, or remove the key"
        return [E(f"{name} must be {want}, not {describe(inst)}", hint, loc, "schema")]
    if kw == "enum":
        allowed = [str(v) for v in value]
        hint = suggest(str(inst), allowed) if isinstance(inst, str) else ""
        hint = f"{hint} (one of: {', '.join(allowed)})" if hint else f"use one of: {', '.join(allowed)}"
        return [E(f"{name} cannot be {describe(inst)}", hint, loc, "schema")]
    if kw == "const":
        return [E(f"{name} must be {value!r}, not {describe(inst)}",
                  f"write {name}: {value}", loc, "schema")]
    if kw == "pattern":
        hint = _schema_hint(err, "x-pattern-hint") or _PATTERN_HINTS.get(_shape(path), f"it must match {value}")
        return [E(f"{name} '{short(str(inst))}' is not valid", hint, loc, "schema")]
    if kw == "format":
        fmt = str(value)
        hint = _schema_hint(err, "x-format-hint") or _FORMAT_HINTS.get(fmt, "")
        return [E(f"{name} '{short(str(inst))}' is not a valid {fmt}", hint, loc, "schema")]
    if kw in ("minimum", "exclusiveMinimum"):
        bound = "at least" if kw == "minimum" else "greater than"
        return [E(f"{name} must be {bound} {value}, not {inst}", "use a larger number", loc, "schema")]
    if kw == "minLength":
        return [E(f"{name} must not be empty", "write a value or remove the key", loc, "schema")]
    if kw == "maxLength":
        return [E(f"{name} is too long (at most {value} characters)", "shorten it", loc, "schema")]
    if kw == "minItems":
        return [E(f"{name} must list at least {value} item(s)", "add one or remove the key",
                  loc, "schema")]
    return [E(err.message, "", loc, "schema")]


#: Mappings of an image entry and the keys that belong under them, for ``misindented``.
_NESTED_KEYS = {"source": ("vm", "vhd", "generalize", "storage_account", "image", "snapshot", "disk",
                           "data_snapshots", "deprovision", "sysprepped")}


def misindented(data: Any, where: Locator, diags: list[Diagnostic]) -> list[Diagnostic]:
    """``source:`` left empty and followed by ``vm:`` at its own indentation gives one message
    ("`vm` is not indented under `source:`") instead of "source must be a mapping" plus "unknown
    field 'vm'" (and whatever else is said about the empty ``source`` or the stray keys)."""
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list) or not diags:  # an empty ``source:`` is a schema error: none, nothing to do
        return diags
    for i, img in enumerate(images):
        if not isinstance(img, dict):
            continue
        keys = list(img)
        for j, key in enumerate(keys):
            if key not in _NESTED_KEYS or img[key] is not None:
                continue
            stray: list[str] = []
            for k in keys[j + 1:]:
                if k not in _NESTED_KEYS[key]:
                    break
                stray.append(k)
            if not stray:
                continue
            said = {json_path(("images", i, k)) for k in (key, *stray)}
            diags = [d for d in diags if d.location is None or d.location.json_path not in said]
            them = "it" if len(stray) == 1 else "them"
            diags.append(Diagnostic.error(
                f"`{stray[0]}` is not indented under `{key}:`",
                f"indent {', '.join(f'`{k}`' for k in stray)} further than `{key}:` to put {them} under it",
                where.loc(("images", i, stray[0]), key=True), code="schema"))
    return diags


def unknown_keys(err: ValidationError) -> list[str]:
    """The keys an ``additionalProperties`` error is about, in the order the file has them."""
    if err.validator != "additionalProperties" or not isinstance(err.instance, dict):
        return []
    known = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
    return [k for k in err.instance if k not in known]


def plain(err: ValidationError, where: Locator, hint: Callable[[ValidationError], str], code: str) -> Diagnostic:
    """jsonschema's own message for ``err``, at the value it is about (at the first unknown key,
    sorted, for an unknown field); a oneOf/anyOf failure is explained by its deepest sub-error."""
    from jsonschema.exceptions import best_match

    best = best_match([err]) if err.context else err
    path: DataPath = tuple(best.absolute_path)
    unknown = unknown_keys(best)
    key_path = (*path, min(unknown)) if unknown else path
    return Diagnostic.error(best.message, hint(best), where.loc(key_path, key=bool(unknown)), code=code)


__all__ = ["describe", "field_name", "misindented", "plain", "short", "suggest", "translate", "unknown_keys"]
