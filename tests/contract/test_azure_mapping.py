"""Pure parts of the azure provider: capabilities per mode, plan-time checks, ARM <-> model mapping.

No HTTP here (these are plain functions); they sit beside the azure contract tests because they
describe the same provider.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from reconciler.errors import ReconcilerError
from reconciler.model import (
    VM,
    CatalogConfig,
    DesiredState,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    PowerState,
    Snapshot,
    Source,
)
from reconciler.plan import make_plan
from reconciler.providers import azure, capabilities_for


def spec(name: str = "img", **kw: Any) -> ImageSpec:
    kw.setdefault("type", ImageType.VM)
    kw.setdefault("os_state", OSState.GENERALIZED)
    kw.setdefault("source", Source(vm="vm1"))
    return ImageSpec(name=name, os="linux", **kw)


def codes(diags: list[Any]) -> list[str]:
    return sorted(d.code for d in diags)


def test_managed_mode_capabilities() -> None:
    caps = capabilities_for("azure", {"subscription": "s"})
    assert caps.mutable_fields == {"family", "label", "description", "recommended_vm_size", "tags", "protect"}
    assert caps.specialized_types == frozenset()
    assert caps.generalize and caps.vhd_source
    assert caps.capture_power_states == {PowerState.STOPPED, PowerState.DEALLOCATED}
    assert "generalized and unusable" in caps.consumes_vm
    assert set(caps.settings) >= {"subscription", "resource_group", "location", "gallery", "endpoint", "timeout",
                                  "poll_interval", "lock_storage_account", "lock_container", "lock_endpoint"}
    assert caps.extra_checks is not None


def test_gallery_mode_capabilities() -> None:
    caps = azure.capabilities({"gallery": "g"})
    assert "family" not in caps.mutable_fields
    assert {"extra.end_of_life_date", "extra.exclude_from_latest", "extra.target_regions",
            "extra.replica_count", "label", "tags", "protect"} <= caps.mutable_fields
    assert "extra.publisher" not in caps.mutable_fields
    assert caps.specialized_types == {ImageType.OS, ImageType.VM}
    assert {"end_of_life_date", "exclude_from_latest", "target_regions", "replica_count", "storage_account_type",
            "replication_mode", "allow_deletion_of_replicated_locations",
            "block_deletion_before_end_of_life"} <= set(caps.image_fields)
    assert {"extra.allow_deletion_of_replicated_locations", "extra.block_deletion_before_end_of_life"} <= \
        caps.mutable_fields
    assert not {"extra.storage_account_type", "extra.replication_mode"} & caps.mutable_fields
    assert caps.compare_extra is not None
    pattern = re.compile(caps.name_pattern or "")
    # Azure's rule (BEHAVIOURS.md row 16): three integers, each within 32 bits.
    for good in ("web-base/1.0.3", "a/0.0.0", "a/2147483647.2147483647.2147483647", "a/1234567890.0.1",
                 "a/007.0.0"):
        assert pattern.fullmatch(good), good
    for bad in ("web-base", "web-base/1.0", "web-base/v1.0.0", "/1.0.0", "a/2147483648.0.0", "a/0.0.9999999999",
                "a/1.0.0.0", "a/-1.0.0", "a/\u0661.0.0"):
        assert not pattern.fullmatch(bad), bad


def test_gallery_os_state_mismatch_with_definition_is_a_plan_error() -> None:
    existing = Image(name="web/1.0.0", type=ImageType.VM, os="linux", os_state=OSState.GENERALIZED,
                     facts=azure.GalleryDefinition("web", OSState.GENERALIZED))
    snap = Snapshot(images=(existing,), vms=(VM("vm1", "linux", PowerState.STOPPED, OSState.SPECIALIZED),))
    diags = azure.plan_checks(spec("web/2.0.0", family="web", os_state=OSState.SPECIALIZED), snap, gallery=True)
    assert codes(diags) == ["azure-gallery-os-state", "azure-gallery-os-state"]
    # The VM will be generalized first: no mismatch.
    ok = azure.plan_checks(spec("web/2.0.0", family="web", source=Source(vm="vm1", generalize=True)), snap,
                           gallery=True)
    assert ok == []


def test_gallery_vm_state_must_match_a_new_definition() -> None:
    snap = Snapshot(vms=(VM("vm1", "linux", PowerState.STOPPED, OSState.SPECIALIZED),))
    diags = azure.plan_checks(spec("new/1.0.0", family="new", os_state=OSState.GENERALIZED), snap, gallery=True)
    assert codes(diags) == ["azure-gallery-os-state"]
    assert "BadRequest" in diags[0].summary


def test_gallery_family_and_definition_fields() -> None:
    existing = Image(name="web/1.0.0", type=ImageType.VM, os="linux", os_state=OSState.GENERALIZED,
                     facts=azure.GalleryDefinition("web", OSState.GENERALIZED, publisher="contoso"))
    snap = Snapshot(images=(existing,))
    diags = azure.plan_checks(spec("web/2.0.0", family="other"), snap, gallery=True)
    assert codes(diags) == ["azure-gallery-family"]
    unset = azure.plan_checks(spec("web/2.0.0"), snap, gallery=True)
    assert codes(unset) == ["azure-gallery-family"] and unset[0].hint == "set family: web"


def test_reserved_tags_and_tag_limits() -> None:
    diags = azure.plan_checks(spec(tags={"reconciler-catalog": "x"}, description="d" * 300), Snapshot(),
                              gallery=False)
    assert codes(diags) == ["azure-reserved-tag", "azure-tag-limit"]
    many = {f"t{i}": "v" for i in range(48)}
    assert codes(azure.plan_checks(spec(tags=many), Snapshot(), gallery=False)) == ["azure-tag-limit"]


@pytest.mark.parametrize(
    ("source", "gallery", "expected"),
    [
        (Source(vhd="https://acct01.blob.core.windows.net/vhds/a.vhd"), False, []),
        (Source(vhd="https://example.com/a.vhd"), False, ["azure-vhd-url"]),
        (Source(vhd="https://acct01.blob.core.windows.net/vhds/a.vhd", storage_account="other"), False,
         ["azure-vhd-account"]),
        (Source(vhd="https://acct01.blob.core.windows.net/vhds/a.vhd"), True, ["azure-vhd-account"]),
        (Source(vhd="https://acct01.blob.core.windows.net/vhds/a.vhd",
                storage_account="/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/acct01"),
         True, []),
    ],
)
def test_vhd_sources(source: Source, gallery: bool, expected: list[str]) -> None:
    name = "d/1.0.0" if gallery else "img"
    s = spec(name, type=ImageType.OS, source=source, family="d" if gallery else None)
    assert codes(azure.plan_checks(s, Snapshot(), gallery=gallery)) == expected


def test_managed_image_round_trip_through_tags() -> None:
    s = spec("web", family="web-base", label="L", description="D", recommended_vm_size="Standard_D2s_v5",
             tags={"team": "web"}, protect=True, type=ImageType.VM)
    tags = azure.build_tags(s, "platform")
    res = {"id": "/x/images/web", "name": "web", "tags": tags,
           "properties": {"sourceVirtualMachine": {"id": "/x/virtualMachines/vm1"},
                          "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized"},
                                             "dataDisks": []}}}
    image = azure.image_from_managed(res)
    assert (image.family, image.label, image.description, image.recommended_vm_size) == (
        "web-base", "L", "D", "Standard_D2s_v5")
    assert (image.owner, image.protected, dict(image.tags)) == ("platform", True, {"team": "web"})
    # Declared as a VM image: stays one even without data disks (no endless replace).
    assert image.type is ImageType.VM and image.data_disks == 0
    assert image.source == Source(vm="vm1")
    assert image.fingerprint.startswith("sha256:")
    assert azure.image_from_managed({**res, "etag": "W/1"}).fingerprint == "etag:W/1"


def test_a_declared_spec_plans_no_changes_against_its_own_image() -> None:
    """The planner's view: capturing a spec and reading it back compares equal, in both modes."""
    for gallery, name in ((False, "web"), (True, "web/1.0.0")):
        s = spec(name, family="web" if gallery else "fam", label="L", tags={"a": "b"},
                 extra={"replica_count": 2} if gallery else {})
        tags = azure.build_tags(s, "platform", gallery=gallery)
        if gallery:
            definition = {"name": "web", "properties": {"osType": "Linux", "osState": "Generalized"}}
            version = {"name": "1.0.0", "tags": tags, "properties": {
                "storageProfile": {"source": {"virtualMachineId": "/x/virtualMachines/vm1"}, "dataDiskImages": []},
                "publishingProfile": {"replicaCount": 2, "targetRegions": [{"name": "westeurope",
                                                                            "regionalReplicaCount": 2}]}}}
            image = azure.image_from_version(definition, version)
        else:
            image = azure.image_from_managed({"name": "web", "tags": tags, "properties": {
                "sourceVirtualMachine": {"id": "/x/virtualMachines/vm1"},
                "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized"}}}})
        caps = azure.capabilities({"gallery": "g"} if gallery else {})
        desired = DesiredState(CatalogConfig("platform", "azure"), Policy(), (s,), "d")
        plan = make_plan(desired, Snapshot(images=(image,)), caps)
        assert not plan.has_changes, [(c.action, c.fields) for c in plan.changes]


def test_vm_from_resource_reads_instance_view() -> None:
    res = {"id": "/x/virtualMachines/vm1", "name": "vm1", "properties": {
        "storageProfile": {"osDisk": {"osType": "Windows", "name": "os1"},
                           "dataDisks": [{"lun": 1, "name": "b"}, {"lun": 0, "name": "a"}]},
        "instanceView": {"statuses": [{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/stopped"},
                                      {"code": "OSState/generalized"}]}}}
    vm = azure.vm_from_resource(res, None)
    assert (vm.os, vm.power_state, vm.os_state, vm.os_disk, vm.data_disks) == (
        "windows", PowerState.STOPPED, OSState.GENERALIZED, "os1", ("a", "b"))
    other = azure.vm_from_resource(res, {"statuses": [{"code": "PowerState/running"}]})
    assert other.power_state is PowerState.RUNNING and other.fingerprint != vm.fingerprint


def test_static_token_wins_and_missing_azure_identity_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert azure.token_provider({"AZURE_ACCESS_TOKEN": "tok"})() == "tok"
    # Simulate an installation without the extra: the import of azure.identity fails.
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(ReconcilerError) as e:
        azure.token_provider({})
    assert "pip install 'reconciler[azure]'" in e.value.hint
