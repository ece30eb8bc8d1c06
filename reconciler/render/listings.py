"""Read views (design §2): which images a listing shows, the images table and JSON, families.

Layer: pure core (views).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ReconcilerError
from ..model import Image, ImageType, PublicListing
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


def image_status(image: Image) -> str:
    """What the image's state says beyond its fields: ``Image.failed``, else the provider facts'
    ``status()`` when they have one (a gallery version: its replication per region); "" when nothing."""
    if image.failed:
        return image.failed
    status = getattr(image.facts, "status", None)
    return str(status()) if callable(status) else ""


def render_images_table(images: Sequence[Image], latest: Mapping[str, str] | None = None) -> str:
    """Aligned columns; DISKS counts data disks (the OS disk is always there). A STATUS column
    (``image_status``) is added when any image has one: provisioning failed, replication per region.
    ``latest`` (``images list --family``: ``lifecycle.latest_marks``) adds a LATEST column."""
    if not images:
        return "No images found.\n"
    header: tuple[str, ...] = ("NAME", "TYPE", "OS", "STATE", "FAMILY", "CATEGORY", "OWNER", "PROTECTED", "DISKS",
                               "CREATED")
    rows: list[tuple[str, ...]] = [
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
    if latest is not None:
        header = (*header, "LATEST")
        rows = [(*row, escape_controls(latest.get(i.key, "-"))) for row, i in zip(rows, images, strict=True)]
    statuses = [image_status(i) for i in images]
    if any(statuses):
        header = (*header, "STATUS")
        rows = [(*row, escape_controls(status or "-")) for row, status in zip(rows, statuses, strict=True)]
    return _table(header, rows)


def render_images_json(images: Sequence[Image]) -> list[dict[str, Any]]:
    """Each image as the plan document writes a live image (``plandoc``: provider facts in ``extra``)."""
    return [document_dict(i) for i in images]


def families_json(images: Iterable[Image]) -> list[dict[str, Any]]:
    """One entry per family (case-insensitive), sorted: ``family``, ``images``, ``newest``, ``types``.

    The newest image is the one with the latest ``created``, then the highest version (``_age``); the family is
    spelled as on that image. Images without a family are not listed.
    """
    groups: dict[str, list[Image]] = {}
    for i in images:
        if i.family:
            groups.setdefault(i.family.casefold(), []).append(i)
    out = []
    for key in sorted(groups):
        members = groups[key]
        newest = max(members, key=_age)
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


# --------------------------------------------------------------------------------------------------
# Public images browsed beyond the snapshot (``PublicQuery``: Marketplace, community/shared galleries)


def version_key(name: str) -> tuple[Any, ...]:
    """A version compared by its numeric parts (``9.0.1`` before ``10.0.0``), text parts as text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in re.split(r"[.\-]", name))


def _version_of(image: Image) -> str:
    """The version part of a public name: after the last ':' (URN) or '/' (gallery path)."""
    return re.split(r"[:/]", image.name)[-1]


def _age(image: Image) -> tuple[Any, ...]:
    return image.created, version_key(_version_of(image)), image.key


def newest_per_family(images: Iterable[Image]) -> list[Image]:
    """``--latest``: the newest image of each family (case-insensitive; an image without a family is
    its own), by ``created`` then version number — a Marketplace version has no date, a gallery
    version its publish date. Sorted as ``filter_images`` sorts."""
    best: dict[str, Image] = {}
    for i in images:
        key = (i.family or i.name).casefold()
        if key not in best or _age(i) > _age(best[key]):
            best[key] = i
    return sorted(best.values(), key=lambda i: (i.key, i.name))


def public_fields(image: Image) -> dict[str, Any]:
    """The provider's public facts of ``image`` (``urn``, ``hyper_v_generation``, ...), {} when none."""
    return dict(image.facts.document_fields()) if image.facts is not None else {}


def render_public_table(images: Sequence[Image]) -> str:
    """Public images with what picking a base image needs: URN (what a VM's image reference takes),
    OS, type, Hyper-V generation, architecture, security type, purchase plan, publish date."""
    if not images:
        return "No images found.\n"
    header = ("URN", "OS", "TYPE", "GEN", "ARCH", "SECURITY", "PLAN", "PUBLISHED")
    rows = []
    for i in images:
        f = public_fields(i)
        state = f.get("image_state")
        rows.append((
            escape_controls(str(f.get("urn") or i.name)),
            escape_controls(i.os),
            i.type.value,
            escape_controls(str(f.get("hyper_v_generation") or "-")),
            escape_controls(str(f.get("architecture") or "-")),
            escape_controls(str(f.get("security_type") or "-")),
            "yes" if f.get("plan") else "no",
            escape_controls(i.created or ("deprecated" if state == "Deprecated" else "-")),
        ))
    return _table(header, rows)


def render_public_json(images: Sequence[Image]) -> list[dict[str, Any]]:
    """One flat object per public image, stable keys (docs/azure.md, "Public images"): the image's
    ``name``, ``family``, ``type``, ``os``, ``os_state``, ``data_disks``, ``created``, ``id``, then the
    provider's public facts (``urn``, ``source``, ``publisher`` ... ``end_of_life``)."""
    return [
        {"name": i.name, "family": i.family, "type": i.type.value, "os": i.os, "os_state": i.os_state.value,
         "data_disks": i.data_disks, "created": i.created or None, "id": i.id, **public_fields(i)}
        for i in images
    ]


def render_publishers(listing: PublicListing) -> str:
    if not listing.publishers:
        return f"No publishers found in {escape_controls(listing.location)}.\n"
    return _table(("PUBLISHER", "LOCATION"), [(escape_controls(p), escape_controls(listing.location))
                                             for p in listing.publishers])


def publishers_json(listing: PublicListing) -> list[dict[str, Any]]:
    return [{"publisher": p, "location": listing.location} for p in listing.publishers]


__all__ = [
    "families_json",
    "filter_images",
    "newest_per_family",
    "public_fields",
    "publishers_json",
    "render_families",
    "render_images_json",
    "render_images_table",
    "render_public_json",
    "render_public_table",
    "render_publishers",
    "version_key",
]
