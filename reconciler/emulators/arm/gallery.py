"""Azure Compute Gallery: galleries, image definitions and image versions (GalleryRP 2025-03-03).

Layer: emulator. List, get and delete come from the table in ``crud.py``; this module holds creates,
updates (which fields are immutable), a version's source (VM, managed image, VHD or disk) and how a
version renders ``$expand=replicationStatus``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import regions, vms
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

_VERSION_NAME = re.compile(r"^([0-9]+)\.([0-9]+)\.([0-9]+)$")  # ASCII digits (\d takes any Unicode digit)
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
    if "features" in props and _feature_set(props["features"]) != _feature_set(existing["properties"].get("features")):
        # GalleryRP 2025-03-03 ``allowUpdateImage``: "Must be set to true if the gallery image
        # features are being updated." What Azure answers without it is not documented: the
        # emulator refuses as it refuses every other fixed property (PropertyChangeNotAllowed, 409).
        if props.get("allowUpdateImage") is not True:
            raise immutable("properties.features")
    for key in _DEFINITION_MUTABLE:
        if key in props:
            existing["properties"][key] = deep_copy(props[key])
    existing["properties"].pop("allowUpdateImage", None)  # a request flag, not a stored property
    if "tags" in call.body:
        existing["tags"] = dict(call.body.get("tags") or {})
    return b.updated(existing, call)


def _feature_set(features: Any) -> frozenset[tuple[str, str]]:
    """Features as Azure compares them: by name without case, in any order (``startsAtVersion`` aside)."""
    return frozenset((str(f.get("name", "")).lower(), str(f.get("value", "")).lower())
                     for f in features or [] if isinstance(f, Mapping))


# ---- gallery image versions -------------------------------------------------------------------------
def check_version_query(query: Mapping[str, str]) -> None:
    expand = query.get("$expand")
    if expand is not None and expand.lower() not in ("replicationstatus", "uefisettings"):
        raise invalid_expand(expand)


def render_version(out: dict[str, Any], expand: str) -> None:
    """A version as GET answers it: target regions by display name whatever was sent (every GalleryRP
    example; BEHAVIOURS.md row 6), and with ``$expand=replicationStatus`` the state of each region:
    Completed once the version is provisioned, Replicating while it is not, Failed where a
    replication failed (``Faults.fail_replication``; stored as the failed entries of
    ``replicationStatus``) and everywhere when the version itself failed."""
    props = out["properties"]
    stored = props.pop("replicationStatus", None) or {}
    regions_in = props.get("publishingProfile", {}).get("targetRegions", [])
    for t in regions_in:
        t["name"] = regions.display(t.get("name", ""))
    if expand != "replicationstatus":
        return
    state = props.get("provisioningState")
    failed = {regions.canonical(e.get("region", "")): e for e in stored.get("summary") or []}
    summary = []
    for name in [t.get("name", "") for t in regions_in] or [regions.display(out.get("location", ""))]:
        entry = failed.get(regions.canonical(name))
        if entry is not None or (state == "Failed" and not failed):
            summary.append({"region": name, "state": "Failed", "progress": 0,
                            "details": (entry or {}).get("details", "The version failed to provision.")})
        elif state in ("Succeeded", "Failed"):  # Failed: only its failed regions did not complete
            summary.append({"region": name, "state": "Completed", "details": "", "progress": 100})
        else:
            summary.append({"region": name, "state": "Replicating", "details": "", "progress": 0})
    states = {e["state"] for e in summary}
    aggregated = "Failed" if "Failed" in states else "InProgress" if "Replicating" in states else "Completed"
    props["replicationStatus"] = {"aggregatedState": aggregated, "summary": summary}


_STORAGE_TYPES = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")
_REPLICATION_MODES = ("Full", "Shallow")


def _check_publishing(publishing: Mapping[str, Any]) -> None:
    """Enum values of the publishing profile (GalleryRP ``StorageAccountType``, ``ReplicationMode``)."""
    types = [("storageAccountType", publishing.get("storageAccountType"))] + [
        ("targetRegions.storageAccountType", r.get("storageAccountType"))
        for r in publishing.get("targetRegions") or []]
    for where, value in types:
        if value is not None and value not in _STORAGE_TYPES:
            raise ArmError(400, "InvalidParameter",
                           f"The value '{value}' of parameter 'publishingProfile.{where}' is invalid. "
                           f"Allowed values: {', '.join(_STORAGE_TYPES)}.",
                           target=f"properties.publishingProfile.{where}")
    mode = publishing.get("replicationMode")
    if mode is not None and mode not in _REPLICATION_MODES:
        raise ArmError(400, "InvalidParameter",
                       f"The value '{mode}' of parameter 'publishingProfile.replicationMode' is invalid.",
                       target="properties.publishingProfile.replicationMode")


def _replicate(b: ArmBackend, resource: dict[str, Any], names: list[str]) -> None:
    """Replicate ``resource`` to ``names`` (canonical): a region in ``Faults.fail_replication``
    fails (once); the others succeed with the version's operation. With ``replication_failure``
    ``Failed`` the version's operation fails too."""
    faults = b.gallery_faults()
    props = resource["properties"]
    stored = props.setdefault("replicationStatus", {"summary": []})
    summary = [e for e in stored.get("summary") or [] if regions.canonical(e.get("region", "")) not in names]
    wanted = set(getattr(faults, "fail_replication", set()) or set())
    hit = [n for n in names if n in wanted]
    for n in hit:
        summary.append({"region": n, "state": "Failed",
                        "details": f"Replication to region '{regions.display(n)}' failed "
                                   "(fault injected by the emulator)."})
    if faults is not None and hit:
        faults.fail_replication = wanted - set(hit)
        if faults.replication_failure == "Failed":
            faults.fail_operations = set(faults.fail_operations) | {resource["name"]}
    stored["summary"] = summary


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
        _apply_version_changes(b, existing, body)
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
    refuse_source_mismatch(b, props.get("storageProfile") or {}, definition)
    refuse_version_source(b, props.get("storageProfile") or {}, definition, str(body.get("location", "")))
    resource = b.new(version_id, TYPE_VERSION, body, name)
    out = resource["properties"]
    publishing = deep_copy(props.get("publishingProfile") or {})
    _check_publishing(publishing)
    replica_count = publishing.setdefault("replicaCount", 1)
    publishing.setdefault("excludeFromLatest", False)
    publishing.setdefault("storageAccountType", "Standard_LRS")
    publishing["publishedDate"] = now_iso()
    targets = publishing.get("targetRegions") or [{"name": body["location"]}]
    for region in targets:
        region["name"] = regions.canonical(region.get("name", ""))  # stored canonical, answered by display name
        region.setdefault("regionalReplicaCount", replica_count)
        region.setdefault("storageAccountType", publishing["storageAccountType"])
        region.setdefault("excludeFromLatest", False)
    publishing["targetRegions"] = targets
    out["publishingProfile"] = publishing
    out["storageProfile"] = storage
    safety = deep_copy(props.get("safetyProfile") or {})
    # azurerm documents deletion_of_replicated_locations_enabled as false by default (BEHAVIOURS.md row 8).
    safety.setdefault("allowDeletionOfReplicatedLocations", False)
    safety.setdefault("reportedForPolicyViolation", False)
    safety.setdefault("blockDeletionBeforeEndOfLife", False)
    out["safetyProfile"] = safety
    _replicate(b, resource, [t["name"] for t in targets])
    return b.created(resource, call)


# ---- a VM source must match its definition (issue 10 §1) ----------------------------------------------
#: Security types a VM (or its disk) may not be captured into: "Currently only Vhd Blob, User Image and
#: Gallery Image Version sources are supported" (BEHAVIOURS.md row 4).
_SUPPORTED_ONLY = ("trustedlaunchsupported", "confidentialvmsupported", "trustedlaunchandconfidentialvmsupported")


def definition_security_type(definition: Mapping[str, Any]) -> str:
    """The definition's feature ``SecurityType``; Standard when it has none (azurerm writes
    ``trusted_launch_*`` / ``confidential_vm_*`` as this feature: BEHAVIOURS.md row 5)."""
    for feature in (definition.get("properties") or {}).get("features") or []:
        if str(feature.get("name", "")).lower() == "securitytype":
            return str(feature.get("value") or "Standard")
    return "Standard"


def refuse_source_mismatch(b: ArmBackend, storage_in: Mapping[str, Any], definition: Mapping[str, Any]) -> None:
    """Refuse a version whose source VM (``source.virtualMachineId``, or a VM's OS disk as
    ``osDiskImage.source.id``) differs from ``definition`` in Hyper-V generation, security type or
    architecture, with Azure's code and message where they are public (BEHAVIOURS.md rows 3, 4);
    the others' wording is the emulator's (no public source quotes it), their codes plausible."""
    source = storage_in.get("source") or {}
    vm_id = source.get("virtualMachineId")
    vm = b.get(vm_id) if vm_id else vms.vm_of_os_disk(b, ((storage_in.get("osDiskImage") or {}).get("source")
                                                         or {}).get("id"))
    if vm is None or not is_type(vm, TYPE_VM):
        return
    source_id = str(vm_id or storage_in["osDiskImage"]["source"]["id"])
    props = definition.get("properties") or {}
    have_gen, want_gen = vms.hyper_v_generation(vm), str(props.get("hyperVGeneration") or "V1")
    if have_gen.upper() != want_gen.upper():
        raise ArmError(
            409,
            "Conflict",
            f"The resource with id '{source_id}' has a different Hypervisor generation ['{have_gen}'] than the "
            f"parent gallery image Hypervisor generation ['{want_gen}'].",
        )
    have_sec, want_sec = vms.security_type(vm), definition_security_type(definition)
    if want_sec.lower() in _SUPPORTED_ONLY:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The security type '{want_sec}' is not supported for the source id '{source_id}'. Currently only "
            "Vhd Blob, User Image and Gallery Image Version sources are supported",
        )
    if have_sec.lower() != want_sec.lower():
        # Unverified wording (Azure refuses both directions; the message is not quoted publicly).
        raise ArmError(
            400,
            "InvalidParameter",
            f"The source '{source_id}' has security type '{have_sec}', but the parent gallery image "
            f"'{definition.get('name', '')}' has security type '{want_sec}'. Use a gallery image whose feature "
            f"'SecurityType' is '{have_sec}'." if have_sec != "Standard" else
            f"The source '{source_id}' has security type 'Standard', which is not supported by the parent "
            f"gallery image '{definition.get('name', '')}' with security type '{want_sec}'.",
        )
    have_arch, want_arch = vms.architecture(vm), str(props.get("architecture") or "x64")
    if have_arch.lower() != want_arch.lower():
        # Unverified wording, as above.
        raise ArmError(
            400,
            "InvalidParameter",
            f"The architecture '{have_arch}' of the source '{source_id}' does not match the architecture "
            f"'{want_arch}' of the parent gallery image.",
        )


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
        if is_type(image, TYPE_VERSION):
            return _version_of_version(b, image)
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
        # GalleryDiskImageSource.id: a managed disk or a snapshot: the OS disk of a VM, or a disk or
        # snapshot seeded in the state (vms.disk_source); like a VHD, it takes the definition's OS state.
        vms.disk_source(b, vhd["id"], "properties.storageProfile.osDiskImage.source.id")
        for i, data in enumerate(storage_in.get("dataDiskImages") or []):
            if (data.get("source") or {}).get("id"):
                vms.disk_source(b, data["source"]["id"], f"properties.storageProfile.dataDiskImages[{i}].source.id")
        return _copied_disk_source(storage_in), _definition_os_state(b, params)
    raise ArmError(
        400,
        "InvalidParameter",
        "The source of the gallery image version is missing: give "
        "storageProfile.source.virtualMachineId, source.id or osDiskImage.source.uri.",
        target="properties.storageProfile.source",
    )


# ---- a version from another gallery's version (issue 11 §1) ------------------------------------------
# "An image source can be ... an image version in another gallery" (Learn, "Store and share images in
# an Azure Compute Gallery"; GalleryArtifactVersionFullSource.id in the GalleryRP spec). By default
# the source must be replicated to the new version's region; whether Azure requires that is
# unverified, so ``Faults.promotion_region`` ("refuse" | "allow") offers both. A source still being
# created or that failed cannot be copied; its definition's Hyper-V generation, security type and
# architecture must be the target definition's, as for any source (BEHAVIOURS.md rows 3-6). Those
# refusals' wording is the emulator's (no public source quotes them): docs/arm-emulator.md
# "Promotion". Across resource groups and subscriptions alike: the store is one, as ARM's resource
# ids are.


def _definition_of_version(b: ArmBackend, version: Mapping[str, Any]) -> Mapping[str, Any]:
    head = str(version.get("id", "")).rpartition("/versions/")[0]
    return b.get(head) or {}


def _version_of_version(b: ArmBackend, version: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The stored storage profile of a version copied from ``version`` (its disks, the source id),
    and the OS state of its definition."""
    storage = deep_copy((version.get("properties") or {}).get("storageProfile") or {})
    out = {"source": {"id": version["id"]},
           "osDiskImage": {"hostCaching": (storage.get("osDiskImage") or {}).get("hostCaching", "ReadWrite"),
                           **({"sizeInGB": storage["osDiskImage"]["sizeInGB"]}
                              if "sizeInGB" in (storage.get("osDiskImage") or {}) else {})},
           "dataDiskImages": [{k: d[k] for k in ("lun", "hostCaching", "sizeInGB") if k in d}
                              for d in storage.get("dataDiskImages") or []]}
    state = (_definition_of_version(b, version).get("properties") or {}).get("osState", "Generalized")
    return out, str(state)


def refuse_version_source(b: ArmBackend, storage_in: Mapping[str, Any], definition: Mapping[str, Any],
                          location: str) -> None:
    """A gallery version source must be Succeeded, replicated (Completed) to ``location`` (unless
    ``Faults.promotion_region`` is "allow": unverified), and of the target definition's generation,
    security type and architecture."""
    source_id = ((storage_in.get("source") or {}).get("id")) or ""
    version = b.get(source_id) if source_id else None
    if not is_type(version, TYPE_VERSION):
        return
    assert version is not None
    props = version.get("properties") or {}
    state = str(props.get("provisioningState") or "Succeeded")
    if state != "Succeeded":
        raise ArmError(400, "InvalidParameter",
                       f"The source gallery image version '{source_id}' is in provisioning state '{state}'; "
                       "only a Succeeded version can be the source of another version.",
                       target="properties.storageProfile.source.id")
    home = regions.canonical(location)
    replicated = {regions.canonical(t.get("name", "")) for t in (props.get("publishingProfile") or {})
                  .get("targetRegions") or []}
    failed = {regions.canonical(e.get("region", "")) for e in (props.get("replicationStatus") or {})
              .get("summary") or []}
    # Whether Azure refuses this is unverified (``Faults.promotion_region``; docs/arm-emulator.md).
    refuse = getattr(b.gallery_faults(), "promotion_region", "refuse") == "refuse"
    if refuse and (home not in replicated or home in failed):
        raise ArmError(400, "InvalidParameter",
                       f"The source gallery image version '{source_id}' is not replicated to region '{home}'. "
                       "Replicate it there first.", target="properties.storageProfile.source.id")
    src_def = _definition_of_version(b, version)
    src, want = src_def.get("properties") or {}, definition.get("properties") or {}
    for label, have_v, want_v in (
        ("Hypervisor generation", str(src.get("hyperVGeneration") or "V1"), str(want.get("hyperVGeneration") or "V1")),
        ("security type", definition_security_type(src_def), definition_security_type(definition)),
        ("architecture", str(src.get("architecture") or "x64"), str(want.get("architecture") or "x64")),
    ):
        if have_v.lower() != want_v.lower():
            raise ArmError(409 if label.startswith("Hyper") else 400,
                           "Conflict" if label.startswith("Hyper") else "InvalidParameter",
                           f"The resource with id '{source_id}' has a different {label} ['{have_v}'] than the "
                           f"parent gallery image {label} ['{want_v}'].",
                           target="properties.storageProfile.source.id")


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


#: The safety profile's updatable flags (issue 10 §3: both readable and updatable).
_SAFETY_UPDATABLE = ("allowDeletionOfReplicatedLocations", "blockDeletionBeforeEndOfLife")


def _apply_version_changes(b: ArmBackend, existing: dict[str, Any], body: dict[str, Any]) -> None:
    """PATCH (and PUT on an existing version) may change tags, these publishing fields and the
    safety flags only ("Update an image version": BEHAVIOURS.md row 15). A region's storage type
    cannot change; a region removed while ``allowDeletionOfReplicatedLocations`` is false is
    refused (``Faults.region_removal``); a region sent again that failed to replicate replicates again."""
    props = body.get("properties") or {}
    for key, value in props.items():
        if key in ("publishingProfile", "safetyProfile"):
            continue
        if key in ("provisioningState", "replicationStatus", "validationsProfile"):
            continue
        diff = first_difference(value, existing["properties"].get(key), key)
        if diff:
            raise immutable(f"properties.{diff}")
    safety_in = props.get("safetyProfile") or {}
    safety = existing["properties"].setdefault("safetyProfile", {})
    for key, value in safety_in.items():
        if key not in _SAFETY_UPDATABLE and key not in ("reportedForPolicyViolation", "policyViolations"):
            diff = first_difference(value, safety.get(key), key)
            if diff:
                raise immutable(f"properties.safetyProfile.{diff}")
    publishing = props.get("publishingProfile") or {}
    _check_publishing(publishing)
    have = existing["properties"].setdefault("publishingProfile", {})
    for key, value in publishing.items():
        if key == "publishedDate":
            continue
        if key in _VERSION_UPDATABLE:
            continue
        diff = first_difference(value, have.get(key), key)
        if diff:
            raise immutable(f"properties.publishingProfile.{diff}")
    replicate: list[str] = []
    if "targetRegions" in publishing:
        before = {regions.canonical(r.get("name", "")): r for r in have.get("targetRegions") or []}
        count = publishing.get("replicaCount", have.get("replicaCount", 1))
        targets = deep_copy(publishing["targetRegions"])
        for region in targets:
            region["name"] = regions.canonical(region.get("name", ""))
            old = before.get(region["name"])
            if old is not None and region.get("storageAccountType") not in (None, old.get("storageAccountType")):
                raise immutable("properties.publishingProfile.targetRegions.storageAccountType")
            region.setdefault("regionalReplicaCount", count)
            region.setdefault("storageAccountType",
                              (old or {}).get("storageAccountType") or have.get("storageAccountType", "Standard_LRS"))
            region.setdefault("excludeFromLatest", False)
            replicate.append(region["name"])
        removed = sorted(set(before) - {r["name"] for r in targets})
        faults = b.gallery_faults()
        allowed = safety.get("allowDeletionOfReplicatedLocations", False)
        if removed and not allowed and getattr(faults, "region_removal", "refuse") == "refuse":
            # Unverified wording and code (BEHAVIOURS.md row 8); the emulator's choice.
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Removing target regions ({', '.join(regions.display(r) for r in removed)}) from gallery image "
                f"version '{existing['name']}' is not allowed: its safetyProfile.allowDeletionOfReplicatedLocations "
                "is false.",
                target="properties.publishingProfile.targetRegions",
            )
    for key in _SAFETY_UPDATABLE:
        if key in safety_in:
            safety[key] = bool(safety_in[key])
    for key in _VERSION_UPDATABLE:
        if key in publishing:
            value = deep_copy(publishing[key])
            if key == "targetRegions":
                value = targets
            have[key] = value
    if replicate:
        _replicate(b, existing, replicate)
    if "tags" in body:
        existing["tags"] = dict(body.get("tags") or {})


def update_version(b: ArmBackend, call: Call) -> Reply:
    existing = b.patched(_id(b, call.params, VERSION_PATH), call)
    _apply_version_changes(b, existing, call.body)
    return b.updated(existing, call)


HANDLERS: dict[str, Handler] = {
    "Galleries_CreateOrUpdate": create_gallery,
    "GalleryImages_CreateOrUpdate": create_definition,
    "GalleryImages_Update": update_definition,
    "GalleryImageVersions_CreateOrUpdate": create_version,
    "GalleryImageVersions_Update": update_version,
}
