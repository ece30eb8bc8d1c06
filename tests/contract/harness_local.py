"""Contract-suite harness for the embedded ``local`` provider: a fresh SQLite catalog per test.

Layer: test harness. Goes through the same entry points the command line uses
(``init_catalog`` for ``catalog init --from``, ``providers.open_provider`` for everything else).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.model import CatalogConfig
from reconciler.providers import Provider, open_provider
from reconciler.providers.local import init_catalog
from reconciler.seed import parse_seed

NAME = "local"
SKIP_REASON: str | None = None


@contextlib.contextmanager
def make(tmp_path: Path, seed: dict[str, Any]) -> Iterator[Provider]:
    """A local catalog at ``tmp_path/catalog.db`` seeded with ``seed``, opened as catalog 'platform'."""
    path = tmp_path / "catalog.db"
    init_catalog(path, parse_seed(json.dumps(seed).encode(), "seed.json"))
    provider = open_provider(CatalogConfig(name="platform", provider="local", settings={"path": str(path)}), env={})
    try:
        yield provider
    finally:
        provider.close()
