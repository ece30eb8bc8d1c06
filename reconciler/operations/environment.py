"""The process environment, as data: ``Environment``, the catalog defaults and trusted hosts it gives.

Layer: orchestration (``reconciler.operations``). The shell (``reconciler.cli.env``) reads
``os.environ`` and hands it in; the meaning of each variable is here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..providers import registry


@dataclass(frozen=True)
class Environment:
    """The process environment as the operations see it: a mapping handed in, never ``os.environ``.

    ``variables`` is what the shell read (``reconciler.cli.env``); ``Environment()`` is an empty
    environment (no defaults, no trusted hosts, no credentials). The meaning of each variable is
    here, so that every command reads it the same way; the values are read when an operation
    needs them, so a malformed one fails only the commands that use it.
    """

    variables: Mapping[str, str] = field(default_factory=dict)

    def catalog_defaults(self) -> dict[str, Any]:
        """Catalog settings from the providers' own variables (each package's ``ENVIRONMENT``, for
        example azure's ``AZURE_SUBSCRIPTION_ID``) and ``RECONCILER_<SETTING>``, which wins.

        The settings are those the schema's ``catalog`` section names (but ``name``, which must be
        reviewed in the file, and ``provider``). A setting written in the file wins; these only fill
        the gaps, and only the settings the file's provider knows (``spec.check_spec``).
        """
        from ..spec import load_schema

        schema = load_schema()
        catalog = schema["properties"]["catalog"]
        if "$ref" in catalog:  # "#/$defs/catalog"
            catalog = schema["$defs"][catalog["$ref"].rsplit("/", 1)[-1]]
        known = set(catalog.get("properties", {})) - {"name", "provider"}
        out: dict[str, Any] = {}
        for variable, setting in registry.environment_defaults():
            if self.variables.get(variable):
                out[setting] = self.variables[variable]
        for name in sorted(known):
            value = self.variables.get(f"RECONCILER_{name.upper()}")
            if value:
                out[name] = value
        return out

    def trusted_hosts(self) -> tuple[str, ...]:
        """``RECONCILER_TRUSTED_ENDPOINTS``: hosts besides the cloud's and loopback that may receive a
        credential. Only the environment (the CI's configuration) can name them, never the file."""
        from ..providers.clouds import TRUSTED_ENV, parse_trusted_hosts

        return parse_trusted_hosts(self.variables.get(TRUSTED_ENV))

    @property
    def run_id(self) -> str:
        """The CI run that holds a lock (``GITHUB_RUN_ID``), shown to whoever finds it held."""
        return self.variables.get("GITHUB_RUN_ID", "")
