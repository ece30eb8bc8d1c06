"""``catalog init --from SEED``: a new catalog file holding a seed's VMs and images.

Layer: edge (the ``local`` provider). Registered as the package's ``SEEDING`` (``registry.Seeding``),
so ``operations.init_catalog`` reaches it through the registry, not by importing this provider.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from pathlib import Path

from ...errors import LockError, ProviderError
from ...model import Snapshot
from ..locking import LockInfo
from .backend import LocalBackend
from .lock import LocalLockHandle
from .store import _DDL, APPLICATION, SCHEMA_VERSION, _insert_image, _insert_vm


def init_catalog(
    path: str | os.PathLike[str],
    snapshot: Snapshot,
    *,
    force: bool = False,
    lock: LockInfo | None = None,
    lock_timeout: float = 0.0,
) -> None:
    """Create a catalog file holding ``snapshot`` (from a seed). Refuses to overwrite unless ``force``.

    The file is built under a temporary name and renamed into place, so a failed init never leaves
    a half-seeded catalog where the old one was. Replacing an existing catalog takes its lock first
    (as ``lock``, waiting up to ``lock_timeout`` seconds): ``LockError`` names the holder, so an
    apply in progress is never pulled from under its feet. A file that is not a reconciler catalog
    has no lock to take and is simply replaced.
    """
    target = Path(path)
    if target.exists() and not force:
        raise ProviderError(
            f"a catalog already exists at {target}",
            code="AlreadyExists",
            hint="pass --force to replace it (every image and VM in it is lost), or choose another path",
        )
    held = _lock_for_replace(target, lock or LockInfo.new("catalog init"), lock_timeout) if force else None
    tmp = target.with_name(f".{target.name}.init-{uuid.uuid4().hex[:8]}")
    replaced = False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _DDL.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (APPLICATION, SCHEMA_VERSION))
            for vm in snapshot.vms:
                _insert_vm(conn, vm)
            for image in snapshot.images:
                _insert_image(conn, image)
            conn.execute("COMMIT")
        if force:
            for suffix in ("-wal", "-shm"):
                # A stale WAL of the old file would be replayed into the new one.
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, target)
        replaced = True  # the lock row went with the old file
    except sqlite3.IntegrityError as e:
        raise ProviderError(
            f"cannot seed the catalog at {target}: {e}",
            code="InvalidSeed",
            hint="names must be unique (case-insensitively); check the seed file",
        ) from e
    except (sqlite3.Error, OSError) as e:
        raise ProviderError(f"cannot create the catalog at {target}: {e}", code="IOError") from e
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        if held is not None and not replaced:
            with contextlib.suppress(ProviderError, LockError):  # the old catalog stays; never hide why init failed
                held.release()


def _lock_for_replace(target: Path, info: LockInfo, timeout: float) -> LocalLockHandle | None:
    """The lock of the catalog at ``target``, taken; None when there is no catalog there to lock."""
    if not target.exists():
        return None
    try:
        existing = LocalBackend(target, "")
    except ProviderError as e:
        if e.code in ("ForeignCatalog", "CorruptCatalog", "EmptyCatalog"):
            return None  # not a catalog: nobody can hold its lock
        raise
    return existing.acquire_lock(info, timeout)
