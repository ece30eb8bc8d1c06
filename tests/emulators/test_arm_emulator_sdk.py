"""Acceptance: the official Azure SDK (azure-mgmt-compute) works against the emulator end to end.

The SDK is a test-only dependency (the ``test`` extra). It talks plain http to 127.0.0.1, so the bearer
policy is told that TLS is not required (azure-core's ``enforce_https`` context flag); LRO polling is made
instant with ``polling_interval=0`` and the emulator's ``retry_after=0``: no real waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("azure.mgmt.compute")

from azure.core.credentials import AccessToken  # noqa: E402
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError  # noqa: E402
from azure.core.pipeline import PipelineRequest  # noqa: E402
from azure.core.pipeline.policies import BearerTokenCredentialPolicy  # noqa: E402
from azure.mgmt.compute import ComputeManagementClient  # noqa: E402
from azure.mgmt.compute import models as m  # noqa: E402

from reconciler.emulators.arm import ArmEmulator  # noqa: E402
from tests.emulators.conftest import PREFIX, RG, SUB, vm_resource  # noqa: E402

SCOPE = "https://management.azure.com/.default"


class FakeCredential:
    """A TokenCredential that hands out a fixed token (the emulator accepts any bearer token)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("emulator-token", int(time.time()) + 3600)


class LoopbackBearerPolicy(BearerTokenCredentialPolicy):
    """azure-core refuses bearer tokens over plain http unless the request context allows it."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context["enforce_https"] = False
        super().on_request(request)


@pytest.fixture
def sdk(make_emulator) -> Iterator[tuple[ComputeManagementClient, ArmEmulator]]:
    emu = make_emulator({"resources": [vm_resource("build-01"), vm_resource("build-02")]}, page_size=1)
    credential = FakeCredential()
    client = ComputeManagementClient(
        credential, SUB, base_url=emu.url, polling_interval=0,
        authentication_policy=LoopbackBearerPolicy(credential, SCOPE),
    )
    with client:
        yield client, emu


def test_sdk_managed_image_list_capture_update_delete(sdk) -> None:
    client, emu = sdk
    for name, vm in (("sdk-image", "build-01"), ("sdk-other", "build-02")):
        poller = client.images.begin_create_or_update(RG, name, m.Image(
            location="westus", tags={"team": "web"},
            source_virtual_machine=m.SubResource(id=f"{PREFIX}/virtualMachines/{vm}")))
        image = poller.result()
        assert image.provisioning_state == "Succeeded"
        assert image.storage_profile.os_disk.managed_disk.id == f"{PREFIX}/disks/{vm}-os"
    # page_size=1: both lists need the SDK to follow nextLink
    assert sorted(i.name for i in client.images.list_by_resource_group(RG)) == ["sdk-image", "sdk-other"]
    assert sorted(i.name for i in client.images.list()) == ["sdk-image", "sdk-other"]

    updated = client.images.begin_update(RG, "sdk-image", m.ImageUpdate(tags={"team": "web", "v": "2"})).result()
    assert updated.tags == {"team": "web", "v": "2"}
    assert client.images.get(RG, "sdk-image").tags["v"] == "2"

    client.images.begin_delete(RG, "sdk-image").result()
    with pytest.raises(ResourceNotFoundError):
        client.images.get(RG, "sdk-image")
    assert [i.name for i in client.images.list_by_resource_group(RG)] == ["sdk-other"]
    assert any(r.query.get("api-version") == "2026-04-01" for r in emu.requests)


def test_sdk_gallery_image_version_list_capture_update_delete(sdk) -> None:
    client, emu = sdk
    client.galleries.begin_create_or_update(RG, "gal", m.Gallery(location="westus")).result()
    client.gallery_images.begin_create_or_update(RG, "gal", "web-base", m.GalleryImage(
        location="westus", os_type="Linux", os_state="Generalized", hyper_v_generation="V1",  # build-01 is Gen1
        identifier=m.GalleryImageIdentifier(publisher="contoso", offer="web", sku="base"))).result()
    version = client.gallery_image_versions.begin_create_or_update(
        RG, "gal", "web-base", "1.0.0", m.GalleryImageVersion(
            location="westus", tags={"team": "web"},
            storage_profile=m.GalleryImageVersionStorageProfile(
                source=m.GalleryArtifactVersionFullSource(virtual_machine_id=f"{PREFIX}/virtualMachines/build-01")),
            publishing_profile=m.GalleryImageVersionPublishingProfile(
                target_regions=[m.TargetRegion(name="westus", regional_replica_count=1)]))).result()
    assert version.provisioning_state == "Succeeded"
    assert [v.name for v in client.gallery_image_versions.list_by_gallery_image(RG, "gal", "web-base")] == ["1.0.0"]

    updated = client.gallery_image_versions.begin_update(
        RG, "gal", "web-base", "1.0.0", m.GalleryImageVersionUpdate(tags={"team": "web", "v": "2"})).result()
    assert updated.tags["v"] == "2"
    status = client.gallery_image_versions.get(RG, "gal", "web-base", "1.0.0", expand="ReplicationStatus")
    assert status.replication_status.aggregated_state == "Completed"

    client.gallery_image_versions.begin_delete(RG, "gal", "web-base", "1.0.0").result()
    assert list(client.gallery_image_versions.list_by_gallery_image(RG, "gal", "web-base")) == []
    assert any(r.query.get("api-version") == "2026-03-03" for r in emu.requests)


def test_sdk_surfaces_arm_errors(sdk) -> None:
    client, _ = sdk
    with pytest.raises(HttpResponseError) as raised:
        client.images.begin_create_or_update(RG, "bad", m.Image(
            location="westus", source_virtual_machine=m.SubResource(id=f"{PREFIX}/virtualMachines/nope"))).result()
    assert raised.value.status_code == 404
