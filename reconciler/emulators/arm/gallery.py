"""Azure Compute Gallery: galleries, image definitions and image versions (GalleryRP 2025-03-03).

Layer: emulator. List, get and delete come from the table in ``crud.py``; this module holds creates,
updates (which fields are immutable), a version's source (VM, managed image, VHD or disk) and how a
version renders ``$expand=replicationStatus``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .images import profile_from_vm
from .model import (
    TYPE_GALLERY,
    TYPE_GALLERY_IMAGE,
    TYPE_VERSION,
    TYPE_VM,
    ArmError,
    Call,
    Reply,
    first_difference,
    immutable,
    invalid_expand,
    is_type,
    now_iso,
    parent_not_found,
)
from .schema import deep_copy
from .vms import is_generalized, source_vm

if TYPE_CHECKING:
    from .backend import ArmBackend, Handler

GALLERY_PATH = (("galleries", "galleryName"),)
DEFINITION_PATH = (*GALLERY_PATH, ("images", "galleryImageName"))
VERSION_PATH = (*DEFINITION_PATH, ("versions", "galleryImageVersionName"))

_VERSION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_INT32_MAX = 2**31 - 1


def _id(b: ArmBackend, params: Mapping[str, str], path: tuple[tuple[str, str], ...]) -> str:
    return b.resource_id(params, *[(segment, params[name]) for segment, name in path])


# ---- galleries ----------------------------------------------------------------------------------------
def create_gallery(b: ArmBackend, call: Call) -> Reply:
    params, body = call.params, call.body
    gallery_id = _id(b, params, GALLERY_PATH)
    props = body.get("properties") or {}
    existing = b.replaced(gallery_id, call)
    if existing is not None:
        if "description" in props:
            existing["properties"]["description"] = props["description"]
        if "tags" in body:
            existing["tags"] = dict(body.get("tags") or {})
        return b.updated(existing, call)
    gallery = b.new(gallery_id, TYPE_GALLERY, body, params["galleryName"])
    out = gallery["properties"]
    if "description" in props:
        out["description"] = props["description"]
    out["identifier"] = {"uniqueName": f"{params['subscriptionId']}-{params['galleryName'].upper()}"}
    for key in ("sharingProfile", "softDeletePolicy"):
        if key in props:
            out[key] = deep_copy(props[key])
    return b.created(gallery, call)


# ---- gallery image definitions ----------------------------------------------------------------------
_DEFINITION_IMMUTABLE = ("osType", "osState", "identifier", "hyperVGeneration", "architecture")
_DEFINITION_MUTABLE = (
    "description",
    "eula",
    "privacyStatementUri",
    "releaseNoteUri",
    "endOfLifeDate",
    "recommended",
    "disallowed",
    "purchasePlan",
    "features",
    "allowUpdateImage",
)


def create_definition(b: ArmBackend, call: Call) -> Reply:
    params, body = call.params, call.body
    if b.get(_id(b, params, GALLERY_PATH)) is None:
        raise parent_not_found(params["galleryName"])
    image_id = _id(b, params, DEFINITION_PATH)
    props = body.get("properties") or {}
    existing = b.replaced(image_id, call)
    if existing is not None:
        return _update_definition(b, existing, call)
    image = b.new(image_id, TYPE_GALLERY_IMAGE, body, params["galleryImageName"])
    out = image["properties"]
    for key in (*_DEFINITION_IMMUTABLE, *_DEFINITION_MUTABLE):
        if key in props:
            out[key] = deep_copy(props[key])
    out.setdefault("hyperVGeneration", "V1")
    out.setdefault("architecture", "x64")
    return b.created(image, call)


def update_definition(b: ArmBackend, call: Call) -> Reply:
    existing = b.patched(_id(b, call.params, DEFINITION_PATH), call)
    return _update_definition(b, existing, call)


def _update_definition(b: ArmBackend, existing: dict[str, Any], call: Call) -> Reply:
    """An image definition PUT on an existing one, or a PATCH: immutable fields must not change."""
    props = call.body.get("properties") or {}
    for key in _DEFINITION_IMMUTABLE:
        if key in props:
            diff = first_difference(props[key], existing["properties"].get(key), key)
            if diff:
                raise immutable(f"properties.{diff}")
    for key in _DEFINITION_MUTABLE:
        if key in props:
            existing["properties"][key] = deep_copy(props[key])
    if "tags" in call.body:
        existing["tags"] = dict(call.body.get("tags") or {})
    return b.updated(existing, call)


# ---- gallery image versions -------------------------------------------------------------------------
def check_version_query(query: Mapping[str, str]) -> None:
    expand = query.get("$expand")
    if expand is not None and expand.lower() not in ("replicationstatus", "uefisettings"):
        raise invalid_expand(expand)


def render_version(out: dict[str, Any], expand: str) -> None:
    """``$expand=replicationStatus``: every target region Completed once the version is provisioned."""
    if expand != "replicationstatus":
        return
    done = out["properties"].get("provisioningState") == "Succeeded"
    regions = [
        t.get("name") for t in out["properties"].get("publishingProfile", {}).get("targetRegions", [])
    ] or [out.get("location")]
    out["properties"]["replicationStatus"] = {
        "aggregatedState": "Completed" if done else "InProgress",
        "summary": [
            {
                "region": r,
                "state": "Completed" if done else "Replicating",
                "details": "",
                "progress": 100 if done else 0,
            }
            for r in regions
        ],
    }


def create_version(b: ArmBackend, call: Call) -> Reply:
    params, body = call.params, call.body
    name = params["galleryImageVersionName"]
    m = _VERSION_NAME.match(name)
    if not m or any(int(g) > _INT32_MAX for g in m.groups()):
        raise ArmError(
            400,
            "InvalidParameter",
            f"The gallery image version name '{name}' is invalid. It must follow the format "
            "<MajorVersion>.<MinorVersion>.<Patch>, each a 32-bit integer.",
            target="galleryImageVersionName",
        )
    definition = b.get(_id(b, params, DEFINITION_PATH))
    if definition is None:
        raise parent_not_found(f"{params['galleryName']}/{params['galleryImageName']}")
    version_id = _id(b, params, VERSION_PATH)
    props = body.get("properties") or {}
    existing = b.replaced(version_id, call)
    if existing is not None:
        wanted_source = (props.get("storageProfile") or {}).get("source")
        if wanted_source:
            diff = first_difference(
                wanted_source, existing["properties"]["storageProfile"].get("source"), "storageProfile.source"
            )
            if diff:
                raise immutable(f"properties.{diff}")
        _apply_version_changes(existing, body)
        return b.updated(existing, call)
    storage, os_state = _version_source(b, props.get("storageProfile") or {}, params)
    want_state = definition["properties"].get("osState", "Generalized")
    if os_state.lower() != str(want_state).lower():
        source_id = (
            storage.get("source", {}).get("virtualMachineId")
            or storage.get("source", {}).get("id")
            or storage.get("osDiskImage", {}).get("source", {}).get("uri", "")
        )
        raise ArmError(
            400,
            "BadRequest",
            f"The resource with id '{source_id}' has a different OS state ['{os_state}'] than "
            f"the parent gallery image OS state ['{want_state}'].",
        )
    resource = b.new(version_id, TYPE_VERSION, body, name)
    out = resource["properties"]
    publishing = deep_copy(props.get("publishingProfile") or {})
    replica_count = publishing.setdefault("replicaCount", 1)
    publishing.setdefault("excludeFromLatest", False)
    publishing.setdefault("storageAccountType", "Standard_LRS")
    publishing["publishedDate"] = now_iso()
    regions = publishing.get("targetRegions") or [{"name": body["location"]}]
    for region in regions:
        region.setdefault("regionalReplicaCount", replica_count)
        region.setdefault("storageAccountType", publishing["storageAccountType"])
        region.setdefault("excludeFromLatest", False)
    publishing["targetRegions"] = regions
    out["publishingProfile"] = publishing
    out["storageProfile"] = storage
    safety = deep_copy(props.get("safetyProfile") or {})
    safety.setdefault("allowDeletionOfReplicatedLocations", True)
    safety.setdefault("reportedForPolicyViolation", False)
    out["safetyProfile"] = safety
    return b.created(resource, call)


def _definition_os_state(b: ArmBackend, params: Mapping[str, str]) -> str:
    definition = b.get(_id(b, params, DEFINITION_PATH)) or {}
    return str(definition.get("properties", {}).get("osState", "Generalized"))


def _version_source(
    b: ArmBackend, storage_in: dict[str, Any], params: Mapping[str, str]
) -> tuple[dict[str, Any], str]:
    """The stored storage profile and the OS state of the source (VM, managed image or VHD)."""
    source = storage_in.get("source") or {}
    if source.get("virtualMachineId"):
        vm = source_vm(b, source["virtualMachineId"], "properties.storageProfile.source.virtualMachineId")
        profile = profile_from_vm(vm)
        storage = {
            "source": {"virtualMachineId": vm["id"]},
            "osDiskImage": {
                "hostCaching": profile["osDisk"]["caching"],
                **({"sizeInGB": profile["osDisk"]["diskSizeGB"]} if "diskSizeGB" in profile["osDisk"] else {}),
            },
            "dataDiskImages": [
                {
                    "lun": d["lun"],
                    "hostCaching": d["caching"],
                    **({"sizeInGB": d["diskSizeGB"]} if "diskSizeGB" in d else {}),
                }
                for d in profile["dataDisks"]
            ],
        }
        return storage, "Generalized" if is_generalized(vm) else "Specialized"
    if source.get("id"):
        image = b.get(source["id"])
        if image is None:
            raise ArmError(
                404,
                "NotFound",
                f"The source '{source['id']}' was not found.",
                target="properties.storageProfile.source.id",
            )
        os_disk = image.get("properties", {}).get("storageProfile", {}).get("osDisk", {})
        storage = {
            "source": {"id": image["id"]},
            "osDiskImage": {"hostCaching": os_disk.get("caching", "ReadWrite")},
            "dataDiskImages": [
                {"lun": d["lun"], "hostCaching": d.get("caching", "None")}
                for d in image.get("properties", {}).get("storageProfile", {}).get("dataDisks", [])
            ],
        }
        return storage, str(os_disk.get("osState", "Generalized"))
    os_image = storage_in.get("osDiskImage") or {}
    vhd = os_image.get("source") or {}
    if vhd.get("uri"):
        if not vhd.get("storageAccountId"):
            raise ArmError(
                400,
                "InvalidParameter",
                "Required parameter 'storageAccountId' is missing (null).",
                target="properties.storageProfile.osDiskImage.source.storageAccountId",
            )
        # A VHD carries no OS state of its own: it takes the definition's (emulator behaviour).
        return _copied_disk_source(storage_in), _definition_os_state(b, params)
    if vhd.get("id"):
        # GalleryDiskImageSource.id: a managed disk (or snapshot). The emulator knows disks only
        # as the OS disks of its VMs; like a VHD, a disk takes the definition's OS state.
        disk_id = str(vhd["id"]).lower()
        known = any(
            str(((r.get("properties", {}).get("storageProfile", {}).get("osDisk") or {}).get("managedDisk")
                 or {}).get("id", "")).lower() == disk_id
            for r in b.resources.values()
            if is_type(r, TYPE_VM)
        )
        if not known:
            raise ArmError(
                404,
                "NotFound",
                f"The source '{vhd['id']}' was not found.",
                target="properties.storageProfile.osDiskImage.source.id",
            )
        return _copied_disk_source(storage_in), _definition_os_state(b, params)
    raise ArmError(
        400,
        "InvalidParameter",
        "The source of the gallery image version is missing: give "
        "storageProfile.source.virtualMachineId, source.id or osDiskImage.source.uri.",
        target="properties.storageProfile.source",
    )


def _copied_disk_source(storage_in: dict[str, Any]) -> dict[str, Any]:
    """A VHD or disk source is stored as given, with the defaults GET shows."""
    storage: dict[str, Any] = deep_copy(storage_in)
    storage["osDiskImage"].setdefault("hostCaching", "ReadWrite")
    storage.setdefault("dataDiskImages", [])
    return storage


_VERSION_UPDATABLE = (
    "targetRegions",
    "replicaCount",
    "endOfLifeDate",
    "excludeFromLatest",
    "targetExtendedLocations",
)


def _apply_version_changes(existing: dict[str, Any], body: dict[str, Any]) -> None:
    """PATCH (and PUT on an existing version) may change tags and these publishing fields only."""
    props = body.get("properties") or {}
    for key, value in props.items():
        if key == "publishingProfile":
            continue
        if key in ("provisioningState", "replicationStatus", "validationsProfile"):
            continue
        diff = first_difference(value, existing["properties"].get(key), key)
        if diff:
            raise immutable(f"properties.{diff}")
    publishing = props.get("publishingProfile") or {}
    have = existing["properties"].setdefault("publishingProfile", {})
    for key, value in publishing.items():
        if key == "publishedDate":
            continue
        if key in _VERSION_UPDATABLE:
            continue
        diff = first_difference(value, have.get(key), key)
        if diff:
            raise immutable(f"properties.publishingProfile.{diff}")
    for key in _VERSION_UPDATABLE:
        if key in publishing:
            value = deep_copy(publishing[key])
            if key == "targetRegions":
                for region in value:
                    region.setdefault("regionalReplicaCount", have.get("replicaCount", 1))
                    region.setdefault("storageAccountType", have.get("storageAccountType", "Standard_LRS"))
                    region.setdefault("excludeFromLatest", False)
            have[key] = value
    if "tags" in body:
        existing["tags"] = dict(body.get("tags") or {})


def update_version(b: ArmBackend, call: Call) -> Reply:
    existing = b.patched(_id(b, call.params, VERSION_PATH), call)
    _apply_version_changes(existing, call.body)
    return b.updated(existing, call)


HANDLERS: dict[str, Handler] = {
    "Galleries_CreateOrUpdate": create_gallery,
    "GalleryImages_CreateOrUpdate": create_definition,
    "GalleryImages_Update": update_definition,
    "GalleryImageVersions_CreateOrUpdate": create_version,
    "GalleryImageVersions_Update": update_version,
}
