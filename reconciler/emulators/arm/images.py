"""Managed images (``Microsoft.Compute/images``): capture from a generalized, stopped VM; tags-only update.

Layer: emulator. List, get and delete come from the table in ``crud.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import vms
from .model import TYPE_IMAGE, ArmError, Call, Reply, first_difference, immutable, not_allowed
from .schema import deep_copy

if TYPE_CHECKING:
    from .backend import ArmBackend, Handler


def _image_id(b: ArmBackend, call: Call) -> str:
    return b.resource_id(call.params, ("images", call.params["imageName"]))


def create_or_update(b: ArmBackend, call: Call) -> Reply:
    params, body = call.params, call.body
    image_id = _image_id(b, call)
    props = body.get("properties") or {}
    existing = b.replaced(image_id, call)
    if existing is not None:
        have = existing["properties"]
        for key in ("sourceVirtualMachine", "storageProfile", "hyperVGeneration"):
            if key in props and props[key] is not None:
                diff = first_difference(props[key], have.get(key), key)
                if diff:
                    raise immutable(f"properties.{diff}")
        op = b.in_flight(image_id.lower())
        if "tags" in body and (body.get("tags") or {}) != (existing.get("tags") or {}):
            existing["tags"] = dict(body.get("tags") or {})
            if op is None:
                have["provisioningState"] = "Updating"
                op = b.start(existing, "update", call.version, params["subscriptionId"])
        return b.accepted(200, existing, op, call.base)
    image = b.new(image_id, TYPE_IMAGE, body, params["imageName"])
    out = image["properties"]
    source_vm = (props.get("sourceVirtualMachine") or {}).get("id")
    if source_vm:
        vm = vms.source_vm(b, source_vm, "properties.sourceVirtualMachine.id")
        if not vms.is_generalized(vm):
            raise not_allowed(
                f"The operation 'Create Image' requires the Virtual Machine '{vm['name']}' to be Generalized."
            )
        if vms.power_state(vm) not in ("deallocated", "stopped"):
            raise not_allowed(
                f"The operation 'Create Image' requires the "
                f"Virtual Machine '{vm['name']}' to be deallocated or stopped."
            )
        refuse_trusted_launch(vm)
        out["sourceVirtualMachine"] = {"id": vm["id"]}
        out["storageProfile"] = profile_from_vm(vm)
        view = vm.get("properties", {}).get("instanceView") or {}
        out["hyperVGeneration"] = props.get("hyperVGeneration") or view.get("hyperVGeneration") or "V1"
    elif (props.get("storageProfile") or {}).get("osDisk"):
        os_in = props["storageProfile"]["osDisk"]
        refs = [(os_in.get(k) or {}).get("id") and (os_in[k]["id"], f"properties.storageProfile.osDisk.{k}.id")
                for k in ("snapshot", "managedDisk")]
        for i, d in enumerate(props["storageProfile"].get("dataDisks") or []):
            for k in ("snapshot", "managedDisk"):
                if (d.get(k) or {}).get("id"):
                    refs.append((d[k]["id"], f"properties.storageProfile.dataDisks[{i}].{k}.id"))
        for ref in refs:
            if ref:
                vms.disk_source(b, ref[0], ref[1])
        # A VM's OS disk (or a seeded disk / snapshot) of a Trusted Launch VM: refused as the VM is.
        owner = vms.vm_of_os_disk(b, (os_in.get("managedDisk") or {}).get("id")) or b.get(
            str((os_in.get("snapshot") or os_in.get("managedDisk") or {}).get("id") or ""))
        if owner is not None:
            refuse_trusted_launch(owner)
        profile = deep_copy(props["storageProfile"])
        profile.setdefault("dataDisks", [])
        profile.setdefault("zoneResilient", False)
        out["storageProfile"] = profile
        out["hyperVGeneration"] = props.get("hyperVGeneration") or "V1"
    else:
        raise ArmError(
            400,
            "InvalidParameter",
            "Either 'sourceVirtualMachine' or 'storageProfile.osDisk' must be specified.",
            target="properties.storageProfile",
        )
    return b.created(image, call)


def refuse_trusted_launch(vm: dict[str, Any]) -> None:
    """Managed images cannot be made from a Trusted Launch or Confidential VM, nor from its OS disk.

    Azure answers 400 ``OperationNotAllowed`` with this message for Trusted Launch (BEHAVIOURS.md
    row 1: hashicorp/packer#13189, Azure/azure-cli#31191); the Confidential VM wording is the same
    sentence with the other security type (not quoted in a public source: plausible).
    """
    security = vms.security_type(vm)
    if security != "Standard":
        raise ArmError(
            400,
            "OperationNotAllowed",
            f"Creation of managed images are not supported for virtual machine with {security} security type.",
        )


def profile_from_vm(vm: dict[str, Any]) -> dict[str, Any]:
    """The image storage profile a capture of ``vm`` records (also a gallery version's source)."""
    storage = vm.get("properties", {}).get("storageProfile", {})
    os_disk = storage.get("osDisk", {})
    disk: dict[str, Any] = {
        "osType": os_disk.get("osType", "Linux"),
        "osState": "Generalized",
        "caching": os_disk.get("caching", "ReadWrite"),
    }
    data_disks = [
        _with_disk_fields({"lun": dd["lun"], "caching": dd.get("caching", "None")}, dd)
        for dd in storage.get("dataDisks", [])
    ]
    return {"osDisk": _with_disk_fields(disk, os_disk), "dataDisks": data_disks, "zoneResilient": False}


def _with_disk_fields(out: dict[str, Any], vm_disk: dict[str, Any]) -> dict[str, Any]:
    """The managed disk id, storage type and size a VM disk passes on to its image disk."""
    managed = vm_disk.get("managedDisk") or {}
    if managed.get("id"):
        out["managedDisk"] = {"id": managed["id"]}
    if managed.get("storageAccountType"):
        out["storageAccountType"] = managed["storageAccountType"]
    if vm_disk.get("diskSizeGB"):
        out["diskSizeGB"] = vm_disk["diskSizeGB"]
    return out


def update(b: ArmBackend, call: Call) -> Reply:
    existing = b.patched(_image_id(b, call), call)
    # "Only tags may be updated": echoing unchanged properties is allowed (the spec example does).
    diff = first_difference(call.body.get("properties") or {}, existing["properties"], "")
    if diff:
        raise immutable(f"properties.{diff}")
    if "tags" in call.body:
        existing["tags"] = dict(call.body.get("tags") or {})
    return b.updated(existing, call)


HANDLERS: dict[str, Handler] = {
    "Images_CreateOrUpdate": create_or_update,
    "Images_Update": update,
}
