"""The command line on Ctrl-C during apply, on ``plan --out`` naming a directory, and on large saved plans.

Each one failed before its fix."""

from __future__ import annotations

import json

import pytest

from reconciler.providers.local import LocalProvider


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


def test_apply_recognises_a_large_saved_plan_whatever_its_name(cli, tmp_path, monkeypatch):
    # Many owned images: the fingerprints push "plan_file" far past the first few kilobytes.
    monkeypatch.chdir(tmp_path)
    images = [
        {
            "name": f"bulk-{i:04d}",
            "type": "os",
            "os": "linux",
            "os_state": "generalized",
            "category": "user",
            "family": "bulk",
            "label": None,
            "description": None,
            "recommended_vm_size": None,
            "tags": {},
            "owner": "platform",
            "protected": False,
            "source": None,
            "data_disks": 0,
            "created": "2026-01-01T00:00:00Z",
        }
        for i in range(200)
    ]
    (tmp_path / "seed.json").write_text(json.dumps({"vms": [], "images": images}))
    assert cli("catalog", "init", "--from", "seed.json").code == 0
    (tmp_path / "images.yaml").write_text("version: 1\ncatalog: {name: platform}\nimages: []\n")
    r = cli("plan", "--out", "reviewed.plan")
    assert r.code == 0, r.text
    assert (tmp_path / "reviewed.plan").read_bytes().find(b'"plan_file"') > 4096
    r = cli("apply", "reviewed.plan")
    assert r.code == 0, r.text
    assert "Applying the saved plan reviewed.plan" in r.out
