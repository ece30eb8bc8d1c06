"""ARM emulator over real HTTP: managed images, VMs, LROs, pagination, errors, api-versions, auth."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from reconciler.emulators.arm import ArmEmulator
from tests.emulators.conftest import COMPUTE, GALLERY, PREFIX, SUB, FakeClock, vm_resource


def u(emu: ArmEmulator, path: str, version: str | None = COMPUTE, **query: str) -> str:
    params = dict(query)
    if version is not None:
        params["api-version"] = version
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{emu.url}{PREFIX}{path}" + (f"?{qs}" if qs else "")


def capture_body(vm: str = "build-01", **extra: object) -> dict[str, object]:
    return {"location": "westus", "tags": {"team": "web"},
            "properties": {"sourceVirtualMachine": {"id": f"{PREFIX}/virtualMachines/{vm}"}}, **extra}


def finish(http: requests.Session, response: requests.Response) -> dict[str, object]:
    """Poll the Azure-AsyncOperation URL to a terminal status (bounded), return the status body."""
    url = response.headers["Azure-AsyncOperation"]
    for _ in range(10):
        status = http.get(url).json()
        if status["status"] != "InProgress":
            return status
    raise AssertionError("operation never finished")


def test_capture_image_from_vm_full_lifecycle(emu: ArmEmulator, http: requests.Session) -> None:
    created = http.put(u(emu, "/images/web-base"), json=capture_body())
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Creating"
    for header in ("Azure-AsyncOperation", "Location", "Retry-After", "x-ms-request-id",
                   "x-ms-correlation-request-id"):
        assert header in created.headers
    assert "/providers/Microsoft.Compute/locations/westus/operations/" in created.headers["Azure-AsyncOperation"]

    first = http.get(created.headers["Azure-AsyncOperation"]).json()
    assert first["status"] == "InProgress"
    assert finish(http, created)["status"] == "Succeeded"

    image = http.get(u(emu, "/images/WEB-BASE")).json()  # ids are case-insensitive
    props = image["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["storageProfile"]["osDisk"]["managedDisk"]["id"] == f"{PREFIX}/disks/build-01-os"
    assert props["storageProfile"]["osDisk"]["osState"] == "Generalized"
    assert [d["lun"] for d in props["storageProfile"]["dataDisks"]] == [0]
    assert image["tags"] == {"team": "web"}

    patched = http.patch(u(emu, "/images/web-base"), json={"tags": {"team": "web", "owner": "platform"}})
    assert patched.status_code == 200
    assert patched.json()["properties"]["provisioningState"] == "Updating"
    assert finish(http, patched)["status"] == "Succeeded"

    listed = http.get(f"{emu.url}/subscriptions/{SUB}/providers/Microsoft.Compute/images?api-version={COMPUTE}")
    assert [i["name"] for i in listed.json()["value"]] == ["web-base"]
    assert listed.json()["value"][0]["tags"]["owner"] == "platform"

    deleted = http.delete(u(emu, "/images/web-base"))
    assert deleted.status_code == 202 and deleted.content == b""
    location = deleted.headers["Location"]
    assert http.get(location).status_code == 202
    assert http.get(location).status_code == 204
    missing = http.get(u(emu, "/images/web-base"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ResourceNotFound"
    assert http.delete(u(emu, "/images/web-base")).status_code == 204


def test_capture_requires_generalized_and_deallocated_vm(emu: ArmEmulator, http: requests.Session) -> None:
    special = http.put(u(emu, "/images/x"), json=capture_body("special-01"))
    assert special.status_code == 409
    assert special.json()["error"] == {
        "code": "OperationNotAllowed",
        "message": "The operation 'Create Image' requires the Virtual Machine 'special-01' to be Generalized.",
    }
    missing = http.put(u(emu, "/images/x"), json=capture_body("nope"))
    assert missing.status_code == 404
    assert http.get(u(emu, "/images")).json()["value"] == []


def test_capture_refused_while_vm_runs(make_emulator, http: requests.Session) -> None:
    emu = make_emulator({"resources": [vm_resource("hot", power="running", generalized=True)]})
    answer = http.put(u(emu, "/images/x"), json=capture_body("hot"))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "OperationNotAllowed"


def test_put_is_idempotent_and_immutable_fields_conflict(emu: ArmEmulator, http: requests.Session) -> None:
    assert http.put(u(emu, "/images/img"), json=capture_body()).status_code == 201
    again = http.put(u(emu, "/images/img"), json=capture_body())
    assert again.status_code == 200
    assert len(http.get(u(emu, "/images")).json()["value"]) == 1

    emu.load_state({"resources": [*emu.dump_state()["resources"], vm_resource("build-02")]})
    other = http.put(u(emu, "/images/img"), json=capture_body("build-02"))
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "PropertyChangeNotAllowed"
    assert other.json()["error"]["target"] == "properties.sourceVirtualMachine.id"

    moved = http.put(u(emu, "/images/img"), json={**capture_body(), "location": "eastus"})
    assert moved.status_code == 409
    assert moved.json()["error"]["code"] == "InvalidResourceLocation"

    tag_only = http.patch(u(emu, "/images/img"), json={"properties": {"hyperVGeneration": "V2"}})
    assert tag_only.status_code == 409


def test_image_from_uploaded_vhd(emu: ArmEmulator, http: requests.Session) -> None:
    body = {"location": "westus", "properties": {"storageProfile": {"osDisk": {
        "osType": "Linux", "osState": "Generalized",
        "blobUri": "https://acct.blob.core.windows.net/vhds/web.vhd"}}}}
    answer = http.put(u(emu, "/images/from-vhd"), json=body)
    assert answer.status_code == 201
    disk = answer.json()["properties"]["storageProfile"]["osDisk"]
    assert disk["blobUri"].endswith("web.vhd")


@pytest.mark.parametrize(
    ("version", "status", "code"),
    [(None, 400, "MissingApiVersionParameter"), ("2099-01-01", 400, "InvalidApiVersionParameter"),
     (GALLERY, 400, "InvalidApiVersionParameter"), ("2026-04-01", 200, None), ("2025-04-01", 200, None)],
)
def test_api_version_is_checked_per_resource_type(emu, http, version, status, code) -> None:
    answer = http.get(u(emu, "/images", version=version))
    assert answer.status_code == status
    if code:
        assert answer.json()["error"]["code"] == code
        if code == "InvalidApiVersionParameter":
            assert f"The api-version '{version}' is invalid." in answer.json()["error"]["message"]


def test_gallery_api_versions(emu, http) -> None:
    assert http.get(u(emu, "/galleries", version="2026-03-03")).status_code == 200
    assert http.get(u(emu, "/galleries", version=COMPUTE)).status_code == 400


def test_bearer_token_is_required(emu: ArmEmulator) -> None:
    with requests.Session() as anonymous:
        answer = anonymous.get(u(emu, "/images"))
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "AuthenticationFailed"
        basic = anonymous.get(u(emu, "/images"), headers={"Authorization": "Basic abc"})
        assert basic.status_code == 401


def test_request_bodies_are_validated_against_the_spec(emu: ArmEmulator, http: requests.Session) -> None:
    bad_enum = http.put(u(emu, "/images/x"), json={"location": "westus", "properties": {"storageProfile": {
        "osDisk": {"osType": "Plan9", "osState": "Generalized", "blobUri": "https://a/b.vhd"}}}})
    assert bad_enum.status_code == 400
    assert bad_enum.json()["error"]["code"] == "InvalidParameter"
    assert bad_enum.json()["error"]["target"] == "properties.storageProfile.osDisk.osType"

    no_location = http.put(u(emu, "/images/x"), json={"properties": {}})
    assert no_location.json()["error"]["target"] == "location"
    assert "Required parameter 'location' is missing" in no_location.json()["error"]["message"]

    bad_json = http.put(u(emu, "/images/x"), data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["code"] == "InvalidRequestContent"

    # read-only properties in a request are ignored, as ARM does
    read_only = http.put(u(emu, "/images/x"), json=capture_body(properties={
        "sourceVirtualMachine": {"id": f"{PREFIX}/virtualMachines/build-01"}, "provisioningState": 42}))
    assert read_only.status_code == 201


def test_unknown_path_and_method(emu: ArmEmulator, http: requests.Session) -> None:
    assert http.get(u(emu, "/widgets")).status_code == 404
    assert http.post(u(emu, "/images/x")).status_code == 405


def test_vm_reads_actions_and_state_changes(emu: ArmEmulator, http: requests.Session) -> None:
    plain = http.get(u(emu, "/virtualMachines")).json()["value"]
    assert {v["name"] for v in plain} == {"build-01", "running-01", "special-01"}
    assert all("instanceView" not in v["properties"] for v in plain)
    # $expand=instanceView without $filter (BEHAVIOURS.md row 9): ignored by default, 400 when switched.
    ignored = http.get(u(emu, "/virtualMachines", **{"$expand": "instanceView"}))
    assert ignored.status_code == 200
    assert all("instanceView" not in v["properties"] for v in ignored.json()["value"])
    emu.faults.vm_list_expand = "reject"
    rejected = http.get(u(emu, "/virtualMachines", **{"$expand": "instanceView"}))
    assert rejected.status_code == 400 and rejected.json()["error"]["target"] == "$expand"
    emu.faults.vm_list_expand = "ignore"
    one = http.get(u(emu, "/virtualMachines/build-01", **{"$expand": "instanceView"})).json()
    assert one["properties"]["instanceView"]["statuses"]
    assert one["properties"]["instanceView"]["hyperVGeneration"] == "V1"
    bad_filter = http.get(u(emu, "/virtualMachines", **{"$filter": "name eq 'x'"}))
    assert bad_filter.status_code == 400 and bad_filter.json()["error"]["target"] == "$filter"

    refused = http.post(u(emu, "/virtualMachines/running-01/generalize"))
    assert refused.status_code == 409
    assert refused.json()["error"]["message"].startswith(
        "Operation 'generalize' is not allowed on VM 'running-01' since the VM is running")

    deallocating = http.post(u(emu, "/virtualMachines/running-01/deallocate"))
    assert deallocating.status_code == 202 and deallocating.content == b""
    view = http.get(u(emu, "/virtualMachines/running-01/instanceView")).json()
    assert "PowerState/deallocating" in {s["code"] for s in view["statuses"]}
    assert finish(http, deallocating)["status"] == "Succeeded"

    generalized = http.post(u(emu, "/virtualMachines/running-01/generalize"))
    assert generalized.status_code == 200 and generalized.content == b""
    vm = http.get(u(emu, "/virtualMachines/running-01", **{"$expand": "instanceView"})).json()
    codes = {s["code"] for s in vm["properties"]["instanceView"]["statuses"]}
    assert {"PowerState/deallocated", "OSState/generalized"} <= codes
    assert "instanceView" not in http.get(u(emu, "/virtualMachines/running-01")).json()["properties"]
    assert http.put(u(emu, "/images/now-ok"), json=capture_body("running-01")).status_code == 201


def test_pagination_follows_next_link(make_emulator, http: requests.Session) -> None:
    images = [{"id": f"{PREFIX}/images/img-{i:02d}", "location": "westus",
               "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized"}},
                              "provisioningState": "Succeeded"}} for i in range(7)]
    emu = make_emulator({"resources": images}, page_size=3)
    url: str | None = u(emu, "/images")
    names: list[str] = []
    pages = 0
    while url:
        page = http.get(url).json()
        names += [i["name"] for i in page["value"]]
        url = page.get("nextLink")
        pages += 1
        if url:
            assert url.startswith(emu.url)
            query = parse_qs(urlsplit(url).query)
            assert query["api-version"] == [COMPUTE] and query["$skiptoken"]
    assert pages == 3
    assert names == [f"img-{i:02d}" for i in range(7)]
    assert http.get(u(emu, "/images", **{"$skiptoken": "%%%"})).status_code == 400


def test_lro_waits_for_polls_and_clock(make_emulator, http: requests.Session, clock: FakeClock) -> None:
    emu = make_emulator({"resources": [vm_resource("build-01")]})
    emu.faults.lro_polls = 2
    emu.faults.lro_seconds = 30
    created = http.put(u(emu, "/images/slow"), json=capture_body())
    status_url, location = created.headers["Azure-AsyncOperation"], created.headers["Location"]
    for _ in range(4):
        assert http.get(status_url).json()["status"] == "InProgress"
    assert http.get(location).status_code == 202
    assert http.get(u(emu, "/images/slow")).json()["properties"]["provisioningState"] == "Creating"
    clock.advance(30)
    done = http.get(location)
    assert done.status_code == 200
    assert done.json()["properties"]["provisioningState"] == "Succeeded"
    status = http.get(status_url).json()
    assert status["status"] == "Succeeded" and status["endTime"]


def test_lro_completes_by_clock_alone_when_no_polls_needed(make_emulator, http, clock) -> None:
    emu = make_emulator({"resources": [vm_resource("build-01")]})
    emu.faults.lro_polls = 0
    emu.faults.lro_seconds = 5
    http.put(u(emu, "/images/img"), json=capture_body())
    assert http.get(u(emu, "/images")).json()["value"][0]["properties"]["provisioningState"] == "Creating"
    clock.advance(5)
    assert http.get(u(emu, "/images")).json()["value"][0]["properties"]["provisioningState"] == "Succeeded"


def test_forced_operation_failure(emu: ArmEmulator, http: requests.Session) -> None:
    emu.faults.fail_operations = {"doomed"}
    created = http.put(u(emu, "/images/Doomed"), json=capture_body())
    assert created.status_code == 201
    status = finish(http, created)
    assert status["status"] == "Failed"
    assert status["error"]["code"] and status["error"]["message"]
    failed_location = http.get(created.headers["Location"])
    assert failed_location.status_code == 400
    assert failed_location.json()["error"]["code"] == status["error"]["code"]
    assert http.get(u(emu, "/images/doomed")).json()["properties"]["provisioningState"] == "Failed"
    assert emu.faults.fail_operations == set()  # only the next operation fails
    assert finish(http, http.delete(u(emu, "/images/doomed")))["status"] == "Succeeded"


def test_unknown_operation_id_is_not_found(emu: ArmEmulator, http: requests.Session) -> None:
    url = f"{emu.url}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus/operations/nope"
    answer = http.get(url, params={"api-version": COMPUTE})
    assert answer.status_code == 404
