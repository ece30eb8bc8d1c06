"""Virtual machines: power state, generalize, deallocate, and how a VM renders (``$expand``).

Layer: emulator. VMs are the sources of captures; the emulator keeps their power and OS state in the
instance view's ``statuses`` the way ComputeRP reports them (``PowerState/...``, ``OSState/...``).
List, get and delete come from the table in ``crud.py``; this module supplies its hooks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .model import TYPE_VM, ArmError, Call, Reply, invalid_expand, is_type, not_allowed

if TYPE_CHECKING:
    from .backend import ArmBackend, Handler

_FILTER_VMSS = re.compile(r"^\s*'?virtualMachineScaleSet/id'?\s+eq\s+'(?P<id>[^']+)'\s*$", re.IGNORECASE)


def statuses(vm: dict[str, Any]) -> list[dict[str, Any]]:
    view = vm.setdefault("properties", {}).setdefault("instanceView", {})
    found: list[dict[str, Any]] = view.setdefault("statuses", default_statuses())
    return found


def default_statuses() -> list[dict[str, Any]]:
    """A VM seeded without an instance view is a running, provisioned VM (emulator behaviour)."""
    return [
        {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
        {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
    ]


def _codes(vm: dict[str, Any]) -> set[str]:
    view = vm.get("properties", {}).get("instanceView")
    found = view.get("statuses", []) if isinstance(view, dict) else default_statuses()
    return {str(s.get("code", "")).lower() for s in found}


def power_state(vm: dict[str, Any]) -> str:
    for code in _codes(vm):
        if code.startswith("powerstate/"):
            return code.split("/", 1)[1]
    return "running"


def is_generalized(vm: dict[str, Any]) -> bool:
    return "osstate/generalized" in _codes(vm)


def security_type(vm: Mapping[str, Any]) -> str:
    """``properties.securityProfile.securityType`` (TrustedLaunch | ConfidentialVM), Standard when absent."""
    found = str(((vm.get("properties") or {}).get("securityProfile") or {}).get("securityType") or "Standard")
    return {"trustedlaunch": "TrustedLaunch", "confidentialvm": "ConfidentialVM"}.get(found.lower(), found)


def hyper_v_generation(vm: Mapping[str, Any]) -> str:
    """The instance view's ``hyperVGeneration`` as seeded, else V1."""
    view = (vm.get("properties") or {}).get("instanceView") or {}
    return str(view.get("hyperVGeneration") or "V1") if isinstance(view, Mapping) else "V1"


def architecture(vm: Mapping[str, Any]) -> str:
    """x64, or Arm64 for a size whose additive features include ``p`` (``Standard_D2ps_v5``;
    learn.microsoft.com "Azure virtual machine sizes naming conventions": p = ARM-based processor)."""
    size = str(((vm.get("properties") or {}).get("hardwareProfile") or {}).get("vmSize") or "")
    m = re.match(r"^[A-Za-z]+_[A-Z]+\d+(?:-\d+)?(?P<features>[a-z]*)", size)
    return "Arm64" if m is not None and "p" in m.group("features") else "x64"


def vm_of_os_disk(b: ArmBackend, disk_id: Any) -> dict[str, Any] | None:
    """The VM whose OS disk is the managed disk ``disk_id`` (the emulator knows disks through VMs)."""
    if not disk_id:
        return None
    want = str(disk_id).lower()
    for r in b.resources.values():
        if is_type(r, TYPE_VM):
            got = (((r.get("properties") or {}).get("storageProfile") or {}).get("osDisk") or {}).get("managedDisk")
            if str((got or {}).get("id", "")).lower() == want:
                return r
    return None


def disk_source(b: ArmBackend, ref: Any, target: str) -> dict[str, Any]:
    """The disk or snapshot a capture names (``target``: where the body names it), or 404.

    The emulator serves no DiskRP operations: disks are known as the OS disks of its VMs (returned as
    the VM, which carries their facts) or as ``Microsoft.Compute/disks`` / ``snapshots`` resources
    seeded in the state file (docs/arm-emulator.md), with Azure's ``osType``, ``hyperVGeneration``
    and ``securityProfile.securityType`` under ``properties``.
    """
    owner = vm_of_os_disk(b, ref)
    if owner is not None:
        return owner
    found = b.get(str(ref)) if ref else None
    if found is None or str(found.get("type", "")).lower() not in ("microsoft.compute/disks",
                                                                     "microsoft.compute/snapshots"):
        raise ArmError(404, "NotFound", f"The source '{ref}' was not found.", target=target)
    return found


def set_power(vm: dict[str, Any], state: str, display: str) -> None:
    kept = [s for s in statuses(vm) if not str(s.get("code", "")).lower().startswith("powerstate/")]
    kept.append({"code": f"PowerState/{state}", "level": "Info", "displayStatus": display})
    vm["properties"]["instanceView"]["statuses"] = kept


# ---- hooks of the CRUD table -----------------------------------------------------------------------
def render(out: dict[str, Any], expand: str) -> None:
    """The instance view is part of a VM only with ``$expand=instanceView``; it always states the
    VM's ``hyperVGeneration`` (seeded in the state, else ``V1``: Azure reports one for every VM)."""
    if expand == "instanceview":
        props = out.setdefault("properties", {})
        view = props.setdefault("instanceView", {})
        view.setdefault("statuses", default_statuses())
        view.setdefault("hyperVGeneration", "V1")
    else:
        out.get("properties", {}).pop("instanceView", None)


def check_get_query(query: Mapping[str, str]) -> None:
    expand = query.get("$expand")
    if expand is not None and expand not in ("instanceView", "userData", "resiliencyView"):
        raise invalid_expand(expand)


def narrow_list(
    items: list[dict[str, Any]], query: Mapping[str, str]
) -> tuple[list[dict[str, Any]], Mapping[str, str]]:
    """``VirtualMachines_List``: ``$expand=instanceView`` and the scale-set ``$filter`` only."""
    expand = query.get("$expand")
    if expand is not None and expand.lower() != "instanceview":
        raise invalid_expand(expand)
    flt = query.get("$filter")
    if flt:
        m = _FILTER_VMSS.match(flt)
        if not m:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The $filter '{flt}' is not supported. Allowed is "
                "'virtualMachineScaleSet/id' eq '<scale set id>'.",
                target="$filter",
            )
        want = m.group("id").lower()
        items = [
            v
            for v in items
            if str(v.get("properties", {}).get("virtualMachineScaleSet", {}).get("id", "")).lower() == want
        ]
    return items, {"$expand": expand or ""}


#: ``VirtualMachines_List`` with ``$expand=instanceView`` but no ``$filter``: the spec allows the
#: expand "only if a valid $filter option is specified"; whether ARM then answers 400 or ignores the
#: expand is unverified (BEHAVIOURS.md row 9, Azure/azure-rest-api-specs#42411), so the emulator
#: offers both: ``Faults.vm_list_expand`` = ``ignore`` (200, VMs without instance views; default)
#: or ``reject`` (400; the wording below is the emulator's, Azure's is not public).
LIST_EXPAND_MODES = ("ignore", "reject")


def list_expand_switch(inner: Handler) -> Handler:
    """``VirtualMachines_List`` as ``inner`` serves it, behind the unfiltered-expand switch."""

    def list_op(b: ArmBackend, call: Call) -> Reply:
        expand = call.query.get("$expand")
        if expand is None or expand.lower() != "instanceview" or call.query.get("$filter"):
            return inner(b, call)
        if b.vm_list_expand() == "reject":
            raise ArmError(
                400,
                "InvalidParameter",
                "The value 'instanceView' of parameter '$expand' is allowed only together with a valid "
                "$filter ('virtualMachineScaleSet/id' eq '<scale set id>').",
                target="$expand",
            )
        reply = inner(b, call)  # the nextLink keeps the query as sent
        for vm in (reply.body or {}).get("value", []):
            vm.get("properties", {}).pop("instanceView", None)
        return reply

    return list_op


def source_vm(b: ArmBackend, vm_id: str, target: str) -> dict[str, Any]:
    """The VM a capture names as its source (``target``: where the body names it)."""
    vm = b.get(vm_id)
    if vm is None or not is_type(vm, TYPE_VM):
        raise ArmError(404, "NotFound", f"The Virtual Machine '{vm_id}' was not found.", target=target)
    return vm


# ---- actions ----------------------------------------------------------------------------------------
def _vm(b: ArmBackend, params: Mapping[str, str]) -> dict[str, Any]:
    return b.require(b.resource_id(params, ("virtualMachines", params["vmName"])), params)


def instance_view(b: ArmBackend, call: Call) -> Reply:
    rendered = b.render(_vm(b, call.params), {"$expand": "instanceView"})
    return Reply(200, rendered["properties"]["instanceView"], definition="compute.VirtualMachineInstanceView")


def deallocate(b: ArmBackend, call: Call) -> Reply:
    vm = _vm(b, call.params)
    op = b.in_flight(vm["id"].lower())
    if op is not None:
        if op.kind == "deallocate":
            return Reply(202, None, b.lro_headers(op, call.base))
        raise not_allowed(f"Another operation ({op.kind}) is in progress on VM '{vm['name']}'.")
    if power_state(vm) == "deallocated":
        return Reply(200)
    set_power(vm, "deallocating", "VM deallocating")
    vm["properties"]["provisioningState"] = "Updating"
    op = b.start(vm, "deallocate", call.version, call.params["subscriptionId"])
    return Reply(202, None, b.lro_headers(op, call.base))


def generalize(b: ArmBackend, call: Call) -> Reply:
    vm = _vm(b, call.params)
    if power_state(vm) not in ("deallocated", "stopped"):
        raise not_allowed(
            f"Operation 'generalize' is not allowed on VM '{vm['name']}' since the VM is "
            f"{power_state(vm)}. Please deallocate or stop the VM and retry."
        )
    if not is_generalized(vm):
        statuses(vm).append({"code": "OSState/generalized", "level": "Info", "displayStatus": "VM generalized"})
    return Reply(200)


def run_command(b: ArmBackend, call: Call) -> Reply:
    """``VirtualMachines_RunCommand`` (ComputeRP 2025-11-01, packaged in the marketplace extract).

    The guest agent runs scripts only in a running VM; a shell command in a Windows VM (or PowerShell
    in Linux) is refused. Emulator behaviour: the command "runs" at once and the answer is the
    spec's 200 ``RunCommandResult`` (Azure usually answers 202 and the result at the Location URL),
    with the StdOut/StdErr statuses of the spec's example. The messages of the refusals are the
    emulator's (no public source quotes Azure's). The guest is not modelled: the request log shows
    what ran.
    """
    vm = _vm(b, call.params)
    state = power_state(vm)
    if state != "running":
        raise not_allowed(
            f"Operation 'RunCommand' is not allowed on VM '{vm['name']}' since the VM is {state}. "
            "Please start the VM and retry."
        )
    command = str((call.body or {}).get("commandId") or "")
    os_type = str(vm.get("properties", {}).get("storageProfile", {}).get("osDisk", {}).get("osType", "Linux"))
    shell = command.lower().startswith("runshellscript")
    if shell != (os_type.lower() == "linux") and command.lower().startswith(("runshellscript", "runpowershellscript")):
        raise ArmError(
            409,
            "Conflict",
            f"The command '{command}' is not supported for the operating system type '{os_type}' of VM '{vm['name']}'.",
            target="commandId",
        )
    script = "\n".join(str(line) for line in (call.body or {}).get("script") or [])
    return Reply(
        200,
        {"value": [
            {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "message": f"ran {command}" + (f": {script}" if script else "")},
            {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "message": ""},
        ]},
        definition="marketplace.RunCommandResult",
    )


HANDLERS: dict[str, Handler] = {
    "VirtualMachines_RunCommand": run_command,
    "VirtualMachines_InstanceView": instance_view,
    "VirtualMachines_Deallocate": deallocate,
    "VirtualMachines_Generalize": generalize,
}
