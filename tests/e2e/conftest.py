"""Fixtures of the end-to-end tests: ``cli`` runs the real command line in-process; ``demo`` is a
working directory with the demo catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.cli import main

ROOT = Path(__file__).resolve().parents[2]


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(list(args))
        out, err = capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else (0 if exc.value.code is None else 1)
        assert "Traceback" not in out + err
        return Result(code, out, err)

    return run


@pytest.fixture
def demo(tmp_path, monkeypatch, cli):
    """A working directory with the demo catalog seeded and images.yaml copied from the example."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "images.yaml.example", tmp_path / "images.yaml")
    r = cli("catalog", "init", "--from", str(ROOT / "examples" / "demo-catalog.json"))
    assert r.code == 0, r.text
    return tmp_path
