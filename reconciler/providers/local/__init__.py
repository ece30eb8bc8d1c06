"""``catalog.provider: local``: the embedded catalog, one SQLite file (the default provider).

Layer: edge (a provider package). This module is the package's declaration to the registry
(``providers/registry.py``, entry point ``local``): its capabilities, schema fragment
(``schema.json``: the ``path`` setting; the image fields ``exclude_from_latest`` and
``end_of_life_date``, issue 11), environment mapping (none beyond
``RECONCILER_PATH``) and seeding (``catalog init``). The parts:

* ``store``: the file's tables and rows <-> model;
* ``backend``: ``LocalBackend`` (raw primitives) and ``LocalProvider`` (the backend behind the guard);
* ``lock``: the lock row's handle;
* ``seeding``: ``init_catalog``, a new catalog file from a seed.

Only the standard library: importing the package costs no HTTP or SDK import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...model import FAMILY_DESCRIPTION, LATEST_FIELDS, Capabilities, CatalogConfig, ImageType, PowerState
from ..registry import Seeding, described
from .backend import LocalBackend, LocalProvider
from .lock import LocalLockHandle
from .seeding import init_catalog
from .store import SCHEMA_VERSION, capture_footprint, promotion_footprint

NAME = "local"
DEFAULT_PATH = ".reconciler/catalog.db"
#: No variable of its own: ``RECONCILER_PATH`` (read for every setting) is the only one.
ENVIRONMENT: Mapping[str, str] = {}
#: ``catalog init --from SEED`` creates the file ``catalog.path`` names.
SEEDING = Seeding(setting="path", default=DEFAULT_PATH, create=init_catalog)

_MUTABLE_FIELDS = frozenset({"family", "label", "description", "recommended_vm_size", "tags", "protect",
                            "extra.exclude_from_latest", "extra.end_of_life_date"})


def capabilities(settings: Mapping[str, Any]) -> Capabilities:
    """What the local catalog can hold and change (pure, no I/O)."""
    return Capabilities(
        provider=NAME,
        mutable_fields=_MUTABLE_FIELDS,
        image_types=frozenset({ImageType.OS, ImageType.VM}),
        specialized_types=frozenset({ImageType.VM}),
        capture_power_states=frozenset({PowerState.STOPPED, PowerState.DEALLOCATED}),
        generalize=True,
        vhd_source=False,
        image_fields=described(__name__, "image"),
        settings=described(__name__, "settings"),
        consumes_vm="deletes the source VM",
        path_settings=frozenset({"path"}),
        promotion=True,
        footprint=capture_footprint,
        promotion_footprint=promotion_footprint,
        family_fields={"description": FAMILY_DESCRIPTION, **LATEST_FIELDS},
        # One writer at a time (docs/local-provider.md, "Transactions and concurrency"): with more,
        # a worker that finds the file's write lock taken sleeps in SQLite's busy handler (1, 2,
        # 5 ... 100 ms between tries) while the others write, and all of them contend for the
        # interpreter. 1,000 captures: 0.35-0.42 s with one worker, 0.43-0.58 s with ten (issue 13).
        concurrent_changes=1,
    )


def open_provider(config: CatalogConfig, *, env: Mapping[str, str]) -> LocalProvider:
    """Open the catalog file named by ``catalog.path`` (``env`` is unused: no credentials)."""
    del env
    path = str(config.settings.get("path") or DEFAULT_PATH)
    return LocalProvider(path, config.name, capabilities=capabilities(config.settings))


__all__ = [
    "DEFAULT_PATH",
    "ENVIRONMENT",
    "NAME",
    "SCHEMA_VERSION",
    "SEEDING",
    "LocalBackend",
    "LocalLockHandle",
    "LocalProvider",
    "capabilities",
    "init_catalog",
    "open_provider",
]
