"""The catalog seed format: a provider-neutral JSON file of source VMs and images.

Layer: pure core (bytes in, ``Snapshot`` out). No file, clock or environment access: the shell reads
the file and hands its bytes here. ``reconciler catalog init --from FILE`` seeds the local catalog
with it, and the Azure providers' test harnesses convert the same seed into their emulators' state,
so the format names only what ``model.VM`` and ``model.Image`` hold, never a provider detail.
Schema: ``reconciler/schemas/catalog-seed.schema.json``; documented in ``docs/local-provider.md``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from .errors import Diagnostic, Location, SpecError
from .model import VM, Category, Image, ImageType, OSState, PowerState, Snapshot, Source
from .planfile import deeper_than

SCHEMA_RESOURCE = "catalog-seed.schema.json"

#: The deepest nesting a seed may have: its values are flat records (a seed image's ``extra`` is
#: the deepest part), so 64 is generous, and it stops a hostile file before the recursive schema
#: validator and position walker see it.
MAX_SEED_DEPTH = 64

_JsonPath = tuple[str | int, ...]


@cache
def seed_schema() -> dict[str, Any]:
    """The seed's JSON Schema (draft 2020-12), shipped inside the package."""
    text = resources.files("reconciler").joinpath("schemas", SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def parse_seed(data: bytes, filename: str) -> Snapshot:
    """Parse and validate a seed file; every problem found is reported at once in a ``SpecError``.

    Images and VMs come back sorted by name (casefolded) with empty ids and fingerprints: a seed is
    a starting state, not a live read.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SpecError(
            [
                Diagnostic.error(
                    f"the seed is not UTF-8 text (byte {e.start})",
                    "save the file as UTF-8 JSON",
                    Location(filename),
                    code="seed-encoding",
                )
            ]
        ) from e
    try:
        doc = json.loads(text)
        too_deep = deeper_than(doc, MAX_SEED_DEPTH)
    except RecursionError:
        too_deep = True
    except json.JSONDecodeError as e:
        raise SpecError(
            [
                Diagnostic.error(
                    f"invalid JSON: {e.msg}",
                    "fix the JSON syntax (a trailing comma or a missing quote is the usual cause)",
                    Location(filename, e.lineno, e.colno, "$"),
                    code="seed-syntax",
                )
            ]
        ) from e
    if too_deep:
        raise SpecError(
            [
                Diagnostic.error(
                    f"the seed nests too deeply (more than {MAX_SEED_DEPTH} levels)",
                    "a seed holds flat lists of VMs and images: is this the right file?",
                    Location(filename),
                    code="seed-syntax",
                )
            ]
        )

    positions = _Positions(text)
    diags = list(positions.duplicate_keys(filename))
    diags += _schema_errors(doc, filename, positions)
    if diags:
        raise SpecError(diags)
    diags += _semantic_errors(doc, filename, positions)
    if diags:
        raise SpecError(diags)

    vms = tuple(sorted((_vm(v) for v in doc.get("vms", [])), key=lambda v: v.key))
    images = tuple(sorted((_image(i) for i in doc.get("images", [])), key=lambda i: i.key))
    return Snapshot(images=images, vms=vms)


def seed_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The seed form of a snapshot (inverse of ``parse_seed``; ids and fingerprints are dropped).

    Every field is written out, defaults included, so the file reads as the full record.
    """
    return {
        "vms": [_vm_dict(v) for v in sorted(snapshot.vms, key=lambda v: v.key)],
        "images": [_image_dict(i) for i in sorted(snapshot.images, key=lambda i: i.key)],
    }


# --------------------------------------------------------------------------------------------------
# Seed dict <-> model


def _vm(d: dict[str, Any]) -> VM:
    return VM(
        name=d["name"],
        os=d["os"],
        power_state=PowerState(d["power_state"]),
        os_state=OSState(d.get("os_state", "specialized")),
        os_disk=d.get("os_disk", f"{d['name']}-osdisk"),
        data_disks=tuple(d.get("data_disks", ())),
    )


def _image(d: dict[str, Any]) -> Image:
    src = d.get("source")
    source = (
        Source(vm=src.get("vm"), vhd=src.get("vhd"), storage_account=src.get("storage_account"))
        if src is not None
        else None
    )
    return Image(
        name=d["name"],
        type=ImageType(d["type"]),
        os=d["os"],
        os_state=OSState(d.get("os_state", "generalized")),
        category=Category(d.get("category", "user")),
        family=d.get("family"),
        label=d.get("label"),
        description=d.get("description"),
        recommended_vm_size=d.get("recommended_vm_size"),
        tags=dict(d.get("tags", {})),
        owner=d.get("owner"),
        protected=bool(d.get("protected", False)),
        source=source,
        data_disks=int(d.get("data_disks", 0)),
        created=d.get("created", ""),
    )


def _vm_dict(v: VM) -> dict[str, Any]:
    return {
        "name": v.name,
        "os": v.os,
        "power_state": v.power_state.value,
        "os_state": v.os_state.value,
        "os_disk": v.os_disk,
        "data_disks": list(v.data_disks),
    }


def _image_dict(i: Image) -> dict[str, Any]:
    source: dict[str, Any] | None = None
    if i.source is not None:
        source = i.source.as_dict()
        if i.source.storage_account is not None:
            source["storage_account"] = i.source.storage_account
    return {
        "name": i.name,
        "type": i.type.value,
        "os": i.os,
        "os_state": i.os_state.value,
        "category": i.category.value,
        "family": i.family,
        "label": i.label,
        "description": i.description,
        "recommended_vm_size": i.recommended_vm_size,
        "tags": dict(i.tags),
        "owner": i.owner,
        "protected": i.protected,
        "source": source,
        "data_disks": i.data_disks,
        "created": i.created,
    }


# --------------------------------------------------------------------------------------------------
# Validation


def _schema_errors(doc: Any, filename: str, positions: _Positions) -> list[Diagnostic]:
    validator = jsonschema.Draft202012Validator(seed_schema(), format_checker=jsonschema.FormatChecker())
    out: list[Diagnostic] = []
    for err in validator.iter_errors(doc):
        # A oneOf/anyOf failure is best explained by its deepest sub-error.
        best = jsonschema.exceptions.best_match([err]) if err.context else err
        path: _JsonPath = tuple(best.absolute_path)
        key_path = path
        if best.validator == "additionalProperties" and isinstance(best.instance, dict):
            allowed = set(best.schema.get("properties", {}))
            extra = sorted(k for k in best.instance if k not in allowed)
            if extra:
                key_path = (*path, extra[0])
        out.append(
            Diagnostic.error(
                best.message,
                _schema_hint(best),
                positions.location(filename, key_path, key=key_path != path),
                code="seed-schema",
            )
        )
    return out


def _schema_hint(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return "remove the unknown field or fix its spelling (see catalog-seed.schema.json)"
    if err.validator == "required":
        return "add the missing field"
    if err.validator == "enum":
        return "use one of: " + ", ".join(str(v) for v in err.validator_value)
    if err.validator == "pattern":
        return "names start with a letter or digit and use letters, digits, '.', '_' and '-' (max 80)"
    if err.validator == "const":
        return f"this combination requires the value {json.dumps(err.validator_value)}"
    return "see catalog-seed.schema.json"


def _semantic_errors(doc: dict[str, Any], filename: str, positions: _Positions) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for section in ("vms", "images"):
        seen: dict[str, int] = {}
        for i, item in enumerate(doc.get(section, [])):
            key = item["name"].casefold()
            if key in seen:
                first = doc[section][seen[key]]["name"]
                out.append(
                    Diagnostic.error(
                        f"duplicate {section[:-1]} name '{item['name']}' (same as '{first}', "
                        f"$.{section}[{seen[key]}]; names compare case-insensitively)",
                        "rename or remove one of them",
                        positions.location(filename, (section, i, "name")),
                        code="seed-duplicate",
                    )
                )
            else:
                seen[key] = i
    for i, item in enumerate(doc.get("images", [])):
        created = item.get("created", "")
        if created and not _is_iso8601(created):
            out.append(
                Diagnostic.error(
                    f"'created' is not an ISO-8601 date-time: {created!r}",
                    "write it like 2026-10-02T08:00:00Z",
                    positions.location(filename, ("images", i, "created")),
                    code="seed-created",
                )
            )
    return out


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _is_iso8601(s: str) -> bool:
    if not _ISO.match(s):
        return False
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Positions: JSON path -> offset, so schema errors can point at file:line:col


class _Positions:
    """Offsets of every value (and every object key) in an already-valid JSON text.

    ``json`` keeps no positions, so this walks the text once more with the stdlib scanner: it is
    only ever run on text ``json.loads`` accepted, so it need not report syntax errors itself.
    """

    _WS = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.values: dict[_JsonPath, int] = {}
        self.keys: dict[_JsonPath, int] = {}
        self.dups: list[tuple[_JsonPath, int]] = []
        self._decoder = json.JSONDecoder()
        self._value(self._skip(0), ())

    def _skip(self, i: int) -> int:
        m = self._WS.match(self.text, i)
        return m.end() if m else i

    def _value(self, i: int, path: _JsonPath) -> int:
        self.values[path] = i
        c = self.text[i]
        if c == "{":
            i = self._skip(i + 1)
            seen: set[str] = set()
            if self.text[i] == "}":
                return i + 1
            while True:
                key_at = i
                key, i = json.decoder.scanstring(self.text, i + 1)
                if key in seen:
                    self.dups.append(((*path, key), key_at))
                seen.add(key)
                self.keys.setdefault((*path, key), key_at)
                i = self._skip(self._skip(i) + 1)  # past ':'
                i = self._skip(self._value(i, (*path, key)))
                if self.text[i] == "}":
                    return i + 1
                i = self._skip(i + 1)  # past ','
        if c == "[":
            i = self._skip(i + 1)
            if self.text[i] == "]":
                return i + 1
            n = 0
            while True:
                i = self._skip(self._value(i, (*path, n)))
                n += 1
                if self.text[i] == "]":
                    return i + 1
                i = self._skip(i + 1)
        _, end = self._decoder.raw_decode(self.text, i)
        return int(end)

    def _line_col(self, offset: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return line, col

    def location(self, filename: str, path: _JsonPath, *, key: bool = False) -> Location:
        """Where ``path`` is: its key when ``key`` (an unknown field), else its value; the nearest
        existing ancestor when the path does not exist (a missing required field)."""
        probe = path
        while True:
            offset = self.keys.get(probe) if key else self.values.get(probe)
            if offset is not None or not probe:
                break
            probe = probe[:-1]
            key = False
        line, col = self._line_col(offset or 0)
        return Location(filename, line, col, _json_path(path))

    def duplicate_keys(self, filename: str) -> list[Diagnostic]:
        out = []
        for path, offset in self.dups:
            line, col = self._line_col(offset)
            out.append(
                Diagnostic.error(
                    f"duplicate key '{path[-1]}' in one JSON object",
                    "keep one of them: JSON readers silently keep only the last",
                    Location(filename, line, col, _json_path(path)),
                    code="seed-duplicate-key",
                )
            )
        return out


def _json_path(path: _JsonPath) -> str:
    out = "$"
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            out += f".{p}"
        else:
            out += f"[{json.dumps(p)}]"
    return out


__all__ = ["parse_seed", "seed_schema", "seed_to_dict"]
