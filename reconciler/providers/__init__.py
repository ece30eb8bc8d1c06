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

import getpass
import importlib
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from ..errors import ReconcilerError
from ..model import Capabilities, CatalogConfig, Image, ImageSpec, Snapshot

#: Called by a provider when a long operation changes state ("deallocating vm", "polling 3/..").
StepCallback = Callable[[str], None]


def _no_step(_: str) -> None:
    return None


@dataclass(frozen=True)
class LockInfo:
    """Who holds a catalog lock. ``id`` is the nonce ``force-unlock`` must be given."""

    id: str
    who: str
    host: str
    pid: int
    command: str
    created: str
    run_id: str = ""

    @classmethod
    def new(cls, command: str, *, who: str | None = None, run_id: str = "") -> LockInfo:
        try:
            user = who or getpass.getuser()
        except (KeyError, OSError):
            user = who or "unknown"
        return cls(
            id=str(uuid.uuid4()),
            who=user,
            host=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            run_id=run_id,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LockInfo:
        return cls(
            id=str(d.get("id", "")),
            who=str(d.get("who", "")),
            host=str(d.get("host", "")),
            pid=int(d.get("pid", 0) or 0),
            command=str(d.get("command", "")),
            created=str(d.get("created", "")),
            run_id=str(d.get("run_id", "")),
        )

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"{self.who} on {self.host} (pid {self.pid}{run}) since {self.created}, running '{self.command}'"


class LockHandle(Protocol):
    info: LockInfo

    def release(self) -> None: ...


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

    def acquire_lock(
        self,
        info: LockInfo,
        timeout: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> LockHandle:
        """Take the catalog's lock, waiting up to ``timeout`` seconds; ``LockError`` names the holder."""
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
    "PROVIDER_NAMES",
    "Provider",
    "StepCallback",
    "capabilities_for",
    "open_provider",
]
