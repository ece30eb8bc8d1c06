"""The command line against the classic Service Management emulator: the demo round trip and export."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.emulators.classic import ClassicEmulator
from reconciler.seed import parse_seed
from tests.contract.harness_classic import SUBSCRIPTION, state_from_seed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def classic(tmp_path, monkeypatch):
    snapshot = parse_seed((ROOT / "examples" / "demo-catalog.json").read_bytes(), "demo-catalog.json")
    with ClassicEmulator(state_from_seed(snapshot)) as emu:
        text = (ROOT / "images.yaml.example").read_text()
        text = text.replace("  provider: local\n", "  provider: azure-classic\n")
        text = text.replace(
            "  path: .reconciler/catalog.db",
            f"  subscription: {SUBSCRIPTION}\n  endpoint: {emu.url}\n  poll_interval: 0.01",
        )
        assert "azure-classic" in text and emu.url in text
        (tmp_path / "images.yaml").write_text(text)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("AZURE_ACCESS_TOKEN", "e2e-token")
        yield emu


def test_plan_apply_plan_export_plan(cli, classic):
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "Plan: 1 to capture, 1 to update, 0 to replace, 1 to remove." in r.out
    r = cli("apply", "--auto-approve")
    assert r.code == 0, r.text
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 0, r.text
    r = cli("export", "--out", "exported.yaml")
    assert r.code == 0, r.text
    assert "e2e-token" not in Path("exported.yaml").read_text()
    r = cli("plan", "exported.yaml", "--detailed-exitcode")
    assert r.code == 0, r.text
