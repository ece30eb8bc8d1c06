"""What Azure says about a source VM beyond the provider-neutral ``VM`` fields (issue 10 §1).

Layer: edge (provider), pure. ``VmFacts`` travels in ``VM.facts``; the planner never reads it, the
azure provider's plan-time checks (managed images refuse Trusted Launch; a gallery definition must
match its source) and the family inference (a definition created from its first source) do.

Values are Azure's wire spellings: ``hyper_v_generation`` ``V1`` | ``V2`` (None: Azure did not
say), ``security_type`` ``Standard`` | ``TrustedLaunch`` | ``ConfidentialVM``, ``architecture``
``x64`` | ``Arm64``, ``disk_controller`` ``SCSI`` | ``NVMe``.

Where each fact comes from (ComputeRP 2025-11-01, ``VirtualMachine``):

- ``hyper_v_generation``: the instance view's ``hyperVGeneration`` (``VirtualMachineInstanceView``);
  the VM model itself has none.
- ``security_type``: ``properties.securityProfile.securityType`` (``SecurityTypes``: TrustedLaunch |
  ConfidentialVM); absent means Standard (no UEFI security features). Since 2024 new Gen2 VMs are
  Trusted Launch by default (BEHAVIOURS.md row 2), so a Gen2 VM without the field is unusual.
- ``architecture``: the VM model has no architecture field; Azure exposes it through the size
  (Resource SKUs capability ``CpuArchitectureType``, and the size *name*: the additive feature
  letter ``p`` means "ARM-based processor", learn.microsoft.com "Azure virtual machine sizes naming
  conventions": ``Standard_D2ps_v5``, ``Standard_B2pts_v2``, ``Standard_E4pds_v5``). A marketplace
  ``storageProfile.imageReference`` whose SKU names ``arm64`` confirms it when the size says nothing.
- ``disk_controller``: ``properties.storageProfile.diskControllerType`` (``DiskControllerTypes``:
  SCSI | NVMe); absent means SCSI.
- ``data_disk_luns``: ``properties.storageProfile.dataDisks[].lun``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import Diagnostic

#: ``Standard_D2ps_v5`` -> family ``D``, vCPUs ``2``, additive features ``ps`` (``_v5`` follows).
_SIZE_RE = re.compile(r"^[A-Za-z]+_[A-Z]+\d+(?:-\d+)?(?P<features>[a-z]*)")

#: The definition features (``SecurityType``) a VM source may be captured into, by the VM's security
#: type. The ``...Supported`` types are refused for VM sources (BEHAVIOURS.md row 4).
_SUPPORTED_ONLY = frozenset({"TrustedLaunchSupported", "ConfidentialVMSupported",
                             "TrustedLaunchAndConfidentialVmSupported"})


@dataclass(frozen=True)
class VmFacts:
    hyper_v_generation: str | None = None
    security_type: str = "Standard"
    architecture: str = "x64"
    disk_controller: str = "SCSI"
    data_disk_luns: tuple[int, ...] = ()

    def document_fields(self) -> Mapping[str, Any]:
        return {"hyper_v_generation": self.hyper_v_generation, "security_type": self.security_type,
                "architecture": self.architecture, "disk_controller": self.disk_controller,
                "data_disk_luns": list(self.data_disk_luns)}


def architecture_of(vm_size: Any, image_reference: Any = None) -> str:
    """``Arm64`` when the size's additive features include ``p`` (or, without a size, the image
    reference's SKU names arm64), else ``x64``."""
    m = _SIZE_RE.match(str(vm_size or ""))
    if m is not None:
        return "Arm64" if "p" in m.group("features") else "x64"
    ref = image_reference if isinstance(image_reference, Mapping) else {}
    return "Arm64" if "arm64" in str(ref.get("sku") or "").lower() else "x64"


def facts_from_resource(resource: Mapping[str, Any], instance_view: Mapping[str, Any] | None) -> VmFacts:
    """The ``VmFacts`` of a VM resource and its instance view (``properties.instanceView`` when
    ``instance_view`` is None)."""
    props = resource.get("properties") or {}
    storage = props.get("storageProfile") or {}
    view = instance_view if instance_view is not None else (props.get("instanceView") or {})
    security = str((props.get("securityProfile") or {}).get("securityType") or "Standard")
    controller = str(storage.get("diskControllerType") or "SCSI")
    luns = sorted(int(d.get("lun", 0)) for d in storage.get("dataDisks") or [] if isinstance(d, Mapping))
    generation = view.get("hyperVGeneration") if isinstance(view, Mapping) else None
    return VmFacts(
        hyper_v_generation=str(generation).upper() if generation else None,
        security_type=_canonical_security(security),
        architecture=architecture_of((props.get("hardwareProfile") or {}).get("vmSize"),
                                     storage.get("imageReference")),
        disk_controller="NVMe" if controller.lower() == "nvme" else "SCSI",
        data_disk_luns=tuple(luns),
    )


def _canonical_security(value: str) -> str:
    for known in ("Standard", "TrustedLaunch", "ConfidentialVM"):
        if value.lower() == known.lower():
            return known
    return value


# --------------------------------------------------------------------------------------------------
# Plan-time checks (pure)


def check_source_against_definition(
    facts: VmFacts, definition: Any, *, vm: str = "", image: str = "", noun: str = "VM"
) -> list[Diagnostic]:
    """Why a gallery version of ``image`` captured from VM ``vm`` (with ``facts``) would be refused
    by Azure in ``definition``: its Hyper-V generation, security type and architecture must match.

    ``definition``: read by attribute, ``name``, ``hyper_v_generation`` (None: V1, Azure's default),
    ``security_type`` (None: Standard, a definition without features) and ``architecture`` (None:
    x64). A definition object without a ``security_type`` / ``architecture`` attribute at all does
    not know them: that comparison is skipped. Each error names both values and the fix. ``noun``:
    what the source is (``snapshot``, ``managed disk``: issue 10 §3; its facts read the same way).
    """
    out: list[Diagnostic] = []
    name = str(getattr(definition, "name", "") or "")
    where = f"gallery definition '{name}'" if name else "the gallery definition"
    what = f"'{image}'" if image else "the image"
    src = f"source {noun} '{vm}'" if vm else f"the source {noun}"
    have_gen = str(getattr(definition, "hyper_v_generation", None) or "V1")
    if facts.hyper_v_generation is not None and facts.hyper_v_generation != have_gen:
        out.append(Diagnostic.error(
            f"{src} of {what} is Hyper-V generation {facts.hyper_v_generation}, but {where} is {have_gen} "
            f"(Azure refuses: Conflict, a different Hypervisor generation than the parent gallery image)",
            f"capture into a definition with hyper_v_generation: {facts.hyper_v_generation} (a definition's "
            f"generation cannot change), or from a {have_gen} {noun}",
            code="azure-gallery-generation"))
    if hasattr(definition, "security_type"):
        have_sec = str(getattr(definition, "security_type", None) or "Standard")
        problem = _security_problem(facts.security_type, have_sec)
        if problem is not None:
            out.append(Diagnostic.error(
                f"{src} of {what} is {facts.security_type}, but {where} has security type {have_sec} ({problem})",
                _security_fix(facts.security_type), code="azure-gallery-security-type"))
    if hasattr(definition, "architecture"):
        have_arch = str(getattr(definition, "architecture", None) or "x64")
        if facts.architecture.lower() != have_arch.lower():
            out.append(Diagnostic.error(
                f"{src} of {what} is {facts.architecture}, but {where} holds {have_arch} images",
                f"capture into a definition with architecture: {facts.architecture}, or from a {have_arch} {noun}",
                code="azure-gallery-architecture"))
    return out


def _security_problem(vm: str, definition: str) -> str | None:
    """Why Azure refuses a VM of security type ``vm`` into a definition of ``definition``, or None."""
    if definition in _SUPPORTED_ONLY:
        return (f"Azure refuses {definition} for a VM, disk or snapshot source: InvalidParameter, only VHD, "
                "managed image and gallery version sources are supported")
    if vm == definition:
        return None
    if vm == "Standard":
        return "a Standard VM cannot be captured into a definition with security features"
    return f"a {vm} VM needs a definition with SecurityType {vm}"


def _security_fix(vm: str) -> str:
    if vm == "Standard":
        return "capture into a definition without security features (security_type: Standard)"
    return f"capture into a definition with security_type: {vm} (feature SecurityType={vm})"


def managed_image_refusal(facts: VmFacts, *, vm: str = "", image: str = "", noun: str = "VM") -> Diagnostic | None:
    """A managed image cannot be made from a Trusted Launch or Confidential VM (BEHAVIOURS.md row 1:
    400 ``OperationNotAllowed``); the hint points at a gallery."""
    if facts.security_type == "Standard":
        return None
    src = f"source {noun} '{vm}'" if vm else f"the source {noun}"
    return Diagnostic.error(
        f"cannot capture {('managed image ' + repr(image)) if image else 'a managed image'}: {src} is "
        f"{facts.security_type}, and Azure does not create managed images from {facts.security_type} "
        f"{'VMs' if noun == 'VM' else 'VMs or their disks'} "
        "(OperationNotAllowed)",
        "capture into an Azure Compute Gallery instead: set catalog.gallery and name the image "
        "<definition>/<X.Y.Z> in a definition with security_type: " + facts.security_type,
        code="azure-managed-security-type")


__all__ = ["VmFacts", "architecture_of", "check_source_against_definition", "facts_from_resource",
           "managed_image_refusal"]
