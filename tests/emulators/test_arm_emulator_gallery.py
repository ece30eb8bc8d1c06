"""ARM emulator over real HTTP: Azure Compute Gallery galleries, image definitions and versions."""

from __future__ import annotations

import requests

from reconciler.emulators.arm import ArmEmulator
from tests.emulators.conftest import GALLERY, PREFIX, vm_resource
from tests.emulators.test_arm_emulator import finish, u


def g(emu: ArmEmulator, path: str, **query: str) -> str:
    return u(emu, "/galleries/gal" + path, version=GALLERY, **query)


def make_definition(emu: ArmEmulator, http: requests.Session, name: str = "web-base",
                    os_state: str = "Generalized") -> None:
    gallery = http.put(g(emu, ""), json={"location": "westus", "properties": {"description": "images"}})
    assert gallery.status_code in (200, 201)
    finish(http, gallery)
    definition = http.put(g(emu, f"/images/{name}"), json={"location": "westus", "properties": {
        # V1: the seeded VMs are Gen1 (a Gen2 definition refuses them: BEHAVIOURS.md row 3).
        "osType": "Linux", "osState": os_state, "hyperVGeneration": "V1",
        "identifier": {"publisher": "contoso", "offer": "web", "sku": name}}})
    assert definition.status_code == 201
    assert definition.json()["properties"]["provisioningState"] == "Creating"
    assert finish(http, definition)["status"] == "Succeeded"


def version_body(vm: str = "build-01", **publishing: object) -> dict[str, object]:
    return {"location": "westus", "tags": {"team": "web"}, "properties": {
        "storageProfile": {"source": {"virtualMachineId": f"{PREFIX}/virtualMachines/{vm}"}},
        "publishingProfile": {"targetRegions": [{"name": "westus", "regionalReplicaCount": 1}], **publishing}}}


def test_gallery_version_lifecycle(emu: ArmEmulator, http: requests.Session) -> None:
    make_definition(emu, http)
    gallery = http.get(g(emu, "")).json()
    assert gallery["properties"]["identifier"]["uniqueName"].endswith("-GAL")

    created = http.put(g(emu, "/images/web-base/versions/1.0.0"), json=version_body())
    assert created.status_code == 201
    assert created.json()["properties"]["provisioningState"] == "Creating"
    assert created.json()["properties"]["storageProfile"]["source"]["virtualMachineId"].endswith("/build-01")
    expanded = http.get(g(emu, "/images/web-base/versions/1.0.0", **{"$expand": "ReplicationStatus"})).json()
    assert expanded["properties"]["replicationStatus"]["aggregatedState"] == "InProgress"
    assert finish(http, created)["status"] == "Succeeded"
    expanded = http.get(g(emu, "/images/web-base/versions/1.0.0", **{"$expand": "ReplicationStatus"})).json()
    assert expanded["properties"]["replicationStatus"]["aggregatedState"] == "Completed"
    assert "replicationStatus" not in http.get(g(emu, "/images/web-base/versions/1.0.0")).json()["properties"]

    same = http.put(g(emu, "/images/web-base/versions/1.0.0"), json=version_body())
    assert same.status_code == 200
    finish(http, same)

    # The spec's GalleryImageVersionUpdate reuses the version properties, where storageProfile is required.
    no_profile = http.patch(g(emu, "/images/web-base/versions/1.0.0"), json={"tags": {}, "properties": {}})
    assert no_profile.status_code == 400
    assert no_profile.json()["error"]["target"] == "properties.storageProfile"
    source = {"virtualMachineId": f"{PREFIX}/virtualMachines/build-01"}
    patched = http.patch(g(emu, "/images/web-base/versions/1.0.0"), json={
        "tags": {"team": "web", "owner": "x"},
        "properties": {"storageProfile": {"source": source}, "publishingProfile": {
            "targetRegions": [{"name": "westus", "regionalReplicaCount": 2}, {"name": "eastus"}],
            "endOfLifeDate": "2030-01-01T00:00:00Z", "excludeFromLatest": True}}})
    assert patched.status_code == 200
    assert patched.json()["properties"]["provisioningState"] == "Updating"
    finish(http, patched)
    version = http.get(g(emu, "/images/web-base/versions/1.0.0")).json()
    publishing = version["properties"]["publishingProfile"]
    assert [r["regionalReplicaCount"] for r in publishing["targetRegions"]] == [2, 1]
    assert publishing["excludeFromLatest"] is True and version["tags"]["owner"] == "x"

    immutable = http.patch(g(emu, "/images/web-base/versions/1.0.0"), json={"properties": {
        "storageProfile": {"source": {"virtualMachineId": f"{PREFIX}/virtualMachines/other"}}}})
    assert immutable.status_code == 409
    assert immutable.json()["error"]["code"] == "PropertyChangeNotAllowed"

    listed = http.get(g(emu, "/images/web-base/versions")).json()
    assert [v["name"] for v in listed["value"]] == ["1.0.0"]
    definitions = http.get(g(emu, "/images")).json()
    assert [d["name"] for d in definitions["value"]] == ["web-base"]

    busy = http.delete(g(emu, "/images/web-base"))
    assert busy.status_code == 409
    deleted = http.delete(g(emu, "/images/web-base/versions/1.0.0"))
    assert deleted.status_code == 202
    assert finish(http, deleted)["status"] == "Succeeded"
    assert http.get(g(emu, "/images/web-base/versions/1.0.0")).status_code == 404
    assert http.delete(g(emu, "/images/web-base/versions/1.0.0")).status_code == 204
    gone = http.delete(g(emu, "/images/web-base"))
    assert gone.status_code == 202
    finish(http, gone)
    assert http.get(g(emu, "/images")).json()["value"] == []


def test_os_state_mismatch_is_bad_request(emu: ArmEmulator, http: requests.Session) -> None:
    make_definition(emu, http)
    answer = http.put(g(emu, "/images/web-base/versions/1.0.0"), json=version_body("special-01"))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["message"] == (
        f"The resource with id '{PREFIX}/virtualMachines/special-01' has a different OS state "
        "['Specialized'] than the parent gallery image OS state ['Generalized'].")


def test_specialized_definition_takes_a_specialized_vm(emu: ArmEmulator, http: requests.Session) -> None:
    make_definition(emu, http, "app", os_state="Specialized")
    assert http.put(g(emu, "/images/app/versions/2.1.0"), json=version_body("special-01")).status_code == 201


def test_version_name_and_parents_are_checked(emu: ArmEmulator, http: requests.Session) -> None:
    orphan = http.put(g(emu, "/images/none/versions/1.0.0"), json=version_body())
    assert orphan.status_code == 404
    assert orphan.json()["error"]["code"] == "ParentResourceNotFound"
    make_definition(emu, http)
    bad = http.put(g(emu, "/images/web-base/versions/v1"), json=version_body())
    assert bad.status_code == 400
    assert bad.json()["error"]["target"] == "galleryImageVersionName"
    huge = http.put(g(emu, "/images/web-base/versions/1.0.99999999999"), json=version_body())
    assert huge.status_code == 400
    no_source = http.put(g(emu, "/images/web-base/versions/1.0.0"),
                         json={"location": "westus", "properties": {"storageProfile": {}}})
    assert no_source.status_code == 400
    assert no_source.json()["error"]["code"] == "InvalidParameter"


def test_version_from_vhd_and_from_managed_image(emu: ArmEmulator, http: requests.Session) -> None:
    make_definition(emu, http)
    vhd = {"location": "westus", "properties": {"storageProfile": {"osDiskImage": {"source": {
        "uri": "https://acct.blob.core.windows.net/vhds/web.vhd",
        "storageAccountId": f"/subscriptions/x/resourceGroups/{'rg'}/providers/Microsoft.Storage/storageAccounts/acct",
    }}}}}
    assert http.put(g(emu, "/images/web-base/versions/1.0.1"), json=vhd).status_code == 201
    missing_account = {"location": "westus", "properties": {"storageProfile": {"osDiskImage": {"source": {
        "uri": "https://acct.blob.core.windows.net/vhds/web.vhd"}}}}}
    assert http.put(g(emu, "/images/web-base/versions/1.0.2"), json=missing_account).status_code == 400

    image = http.put(u(emu, "/images/managed"), json={"location": "westus", "properties": {
        "sourceVirtualMachine": {"id": f"{PREFIX}/virtualMachines/build-01"}}})
    finish(http, image)
    from_image = http.put(g(emu, "/images/web-base/versions/1.0.3"), json={"location": "westus", "properties": {
        "storageProfile": {"source": {"id": f"{PREFIX}/images/managed"}}}})
    assert from_image.status_code == 201


def test_gallery_put_on_existing_is_an_update(emu: ArmEmulator, http: requests.Session) -> None:
    make_definition(emu, http)
    again = http.put(g(emu, ""), json={"location": "westus", "properties": {"description": "new"}})
    assert again.status_code == 200
    assert again.json()["properties"]["description"] == "new"
    changed = http.put(g(emu, "/images/web-base"), json={"location": "westus", "properties": {
        "osType": "Windows", "osState": "Generalized",
        "identifier": {"publisher": "contoso", "offer": "web", "sku": "web-base"}}})
    assert changed.status_code == 409
    assert changed.json()["error"]["target"] == "properties.osType"


def test_vm_seed_without_instance_view_is_running(make_emulator, http: requests.Session) -> None:
    vm = vm_resource("bare")
    del vm["properties"]["instanceView"]
    emu = make_emulator({"resources": [vm]})
    view = http.get(u(emu, "/virtualMachines/bare/instanceView")).json()
    assert "PowerState/running" in {s["code"] for s in view["statuses"]}
