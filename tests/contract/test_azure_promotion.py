"""Promotion across resource groups and subscriptions, over real HTTP against the ARM emulator (issue 11 §1).

A dev gallery in ``rg-dev`` holds ``web-base/1.4.0``; the prod catalog (gallery ``prod`` in
``rg-images``) declares it with ``source: {image: dev:web-base/1.4.0}`` and a ``promote_when`` gate.
The plan reads the source (``Provider.origins``), waits while the gate is not met, then creates a
version whose ``storageProfile.source.id`` is the dev version's id; the dev gallery is only read.
The source's state, replication to the catalog's region and definition are checked at plan time,
and the emulator refuses the same (docs/arm-emulator.md "Promotion"), except that whether Azure
refuses a source not replicated to the catalog's region is unverified: that case runs under both
values of ``Faults.promotion_region``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.apply import apply_plan
from reconciler.emulators.arm import ArmEmulator
from reconciler.errors import ProviderError
from reconciler.model import Action
from reconciler.operations.saved import read_snapshot
from reconciler.plan import make_plan
from reconciler.providers import azure
from reconciler.spec import parse_spec

from .harness_azure_managed import LOCATION, RG, SUB, FakeClock
from .test_azure_provider import open_azure

DEV_RG = "rg-dev"
DEV_RP = f"/subscriptions/{SUB}/resourceGroups/{DEV_RG}/providers/Microsoft.Compute"
DEV = f"{DEV_RP}/galleries/dev"
PROD = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/prod"
PUBLISHED = "2026-11-28T00:00:00Z"


def gallery(path: str, name: str) -> dict[str, Any]:
    return {"id": path, "name": name, "type": "Microsoft.Compute/galleries", "location": LOCATION,
            "properties": {"identifier": {"uniqueName": f"{SUB}-{name.upper()}"}, "provisioningState": "Succeeded"}}


def definition(path: str, name: str, generation: str = "V2") -> dict[str, Any]:
    return {"id": f"{path}/images/{name}", "name": name, "type": "Microsoft.Compute/galleries/images",
            "location": LOCATION, "tags": {},
            "properties": {"osType": "Linux", "osState": "Generalized", "hyperVGeneration": generation,
                           "identifier": {"publisher": "dev", "offer": name, "sku": name},
                           "provisioningState": "Succeeded"}}


def version(path: str, name: str, regions: list[str], tags: dict[str, str] | None = None,
            state: str = "Succeeded") -> dict[str, Any]:
    d, v = name.split("/")
    return {"id": f"{path}/images/{d}/versions/{v}", "name": v,
            "type": "Microsoft.Compute/galleries/images/versions", "location": LOCATION,
            "tags": {azure.TAG_OWNER: "dev", azure.TAG_TYPE: "os", **(tags or {})},
            "properties": {"publishingProfile": {"targetRegions": [{"name": r, "regionalReplicaCount": 1,
                                                                    "storageAccountType": "Standard_LRS"}
                                                                   for r in regions],
                                                 "replicaCount": 1, "publishedDate": PUBLISHED},
                           "storageProfile": {"source": {"virtualMachineId": f"{DEV_RP}/virtualMachines/build"},
                                              "osDiskImage": {"hostCaching": "ReadWrite", "sizeInGB": 30}},
                           "provisioningState": state}}


@pytest.fixture
def world() -> Iterator[tuple[ArmEmulator, azure.AzureProvider]]:
    fake = FakeClock()
    resources = [
        gallery(DEV, "dev"), gallery(PROD, "prod"),
        definition(DEV, "web-base"), definition(DEV, "app-base"),
        version(DEV, "web-base/1.4.0", ["West Europe"], {"validated": "true"}),
        version(DEV, "web-base/1.5.0", ["East US"], {"validated": "true"}),
        version(DEV, "app-base/2.0.0", ["West Europe"], {"validated": "true"}),
        definition(PROD, "app-base", generation="V1"),
        version(PROD, "app-base/1.0.0", ["West Europe"]),  # a definition the snapshot knows through a version
    ]
    with ArmEmulator({"resources": resources}, page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery="prod", location=LOCATION)
        try:
            yield emu, p
        finally:
            p.close()


def desired(emu: ArmEmulator, *images: tuple[str, str], gate: str = "") -> Any:
    lines = ["version: 1", "catalog:", "  name: platform", "  provider: azure", f"  subscription: {SUB}",
             f"  resource_group: {RG}", f"  location: {LOCATION}", "  gallery: prod", f"  endpoint: {emu.url}",
             "sources:", f"  dev: {{resource_group: {DEV_RG}, gallery: dev}}", "images:"]
    for name, ref in images:
        lines += [f"  - name: {name}", "    type: os", "    os: linux", f"    source: {{image: '{ref}'}}"]
        if gate:
            lines.append(f"    promote_when: {gate}")
    return parse_spec(("\n".join(lines) + "\n").encode(), "images.yaml")


def plan_at(p: azure.AzureProvider, state: Any, now: str) -> Any:
    return make_plan(state, read_snapshot(state, p), p.capabilities,
                     now=datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(UTC))


GATE = '{min_age: 72h, tags: {validated: "true"}}'


def test_a_promotion_waits_for_its_gate_then_copies_across_resource_groups(world) -> None:
    emu, p = world
    state = desired(emu, ("web-base/1.4.0", "dev:web-base/1.4.0"), gate=GATE)
    dev_before = emu.backend.get(f"{DEV}/images/web-base/versions/1.4.0")

    early = plan_at(p, state, "2026-11-28T20:00:00Z")
    assert early.applyable and not early.pending and not early.has_changes
    (waiting,) = early.waiting
    assert waiting.name == "web-base/1.4.0" and waiting.action is Action.CAPTURE
    assert waiting.waiting == "dev:web-base/1.4.0 is 20h old, needs 72h"

    due = plan_at(p, state, "2026-12-01T00:00:00Z")
    (change,) = due.pending
    assert change.action is Action.CAPTURE and not change.destructive and change.consumes_vm is None
    assert change.steps == ("create definition web-base (V2, Standard, x64)", "copy image from dev:web-base/1.4.0")
    result = apply_plan(due, p, parallelism=2)
    assert result.ok, [r.error for r in result.results]

    made = emu.backend.get(f"{PROD}/images/web-base/versions/1.4.0")
    assert made is not None
    source_id = made["properties"]["storageProfile"]["source"]["id"]
    assert source_id.lower() == f"{DEV}/images/web-base/versions/1.4.0".lower()
    prod_def = emu.backend.get(f"{PROD}/images/web-base")
    assert prod_def is not None and prod_def["properties"]["hyperVGeneration"] == "V2"
    assert emu.backend.get(f"{DEV}/images/web-base/versions/1.4.0") == dev_before  # the source is only read

    again = plan_at(p, state, "2026-12-01T00:00:00Z")
    assert [c.action for c in again.changes] == [Action.NOOP] and not again.all_errors and not again.waiting


def test_a_missing_tag_is_named_and_a_missing_source_is_an_error(world) -> None:
    emu, p = world
    state = desired(emu, ("web-base/1.4.0", "dev:web-base/1.4.0"), ("web-base/9.9.9", "dev:web-base/9.9.9"),
                    gate='{tags: {approved: "yes"}}')
    plan = plan_at(p, state, "2026-12-01T00:00:00Z")
    by = {c.name: c for c in plan.changes}
    assert by["web-base/1.4.0"].waiting == "dev:web-base/1.4.0 has no tag approved (needs approved=yes)"
    (err,) = by["web-base/9.9.9"].errors
    assert err.code == "promotion-source-missing" and "sources.dev" in err.summary
    assert by["web-base/9.9.9"].waiting is None


@pytest.mark.parametrize("azure_region_rule", ["refuse", "allow"])
def test_a_source_not_replicated_to_the_catalog_region_is_refused_by_plan_whatever_azure_does(
        world, azure_region_rule: str) -> None:
    """Whether Azure itself refuses a source not replicated to the new version's region is unverified
    (``Faults.promotion_region``): the plan refuses it either way (our safety rule); the emulator
    refuses it, or copies it."""
    emu, p = world
    emu.faults.update({"promotion_region": azure_region_rule})
    state = desired(emu, ("web-base/1.5.0", "dev:web-base/1.5.0"))
    plan = plan_at(p, state, "2026-12-01T00:00:00Z")
    (change,) = plan.changes
    assert [e.code for e in change.errors] == ["azure-promotion-region"]
    assert "not replicated to westeurope" in change.errors[0].summary
    assert not plan.applyable
    made = f"{PROD}/images/web-base/versions/1.5.0"
    if azure_region_rule == "refuse":
        with pytest.raises(ProviderError) as e:
            p.capture(state.images[0])  # straight to the emulator: it refuses the same
        assert e.value.status == 400 and "not replicated to region 'westeurope'" in str(e.value)
        assert emu.backend.get(made) is None
    else:
        p.capture(state.images[0])  # a lenient Azure copies it: only the plan check stands in the way
        got = emu.backend.get(made)
        assert got is not None and got["properties"]["provisioningState"] == "Succeeded"
        assert got["properties"]["storageProfile"]["source"]["id"].lower() == \
            f"{DEV}/images/web-base/versions/1.5.0".lower()


def test_a_definition_of_another_generation_is_refused_by_plan_and_by_azure(world) -> None:
    emu, p = world
    state = desired(emu, ("app-base/2.0.0", "dev:app-base/2.0.0"))
    snapshot = read_snapshot(state, p)
    plan = make_plan(state, snapshot, p.capabilities, now=datetime(2026, 12, 1, tzinfo=UTC))
    (change,) = plan.changes
    codes = [e.code for e in change.errors]
    assert "azure-promotion-definition" in codes, change.errors
    with pytest.raises(ProviderError) as e:
        p.capture(state.images[0])
    assert e.value.status == 409 and "Hypervisor generation ['V2']" in str(e.value)


def test_a_full_version_id_promotes_without_a_sources_entry(world) -> None:
    emu, p = world
    ref = f"{DEV}/images/web-base/versions/1.4.0"
    state = desired(emu, ("web-base/1.4.0", ref))
    plan = plan_at(p, state, "2026-12-01T00:00:00Z")
    (change,) = plan.pending
    assert change.action is Action.CAPTURE and not change.errors
    assert apply_plan(plan, p, parallelism=1).ok
    made = emu.backend.get(f"{PROD}/images/web-base/versions/1.4.0")
    assert made is not None and made["properties"]["storageProfile"]["source"]["id"].lower() == ref.lower()


def test_a_source_on_another_endpoint_is_never_sent_the_credential(world) -> None:
    emu, p = world
    text = (f"version: 1\ncatalog: {{name: platform, provider: azure, subscription: {SUB}, resource_group: {RG},"
            f" location: {LOCATION}, gallery: prod, endpoint: '{emu.url}'}}\n"
            "sources:\n  dev: {resource_group: rg-dev, gallery: dev, endpoint: 'https://evil.example.com'}\n"
            "images:\n  - {name: web-base/1.4.0, type: os, os: linux, source: {image: 'dev:web-base/1.4.0'}}\n")
    from reconciler.errors import SpecError

    with pytest.raises(SpecError) as e:
        parse_spec(text.encode(), "images.yaml")
    (d,) = [d for d in e.value.diagnostics() if "sources.dev" in d.summary]
    assert d.location is not None and d.location.json_path == "$.sources.dev.endpoint"


def test_a_promotion_across_subscriptions() -> None:
    fake = FakeClock()
    other = "00000000-0000-4000-8000-0000000000aa"
    rp = f"/subscriptions/{other}/resourceGroups/rg-shared/providers/Microsoft.Compute/galleries/shared"
    resources = [gallery(rp, "shared"), gallery(PROD, "prod"), definition(rp, "web-base"),
                 version(rp, "web-base/1.4.0", ["westeurope"])]
    with ArmEmulator({"resources": resources}, page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery="prod", location=LOCATION)
        try:
            text = (f"version: 1\ncatalog: {{name: platform, provider: azure, subscription: {SUB},"
                    f" resource_group: {RG}, location: {LOCATION}, gallery: prod, endpoint: '{emu.url}'}}\n"
                    f"sources:\n  shared: {{subscription: {other}, resource_group: rg-shared, gallery: shared}}\n"
                    "images:\n  - {name: web-base/1.4.0, type: os, os: linux,"
                    " source: {image: 'shared:web-base/1.4.0'}}\n")
            state = parse_spec(text.encode(), "images.yaml")
            plan = plan_at(p, state, "2026-12-01T00:00:00Z")
            assert plan.applyable and [c.action for c in plan.pending] == [Action.CAPTURE]
            assert apply_plan(plan, p, parallelism=1).ok
            made = emu.backend.get(f"{PROD}/images/web-base/versions/1.4.0")
            assert made is not None
            assert made["properties"]["storageProfile"]["source"]["id"].lower() == \
                f"{rp}/images/web-base/versions/1.4.0".lower()
            assert [c.action for c in plan_at(p, state, "2026-12-02T00:00:00Z").changes] == [Action.NOOP]
        finally:
            p.close()


def test_a_promotion_carries_what_the_copy_will_store_and_the_copy_stores_it() -> None:
    """Issue 11 §5: the source's one copy (its footprint over its replicas x regions, as ARM
    answers them) x the target's declared replicas and regions; the version made reads back with
    the same footprint."""
    fake = FakeClock()
    source = version(DEV, "web-base/1.4.0", ["West Europe", "North Europe"])
    profile = source["properties"]["publishingProfile"]
    profile["replicaCount"] = 2
    for r in profile["targetRegions"]:
        r["regionalReplicaCount"] = 2
    source["properties"]["storageProfile"]["osDiskImage"]["sizeInGB"] = 40
    resources = [gallery(DEV, "dev"), gallery(PROD, "prod"), definition(DEV, "web-base"), source]
    with ArmEmulator({"resources": resources}, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery="prod", location=LOCATION)
        try:
            text = "\n".join([
                "version: 1", "catalog:", "  name: platform", "  provider: azure", f"  subscription: {SUB}",
                f"  resource_group: {RG}", f"  location: {LOCATION}", "  gallery: prod", f"  endpoint: {emu.url}",
                "sources:", f"  dev: {{resource_group: {DEV_RG}, gallery: dev}}", "images:",
                "  - name: web-base/1.4.0", "    type: os", "    os: linux",
                "    source: {image: 'dev:web-base/1.4.0'}",
                "    target_regions: [westeurope, {name: eastus, replicas: 3, storage: Premium_LRS}]", ""])
            state = parse_spec(text.encode(), "images.yaml")
            plan = plan_at(p, state, "2026-12-01T00:00:00Z")
            (change,) = plan.pending
            assert change.action is Action.CAPTURE and not change.errors
            # 4 copies of 40 GiB at the source (160 GiB); 1 + 3 copies here, by storage type
            assert change.stored == {"Standard_LRS": 40.0, "Premium_LRS": 120.0}
            assert plan.storage()["stored"] == {"Standard_LRS": 40.0, "Premium_LRS": 120.0}
            assert apply_plan(plan, p, parallelism=1).ok
            (made,) = [i for i in read_snapshot(state, p).images if i.name == "web-base/1.4.0"]
            assert made.footprint == change.stored
        finally:
            p.close()
