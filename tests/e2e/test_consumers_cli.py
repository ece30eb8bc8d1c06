"""Issue 11 §4 and §5 through the real command line: ``reconciler consumers`` (table and JSON), a
remove held because its image is in use (plan, drift, the saved plan applied, the JSON plan), and the
storage totals, on the local provider and against the ARM emulator (gallery versions used by a VM
and a scale set in another subscription, found by one Resource Graph query, or by the lists when
Resource Graph is refused)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator
from tests.contract.harness_azure_gallery import GALLERY, GPATH, NameMap, gallery_state
from tests.contract.harness_azure_managed import LOCATION, RG, RP, SUB
from tests.contract.seed import SEED

SEED_FILE = {
    "vms": [
        {"name": "build-01", "os": "linux", "power_state": "stopped", "os_state": "specialized",
         "data_disks": ["d0"], "disk_gib": [30, 90]},
        {"name": "web-01", "os": "linux", "power_state": "running", "image": "web-base-1"},
        {"name": "web-02", "os": "linux", "power_state": "running", "image": "web-base-1"},
    ],
    "images": [
        {"name": "web-base-1", "type": "os", "os": "linux", "family": "web-base", "owner": "platform",
         "footprint": {"local": 30}},
        {"name": "web-base-0", "type": "os", "os": "linux", "family": "web-base", "owner": "platform",
         "footprint": {"local": 30}},
    ],
}

LOCAL_SPEC = """\
version: 1
catalog: {name: platform, provider: local, path: catalog.db}
policy:
  prune: true
  consumers: {block_if_in_use: true}
images:
  - name: web-base-2
    type: vm
    os: linux
    os_state: specialized
    family: web-base
    source: {vm: build-01}
"""


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seed.json").write_text(json.dumps(SEED_FILE))
    (tmp_path / "images.yaml").write_text(LOCAL_SPEC)
    r = cli("catalog", "init", "--from", "seed.json")
    assert r.code == 0, r.text
    return tmp_path


def test_consumers_lists_what_uses_each_image(local: Path, cli: Any) -> None:
    r = cli("consumers")
    assert r.code == 0, r.text
    assert r.out == (
        "web-base-0: not in use\n"
        "web-base-1: used by 2 instances (web-01, web-02)\n"
        "  KIND  NAME    INSTANCES  VIA    WHERE\n"
        "  vm    web-01  1          image\n"
        "  vm    web-02  1          image\n")
    r = cli("consumers", "WEB-BASE-1", "--format", "json")
    assert r.code == 0, r.text
    (only,) = json.loads(r.out)["images"]
    assert only["name"] == "web-base-1" and only["in_use"] and only["instances"] == 2
    assert [c["name"] for c in only["consumers"]] == ["web-01", "web-02"]
    r = cli("consumers", "--family", "web-base", "--format", "json")
    assert [i["name"] for i in json.loads(r.out)["images"]] == ["web-base-0", "web-base-1"]


@pytest.mark.parametrize(("args", "message"), [
    (("nope",), "no user image named 'nope' in the catalog"),
    (("--family", "nope"), "no user image of family 'nope' in the catalog"),
    (("web-base-1", "--family", "web-base"), "give an image NAME or --family, not both"),
])
def test_consumers_of_nothing_is_bad_input(local: Path, cli: Any, args: tuple[str, ...], message: str) -> None:
    r = cli("consumers", *args)
    assert r.code == 1 and message in r.err and r.out == ""


def test_a_remove_in_use_is_held_and_the_rest_is_applied(local: Path, cli: Any) -> None:
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "- web-base-1 HELD: used by 2 instances (web-01, web-02)\n" in r.out
    assert "  - remove web-base-0 " in r.out and "  + capture web-base-2 " in r.out
    assert "Plan: 1 to capture, 0 to update, 0 to replace, 1 to remove.\n" \
           "Storage: +120 GiB stored, -30 GiB freed.\n" in r.out
    md = cli("plan", "--format", "markdown").out
    assert "⏸️ 1 remove held (in use) — +120 GiB stored, -30 GiB freed" in md
    doc = json.loads(cli("plan", "--format", "json").out)
    assert doc["summary"]["held"] == 1 and doc["storage"]["stored_gib"] == 120 and doc["storage"]["freed_gib"] == 30
    r = cli("plan", "--out", "plan.json")
    assert r.code == 0, r.text
    r = cli("apply", "plan.json", "--auto-approve")
    assert r.code == 0, r.text
    assert "web-base-1" not in r.out  # a held remove is never started
    listed = {i["name"]: i for i in json.loads(cli("images", "list", "--format", "json").out)}
    assert sorted(listed) == ["web-base-1", "web-base-2"]
    assert listed["web-base-2"]["footprint"] == {"local": 120.0}
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 0, r.text  # only a held remove left: no change
    assert r.out.startswith("No changes.") and "- web-base-1 HELD: used by 2 instances" in r.out
    r = cli("drift")
    assert r.code == 0 and "- web-base-1 HELD: used by 2 instances (web-01, web-02)" in r.out


def test_without_the_policy_the_image_in_use_is_removed(local: Path, cli: Any) -> None:
    (local / "images.yaml").write_text(LOCAL_SPEC.replace("block_if_in_use: true", "block_if_in_use: false"))
    r = cli("plan")
    assert "HELD" not in r.out and "  - remove web-base-1 " in r.out and "2 to remove" in r.out


def test_a_bad_consumers_policy_is_reported_at_its_line(local: Path, cli: Any) -> None:
    (local / "images.yaml").write_text(LOCAL_SPEC.replace("block_if_in_use: true", "block_if_in_use: yes-please"))
    r = cli("validate")
    assert r.code == 1 and "images.yaml:5:" in r.text


# --------------------------------------------------------------------------------------------------
# Against the ARM emulator

PROD = "00000000-0000-4000-8000-0000000000bb"
PROD_RP = f"/subscriptions/{PROD}/resourceGroups/rg-prod/providers/Microsoft.Compute"
WEB = "web-base/1.0.0"


def azure_spec(url: str) -> str:
    return "\n".join([
        "version: 1",
        "catalog:",
        "  name: platform",
        "  provider: azure",
        f"  subscription: {SUB}",
        f"  resource_group: {RG}",
        f"  location: {LOCATION}",
        f"  gallery: {GALLERY}",
        f"  endpoint: {url}",
        "policy:",
        "  prune: true",
        "  consumers:",
        "    block_if_in_use: true",
        f"    subscriptions: [{SUB}, {PROD}]",
        "images: []",
    ]) + "\n"


@pytest.fixture
def arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmEmulator]:
    state = gallery_state(SEED, NameMap())
    state["resources"] += [
        {"id": f"{PROD_RP}/virtualMachineScaleSets/vmss-web", "location": LOCATION,
         "sku": {"name": "Standard_D2s_v5", "capacity": 14},
         "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {
             "id": f"{GPATH}/images/web-base/versions/1.0.0"}}}}},
        {"id": f"{RP}/virtualMachines/vm-latest", "location": LOCATION,
         "properties": {"storageProfile": {"imageReference": {"id": f"{GPATH}/images/web-base"}}}},
    ]
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("AZURE_", "RECONCILER_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", "e2e-token")
    with ArmEmulator(state) as emu:
        (tmp_path / "images.yaml").write_text(azure_spec(emu.url))
        yield emu


@pytest.mark.parametrize("graph", ["allow", "deny", "absent"])
def test_consumers_and_a_held_version_against_the_arm_emulator(arm: ArmEmulator, cli: Any, graph: str) -> None:
    arm.faults.update({"resource_graph": graph})
    r = cli("consumers", WEB)
    assert r.code == 0, r.text
    assert r.out.splitlines()[0] == (f"{WEB}: used by 15 instances (vm-latest in {SUB}/{RG}, "
                                     f"vmss-web in {PROD}/rg-prod)")
    assert "  vmss  vmss-web   14         image       " in r.out
    assert "  vm    vm-latest  1          definition  " in r.out
    r = cli("plan")
    assert r.code == 0, r.text
    assert f"- {WEB} HELD: used by 15 instances (vm-latest in {SUB}/{RG}, vmss-web in {PROD}/rg-prod)" in r.out
    assert f"remove {WEB}" not in r.out
    posts = [q for q in arm.requests if q.method == "POST" and "ResourceGraph" in q.path]
    assert len(posts) == 2  # one query per command
    lists = [q for q in arm.requests if q.method == "GET" and q.path.endswith("/virtualMachineScaleSets")]
    assert bool(lists) == (graph != "allow")
