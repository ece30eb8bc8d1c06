"""Design §8 layering, checked on the source: who may import requests, print, exit or read the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "reconciler"
MODULES = sorted(p for p in PKG.rglob("*.py"))
PURE = {"model.py", "plan.py", "render.py", "lro.py", "errors.py", "planfile.py"}


def rel(p: Path) -> str:
    return p.relative_to(PKG).as_posix()


def imports(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_providers_and_emulators_import_requests(path):
    if rel(path).startswith(("providers/", "emulators/")):
        return
    assert "requests" not in imports(ast.parse(path.read_text())), rel(path)


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_cli_prints_exits_or_reads_the_environment(path):
    if rel(path) in {"cli.py", "__main__.py"}:
        return
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"print", "exit", "input"}, f"{rel(path)}:{node.lineno}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            assert pair not in {("sys", "exit"), ("os", "environ"), ("os", "getenv"), ("typer", "echo")}, (
                f"{rel(path)}:{node.lineno}: {pair}"
            )
    assert "typer" not in imports(tree), rel(path)


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_core_does_no_io(name):
    tree = ast.parse((PKG / name).read_text())
    banned = {"requests", "sqlite3", "socket", "subprocess", "yaml", "time", "typer"}
    if name == "lro.py":
        banned.discard("time")  # time.monotonic / time.sleep only as PollPolicy's overridable defaults
    assert not (imports(tree) & banned), f"{name}: {imports(tree) & banned}"
