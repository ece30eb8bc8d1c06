"""Design §8 layering, checked on the source: who may import requests, print, exit or read the environment."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "reconciler"
MODULES = sorted(p for p in PKG.rglob("*.py"))
PURE = {
    "model.py", "plan.py", "providers/http/lro.py", "errors.py", "planfile.py", "codec.py", "plandoc.py",
    "promotion.py", "lifecycle.py",
    *(p.relative_to(PKG).as_posix() for p in (PKG / "render").glob("*.py")),
}


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
    assert not imports(ast.parse(path.read_text())) & {"requests", "urllib3"}, rel(path)


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_retries_are_configured_in_one_place(path):
    """The one retry policy (providers/http/retry.py) is urllib3's Retry; no other module builds one."""
    if rel(path) == "providers/http/retry.py" or rel(path).startswith("emulators/"):
        return
    tree = ast.parse(path.read_text())
    assert "urllib3" not in imports(tree), rel(path)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not names & {"Retry", "HTTPAdapter"} or rel(path) == "providers/http/session.py", rel(path)


def in_cli(path: Path) -> bool:
    """The command-line package (``reconciler/cli/``) and ``__main__.py``, which only calls it."""
    return rel(path).startswith("cli/") or rel(path) == "__main__.py"


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_the_cli_package_prints_exits_or_reads_the_environment(path):
    if in_cli(path):
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


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines of ``tree`` that read the process environment (``os.environ``, ``getenv``, ``environ``)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}:
            out.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id in {"environ", "getenv"}:
            out.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            out += [node.lineno for a in node.names if a.name in {"environ", "getenv", "environb"}]
    return out


@pytest.mark.parametrize("path", [p for p in MODULES if in_cli(p)], ids=rel)
def test_in_the_cli_only_env_reads_the_environment(path):
    """``cli/env.py`` is the one reader of ``os.environ``; the rest of the package asks it."""
    if rel(path) == "cli/env.py":
        return
    assert environment_reads(ast.parse(path.read_text())) == [], rel(path)


OPERATIONS = sorted((PKG / "operations").glob("*.py"))


def test_operations_is_a_package_of_modules():
    """``reconciler/operations/`` is split by concern; the rules below check every module of it."""
    assert not (PKG / "operations.py").exists()
    assert {rel(p) for p in OPERATIONS} >= {"operations/__init__.py", "operations/saved.py"}


@pytest.mark.parametrize("path", OPERATIONS, ids=rel)
def test_operations_neither_print_nor_exit_nor_read_the_environment(path):
    """The operations layer is called without typer: the environment comes in as ``Environment``,
    outcomes go out as data or ``ReconcilerError``."""
    name = rel(path)
    tree = ast.parse(path.read_text())
    assert not imports(tree) & {"typer", "click", "rich", "sys"}, (name, imports(tree))
    assert environment_reads(tree) == [], name
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"print", "exit", "quit", "input"}, f"{name}:{node.lineno}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in {("sys", "exit"), ("os", "_exit")}, f"{name}:{node.lineno}"
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            # ``from ..cli`` (the package) at any depth
            assert not (node.module or "").startswith("cli"), f"{name}:{node.lineno} imports the cli"


@pytest.mark.parametrize("path", [p for p in MODULES if not in_cli(p)], ids=rel)
def test_nothing_below_the_cli_imports_it(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{a.name}" if node.module else a.name for a in node.names]
            hits = [n for n in names if n.split(".")[0] == "cli" or n.startswith("reconciler.cli")]
            assert not hits, f"{rel(path)}:{node.lineno} imports {hits}"


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_core_does_no_io(name):
    tree = ast.parse((PKG / name).read_text())
    banned = {"requests", "sqlite3", "socket", "subprocess", "yaml", "time", "typer"}
    if name.endswith("lro.py"):
        banned.discard("time")  # time.monotonic / time.sleep only as PollPolicy's overridable defaults
    assert not (imports(tree) & banned), f"{name}: {imports(tree) & banned}"


# --------------------------------------------------------------------------------------------------
# Safety rules: one pure home (rules.py), one write-time guard (providers/guard.py)

#: The modules that define a backend's primitives; only the guard calls them.
BACKENDS = {"providers/local/backend.py", "providers/azure/backend.py", "providers/classic/provider.py"}


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


def test_the_codec_imports_nothing_from_the_project_and_planfile_not_render():
    """``codec`` is usable from ``model`` itself; the plan document has one home (``plandoc``)."""
    codec = ast.parse((PKG / "codec.py").read_text())
    assert not [n for n in ast.walk(codec) if isinstance(n, ast.ImportFrom) and n.level > 0]
    planfile = ast.parse((PKG / "planfile.py").read_text())
    modules = {n.module for n in ast.walk(planfile) if isinstance(n, ast.ImportFrom) and n.level > 0}
    assert "render" not in modules, modules


# --------------------------------------------------------------------------------------------------
# Provider knowledge: only the provider packages know provider names (registry.py lists them)

PROVIDER_NAMES = {"local", "azure", "azure-classic"}
PROVIDER_PACKAGES = {"local", "azure", "classic"}
#: Modules outside ``providers/`` allowed to name a provider, and why. ``model.py``: the default of
#: ``CatalogConfig.provider`` is the file format's default provider (``registry.DEFAULT_PROVIDER``,
#: checked below); ``model`` imports nothing from ``providers``. The emulators and the CLI's
#: ``emulator`` commands need no exemption: they serve Azure's APIs and never name a provider.
NAMES_PROVIDERS_BECAUSE = {"model.py": "CatalogConfig.provider's default"}


def provider_mentions(tree: ast.AST) -> list[str]:
    """Provider names as string literals, imports of a provider package, and ``AZURE_*`` variables."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in PROVIDER_NAMES or node.value.startswith("AZURE_"):
                out.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, ast.ImportFrom | ast.Import):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                f"{node.module}.{a.name}" if node.module else a.name for a in node.names]
            for module in modules:
                parts = module.split(".")
                below = parts[parts.index("providers") + 1:] if "providers" in parts else []
                if below[:1] and below[0] in PROVIDER_PACKAGES:
                    out.append(f"{node.lineno}: imports {module}")
    return out


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_the_provider_packages_know_provider_names(path):
    """The registry (an entry-point group) is the one list of providers; what a provider is called,
    its settings' variables and its wording live in its package, not in spec, render, operations or cli."""
    if rel(path).startswith("providers/"):
        return
    found = provider_mentions(ast.parse(path.read_text()))
    if rel(path) in NAMES_PROVIDERS_BECAUSE:
        assert len(found) <= 1, (rel(path), found)
        return
    assert found == [], f"{rel(path)} names a provider: {found}"


def test_the_model_default_provider_is_the_registry_default():
    from reconciler.model import CatalogConfig
    from reconciler.providers import registry

    assert CatalogConfig("c").provider == registry.DEFAULT_PROVIDER


def test_the_provider_list_exists_once():
    """No ``_MODULES`` table or name tuple beside the registry: the names come from the entry points."""
    from reconciler.providers import PROVIDER_NAMES as names
    from reconciler.providers import registry

    assert set(names) >= PROVIDER_NAMES and names == registry.names()
    init = (PKG / "providers" / "__init__.py").read_text()
    assert "_MODULES" not in init and provider_mentions(ast.parse(init)) == []


def test_provider_packages_import_nothing_heavy_at_import_time():
    """Validating a file reads every provider's fragment, so importing a provider package must not
    pull in HTTP or SDK libraries: those wait until a catalog is opened."""
    code = (
        "import sys; from reconciler.spec import check_spec; from pathlib import Path; "
        "state, diags = check_spec(Path('images.yaml.example').read_bytes(), 'images.yaml.example'); "
        "assert state is not None, diags; "
        "from reconciler.providers import registry; [registry.package(n) for n in registry.names()]; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'requests', 'urllib3', 'azure'}); "
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PKG.parent, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr

