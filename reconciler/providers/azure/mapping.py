"""ARM resources <-> the model, the parts both modes share: markers, tags, VMs. Pure.

Layer: edge (provider), but no I/O: plain functions of ARM JSON. What is particular to one mode
(a managed image resource, a gallery version and its definition) is mapped in that mode's scope
module (``managed.py``, ``gallery.py``), on top of these.

Markers are tags (``markers.py``); the ``reconciler-`` prefix is reserved (user tags may not use it).
The table of markers is in the package docstring (``providers/azure/__init__.py``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from ...model import VM, Category, Image, ImageSpec, ImageType, OSState, PowerState, ProviderFacts, Source
from .footprint import image_footprint, vm_disk_gib
from .markers import (
    PREFIX,
    TAG_DESCRIPTION,
    TAG_FAMILY,
    TAG_FIELDS,
    TAG_LABEL,
    TAG_OWNER,
    TAG_PROTECT,
    TAG_SIZE,
    TAG_SOURCE_VM,
    TAG_TYPE,
)
from .vmfacts import facts_from_resource

COMPUTE_API = "2025-11-01"

#: A page-blob VHD in an Azure storage account (the only VHD source ARM captures from).
VHD_RE = re.compile(r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/[^/]+/.+\.vhd$", re.I)


def build_tags(spec: ImageSpec, owner: str, *, family_tag: bool, declarable: Collection[str]) -> dict[str, str]:
    """The full tag set an image of ``spec`` carries: user tags plus reconciler's markers.

    ``family_tag``: the family is a tag (it is not where the family is the resource's parent).
    ``declarable``: the mode's provider ``extra`` fields; those the file declares are listed in
    ``reconciler-fields``, so only they are read back.
    """
    tags = {k: v for k, v in spec.tags.items()}
    tags[TAG_OWNER] = owner
    tags[TAG_TYPE] = spec.type.value
    if spec.protect:
        tags[TAG_PROTECT] = "true"
    if spec.family is not None and family_tag:
        tags[TAG_FAMILY] = spec.family
    for key, value in ((TAG_LABEL, spec.label), (TAG_DESCRIPTION, spec.description),
                       (TAG_SIZE, spec.recommended_vm_size)):
        if value is not None:
            tags[key] = value
    if spec.source.vm is not None:
        tags[TAG_SOURCE_VM] = spec.source.vm
    declared = sorted(k for k in spec.extra if k in declarable)
    if declared:
        tags[TAG_FIELDS] = ",".join(declared)
    return tags


def text_tags(spec: ImageSpec) -> dict[str, str | None]:
    """The spec's fields stored as tag values (and so bound by ``MAX_TAG_VALUE``)."""
    return {"label": spec.label, "description": spec.description,
            "recommended_vm_size": spec.recommended_vm_size, "family": spec.family}


def user_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (tags or {}).items() if not k.lower().startswith(PREFIX)}


def itags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tag names are case-insensitive in ARM: look markers up by lower-cased name."""
    return {k.lower(): v for k, v in (tags or {}).items()}


def kept_markers(tags: dict[str, str], live: Mapping[str, str] | None) -> dict[str, str]:
    """``tags`` with the markers that describe how the image was made as the live image has them."""
    have = itags(live)
    for key in (TAG_TYPE, TAG_SOURCE_VM):
        if key in have:
            tags[key] = have[key]
        else:
            tags.pop(key, None)
    return tags


def fingerprint(resource: Mapping[str, Any], text: str | None = None) -> str:
    """The resource's etag when ARM gives one, else a SHA-256 of ``text``, the resource's JSON as
    ARM sent it (a list page's item or a GET's body: hashing it costs a fraction of serialising the
    parsed resource again, issue 13), else of its canonical JSON."""
    etag = resource.get("etag")
    if isinstance(etag, str) and etag:
        return f"etag:{etag}"
    if text is not None:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    canon = json.dumps(resource, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()


def last(resource_id: str | None) -> str | None:
    """The last segment of an ARM id (the resource's name)."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def os_name(value: Any) -> str:
    return str(value or "linux").lower()


def os_state(value: Any) -> OSState:
    return OSState.SPECIALIZED if str(value or "").lower() == "specialized" else OSState.GENERALIZED


def wire_os_type(spec: ImageSpec) -> str:
    return "Windows" if spec.os.lower() == "windows" else "Linux"


def wire_os_state(spec: ImageSpec) -> str:
    return "Specialized" if spec.os_state is OSState.SPECIALIZED else "Generalized"


def image_type(tags: Mapping[str, str], data_disks: int) -> ImageType:
    """The declared type (marker) when there is one, else VM when it holds data disks."""
    t = itags(tags)
    return ImageType(t[TAG_TYPE]) if t.get(TAG_TYPE) in ("os", "vm") else (ImageType.VM if data_disks else ImageType.OS)


def common(tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``Image`` fields every mode keeps in tags."""
    t = itags(tags)
    return {
        "label": t.get(TAG_LABEL),
        "description": t.get(TAG_DESCRIPTION),
        "recommended_vm_size": t.get(TAG_SIZE),
        "tags": user_tags(tags),
        "owner": t.get(TAG_OWNER),
        "protected": t.get(TAG_PROTECT, "").lower() == "true",
    }


def declared(tags: Mapping[str, str]) -> list[str]:
    """The provider ``extra`` fields the file declared (``reconciler-fields``)."""
    raw = itags(tags).get(TAG_FIELDS, "")
    return [f for f in raw.split(",") if f]


def created(resource: Mapping[str, Any]) -> str:
    sd = resource.get("systemData")
    return str(sd.get("createdAt", "")) if isinstance(sd, Mapping) else ""


def image_of(
    resource: Mapping[str, Any],
    *,
    name: str,
    os: Any,
    os_state: OSState,
    family: str | None,
    source: Source | None,
    data_disks: int,
    extra: dict[str, Any],
    published: Any = None,
    facts: ProviderFacts | None = None,
    text: str | None = None,
) -> Image:
    """The model's ``Image`` of an image resource of either mode: the mode reads what is its own
    (name, OS, state, family, source, ``extra``, facts); the rest is read here, the same for both:
    the type (marker, else data disks), the tag-kept fields, id, fingerprint and creation time
    (``systemData``, else ``published``)."""
    tags = resource.get("tags") or {}
    return Image(
        name=name,
        type=image_type(tags, data_disks),
        os=os_name(os),
        os_state=os_state,
        category=Category.USER,
        family=family,
        source=source,
        data_disks=data_disks,
        extra=extra,
        id=str(resource.get("id", "")),
        fingerprint=fingerprint(resource, text),
        created=created(resource) or str(published or ""),
        facts=facts,
        footprint=image_footprint(resource),
        **common(tags),
    )


#: ARM collections of the sources beyond VM and VHD (``Source.image`` / ``snapshot`` / ``disk``).
SOURCE_COLLECTIONS = {"image": "images", "snapshot": "snapshots", "disk": "disks"}


def source_ref(rp: str, kind: str, value: str) -> str:
    """The ARM id of a source the file names: a resource id as it is, a name as one in the catalog's
    resource group (``rp``: its ``.../providers/Microsoft.Compute``)."""
    return value if value.startswith("/subscriptions/") else f"{rp}/{SOURCE_COLLECTIONS[kind]}/{value}"


def source_kind(resource_id: str) -> str | None:
    """``image``, ``snapshot`` or ``disk`` for the id of such a resource, else None."""
    parts = resource_id.lower().rstrip("/").split("/")
    kind = parts[-2] if len(parts) >= 2 else ""
    return next((k for k, c in SOURCE_COLLECTIONS.items() if c == kind), None)


def source_from_ids(own_id: str, os_id: str, data_ids: Collection[str] = ()) -> Source | None:
    """The ``Source`` an image records when it was made from the resource ``os_id`` (and the data
    disk snapshots ``data_ids``, LUN order): names where they are in the image's own resource
    group (as a file names them), ids elsewhere; None when ``os_id`` is no such source."""
    kind = source_kind(os_id)
    if kind is None:
        return None
    rp = own_id.split("/providers/", 1)[0].lower() + "/providers/microsoft.compute/"

    def name(ref: str) -> str:
        return last(ref) or ref if ref.lower().startswith(rp) else ref

    data = tuple(name(d) for d in data_ids)
    if kind == "image":
        return Source(image=name(os_id))
    if kind == "snapshot":
        return Source(snapshot=name(os_id), data_snapshots=data)
    return Source(disk=name(os_id), data_snapshots=data)


def vm_from_resource(resource: Mapping[str, Any], instance_view: Mapping[str, Any] | None) -> VM:
    """A VM resource plus its instance view as the model's ``VM`` (power and OS state from statuses;
    generation, security type, architecture and disk controller in ``facts``, ``vmfacts.VmFacts``)."""
    props = resource.get("properties") or {}
    storage = props.get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    view = instance_view if instance_view is not None else (props.get("instanceView") or {})
    codes = [str(s.get("code", "")) for s in view.get("statuses") or [] if isinstance(s, Mapping)]
    power = PowerState.UNKNOWN
    for c in codes:
        if c.lower().startswith("powerstate/"):
            try:
                power = PowerState(c.split("/", 1)[1].lower())
            except ValueError:
                power = PowerState.UNKNOWN
    state = OSState.GENERALIZED if any(c.lower() == "osstate/generalized" for c in codes) else OSState.SPECIALIZED
    data = sorted(storage.get("dataDisks") or [], key=lambda d: d.get("lun", 0))
    disk_name = os_disk.get("name") or last((os_disk.get("managedDisk") or {}).get("id")) or ""
    # The fingerprint covers the resource and the status codes, not the instance view's timestamps
    # (which move on every read and would make every saved plan look stale).
    props_wo_view = {k: v for k, v in props.items() if k != "instanceView"}
    if resource.get("etag"):
        fp = f"etag:{resource['etag']}|{','.join(codes)}"
    else:
        fp = fingerprint({**resource, "properties": props_wo_view, "statuses": codes})
    return VM(
        name=str(resource.get("name", "")),
        os=os_name(os_disk.get("osType")),
        power_state=power,
        os_state=state,
        os_disk=str(disk_name),
        data_disks=tuple(str(d.get("name") or last((d.get("managedDisk") or {}).get("id")) or "") for d in data),
        id=str(resource.get("id", "")),
        fingerprint=fp,
        facts=facts_from_resource(resource, view),
        disk_gib=vm_disk_gib(resource),
    )


__all__ = [
    "COMPUTE_API",
    "SOURCE_COLLECTIONS",
    "VHD_RE",
    "build_tags",
    "common",
    "created",
    "declared",
    "fingerprint",
    "image_of",
    "image_type",
    "itags",
    "kept_markers",
    "last",
    "os_name",
    "os_state",
    "source_from_ids",
    "source_kind",
    "source_ref",
    "text_tags",
    "user_tags",
    "vm_from_resource",
    "wire_os_state",
    "wire_os_type",
]
