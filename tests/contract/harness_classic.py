"""Contract-suite harness for ``azure-classic``: the classic emulator on loopback, seeded from the neutral seed.

Layer: test harness. The neutral seed becomes classic state here: each VM is a role alone in a
cloud service and deployment of its own name (so ``source.vm`` names it by its role name), a
generalized VM is marked in its service's Description, and each image's owner, protection, tags
and source go into its Description marker exactly as the provider writes them.

``make`` serves HTTPS with a generated server certificate and authenticates the provider with a
management client certificate issued for the test, as the real service does; plain HTTP and the
bearer-token path are covered by ``tests/unit/test_classic_provider.py``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.emulators.classic import ClassicEmulator
from reconciler.model import CatalogConfig, Category, Image, ImageType, Snapshot
from reconciler.providers import Provider
from reconciler.providers.classic import open_provider
from reconciler.providers.classic.wire import MARKER_PREFIX, Marker, compose_description
from reconciler.seed import parse_seed

NAME = "azure-classic"
try:  # the emulator's TLS mode generates its certificates with cryptography (the test extra)
    import cryptography  # noqa: F401

    SKIP_REASON: str | None = None
except ModuleNotFoundError:
    SKIP_REASON = "the 'cryptography' package is missing: pip install -e '.[test]'"

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
_STATUS = {"running": "ReadyRole", "stopped": "StoppedVM", "deallocated": "StoppedDeallocated",
           "starting": "StartingVM", "stopping": "StoppingVM", "deallocating": "StoppingVM",
           "unknown": "RoleStateUnknown"}
_STORE = "https://examplestore.blob.core.windows.net/vhds"


def _wire_os(os_name: str) -> str:
    return {"linux": "Linux", "windows": "Windows"}.get(os_name.lower(), os_name)


def _description(image: Image) -> str | None:
    if image.category is Category.PUBLIC:
        return image.description
    if image.owner is None and not image.protected and not image.tags:
        return image.description
    marker = Marker(owner=image.owner, protected=image.protected, tags=dict(image.tags),
                    source=image.source.vm if image.source else None, extra=dict(image.extra),
                    label_defaulted=image.label is None)
    return compose_description(image.description, marker)


def _os_image(image: Image) -> dict[str, Any]:
    public = image.category is Category.PUBLIC
    return {
        "Category": "Public" if public else "User",
        "Label": image.label or image.name,
        "Location": "East US;West US" if public else "West US",
        "LogicalSizeInGB": 30,
        "MediaLink": None if public else f"{_STORE}/{image.name}.vhd",
        "Name": image.name,
        "OS": _wire_os(image.os),
        "Description": _description(image),
        "ImageFamily": image.family,
        "PublishedDate": image.created or None,
        "IsPremium": False,
        "RecommendedVMSize": image.recommended_vm_size,
        "OSState": "Generalized",
        "IOType": "Standard",
    }


def _vm_image(image: Image) -> dict[str, Any]:
    public = image.category is Category.PUBLIC
    disks = [
        {"Name": f"{image.name}-datadisk-{i}", "HostCaching": "None", "Lun": i,
         "MediaLink": None if public else f"{_STORE}/{image.name}-datadisk-{i}.vhd",
         "LogicalDiskSizeInGB": 1023, "IOType": "Standard"}
        for i in range(image.data_disks)
    ]
    return {
        "Name": image.name,
        "Label": image.label or image.name,
        "Category": "Public" if public else "User",
        "Description": _description(image),
        "OSDiskConfiguration": {
            "Name": f"{image.name}-os", "HostCaching": "ReadWrite", "OSState": image.os_state.value.capitalize(),
            "OS": _wire_os(image.os), "MediaLink": None if public else f"{_STORE}/{image.name}-os.vhd",
            "LogicalDiskSizeInGB": 30, "IOType": "Standard",
        },
        "DataDiskConfigurations": disks,
        "Location": "West US",
        "CreatedTime": image.created or None,
        "ModifiedTime": image.created or None,
        "ImageFamily": image.family,
        "RecommendedVMSize": image.recommended_vm_size,
        "IsPremium": False,
        "VMImageState": "VMImageReadyForUse",
    }


def _vm_image_named(vm: Any, snapshot: Snapshot) -> bool:
    """The seed VM was created from a VM image (a role then names it in ``VMImageName``)."""
    return vm.image is not None and any(
        i.key == vm.image.casefold() and i.type is ImageType.VM for i in snapshot.images)


def _source_image(vm: Any, snapshot: Snapshot) -> dict[str, str]:
    """A role created from an OS image (or one the seed does not hold) names it in SourceImageName."""
    if vm.image is None or _vm_image_named(vm, snapshot):
        return {}
    return {"SourceImageName": vm.image}


def state_from_seed(snapshot: Snapshot) -> dict[str, Any]:
    """Classic emulator state holding the seed's VMs and images."""
    services = []
    for vm in snapshot.vms:
        marked = {"generalized": [vm.name]} if vm.os_state.value == "generalized" else None
        description = MARKER_PREFIX + json.dumps(marked, separators=(",", ":")) if marked else ""
        services.append({
            "ServiceName": vm.name, "Label": vm.name, "Description": description, "Location": "West US",
            "deployments": [{
                "Name": vm.name, "DeploymentSlot": "Production",
                "roles": [{
                    "RoleName": vm.name, "InstanceStatus": _STATUS[vm.power_state.value], "RoleSize": "Small",
                    "OS": _wire_os(vm.os),
                    "OSDisk": {"DiskName": vm.os_disk or f"{vm.name}-os", "MediaLink": f"{_STORE}/{vm.name}-os.vhd",
                               "LogicalDiskSizeInGB": 30, **_source_image(vm, snapshot)},
                    **({"VMImageName": vm.image} if _vm_image_named(vm, snapshot) else {}),
                    "DataDisks": [{"DiskName": d, "Lun": i, "MediaLink": f"{_STORE}/{d}.vhd",
                                   "LogicalDiskSizeInGB": 100} for i, d in enumerate(vm.data_disks)],
                }],
            }],
        })
    return {
        "subscription": SUBSCRIPTION,
        "os_images": [_os_image(i) for i in snapshot.images if i.type is ImageType.OS],
        "vm_images": [_vm_image(i) for i in snapshot.images if i.type is ImageType.VM],
        "hosted_services": services,
    }


class _NoSleep:
    """Records the waits the provider asked for instead of sleeping (the emulator needs none)."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@contextlib.contextmanager
def make(tmp_path: Path, seed: dict[str, Any], *, tls: bool = True) -> Iterator[Provider]:
    """A classic emulator seeded with ``seed`` and a provider for catalog 'platform' talking to it."""
    snapshot = parse_seed(json.dumps(seed).encode(), "seed.json")
    with ClassicEmulator(state_from_seed(snapshot), tls=tls, tls_dir=str(tmp_path / "tls") if tls else None) as em:
        settings: dict[str, Any] = {"subscription": SUBSCRIPTION, "endpoint": em.url, "poll_interval": 1}
        if tls:
            assert em.tls_files is not None
            settings.update(certificate=em.tls_files.client_pem, ca_bundle=em.tls_files.ca_cert)
        provider = open_provider(
            CatalogConfig(name="platform", provider="azure-classic", settings=settings), env={}, sleep=_NoSleep()
        )
        try:
            yield provider
        finally:
            provider.close()
