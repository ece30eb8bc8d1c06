"""Managed-image mode (no ``gallery`` setting): each image is a ``Microsoft.Compute/images`` resource.

Layer: edge (provider); the scope (``scope.Scope``) of this mode and the mapping of its resource.
ARM lets only tags change on a managed image ("Only tags may be updated", ``ImageUpdate``), so
every product field that is not part of the image itself (family, label, description,
recommended VM size, markers) is a tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from ...errors import Diagnostic, ProviderError
from ...model import Family, Image, ImageSpec, ImageType, Snapshot, Source
from .. import StepCallback
from ..registry import described
from .mapping import (
    COMPUTE_API,
    declared,
    image_of,
    itags,
    last,
    os_state,
    source_from_ids,
    source_ref,
    wire_os_state,
    wire_os_type,
)
from .markers import TAG_FAMILY, TAG_OWNER, TAG_SOURCE_VM
from .scope import Arm, Target, api
from .sources import managed_checks
from .vmfacts import VmFacts, managed_image_refusal

#: The one image field of the fragment (``schema.json``) a managed image takes.
MANAGED_FIELDS = {k: v for k, v in described(__package__ or "", "image").items() if k == "hyper_v_generation"}
MANAGED_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$"
MANAGED_NAME_HINT = "a managed image name: 1-80 letters, digits, '.', '_', '-'; no '/' outside gallery mode"


def image_from_managed(resource: Mapping[str, Any], text: str | None = None) -> Image:
    """A ``Microsoft.Compute/images`` resource as the model's ``Image`` (``text``: its JSON as ARM
    sent it, which the fingerprint hashes; ``mapping.fingerprint``)."""
    props = resource.get("properties") or {}
    storage = props.get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    data = storage.get("dataDisks") or []
    tags = resource.get("tags") or {}
    t = itags(tags)
    source: Source | None = None
    src_vm = last((props.get("sourceVirtualMachine") or {}).get("id")) or t.get(TAG_SOURCE_VM)
    if src_vm:
        source = Source(vm=src_vm)
    elif os_disk.get("blobUri"):
        source = Source(vhd=os_disk["blobUri"])
    elif (os_disk.get("snapshot") or {}).get("id") or (
            t.get(TAG_OWNER) and (os_disk.get("managedDisk") or {}).get("id")):
        # An image made from a snapshot or (one of ours without a source-VM marker) a disk (issue 10
        # §3), its data disks from snapshots. Another tool's image of a VM's OS disk stays unknown.
        os_ref = (os_disk.get("snapshot") or os_disk.get("managedDisk") or {})["id"]
        data_refs = [str((d.get("snapshot") or d.get("managedDisk") or {}).get("id") or "")
                     for d in sorted(data, key=lambda d: d.get("lun", 0))]
        source = source_from_ids(str(resource.get("id", "")), str(os_ref), [d for d in data_refs if d])
    extra: dict[str, Any] = {}
    if "hyper_v_generation" in declared(tags) and props.get("hyperVGeneration"):
        extra["hyper_v_generation"] = props["hyperVGeneration"]
    image = image_of(
        resource,
        name=str(resource.get("name", "")),
        os=os_disk.get("osType"),
        os_state=os_state(os_disk.get("osState")),
        family=t.get(TAG_FAMILY),
        source=source,
        data_disks=len(data),
        extra=extra,
        text=text,
    )
    # A capture whose operation failed leaves the image Failed (BEHAVIOURS.md row 10): not converged.
    state = str((resource.get("properties") or {}).get("provisioningState") or "").lower()
    return replace(image, failed=f"provisioning {state}") if state in ("failed", "canceled") else image


class ManagedScope:
    """Managed images in the resource group. The family is a tag and may change in place."""

    api_version = COMPUTE_API
    family_tag = True
    image_fields: Mapping[str, str] = MANAGED_FIELDS
    mutable_fields = frozenset({"family"})
    # Managed images cannot hold a specialized OS ("For managed images, use Generalized").
    specialized_types: frozenset[ImageType] = frozenset()
    name_pattern = MANAGED_NAME_PATTERN
    name_hint = MANAGED_NAME_HINT

    def __init__(self, target: Target) -> None:
        self.target = target

    @classmethod
    def open(cls, settings: Mapping[str, Any], target: Target) -> ManagedScope:
        del settings  # nothing beyond the target
        return cls(target)

    def image_path(self, name: str) -> str:
        return f"{self.target.rp}/images/{quote(name, safe='')}"

    def list_images(self, arm: Arm) -> list[Image]:
        # Page by page as they arrive: mapping page k overlaps the request of page k+1.
        pages = arm.pages(f"{self.target.rp}/images", api(COMPUTE_API), "list images")
        return [image_from_managed(r, text) for page in pages for r, text in page]

    def list_catalog(self, arm: Arm) -> tuple[list[Image], dict[str, Family]]:
        return self.list_images(arm), {}  # a managed image's family is a tag, not a resource

    def read_image(self, arm: Arm, name: str) -> tuple[dict[str, Any], Image] | None:
        found = arm.get_text(self.image_path(name), api(COMPUTE_API), f"read image {name}")
        return (found[0], image_from_managed(*found)) if found is not None else None

    def prepare_capture(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float,
                        vm: Mapping[str, Any] | None = None) -> None:
        """A managed image needs nothing but its source."""

    def prepare_update(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float) -> None:
        """A managed image has no family resource to update."""

    def capture_body(self, spec: ImageSpec, vm: Mapping[str, Any] | None, tags: dict[str, str]) -> dict[str, Any]:
        props: dict[str, Any] = {}
        kind = spec.source.kind
        if kind in ("snapshot", "disk"):
            # ImageOSDisk.snapshot / .managedDisk; each data disk from its snapshot, LUN = position.
            ref = source_ref(self.target.rp, kind, str(getattr(spec.source, kind)))
            data = [{"lun": lun, "snapshot": {"id": source_ref(self.target.rp, "snapshot", d)}}
                    for lun, d in enumerate(spec.source.data_snapshots)]
            props["storageProfile"] = {"osDisk": {"osType": wire_os_type(spec), "osState": wire_os_state(spec),
                                                  ("snapshot" if kind == "snapshot" else "managedDisk"): {"id": ref}},
                                       "dataDisks": data}
        elif spec.source.vhd is not None:
            props["storageProfile"] = {"osDisk": {"osType": wire_os_type(spec), "osState": wire_os_state(spec),
                                                  "blobUri": spec.source.vhd}, "dataDisks": []}
        elif spec.type is ImageType.OS:
            # Only the OS disk: build the storage profile from the VM's OS managed disk, so ARM
            # does not copy the data disks (which it does for sourceVirtualMachine).
            os_disk = (((vm or {}).get("properties") or {}).get("storageProfile") or {}).get("osDisk") or {}
            disk_id = (os_disk.get("managedDisk") or {}).get("id")
            if not disk_id:
                raise ProviderError(f"source VM '{spec.source.vm}' has no managed OS disk to capture",
                                    code="InvalidSource", hint="capture type: vm, or migrate the VM to managed disks")
            props["storageProfile"] = {"osDisk": {"osType": wire_os_type(spec), "osState": wire_os_state(spec),
                                                  "managedDisk": {"id": disk_id}}, "dataDisks": []}
        else:
            vm_id = str((vm or {}).get("id") or self.target.vm_id(spec.source.vm or ""))
            props["sourceVirtualMachine"] = {"id": vm_id}
        # The generation the file declares, else the source VM's (instance view): without it ARM
        # records V1, and a Gen2 VM's image would not boot (issue 10 §1).
        view = ((vm or {}).get("properties") or {}).get("instanceView") or {}
        generation = spec.extra.get("hyper_v_generation") or (view.get("hyperVGeneration") if vm else None)
        if generation:
            props["hyperVGeneration"] = generation
        return {"location": self.target.location, "tags": tags, "properties": props}

    def update_body(self, spec: ImageSpec, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        return {"tags": tags}

    def owner_body(self, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        return {"tags": tags}

    def adopt_parent(self, arm: Arm, name: str, on_step: StepCallback, started: float) -> None:
        """A managed image has no parent resource."""

    @staticmethod
    def plan_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
        """The source VM's facts (``vmfacts.VmFacts``): Azure makes no managed image from a Trusted
        Launch or Confidential VM (BEHAVIOURS.md row 1), and a declared ``hyper_v_generation`` must
        be the VM's (the image would not boot otherwise)."""
        kind = spec.source.kind
        if kind == "image":
            return [Diagnostic.error(
                f"a managed image cannot be made from another managed image ('{spec.name}' names "
                f"source.image '{spec.source.image}')",
                "capture it into an Azure Compute Gallery (catalog.gallery: a version's source may be a managed "
                "image), or capture from the VM, a snapshot or a disk", code="azure-managed-source")]
        if kind in ("snapshot", "disk"):
            read = managed_checks(spec, snapshot)  # the source read at plan time (sources.py)
            if read is not None or spec.extra.get("hyper_v_generation"):
                return read or []
            # Not read (a snapshot without capture sources): without a generation ARM records V1.
            return [Diagnostic.error(
                f"the Hyper-V generation of source.{kind} of '{spec.name}' is not known to reconciler",
                f"declare hyper_v_generation: V1 or V2 (the {kind}'s, as `az {kind} show` reports it): "
                "ARM records V1 otherwise, and a Gen2 image would not boot", code="azure-generation")]
        vm = snapshot.vm_index().get(spec.source.vm.casefold()) if spec.source.vm is not None else None
        facts = vm.facts if vm is not None else None
        if vm is None or not isinstance(facts, VmFacts):
            return []
        out: list[Diagnostic] = []
        refusal = managed_image_refusal(facts, vm=vm.name, image=spec.name)
        if refusal is not None:
            out.append(refusal)
        declared_gen = spec.extra.get("hyper_v_generation")
        if declared_gen and facts.hyper_v_generation and declared_gen != facts.hyper_v_generation:
            out.append(Diagnostic.error(
                f"'{spec.name}' declares hyper_v_generation: {declared_gen}, but source VM '{vm.name}' is "
                f"{facts.hyper_v_generation}", f"declare hyper_v_generation: {facts.hyper_v_generation}, or drop it "
                "(the VM's generation is sent)", code="azure-generation"))
        return out


__all__ = ["MANAGED_FIELDS", "ManagedScope", "image_from_managed"]
