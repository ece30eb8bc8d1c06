"""The catalog's provider and settings: the file's, filled in from environment defaults.

Layer: pure core. Never reads the environment itself: ``cli`` hands the values in as the
``defaults`` mapping (which variables fill which setting is each provider's ``ENVIRONMENT``, merged
by ``operations.Environment``). Which providers exist, and the default one, are the registry's.
A setting in the file wins; a default only fills a missing one, and only when the provider knows
it (the environment may carry settings of other providers). ``name`` is never defaulted: the
ownership marker must be reviewed in the file. Text values are coerced to the schema's type, then
schema-checked, then the provider's ``check_settings`` runs on the result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, Location, ReconcilerError, Severity
from ..model import Capabilities
from ..providers import capabilities_for, registry
from ..providers.registry import DEFAULT_PROVIDER
from .messages import suggest
from .positions import Positions, json_path
from .schema import CATALOG_CORE, validators


@dataclass(frozen=True)
class CatalogSettings:
    """What the file and the environment together say about the catalog.

    ``provider``: the provider name as written (it may be invalid: the schema reports that).
    ``settings``: the provider settings, file first, then the defaults the provider knows.
    ``caps``: the provider's capabilities; None when the provider is unknown or unavailable.
    ``file_paths``: the file's ``path_settings`` resolved against its directory (``CatalogConfig``).
    """

    provider: str
    settings: dict[str, Any]
    caps: Capabilities | None
    file_paths: dict[str, str] = field(default_factory=dict)


def resolve_catalog(
    doc: Positions,
    data: Mapping[str, Any],
    diags: list[Diagnostic],
    defaults: Mapping[str, Any],
    capabilities: Capabilities | None,
    trusted_hosts: tuple[str, ...],
) -> CatalogSettings:
    """The catalog's provider, settings and capabilities; problems are appended to ``diags`` (whose
    earlier errors keep a setting from being reported twice)."""
    env = coerce_defaults(defaults)
    catalog = data.get("catalog")
    catalog = catalog if isinstance(catalog, dict) else {}
    used: dict[str, Any] = {}
    if "provider" not in catalog and "provider" in env:
        used["provider"] = env["provider"]
    provider = catalog.get("provider", used.get("provider", DEFAULT_PROVIDER))
    file_settings = {k: v for k, v in catalog.items() if k not in CATALOG_CORE}
    env_settings = {k: v for k, v in env.items() if k != "provider" and k not in file_settings}

    caps = capabilities
    if caps is None and isinstance(provider, str) and provider in _provider_names():
        try:
            caps = _capabilities_for(provider, {**env_settings, **file_settings})
        except ReconcilerError as e:
            where = ("catalog", "provider") if "provider" in catalog else ("catalog",)
            diags.append(Diagnostic.error(e.message, e.hint, doc.loc(where, key="provider" not in catalog),
                                          "provider"))
    if caps is not None:
        used.update({k: v for k, v in env_settings.items() if k in caps.settings})
    diags.extend(default_errors(used, doc.filename))
    settings = {**file_settings, **{k: v for k, v in used.items() if k != "provider"}}
    if caps is not None and caps.check_settings is not None:
        diags.extend(_setting_problems(doc, diags, caps, settings, set(file_settings), trusted_hosts))
    paths = _relative_to_file(doc.filename, caps, file_settings) if caps is not None else {}
    return CatalogSettings(str(provider), settings, caps, paths)


def resolve_sources(
    doc: Positions,
    data: Mapping[str, Any],
    diags: list[Diagnostic],
    catalog: CatalogSettings,
    trusted_hosts: tuple[str, ...],
) -> dict[str, CatalogSettings]:
    """The ``sources:`` entries (issue 11 §1): alias -> its settings, as the file writes them (a
    source takes no settings from the environment: the catalog's defaults describe the catalog, not
    another one). The provider's ``check_settings`` runs on each, with the same trusted hosts as the
    catalog's, so an endpoint only the file names is never sent a credential; problems are
    appended to ``diags`` at the setting (``sources.ALIAS.KEY``)."""
    sources = data.get("sources")
    caps = catalog.caps
    if not isinstance(sources, dict) or caps is None:
        return {}
    out: dict[str, CatalogSettings] = {}
    for alias, entry in sources.items():
        if not isinstance(entry, dict) or entry.get("provider", catalog.provider) != catalog.provider:
            continue  # another provider: the semantic check's error
        settings = {k: v for k, v in entry.items() if k != "provider"}
        if caps.check_settings is not None:
            for problem in caps.check_settings(settings, trusted_hosts):
                where = ("sources", alias, problem.setting) if problem.setting in settings else ("sources", alias)
                diags.append(Diagnostic.error(f"sources.{alias}: {problem.message}", problem.hint,
                                              doc.loc(where, key=problem.setting not in settings), "provider"))
        out[alias] = CatalogSettings(catalog.provider, settings, caps,
                                     _relative_to_file(doc.filename, caps, settings))
    return out


def _coerce_default(value: Any, prop_schema: Mapping[str, Any]) -> Any:
    """Environment values arrive as text: read numbers and booleans the way the schema wants them."""
    if not isinstance(value, str):
        return value
    kind = prop_schema.get("type")
    if kind in ("number", "integer"):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value) if kind == "number" else value
            except ValueError:
                return value
    if kind == "boolean":
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(
            value.strip().lower(), value
        )
    return value


def coerce_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults that name a catalog setting or the provider, coerced to the schema's types."""
    props = validators().catalog_props
    # The ownership marker is never defaulted; keys that are not catalog settings are not ours.
    return {k: _coerce_default(v, props[k]) for k, v in defaults.items() if k in props and k != "name"}


def default_errors(used: Mapping[str, Any], filename: str) -> list[Diagnostic]:
    """Schema-check the defaults actually used (a bad value the file overrides is harmless)."""
    v = validators()
    diags = []
    for key, value in used.items():
        errs = list(v.full.evolve(schema=v.catalog_props[key]).iter_errors(value))
        if errs:
            from jsonschema.exceptions import best_match

            best = best_match(errs)
            hint = "fix the environment variable, or set the value in the file (the file wins)"
            if best.validator == "enum" and isinstance(value, str):
                close = suggest(value, [str(c) for c in best.validator_value])
                hint = f"{close} {hint}" if close else hint
            diags.append(
                Diagnostic.error(
                    f"catalog.{key} from the environment is invalid: {best.message}",
                    hint,
                    Location(filename, 0, 0, json_path(("catalog", key))),
                    "defaults",
                )
            )
    return diags


def _setting_problems(doc: Positions, diags: list[Diagnostic], caps: Capabilities, settings: Mapping[str, Any],
                      from_file: set[str], trusted_hosts: tuple[str, ...]) -> list[Diagnostic]:
    """The provider's ``check_settings`` as diagnostics at each setting's position (a setting from
    the environment has no position: its JSON path says which). A setting that already has an
    error (its schema) is not reported twice."""
    assert caps.check_settings is not None
    flagged = {d.location.json_path for d in diags if d.severity is Severity.ERROR and d.location}
    out = []
    for problem in caps.check_settings(settings, trusted_hosts):
        path = json_path(("catalog", problem.setting))
        if path in flagged:
            continue
        if problem.setting in from_file:
            loc = doc.loc(("catalog", problem.setting))
            summary = problem.message
        else:
            loc = Location(doc.filename, 0, 0, path)
            summary = f"{problem.message} (catalog.{problem.setting} from the environment)"
        out.append(Diagnostic.error(summary, problem.hint, loc, "provider"))
    return out


def _relative_to_file(filename: str, caps: Capabilities, file_settings: Mapping[str, Any]) -> dict[str, str]:
    """The file's ``path_settings`` joined to its directory (``sub/images.yaml`` with ``path: c.db`` ->
    ``sub/c.db``): a relative path in the file means the same wherever the command runs. Absolute
    paths, and paths from the environment (relative to the current directory), are not listed."""
    base = os.path.dirname(filename)
    return {k: os.path.join(base, v) for k, v in file_settings.items()
            if k in caps.path_settings and isinstance(v, str) and v and base and not os.path.isabs(v)}


def _provider_names() -> tuple[str, ...]:
    """The names a provider is registered under (another name is the schema's error to report)."""
    return registry.names()


def _capabilities_for(provider: str, settings: Mapping[str, Any]) -> Capabilities:
    return capabilities_for(provider, settings)  # imports the provider's package on first use


__all__ = ["DEFAULT_PROVIDER", "CatalogSettings", "coerce_defaults", "default_errors", "resolve_catalog",
           "resolve_sources"]
