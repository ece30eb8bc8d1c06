"""Gallery captures of the ``azure`` provider over the ARM emulator: a VM with data disks captures its OS disk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator
from reconciler.model import ImageType
from reconciler.providers import azure

from .harness_azure_gallery import GALLERY, NameMap, gallery_state
from .harness_azure_managed import FakeClock
from .seed import SEED
from .test_azure_provider import open_azure, spec


@pytest.fixture
def gallery() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def test_gallery_os_image_of_a_vm_with_data_disks_captures_its_os_disk(
    gallery: tuple[ArmEmulator, Any],
) -> None:
    # osDiskImage.source.id (a managed disk) is a valid GalleryDiskImageSource; the emulator
    # answered 400 "source missing" to it.
    emu, p = gallery
    image = p.capture(spec("newdef/1.0.0", "vm-gen-data"))
    assert (image.name, image.type, image.data_disks) == ("newdef/1.0.0", ImageType.OS, 0)
    assert image.source is not None and image.source.vm == "vm-gen-data"
    after = p.update(image, spec("newdef/1.0.0", "vm-gen-data", label="L"))
    assert after.label == "L"
    assert p.capture(spec("newdef/1.0.0", "vm-gen-data")).fingerprint == after.fingerprint
    assert len([r for r in emu.requests if r.method == "PUT" and "/versions/" in r.path]) == 1
