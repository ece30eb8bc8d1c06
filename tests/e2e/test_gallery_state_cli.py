"""Issue 10 §3 through the real command line: a gallery version whose provisioning failed and one
whose replication to a region failed are drift (``drift`` exits 2 and names both repairs), and
``images list`` shows their state and replication. Read-only commands: no lock needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulators.arm import ArmEmulator
from tests.contract.harness_azure_gallery import GALLERY, NameMap, gallery_state
from tests.contract.harness_azure_managed import LOCATION, RG, SUB

SEED = {
    "vms": [{"name": "build-01", "os": "linux", "power_state": "deallocated", "os_state": "generalized"}],
    "images": [
        {"name": n, "type": "os", "os": "linux", "os_state": "generalized", "family": "web", "owner": "platform",
         "source": {"vm": "build-01"}}
        for n in ("a", "b")
    ],
}


def spec_text(url: str) -> str:
    lines = ["version: 1", "catalog:", "  name: platform", "  provider: azure", f"  subscription: {SUB}",
             f"  resource_group: {RG}", f"  location: {LOCATION}", f"  gallery: {GALLERY}", f"  endpoint: {url}",
             "images:"]
    for version, regions in (("1.0.0", "[westeurope]"), ("1.1.0", "[westeurope, northeurope]")):
        lines += [f"  - name: web/{version}", "    type: os", "    os: linux", "    os_state: generalized",
                  "    family: web", "    source: {vm: build-01}", f"    target_regions: {regions}"]
    return "\n".join(lines) + "\n"


def run(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    state: dict[str, Any] = gallery_state(SEED, NameMap())
    for r in state["resources"]:
        if r["id"].endswith("/versions/1.0.0"):
            r["properties"]["provisioningState"] = "Failed"
        if r["id"].endswith("/versions/1.1.0"):
            publishing = r["properties"]["publishingProfile"]
            publishing["targetRegions"].append({"name": "northeurope", "regionalReplicaCount": 1,
                                                "storageAccountType": "Standard_LRS", "excludeFromLatest": False})
            # The emulator keeps a region's failed replication as its failed replicationStatus entry.
            r["properties"]["replicationStatus"] = {"summary": [
                {"region": "northeurope", "state": "Failed", "details": "Replication job failed."}]}
    emu = ArmEmulator(state)
    emu.start()
    (tmp_path / "images.yaml").write_text(spec_text(emu.url))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "RECONCILER_", "GITHUB_"))},
           "AZURE_ACCESS_TOKEN": "e2e-token", "NO_COLOR": "1"}
    try:
        yield tmp_path, env
    finally:
        emu.stop()


def test_drift_reports_failed_provisioning_and_failed_replication(world: tuple[Path, dict[str, str]]) -> None:
    cwd, env = world
    code, text = run(cwd, env, "drift", "--format", "json")
    assert code == 2, text
    changes = {c["name"]: c for c in json.loads(text)["resource_changes"]}
    assert (changes["web/1.0.0"]["actions"], changes["web/1.0.0"]["reason"]) == (["delete", "create"],
                                                                                  "provisioning failed")
    assert changes["web/1.0.0"]["before"]["failed"] == "provisioning failed"
    repair = changes["web/1.1.0"]
    assert repair["actions"] == ["update"]
    assert [(f["path"], f["before"], f["after"]) for f in repair["fields"]] == [
        ("extra.replication.northeurope", "failed", "completed")]

    code, text = run(cwd, env, "plan")
    assert code == 0, text
    assert "web/1.0.0" in text and "provisioning failed" in text, text

    code, text = run(cwd, env, "images", "list")
    assert code == 0, text
    rows = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert text.splitlines()[0].split()[-1] == "STATUS"
    assert rows["web/1.0.0"].endswith("provisioning failed")
    assert rows["web/1.1.0"].endswith("replication failed: northeurope; replicated: westeurope")
