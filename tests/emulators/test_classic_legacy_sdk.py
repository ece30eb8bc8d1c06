"""Acceptance: the official legacy SDK (``azure-servicemanagement-legacy``) against the classic emulator.

Layer: tests. The SDK always targets ``https://management.core.windows.net`` on port 443, so it is
handed a ``requests`` session whose adapter re-targets every request to the emulator's loopback
port, over TLS with a management client certificate, as the real service was used. The SDK is a
test-only dependency (the ``test`` extra); the test skips when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from reconciler.emulators.classic import ClassicEmulator, iter_roles

sm = pytest.importorskip("azure.servicemanagement", reason="azure-servicemanagement-legacy is not installed")

SUB = "11111111-2222-3333-4444-555555555555"
REAL_HOST = "https://management.core.windows.net"


class ToEmulator(HTTPAdapter):
    """Sends what the SDK addresses to the real endpoint to the emulator instead."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None and request.url.startswith(REAL_HOST)
        request.url = self.url + request.url[len(REAL_HOST):].removeprefix(":443")
        return super().send(request, *args, **kwargs)


def seeded_state() -> dict[str, Any]:
    return {
        "subscription": SUB,
        "os_images": [{"Category": "User", "Label": "os one", "Location": "West US", "LogicalSizeInGB": 30,
                       "MediaLink": "https://s.blob.core.windows.net/vhds/os-one.vhd", "Name": "os-one",
                       "OS": "Linux", "IsPremium": False, "OSState": "Generalized", "IOType": "Standard"}],
        "vm_images": [],
        "hosted_services": [{"ServiceName": "websvc", "Location": "West US", "deployments": [
            {"Name": "websvc", "DeploymentSlot": "Production", "roles": [
                {"RoleName": "web01", "InstanceStatus": "StoppedVM", "RoleSize": "Small", "OS": "Linux",
                 "OSDisk": {"DiskName": "web01-os", "MediaLink": "https://s.blob.core.windows.net/vhds/web01.vhd"},
                 "DataDisks": [{"DiskName": "web01-d0", "Lun": 0, "LogicalDiskSizeInGB": 100}]}]}]}],
    }


@pytest.fixture
def emulator() -> Iterator[ClassicEmulator]:
    with ClassicEmulator(seeded_state(), tls=True) as em:
        yield em


@pytest.fixture
def sms(emulator: ClassicEmulator) -> Iterator[Any]:
    files = emulator.tls_files
    assert files is not None
    session = requests.Session()
    session.trust_env = False  # the environment's CA bundle would override ``verify``
    session.cert = files.client_pem
    session.verify = files.ca_cert
    session.mount(REAL_HOST, ToEmulator(emulator.url))
    try:
        yield sm.ServiceManagementService(subscription_id=SUB, request_session=session)
    finally:
        session.close()


def wait(client: Any, request_id: str) -> Any:
    """Poll like ``wait_for_operation_status`` does, without its real sleeping."""
    for _ in range(10):
        op = client.get_operation_status(request_id)
        if op.status != "InProgress":
            return op
    raise AssertionError("the operation never finished")


def test_sdk_lists_os_and_vm_images(sms: Any, emulator: ClassicEmulator) -> None:
    os_images = sms.list_os_images()
    assert [(i.name, i.category, i.os, i.logical_size_in_gb) for i in os_images] == [
        ("os-one", "User", "Linux", 30)]
    assert list(sms.list_vm_images()) == []
    assert all(r.headers.get("x-ms-version") == "2014-10-01" for r in emulator.requests)
    assert all(r.client_thumbprint == emulator.tls_files.client_thumbprint for r in emulator.requests)  # type: ignore[union-attr]


def test_sdk_captures_updates_and_deletes_a_vm_image(sms: Any, emulator: ClassicEmulator) -> None:
    # The SDK does not XML-escape values (CONTRACT §9): a real parser refuses what it sends.
    unescaped = sm.CaptureRoleAsVMImage("Specialized", "web-golden", "web golden", "golden & <shiny>", "English",
                                        "web", "Small")
    with pytest.raises(Exception, match="InvalidXmlRequest"):
        sms.capture_vm_image("websvc", "websvc", "web01", unescaped)

    capture = sm.CaptureRoleAsVMImage("Specialized", "web-golden", "web golden", "golden and shiny", "English",
                                      "web", "Small")
    result = sms.capture_vm_image("websvc", "websvc", "web01", capture)
    assert wait(sms, result.request_id).status == "Succeeded"

    (image,) = sms.list_vm_images()
    assert (image.name, image.label, image.category, image.role_name) == ("web-golden", "web golden", "User", "web01")
    assert image.description == "golden and shiny"
    assert image.os_disk_configuration.os_state == "Specialized"
    assert len(image.data_disk_configurations) == 1
    assert [r["RoleName"] for _, _, r in iter_roles(emulator.dump_state())] == ["web01"]  # specialized: kept

    update = sm.VMImage(label="web golden v2", description="relabelled")
    update.image_family = "web-base"
    update.show_in_gui = False
    result = sms.update_vm_image("web-golden", update)
    assert wait(sms, result.request_id).status == "Succeeded"
    (image,) = sms.list_vm_images()
    assert (image.label, image.description, image.image_family, image.language) == (
        "web golden v2", "relabelled", "web-base", "English")  # merge: Language kept

    result = sms.delete_vm_image("web-golden", delete_vhd=True)
    assert wait(sms, result.request_id).status == "Succeeded"
    assert list(sms.list_vm_images()) == []
    delete = [r for r in emulator.requests if r.method == "DELETE"]
    assert delete and delete[0].query == {"comp": ["media"]}


def test_sdk_sees_errors_as_the_service_sends_them(sms: Any) -> None:
    with pytest.raises(Exception, match="ResourceNotFound") as info:
        sms.get_os_image("nope")
    assert getattr(info.value, "status_code", None) == 404
