"""The example GitHub Actions workflows only use real reconciler commands and flags."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
import yaml

from reconciler.cli import app

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / "examples" / "github-actions").glob("*.yml"))


def invocations(doc: dict) -> list[list[str]]:
    out = []
    for job in doc.get("jobs", {}).values():
        for step in job.get("steps", []):
            for line in str(step.get("run", "")).splitlines():
                line = line.split(">", 1)[0].strip()
                if line.startswith("reconciler "):
                    out.append(shlex.split(line)[1:])
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


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_invocation_parses(path):
    doc = yaml.safe_load(path.read_text())
    calls = invocations(doc)
    assert calls, "a workflow without reconciler calls"
    for argv in calls:
        check(argv)


def test_checker_catches_a_bad_flag():
    with pytest.raises(AssertionError):
        check(["plan", "--no-such-flag"])
    with pytest.raises(AssertionError):
        check(["frobnicate"])
