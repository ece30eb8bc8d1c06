"""ARM emulator over real HTTP: gallery version replication, display names, safety profile and the
replication faults (issue 10 §3; BEHAVIOURS.md rows 6, 8, 10, 15)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from reconciler.emulators.arm import ArmEmulator, Faults
from tests.emulators.conftest import PREFIX
from tests.emulators.test_arm_emulator import finish
from tests.emulators.test_arm_emulator_gallery import g

VERSION = "/images/app/versions/1.0.0"


def _definition(emu: ArmEmulator, http: requests.Session) -> None:
    finish(http, http.put(g(emu, ""), json={"location": "westus", "properties": {}}))
    finish(http, http.put(g(emu, "/images/app"), json={"location": "westus", "properties": {
        "osType": "Linux", "osState": "Generalized", "identifier": {"publisher": "p", "offer": "o", "sku": "s"}}}))


def _create(emu: ArmEmulator, http: requests.Session, regions: list[dict[str, Any]], **props: Any) -> Any:
    _definition(emu, http)
    body = {"location": "westus", "properties": {
        "storageProfile": {"source": {"virtualMachineId": f"{PREFIX}/virtualMachines/build-01"}},
        "publishingProfile": {"targetRegions": regions}, **props}}
    answer = http.put(g(emu, VERSION), json=body)
    assert answer.status_code == 201, answer.text
    finish(http, answer)
    return answer


def _expanded(emu: ArmEmulator, http: requests.Session) -> dict[str, Any]:
    got: dict[str, Any] = http.get(g(emu, VERSION, **{"$expand": "ReplicationStatus"})).json()
    return got


def _patch(emu: ArmEmulator, http: requests.Session, **props: Any) -> requests.Response:
    source = {"virtualMachineId": f"{PREFIX}/virtualMachines/build-01"}
    return http.patch(g(emu, VERSION), json={"properties": {"storageProfile": {"source": source}, **props}})


def test_regions_are_answered_by_display_name_with_defaults(emu: ArmEmulator, http: requests.Session) -> None:
    _create(emu, http, [{"name": "westus"}, {"name": "North Europe", "regionalReplicaCount": 2}])
    v = _expanded(emu, http)["properties"]
    assert [r["name"] for r in v["publishingProfile"]["targetRegions"]] == ["West US", "North Europe"]
    assert [(s["region"], s["state"]) for s in v["replicationStatus"]["summary"]] == [
        ("West US", "Completed"), ("North Europe", "Completed")]
    assert v["safetyProfile"] == {"allowDeletionOfReplicatedLocations": False, "reportedForPolicyViolation": False,
                                  "blockDeletionBeforeEndOfLife": False}
    assert "replicationStatus" not in http.get(g(emu, VERSION)).json()["properties"]


@pytest.mark.parametrize("removal", ["refuse", "allow"])
def test_removing_a_replicated_region_follows_the_switch(make_emulator: Any, http: requests.Session,
                                                         removal: str) -> None:
    from tests.emulators.conftest import vm_resource

    emu = make_emulator({"resources": [vm_resource("build-01")]}, faults=Faults(region_removal=removal, retry_after=0))
    _create(emu, http, [{"name": "westus"}, {"name": "eastus"}])
    answer = _patch(emu, http, publishingProfile={"targetRegions": [{"name": "westus"}]})
    if removal == "refuse":
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "OperationNotAllowed"
        finish(http, _patch(emu, http, safetyProfile={"allowDeletionOfReplicatedLocations": True}))
        answer = _patch(emu, http, publishingProfile={"targetRegions": [{"name": "westus"}]})
    assert answer.status_code == 200, answer.text
    finish(http, answer)
    assert [r["name"] for r in _expanded(emu, http)["properties"]["publishingProfile"]["targetRegions"]] == ["West US"]


def test_storage_type_of_a_region_and_replication_mode_cannot_change(emu: ArmEmulator, http: requests.Session) -> None:
    _create(emu, http, [{"name": "westus"}], safetyProfile={"allowDeletionOfReplicatedLocations": True})
    changed = _patch(emu, http, publishingProfile={"targetRegions": [{"name": "westus",
                                                                      "storageAccountType": "Premium_LRS"}]})
    assert changed.status_code == 409
    assert _patch(emu, http, publishingProfile={"replicationMode": "Shallow"}).status_code == 409
    assert _patch(emu, http, publishingProfile={"storageAccountType": "Fast_LRS"}).status_code == 400


@pytest.mark.parametrize("leaves", ["Succeeded", "Failed"])
def test_a_failed_region_replication_and_its_repair(make_emulator: Any, http: requests.Session, leaves: str) -> None:
    from tests.emulators.conftest import vm_resource

    emu = make_emulator({"resources": [vm_resource("build-01")]},
                        faults=Faults(fail_replication={"eastus"}, replication_failure=leaves, retry_after=0))
    _create(emu, http, [{"name": "westus"}, {"name": "eastus"}])
    v = _expanded(emu, http)["properties"]
    assert v["provisioningState"] == leaves
    assert v["replicationStatus"]["aggregatedState"] == "Failed"
    assert [(s["region"], s["state"]) for s in v["replicationStatus"]["summary"]] == [
        ("West US", "Completed"), ("East US", "Failed")]
    assert emu.faults.fail_replication == set(), "the fault is used once"
    finish(http, _patch(emu, http, publishingProfile={"targetRegions": [{"name": "westus"}, {"name": "eastus"}]}))
    assert _expanded(emu, http)["properties"]["replicationStatus"]["aggregatedState"] == "Completed"


def test_fault_switches_are_validated() -> None:
    f = Faults()
    f.update({"fail_replication": ["East US"], "replication_failure": "Failed", "region_removal": "allow"})
    assert (f.fail_replication, f.replication_failure, f.region_removal) == ({"eastus"}, "Failed", "allow")
    with pytest.raises(ValueError):
        f.update({"region_removal": "sometimes"})
    assert f.to_json()["fail_replication"] == ["eastus"]
    assert Faults().promotion_region == "refuse"  # the stricter behaviour by default
    f.update({"promotion_region": "allow"})
    assert f.promotion_region == "allow" and f.to_json()["promotion_region"] == "allow"
    with pytest.raises(ValueError, match="promotion_region must be one of refuse, allow"):
        f.update({"promotion_region": "maybe"})
    assert f.promotion_region == "allow"
