"""End-to-end runs of the command line on the embedded catalog, in-process through ``cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.model import CatalogConfig
from reconciler.providers import LockInfo, open_provider

ROOT = Path(__file__).resolve().parents[2]


def provider_for(workdir: Path):
    return open_provider(CatalogConfig(name="platform", provider="local", settings={"path": ".reconciler/catalog.db"}))


def test_demo_plan_apply_plan(cli, demo):
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "Plan: 1 to capture, 1 to update, 0 to replace, 1 to remove." in r.out
    assert "build-web-01" in r.out  # the consumed VM is named
    assert "web-base-2026-08" in r.out and "db-base-2026-10" in r.out

    out = cli("plan", "--format", "json").out
    js = json.loads(out)
    assert out == json.dumps(js, indent=2) + "\n"  # json.dumps' text, though written a batch at a time
    from reconciler.cli.commands import common

    with pytest.MonkeyPatch.context() as m:
        m.setattr(common, "_JSON_BATCH", 3)  # many batches
        assert cli("plan", "--format", "json").out == out
    actions = {c["name"]: c["actions"] for c in js["resource_changes"]}
    assert actions["web-base-2026-11"] == ["create"]
    assert actions["db-base-2026-10"] == ["update"]
    assert actions["web-base-2026-08"] == ["delete"]
    assert "win-base-2026-09" not in actions  # unchanged: a name and a fingerprint, by family (format 2.0)
    assert js["unchanged"]["win-base"]["win-base-2026-09"]

    r = cli("apply", "--auto-approve")
    assert r.code == 0, r.text
    assert "3 done, 0 failed, 0 not started" in r.out

    r = cli("plan", "--detailed-exitcode")
    assert r.code == 0, r.text
    assert "No changes." in r.out


def test_apply_refuses_to_wait_for_confirmation_without_a_terminal(cli, demo):
    r = cli("apply")
    assert r.code == 1
    assert "--auto-approve" in r.err
    assert "No changes" not in r.out
    assert cli("plan", "--detailed-exitcode").code == 2  # nothing changed


def test_saved_plan_round_trip_and_staleness(cli, demo):
    assert cli("plan", "--out", "plan.json").code == 0
    assert "Plan: 1 to capture" in cli("show", "plan.json").out

    # Someone edits an owned image by hand: the saved plan is stale and refused.
    p = provider_for(demo)
    try:
        img = p.snapshot().image_index()["db-base-2026-10"]
        from reconciler.model import ImageSpec, ImageType, OSState, Source

        p.update(
            img,
            ImageSpec(
                name=img.name,
                type=ImageType.VM,
                os="linux",
                os_state=OSState.SPECIALIZED,
                source=Source(vm="build-db-01"),
                label="changed by hand",
            ),
        )
    finally:
        p.close()
    r = cli("apply", "plan.json")
    assert r.code == 1
    assert "stale" in r.err and "db-base-2026-10" in r.err
    assert cli("plan", "--out", "plan.json").code == 0
    r = cli("apply", "plan.json")
    assert r.code == 0, r.text
    assert cli("plan", "--detailed-exitcode").code == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b.replace(b'"web-base-2026-11"', b'"web-base-2026-12"', 1),  # edited
        lambda b: b'{"format_version": "1.0", "resource_changes": []}',  # foreign
        lambda b: b"\x00\x01binary",
    ],
)
def test_bad_plan_files_are_refused(cli, demo, mangle):
    assert cli("plan", "--out", "plan.json").code == 0
    path = demo / "plan.json"
    path.write_bytes(mangle(path.read_bytes()))
    r = cli("apply", "plan.json")
    assert r.code == 1
    assert cli("plan", "--detailed-exitcode").code == 2  # nothing changed


def test_desired_state_edit_makes_saved_plan_stale(cli, demo):
    assert cli("plan", "--out", "plan.json").code == 0
    spec = demo / "images.yaml"
    spec.write_text(spec.read_text() + "\n# a comment\n")
    r = cli("apply", "plan.json")
    assert r.code == 1 and "desired-state file changed" in r.err


def test_validate_reports_positions_and_exit_1(cli, demo):
    (demo / "bad.yaml").write_text("version: 1\ncatalog:\n  name: platform\nimages:\n  - name: x\n    tpye: vm\n")
    r = cli("validate", "bad.yaml")
    assert r.code == 1
    assert "bad.yaml:6:" in r.text
    r = cli("validate", "bad.yaml", "--format", "github")
    assert r.code == 1 and "::error file=bad.yaml,line=6" in r.out
    r = cli("validate", "bad.yaml", "--format", "json")
    assert json.loads(r.out)["valid"] is False
    assert cli("validate", str(ROOT / "images.yaml.example")).code == 0


def test_bad_flags_and_missing_files_exit_1(cli, demo):
    assert cli("plan", "--no-such-flag").code == 1
    r = cli("plan", "missing.yaml")
    assert r.code == 1 and "missing.yaml" in r.err


def test_lock_held_then_force_unlock(cli, demo):
    p = provider_for(demo)
    try:
        handle = p.acquire_lock(LockInfo.new("apply", who="someone-else"), 0)
    finally:
        p.close()
    r = cli("apply", "--auto-approve", "--lock-timeout", "0")
    assert r.code == 1 and "someone-else" in r.err
    assert cli("force-unlock", "not-the-id").code == 1
    r = cli("force-unlock", handle.info.id)
    assert r.code == 0, r.text
    assert cli("apply", "--auto-approve").code == 0


def test_targeted_apply_then_the_rest(cli, demo):
    r = cli("apply", "--auto-approve", "--target", "db-base-2026-10")
    assert r.code == 0 and "1 done" in r.out
    r = cli("plan", "--detailed-exitcode")
    assert r.code == 2 and "Plan: 1 to capture, 0 to update, 0 to replace, 1 to remove." in r.out


def test_no_prune_overrides_policy(cli, demo):
    r = cli("plan", "--no-prune")
    assert "0 to remove" in r.out


def test_images_views(cli, demo):
    rows = json.loads(cli("images", "list", "--format", "json").out)
    names = {r["name"] for r in rows}
    assert {"db-base-2026-10", "Ubuntu-24_04-LTS"} <= names
    vm_only = json.loads(cli("images", "list", "--type", "vm", "--format", "json").out)
    assert all(r["type"] == "vm" for r in vm_only)
    public = json.loads(cli("images", "list", "--category", "public", "--format", "json").out)
    assert public and all(r["category"] == "public" for r in public)
    fam = json.loads(cli("images", "list", "--family", "db-base", "--format", "json").out)
    assert [r["name"] for r in fam] == ["db-base-2026-10"]
    assert "web-base" in cli("images", "families").out


def test_import_then_export_then_plan_is_empty(cli, demo):
    r = cli("import", "legacy-tools")
    assert r.code == 0, r.text
    assert cli("import", "Ubuntu-24_04-LTS").code == 1  # public
    assert cli("apply", "--auto-approve", "--no-prune").code == 0
    r = cli("export", "--out", "exported.yaml")
    assert r.code == 0, r.text
    r = cli("plan", "exported.yaml", "--detailed-exitcode")
    assert r.code == 0, r.text


def test_drift_exit_codes(cli, demo):
    assert cli("drift").code == 2
    assert cli("apply", "--auto-approve").code == 0
    assert cli("drift").code == 0


def test_github_step_summary_and_annotations(cli, demo, monkeypatch):
    summary = demo / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    r = cli("plan", "--format", "markdown")
    assert r.code == 0
    assert r.out.startswith("<!-- reconciler:catalog=platform -->\n### reconciler plan: catalog **platform** (local)")
    assert "\n**Plan:**" in r.out
    assert summary.read_text().startswith("<!-- reconciler:catalog=platform -->")
    # A plan error reaches GitHub as an annotation.
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    spec = demo / "images.yaml"
    spec.write_text(spec.read_text().replace("source: {vm: build-web-01}", "source: {vm: no-such-vm}"))
    r = cli("plan")
    assert r.code == 1
    assert "::error" in r.err and "no-such-vm" in r.err and "::error" not in r.out  # stdout is the plan


def test_import_warns_when_prune_would_remove_the_adopted_image(cli, demo):
    r = cli("import", "legacy-tools")
    assert r.code == 0
    assert "prune is on" in r.err and "legacy-tools" in r.err


def test_a_one_family_export_does_not_prune_the_rest(cli, demo):
    assert cli("apply", "--auto-approve").code == 0
    r = cli("export", "--family", "db-base", "--out", "db.yaml")
    assert r.code == 0, r.text
    assert "prune: false" in (demo / "db.yaml").read_text()
    r = cli("plan", "db.yaml", "--detailed-exitcode")
    assert r.code == 0, r.text


def test_drift_reads_as_a_drift_report(cli, demo):
    r = cli("drift")
    assert r.code == 2
    assert r.out.startswith('Drift in catalog "platform"') and "apply would perform" in r.out
    assert cli("drift", "--format", "markdown").out.startswith("**Drift check** (read-only)")
