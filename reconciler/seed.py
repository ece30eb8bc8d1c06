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

from .codec import Codec, Shape
from .errors import Diagnostic, Location, SpecError
from .model import VM, Image, OSState, Snapshot, Source
from .planfile import deeper_than
from .spec.messages import plain
from .spec.positions import DataPath, Mark, Positions, json_path, json_positions

SCHEMA_RESOURCE = "catalog-seed.schema.json"

#: The deepest nesting a seed may have: its values are flat records (a seed image's ``extra`` is
#: the deepest part), so 64 is generous, and it stops a hostile file before the recursive schema
#: validator and position walker see it.
MAX_SEED_DEPTH = 64

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

    positions, repeated = json_positions(text, filename)
    diags = [_duplicate_key(path, mark, filename) for path, mark in repeated]
    diags += _schema_errors(doc, positions)
    if diags:
        raise SpecError(diags)
    diags += _semantic_errors(doc, positions)
    if diags:
        raise SpecError(diags)

    vms = tuple(sorted((SEED_FORMAT.from_dict(VM, v) for v in doc.get("vms", [])), key=lambda v: v.key))
    images = tuple(sorted((SEED_FORMAT.from_dict(Image, i) for i in doc.get("images", [])), key=lambda i: i.key))
    return Snapshot(images=images, vms=vms)


def seed_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The seed form of a snapshot (inverse of ``parse_seed``; ids and fingerprints are dropped).

    Every field is written out, defaults included, so the file reads as the full record.
    """
    return {
        "vms": [SEED_FORMAT.to_dict(v) for v in sorted(snapshot.vms, key=lambda v: v.key)],
        "images": [SEED_FORMAT.to_dict(i) for i in sorted(snapshot.images, key=lambda i: i.key)],
    }


# --------------------------------------------------------------------------------------------------
# Seed dict <-> model

#: The seed's layout: the model's own fields but those a live read adds (ids, fingerprints, a
#: provider's ``extra`` and ``facts``), with the seed's defaults; a source names only what it has.
SEED_FORMAT = Codec(
    {
        # ``image`` / ``disk_gib`` / ``footprint`` (issue 11) are left out when unset: seeds written
        # before they existed read and write back as they were.
        VM: Shape(exclude=frozenset({"id", "fingerprint", "facts"}),
                  defaults={"os_disk": lambda d: f"{d['name']}-osdisk"},
                  omit_defaults=frozenset({"image", "disk_gib"})),
        Image: Shape(
            # ``failed`` is a provider's reading of a live image (Azure provisioningState), never seeded.
            exclude=frozenset({"extra", "facts", "id", "fingerprint", "failed"}),
            defaults={"os_state": OSState.GENERALIZED.value},
            omit_defaults=frozenset({"footprint"}),
        ),
        Source: Shape(exclude=frozenset({"generalize"}), omit_defaults=True),
    }
)


# --------------------------------------------------------------------------------------------------
# Validation


def _schema_errors(doc: Any, positions: Positions) -> list[Diagnostic]:
    """jsonschema's own messages (``spec.messages.plain``), at the value or unknown key concerned."""
    validator = jsonschema.Draft202012Validator(seed_schema(), format_checker=jsonschema.FormatChecker())
    return [plain(err, positions, _schema_hint, "seed-schema") for err in validator.iter_errors(doc)]


def _duplicate_key(path: DataPath, mark: Mark, filename: str) -> Diagnostic:
    return Diagnostic.error(
        f"duplicate key '{path[-1]}' in one JSON object",
        "keep one of them: JSON readers silently keep only the last",
        Location(filename, mark[0] + 1, mark[1] + 1, json_path(path)),
        code="seed-duplicate-key",
    )


def _schema_hint(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return "remove the unknown field or fix its spelling (see catalog-seed.schema.json)"
    if err.validator == "required":
        return "add the missing field"
    if err.validator == "enum":
        allowed: Any = err.validator_value
        return "use one of: " + ", ".join(str(v) for v in allowed)
    if err.validator == "pattern":
        return "names start with a letter or digit and use letters, digits, '.', '_' and '-' (max 80)"
    if err.validator == "const":
        return f"this combination requires the value {json.dumps(err.validator_value)}"
    return "see catalog-seed.schema.json"


def _semantic_errors(doc: dict[str, Any], positions: Positions) -> list[Diagnostic]:
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
                        positions.loc((section, i, "name")),
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
                    positions.loc(("images", i, "created")),
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


__all__ = ["parse_seed", "seed_schema", "seed_to_dict"]
