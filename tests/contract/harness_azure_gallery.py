"""Contract-suite harness for the ``azure`` provider in gallery mode, against the ARM emulator.

Layer: test harness. In gallery mode an image is a version ``<definition>/<X.Y.Z>`` and its family
is the definition, while the contract suite speaks the provider-neutral vocabulary (``owned-web``,
``new-os``). The harness therefore hands the suite a ``GalleryNames`` view of the real provider:
it translates names only (contract name <-> ``<family or name>/1.N.0``), in both directions, and
forwards every call, unchanged otherwise, to the real ``AzureProvider`` talking HTTP to the
emulator. Nothing is faked: every read, capture, update, remove and lock goes over the wire.

Seed conversion: a gallery ``gallery`` in the resource group; one image definition per seed family
(or per image without one) with the seed image's OS and OS state; one version per seed image.
Public images become community gallery images, as in managed mode (``harness_azure_managed``:
``public_state``); the name map shows them under their seed names.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.model import Consumer, ConsumersPolicy, Image, ImageSpec, Snapshot
from reconciler.providers import LockHandle, LockInfo, StepCallback, _no_step, azure

from .harness_azure_managed import (
    LOCATION,
    PUBLIC_SETTINGS,
    RP,
    FakeClock,
    marker_tags,
    open_managed,
    public_names,
    public_state,
    vm_resource,
)

NAME = "azure-gallery"
SKIP_REASON: str | None = None
GALLERY = "contractgallery"
GPATH = f"{RP}/galleries/{GALLERY}"


class NameMap:
    """Contract names (case-insensitive) <-> gallery names; new names get the next free version."""

    def __init__(self) -> None:
        self._to_gallery: dict[str, str] = {}
        self._to_contract: dict[str, str] = {}
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def gallery(self, name: str, family: str | None = None) -> str:
        with self._lock:
            key = name.casefold()
            if key not in self._to_gallery:
                definition = family or name
                n = self._next.get(definition.casefold(), 0)
                self._next[definition.casefold()] = n + 1
                g = f"{definition}/1.{n}.0"
                self._to_gallery[key] = g
                self._to_contract[g.casefold()] = name
            return self._to_gallery[key]

    def fixed(self, contract_name: str, provider_name: str) -> None:
        """A name the provider gives itself (a public image's): mapped as it is, never allocated."""
        with self._lock:
            self._to_gallery[contract_name.casefold()] = provider_name
            self._to_contract[provider_name.casefold()] = contract_name

    def contract(self, gallery_name: str) -> str:
        return self._to_contract.get(gallery_name.casefold(), gallery_name)


class GalleryNames:
    """The real gallery-mode provider, seen through contract names (a pure renaming view)."""

    def __init__(self, inner: azure.AzureProvider, names: NameMap) -> None:
        self.inner = inner
        self.names = names
        self.name = inner.name
        self.owner = inner.owner
        self.capabilities = inner.capabilities

    def _out(self, image: Image) -> Image:
        return replace(image, name=self.names.contract(image.name))

    def _in(self, image: Image) -> Image:
        return replace(image, name=self.names.gallery(image.name, image.family))

    def _spec(self, spec: ImageSpec) -> ImageSpec:
        return replace(spec, name=self.names.gallery(spec.name, spec.family))

    def snapshot(self) -> Snapshot:
        snap = self.inner.snapshot()
        return Snapshot(images=tuple(self._out(i) for i in snap.images), vms=snap.vms)

    def consumers(self, images: Sequence[Image], policy: ConsumersPolicy) -> dict[str, tuple[Consumer, ...]]:
        found = self.inner.consumers([self._in(i) for i in images], policy)
        return {self.names.contract(k).casefold(): tuple(replace(c, image=self.names.contract(c.image)) for c in v)
                for k, v in found.items()}

    def capture(self, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        return self._out(self.inner.capture(self._spec(spec), on_step))

    def update(self, image: Image, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        return self._out(self.inner.update(self._in(image), self._spec(spec), on_step))

    def remove(self, image: Image, on_step: StepCallback = _no_step) -> None:
        self.inner.remove(self._in(image), on_step)

    def adopt(self, image: Image) -> Image:
        return self._out(self.inner.adopt(self._in(image)))

    def acquire_lock(self, info: LockInfo, timeout: float, *, clock: Callable[[], float] | None = None,
                     sleep: Callable[[float], None] | None = None) -> LockHandle:
        return self.inner.acquire_lock(info, timeout, clock=clock, sleep=sleep)

    def force_unlock(self, lock_id: str) -> LockInfo:
        return self.inner.force_unlock(lock_id)

    def close(self) -> None:
        self.inner.close()


def gallery_state(seed: dict[str, Any], names: NameMap) -> dict[str, Any]:
    """ARM resources for ``seed`` in gallery mode: VMs, the gallery, definitions and versions."""
    resources: list[dict[str, Any]] = [vm_resource(v) for v in seed.get("vms") or []]
    resources.append({"id": GPATH, "name": GALLERY, "type": "Microsoft.Compute/galleries", "location": LOCATION,
                      "properties": {"identifier": {"uniqueName": f"sub-{GALLERY.upper()}"},
                                     "provisioningState": "Succeeded"}})
    defined: set[str] = set()
    for image in seed.get("images") or []:
        if image.get("category") == "public":
            continue
        gname = names.gallery(image["name"], image.get("family"))
        definition, version = azure.split_gallery_name(gname)
        if definition.casefold() not in defined:
            defined.add(definition.casefold())
            resources.append({
                "id": f"{GPATH}/images/{definition}", "name": definition,
                "type": "Microsoft.Compute/galleries/images", "location": LOCATION,
                "tags": {azure.TAG_OWNER: image["owner"]} if image.get("owner") else {},
                "properties": {
                    "osType": image["os"].capitalize(),
                    "osState": (image.get("os_state") or "generalized").capitalize(),
                    "hyperVGeneration": "V1",
                    "identifier": {"publisher": image.get("owner") or "someone", "offer": definition,
                                   "sku": definition},
                    "provisioningState": "Succeeded",
                },
            })
        source = image.get("source") or {}
        storage: dict[str, Any] = {
            "osDiskImage": {"hostCaching": "ReadWrite", "sizeInGB": 30},
            "dataDiskImages": [{"lun": i, "hostCaching": "None", "sizeInGB": 32}
                               for i in range(int(image.get("data_disks") or 0))],
        }
        if source.get("vm"):
            storage["source"] = {"virtualMachineId": f"{RP}/virtualMachines/{source['vm']}"}
        res: dict[str, Any] = {
            "id": f"{GPATH}/images/{definition}/versions/{version}", "name": version,
            "type": "Microsoft.Compute/galleries/images/versions", "location": LOCATION,
            "tags": marker_tags(image, gallery=True),
            "properties": {
                "publishingProfile": {
                    "targetRegions": [{"name": LOCATION, "regionalReplicaCount": 1,
                                       "storageAccountType": "Standard_LRS", "excludeFromLatest": False}],
                    "replicaCount": 1, "excludeFromLatest": False, "storageAccountType": "Standard_LRS",
                    "publishedDate": image.get("created") or "2026-01-01T00:00:00Z",
                },
                "storageProfile": storage,
                "safetyProfile": {"allowDeletionOfReplicatedLocations": False, "reportedForPolicyViolation": False},
                "provisioningState": "Succeeded",
            },
        }
        if image.get("created"):
            res["systemData"] = {"createdAt": image["created"], "createdBy": "seed", "createdByType": "User"}
        resources.append(res)
    versions = {i["name"].casefold(): f"{GPATH}/images/{'/versions/'.join(azure.split_gallery_name(g))}"
                for i in seed.get("images") or [] if i.get("category") != "public"
                for g in [names.gallery(i["name"], i.get("family"))]}
    for r in resources:  # a VM created from a seed image uses its version
        ref = (r.get("properties", {}).get("storageProfile") or {}).get("imageReference")
        if r["type"] == "Microsoft.Compute/virtualMachines" and ref:
            image = ref["id"].rsplit("/", 1)[1].casefold()
            ref["id"] = versions.get(image, ref["id"])
    return {"resources": resources, **public_state(seed)}


@contextlib.contextmanager
def make(tmp_path: Path, seed: dict[str, Any]) -> Iterator[GalleryNames]:
    """A gallery-mode catalog in an ARM emulator seeded with ``seed``, opened as catalog 'platform'."""
    fake = FakeClock()
    names = NameMap()
    spelled = {i["name"].casefold(): i["name"] for i in seed.get("images") or []}
    for key, provider_name in public_names(seed).items():
        names.fixed(spelled[key], provider_name)
    with ArmEmulator(gallery_state(seed, names), page_size=2, faults=Faults(lro_polls=1), clock=fake.clock) as emu:
        provider = open_managed(emu, fake, gallery=GALLERY, **PUBLIC_SETTINGS)
        try:
            yield GalleryNames(provider, names)
        finally:
            provider.close()
