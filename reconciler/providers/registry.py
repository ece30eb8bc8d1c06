"""The provider registry: which providers exist, and what each one declares about itself.

Layer: edge (the provider boundary's index). The one list of provider names is the Python
entry-point group ``reconciler.providers``: ``name = "importable.package"``. The project's own three
are registered in its ``pyproject.toml``; a provider shipped as a separate distribution registers in
its own, and is found the same way once installed. Nothing else in the tree names a provider.

A provider package (``ProviderPackage``) declares, in its ``__init__``:

* ``NAME``, the name it is registered under;
* ``capabilities(settings)``, pure;
* ``open_provider(config, *, env)``, which may import the heavy parts (HTTP, SDKs) lazily;
* ``ENVIRONMENT``: catalog setting -> environment variable that fills it when the file does not
  (beside the generic ``RECONCILER_<SETTING>``, which ``operations.Environment`` reads for every
  setting);
* optionally ``SEEDING`` (``Seeding``): the provider's catalog can be created from a seed file
  (``catalog init --from``);

and ships ``schema.json`` beside it: its schema fragment (``$id`` ``urn:reconciler:provider:NAME``),
whose ``$defs.settings.properties`` are its catalog settings and ``$defs.image.properties`` its image
fields. ``spec/schema.py`` composes the fragments into ``images.schema.json``; the descriptions in
the fragment are the ones ``Capabilities.settings``/``image_fields`` carry (``described``).

Importing a package must stay cheap (validating any file reads every fragment, so every package's
``__init__`` is imported): no third-party import at module level. Entry points are read once and
cached; a package is imported only when first asked for.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Protocol, cast

from ..errors import ReconcilerError
from ..model import Capabilities, CatalogConfig, Snapshot
from .locking import LockInfo

if TYPE_CHECKING:
    from . import Provider

#: The entry-point group providers register in.
GROUP = "reconciler.providers"
#: The provider of a file whose ``catalog`` names none (the file format's default, docs/file-format.md).
DEFAULT_PROVIDER = "local"
#: The file every provider package ships beside its ``__init__``.
FRAGMENT_FILE = "schema.json"
#: A fragment's ``$id`` (``urn:reconciler:provider:NAME``).
FRAGMENT_ID = "urn:reconciler:provider:{}"
#: The two tables of a fragment: ``$defs.<kind>.properties``.
KINDS = ("settings", "image")

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


class SeedCreate(Protocol):
    """``Seeding.create``: build the catalog at ``target`` holding ``snapshot``."""

    def __call__(self, target: str | os.PathLike[str], snapshot: Snapshot, /, *, force: bool = False,
                 lock: LockInfo | None = None, lock_timeout: float = 0.0) -> None: ...


@dataclass(frozen=True)
class Seeding:
    """A provider whose catalog ``catalog init --from SEED`` can create.

    ``setting``: the catalog setting that says where the catalog is (local: ``path``); ``default``:
    where it is when the file does not say. ``create(target, snapshot, *, force, lock,
    lock_timeout)`` builds the catalog at ``target`` holding ``snapshot``; replacing one
    (``force``) happens under its lock, taken as ``lock``.
    """

    setting: str
    default: str
    create: SeedCreate


class ProviderPackage(Protocol):
    """What the module an entry point names exports (see the module docstring)."""

    NAME: str
    ENVIRONMENT: Mapping[str, str]

    def capabilities(self, settings: Mapping[str, Any]) -> Capabilities: ...

    def open_provider(self, config: CatalogConfig, *, env: Mapping[str, str]) -> Provider: ...


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)  # the first distribution on sys.path wins, as for imports
    return found


def names() -> tuple[str, ...]:
    """Every registered provider: the default first, then by name (the order messages list them in)."""
    registered = _entry_points()
    if not registered:
        raise ReconcilerError(
            f"no provider is registered (entry-point group {GROUP})",
            "install the package so that its entry points exist: pip install -e . (a source checkout too)",
        )
    return tuple(sorted(registered, key=lambda n: (n != DEFAULT_PROVIDER, n)))


def _entry(name: str) -> EntryPoint:
    ep = _entry_points().get(name)
    if ep is None:
        raise ReconcilerError(f"unknown provider '{name}'", f"use one of: {', '.join(names())}")
    return ep


def package(name: str) -> ProviderPackage:
    """The provider package registered as ``name`` (imported on first use)."""
    ep = _entry(name)
    return _load(ep.name, ep.module)


@functools.cache
def _load(name: str, target: str) -> ProviderPackage:
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as e:
        raise ReconcilerError(
            f"provider '{name}' is not available in this installation ({e.name} is missing)",
            "install the extra it needs, for example: pip install 'reconciler[azure]'",
        ) from e
    if getattr(module, "NAME", None) != name:
        raise ReconcilerError(
            f"provider '{name}' is registered as {target}, whose NAME is {getattr(module, 'NAME', None)!r}",
            "the entry point's name and the package's NAME must agree",
        )
    return cast(ProviderPackage, module)


def fragment(name: str) -> dict[str, Any]:
    """The schema fragment of provider ``name`` (its package's ``schema.json``), checked."""
    ep = _entry(name)
    frag = fragment_of(ep.module)
    if frag["$id"] != FRAGMENT_ID.format(name):
        raise ValueError(f"{ep.module}/{FRAGMENT_FILE}: $id must be {FRAGMENT_ID.format(name)}, not {frag['$id']}")
    return frag


@functools.cache
def fragment_of(module: str) -> dict[str, Any]:
    """The checked schema fragment shipped in the package ``module``. Cached: do not mutate it.

    Read from the package's directory without importing the package (issue 13: every run composes
    the schema of every provider, and a local plan need not import the azure provider, ~30 ms of
    CPU); through ``importlib.resources`` (which imports it) when the package is not a plain
    directory."""
    spec = importlib.util.find_spec(module)
    where = list(spec.submodule_search_locations or ()) if spec is not None else []
    path = os.path.join(where[0], FRAGMENT_FILE) if len(where) == 1 else ""
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    else:
        text = (files(module) / FRAGMENT_FILE).read_text(encoding="utf-8")
    frag: dict[str, Any] = json.loads(text)
    _check_fragment(module, frag)
    return frag


def _check_fragment(module: str, frag: Mapping[str, Any]) -> None:
    """What the composition relies on: an ``$id``, two property tables, documented and self-contained
    properties (no ``$ref``: ``spec`` reads their types and evolves validators from them)."""
    where = f"{module}/{FRAGMENT_FILE}"
    ident = frag.get("$id")
    if not isinstance(ident, str) or not ident.startswith(FRAGMENT_ID.format("")):
        raise ValueError(f"{where}: $id must be {FRAGMENT_ID.format('NAME')}")
    env = frag.get("environment", {})
    settings = frag.get("$defs", {}).get("settings", {}).get("properties", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) and k in settings for k, v in env.items()):
        raise ValueError(f"{where}: environment must map settings of $defs.settings to variable names")
    for kind in KINDS:
        props = frag.get("$defs", {}).get(kind, {}).get("properties")
        if not isinstance(props, dict):
            raise ValueError(f"{where}: $defs.{kind}.properties must be an object (it may be empty)")
        for key, sub in props.items():
            if not _KEY.match(key):
                raise ValueError(f"{where}: {kind} '{key}' must be a lowercase identifier")
            if not isinstance(sub, dict) or not isinstance(sub.get("description"), str):
                raise ValueError(f"{where}: {kind} '{key}' needs a description (Capabilities shows it)")
            if "$ref" in json.dumps(sub):
                raise ValueError(f"{where}: {kind} '{key}' must be self-contained (no $ref)")


def fragments() -> dict[str, dict[str, Any]]:
    """Every registered provider's fragment, in ``names()`` order."""
    return {name: fragment(name) for name in names()}


def described(module: str, kind: str) -> dict[str, str]:
    """``{field: description}`` of a fragment's table: what ``Capabilities.settings`` (``kind``
    "settings") or ``Capabilities.image_fields`` ("image") hold. A new dict on every call."""
    props = fragment_of(module)["$defs"][kind]["properties"]
    return {key: str(sub["description"]) for key, sub in props.items()}


def environment_defaults() -> tuple[tuple[str, str], ...]:
    """``(variable, setting)`` for every variable some provider maps to a setting, in ``names()``
    order. Defaults are read before the file names its provider; a setting only the provider in use
    knows is kept (``spec.env``), so a variable another provider declares never fills a setting
    this one does not know. Two providers may share a variable only for the same setting."""
    seen: dict[str, str] = {}
    for name in names():
        for setting, variable in _environment(name).items():
            if seen.setdefault(variable, setting) != setting:
                raise ReconcilerError(
                    f"providers disagree about the environment variable {variable}",
                    f"provider '{name}' maps it to {setting}, another to {seen[variable]}",
                )
    return tuple(seen.items())


def environment_of(module: str) -> dict[str, str]:
    """``{setting: VARIABLE}`` of the fragment shipped in ``module`` (its ``environment`` object):
    a package's ``ENVIRONMENT`` when it declares its variables there. A new dict on every call."""
    return dict(fragment_of(module).get("environment", {}))


def _environment(name: str) -> Mapping[str, str]:
    """Provider ``name``'s ``ENVIRONMENT``, from its fragment when declared there (the package is
    then not imported), else from the package."""
    ep = _entry(name)
    if "environment" in fragment_of(ep.module):
        return environment_of(ep.module)
    return package(name).ENVIRONMENT


def seeding(name: str) -> Seeding | None:
    """How ``catalog init`` creates a catalog of provider ``name``; None: it cannot."""
    seed = getattr(package(name), "SEEDING", None)
    return seed if isinstance(seed, Seeding) else None


def consumes_wording(name: str) -> str:
    """What a generalized capture does to its source VM with provider ``name`` (``Capabilities.
    consumes_vm``), for plan views that hold only the provider's name. A plan of a provider this
    installation does not have is worded with the record's default."""
    try:
        return package(name).capabilities({}).consumes_vm
    except ReconcilerError:
        return Capabilities(provider=name, mutable_fields=frozenset()).consumes_vm


def _clear_cache() -> None:
    """Forget what was read (tests that register a provider through a new entry point)."""
    _entry_points.cache_clear()
    _load.cache_clear()
    fragment_of.cache_clear()


__all__ = [
    "DEFAULT_PROVIDER",
    "FRAGMENT_FILE",
    "FRAGMENT_ID",
    "GROUP",
    "KINDS",
    "ProviderPackage",
    "SeedCreate",
    "Seeding",
    "consumes_wording",
    "described",
    "environment_defaults",
    "environment_of",
    "fragment",
    "fragment_of",
    "fragments",
    "names",
    "package",
    "seeding",
]
