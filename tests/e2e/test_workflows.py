"""The example GitHub Actions workflows only use real reconciler commands and flags."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from reconciler.cli import app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "github-actions").glob("*.yml"))
ACTION = ROOT / "action.yml"

#: The shell variables of action.yml's steps, as a typical use sets them.
ACTION_VARS = {'"$FILE"': "images.yaml", '"$PLAN"': "plan.json", '"${out[@]}"': "--out plan.json", "$ARGS": "",
               '"$OUT_DIR/plan.json"': "plan.json"}


def _steps(doc: dict) -> list[dict]:
    if "runs" in doc:
        return list(doc["runs"].get("steps", []))
    return [step for job in doc.get("jobs", {}).values() for step in job.get("steps", [])]


def invocations(doc: dict) -> list[list[str]]:
    out = []
    for step in _steps(doc):
        for line in str(step.get("run", "")).replace("\\\n", " ").splitlines():
            line = line.split("$(", 1)[-1].split(">", 1)[0].split("|", 1)[0].split(")", 1)[0].strip()
            for var, value in ACTION_VARS.items():
                line = line.replace(var, value)
            if line.startswith("reconciler ") and line != "reconciler --version":
                argv = shlex.split(line)[1:]
                while argv and argv[0] in ("--no-color", "--debug"):  # global options
                    argv.pop(0)
                out.append(argv)
    return out


def check(argv: list[str]) -> None:
    command = typer.main.get_command(app)
    rest = list(argv)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        assert name in command.commands, f"unknown command {name!r} in {argv}"
        command = command.commands[name]
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for token in rest:
        if token.startswith("-"):
            assert token.split("=", 1)[0] in known, f"unknown flag {token!r} for {command.name}: {sorted(known)}"
    ctx = command.make_context("reconciler", list(rest), resilient_parsing=False)
    ctx.close()


def test_there_are_workflows():
    assert {w.name for w in WORKFLOWS} >= {"plan.yml", "apply.yml"}


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_every_invocation_parses(path):
    doc = yaml.safe_load(path.read_text())
    calls = invocations(doc)
    if path != ACTION and not calls:
        uses = [str(s.get("uses", "")) for s in _steps(doc)]
        assert "<org>/reconciler@v1" in uses, "a workflow that neither calls reconciler nor uses the action"
        return
    assert calls, "the action calls no reconciler command"
    assert {argv[0] for argv in calls} >= ({"validate", "plan", "apply", "catalogs"} if path == ACTION else set())
    for argv in calls:
        check(argv)


def test_checker_catches_a_bad_flag():
    with pytest.raises(AssertionError):
        check(["plan", "--no-such-flag"])
    with pytest.raises(AssertionError):
        check(["frobnicate"])


# --------------------------------------------------------------------------------------------------
# GitHub's own schemas (check-jsonschema ships them: no network), installs, path filters


def _check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("check-jsonschema")
    if not exe.exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    # Offline for certain: the proxies point at a closed loopback port, so any download would fail.
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": ""}
    return subprocess.run([str(exe), "--builtin-schema", schema, *map(str, files)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_workflows_are_valid_against_githubs_schema():
    r = _check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_action_is_valid_against_githubs_schema():
    r = _check_jsonschema("vendor.github-actions", ACTION)
    assert r.returncode == 0, r.stdout + r.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert _check_jsonschema("vendor.github-workflows", bad).returncode != 0


BY_NAME = re.compile(r"pip install\s+(-\S+\s+)*['\"]?reconciler(\[[^\]]*\])?['\"]?(?!\s*@)(\s|$|`)")


def test_nothing_installs_reconciler_by_name_from_the_index():
    """An unrelated project owns the name on PyPI: install from a path or a git URL only."""
    files = [ROOT / "README.md", ACTION, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").rglob("*"))]
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in files if p.is_file()
            for m in BY_NAME.finditer(p.read_text(errors="replace"))]
    assert not hits, hits
    assert BY_NAME.search("run: pip install 'reconciler[azure]'")
    assert BY_NAME.search("pip install reconciler")
    assert not BY_NAME.search('pip install "reconciler[azure] @ git+https://github.com/org/reconciler@v1"')
    assert not BY_NAME.search('pip install "${{ github.action_path }}[azure]"')


def test_the_action_installs_from_its_own_checkout():
    text = ACTION.read_text()
    assert 'pip install -q "${ACTION_PATH}[${EXTRAS}]"' in text and "ACTION_PATH: ${{ github.action_path }}" in text


def test_path_filters_match_the_shipped_file_names():
    """`paths:` name the shipped desired-state file and the workflows under the names they are copied to."""
    names = {f".github/workflows/images-{w.stem}.yml" for w in WORKFLOWS}
    for w in WORKFLOWS:
        doc = yaml.safe_load(w.read_text())
        assert f"Copy to .github/workflows/images-{w.stem}.yml" in w.read_text()
        on = doc.get("on", doc.get(True))
        for event in on.values():
            for path in (event or {}).get("paths", []):
                assert path == "images.yaml" or path in names, f"{w.name}: {path}"
                assert path != "images.yaml" or (ROOT / "images.yaml.example").exists()
        for step in _steps(doc):
            if "download-artifact" in str(step.get("uses", "")):
                assert f".github/workflows/{step['with']['workflow']}" in names


def test_fork_prs_are_guarded_and_explained():
    for w in WORKFLOWS:
        text = w.read_text()
        assert "github.event.pull_request.head.repo.full_name == github.repository" in text, w.name
        assert "fork" in text.lower(), w.name


def test_failed_plans_still_comment():
    doc = yaml.safe_load(ACTION.read_text())
    steps = {s.get("name"): s for s in doc["runs"]["steps"]}
    for name in ("Run", "Sticky comment", "Job summary"):
        assert str(steps[name]["if"]).startswith("always()"), name
    assert "<!-- reconciler:${kind}=${process.env.CATALOG} -->" in steps["Sticky comment"]["with"]["script"]
