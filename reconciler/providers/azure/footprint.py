"""What an image stores on Resource Manager (issue 11 §5; docs/lifecycle.md "What it costs").

Layer: edge (the ``azure`` provider), pure functions of ARM bodies and specs. "Known" means the
sizes are in what ARM answers:

* a managed image: ``storageProfile.osDisk.diskSizeGB`` and each ``dataDisks[].diskSizeGB``, under
  the disk's ``storageAccountType`` (ComputeRP ``ImageDisk``; default ``Standard_LRS``);
* a gallery version: ``storageProfile.osDiskImage.sizeInGB`` and ``dataDiskImages[].sizeInGB``
  (read-only, GalleryRP ``GalleryDiskImage``), once per replica in every target region
  (``regionalReplicaCount``, else ``publishingProfile.replicaCount``, else 1) under the region's
  ``storageAccountType`` (else the profile's, else ``Standard_LRS``);
* a capture: the source VM's ``osDisk.diskSizeGB`` and ``dataDisks[].diskSizeGB`` (an OS image takes
  the OS disk only), one copy (managed image) or one per declared replica and region (version);
* a promotion: the source version's size of one copy (its footprint over its replicas x regions),
  one per declared replica and region of the new version.

A size that is missing anywhere makes the whole footprint unknown (empty), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...model import VM, Image, ImageSpec, ImageType
from . import versions

DEFAULT_STORAGE = "Standard_LRS"


def _size(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _sum(sizes: Iterable[float | None]) -> float | None:
    total = 0.0
    for s in sizes:
        if s is None:
            return None
        total += s
    return total


def vm_disk_gib(resource: Mapping[str, Any]) -> tuple[float, ...]:
    """A VM's disk sizes (OS disk first, data disks by LUN), () when any is unknown."""
    storage = (resource.get("properties") or {}).get("storageProfile") or {}
    data = sorted(storage.get("dataDisks") or [], key=lambda d: d.get("lun", 0) if isinstance(d, Mapping) else 0)
    sizes = [_size((storage.get("osDisk") or {}).get("diskSizeGB"))]
    sizes += [_size(d.get("diskSizeGB")) if isinstance(d, Mapping) else None for d in data]
    return () if any(s is None for s in sizes) else tuple(s for s in sizes if s is not None)


def managed_image_footprint(resource: Mapping[str, Any]) -> dict[str, float]:
    storage = (resource.get("properties") or {}).get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
    out: dict[str, float] = {}
    for d in disks:
        size = _size(d.get("diskSizeGB")) if isinstance(d, Mapping) else None
        if size is None:
            return {}
        kind = str(d.get("storageAccountType") or DEFAULT_STORAGE)
        out[kind] = out.get(kind, 0.0) + size
    return out


def version_footprint(resource: Mapping[str, Any]) -> dict[str, float]:
    props = resource.get("properties") or {}
    storage = props.get("storageProfile") or {}
    data = storage.get("dataDiskImages") or []
    one = _sum([_size((storage.get("osDiskImage") or {}).get("sizeInGB")),
                *(_size(d.get("sizeInGB")) if isinstance(d, Mapping) else None for d in data)])
    if one is None:
        return {}
    profile = props.get("publishingProfile") or {}
    count = profile.get("replicaCount") or 1
    regions = profile.get("targetRegions") or [{"name": resource.get("location", "")}]
    out: dict[str, float] = {}
    for r in regions:
        if not isinstance(r, Mapping):
            continue
        kind = str(r.get("storageAccountType") or profile.get("storageAccountType") or DEFAULT_STORAGE)
        out[kind] = out.get(kind, 0.0) + one * int(r.get("regionalReplicaCount") or count)
    return out


def image_footprint(resource: Mapping[str, Any]) -> dict[str, float]:
    """The footprint of a managed image or a gallery version resource, {} when unknown."""
    if "publishingProfile" in (resource.get("properties") or {}):
        return version_footprint(resource)
    return managed_image_footprint(resource)


def capture_footprint(spec: ImageSpec, vm: VM, *, gallery: bool, location: str) -> dict[str, float]:
    """What capturing ``spec`` from ``vm`` will store (``Capabilities.footprint``), {} when unknown."""
    sizes = vm.disk_gib if spec.type is ImageType.VM else vm.disk_gib[:1]
    if not sizes:
        return {}
    one = float(sum(sizes))
    if not gallery:
        return {DEFAULT_STORAGE: one}
    return _replicated(spec, one, location)


def promotion_footprint(spec: ImageSpec, origin: Image, *, gallery: bool, location: str) -> dict[str, float]:
    """What promoting ``origin`` (a gallery version) into ``spec`` will store
    (``Capabilities.promotion_footprint``): the origin's size of one copy (its footprint divided by
    its copies, replicas x regions as read into ``origin.extra`` by ``versions.live_fields``) once
    per declared replica and region, as a capture; {} when unknown (or not a gallery)."""
    copies = _copies(origin.extra)
    if not gallery or not origin.footprint or copies <= 0:
        return {}
    return _replicated(spec, sum(origin.footprint.values()) / copies, location)


def _copies(extra: Mapping[str, Any]) -> int:
    """A live version's replicas over all its regions (``version_footprint``'s count): a region's
    ``replicas``, else the version's ``replica_count`` (Azure's default 1); one region when none is
    listed."""
    count = int(extra.get("replica_count") or versions.DEFAULTS["replica_count"])
    regions = versions.declared_regions(extra.get("target_regions"))
    return sum(int(r.replicas or count) for r in regions) if regions else count


def _replicated(spec: ImageSpec, one: float, location: str) -> dict[str, float]:
    """``one`` GiB once per replica in every region ``spec`` declares (else the catalog's)."""
    extra = spec.extra
    count = int(extra.get("replica_count") or versions.DEFAULTS["replica_count"])
    default_kind = str(extra.get("storage_account_type") or DEFAULT_STORAGE)
    regions = versions.declared_regions(extra.get("target_regions")) or [versions.Region(versions.region(location))]
    out: dict[str, float] = {}
    for r in regions:
        kind = _canonical(str(r.storage or default_kind))
        out[kind] = out.get(kind, 0.0) + one * int(r.replicas or count)
    return out


def _canonical(kind: str) -> str:
    """The file may write ``standard_lrs``; the footprint says it as ARM does (``Standard_LRS``)."""
    return next((s for s in versions.STORAGE_TYPES if s.lower() == kind.lower()), kind)


__all__ = ["capture_footprint", "image_footprint", "promotion_footprint", "vm_disk_gib"]
