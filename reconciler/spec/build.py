"""From checked data to the model, and back: ``StateBuilder`` (data -> ``DesiredState``) and
``dump_spec`` (the model -> desired-state YAML, for ``export``).

Layer: pure core. Imports ``yaml`` (for the dumper, when exporting), ``model`` and ``codec``. ``SPEC_FILE`` is the
one place that says how the file's keys differ from ``ImageSpec`` fields: ``StateBuilder`` runs
only on a document with no errors, so every key it reads is known to be there and of the right type.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..codec import NO_DEFAULT, Codec, Shape
from ..model import (
    FAMILY_EXTRA,
    PROMOTION_EXTRA,
    CatalogConfig,
    ConsumersPolicy,
    DesiredState,
    FamilySpec,
    ImageSpec,
    ImageType,
    LifecyclePolicy,
    OSState,
    Policy,
    Ring,
    Source,
    positional,
)
from .positions import Positions, json_path

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
        CatalogConfig: Shape(rest="settings", exclude=frozenset({"file_paths"})),
        Policy: Shape(omit_defaults=frozenset({"retention", "consumers", "lifecycle"})),
        LifecyclePolicy: Shape(omit_defaults=True),
        Ring: Shape(omit_defaults=frozenset({"after"})),
        ConsumersPolicy: Shape(omit_defaults=True),
        FamilySpec: Shape(exclude=frozenset({"name", "line"}), omit_defaults=True),
    }
)


class StateBuilder:
    """The ``DesiredState`` of a document without errors, in steps: the images a piece at a time
    (``add``: the whole list, or the pieces of ``check``'s streamed read), then the state
    (``state``). ``data``: the document; its ``images`` are not read here. ``doc`` gives each
    image's line.

    ``family_from_name`` (``Capabilities``): an entry without ``family`` takes the part of its name
    before ``/`` (``web-base/1.0.3`` -> ``web-base``). ``family_extra``: the provider keeps
    families (``Capabilities.family_mutable``): each image of a declared family carries the
    family's declared fields in ``extra[FAMILY_EXTRA]``, so that a capture (saved plans too) knows
    what definition to create. ``sources``: the ``sources:`` entries' (settings, file paths) by
    alias (``env.resolve_sources``); each promotion carries its source in ``extra[PROMOTION_EXTRA]``.

    The entries given to ``add`` are let go of one by one as their specs are built (each becomes
    None), so that the entries and the specs are not all held at once: the peak of a large file's
    plan (issue 13). The specs may share the entries' values (``tags``): the caller drops them."""

    def __init__(self, doc: Positions, data: Mapping[str, Any], provider: str, settings: Mapping[str, Any],
                 image_fields: Iterable[str], *, family_from_name: bool = False,
                 file_paths: Mapping[str, str] | None = None, family_extra: bool = False,
                 sources: Mapping[str, tuple[Mapping[str, Any], Mapping[str, str]]] | None = None) -> None:
        self._doc, self._data, self._provider, self._settings = doc, data, provider, settings
        self._file_paths = file_paths
        self._derive = family_from_name
        self._origins = {a: CatalogConfig(name=a, provider=provider, settings=dict(st), file_paths=dict(fp))
                         for a, (st, fp) in (sources or {}).items()}
        self._fields = frozenset(image_fields)
        self._families = {
            name: SPEC_FILE.from_dict(FamilySpec, entry or {}, name=name, line=doc.line(("families", name)),
                                      latest_rollout=_rings((entry or {}).get("latest_rollout")))
            for name, entry in (data.get("families") or {}).items()}
        # One declaration per family, shared (read-only) by its images.
        self._by_key = {f.key: f.declared() for f in self._families.values()} if family_extra else {}
        self._images: list[ImageSpec] = []

    def add(self, start: int, entries: list[Any]) -> None:
        """The specs of ``entries``, the list's entries from index ``start`` on."""
        doc, provider_fields, by_key, origins = self._doc, self._fields, self._by_key, self._origins
        images = self._images
        for i, img in enumerate(entries, start):
            entries[i - start] = None  # its memory is the next specs' (issue 13)
            extra = ({k: v for k, v in img.items() if k in provider_fields}
                     if not provider_fields.isdisjoint(img) else {})
            if self._derive and "family" not in img and "/" in img["name"]:
                img = {**img, "family": img["name"].split("/", 1)[0]}
            if by_key and isinstance(img.get("family"), str) and img["family"].casefold() in by_key:
                extra[FAMILY_EXTRA] = by_key[img["family"].casefold()]
            ref = (img.get("source") or {}).get("image")
            if "promote_when" in img or (ref is not None and (":" in str(ref) or "/versions/" in str(ref).casefold())):
                extra[PROMOTION_EXTRA] = _promotion(img, origins)
                img = {k: v for k, v in img.items() if k != "promote_when"}
            line = doc.line(("images", i))
            extra = extra or _NOTHING
            spec = _plain_spec(img, extra, line, own=True)
            images.append(spec if spec is not None else SPEC_FILE.from_dict(ImageSpec, img, extra=extra, line=line))

    def state(self, digest: str) -> DesiredState:
        """The desired state of the document and of the images added (``digest``: the file's)."""
        doc, cat, pol = self._doc, self._data["catalog"], self._data.get("policy") or {}
        return DesiredState(
            catalog=CatalogConfig(name=cat["name"], provider=self._provider, settings=dict(self._settings),
                                  file_paths=dict(self._file_paths or {})),
            policy=Policy(
                prune=bool(pol.get("prune", False)),
                retention={k: int(v) for k, v in (pol.get("retention") or {}).items()},
                consumers=ConsumersPolicy(
                    block_if_in_use=bool((pol.get("consumers") or {}).get("block_if_in_use", False)),
                    subscriptions=tuple((pol.get("consumers") or {}).get("subscriptions") or ()),
                ),
                lifecycle={f: SPEC_FILE.from_dict(LifecyclePolicy, entry or {})
                           for f, entry in (pol.get("lifecycle") or {}).items()},
            ),
            images=tuple(self._images),
            digest=digest,
            path=doc.filename,
            positions=_ImagePositions(doc),
            families=self._families,
            sources=self._origins,
        )


#: The ``extra`` (and empty ``tags``) of every spec without any: one mapping, shared, as the frozen
#: types never change what they hold (64 bytes an image; issue 13).
_NOTHING: dict[str, Any] = {}
_NEW_SPEC = positional(ImageSpec)
_NEW_SOURCE = positional(Source)
_TYPE_OF = {t.value: t for t in ImageType}
_STATE_OF = {s.value: s for s in OSState}
#: The keys of an entry, and of its source, that ``_plain_spec`` builds; anything else (a provider's
#: image field, a promotion, a snapshot's data disks) goes through ``SPEC_FILE``.
_PLAIN_KEYS = frozenset(SPEC_FILE.keys(ImageSpec))
_PLAIN_SOURCE_KEYS = frozenset({"vm", "vhd", "generalize", "storage_account", "deprovision", "sysprepped"})


def _plain_spec(img: Mapping[str, Any], extra: Mapping[str, Any], line: int, *, own: bool = False) -> ImageSpec | None:
    """``SPEC_FILE.from_dict(ImageSpec, img, extra=extra, line=line)`` for an entry of core fields
    from a VM or a VHD (every image of a large file), fields passed straight to ``ImageSpec`` and
    ``Source`` (``model.positional``; issue 13); None for any other entry. ``own``: the entry is
    let go of (``StateBuilder.add``): the spec keeps its ``tags`` mapping, not a copy.
    ``tests/unit/test_spec_build_fast.py`` checks it builds exactly what the codec builds."""
    source = img["source"]
    state = img.get("os_state")
    if not (img.keys() <= _PLAIN_KEYS and source.keys() <= _PLAIN_SOURCE_KEYS):
        return None
    if state is None and img["type"] != "os":
        return None
    tags = img.get("tags")
    return _NEW_SPEC(
        img["name"], _TYPE_OF[img["type"]], img["os"], _STATE_OF[state] if state is not None else OSState.GENERALIZED,
        _NEW_SOURCE(source.get("vm"), source.get("vhd"), source.get("generalize", False), source.get("storage_account"),
                    None, None, None, (), source.get("deprovision", False), source.get("sysprepped", False)),
        img.get("family"), img.get("label"), img.get("description"), img.get("recommended_vm_size"),
        (tags if own else dict(tags)) if tags else _NOTHING, img.get("protect", False), extra, line,
    )


def _promotion(img: Mapping[str, Any], origins: Mapping[str, CatalogConfig]) -> dict[str, Any]:
    """``extra[PROMOTION_EXTRA]`` of a promotion: where its source is and its gate (``promote_when``)."""
    ref = str(img["source"]["image"])
    alias, name = ("", ref) if ref.startswith("/") else tuple(ref.split(":", 1))
    out: dict[str, Any] = {"from": ref, "source": alias, "image": name}
    origin = origins.get(alias)
    if origin is not None:
        out["provider"] = origin.provider
        out["settings"] = origin.effective_settings
    gate = img.get("promote_when") or {}
    if gate.get("min_age"):
        out["min_age"] = gate["min_age"]
    if gate.get("tags"):
        out["tags"] = dict(gate["tags"])
    return out


def _rings(value: Any) -> tuple[Ring, ...]:
    """``latest_rollout`` as ``Ring``s, region names canonical (``West Europe`` -> ``westeurope``)."""
    return tuple(Ring(regions=tuple(str(r).replace(" ", "").lower() for r in item["regions"]),
                      after=item.get("after")) for item in value or ())


#: The sections whose entries and keys plan-time messages point at.
_LOCATED = ("images", "families")


class _ImagePositions(Mapping[str, tuple[int, int]]):
    """JSON path -> 1-based (line, col) of every key under ``images`` (and of each entry), read on
    first use: only a plan with an error asks, and a valid file's first read records no key marks
    (``reader.Document``), so asking makes the document record them (one more parse)."""

    def __init__(self, doc: Positions) -> None:
        self._doc: Positions | None = doc
        self._map: dict[str, tuple[int, int]] = {}

    def _positions(self) -> dict[str, tuple[int, int]]:
        doc = self._doc
        if doc is not None:
            self._doc = None
            doc.loc(())  # a reader ``Document`` records every mark from here on
            self._map = {json_path(p): (m[0] + 1, m[1] + 1) for p, m in doc.marks.items()
                         if len(p) == 2 and p[0] in _LOCATED}
            self._map.update({json_path(p): (m[0] + 1, m[1] + 1) for p, m in doc.key_marks.items()
                              if len(p) > 2 and p[0] in _LOCATED})
        return self._map

    def __getitem__(self, key: str) -> tuple[int, int]:
        return self._positions()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._positions())

    def __len__(self) -> int:
        return len(self._positions())


def dump_spec(catalog: CatalogConfig, policy: Policy, images: Sequence[ImageSpec],
              families: Sequence[FamilySpec] = ()) -> str:
    """A desired-state YAML document that ``parse_spec`` reads back to equal ``ImageSpec``s
    (and ``FamilySpec``s: ``families:`` is written when ``families`` is not empty).

    Used by ``export``. Defaults are left out (no ``protect: false``), an OS image's implied
    ``os_state`` too; strings YAML would read as something else are quoted by the dumper.
    """
    doc: dict[str, Any] = {
        "version": 1,
        "catalog": SPEC_FILE.to_dict(catalog),
        "policy": SPEC_FILE.to_dict(policy),
    }
    if families:
        doc["families"] = {f.name: SPEC_FILE.to_dict(f) for f in families}
    doc["images"] = [_without_family_extra(SPEC_FILE.to_dict(s)) for s in images]
    # Live text may hold bidi or invisible characters, which YAML writes as they are when it may use
    # Unicode: then every non-ASCII character is written as an escape instead, so the exported file
    # (and the terminal it is printed to) shows them, and validate points at them.
    import yaml  # late: only export writes YAML (issue 13: a plan never imports it)

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=not _hides_characters(doc),
                         default_flow_style=False, width=100))


def _without_family_extra(entry: dict[str, Any]) -> dict[str, Any]:
    """An image entry as the file writes it: its family's declaration is under ``families:``."""
    entry.pop(FAMILY_EXTRA, None)
    entry.pop(PROMOTION_EXTRA, None)
    return entry


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


__all__ = ["StateBuilder", "dump_spec"]
