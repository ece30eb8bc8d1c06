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


def set_power(vm: dict[str, Any], state: str, display: str) -> None:
    kept = [s for s in statuses(vm) if not str(s.get("code", "")).lower().startswith("powerstate/")]
    kept.append({"code": f"PowerState/{state}", "level": "Info", "displayStatus": display})
    vm["properties"]["instanceView"]["statuses"] = kept


# ---- hooks of the CRUD table -----------------------------------------------------------------------
def render(out: dict[str, Any], expand: str) -> None:
    """The instance view is part of a VM only with ``$expand=instanceView``."""
    if expand == "instanceview":
        props = out.setdefault("properties", {})
        props.setdefault("instanceView", {}).setdefault("statuses", default_statuses())
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


HANDLERS: dict[str, Handler] = {
    "VirtualMachines_InstanceView": instance_view,
    "VirtualMachines_Deallocate": deallocate,
    "VirtualMachines_Generalize": generalize,
}
