"""A declared ``latest`` and a lifecycle over the ARM emulator (real HTTP on loopback), issue 11
§2/§3: the plan sets the gallery versions' ``excludeFromLatest`` so that ``latest`` resolves to the
declared version; rolling back is reverting the line; a lifecycle deprecates (end of life, excluded,
tagged) and then deletes; each converges (the plan after the apply is empty)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.apply import apply_plan
from reconciler.emulators.arm import ArmEmulator
from reconciler.lifecycle import DEPRECATED_TAG, LATEST_RING_TAG, latest_marks, parse_time
from reconciler.model import CatalogConfig, DesiredState, FamilySpec, ImageSpec, LifecyclePolicy, Plan, Policy, Ring
from reconciler.plan import make_plan

from .harness_azure_gallery import GALLERY, NameMap, gallery_state
from .harness_azure_managed import FakeClock
from .seed import OWNER, SEED
from .test_azure_gallery_versions import live, version
from .test_azure_provider import open_azure


@pytest.fixture
def env() -> Iterator[tuple[ArmEmulator, Any]]:
    fake = FakeClock()
    with ArmEmulator(gallery_state(SEED, NameMap()), page_size=2, clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def desired(*specs: ImageSpec, latest: str | None = None, policy: Policy | None = None) -> DesiredState:
    fams = {"app": FamilySpec(name="app", latest=latest)} if latest else {}
    return DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"), policy=policy or Policy(),
                        images=specs, digest="d", families=fams)


def run(p: Any, d: DesiredState, now: datetime | None = None) -> Plan:
    plan = make_plan(d, p.snapshot(), p.capabilities, now=now)
    assert not plan.errored, plan.all_errors
    result = apply_plan(plan, p, parallelism=2)
    assert result.ok, [r.error for r in result.results if r.error]
    again = make_plan(d, p.snapshot(), p.capabilities, now=now)
    assert again.pending == (), [(c.name, c.reason, c.fields) for c in again.pending]
    return plan


def flag(emu: ArmEmulator, name: str) -> Any:
    return live(emu, name)["properties"]["publishingProfile"].get("excludeFromLatest")


def marks(p: Any) -> dict[str, str]:
    return latest_marks(i for i in p.snapshot().images if i.family == "app" and i.owner == OWNER)


def test_latest_moves_to_the_declared_version_and_back(env: tuple[ArmEmulator, Any]) -> None:
    emu, p = env
    a, b = version("app/1.0.0"), version("app/1.1.0")
    run(p, desired(a))  # one capture per plan: they share the one generalized source VM
    run(p, desired(a, b))
    assert marks(p) == {"app/1.1.0": "latest"}

    # Only a is declared now: b stays in the gallery (no prune), and latest goes back to a.
    plan = run(p, desired(a, latest="1.0.0"))
    assert [(m.family, m.before, m.after) for m in plan.latest] == [("app", "1.1.0", "1.0.0")]
    assert flag(emu, "app/1.1.0") is True and not flag(emu, "app/1.0.0")
    assert marks(p) == {"app/1.0.0": "latest"}

    # The rollback is the one line reverted.
    plan = run(p, desired(a, latest="1.1.0"))
    assert [(m.before, m.after) for m in plan.latest] == [("1.0.0", "1.1.0")]
    assert flag(emu, "app/1.1.0") is False
    assert marks(p) == {"app/1.1.0": "latest"}


def test_a_declared_capture_becomes_latest_without_an_extra_apply(env: tuple[ArmEmulator, Any]) -> None:
    emu, p = env
    run(p, desired(version("app/1.0.0")))
    run(p, desired(version("app/1.0.0"), version("app/2.0.0")))
    plan = run(p, desired(version("app/1.0.0"), version("app/2.0.0"), version("app/1.5.0"), latest="1.5.0"))
    assert [(m.before, m.after) for m in plan.latest] == [("2.0.0", "1.5.0")]
    assert flag(emu, "app/2.0.0") is True and flag(emu, "app/1.5.0") is False
    assert marks(p) == {"app/1.5.0": "latest"}


def test_a_lifecycle_deprecates_then_deletes_a_gallery_version(env: tuple[ArmEmulator, Any]) -> None:
    emu, p = env
    run(p, desired(version("app/1.0.0")))
    run(p, desired(version("app/1.0.0"), version("app/1.1.0")))
    created = {i.name: i.created for i in p.snapshot().images}
    start = max(t for t in (parse_time(c) for c in created.values()) if t is not None)
    policy = Policy(lifecycle={"app": LifecyclePolicy(keep=0, deprecate_after="1d", delete_after="7d")})
    later = start + timedelta(days=365)
    plan = run(p, desired(policy=policy), now=later)
    assert [c.name for c in plan.pending] == ["app/1.0.0"]  # 1.1.0 is the effective latest: spared
    profile = live(emu, "app/1.0.0")["properties"]["publishingProfile"]
    assert profile["excludeFromLatest"] is True and str(profile["endOfLifeDate"]).startswith(later.date().isoformat())
    assert DEPRECATED_TAG in live(emu, "app/1.0.0")["tags"]
    plan = run(p, desired(policy=policy), now=later + timedelta(days=7))
    assert [(c.name, c.action.word) for c in plan.pending] == [("app/1.0.0", "remove")]
    assert {i.name for i in p.snapshot().images if i.family == "app"} == {"app/1.1.0"}


def test_latest_rolls_out_ring_by_ring_and_the_next_plan_knows_when_the_next_is_due(
        env: tuple[ArmEmulator, Any]) -> None:
    emu, p = env
    regions = ["westeurope", "northeurope", "eastus"]
    a, b = version("app/1.0.0", target_regions=regions), version("app/1.1.0", target_regions=regions)
    run(p, desired(a))
    rollout = (Ring(("westeurope",)), Ring(("northeurope", "eastus"), after="24h"))
    fams = {"app": FamilySpec(name="app", latest="1.1.0", latest_rollout=rollout)}
    d = replace(desired(a, b), families=fams)
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    plan = run(p, d, now=t0)  # the capture of 1.1.0 moves ring 1 with it
    assert [(m.before, m.after, m.regions, m.due) for m in plan.latest] == [
        ("1.0.0", "1.1.0", ("westeurope",), ""),
        ("1.0.0", "1.1.0", ("northeurope", "eastus"), "2026-12-02T09:00:00Z")]
    assert plan.now == "2026-12-01T09:00:00Z"
    regional = {r["name"].replace(" ", "").lower(): r["excludeFromLatest"]
                for r in live(emu, "app/1.1.0")["properties"]["publishingProfile"]["targetRegions"]}
    assert regional == {"westeurope": False, "northeurope": True, "eastus": True}
    assert live(emu, "app/1.1.0")["tags"][LATEST_RING_TAG] == "1@2026-12-01T09:00:00Z"
    assert marks(p) == {"app/1.1.0": "latest in westeurope", "app/1.0.0": "latest in eastus, northeurope"}

    # 23 hours later: ring 2 is not due; the plan says when it is and changes nothing.
    early = make_plan(d, p.snapshot(), p.capabilities, now=t0 + timedelta(hours=23))
    assert early.pending == ()
    assert [(m.regions, m.due) for m in early.latest] == [(("northeurope", "eastus"), "2026-12-02T09:00:00Z")]

    # 24 hours later: ring 2 moves (an update of the region flags and the ring tag).
    plan = run(p, d, now=t0 + timedelta(hours=24))
    assert [(c.name, c.reason) for c in plan.pending] == [("app/1.1.0", "latest(app): ring 2 of 2")]
    assert [(m.regions, m.due) for m in plan.latest] == [(("northeurope", "eastus"), "")]
    assert marks(p) == {"app/1.1.0": "latest"}
    assert make_plan(d, p.snapshot(), p.capabilities, now=t0 + timedelta(days=9)).pending == ()
