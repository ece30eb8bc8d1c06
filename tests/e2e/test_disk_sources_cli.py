"""Issue 10 §3 (non-VM sources) through the real command line: ``plan`` reads the snapshots a file
captures from and reports a missing one and a Trusted Launch one (no managed image from it) at the
entry, file:line:col, exit 1; a Gen2 snapshot with no generation declared converges (plan -> apply ->
plan empty), the image recording the snapshot's V2."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulators.arm import ArmEmulator
from tests.contract.harness_azure_managed import LOCATION, RG, RP, SUB


def snapshot(name: str, *, security: str | None = None) -> dict[str, object]:
    props: dict[str, object] = {"osType": "Linux", "hyperVGeneration": "V2", "provisioningState": "Succeeded"}
    if security:
        props["securityProfile"] = {"securityType": security}
    return {"id": f"{RP}/snapshots/{name}", "name": name, "type": "Microsoft.Compute/snapshots",
            "location": LOCATION, "properties": props}


def spec_text(url: str, sources: list[str]) -> str:
    lines = ["version: 1", "catalog:", "  name: platform", "  provider: azure", f"  subscription: {SUB}",
             f"  resource_group: {RG}", f"  location: {LOCATION}", f"  endpoint: {url}", "images:"]
    for i, source in enumerate(sources):
        lines += [f"  - name: img-{i}", "    type: os", "    os: linux", "    os_state: generalized",
                  f"    source: {{snapshot: {source}}}"]
    return "\n".join(lines) + "\n"


def run(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], ArmEmulator]]:
    emu = ArmEmulator({"resources": [snapshot("snap-v2"), snapshot("snap-tl", security="TrustedLaunch")]})
    emu.start()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "RECONCILER_", "GITHUB_"))},
           "AZURE_ACCESS_TOKEN": "e2e-token", "NO_COLOR": "1"}
    try:
        yield tmp_path, env, emu
    finally:
        emu.stop()


def test_plan_reports_a_missing_and_a_trusted_launch_snapshot_at_the_entry(
    world: tuple[Path, dict[str, str], ArmEmulator],
) -> None:
    cwd, env, emu = world
    (cwd / "images.yaml").write_text(spec_text(emu.url, ["nope", "snap-tl"]))
    code, text = run(cwd, env, "plan")
    assert code == 1, text
    assert "images.yaml:10:" in text and "names snapshot 'nope', which does not exist" in text, text
    assert "images.yaml:15:" in text and "source snapshot 'snap-tl' is TrustedLaunch" in text, text
    assert "Traceback" not in text


def test_a_gen2_snapshot_converges_without_a_declared_generation(
    world: tuple[Path, dict[str, str], ArmEmulator],
) -> None:
    cwd, env, emu = world
    (cwd / "images.yaml").write_text(spec_text(emu.url, ["snap-v2"]))
    code, text = run(cwd, env, "apply", "--auto-approve", "--no-lock")  # no Blob lock in this test
    assert code == 0, text
    code, text = run(cwd, env, "plan", "--detailed-exitcode")
    assert code == 0, text
    assert "No changes" in text, text
    captured = emu.backend.get(f"{RP}/images/img-0")
    assert captured is not None and captured["properties"]["hyperVGeneration"] == "V2"
