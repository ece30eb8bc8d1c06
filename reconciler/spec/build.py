"""From checked data to the model, and back: ``build_state`` (data -> ``DesiredState``) and
``dump_spec`` (the model -> desired-state YAML, for ``export``).

Layer: pure core. Imports ``yaml`` (for the dumper), ``model`` and ``codec``. ``SPEC_FILE`` is the
one place that says how the file's keys differ from ``ImageSpec`` fields: ``build_state`` runs
only on a document with no errors, so every key it reads is known to be there and of the right type.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from ..codec import NO_DEFAULT, Codec, Shape
from ..model import CatalogConfig, DesiredState, ImageSpec, ImageType, OSState, Policy, Source
from .positions import Positions

#: The file's layout of the model: defaults left out (no ``protect: false``; an OS image's
#: ``os_state`` is implied), provider image fields and catalog settings inline.
SPEC_FILE = Codec(
    {
        ImageSpec: Shape(
            keys=("name", "type", "os", "os_state", "family", "label", "description", "recommended_vm_size",
                  "source", "tags", "protect"),
            omit_defaults=True,
            defaults={"os_state": lambda d: OSState.GENERALIZED.value if d.get("type") == ImageType.OS.value
                      else NO_DEFAULT},
            rest="extra",
        ),
        Source: Shape(omit_defaults=True),
        CatalogConfig: Shape(rest="settings"),
        Policy: Shape(omit_defaults=frozenset({"retention"})),
    }
)


def build_state(doc: Positions, data: Mapping[str, Any], provider: str, settings: Mapping[str, Any],
                image_fields: Iterable[str], digest: str) -> DesiredState:
    """The ``DesiredState`` of a document without errors (``doc`` gives each image's line)."""
    cat = data["catalog"]
    pol = data.get("policy") or {}
    provider_fields = frozenset(image_fields)
    images = []
    for i, img in enumerate(data["images"]):
        extra = {k: v for k, v in img.items() if k in provider_fields}
        images.append(SPEC_FILE.from_dict(ImageSpec, img, extra=extra, line=doc.line(("images", i))))
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


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_spec(catalog: CatalogConfig, policy: Policy, images: Sequence[ImageSpec]) -> str:
    """A desired-state YAML document that ``parse_spec`` reads back to equal ``ImageSpec``s.

    Used by ``export``. Defaults are left out (no ``protect: false``), an OS image's implied
    ``os_state`` too; strings YAML would read as something else are quoted by the dumper.
    """
    doc: dict[str, Any] = {
        "version": 1,
        "catalog": SPEC_FILE.to_dict(catalog),
        "policy": SPEC_FILE.to_dict(policy),
        "images": [SPEC_FILE.to_dict(s) for s in images],
    }
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


__all__ = ["build_state", "dump_spec"]
