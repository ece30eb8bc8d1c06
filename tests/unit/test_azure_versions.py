"""Gallery version fields, pure (``providers/azure/versions.py``): ARM -> the file's shape, the
file -> ARM, and declared vs live as the planner compares them (issue 10 §3)."""

from __future__ import annotations

from typing import Any

from reconciler.model import Image, ImageSpec, ImageType, OSState, Source
from reconciler.providers.azure import versions as v


def spec(**extra: Any) -> ImageSpec:
    return ImageSpec("web/1.0.0", ImageType.OS, "linux", OSState.GENERALIZED, Source(vm="vm"), family="web",
                     extra=extra)


def image(**extra: Any) -> Image:
    return Image("web/1.0.0", ImageType.OS, "linux", OSState.GENERALIZED, family="web", extra=extra)


def compare(want: dict[str, Any], have: dict[str, Any], failures: dict[str, str] | None = None) -> Any:
    return v.compare(spec(**want), image(**have), v.VERSION_FIELDS, failures or {})


def test_region_names_are_canonical() -> None:
    assert [v.region(n) for n in ("West Europe", "westeurope", "EAST US 2", None)] == [
        "westeurope", "westeurope", "eastus2", ""]


def test_live_fields_are_canonical_and_compact() -> None:
    version = {"properties": {
        "publishingProfile": {"replicaCount": 2, "storageAccountType": "Standard_LRS", "replicationMode": "Shallow",
                              "endOfLifeDate": "2030-01-01T00:00:00+00:00", "excludeFromLatest": False,
                              "targetRegions": [
                                  {"name": "West Europe", "regionalReplicaCount": 2,
                                   "storageAccountType": "Standard_LRS"},
                                  {"name": "North Europe", "regionalReplicaCount": 3,
                                   "storageAccountType": "Premium_LRS", "excludeFromLatest": True}]},
        "safetyProfile": {"allowDeletionOfReplicatedLocations": True},
        "replicationStatus": {"summary": [{"region": "North Europe", "state": "Failed"}]}}}
    assert v.live_fields(version) == {
        "target_regions": [{"name": "westeurope"},
                           {"name": "northeurope", "replicas": 3, "storage": "Premium_LRS",
                            "exclude_from_latest": True}],
        "replica_count": 2, "storage_account_type": "Standard_LRS", "replication_mode": "shallow",
        "exclude_from_latest": False, "end_of_life_date": "2030-01-01",
        "allow_deletion_of_replicated_locations": True, "block_deletion_before_end_of_life": None}
    assert v.replication(version) == {"northeurope": "failed"}
    assert v.provisioning_state(version) == "Succeeded"


def test_undeclared_fields_are_not_compared() -> None:
    got = compare({}, {"replica_count": 3, "target_regions": [{"name": "westeurope"}]})
    assert (dict(got.before), dict(got.after), got.errors) == ({}, {}, ())


def test_declared_defaults_equal_what_azure_leaves_out() -> None:
    got = compare({"replica_count": 1, "exclude_from_latest": False, "replication_mode": "full",
                   "allow_deletion_of_replicated_locations": False, "block_deletion_before_end_of_life": False,
                   "storage_account_type": "Premium_LRS"}, {})
    assert got.before == got.after


def test_a_region_without_replicas_takes_the_declared_replica_count() -> None:
    have = {"replica_count": 2, "target_regions": [{"name": "westeurope", "replicas": 1}]}
    got = compare({"replica_count": 2, "target_regions": ["westeurope"]}, have)
    assert got.before["extra.target_regions"] == {"westeurope": {"replicas": 1}}
    assert got.after["extra.target_regions"] == {"westeurope": {"replicas": 2}}
    # Without replica_count declared, a region's replicas are unmanaged.
    got = compare({"target_regions": ["West Europe"]}, have)
    assert got.before == got.after == {"extra.target_regions": {"westeurope": {}}}


def test_a_region_storage_is_its_own_immutable_key() -> None:
    have = {"storage_account_type": "Standard_LRS", "target_regions": [{"name": "westeurope"}]}
    got = compare({"target_regions": [{"name": "westeurope", "storage": "Premium_LRS"}]}, have)
    assert (got.before[v.REGION_STORAGE], got.after[v.REGION_STORAGE]) == (
        {"westeurope": "standard_lrs"}, {"westeurope": "premium_lrs"})
    assert "region_storage" not in v.UPDATABLE
    # A new region's storage is part of adding it, not a change of an existing one.
    got = compare({"target_regions": ["westeurope", {"name": "eastus", "storage": "Premium_LRS"}]}, have)
    assert v.REGION_STORAGE not in got.after


def test_removing_a_region_sets_the_safety_flag_first_or_says_why_not() -> None:
    have = {"target_regions": [{"name": "westeurope"}, {"name": "northeurope"}]}
    got = compare({"target_regions": ["westeurope"]}, have)
    key = "extra.allow_deletion_of_replicated_locations"
    assert (got.before[key], got.after[key], got.errors) == (False, True, ())
    got = compare({"target_regions": ["westeurope"]}, {**have, "allow_deletion_of_replicated_locations": True})
    assert key not in got.after
    got = compare({"target_regions": ["westeurope"], "allow_deletion_of_replicated_locations": False}, have)
    assert [e[2] for e in got.errors] == ["azure-gallery-region-removal"] and "northeurope" in got.errors[0][0]


def test_failed_regions_are_drift_unless_removed() -> None:
    have = {"target_regions": [{"name": "westeurope"}, {"name": "northeurope"}]}
    got = compare({}, have, {"northeurope": "failed"})
    assert (got.before[v.REPLICATION], got.after[v.REPLICATION]) == ({"northeurope": "failed"},
                                                                      {"northeurope": "completed"})
    got = compare({"target_regions": ["westeurope"], "allow_deletion_of_replicated_locations": True}, have,
                  {"northeurope": "failed"})
    assert v.REPLICATION not in got.after


def test_wire_bodies() -> None:
    live = {"targetRegions": [{"name": "West Europe", "regionalReplicaCount": 3, "storageAccountType": "Standard_LRS"}]}
    body = v.declared_publishing({"target_regions": ["westeurope", {"name": "eastus", "storage": "standard_zrs"}],
                                  "storage_account_type": "Premium_LRS"}, live)
    assert body == {"targetRegions": [{"name": "westeurope", "regionalReplicaCount": 3,
                                       "storageAccountType": "Standard_LRS"},
                                      {"name": "eastus", "storageAccountType": "Standard_ZRS"}]}, "create-only left out"
    assert v.declared_publishing({"replication_mode": "shallow", "storage_account_type": "Premium_LRS"}) == {
        "replicationMode": "Shallow", "storageAccountType": "Premium_LRS"}
    body = v.declared_publishing({"target_regions": ["westeurope"], "replica_count": 2}, live)
    assert body["targetRegions"] == [{"name": "westeurope", "storageAccountType": "Standard_LRS"}]
    assert v.declared_safety({"allow_deletion_of_replicated_locations": True,
                              "block_deletion_before_end_of_life": False}) == {
        "allowDeletionOfReplicatedLocations": True, "blockDeletionBeforeEndOfLife": False}
    assert v.removed_regions({"target_regions": ["westeurope"]},
                             {"properties": {"publishingProfile": {"targetRegions": [
                                 {"name": "West Europe"}, {"name": "North Europe"}]}}}) == ["northeurope"]
    assert v.removed_regions({}, {}) == []


def test_a_region_named_twice_is_an_error() -> None:
    got = compare({"target_regions": ["westeurope", "West Europe"]}, {"target_regions": [{"name": "westeurope"}]})
    assert [e[2] for e in got.errors] == ["azure-gallery-regions"]
    assert v.duplicate_regions({"target_regions": ["westeurope", "northeurope"]}) is None
