"""Issue 11 §2/§3 through the command line, offline on the local provider: ``latest`` moved and
rolled back, a lifecycle that deprecates then deletes with an injected clock (``RECONCILER_NOW``),
a saved plan applied later keeping its time, and validate's messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SEED = {
    "vms": [{"name": "build-01", "os": "linux", "power_state": "stopped", "os_state": "generalized"}],
    "images": [
        {"name": f"web-base-{v}", "type": "os", "os": "linux", "family": "web-base", "owner": "platform",
         "created": created}
        for v, created in (("1.1.0", "2026-08-01T00:00:00Z"), ("1.2.0", "2026-09-01T00:00:00Z"),
                           ("1.3.2", "2026-10-01T00:00:00Z"), ("1.4.0", "2026-11-20T00:00:00Z"))
    ],
}

HEAD = "version: 1\ncatalog: {name: platform}\n"


@pytest.fixture
def catalog(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seed.json").write_text(json.dumps(SEED))
    r = cli("catalog", "init", "--from", "seed.json")
    assert r.code == 0, r.text
    return tmp_path


def _write(path: Path, body: str) -> None:
    (path / "images.yaml").write_text(HEAD + body)


def _latest_column(cli) -> dict[str, str]:
    r = cli("images", "list", "--family", "web-base")
    assert r.code == 0, r.text
    rows = [line.split() for line in r.out.splitlines()[1:]]
    return {row[0]: row[-1] for row in rows}


def test_latest_moved_and_rolled_back(catalog, cli):
    _write(catalog, "images: []\n")
    assert _latest_column(cli)["web-base-1.4.0"] == "latest"
    _write(catalog, "families:\n  web-base: {latest: 1.3.2}\nimages: []\n")
    r = cli("plan")
    assert r.code == 0, r.text
    assert "latest(web-base): 1.4.0 -> 1.3.2" in r.out
    assert "extra.exclude_from_latest: null -> true" in r.out
    r = cli("plan", "--format", "json")
    assert json.loads(r.out)["latest"] == [{"family": "web-base", "before": "1.4.0", "after": "1.3.2"}]
    assert cli("apply", "--auto-approve").code == 0
    marks = _latest_column(cli)
    assert marks["web-base-1.3.2"] == "latest" and marks["web-base-1.4.0"] == "-"
    listed = json.loads(cli("images", "list", "--family", "web-base", "--format", "json").out)
    assert {i["name"]: i["latest"] for i in listed} == {
        "web-base-1.1.0": None, "web-base-1.2.0": None, "web-base-1.3.2": "latest", "web-base-1.4.0": None}
    assert cli("plan", "--detailed-exitcode").code == 0  # converged

    # Rollback is a one-line revert.
    _write(catalog, "families:\n  web-base: {latest: 1.4.0}\nimages: []\n")
    r = cli("plan")
    assert "latest(web-base): 1.3.2 -> 1.4.0" in r.out
    assert "extra.exclude_from_latest: true -> false" in r.out
    assert cli("apply", "--auto-approve").code == 0
    assert _latest_column(cli)["web-base-1.4.0"] == "latest"
    assert cli("plan", "--detailed-exitcode").code == 0


LIFECYCLE = """policy:
  lifecycle:
    web-base: {keep: 2, deprecate_after: 30d, delete_after: 30d}
families:
  web-base: {latest: 1.4.0}
images: []
"""


def test_a_lifecycle_deprecates_then_deletes_with_an_injected_clock(catalog, cli, monkeypatch):
    _write(catalog, LIFECYCLE)
    monkeypatch.setenv("RECONCILER_NOW", "2026-12-01T00:00:00Z")
    r = cli("plan", "--out", "deprecate.plan")
    assert r.code == 0, r.text
    assert ("~ update web-base-1.1.0 (os, linux, generalized) — lifecycle: older than 30d, not among the newest 2"
            in r.out)
    assert '+ tags.deprecated-at: "2026-12-01T00:00:00Z"' in r.out
    assert 'extra.end_of_life_date: null -> "2026-12-01"' in r.out
    assert "web-base-1.3.2" not in r.out  # among the newest 2 (1.4.0 is also latest)
    saved = json.loads((catalog / "deprecate.plan").read_text())
    assert saved["now"] == "2026-12-01T00:00:00Z"

    # Applied three weeks later, the saved plan keeps its time: the tags say 2026-12-01.
    monkeypatch.setenv("RECONCILER_NOW", "2026-12-22T00:00:00Z")
    r = cli("apply", "deprecate.plan")
    assert r.code == 0, r.text
    r = cli("images", "list", "--family", "web-base", "--format", "json")
    tags = {i["name"]: i["tags"] for i in json.loads(r.out)}
    assert tags["web-base-1.1.0"] == {"deprecated-at": "2026-12-01T00:00:00Z"}
    assert cli("plan", "--detailed-exitcode").code == 0  # 21 days deprecated: not due yet

    monkeypatch.setenv("RECONCILER_NOW", "2026-12-31T00:00:00Z")  # exactly 30 days: due
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "- remove web-base-1.1.0 (os, linux, generalized) — lifecycle: deprecated 2026-12-01T00:00:00Z, " \
           "delete after 30d" in r.out
    assert cli("apply", "--auto-approve").code == 0
    names = {i["name"] for i in json.loads(cli("images", "list", "--format", "json").out)}
    assert names == {"web-base-1.3.2", "web-base-1.4.0"}
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_bad_clock_is_a_clear_error(catalog, cli, monkeypatch):
    _write(catalog, LIFECYCLE)
    monkeypatch.setenv("RECONCILER_NOW", "yesterday")
    r = cli("plan")
    assert r.code == 1 and "RECONCILER_NOW" in r.err


def test_validate_explains_durations_retention_and_unsupported_providers(catalog, cli):
    _write(catalog, "policy:\n  retention: {web-base: 3}\n  lifecycle:\n    db: {deprecate_after: 30days}\n"
                    "families:\n  web-base: {latest_rollout: [{regions: [westeurope]}]}\nimages: []\n")
    r = cli("validate")
    assert r.code == 1
    assert "images.yaml:4:15: warning: policy.retention.web-base: 3 works as policy.lifecycle.web-base.keep: 3" in r.out
    assert "images.yaml:6:27: error: deprecate_after: '30days' is not a duration" in r.out
    assert "hint: write a whole number and a unit: 30m, 72h, 30d or 2w" in r.out
    assert "family 'web-base' declares latest_rollout but no latest" in r.out
    assert "latest_rollout is not supported by local: its images have no regions" in r.out
    assert "Traceback" not in r.text
