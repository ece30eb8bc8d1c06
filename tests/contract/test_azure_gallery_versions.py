"""Gallery versions over the ARM emulator (real HTTP on loopback): replication, canonical region
names, the safety profile, failed provisioning and replication, declared vs live (issue 10 §3).

Each test plans with ``make_plan`` over the provider's snapshot and applies with ``apply_plan``,
as ``reconciler apply`` does; "converges" means the plan after the apply is empty. Where Azure's
behaviour is unverified the emulator offers both (``Faults.region_removal``,
``Faults.replication_failure``) and the test runs against both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.apply import apply_plan
from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.model import Action, CatalogConfig, DesiredState, ImageSpec, Plan, Policy
from reconciler.plan import make_plan
from reconciler.providers import azure
from reconciler.render import render_images_json, render_images_table

from .harness_azure_gallery import GALLERY, NameMap, gallery_state
from .harness_azure_managed import FakeClock
from .seed import OWNER, SEED
from .test_azure_provider import open_azure, spec

VM = "vm-gen-os"  # generalized, deallocated, V1 (seed.py)


@pytest.fixture
def env() -> Iterator[tuple[ArmEmulator, Any]]:
    fake = FakeClock()
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def version(name: str = "app/1.0.0", **extra: Any) -> ImageSpec:
    return spec(name, VM, family=name.split("/")[0], extra=extra)


def plan_of(p: Any, *specs: ImageSpec) -> Plan:
    desired = DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=Policy(),
                           images=specs, digest="d")
    return make_plan(desired, p.snapshot(), p.capabilities)


def pending(p: Any, *specs: ImageSpec) -> list[tuple[str, Action, str]]:
    return [(c.name, c.action, c.reason) for c in plan_of(p, *specs).pending]


def converge(p: Any, *specs: ImageSpec) -> Plan:
    """Plan and apply ``specs``; the plan applied (the next plan must be empty)."""
    plan = plan_of(p, *specs)
    assert not plan.errored, plan.all_errors
    result = apply_plan(plan, p, parallelism=4)
    assert result.ok, [r.error for r in result.results if r.error]
    assert pending(p, *specs) == []
    return plan


def live(emu: ArmEmulator, name: str = "app/1.0.0") -> dict[str, Any]:
    d, v = azure.split_gallery_name(name)
    return next(r for r in emu.dump_state()["resources"] if r["id"].lower().endswith(f"/images/{d}/versions/{v}"))


# --------------------------------------------------------------------------------------------------
# Regions, replicas, declared defaults


def test_regions_answered_by_display_name_plan_no_change(env: tuple[ArmEmulator, Any]) -> None:
    emu, p = env
    s = version(target_regions=["westeurope", {"name": "northeurope", "replicas": 2}, "East US 2"])
    converge(p, s)
    raw = emu.backend.render(emu.backend.get(live(emu)["id"]) or {}, {})
    names = [r["name"] for r in raw["properties"]["publishingProfile"]["targetRegions"]]
    assert names == ["West Europe", "North Europe", "East US 2"], "the emulator answers display names"
    assert pending(p, s) == []
    # Written in any spelling, a region is the same region.
    assert pending(p, version(target_regions=["West Europe", {"name": "NorthEurope", "replicas": 2}, "eastus2"])) == []


def test_declaring_the_default_or_the_live_value_is_no_change(env: tuple[ArmEmulator, Any]) -> None:
    _, p = env
    converge(p, version())
    # Azure fills these in; declared with the same value they are no change.
    for extra in ({"target_regions": [{"name": "westeurope", "replicas": 1}]}, {"replica_count": 1},
                  {"exclude_from_latest": False}, {"allow_deletion_of_replicated_locations": False},
                  {"block_deletion_before_end_of_life": False}, {"replication_mode": "full"},
                  {"storage_account_type": "Standard_LRS"}, {"hyper_v_generation": "V1"},
                  {"target_regions": ["westeurope"], "replica_count": 1}):
        assert pending(p, version(**extra)) == [], extra


def test_updatable_fields_change_in_place_and_the_rest_replace(env: tuple[ArmEmulator, Any]) -> None:
    emu, p = env
    converge(p, version())
    s = version(target_regions=["westeurope", {"name": "northeurope", "replicas": 3, "exclude_from_latest": True}],
                replica_count=2, end_of_life_date="2030-01-01", exclude_from_latest=True,
                block_deletion_before_end_of_life=True)
    plan = converge(p, s)
    assert [c.action for c in plan.pending] == [Action.UPDATE]
    props = live(emu)["properties"]
    assert props["safetyProfile"]["blockDeletionBeforeEndOfLife"] is True
    regions = {r["name"]: r for r in props["publishingProfile"]["targetRegions"]}
    assert regions["westeurope"]["regionalReplicaCount"] == 2, "a region without replicas takes replica_count"
    assert regions["northeurope"]["regionalReplicaCount"] == 3 and regions["northeurope"]["excludeFromLatest"]
    for extra in ({"storage_account_type": "Premium_LRS"}, {"replication_mode": "shallow"},
                  {"target_regions": [{"name": "westeurope", "storage": "Standard_ZRS"}]}):
        (change,) = plan_of(p, version(**{**s.extra, **extra})).pending
        assert change.action is Action.REPLACE, extra


# --------------------------------------------------------------------------------------------------
# Safety profile: removing a replicated region (BEHAVIOURS.md row 8; the refusal unverified: both)


@pytest.mark.parametrize("removal", ["refuse", "allow"])
def test_region_removal_sets_the_safety_flag_first(removal: str) -> None:
    fake = FakeClock()
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock,
                     faults=Faults(region_removal=removal)) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            converge(p, version(target_regions=["westeurope", "northeurope"]))
            assert live(emu)["properties"]["safetyProfile"]["allowDeletionOfReplicatedLocations"] is False
            s = version(target_regions=["westeurope"])
            (change,) = plan_of(p, s).pending
            flag = [f for f in change.fields if f.path == "extra.allow_deletion_of_replicated_locations"]
            assert [(f.before, f.after) for f in flag] == [(False, True)], "the plan shows the flag set first"
            converge(p, s)
            props = live(emu)["properties"]
            assert [r["name"] for r in props["publishingProfile"]["targetRegions"]] == ["westeurope"]
            patches = [r for r in emu.requests if r.method == "PATCH" and "/versions/" in r.path]
            assert patches[0].body["properties"]["safetyProfile"] == {"allowDeletionOfReplicatedLocations": True}
            # Declared false, the removal cannot be made: the plan says why.
            converge(p, version(target_regions=["westeurope", "northeurope"]))
            converge(p, version(target_regions=["westeurope", "northeurope"],
                                allow_deletion_of_replicated_locations=False))
            refused = plan_of(p, version(target_regions=["westeurope"], allow_deletion_of_replicated_locations=False))
            assert [e.code for e in refused.all_errors] == ["azure-gallery-region-removal"]
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# Failed provisioning and replication (BEHAVIOURS.md row 10)


def test_failed_provisioning_is_planned_as_a_replace(env: tuple[ArmEmulator, Any]) -> None:
    emu, p = env
    emu.faults.fail_operations = {"1.0.0"}
    s = version()
    plan = apply_plan(plan_of(p, s), p)
    assert not plan.ok
    snap = p.snapshot().image_index()["app/1.0.0"]
    assert snap.failed == "provisioning failed"
    changes = plan_of(p, s).pending
    assert [(c.action, c.reason) for c in changes] == [(Action.REPLACE, "provisioning failed")]
    converge(p, s)
    assert live(emu)["properties"]["provisioningState"] == "Succeeded"


@pytest.mark.parametrize("leaves", ["Succeeded", "Failed"])
def test_failed_region_replication_is_drift_repaired_by_an_update(leaves: str) -> None:
    fake = FakeClock()
    faults = Faults(fail_replication={"northeurope"}, replication_failure=leaves)
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock, faults=faults) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            s = version(target_regions=["westeurope", "northeurope"])
            apply_plan(plan_of(p, s), p)
            image = p.snapshot().image_index()["app/1.0.0"]
            assert isinstance(image.facts, azure.GalleryVersionFacts)
            assert image.facts.failures() == {"northeurope": "failed"}
            # images list shows state and replication (the JSON through the facts' document fields).
            table = render_images_table([image])
            assert table.splitlines()[0].endswith("STATUS")
            want = "replication failed: northeurope; replicated: westeurope"
            assert table.splitlines()[1].endswith(want if leaves == "Succeeded" else "provisioning failed")
            doc = render_images_json([image])[0]["extra"]
            assert doc["replication"] == {"northeurope": "failed", "westeurope": "completed"}
            assert doc["provisioning_state"] == leaves
            (change,) = plan_of(p, s).pending
            if leaves == "Failed":
                assert (change.action, change.reason) == (Action.REPLACE, "provisioning failed")
            else:
                assert change.action is Action.UPDATE
                assert [(f.path, f.before, f.after) for f in change.fields] == [
                    ("extra.replication.northeurope", "failed", "completed")]
            converge(p, s)
        finally:
            p.close()


# --------------------------------------------------------------------------------------------------
# Declared vs live: the property (issue 10 §3)

_region_item = st.one_of(
    st.sampled_from(["westeurope", "West Europe"]),
    st.fixed_dictionaries({"name": st.sampled_from(["westeurope", "WestEurope"])}, optional={
        "replicas": st.integers(1, 3), "storage": st.sampled_from(azure.versions.STORAGE_TYPES),
        "exclude_from_latest": st.booleans()}),
)
_extra_regions = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["northeurope", "North Europe", "eastus2"])}, optional={
        "replicas": st.integers(1, 3), "exclude_from_latest": st.booleans()}),
    max_size=2, unique_by=lambda r: azure.versions.region(r["name"]))
FIELDS = st.fixed_dictionaries({}, optional={
    "target_regions": st.tuples(_region_item, _extra_regions).map(lambda t: [t[0], *t[1]]),
    "replica_count": st.integers(1, 3),
    "storage_account_type": st.sampled_from(azure.versions.STORAGE_TYPES),
    "replication_mode": st.sampled_from(["full", "shallow"]),
    "exclude_from_latest": st.booleans(),
    "end_of_life_date": st.sampled_from(["2030-01-01", "2031-06-30"]),
    "allow_deletion_of_replicated_locations": st.booleans(),
    "block_deletion_before_end_of_life": st.booleans(),
    "hyper_v_generation": st.just("V1"),
})


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(declared=FIELDS, probe=st.sampled_from(sorted(azure.versions.VERSION_FIELDS) + ["hyper_v_generation"]))
def test_property_apply_then_plan_is_empty_and_declaring_a_live_value_is_a_no_op(
        declared: dict[str, Any], probe: str) -> None:
    fake = FakeClock()
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            s = version(**declared)
            converge(p, s)  # capture, then the plan is empty
            image = p.snapshot().image_index()["app/1.0.0"]
            value = image.extra.get(probe)
            if value is None:
                value = azure.versions.DEFAULTS.get(probe, "V1" if probe == "hyper_v_generation" else None)
            if value is not None:
                # Declaring any field with its live value (as export writes it) is no change.
                assert pending(p, version(**{**declared, probe: value})) == [], (probe, value)
            # Every live value declared at once (the exported entry) is no change either.
            assert pending(p, version(**{k: v for k, v in image.extra.items()})) == []
        finally:
            p.close()


def test_a_failed_managed_image_is_planned_as_a_replace() -> None:
    from .harness_azure_managed import managed_state

    fake = FakeClock()
    with ArmEmulator(managed_state(SEED), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake)
        try:
            emu.faults.fail_operations = {"fresh"}
            s = spec("fresh", VM)
            assert not apply_plan(plan_of(p, s), p).ok
            assert [(c.action, c.reason) for c in plan_of(p, s).pending] == [(Action.REPLACE, "provisioning failed")]
            converge(p, s)
        finally:
            p.close()


def test_a_capture_naming_a_region_twice_is_a_plan_error(env: tuple[ArmEmulator, Any]) -> None:
    _, p = env
    plan = plan_of(p, version(target_regions=["westeurope", "West Europe"]))
    assert [e.code for e in plan.all_errors] == ["azure-gallery-regions"]
    assert "'app/1.0.0'" in plan.all_errors[0].summary
