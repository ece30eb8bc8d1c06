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


# --------------------------------------------------------------------------------------------------
# Safety rules: one pure home (rules.py), one write-time guard (providers/guard.py)

#: The modules that define a backend's primitives; only the guard calls them.
BACKENDS = {"providers/local.py", "providers/azure.py", "providers/classic/provider.py"}


def test_rules_are_pure_and_import_only_model_and_errors():
    tree = ast.parse((PKG / "rules.py").read_text())
    project = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            project.add(node.module or "")
    assert project <= {"model", "errors"}, project
    assert imports(tree) <= {"__future__", "dataclasses", "enum"}, imports(tree)


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_the_guard_calls_backend_primitives(path):
    from reconciler.providers.guard import PRIMITIVES

    if rel(path) == "providers/guard.py" or rel(path) in BACKENDS:
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in PRIMITIVES, f"{rel(path)}:{node.lineno} calls {node.func.attr}"


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backends_supply_primitives_not_policy(name):
    """A backend class defines no Provider write method (the guard's) and no rule of its own."""
    tree = ast.parse((PKG / name).read_text())
    backends = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Backend")]
    assert backends, f"{name} defines no backend"
    for cls in backends:
        methods = {f.name for f in cls.body if isinstance(f, ast.FunctionDef)}
        assert not methods & {"capture", "update", "remove", "adopt"}, (cls.name, methods)
    source = (PKG / name).read_text()
    for copy in ("_check_capture", "_owned(", "_same_source", "OperationNotAllowed\", status=409"):
        assert copy not in source, f"{name} holds a copy of a rule: {copy}"
