"""Read views (design §2): which images a listing shows, the images table and JSON, families.

Layer: pure core (views).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ReconcilerError
from ..model import Image, ImageType
from ..plandoc import to_dict as document_dict
from .escape import escape_controls

_CATEGORIES = ("user", "public", "all")


def filter_images(
    images: Iterable[Image],
    *,
    family: str | None = None,
    type: ImageType | str | None = None,  # mirrors the --type flag
    category: str = "user",
) -> list[Image]:
    """Select images for a listing, sorted by name (case-insensitive).

    ``family`` compares case-insensitively; ``type`` ``vm`` lists only VM images (those with
    data-disk configurations); ``category`` is ``user`` (default), ``public`` or ``all``.
    """
    if category not in _CATEGORIES:
        raise ReconcilerError(f"unknown image category '{category}'", "use one of: user, public, all")
    wanted_type: ImageType | None = None
    if type is not None:
        try:
            wanted_type = ImageType(type)
        except ValueError as e:
            raise ReconcilerError(f"unknown image type '{type}'", "use one of: vm, os") from e
    fam = family.casefold() if family is not None else None
    out = [
        i
        for i in images
        if (category == "all" or i.category.value == category)
        and (wanted_type is None or i.type is wanted_type)
        and (fam is None or (i.family or "").casefold() == fam)
    ]
    return sorted(out, key=lambda i: (i.key, i.name))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(header)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines) + "\n"


def render_images_table(images: Sequence[Image]) -> str:
    """Aligned columns; DISKS counts data disks (the OS disk is always there)."""
    if not images:
        return "No images found.\n"
    header = ("NAME", "TYPE", "OS", "STATE", "FAMILY", "CATEGORY", "OWNER", "PROTECTED", "DISKS", "CREATED")
    rows = [
        (
            escape_controls(i.name),
            i.type.value,
            escape_controls(i.os),
            i.os_state.value,
            escape_controls(i.family or "-"),
            i.category.value,
            escape_controls(i.owner or "-"),
            "yes" if i.protected else "no",
            str(i.data_disks),
            escape_controls(i.created or "-"),
        )
        for i in images
    ]
    return _table(header, rows)


def render_images_json(images: Sequence[Image]) -> list[dict[str, Any]]:
    """Each image as the plan document writes a live image (``plandoc``: provider facts in ``extra``)."""
    return [document_dict(i) for i in images]


def families_json(images: Iterable[Image]) -> list[dict[str, Any]]:
    """One entry per family (case-insensitive), sorted: ``family``, ``images``, ``newest``, ``types``.

    The newest image is the one with the latest ``created`` (name breaks ties); the family is
    spelled as on that image. Images without a family are not listed.
    """
    groups: dict[str, list[Image]] = {}
    for i in images:
        if i.family:
            groups.setdefault(i.family.casefold(), []).append(i)
    out = []
    for key in sorted(groups):
        members = groups[key]
        newest = max(members, key=lambda i: (i.created, i.key))
        out.append(
            {
                "family": newest.family,
                "images": len(members),
                "newest": newest.name,
                "newest_created": newest.created,
                "types": sorted({i.type.value for i in members}),
                "categories": sorted({i.category.value for i in members}),
            }
        )
    return out


def render_families(images: Iterable[Image]) -> str:
    fams = families_json(images)
    if not fams:
        return "No image families found.\n"
    rows = [
        (
            escape_controls(f["family"]),
            str(f["images"]),
            escape_controls(f["newest"]),
            escape_controls(f["newest_created"] or "-"),
            ",".join(f["types"]),
        )
        for f in fams
    ]
    return _table(("FAMILY", "IMAGES", "NEWEST", "CREATED", "TYPES"), rows)


__all__ = ["families_json", "filter_images", "render_families", "render_images_json", "render_images_table"]
