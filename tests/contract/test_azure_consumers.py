"""Consumers of gallery versions over the ARM emulator (issue 11 §4): one Azure Resource Graph query
across ``policy.consumers.subscriptions``, paged with ``$skipToken``; the VM and scale-set lists of
each subscription when Resource Graph is refused (``Faults.resource_graph``: 403 "deny" and 404
"absent", both tested); a remove held because its version is in use, and plans that never ask.
Then the storage footprints of versions and captures (issue 11 §5).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler import operations
from reconciler.apply import apply_plan
from reconciler.emulators.arm import ArmEmulator, Faults
from reconciler.model import CatalogConfig, ConsumersPolicy, DesiredState, ImageType, Policy
from reconciler.model import ConsumersPolicy as CP
from reconciler.providers.azure import consumers as azure_consumers
from reconciler.render import render_images_json, render_plan_text

from .harness_azure_gallery import GALLERY, GPATH, NameMap, gallery_state
from .harness_azure_managed import RP, SUB, FakeClock
from .seed import OWNER, SEED
from .test_azure_provider import open_azure, spec

PROD = "00000000-0000-4000-8000-0000000000bb"
PROD_RP = f"/subscriptions/{PROD}/resourceGroups/rg-prod/providers/Microsoft.Compute"
WEB = "web-base/1.0.0"  # owned-web of the seed, in gallery mode (NameMap: family web-base, first version)
WEB_ID = f"{GPATH}/images/web-base/versions/1.0.0"


def _vm(rp: str, name: str, image_id: str) -> dict[str, Any]:
    return {"id": f"{rp}/virtualMachines/{name}", "location": "westeurope",
            "properties": {"storageProfile": {"imageReference": {"id": image_id}}, "provisioningState": "Succeeded"}}


def _vmss(rp: str, name: str, image_id: str, capacity: int) -> dict[str, Any]:
    return {"id": f"{rp}/virtualMachineScaleSets/{name}", "location": "westeurope",
            "sku": {"name": "Standard_D2s_v5", "tier": "Standard", "capacity": capacity},
            "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": image_id}}},
                           "provisioningState": "Succeeded"}}


#: vmss-web (14 machines) in another subscription runs the version; vm-latest in the catalog's own
#: subscription was made from the definition (it uses whatever latest resolves to); vm-elsewhere
#: uses an image of no catalog.
USERS = [
    _vmss(PROD_RP, "vmss-web", WEB_ID, 14),
    _vm(RP, "vm-latest", f"{GPATH}/images/web-base"),
    _vm(PROD_RP, "vm-elsewhere", f"{PROD_RP}/images/someone-elses"),
]


@pytest.fixture
def env() -> Iterator[tuple[ArmEmulator, Any]]:
    fake = FakeClock()
    state = gallery_state(SEED, NameMap())
    state["resources"].extend(USERS)
    with ArmEmulator(state, page_size=2, faults=Faults(lro_polls=1), clock=fake.clock) as emu:
        p = open_azure(emu, fake, gallery=GALLERY)
        try:
            yield emu, p
        finally:
            p.close()


def _web(p: Any) -> Any:
    return p.snapshot().image_index()[WEB]


def _graph_posts(emu: ArmEmulator) -> list[Any]:
    return [r for r in emu.requests if r.method == "POST" and r.path.endswith("/Microsoft.ResourceGraph/resources")]


def _lists(emu: ArmEmulator) -> list[str]:
    """The subscription-wide lists read (each may take several pages: the emulator pages by 2)."""
    return sorted({r.path for r in emu.requests if r.method == "GET" and "/resourceGroups/" not in r.path
                  and r.path.endswith(("/virtualMachines", "/virtualMachineScaleSets"))})


def _expected() -> list[tuple[str, str, str, int, str]]:
    return [
        ("vm", "vm-latest", "definition", 1, f"{SUB}/rg-images"),
        ("vmss", "vmss-web", "image", 14, f"{PROD}/rg-prod"),
    ]


def _seen(found: dict[str, Any]) -> list[tuple[str, str, str, int, str]]:
    assert list(found) == [WEB]
    return sorted((c.kind, c.name, c.via, c.instances, c.scope) for c in found[WEB])


def test_one_resource_graph_query_finds_vms_and_scale_sets_across_subscriptions(env: Any) -> None:
    emu, p = env
    image = _web(p)
    emu.requests.clear()
    found = p.consumers([image], ConsumersPolicy(subscriptions=(SUB, PROD)))
    assert _seen(found) == _expected()
    assert all(c.image == WEB for c in found[WEB])
    (post,) = _graph_posts(emu)
    assert post.query["api-version"] == "2022-10-01"
    assert post.body["subscriptions"] == [SUB, PROD]
    assert post.body["query"] == azure_consumers.QUERY
    assert post.body["options"] == {"$top": 1000, "resultFormat": "objectArray"}
    assert _lists(emu) == []  # no fallback when Resource Graph answers


def test_by_default_only_the_catalogs_subscription_is_searched(env: Any) -> None:
    emu, p = env
    found = p.consumers([_web(p)], ConsumersPolicy())
    assert _seen(found) == [("vm", "vm-latest", "definition", 1, f"{SUB}/rg-images")]
    assert _graph_posts(emu)[-1].body["subscriptions"] == [SUB]


def test_resource_graph_pages_are_followed_with_the_skip_token(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    emu, p = env
    monkeypatch.setattr(azure_consumers, "GRAPH_TOP", 1)
    image = _web(p)
    emu.requests.clear()
    assert _seen(p.consumers([image], ConsumersPolicy(subscriptions=(SUB, PROD)))) == _expected()
    posts = _graph_posts(emu)
    assert len(posts) == 3  # vm-elsewhere, vm-latest, vmss-web: one a page
    assert "$skipToken" not in posts[0].body["options"]
    assert all(r.body["options"]["$skipToken"] for r in posts[1:])
    assert all(r.body["query"] == posts[0].body["query"] for r in posts)  # the same query every page


@pytest.mark.parametrize(("mode", "status"), [("deny", 403), ("absent", 404)])
def test_refused_resource_graph_falls_back_to_the_lists_of_each_subscription(env: Any, mode: str,
                                                                              status: int) -> None:
    emu, p = env
    image = _web(p)
    emu.faults.update({"resource_graph": mode})
    emu.requests.clear()
    assert _seen(p.consumers([image], ConsumersPolicy(subscriptions=(SUB, PROD)))) == _expected()
    assert [r.status for r in _graph_posts(emu)] == [status]
    assert _lists(emu) == sorted(f"/subscriptions/{s}/providers/Microsoft.Compute/{kind}"
                                 for s in (SUB, PROD) for kind in ("virtualMachines", "virtualMachineScaleSets"))


def test_another_graph_failure_is_not_hidden_by_the_fallback(env: Any) -> None:
    emu, p = env
    image = _web(p)
    emu.faults.update({"throttle_next": 10, "throttle_only": "POST", "retry_after": 0})
    with pytest.raises(Exception) as raised:
        p.consumers([image], ConsumersPolicy(subscriptions=(SUB,)))
    assert getattr(raised.value, "status", None) == 429
    assert _lists(emu) == []


# --------------------------------------------------------------------------------------------------
# Held removes through the operations layer (what `plan` and `apply` run)


def _desired(block: bool, *images: Any, prune: bool = True) -> DesiredState:
    return DesiredState(catalog=CatalogConfig(name=OWNER, provider="azure"),
                        policy=Policy(prune=prune, consumers=CP(block_if_in_use=block, subscriptions=(SUB, PROD))),
                        images=images, digest="d")


def test_a_remove_of_a_version_in_use_is_held_and_the_rest_of_the_plan_goes_on(env: Any) -> None:
    emu, p = env
    emu.requests.clear()
    desired = _desired(True, spec("app/1.0.0", "vm-gen-os", family="app"))
    plan = operations.make_plan(desired, p)
    held = {c.name: c for c in plan.held}
    assert list(held) == [WEB]
    assert sorted(c.name for c in held[WEB].held_by) == ["vm-latest", "vmss-web"]
    assert [c.name for c in plan.pending] == ["app/1.0.0"]  # the rest of the plan goes on
    assert len(_graph_posts(emu)) == 1  # one query for every remove that could be held
    text = render_plan_text(plan)
    assert f"- {WEB} HELD: used by 15 instances (vm-latest in {SUB}/rg-images, vmss-web in {PROD}/rg-prod)" in text
    result = apply_plan(plan, p, parallelism=2)
    assert result.ok and [r.name for r in result.results] == ["app/1.0.0"]
    assert WEB in p.snapshot().image_index()  # held: still there
    again = operations.make_plan(desired, p)
    assert again.pending == () and [c.name for c in again.held] == [WEB]


def test_plans_that_cannot_hold_a_remove_never_query(env: Any) -> None:
    emu, p = env
    emu.requests.clear()
    operations.make_plan(_desired(False), p)  # removes, but nothing blocks them
    operations.make_plan(_desired(True, prune=False), p)  # blocks, but nothing is removed
    declared = [spec(i.name, "vm-gen-os") for i in p.snapshot().images if i.owner == OWNER]
    operations.make_plan(_desired(True, *declared), p)
    assert _graph_posts(emu) == []


# --------------------------------------------------------------------------------------------------
# Storage footprints (issue 11 §5): what the versions hold, what a capture will store


def test_a_versions_footprint_is_its_disk_sizes_times_its_replicas(env: Any) -> None:
    _, p = env
    snap = p.snapshot()
    web = snap.image_index()[WEB]  # owned-web: a 30 GiB OS disk and one 32 GiB data disk, 1 replica
    assert web.footprint == {"Standard_LRS": 62.0}
    assert render_images_json([web])[0]["footprint"] == {"Standard_LRS": 62.0}
    assert snap.vm_index()["vm-gen-data"].disk_gib == (30.0, 32.0, 32.0)


def test_a_capture_stores_each_declared_replica_and_a_remove_frees_the_live_one(env: Any) -> None:
    _, p = env
    new = spec("app/1.0.0", "vm-gen-data", family="app", type=ImageType.VM, extra={
        "target_regions": ["westeurope", {"name": "North Europe", "replicas": 2, "storage": "premium_lrs"}]})
    plan = operations.make_plan(_desired(False, new), p)
    by = {c.name: c for c in plan.pending}
    assert by["app/1.0.0"].stored == {"Standard_LRS": 94.0, "Premium_LRS": 188.0}
    assert by[WEB].freed == {"Standard_LRS": 62.0}
    assert plan.storage()["stored"] == {"Premium_LRS": 188.0, "Standard_LRS": 94.0}
    assert "Storage: +282 GiB stored, -" in render_plan_text(plan)
