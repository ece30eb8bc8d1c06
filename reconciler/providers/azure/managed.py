"""Managed-image mode (no ``gallery`` setting): each image is a ``Microsoft.Compute/images`` resource.

Layer: edge (provider); the scope (``scope.Scope``) of this mode and the mapping of its resource.
ARM lets only tags change on a managed image ("Only tags may be updated", ``ImageUpdate``), so
every product field that is not part of the image itself (family, label, description,
recommended VM size, markers) is a tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ...errors import Diagnostic, ProviderError
from ...model import Image, ImageSpec, ImageType, Snapshot, Source
from .. import StepCallback
from ..registry import described
from .mapping import COMPUTE_API, declared, image_of, itags, last, os_state, wire_os_state, wire_os_type
from .markers import TAG_FAMILY, TAG_SOURCE_VM
from .scope import Arm, Target, api

#: The one image field of the fragment (``schema.json``) a managed image takes.
MANAGED_FIELDS = {k: v for k, v in described(__package__ or "", "image").items() if k == "hyper_v_generation"}
MANAGED_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$"
MANAGED_NAME_HINT = "a managed image name: 1-80 letters, digits, '.', '_', '-'; no '/' outside gallery mode"


def image_from_managed(resource: Mapping[str, Any]) -> Image:
    """A ``Microsoft.Compute/images`` resource as the model's ``Image``."""
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
    extra: dict[str, Any] = {}
    if "hyper_v_generation" in declared(tags) and props.get("hyperVGeneration"):
        extra["hyper_v_generation"] = props["hyperVGeneration"]
    return image_of(
        resource,
        name=str(resource.get("name", "")),
        os=os_disk.get("osType"),
        os_state=os_state(os_disk.get("osState")),
        family=t.get(TAG_FAMILY),
        source=source,
        data_disks=len(data),
        extra=extra,
    )


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
        items = arm.paged(f"{self.target.rp}/images", api(COMPUTE_API), "list images")
        return [image_from_managed(r) for r in items]

    def read_image(self, arm: Arm, name: str) -> tuple[dict[str, Any], Image] | None:
        res = arm.get(self.image_path(name), api(COMPUTE_API), f"read image {name}")
        return (res, image_from_managed(res)) if res is not None else None

    def prepare_capture(self, arm: Arm, spec: ImageSpec, on_step: StepCallback, started: float) -> None:
        """A managed image needs nothing but its source."""

    def capture_body(self, spec: ImageSpec, vm: Mapping[str, Any] | None, tags: dict[str, str]) -> dict[str, Any]:
        props: dict[str, Any] = {}
        if spec.source.vhd is not None:
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
        if spec.extra.get("hyper_v_generation"):
            props["hyperVGeneration"] = spec.extra["hyper_v_generation"]
        return {"location": self.target.location, "tags": tags, "properties": props}

    def update_body(self, spec: ImageSpec, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        return {"tags": tags}

    def owner_body(self, live: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        return {"tags": tags}

    @staticmethod
    def plan_checks(spec: ImageSpec, snapshot: Snapshot) -> list[Diagnostic]:
        """Nothing beyond the checks both modes share (``checks.py``)."""
        return []


__all__ = ["MANAGED_FIELDS", "ManagedScope", "image_from_managed"]
