"""Held removes (issue 11 §4) and storage footprints (§5): the planner, the plan document, the views.

Pure: plans made from hand-built snapshots; exact strings where the wording is the contract.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from planning import CAPS, desired, image, spec, vm

from reconciler.codec import OMIT
from reconciler.model import (
    Action,
    Capabilities,
    Change,
    Consumer,
    ConsumersPolicy,
    ImageType,
    Plan,
    Policy,
    Snapshot,
    Source,
)
from reconciler.plan import make_plan, removes_to_check
from reconciler.plandoc import plan_document, plan_from_document, storage_totals
from reconciler.planfile import dump_plan, ensure_same_plan, load_plan, plan_differences, validate_plan_document
from reconciler.providers.local.store import capture_footprint
from reconciler.render import render_plan_markdown, render_plan_text
from reconciler.render.lifecycle import (
    change_storage,
    consumers_json,
    consumers_phrase,
    footprint_phrase,
    gib,
    held_line,
    render_consumers_table,
    storage_line,
)

VMSS = Consumer("vmss", "vmss-web", "web-1", instances=14, scope="sub-prod", id="/x/vmss-web")
VM1 = Consumer("vm", "vm-a", "web-1", id="/x/vm-a")


def _blocking(*specs, block: bool = True, prune: bool = True):
    d = desired(*specs, prune=prune)
    return replace(d, policy=replace(d.policy, consumers=ConsumersPolicy(block_if_in_use=block)))


def _snap(consumers=None, **kw) -> Snapshot:
    images = (image("web-1", family="web", footprint={"Standard_LRS": 30.0}), image("web-2", family="web"))
    return Snapshot(images=images, consumers=consumers, **kw)


# --------------------------------------------------------------------------------------------------
# The planner


def test_a_remove_of_an_image_in_use_is_held_and_not_pending() -> None:
    plan = make_plan(_blocking(), _snap({"web-1": (VMSS,)}), CAPS)
    by = {c.name: c for c in plan.changes}
    assert by["web-1"].action is Action.REMOVE and by["web-1"].held_by == (VMSS,) and by["web-1"].held
    assert by["web-2"].held_by == () and not by["web-2"].held
    assert [c.name for c in plan.pending] == ["web-2"]
    assert [c.name for c in plan.held] == ["web-1"]
    assert plan.counts()["remove"] == 1
    assert plan.has_changes


def test_only_held_removes_is_no_change() -> None:
    snap = Snapshot(images=(image("web-1", family="web"),), consumers={"web-1": (VM1,)})
    plan = make_plan(_blocking(), snap, CAPS)
    assert plan.pending == () and not plan.has_changes and [c.name for c in plan.held] == ["web-1"]


@pytest.mark.parametrize(("block", "consumers"), [(False, {"web-1": (VMSS,)}), (True, None), (True, {})])
def test_nothing_is_held_without_the_policy_or_without_consumers(block: bool, consumers) -> None:
    plan = make_plan(_blocking(block=block), _snap(consumers), CAPS)
    assert plan.held == () and sorted(c.name for c in plan.pending) == ["web-1", "web-2"]


def test_removes_to_check_are_the_removes_the_policy_could_hold() -> None:
    snap = _snap()
    assert [i.name for i in removes_to_check(_blocking(), make_plan(_blocking(), snap, CAPS))] == ["web-1", "web-2"]
    assert removes_to_check(_blocking(block=False), make_plan(_blocking(block=False), snap, CAPS)) == ()
    kept = _blocking(spec("web-1", family="web"), spec("web-2", family="web"))
    assert removes_to_check(kept, make_plan(kept, snap, CAPS)) == ()


def test_policy_blocks_every_family_until_lifecycle_says_otherwise() -> None:
    assert Policy(consumers=ConsumersPolicy(block_if_in_use=True)).blocks_if_in_use("web") is True
    assert Policy(consumers=ConsumersPolicy(block_if_in_use=True)).blocks_if_in_use(None) is True
    assert Policy().blocks_if_in_use("web") is False


FOOT = Capabilities(provider="test", mutable_fields=CAPS.mutable_fields, generalize=True,
                    footprint=lambda s, v: capture_footprint(s, v))


def test_a_capture_stores_what_the_provider_computes_from_its_source_vm() -> None:
    snap = Snapshot(vms=(vm("vm-a", disk_gib=(30.0, 100.0)), vm("vm-b")))
    plan = make_plan(desired(spec("a"), spec("b"), spec("c", type=ImageType.OS)),
                     replace(snap, vms=(*snap.vms, vm("vm-c", disk_gib=(30.0, 100.0)))), FOOT)
    by = {c.name: c for c in plan.changes}
    assert by["a"].stored == {"local": 130.0} and by["a"].freed == {}
    assert by["b"].stored == {}  # the VM's disk sizes are unknown
    assert by["c"].stored == {"local": 30.0}  # an OS image takes the OS disk only
    assert plan.storage() == {"stored": {"local": 160.0}, "freed": {}}


def test_without_a_footprint_function_nothing_is_stored() -> None:
    plan = make_plan(desired(spec("a")), Snapshot(vms=(vm("vm-a", disk_gib=(30.0,)),)), CAPS)
    assert plan.changes[0].stored == {} and plan.storage() == {"stored": {}, "freed": {}}


def test_a_remove_frees_the_live_footprint_and_a_held_one_frees_nothing() -> None:
    snap = Snapshot(images=(image("x", footprint={"Standard_LRS": 30.0, "Premium_LRS": 4.0}),
                            image("y", footprint={"Standard_LRS": 10.0})), consumers={"y": (VM1,)})
    plan = make_plan(_blocking(), snap, CAPS)
    by = {c.name: c for c in plan.changes}
    assert by["x"].freed == {"Standard_LRS": 30.0, "Premium_LRS": 4.0}
    assert by["y"].freed == {"Standard_LRS": 10.0} and by["y"].held
    assert plan.storage() == {"stored": {}, "freed": {"Premium_LRS": 4.0, "Standard_LRS": 30.0}}


def test_a_replace_stores_and_frees() -> None:
    snap = Snapshot(images=(image("a", footprint={"local": 20.0}),), vms=(vm("vm-a", disk_gib=(30.0,)),))
    plan = make_plan(desired(spec("a", os="windows")), snap, FOOT)
    (c,) = plan.pending
    assert c.action is Action.REPLACE and c.stored == {"local": 30.0} and c.freed == {"local": 20.0}
    assert plan.storage() == {"stored": {"local": 30.0}, "freed": {"local": 20.0}}


def test_an_update_stores_and_frees_nothing() -> None:
    snap = Snapshot(images=(image("a", footprint={"local": 20.0}),), vms=(vm("vm-a", disk_gib=(30.0,)),))
    (c,) = make_plan(desired(spec("a", label="new")), snap, FOOT).pending
    assert c.action is Action.UPDATE and c.stored == {} and c.freed == {}


# --------------------------------------------------------------------------------------------------
# The plan document and saved plans


def _held_plan() -> Plan:
    snap = Snapshot(images=(image("web-1", family="web", footprint={"Standard_LRS": 30.0}),
                            image("web-2", family="web", footprint={"Standard_LRS": 10.0})),
                    consumers={"web-1": (VMSS, VM1)}, vms=(vm("vm-n", disk_gib=(30.0, 90.0)),))
    return make_plan(_blocking(spec("n", source=Source(vm="vm-n"))), snap, FOOT)


def test_the_document_carries_held_removes_footprints_and_totals_and_reads_back() -> None:
    plan = _held_plan()
    doc = plan_document(plan)
    assert validate_plan_document(json.loads(json.dumps(doc))) == []
    assert doc["summary"]["held"] == 1 and doc["summary"]["remove"] == 1
    assert doc["storage"] == {"stored": {"local": 120.0}, "freed": {"Standard_LRS": 10.0}, "stored_gib": 120.0,
                              "freed_gib": 10.0}
    by = {c["name"]: c for c in doc["resource_changes"]}
    assert [h["name"] for h in by["web-1"]["held_by"]] == ["vmss-web", "vm-a"]
    assert by["web-1"]["held_by"][0] == {"kind": "vmss", "name": "vmss-web", "image": "web-1", "via": "image",
                                         "instances": 14, "scope": "sub-prod", "id": "/x/vmss-web"}
    assert "held_by" not in by["web-2"] and by["web-2"]["freed"] == {"Standard_LRS": 10.0}
    assert by["n"]["stored"] == {"local": 120.0} and "freed" not in by["n"]
    assert by["web-1"]["before"]["footprint"] == {"Standard_LRS": 30.0}
    assert plan_from_document(doc) == plan
    back = load_plan(dump_plan(plan, created="2026-12-01T00:00:00Z"), "p.json")
    assert back == plan and [c.name for c in back.held] == ["web-1"]


def test_documents_without_consumers_or_footprints_are_what_they_were() -> None:
    plan = make_plan(desired(prune=True), Snapshot(images=(image("a"),)), CAPS)
    doc = plan_document(plan)
    assert "storage" not in doc and "held" not in doc["summary"]
    assert not {"held_by", "stored", "freed"} & set(doc["resource_changes"][0])
    assert "footprint" not in doc["resource_changes"][0]["before"]
    assert storage_totals(plan) is OMIT


def test_a_saved_plan_whose_remove_is_no_longer_held_is_refused() -> None:
    saved = _held_plan()
    fresh_snapshot = Snapshot(images=tuple(c.before for c in saved.changes if c.before is not None),
                              vms=(vm("vm-n", disk_gib=(30.0, 90.0)),), consumers={})
    fresh = make_plan(_blocking(spec("n", source=Source(vm="vm-n"))), fresh_snapshot, FOOT)
    diffs = plan_differences(saved, fresh)
    assert diffs == ["the saved plan's remove of web-1 differs from a fresh plan's in whether it is held (in use)"]
    with pytest.raises(Exception, match="whether it is held"):
        ensure_same_plan(saved, fresh, "p.json")


def test_who_holds_a_held_remove_may_change_between_plan_and_apply() -> None:
    saved = _held_plan()
    moved = tuple(replace(c, held_by=(replace(VMSS, instances=20),)) if c.held else c for c in saved.changes)
    assert plan_differences(saved, replace(saved, changes=moved)) == []


# --------------------------------------------------------------------------------------------------
# Wording


def test_held_line_is_the_issues_wording() -> None:
    change = Change("web-base/1.1.0", Action.REMOVE, "no longer declared", held_by=(VMSS,))
    assert held_line(change) == "- web-base/1.1.0 HELD: used by 14 instances (vmss-web in sub-prod)"


def test_consumers_phrase_counts_every_machine_and_names_three() -> None:
    many = tuple(replace(VM1, name=f"vm-{i}", scope="") for i in range(5))
    assert consumers_phrase((VM1,)) == "used by 1 instance (vm-a)"
    assert consumers_phrase((VMSS, VM1)) == "used by 15 instances (vmss-web in sub-prod, vm-a)"
    assert consumers_phrase(many) == "used by 5 instances (vm-0, vm-1, vm-2, and 2 more)"
    assert consumers_phrase(many[:3]) == "used by 3 instances (vm-0, vm-1, vm-2)"


def test_gib_and_footprint_wording() -> None:
    assert gib(360.0) == "360 GiB" and gib(0.5) == "0.5 GiB" and gib(1536) == "1,536 GiB"
    assert footprint_phrase({"Standard_LRS": 30.0}) == "30 GiB Standard_LRS"
    assert footprint_phrase({"Standard_LRS": 100.0, "Premium_LRS": 20.0}) == \
        "120 GiB (Premium_LRS 20 GiB, Standard_LRS 100 GiB)"


def test_change_storage_wording() -> None:
    c = Change("a", Action.REPLACE, "r", stored={"local": 30.0}, freed={"local": 20.0})
    assert change_storage(c) == "+30 GiB local stored, -20 GiB local freed"
    assert change_storage(replace(c, stored={})) == "-20 GiB local freed"
    assert change_storage(replace(c, held_by=(VM1,), stored={})) == ""  # a held remove frees nothing
    assert change_storage(Change("a", Action.UPDATE, "r")) == ""


def test_the_plan_totals_line() -> None:
    plan = _held_plan()
    assert storage_line(plan) == "Storage: +120 GiB stored, -10 GiB freed."
    assert storage_line(make_plan(desired(), Snapshot(), CAPS)) == ""


def test_text_and_markdown_show_held_removes_and_storage() -> None:
    plan = _held_plan()
    text = render_plan_text(plan)
    assert ("1 remove held: the image is in use (policy.consumers.block_if_in_use); not applied:\n"
            "- web-1 HELD: used by 15 instances (vmss-web in sub-prod, vm-a)\n") in text
    assert "      storage: +120 GiB local stored\n" in text
    assert "      storage: -10 GiB Standard_LRS freed\n" in text
    assert text.endswith("Plan: 1 to capture, 0 to update, 0 to replace, 1 to remove.\n"
                         "Storage: +120 GiB stored, -10 GiB freed.\n")
    md = render_plan_markdown(plan)
    assert " — ⏸️ 1 remove held (in use) — +120 GiB stored, -10 GiB freed\n" in md
    assert "### ⏸️ Held removes: the image is in use (not applied)\n\n- web-1 HELD: used by 15 instances " \
           "(vmss-web in sub-prod, vm-a)\n" in md
    assert "| web | 0 | 0 | 0 | 1 | 0 |" in md  # the held remove is not counted with the removes
    assert "  storage: -10 GiB Standard_LRS freed" in md


def test_a_plan_of_only_held_removes_says_no_changes_and_shows_them() -> None:
    snap = Snapshot(images=(image("web-1", family="web"),), consumers={"web-1": (VM1,)})
    plan = make_plan(_blocking(), snap, CAPS)
    assert render_plan_text(plan) == (
        "No changes. The catalog matches the desired state.\n\n"
        "1 remove held: the image is in use (policy.consumers.block_if_in_use); not applied:\n"
        "- web-1 HELD: used by 1 instance (vm-a)\n")
    assert "**No changes.** — ⏸️ 1 remove held (in use)" in render_plan_markdown(plan)


def test_consumers_table_and_json() -> None:
    table = render_consumers_table(["web-1", "web-2"], {"web-1": (VMSS, VM1)})
    assert table == (
        "web-1: used by 15 instances (vmss-web in sub-prod, vm-a)\n"
        "  KIND  NAME      INSTANCES  VIA    WHERE\n"
        "  vmss  vmss-web  14         image  sub-prod\n"
        "  vm    vm-a      1          image\n"
        "web-2: not in use\n")
    assert render_consumers_table([], {}) == "No images.\n"
    data = consumers_json(["web-1", "web-2"], {"web-1": (VM1,)})
    assert data == {"images": [
        {"name": "web-1", "in_use": True, "instances": 1, "consumers": [
            {"kind": "vm", "name": "vm-a", "image": "web-1", "via": "image", "instances": 1, "scope": "",
             "id": "/x/vm-a"}]},
        {"name": "web-2", "in_use": False, "instances": 0, "consumers": []}]}


def test_a_capture_whose_source_is_no_vm_or_an_unknown_vm_stores_nothing_known() -> None:
    snap = Snapshot(vms=(vm("vm-a", disk_gib=(30.0,)),))
    vhd = spec("v", source=Source(vhd="https://store/x.vhd"))
    plan = make_plan(desired(vhd, spec("m", source=Source(vm="missing"))), snap, FOOT)
    assert [(c.name, dict(c.stored)) for c in plan.changes] == [("m", {}), ("v", {})]


def test_a_source_vm_named_by_an_alias_gives_its_footprint() -> None:
    snap = Snapshot(vms=(vm("role", disk_gib=(10.0,)),), vm_aliases={"svc/role": "role"})
    (c,) = make_plan(desired(spec("a", source=Source(vm="SVC/Role"))), snap, FOOT).changes
    assert c.stored == {"local": 10.0}
