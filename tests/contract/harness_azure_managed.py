"""Contract-suite harness for the ``azure`` provider in managed-image mode, against the ARM emulator.

Layer: test harness. The provider-neutral seed becomes ARM resources exactly as GET returns them
(VMs with ``properties.instanceView``, ``Microsoft.Compute/images`` with reconciler's marker tags),
served by ``reconciler.emulators.arm.ArmEmulator`` on 127.0.0.1 over real HTTP. Time is fake: the
emulator and the provider share a clock that only moves when the provider "sleeps".

Public images (issue 14): Resource Manager serves them apart from the subscription's resources, so a
seed's public image becomes a community gallery image in the emulator's ``public`` state
(``public_state``: gallery ``PUBLIC_GALLERY``, one definition per family, version ``1.0.0``) and the
catalog names that gallery in its ``public_images`` setting. The provider calls it
``<gallery>/<definition>/1.0.0``; ``PublicNames`` shows it to the suite under its seed name, a pure
renaming (every call goes over the wire to the real provider).

The catalog lock is the blob-lease lock of ``providers/blob_lock/``; it runs against one Azurite
per test session (started on first use, like ``tests/azurite.py`` does), one container per catalog.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.model import CatalogConfig
from reconciler.providers import _no_step, azure

NAME = "azure-managed"
SKIP_REASON: str | None = None

SUB = "00000000-0000-4000-8000-000000000001"
RG = "rg-images"
LOCATION = "westeurope"
RP = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
TOKEN = "contract-test-token"


class FakeClock:
    """Shared by emulator and provider: polling 'sleeps' advance it, nothing waits for real."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)


# --------------------------------------------------------------------------------------------------
# Seed -> ARM resources


def vm_resource(vm: dict[str, Any]) -> dict[str, Any]:
    name = vm["name"]
    os_disk = vm.get("os_disk") or f"{name}-osdisk"
    statuses = [
        {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
        {"code": f"PowerState/{vm['power_state']}", "level": "Info", "displayStatus": f"VM {vm['power_state']}"},
    ]
    if vm.get("os_state") == "generalized":
        statuses.append({"code": "OSState/generalized", "level": "Info", "displayStatus": "VM generalized"})
    # A VM created from a catalog image names it in its image reference (CONTRACT.md §10.1): the
    # consumers of an image (issue 11 §4). Gallery mode rewrites it to the version's id.
    reference = {"imageReference": {"id": f"{RP}/images/{vm['image']}"}} if vm.get("image") else {}
    return {
        "id": f"{RP}/virtualMachines/{name}",
        "name": name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": LOCATION,
        "properties": {
            "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
                **reference,
                "osDisk": {"osType": vm["os"].capitalize(), "name": os_disk, "createOption": "FromImage",
                           "caching": "ReadWrite",
                           "managedDisk": {"id": f"{RP}/disks/{os_disk}", "storageAccountType": "Premium_LRS"},
                           "diskSizeGB": 30},
                "dataDisks": [
                    {"lun": lun, "name": d, "createOption": "Empty", "caching": "None", "diskSizeGB": 32,
                     "managedDisk": {"id": f"{RP}/disks/{d}", "storageAccountType": "Premium_LRS"}}
                    for lun, d in enumerate(vm.get("data_disks") or [])
                ],
            },
            "provisioningState": "Succeeded",
            "instanceView": {"statuses": statuses, "hyperVGeneration": "V1"},
        },
    }


def marker_tags(image: dict[str, Any], *, gallery: bool) -> dict[str, str]:
    """The tags an image carries in Azure, written the way the provider writes them."""
    tags = dict(image.get("tags") or {})
    if image.get("owner"):
        tags[azure.TAG_OWNER] = image["owner"]
        tags[azure.TAG_TYPE] = image["type"]
    if image.get("protected"):
        tags[azure.TAG_PROTECT] = "true"
    if image.get("family") and not gallery:
        tags[azure.TAG_FAMILY] = image["family"]
    for key, field_name in ((azure.TAG_LABEL, "label"), (azure.TAG_DESCRIPTION, "description"),
                            (azure.TAG_SIZE, "recommended_vm_size")):
        if image.get(field_name):
            tags[key] = image[field_name]
    return tags


def managed_image_resource(image: dict[str, Any]) -> dict[str, Any]:
    name = image["name"]
    source = image.get("source") or {}
    props: dict[str, Any] = {
        "storageProfile": {
            "osDisk": {"osType": image["os"].capitalize(),
                       "osState": (image.get("os_state") or "generalized").capitalize(),
                       "managedDisk": {"id": f"{RP}/disks/{name}-os"}, "caching": "ReadWrite"},
            "dataDisks": [{"lun": i, "managedDisk": {"id": f"{RP}/disks/{name}-d{i}"}, "caching": "None"}
                          for i in range(int(image.get("data_disks") or 0))],
            "zoneResilient": False,
        },
        "provisioningState": "Succeeded",
        "hyperVGeneration": "V1",
    }
    if source.get("vm"):
        props["sourceVirtualMachine"] = {"id": f"{RP}/virtualMachines/{source['vm']}"}
    elif source.get("vhd"):
        props["storageProfile"]["osDisk"].pop("managedDisk")
        props["storageProfile"]["osDisk"]["blobUri"] = source["vhd"]
    res: dict[str, Any] = {
        "id": f"{RP}/images/{name}",
        "name": name,
        "type": "Microsoft.Compute/images",
        "location": LOCATION,
        "tags": marker_tags(image, gallery=False),
        "properties": props,
    }
    if image.get("created"):
        res["systemData"] = {"createdAt": image["created"], "createdBy": "seed", "createdByType": "User"}
    return res


def managed_state(seed: dict[str, Any]) -> dict[str, Any]:
    resources = [vm_resource(v) for v in seed.get("vms") or []]
    resources += [managed_image_resource(i) for i in seed.get("images") or [] if i.get("category") != "public"]
    return {"resources": resources, **public_state(seed)}


# --------------------------------------------------------------------------------------------------
# Public images: a community gallery of the emulator, seen under the seed's names

#: The community gallery (public name) holding the seed's public images.
PUBLIC_GALLERY = "contractpublic-5d3a1c9e-8b7f-4e2d-a6c0-91f4b2e8d7a3"
#: The catalog setting that puts that gallery's images into the snapshot.
PUBLIC_SETTINGS = {"public_images": [f"community:{PUBLIC_GALLERY}"]}


def public_name(image: dict[str, Any]) -> str:
    return f"{PUBLIC_GALLERY}/{image.get('family') or image['name']}/1.0.0"


def public_names(seed: dict[str, Any]) -> dict[str, str]:
    """Seed name (casefolded) -> the provider's name of each public image of the seed."""
    return {i["name"].casefold(): public_name(i) for i in seed.get("images") or [] if i.get("category") == "public"}


def public_state(seed: dict[str, Any]) -> dict[str, Any]:
    """The emulator's ``public`` section for the seed's public images (docs/arm-emulator.md)."""
    images = []
    for image in seed.get("images") or []:
        if image.get("category") != "public":
            continue
        definition = image.get("family") or image["name"]
        images.append({"name": definition, "properties": {
            "osType": image["os"].capitalize(), "osState": (image.get("os_state") or "generalized").capitalize(),
            "hyperVGeneration": "V2", "architecture": "x64",
            "identifier": {"publisher": "Canonical", "offer": definition, "sku": definition}},
            "versions": [{"name": "1.0.0", "properties": {
                "publishedDate": image.get("created") or "2026-01-01T00:00:00Z", "excludeFromLatest": False,
                "storageProfile": {"osDiskImage": {"diskSizeGB": 30, "hostCaching": "ReadWrite"},
                                   "dataDiskImages": [{"lun": n, "diskSizeGB": 32, "hostCaching": "None"}
                                                      for n in range(int(image.get("data_disks") or 0))]}}}]})
    if not images:
        return {}
    return {"public": {"communityGalleries": [{"name": PUBLIC_GALLERY, "images": images}]}}


class PublicNames:
    """The real provider, its public images seen under the seed's names (a pure renaming view)."""

    def __init__(self, inner: Any, names: dict[str, str]) -> None:
        self.inner = inner
        self._to_provider = dict(names)
        self._to_seed = {v.casefold(): k for k, v in names.items()}
        self._seed_spelling: dict[str, str] = {}
        self.name = inner.name
        self.owner = inner.owner
        self.capabilities = inner.capabilities

    def remember(self, seed: dict[str, Any]) -> PublicNames:
        self._seed_spelling = {i["name"].casefold(): i["name"] for i in seed.get("images") or []}
        return self

    def _out(self, image: Any) -> Any:
        seed = self._to_seed.get(image.name.casefold())
        return replace(image, name=self._seed_spelling.get(seed, seed)) if seed else image

    def _in(self, image: Any) -> Any:
        name = self._to_provider.get(image.name.casefold())
        return replace(image, name=name) if name else image

    def snapshot(self) -> Any:
        snap = self.inner.snapshot()
        return replace(snap, images=tuple(self._out(i) for i in snap.images))

    def capture(self, spec: Any, on_step: Any = _no_step) -> Any:
        return self._out(self.inner.capture(spec, on_step))

    def update(self, image: Any, spec: Any, on_step: Any = _no_step) -> Any:
        return self._out(self.inner.update(self._in(image), spec, on_step))

    def remove(self, image: Any, on_step: Any = _no_step) -> None:
        self.inner.remove(self._in(image), on_step)

    def adopt(self, image: Any) -> Any:
        return self._out(self.inner.adopt(self._in(image)))

    def __getattr__(self, attr: str) -> Any:  # the lock and everything else: straight through
        return getattr(self.__dict__["inner"], attr)


# --------------------------------------------------------------------------------------------------
# Skips and the lock service



_AZURITE: dict[str, Any] = {}
_AZURITE_LOCK = threading.Lock()


def azurite_endpoint() -> tuple[str, dict[str, str]]:
    """(blob endpoint, env) of one Azurite for this process, started on first use."""
    from tests.azurite import DEV_ACCOUNT, DEV_KEY, _free_port, _stop, _wait_until_listening, ensure_installed

    with _AZURITE_LOCK:
        if "endpoint" not in _AZURITE:
            launcher = ensure_installed()
            workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"reconciler-azurite-{uuid.uuid4().hex[:8]}"
            workdir.mkdir(parents=True)
            port = _free_port()
            with open(workdir / "azurite.log", "ab") as log:
                proc = subprocess.Popen(
                    [str(launcher), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                     str(workdir / "data"), "--silent", "--skipApiVersionCheck", "--disableTelemetry"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                )
            if not _wait_until_listening(proc, port):
                _stop(proc)
                pytest.fail("Azurite did not start for the azure contract harness", pytrace=False)
            atexit.register(_stop, proc)
            _AZURITE["endpoint"] = f"http://127.0.0.1:{port}/{DEV_ACCOUNT}"
            _AZURITE["env"] = {"AZURE_STORAGE_KEY": DEV_KEY}
            _AZURITE["account"] = DEV_ACCOUNT
        return _AZURITE["endpoint"], dict(_AZURITE["env"])


def settings(emu: ArmEmulator, **extra: Any) -> dict[str, Any]:
    return {"subscription": SUB, "resource_group": RG, "location": LOCATION, "endpoint": emu.url,
            "poll_interval": 1, "timeout": 600, **extra}


def lock_settings() -> tuple[dict[str, Any], dict[str, str]]:
    """Settings and env of a fresh lock container on the shared Azurite (lazily started)."""
    endpoint, env = azurite_endpoint()
    return ({"lock_storage_account": _AZURITE["account"], "lock_endpoint": endpoint,
             "lock_container": f"locks-{uuid.uuid4().hex[:12]}"}, env)


@contextlib.contextmanager
def make(tmp_path: Path, seed: dict[str, Any]) -> Iterator[PublicNames]:
    """A managed-image catalog in an ARM emulator seeded with ``seed``, opened as catalog 'platform'."""
    fake = FakeClock()
    with ArmEmulator(managed_state(seed), page_size=2, faults=Faults(lro_polls=1), clock=fake.clock) as emu:
        provider = open_managed(emu, fake, **PUBLIC_SETTINGS)
        try:
            yield PublicNames(provider, public_names(seed)).remember(seed)
        finally:
            provider.close()


def open_managed(emu: ArmEmulator, fake: FakeClock, **extra: Any) -> azure.AzureProvider:
    lock_s, lock_env = lock_settings()
    env = {"AZURE_ACCESS_TOKEN": TOKEN, **lock_env}
    config = CatalogConfig(name="platform", provider="azure", settings={**settings(emu, **extra), **lock_s})
    return azure.open_provider(config, env=env, clock=fake.clock, sleep=fake.sleep, rand=lambda: 0.5)
