"""Issue 12 §3 on the command line: each test failed before its fix."""

from __future__ import annotations

from pathlib import Path


def _break_a_source(demo: Path) -> None:
    f = demo / "images.yaml"
    f.write_text(f.read_text().replace("source: {vm: build-web-01}", "source: {vm: no-such-vm}"))


def test_a_plan_with_errors_and_out_says_no_file_was_written(cli, demo):
    _break_a_source(demo)
    r = cli("plan", "--out", "plan.json")
    assert r.code == 1
    assert "error: the plan has errors, so no plan file was written to plan.json" in r.err
    assert not (demo / "plan.json").exists()


def test_entries_with_errors_are_not_counted_unchanged(cli, demo):
    f = demo / "images.yaml"
    # legacy-tools exists unowned: declaring it is refused (a no-op carrying an error), not "unchanged".
    f.write_text(f.read_text().replace("name: db-base-2026-10", "name: legacy-tools"))
    r = cli("plan")
    assert r.code == 1
    assert "legacy-tools" in r.out and "not owned" in r.out
    assert "1 unchanged." in r.out, r.out  # win-base-2026-09 only


def test_catalog_path_is_relative_to_the_desired_state_file(cli, tmp_path, monkeypatch):
    import shutil

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team").mkdir()
    shutil.copy(root / "images.yaml.example", tmp_path / "team" / "images.yaml")
    r = cli("catalog", "init", "--from", str(root / "examples" / "demo-catalog.json"), "--file", "team/images.yaml")
    assert r.code == 0, r.text
    assert (tmp_path / "team" / ".reconciler" / "catalog.db").is_file()
    assert not (tmp_path / ".reconciler").exists()
    assert cli("plan", "team/images.yaml").code == 0
    monkeypatch.chdir(tmp_path / "team")
    assert cli("plan", "images.yaml").code == 0  # the same catalog from the file's own directory

    (tmp_path / "team" / ".reconciler" / "catalog.db").unlink()
    monkeypatch.chdir(tmp_path)
    r = cli("plan", "team/images.yaml")
    assert r.code == 1
    assert f"no catalog at {tmp_path / 'team' / '.reconciler' / 'catalog.db'}" in r.err, r.err


def test_entries_with_errors_are_not_counted_unchanged_in_the_markdown_families(cli, demo):
    f = demo / "images.yaml"
    f.write_text(f.read_text().replace("name: db-base-2026-10", "name: legacy-tools"))
    md = cli("plan", "--format", "markdown").out
    (row,) = [line for line in md.splitlines() if line.startswith("| db-base |")]
    assert row.rstrip().endswith("| 0 |"), row  # legacy-tools is refused, not unchanged


def test_apply_without_a_terminal_logs_each_change_once_with_utc_stamps(cli, demo):
    import re

    r = cli("apply", "--auto-approve")
    assert r.code == 0, r.text
    lines = r.out.splitlines()
    log = [line for line in lines if re.match(r"^\d\d:\d\d:\d\d", line)]
    assert log and all(re.match(r"^\d\d:\d\d:\d\dZ ", line) for line in log), log
    update = [line.split(" ", 1)[1] for line in log if "db-base-2026-10" in line]
    assert len(update) == 2 and update[0] == "~ db-base-2026-10: update started", update
    assert update[1].startswith("~ db-base-2026-10: update done in "), update
    assert r.out.count("db-base-2026-10") == 3, r.out  # the plan once, then its two log lines
    assert "Apply finished: 3 done, 0 failed, 0 not started." in r.out
