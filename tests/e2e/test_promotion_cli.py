"""Promotion between two local catalogs through the CLI, offline, with an injected clock (issue 11 §1).

``dev.yaml`` captures ``web-base-1`` into ``dev.db``; ``prod.yaml`` reads ``dev.db`` as
``sources.dev`` and declares ``source: {image: dev:web-base-1}`` with ``promote_when``. The plan
shows the promotion waiting (not a change: ``--detailed-exitcode`` 0) with its reasons, in text,
Markdown and JSON; once the source is old enough and tagged, it is a capture, applied from a saved
plan; the next plan is empty and the dev catalog was never written. ``RECONCILER_NOW`` is the clock.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DEV = """\
version: 1
catalog: {name: dev, provider: local, path: dev.db}
images:
  - name: web-base-1
    type: os
    os: linux
    source: {vm: build-01}
    tags: {validated: "TAG"}
"""

PROD = """\
version: 1
catalog: {name: prod, provider: local, path: prod.db}
sources:
  dev: {path: dev.db}
images:
  - name: web-base-1
    type: os
    os: linux
    family: web-base
    source: {image: "dev:web-base-1"}
    promote_when: {min_age: 72h, tags: {validated: "true"}}
"""


@pytest.fixture
def two_catalogs(tmp_path: Path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dev-seed.json").write_text(json.dumps({"vms": [
        {"name": "build-01", "os": "linux", "power_state": "stopped", "os_state": "generalized",
         "os_disk": "d0", "data_disks": [], "disk_gib": [30]}], "images": []}))
    (tmp_path / "empty-seed.json").write_text(json.dumps({"vms": [], "images": []}))
    (tmp_path / "dev.yaml").write_text(DEV.replace("TAG", "false"))
    (tmp_path / "prod.yaml").write_text(PROD)
    assert cli("catalog", "init", "--from", "dev-seed.json", "--file", "dev.yaml").code == 0
    assert cli("catalog", "init", "--from", "empty-seed.json", "--file", "prod.yaml").code == 0
    r = cli("apply", "dev.yaml", "--auto-approve")
    assert r.code == 0, r.text
    return tmp_path


def created(cli) -> str:
    r = cli("images", "list", "--file", "dev.yaml", "--format", "json")
    assert r.code == 0, r.text
    (image,) = json.loads(r.out)["images"] if isinstance(json.loads(r.out), dict) else json.loads(r.out)
    return str(image["created"])


def test_a_promotion_waits_then_is_due_then_converges(two_catalogs, cli, monkeypatch) -> None:
    from reconciler.lifecycle import format_time, parse_time

    born = parse_time(created(cli))
    assert born is not None
    from datetime import timedelta

    monkeypatch.setenv("RECONCILER_NOW", format_time(born + timedelta(hours=20)))
    r = cli("plan", "prod.yaml", "--detailed-exitcode")
    assert r.code == 0, r.text  # waiting is no change
    assert "1 promotion waiting" in r.out
    assert ("~ web-base-1 WAITING: dev:web-base-1 is 20h old, needs 72h; "
            "dev:web-base-1 has validated=false, needs validated=true") in r.out
    md = cli("plan", "prod.yaml", "--format", "markdown")
    assert "⏳ 1 promotion waiting" in md.out and "### ⏳ Waiting promotions" in md.out
    doc = json.loads(cli("plan", "prod.yaml", "--format", "json").out)
    assert doc["summary"]["waiting"] == 1 and doc["summary"]["capture"] == 0
    (change,) = doc["resource_changes"]
    assert change["waiting"].startswith("dev:web-base-1 is 20h old") and change["actions"] == ["create"]

    # Old enough now, but the tag is still wrong: still waiting, for that reason only.
    monkeypatch.setenv("RECONCILER_NOW", format_time(born + timedelta(hours=72)))
    r = cli("plan", "prod.yaml", "--detailed-exitcode")
    assert r.code == 0 and "WAITING: dev:web-base-1 has validated=false, needs validated=true\n" in r.out

    (two_catalogs / "dev.yaml").write_text(DEV.replace("TAG", "true"))
    assert cli("apply", "dev.yaml", "--auto-approve").code == 0
    dev_before = (two_catalogs / "dev.db").read_bytes()
    r = cli("plan", "prod.yaml", "--detailed-exitcode", "--out", "promote.json")
    assert r.code == 2, r.text
    assert "+ capture web-base-1" in r.out and "WAITING" not in r.out
    # Issue 11 §5: the copy holds the source's disks once (build-01's 30 GiB OS disk).
    assert "      storage: +30 GiB local stored\n" in r.out
    assert "Storage: +30 GiB stored, -0 GiB freed.\n" in r.out
    r = cli("apply", "promote.json", "--file", "prod.yaml", "--auto-approve")
    assert r.code == 0, r.text
    assert "copy from dev:web-base-1" in r.text
    r = cli("plan", "prod.yaml", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out and "WAITING" not in r.out, r.text
    listed = cli("images", "list", "--file", "prod.yaml")
    assert "web-base-1" in listed.out and "prod" in listed.out
    assert (two_catalogs / "dev.db").read_bytes() == dev_before  # the source catalog is only read


def test_validate_refuses_an_undeclared_source_and_a_gate_without_promotion(two_catalogs, cli) -> None:
    (two_catalogs / "bad.yaml").write_text(PROD.replace("dev:web-base-1", "qa:web-base-1").replace(
        "  - name: web-base-1", "  - name: other\n    type: os\n    os: linux\n    source: {vm: x}\n"
        "    promote_when: {min_age: 1d}\n  - name: web-base-1"))
    r = cli("validate", "bad.yaml")
    assert r.code == 1
    assert "source.image 'qa:web-base-1' names source 'qa', which sources: does not declare" in r.text
    assert "promote_when goes with a promotion" in r.text
    assert "bad.yaml:" in r.text and "Traceback" not in r.text


def test_a_bad_injected_clock_is_a_clear_error(two_catalogs, cli, monkeypatch) -> None:
    monkeypatch.setenv("RECONCILER_NOW", "yesterday")
    r = cli("plan", "prod.yaml")
    assert r.code == 1 and "RECONCILER_NOW='yesterday' is not an ISO-8601 time" in r.text


def test_a_saved_plan_of_a_waiting_promotion_still_waits_when_applied_later(two_catalogs, cli, monkeypatch) -> None:
    """The saved plan records ``now``; ``apply PLAN`` plans again at that time (issue 11 §3), so a
    promotion reviewed as waiting is not copied at merge even though it has become due since."""
    from datetime import timedelta

    from reconciler.lifecycle import format_time, parse_time

    (two_catalogs / "dev.yaml").write_text(DEV.replace("TAG", "true"))
    assert cli("apply", "dev.yaml", "--auto-approve").code == 0
    born = parse_time(created(cli))
    assert born is not None
    reviewed = format_time(born + timedelta(hours=20))
    monkeypatch.setenv("RECONCILER_NOW", reviewed)
    r = cli("plan", "prod.yaml", "--out", "waiting.json")
    assert r.code == 0 and "WAITING: dev:web-base-1 is 20h old, needs 72h\n" in r.out, r.text
    assert json.loads((two_catalogs / "waiting.json").read_text())["now"] == reviewed

    monkeypatch.setenv("RECONCILER_NOW", format_time(born + timedelta(hours=80)))
    r = cli("apply", "waiting.json", "--file", "prod.yaml", "--auto-approve")
    assert r.code == 0, r.text
    assert "copy from" not in r.text
    listed = json.loads(cli("images", "list", "--file", "prod.yaml", "--format", "json").out)
    images = listed["images"] if isinstance(listed, dict) else listed
    assert all(i["name"] != "web-base-1" for i in images)
    r = cli("plan", "prod.yaml", "--detailed-exitcode")  # a fresh plan at merge time: due now
    assert r.code == 2 and "+ capture web-base-1" in r.out, r.text
