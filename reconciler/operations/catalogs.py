"""Many catalogs (``plan DIR``, ``catalogs DIR``): finding the desired-state files, planning each.

Layer: orchestration (``reconciler.operations``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import Diagnostic, ReconcilerError
from ..model import DesiredState, Plan
from ..providers import Provider, registry
from .environment import Environment
from .loading import load_desired, open_catalog
from .saved import make_plan

#: The file names a directory argument is searched for (docs/github-actions.md, "Many catalogs").
CATALOG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class CatalogFile:
    """A desired-state file found by ``find_catalogs``: its catalog's name and provider, read from
    the file as written (``name`` is None when the file cannot even be read as YAML)."""

    file: Path
    name: str | None
    provider: str


def _catalog_section(data: bytes) -> tuple[bool, dict[str, Any] | None]:
    """Is ``data`` a desired-state file (a top-level ``catalog`` key, not a saved plan), and its
    ``catalog`` mapping when it parses. Text that is not YAML counts when a line opens ``catalog:``,
    so that its errors are reported instead of the file being skipped."""
    import re

    import yaml

    from ..planfile import is_plan_document

    if is_plan_document(data):
        return False, None
    try:
        doc = yaml.safe_load(data.decode("utf-8-sig", errors="replace"))
    except yaml.YAMLError:
        return re.search(rb"^catalog\s*:", data, re.MULTILINE) is not None, None
    if not isinstance(doc, dict) or "catalog" not in doc:
        return False, None
    return True, doc["catalog"] if isinstance(doc["catalog"], dict) else {}


def _candidates(directory: Path) -> list[Path]:
    """Files under ``directory`` with a catalog suffix, in path order; hidden entries are skipped."""
    out = []
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).parts
        if any(part.startswith(".") for part in rel) or "node_modules" in rel:
            continue
        if p.suffix.lower() in CATALOG_SUFFIXES and p.is_file():
            out.append(p)
    return out


def find_catalogs(paths: Sequence[Path]) -> list[CatalogFile]:
    """The desired-state files ``paths`` name: a file as given, a directory searched recursively for
    ``*.yaml``/``*.yml``/``*.json`` files with a top-level ``catalog`` key (saved plans and hidden
    directories excluded). Refuses a directory with none, and two files of the same catalog name
    (each would prune the other's images, and their PR comments would share a marker)."""
    from ..files import read_input

    found: list[CatalogFile] = []
    seen: set[Path] = set()
    for arg in paths:
        if arg.is_dir():
            files = _candidates(arg)
            explicit = False
        else:
            files, explicit = [arg], True
        hits = 0
        for f in files:
            key = f.resolve()
            if key in seen:  # named twice (a file and its directory): planned once
                hits += 1
                continue
            data = read_input(f, "desired-state file")
            is_catalog, section = _catalog_section(data)
            if not is_catalog and not explicit:
                continue
            seen.add(key)
            hits += 1
            section = section or {}
            name = section.get("name") if isinstance(section.get("name"), str) else None
            provider = section.get("provider")
            found.append(CatalogFile(f, name, provider if isinstance(provider, str) else registry.DEFAULT_PROVIDER))
        if arg.is_dir() and not hits:
            raise ReconcilerError(
                f"{arg}: no desired-state file in this directory",
                f"a desired-state file is a {'/'.join('*' + s for s in CATALOG_SUFFIXES)} file with a top-level "
                "`catalog:` section; or pass the files themselves",
            )
    by_name: dict[str, list[Path]] = {}
    for c in found:
        if c.name is not None:
            by_name.setdefault(c.name, []).append(c.file)
    dupes = {n: fs for n, fs in by_name.items() if len(fs) > 1}
    if dupes:
        name, files = sorted(dupes.items())[0]
        raise ReconcilerError(
            f"catalog '{name}' is declared by {len(files)} files ({', '.join(map(str, files))})",
            "give every catalog its own name: the name marks the images it owns, so two files with one "
            "name would remove each other's images",
        )
    return found


@dataclass(frozen=True)
class CatalogPlan:
    """One catalog of ``plan_catalogs``: its plan, or the errors that kept it from being planned."""

    file: Path
    plan: Plan | None = None
    errors: tuple[Diagnostic, ...] = ()

    @property
    def errored(self) -> bool:
        return bool(self.errors) or (self.plan is not None and self.plan.errored)

    @property
    def has_changes(self) -> bool:
        return self.plan is not None and self.plan.has_changes


@dataclass(frozen=True)
class MultiPlan:
    """The plans of several catalogs (``plan DIR``), in the order the files were found."""

    catalogs: tuple[CatalogPlan, ...]

    @property
    def errored(self) -> bool:
        return any(c.errored for c in self.catalogs)

    @property
    def has_changes(self) -> bool:
        return any(c.has_changes for c in self.catalogs)

    def exit_code(self, detailed: bool) -> int:
        """The worst of the catalogs: 1 (an error) over 2 (changes, with ``detailed``) over 0."""
        if self.errored:
            return 1
        return 2 if detailed and self.has_changes else 0


def plan_catalogs(
    files: Sequence[CatalogFile],
    env: Environment,
    *,
    open_provider: Callable[[DesiredState], Provider] | None = None,
    prune: bool | None = None,
    now: datetime | None = None,
) -> MultiPlan:
    """Plan every file of ``files`` on its own; one that cannot be read, parsed or reached records its
    errors and the others are still planned. ``open_provider`` defaults to ``open_catalog``; ``now``:
    the shell's time, the same for every catalog."""
    opener = open_provider or (lambda d: open_catalog(d, env))
    out: list[CatalogPlan] = []
    for c in files:
        try:
            desired = load_desired(c.file, env)
            provider = opener(desired)
            try:
                out.append(CatalogPlan(c.file, make_plan(desired, provider, prune=prune, now=now)))
            finally:
                provider.close()
        except ReconcilerError as e:
            out.append(CatalogPlan(c.file, errors=tuple(e.diagnostics())))
    return MultiPlan(tuple(out))
