"""Managed disks and snapshots: ``GET`` of one, as DiskRP answers it (issue 10 §3).

Layer: emulator. The DiskRP spec is not among the packaged specs (shared/azure-rest holds ComputeRP
and GalleryRP only), so these two operations are routed by path here, not by the spec table, and
their answers cannot be validated against a spec: their shape follows the published REST reference
("Disks - Get", "Snapshots - Get", learn.microsoft.com/rest/api/compute/disks/get and
.../snapshots/get, api-version 2024-03-02): ``name``, ``id``, ``type``, ``location``, ``sku``,
``managedBy`` (a disk attached to a VM), and under ``properties`` ``osType``, ``hyperVGeneration``,
``securityProfile.securityType``, ``supportedCapabilities`` (``architecture``,
``diskControllerTypes``), ``creationData``, ``diskSizeGB``, ``diskState``, ``provisioningState``.

What is served: the ``Microsoft.Compute/disks`` and ``snapshots`` resources seeded in the state file
(their fields as seeded, the reference's defaults filled in), and the OS disk of a seeded VM
(``storageProfile.osDisk.managedDisk.id``), described from the VM: its OS, generation, security
type and architecture, attached (``managedBy``). Anything else answers ARM's 404
``ResourceNotFound``. Only GET: disks and snapshots are made by other tools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .model import ArmError, Reply
from .schema import deep_copy
from .vms import architecture, hyper_v_generation, power_state, security_type, vm_of_os_disk

if TYPE_CHECKING:
    from .backend import ArmBackend

#: ``/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/{disks|snapshots}/{name}``.
PATH = re.compile(
    r"/subscriptions/(?P<subscriptionId>[^/]+)/resourceGroups/(?P<resourceGroupName>[^/]+)"
    r"/providers/Microsoft\.Compute/(?P<collection>disks|snapshots)/(?P<name>[^/]+)",
    re.IGNORECASE,
)

TYPES = {"disks": "Microsoft.Compute/disks", "snapshots": "Microsoft.Compute/snapshots"}


def get(b: ArmBackend, method: str, m: re.Match[str], query: Mapping[str, str]) -> Reply:
    """``Disks_Get`` / ``Snapshots_Get``."""
    if method != "GET":
        raise ArmError(405, "MethodNotAllowed", f"The emulator serves only GET of {m.group('collection')}.")
    collection = m.group("collection").lower()
    params = {k: m.group(k) for k in ("subscriptionId", "resourceGroupName")}
    resource_id = b.resource_id(params, (collection, m.group("name")))
    found = b.get(resource_id)
    if found is not None and str(found.get("type", "")).lower() == TYPES[collection].lower():
        return Reply(200, render(found, collection))
    if collection == "disks":
        vm = vm_of_os_disk(b, resource_id)
        if vm is not None:
            return Reply(200, from_vm(vm, resource_id))
    raise b._not_found(resource_id, params)


def render(resource: Mapping[str, Any], collection: str) -> dict[str, Any]:
    """A seeded disk or snapshot with the reference's defaults: Succeeded, unattached."""
    out: dict[str, Any] = deep_copy(dict(resource))
    props = out.setdefault("properties", {})
    props.setdefault("provisioningState", "Succeeded")
    props.setdefault("diskState", "Unattached")
    props.setdefault("creationData", {"createOption": "Empty" if collection == "disks" else "Copy"})
    out.setdefault("sku", {"name": "Standard_LRS", "tier": "Standard"})
    return out


def from_vm(vm: dict[str, Any], disk_id: str) -> dict[str, Any]:
    """The OS disk of ``vm`` as ``Disks - Get`` would describe it."""
    props = vm.get("properties") or {}
    os_disk = (props.get("storageProfile") or {}).get("osDisk") or {}
    security = security_type(vm)
    disk_props: dict[str, Any] = {
        "osType": os_disk.get("osType") or "Linux",
        "hyperVGeneration": hyper_v_generation(vm),
        "supportedCapabilities": {"architecture": architecture(vm),
                                  "diskControllerTypes": str(
                                      (props.get("storageProfile") or {}).get("diskControllerType") or "SCSI")},
        "creationData": {"createOption": "FromImage"},
        "diskSizeGB": os_disk.get("diskSizeGB") or 30,
        # A deallocated VM's disks are Reserved, a running one's Attached (DiskRP ``DiskState``).
        "diskState": "Reserved" if power_state(vm) == "deallocated" else "Attached",
        "provisioningState": "Succeeded",
    }
    if security != "Standard":
        disk_props["securityProfile"] = {"securityType": security}
    return {"id": disk_id, "name": disk_id.rsplit("/", 1)[-1], "type": "Microsoft.Compute/disks",
            "location": vm.get("location"), "managedBy": vm.get("id"),
            "sku": {"name": "Premium_LRS", "tier": "Premium"}, "properties": disk_props}


__all__ = ["PATH", "TYPES", "from_vm", "get", "render"]
