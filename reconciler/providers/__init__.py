"""The provider boundary: one ``Provider`` protocol every catalog backend implements.

Layer: edge. A provider turns every remote or storage failure into ``errors.ProviderError`` (or a
subclass) with the cause chained; nothing above this package imports ``requests`` or ``sqlite3``.

Providers are packages listed by one registry (``registry.py``: the ``reconciler.providers``
entry-point group); ``PROVIDER_NAMES`` is its list. A package is imported when first asked for, and
its ``__init__`` imports nothing heavy, so ``validate`` and ``local`` never pay for HTTP libraries and
an optional extra (``reconciler[azure]``) is only needed when used. What a package exports (its
capabilities, ``open_provider``, schema fragment, environment mapping, seeding) is described in
``registry.py`` and docs/providers.md:

* ``capabilities(settings) -> Capabilities``: pure, no I/O; used by ``validate`` and ``plan``.
* ``open_provider(config: CatalogConfig, *, env: Mapping[str, str]) -> Provider``: connects
  (lazily) to the catalog. ``env`` is the process environment handed down by the CLI (the only
  layer that reads it), for credentials such as ``AZURE_ACCESS_TOKEN``; never store it in a plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, Unpack, runtime_checkable

from ..model import (
    Capabilities,
    CaptureSource,
    CatalogConfig,
    Consumer,
    ConsumersPolicy,
    Image,
    ImageSpec,
    Snapshot,
    UnchangedTest,
)
from . import registry
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

    def snapshot(self, like: Sequence[ImageSpec] = (), unchanged: UnchangedTest | None = None) -> Snapshot:
        """Read every image (user and public) and every source VM, in as few requests as possible.

        ``like``: the desired state's images. A provider may build a live image from its spec's own
        values where they are equal (immutable, so shared: the name, label, tags, source), to hold
        one copy of each instead of two (issue 13: 70 MB of a 100,000-image plan). What it
        returns is equal either way; only ``local`` shares.
        ``unchanged`` (with ``like``): the planner's test (``plan.unchanged_test``). A provider may
        keep an image of a spec in ``like`` that passes it as its fingerprint alone
        (``Snapshot.unchanged``) instead of in ``images``: the plan is the same, its up-to-date
        no-ops listed by spec (``Plan.unchanged``; issue 13: 0.5 KB an image). Only ``local`` does."""
        ...

    def consumers(self, images: Sequence[Image], policy: ConsumersPolicy) -> dict[str, tuple[Consumer, ...]]:
        """What uses each of ``images`` (issue 11 §4): casefolded image name -> the VMs, scale sets
        or roles whose image reference names it (or, for a gallery version, its definition); an
        image nothing uses is absent. Read apart from ``snapshot`` (a query of its own, across
        ``policy.subscriptions`` on azure), only when asked: a plan asks only when a remove could
        be held (``operations.saved.read_snapshot``)."""
        ...

    def origins(self, specs: Sequence[ImageSpec]) -> dict[str, Image]:
        """The source images of the promotions ``specs`` (issue 11 §1): each spec's ``source.image``
        (``ALIAS:NAME`` with the ``sources:`` entry in ``extra[PROMOTION_EXTRA]``, or a resource id),
        casefolded -> the image as its catalog holds it; one that does not exist is absent. Read
        only, with the catalog's own credential (docs/lifecycle.md, "Promotion")."""
        ...

    def capture_sources(self, specs: Sequence[ImageSpec]) -> dict[str, CaptureSource | None] | None:
        """The managed images, snapshots and disks ``specs`` capture from (``Source.disk_refs``;
        issue 10 §3), read for the provider's plan-time checks: ``capture_source_key`` -> what the
        provider read, None for one that does not exist. None: the provider reads none (its
        captures are then checked by the service at apply)."""
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


def __getattr__(name: str) -> Any:
    # ``PROVIDER_NAMES`` is read from the entry points when first asked for, not at import time.
    if name == "PROVIDER_NAMES":
        return registry.names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def capabilities_for(provider: str, settings: Mapping[str, Any] | None = None) -> Capabilities:
    """The pure capability record of a provider, for the given catalog settings (no I/O)."""
    return registry.package(provider).capabilities(dict(settings or {}))


def open_provider(config: CatalogConfig, *, env: Mapping[str, str] | None = None) -> Provider:
    """Open the provider named by ``config.provider`` for catalog ``config.name``; relative paths the
    desired-state file gives (``CatalogConfig.file_paths``) are opened relative to its directory."""
    if config.file_paths:
        config = replace(config, settings=config.effective_settings, file_paths={})
    return registry.package(config.provider).open_provider(config, env=dict(env or {}))


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
