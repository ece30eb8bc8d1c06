"""Capture sources beyond VMs in the pure core (issue 10 §3): which resources a source reads
(``Source.disk_refs``), their fingerprints in the snapshot and the plan, and saved-plan staleness;
and the azure provider's reading of a disk, snapshot or managed image resource (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.model import (
    VM,
    CaptureSource,
    CatalogConfig,
    DesiredState,
    ImageSpec,
    ImageType,
    OSState,
    Plan,
    Policy,
    PowerState,
    Snapshot,
    Source,
    capture_source_key,
)
from reconciler.plan import make_plan
from reconciler.planfile import stale_reasons
from reconciler.providers.azure.caps import capabilities
from reconciler.providers.azure.sources import security_type, source_from_resource
from reconciler.providers.azure.vmfacts import VmFacts


def test_disk_refs_name_the_os_source_then_the_data_snapshots() -> None:
    assert Source(vm="build").disk_refs() == ()
    assert Source(vhd="https://a.blob.core.windows.net/c/x.vhd").disk_refs() == ()
    assert Source(image="golden").disk_refs() == (("image", "golden"),)
    assert Source(snapshot="s", data_snapshots=("d0", "d1")).disk_refs() == (
        ("snapshot", "s"), ("snapshot", "d0"), ("snapshot", "d1"))
    assert Source(disk="os", data_snapshots=("d0",)).disk_refs() == (("disk", "os"), ("snapshot", "d0"))
    # A promotion is another catalog's image, read as an origin (issue 11 §1), not here.
    assert Source(image="dev:web/1.0.0").disk_refs() == ()
    assert Source(image="/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/d/"
                        "versions/1.0.0").disk_refs() == ()


def test_capture_source_key_casefolds_the_ref() -> None:
    assert capture_source_key("snapshot", "Snap-OS") == "snapshot:snap-os"
    assert capture_source_key("disk", "/Subscriptions/X/d") == "disk:/subscriptions/x/d"


def test_snapshot_fingerprints_list_capture_sources_missing_as_empty() -> None:
    snap = Snapshot(capture_sources={"snapshot:a": CaptureSource("snapshot", "a", fingerprint="fp-a"),
                                     "disk:gone": None})
    fps = snap.fingerprints()
    assert fps["source:snapshot:a"] == "fp-a" and fps["source:disk:gone"] == ""
    assert not any(k.startswith("source:") for k in Snapshot().fingerprints())


SPEC = ImageSpec(name="img", type=ImageType.VM, os="linux", os_state=OSState.GENERALIZED,
                 source=Source(snapshot="Snap-A", data_snapshots=("d0",)))


def _desired(*specs: ImageSpec) -> DesiredState:
    return DesiredState(catalog=CatalogConfig(name="platform", provider="azure"), policy=Policy(), images=specs,
                        digest="d")


def _plan(snapshot: Snapshot, *specs: ImageSpec) -> dict[str, str]:
    caps = capabilities({"location": "westeurope"})
    return dict(make_plan(_desired(*specs), snapshot, caps).fingerprints)


def test_a_plan_records_the_fingerprints_of_the_sources_it_read() -> None:
    read = {"snapshot:snap-a": CaptureSource("snapshot", "Snap-A", fingerprint="fp-a",
                                             facts=VmFacts(hyper_v_generation="V1")),
            "snapshot:d0": None}
    fps = _plan(Snapshot(capture_sources=read), replace(SPEC, extra={"hyper_v_generation": "V1"}))
    assert fps["source:snapshot:snap-a"] == "fp-a"
    assert fps["source:snapshot:d0"] == ""
    # Not read: nothing recorded (the provider checks nothing, a saved plan compares nothing).
    assert not any(k.startswith("source:") for k in _plan(Snapshot(), SPEC))
    # Read for another spec only: the spec's own keys, "" where absent.
    other = _plan(Snapshot(capture_sources={}), SPEC)
    assert {k: v for k, v in other.items() if k.startswith("source:")} == {
        "source:snapshot:snap-a": "", "source:snapshot:d0": ""}


def _saved(fingerprints: dict[str, str]) -> Plan:
    caps = capabilities({"location": "westeurope"})
    plan = make_plan(_desired(), Snapshot(), caps)
    return replace(plan, fingerprints=fingerprints)


@pytest.mark.parametrize(("was", "now", "reasons"), [
    ("fp", "fp", []),
    ("fp", "fp2", ["source snapshot 'snap-a' changed since the plan was made"]),
    ("fp", None, ["source snapshot 'snap-a' was deleted"]),
    ("fp", "absent", ["source snapshot 'snap-a' was deleted"]),
    ("", None, []),
    ("", "absent", []),
    ("", "fp", ["source snapshot 'snap-a' appeared"]),
])
def test_staleness_of_a_capture_source(was: str, now: str | None, reasons: list[str]) -> None:
    plan = _saved({"source:snapshot:snap-a": was})
    sources: dict[str, CaptureSource | None] = {}
    if now == "absent":
        sources["snapshot:snap-a"] = None
    elif now is not None:
        sources["snapshot:snap-a"] = CaptureSource("snapshot", "snap-a", fingerprint=now)
    assert stale_reasons(plan, Snapshot(capture_sources=sources)) == reasons


def test_a_source_key_without_a_kind_still_reads() -> None:
    plan = _saved({"source:odd": "fp"})
    assert stale_reasons(plan, Snapshot()) == ["source odd '' was deleted"]


@pytest.mark.parametrize(("wire", "canonical"), [
    (None, "Standard"), ({}, "Standard"), ({"securityType": "Standard"}, "Standard"),
    ({"securityType": "trustedlaunch"}, "TrustedLaunch"),
    ({"securityType": "ConfidentialVM_DiskEncryptedWithCustomerKey"}, "ConfidentialVM"),
    ({"securityType": "ConfidentialVM_NonPersistedTPM"}, "ConfidentialVM"),
    ({"securityType": "SomethingNew"}, "SomethingNew"), ("odd", "Standard"),
])
def test_disk_security_types(wire: object, canonical: str) -> None:
    assert security_type(wire) == canonical


def test_a_snapshot_resource_as_read() -> None:
    res = {"id": "/x/snapshots/s", "name": "s", "etag": "e1", "properties": {
        "osType": "Windows", "hyperVGeneration": "v2", "provisioningState": "Succeeded", "diskState": "Unattached",
        "securityProfile": {"securityType": "TrustedLaunch"},
        "supportedCapabilities": {"architecture": "Arm64", "diskControllerTypes": "NVMe"}}}
    got = source_from_resource("snapshot", "S", res)
    assert (got.kind, got.ref, got.name, got.id, got.os, got.state, got.ready, got.fingerprint) == (
        "snapshot", "S", "s", "/x/snapshots/s", "windows", "Succeeded", None, "etag:e1")
    assert got.facts == VmFacts(hyper_v_generation="V2", security_type="TrustedLaunch", architecture="Arm64",
                                disk_controller="NVMe")
    both = source_from_resource("disk", "d", {"properties": {"supportedCapabilities": {
        "architecture": "x64", "diskControllerTypes": "SCSI, NVMe"}, "diskState": "ActiveUpload"}})
    assert both.facts == VmFacts() and both.os == "" and both.state == ""
    assert both.ready == "its diskState is ActiveUpload (an upload that has not finished)"
    assert source_from_resource("disk", "d", {"properties": {"diskState": "readytoupload"}}).ready is not None
    assert source_from_resource("disk", "d", {"properties": {"diskState": "Attached"}}).ready is None


def test_a_managed_image_resource_as_read() -> None:
    res = {"name": "g", "properties": {"hyperVGeneration": "V2", "provisioningState": "Succeeded",
                                       "storageProfile": {"osDisk": {"osType": "Linux"}},
                                       "securityProfile": {"securityType": "TrustedLaunch"}}}
    got = source_from_resource("image", "g", res, '{"name": "g"}')
    assert got.facts == VmFacts(hyper_v_generation="V2") and got.os == "linux" and got.ready is None
    assert got.fingerprint.startswith("sha256:")
    assert source_from_resource("image", "g", {}).facts == VmFacts()


def test_a_vm_or_image_fingerprint_that_became_empty_is_a_change_not_a_deletion() -> None:
    # Only a capture source's "" means gone; a VM's or image's "" is a value like any other.
    vm = VM(name="v", os="linux", power_state=PowerState.DEALLOCATED, fingerprint="")
    assert stale_reasons(_saved({"vm:v": "fp"}), Snapshot(vms=(vm,))) == ["VM 'v' changed since the plan was made"]
