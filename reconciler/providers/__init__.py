"""The provider boundary: one ``Provider`` protocol every catalog backend implements.

Layer: edge. A provider turns every remote or storage failure into ``errors.ProviderError`` (or a
subclass) with the cause chained; nothing above this package imports ``requests`` or ``sqlite3``.
Provider modules are imported lazily by name so that ``validate`` and ``local`` never pay for HTTP
libraries, and so that an optional extra (``reconciler[azure]``) is only needed when used.

Each provider module exports:

* ``capabilities(settings) -> Capabilities``: pure, no I/O; used by ``validate`` and ``plan``.
* ``open_provider(config: CatalogConfig, *, env: Mapping[str, str]) -> Provider``: connects
  (lazily) to the catalog. ``env`` is the process environment handed down by ``cli.py`` (the only
  module that reads it), for credentials such as ``AZURE_ACCESS_TOKEN``; never store it in a plan.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, Unpack, runtime_checkable

from ..errors import ReconcilerError
from ..model import Capabilities, CatalogConfig, Image, ImageSpec, Snapshot
from .locking import LockHandle, LockInfo, LockWaits

#: Called by a provider when a long operation changes state ("deallocating vm", "polling 3/..").
StepCallback = Callable[[str], None]


def _no_step(_: str) -> None:
    return None


@runtime_checkable
class Provider(Protocol):
    """A catalog backend bound to one catalog name (the ownership marker it writes).

    Every mutating method is idempotent against a retry of the same call: a capture whose image
    already exists with this catalog's marker and the same source returns that image instead of
    capturing twice.
    """

    name: str
    owner: str
    capabilities: Capabilities

    def snapshot(self) -> Snapshot:
        """Read every image (user and public) and every source VM, in as few requests as possible."""
        ...

    def capture(self, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        """Capture a new owned image from ``spec.source``; mark it protected when ``spec.protect``."""
        ...

    def update(self, image: Image, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        """Set the mutable fields of an owned image to the spec's (protection marker included)."""
        ...

    def remove(self, image: Image, on_step: StepCallback = _no_step) -> None:
        """Delete an owned user image. Refuses unowned, public or protected images.

        Every provider refuses through ``guard.GuardedProvider`` with ``errors.RefusedError``,
        whose ``code`` is the rule's (``rules.CODES``), the same for every provider.
        """
        ...

    def adopt(self, image: Image) -> Image:
        """Write this catalog's ownership marker on an unowned user image (``import``)."""
        ...

    def acquire_lock(self, info: LockInfo, timeout: float, **waits: Unpack[LockWaits]) -> LockHandle:
        """Take the catalog's lock, waiting up to ``timeout`` seconds (``locking.wait_for_lock``, with
        ``clock``/``sleep`` injectable); ``LockError`` names the holder."""
        ...

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Break the lock only when ``lock_id`` matches the holder's id; returns what was released."""
        ...

    def close(self) -> None: ...


_MODULES = {
    "local": "reconciler.providers.local",
    "azure": "reconciler.providers.azure",
    "azure-classic": "reconciler.providers.classic",
}

#: Provider names the desired-state file may use.
PROVIDER_NAMES = tuple(_MODULES)


def _module(provider: str) -> Any:
    if provider not in _MODULES:
        raise ReconcilerError(
            f"unknown provider '{provider}'",
            f"use one of: {', '.join(PROVIDER_NAMES)}",
        )
    try:
        return importlib.import_module(_MODULES[provider])
    except ModuleNotFoundError as e:
        raise ReconcilerError(
            f"provider '{provider}' is not available in this installation ({e.name} is missing)",
            "install the extra it needs, for example: pip install 'reconciler[azure]'",
        ) from e


def capabilities_for(provider: str, settings: Mapping[str, Any] | None = None) -> Capabilities:
    """The pure capability record of a provider, for the given catalog settings (no I/O)."""
    caps: Capabilities = _module(provider).capabilities(dict(settings or {}))
    return caps


def open_provider(config: CatalogConfig, *, env: Mapping[str, str] | None = None) -> Provider:
    """Open the provider named by ``config.provider`` for catalog ``config.name``."""
    provider: Provider = _module(config.provider).open_provider(config, env=dict(env or {}))
    return provider


__all__ = [
    "LockHandle",
    "LockInfo",
    "LockWaits",
    "PROVIDER_NAMES",
    "Provider",
    "StepCallback",
    "capabilities_for",
    "open_provider",
]
