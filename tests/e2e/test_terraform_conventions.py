"""Terraform's conventions on the command line (issue 12 §2): --no-lock, --replace, global options
after the command, -h, completion, help and error wording, fmt."""

from __future__ import annotations

from pathlib import Path

from reconciler.model import CatalogConfig
from reconciler.providers import LockInfo, open_provider

ROOT = Path(__file__).resolve().parents[2]
NO_LOCK_WARNING = "warning: --no-lock: running without the catalog lock; another apply may run at the same time"


def _hold_lock():
    p = open_provider(CatalogConfig(name="platform", provider="local", settings={"path": ".reconciler/catalog.db"}))
    try:
        return p.acquire_lock(LockInfo.new("apply", who="someone-else"), 0)
    finally:
        p.close()


# -- --no-lock -------------------------------------------------------------------------------------


def test_no_lock_applies_while_the_lock_is_held_and_warns(cli, demo):
    _hold_lock()
    r = cli("apply", "--auto-approve")
    assert r.code == 1 and "someone-else" in r.err
    r = cli("apply", "--auto-approve", "--no-lock")
    assert r.code == 0, r.text
    assert NO_LOCK_WARNING in r.err
    assert "3 done" in r.out


def test_no_lock_on_import(cli, demo):
    _hold_lock()
    assert cli("import", "legacy-tools").code == 1
    r = cli("import", "legacy-tools", "--no-lock")
    assert r.code == 0, r.text
    assert NO_LOCK_WARNING in r.err
    assert "legacy-tools: imported" in r.out


# -- --replace -------------------------------------------------------------------------------------


def test_replace_recaptures_an_up_to_date_image(cli, demo):
    assert cli("apply", "--auto-approve").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
    r = cli("plan", "--replace", "db-base-2026-10", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "Plan: 0 to capture, 0 to update, 1 to replace, 0 to remove." in r.out
    assert "replace requested with --replace" in r.out
    js = __import__("json").loads(cli("plan", "--replace", "DB-base-2026-10", "--format", "json").out)
    (db,) = [c for c in js["resource_changes"] if c["name"] == "db-base-2026-10"]
    assert db["actions"] == ["delete", "create"] and db["reason"] == "replace requested with --replace"
    assert js["replace"] == ["db-base-2026-10"]
    r = cli("apply", "--auto-approve", "--replace", "db-base-2026-10")
    assert r.code == 0, r.text
    assert "1 done" in r.out
    assert cli("plan", "--detailed-exitcode").code == 0


def test_replace_is_refused_for_what_it_may_not_replace(cli, demo):
    r = cli("plan", "--replace", "win-base-2026-09")  # protected
    assert r.code == 1 and "--replace: cannot replace 'win-base-2026-09': it is protected" in r.text
    r = cli("plan", "--replace", "no-such-image")
    assert r.code == 1 and "--replace 'no-such-image' is not declared in the desired-state file" in r.text
    r = cli("plan", "--replace", "legacy-tools")  # unowned, and not declared
    assert r.code == 1 and "not declared" in r.text
    spec = demo / "images.yaml"
    spec.write_text(spec.read_text().replace("  - name: db-base-2026-10\n", "  - name: legacy-tools\n"))
    r = cli("plan", "--replace", "legacy-tools")  # declared, but not ours
    assert r.code == 1 and "not owned by catalog 'platform'" in r.text


def test_a_saved_plan_records_replace_and_applies_the_same(cli, demo):
    assert cli("apply", "--auto-approve").code == 0
    r = cli("plan", "--replace", "db-base-2026-10", "--out", "plan.json")
    assert r.code == 0, r.text
    assert __import__("json").loads((demo / "plan.json").read_text())["replace"] == ["db-base-2026-10"]
    assert cli("apply", "plan.json", "--replace", "db-base-2026-10").code == 1  # the plan decided that
    r = cli("apply", "plan.json")
    assert r.code == 0, r.text
    assert "1 done" in r.out


def test_a_saved_plan_without_replace_has_no_replace_key(cli, demo):
    assert cli("plan", "--out", "plan.json").code == 0
    assert "replace" not in __import__("json").loads((demo / "plan.json").read_text())


# -- global options, -h, completion ------------------------------------------------------------------


def test_global_options_after_the_command(cli, demo):
    r = cli("plan", "--debug", "--no-color")
    assert r.code == 0, r.text
    r = cli("validate", "--no-color")
    assert r.code == 0, r.text
    r = cli("images", "list", "--debug")
    assert r.code == 0, r.text


def test_dash_h_is_help_everywhere(cli):
    for args in (["-h"], ["plan", "-h"], ["apply", "-h"], ["images", "list", "-h"], ["catalog", "init", "-h"],
                 ["emulator", "arm", "-h"], ["force-unlock", "-h"]):
        r = cli(*args)
        assert r.code == 0 and r.out.startswith("Usage: reconciler"), (args, r.text)


def test_shell_completion_is_offered(cli):
    assert "--install-completion" in cli("--help").out
    r = cli("--show-completion", "bash")
    assert r.code == 0 and "_reconciler_completion" in r.out, r.text


# -- help and error wording ------------------------------------------------------------------------

COMMANDS = [
    [], ["validate"], ["plan"], ["show"], ["apply"], ["drift"], ["import"], ["export"], ["force-unlock"],
    ["images"], ["images", "list"], ["images", "families"], ["catalog"], ["catalog", "init"],
    ["emulator"], ["emulator", "arm"], ["emulator", "classic"],
]


def test_help_shows_no_implementation_types(cli):
    import re

    for args in COMMANDS:
        r = cli(*args, "--help")
        assert r.code == 0, (args, r.text)
        bad = re.findall(r"<[a-z][^>]*>|\[\[|\{[A-Z.]+\}|list\[|\bstr\b|\bint range\b|\bfloat range\b", r.out)
        assert bad == [], (args, bad, r.out)
    assert "Usage: reconciler apply [OPTIONS] [FILE|PLAN]" in cli("apply", "-h").out
    assert "Usage: reconciler import [OPTIONS] NAME..." in cli("import", "-h").out
    assert "Usage: reconciler show [OPTIONS] PLAN" in cli("show", "-h").out
    assert "--target NAME" in cli("plan", "-h").out and "--out FILE" in cli("plan", "-h").out


def test_usage_errors_in_plain_words(cli):
    r = cli("validate", "--format", "gh")
    assert r.code == 1
    assert "error: invalid value for --format: 'gh' (choose from text, json, github)" in r.err
    assert "Value error" not in r.err and "is not one of" not in r.err
    r = cli("apply", "--parallelism", "0")
    assert r.code == 1 and "invalid value for --parallelism: must be from 1 to 100" in r.err
    r = cli("apply", "--parallelism", "x")
    assert r.code == 1 and "invalid value for --parallelism: expected a whole number" in r.err
    assert "Input should be" not in r.err
    r = cli("plan", "--nope")
    assert r.code == 1 and "error: no such option: --nope" in r.err and "plan -h" in r.err


def test_messages_name_no_internal_class(cli, demo):
    r = cli("catalog", "init", "--from", str(ROOT / "examples" / "demo-catalog.json"))
    assert r.code == 1
    assert "a catalog already exists" in r.err and "AlreadyExists" not in r.err


# -- fmt -------------------------------------------------------------------------------------------

UNFORMATTED = """\
# The platform catalog.
images:
    # The web image.
    - tags: {team: web}   # who owns it
      name: web-base-2026-11
      os: linux
      type: vm
      os_state: generalized
      family: web-base
      source:
          vm: build-web-01   # consumed by the capture
      protect: true

    # The db image.
    - name: db-base-2026-10
      type: vm
      os: linux
      os_state: specialized
      source: {vm: build-db-01}
version: 1   # only 1 exists
policy: {prune: false}
catalog:
    provider: local
    name: platform   # the ownership marker
    path: .reconciler/catalog.db
"""

FORMATTED = """\
# The platform catalog.
version: 1   # only 1 exists
catalog:
  name: platform   # the ownership marker
  provider: local
  path: .reconciler/catalog.db
policy: {prune: false}
images:
  # The web image.
  - name: web-base-2026-11
    type: vm
    os: linux
    os_state: generalized
    family: web-base
    source:
      vm: build-web-01   # consumed by the capture
    tags: {team: web}   # who owns it
    protect: true

  # The db image.
  - name: db-base-2026-10
    type: vm
    os: linux
    os_state: specialized
    source: {vm: build-db-01}
"""


def test_fmt_check_shows_the_diff_and_exits_3_writing_nothing(cli, demo):
    spec = demo / "images.yaml"
    spec.write_text(UNFORMATTED)
    r = cli("fmt", "--check")
    assert r.code == 3, r.text
    assert r.out.startswith("--- images.yaml\n+++ images.yaml (formatted)\n")
    assert "+version: 1   # only 1 exists" in r.out
    assert spec.read_text() == UNFORMATTED


def test_fmt_rewrites_in_canonical_order_keeping_comments(cli, demo):
    spec = demo / "images.yaml"
    spec.write_text(UNFORMATTED)
    r = cli("fmt")
    assert r.code == 0, r.text
    assert spec.read_text() == FORMATTED
    assert cli("fmt", "--check").code == 0  # idempotent
    assert cli("validate").code == 0


def test_fmt_leaves_the_shipped_example_as_it_is(cli, demo):
    r = cli("fmt", "--check", str(ROOT / "images.yaml.example"))
    assert r.code == 0, r.text


def test_fmt_refuses_an_invalid_file(cli, demo):
    spec = demo / "images.yaml"
    bad = UNFORMATTED.replace("os: linux\n      type: vm", "os: lunix\n      type: vm")
    spec.write_text(bad)
    r = cli("fmt")
    assert r.code == 1
    assert "lunix" in r.err and "was not formatted" in r.err
    assert spec.read_text() == bad


# -- --no-lock against the ARM emulator: no lock storage needed (docs/azure.md, "Trying it locally") --


def test_no_lock_applies_to_the_arm_emulator_without_lock_storage(cli, tmp_path, monkeypatch):
    from reconciler.emulators.arm import ArmEmulator
    from tests.contract.harness_azure_managed import LOCATION, RG, SUB, vm_resource

    emu = ArmEmulator({"resources": [vm_resource({"name": "build-0", "os": "linux", "power_state": "deallocated",
                                                  "os_state": "generalized"})]})
    emu.faults.lro_seconds = 0
    emu.faults.retry_after = 0
    emu.start()
    try:
        monkeypatch.chdir(tmp_path)
        for k in [k for k in __import__("os").environ if k.startswith(("AZURE_", "RECONCILER_"))]:
            monkeypatch.delenv(k)
        monkeypatch.setenv("AZURE_ACCESS_TOKEN", "dev")
        (tmp_path / "images.yaml").write_text(
            "version: 1\ncatalog:\n  name: platform\n  provider: azure\n"
            f"  subscription: {SUB}\n  resource_group: {RG}\n  location: {LOCATION}\n  endpoint: {emu.url}\n"
            "images:\n  - name: app-0\n    type: vm\n    os: linux\n    os_state: generalized\n"
            "    family: app\n    source: {vm: build-0}\n"
        )
        r = cli("apply", "--auto-approve")
        assert r.code == 1 and "lock_storage_account" in r.err  # the lock needs its storage
        r = cli("apply", "--auto-approve", "--no-lock")
        assert r.code == 0, r.text
        assert NO_LOCK_WARNING in r.err and "1 done" in r.out
    finally:
        emu.stop()


def test_the_pre_commit_hooks_run_validate_and_fmt_check(cli, demo):
    import re
    import shlex

    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"reconciler-validate", "reconciler-fmt"}
    assert all(h["language"] == "python" for h in hooks.values())
    assert hooks["reconciler-fmt"]["entry"] == "reconciler fmt --check"
    for hook in hooks.values():
        assert re.search(hook["files"], "catalogs/prod/images.yaml") and re.search(hook["files"], "images.yaml")
        program, *args = shlex.split(hook["entry"])
        assert program == "reconciler"
        r = cli(*args, "images.yaml")  # pre-commit appends the file names
        assert r.code == 0, (hook["id"], r.text)
    (demo / "images.yaml").write_text(UNFORMATTED)
    assert cli(*shlex.split(hooks["reconciler-fmt"]["entry"])[1:], "images.yaml").code == 3


def test_validate_and_fmt_take_several_files_as_pre_commit_passes_them(cli, demo):
    import shutil

    shutil.copy(demo / "images.yaml", demo / "images-b.yaml")
    assert cli("validate", "images.yaml", "images-b.yaml").code == 0
    assert cli("fmt", "--check", "images.yaml", "images-b.yaml").code == 0
    (demo / "images-b.yaml").write_text(UNFORMATTED)
    r = cli("fmt", "--check", "images.yaml", "images-b.yaml")
    assert r.code == 3 and "images-b.yaml is not formatted" in r.err and "images.yaml is not" not in r.err
    (demo / "images-b.yaml").write_text("version: 2\n")
    assert cli("validate", "images.yaml", "images-b.yaml").code == 1
    assert cli("validate", "--format", "json", "images.yaml", "images-b.yaml").code == 1


def test_the_command_line_builds_only_the_command_it_runs() -> None:
    """``app._narrowed`` (issue 13: typer builds every command's click object on each run): a named
    command or group alone; no name, a help request before it, or an unknown name keeps them all."""
    import reconciler.cli  # noqa: F401 - registers every command
    from reconciler.cli.app import _narrowed, app

    everything = len(app.registered_commands) + len(app.registered_groups)
    for argv, kept in ((["plan", "x.yaml"], ["plan"]), (["--debug", "catalog", "init"], ["catalog"]),
                       (["force-unlock", "ID"], ["force-unlock"]), (["import", "web"], ["import"])):
        narrowed = _narrowed(app, argv)
        names = [c.name or c.callback.__name__ for c in narrowed.registered_commands] + [
            g.name for g in narrowed.registered_groups]
        assert [n.replace("_", "-") for n in names] == kept, argv
    for argv in ([], ["--help", "plan"], ["-h"], ["nosuch"], ["--version"]):
        narrowed = _narrowed(app, argv)
        assert len(narrowed.registered_commands) + len(narrowed.registered_groups) == everything, argv
