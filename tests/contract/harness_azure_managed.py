"""Contract-suite harness for the ``azure`` provider in managed-image mode, against the ARM emulator.

Layer: test harness. The provider-neutral seed becomes ARM resources exactly as GET returns them
(VMs with ``properties.instanceView``, ``Microsoft.Compute/images`` with reconciler's marker tags),
served by ``reconciler.emulators.arm.ArmEmulator`` on 127.0.0.1 over real HTTP. Time is fake: the
emulator and the provider share a clock that only moves when the provider "sleeps".

Public images: ARM does not list Marketplace images as resources, so the azure snapshot holds no
public image and the seed's public ones are left out. The contract tests that look one up
(``Ubuntu-Public``) are skipped for this harness with that reason (``HAS_PUBLIC_IMAGES``).

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
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.model import CatalogConfig
from reconciler.providers import azure

NAME = "azure-managed"
SKIP_REASON: str | None = None

SUB = "00000000-0000-4000-8000-000000000001"
RG = "rg-images"
LOCATION = "westeurope"
RP = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
TOKEN = "contract-test-token"
PUBLIC_SKIP = (
    "ARM lists no Marketplace (public) images as resources: the azure snapshot holds none "
    "(docs/azure.md, 'Public images')"
)


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
    return {
        "id": f"{RP}/virtualMachines/{name}",
        "name": name,
        "type": "Microsoft.Compute/virtualMachines",
        "location": LOCATION,
        "properties": {
            "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
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
    return {"resources": resources}


# --------------------------------------------------------------------------------------------------
# Skips and the lock service


#: The contract suite skips its public-image tests for this harness, with this reason.
HAS_PUBLIC_IMAGES = False
NO_PUBLIC_REASON = PUBLIC_SKIP


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
def make(tmp_path: Path, seed: dict[str, Any]) -> Iterator[azure.AzureProvider]:
    """A managed-image catalog in an ARM emulator seeded with ``seed``, opened as catalog 'platform'."""
    fake = FakeClock()
    with ArmEmulator(managed_state(seed), page_size=2, faults=Faults(lro_polls=1), clock=fake.clock) as emu:
        provider = open_managed(emu, fake)
        try:
            yield provider
        finally:
            provider.close()


def open_managed(emu: ArmEmulator, fake: FakeClock, **extra: Any) -> azure.AzureProvider:
    lock_s, lock_env = lock_settings()
    env = {"AZURE_ACCESS_TOKEN": TOKEN, **lock_env}
    config = CatalogConfig(name="platform", provider="azure", settings={**settings(emu, **extra), **lock_s})
    return azure.open_provider(config, env=env, clock=fake.clock, sleep=fake.sleep, rand=lambda: 0.5)
