"""Regression tests from the core bug hunt: each one failed before its fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.providers.local import LocalProvider

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "images.yaml.example", tmp_path / "images.yaml")
    r = cli("catalog", "init", "--from", str(ROOT / "examples" / "demo-catalog.json"))
    assert r.code == 0, r.text
    return tmp_path


def test_ctrl_c_during_apply_exits_130_and_reports_what_was_done(cli, demo, monkeypatch):
    # Ctrl-C arrives while the update runs (the main thread sees it through the change's future).
    def interrupted(self, image, spec, on_step=None):
        raise KeyboardInterrupt

    original = LocalProvider.update
    monkeypatch.setattr(LocalProvider, "update", interrupted)
    r = cli("apply", "--auto-approve", "--parallelism", "1")
    assert r.code == 130, r.text
    assert "interrupted" in r.err
    assert "not started" in r.out  # the final report still lists done / failed / not started
    monkeypatch.setattr(LocalProvider, "update", original)
    # The lock was released: a new apply runs.
    assert cli("apply", "--auto-approve").code == 0


@pytest.mark.parametrize("out", [".", ".."])
def test_plan_out_to_a_directory_is_an_error_not_a_crash(cli, demo, out):
    r = cli("plan", "--out", out)
    assert r.code == 1
    assert "internal error" not in r.err
    assert "cannot write" in r.err
