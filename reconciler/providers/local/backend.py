"""The embedded ``local`` provider's backend: an image catalog kept in one SQLite file.

Layer: edge (a provider). Imports only the standard library, ``model``, ``errors`` and the provider
protocol; every ``sqlite3`` or OS failure is translated here, once, into ``errors.ProviderError`` (or
a subclass) with the cause chained. It behaves like a small Azure: the same capture, update, remove,
adopt and lock semantics the remote providers have, so that ``plan``/``apply`` and the end-to-end
tests run offline. See ``docs/local-provider.md`` for the file layout and the exact semantics.

Safety rules are not here: ``LocalBackend`` supplies raw primitives and ``LocalProvider`` puts the
write-time guard (``providers/guard.py``) in front of them, which checks ``reconciler.rules``.

Concurrency: ``apply`` calls capture/update/remove from several threads at once and a second
``apply`` may run in another process, so no connection is ever shared: every call opens its own
connection, does its work in one transaction (``BEGIN IMMEDIATE`` for writes, held by the guard
around its re-read, its check and the write, so they see the same state), and closes it. The
database runs in WAL mode so readers never block the writer, and ``busy_timeout`` makes writers
queue instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

from ...errors import NotFound, ProviderError
from ...model import (
    PROMOTION_EXTRA,
    Capabilities,
    Category,
    Consumer,
    ConsumersPolicy,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    PowerState,
    Snapshot,
    Source,
    UnchangedTest,
    image_from_spec,
)
from ...rules import CaptureCheck
from .. import StepCallback
from ..guard import GuardedProvider, Live, LiveVM
from ..locking import Held, LockInfo, LockWaits, held_by, unlockable, wait_for_lock
from .lock import LocalLockHandle
from .store import (
    _IMAGE_COLUMNS,
    _VM_COLUMNS,
    APPLICATION,
    MIGRATIONS,
    SCHEMA_VERSION,
    _etag,
    _extra_json,
    _get_image,
    _get_vm,
    _insert_image,
    _lock_holder,
    _tags_json,
    _unwritable,
    _vm_from_row,
    _with_fingerprint,
    capture_footprint,
    images_from_rows,
    promotion_footprint,
)

#: Seconds a writer waits for another writer before SQLite gives up ("database is locked").
DEFAULT_BUSY_TIMEOUT = 30.0
#: How often a waiting ``acquire_lock`` looks at the lock row again.
LOCK_POLL_INTERVAL = 0.5


def _default_capabilities() -> Capabilities:
    from . import capabilities  # the package's descriptor (it imports this module)

    return capabilities({})


class LocalBackend:
    """The raw local catalog bound to one catalog name (``owner``: the ownership marker it writes).

    No policy: use it through ``LocalProvider`` (the guard), which ``open_provider`` returns.

    ``now`` gives the capture time (injectable for tests); ``busy_timeout`` is how long a write
    waits for another writer before failing with a retryable ``ProviderError``.
    """

    name = "local"
    remove_missing_ok = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        owner: str,
        *,
        capabilities: Capabilities | None = None,
        now: Callable[[], datetime] | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.owner = owner
        self.capabilities = capabilities or _default_capabilities()
        self._now = now or (lambda: datetime.now(UTC))
        self._busy_timeout = busy_timeout
        self._tx = threading.local()  # the connection of this thread's transaction(), if any
        # One connection per thread, opened on its first call and kept (issue 13: a connection per
        # call cost more than the write itself); ``close`` closes them all.
        self._local = threading.local()
        self._open: list[sqlite3.Connection] = []
        self._open_lock = threading.Lock()
        self._check_file()

    # ---------------------------------------------------------------------------------------------
    # Connections and transactions

    def _connect(self) -> sqlite3.Connection:
        """This thread's connection: the one it opened before, while the file is the same file
        (``catalog init --force`` renames a new one into place), else a new one."""
        try:
            st = os.stat(self.path)
            identity: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            identity = None
        cached: tuple[sqlite3.Connection, tuple[int, int]] | None = getattr(self._local, "conn", None)
        if cached is not None and cached[1] == identity:
            return cached[0]
        if cached is not None:
            self._local.conn = None
            self._forget(cached[0])
        conn = self._new_connection()
        if identity is not None:
            self._local.conn = (conn, identity)
            with self._open_lock:
                self._open.append(conn)
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._open_lock:
            if conn in self._open:
                self._open.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def _new_connection(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise ProviderError(
                f"no catalog at {self.path.absolute()}",
                code="CatalogNotFound",
                hint="create it with: reconciler catalog init --from SEED.json (see examples/demo-catalog.json)",
            )
        try:
            # mode=rw: never let a typo in catalog.path create an empty database.
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=rw",
                uri=True,
                timeout=self._busy_timeout,
                isolation_level=None,
                # Used by the thread that opened it only; ``close`` (any thread) closes them all.
                check_same_thread=False,
            )
        except sqlite3.Error as e:
            raise self._translate(e, "open") from e
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            # WAL with synchronous=NORMAL: a commit is not fsynced, the WAL is at checkpoints. A
            # killed process loses nothing it committed; a power loss may roll back the last commits,
            # never corrupt the file (docs/local-provider.md, "Transactions and concurrency").
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as e:
            conn.close()
            raise self._translate(e, "open") from e
        return conn

    @contextlib.contextmanager
    def _transaction(self, begin: str, what: str) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            try:
                conn.execute(begin)
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            if not _usable(conn):
                self._local.conn = None
                self._forget(conn)
            raise self._translate(e, what) from e

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction: taken up front (``BEGIN IMMEDIATE``) so checks and writes agree."""
        return self._transaction("BEGIN IMMEDIATE", "write")

    def _read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One read transaction: every SELECT inside sees the same committed state (WAL snapshot)."""
        return self._transaction("BEGIN", "read")

    def _translate(self, e: sqlite3.Error, what: str) -> ProviderError:
        msg = str(e)
        if isinstance(e, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg):
            return ProviderError(
                f"the catalog {self.path} is busy ({msg})",
                code="Busy",
                retryable=True,
                hint="another process holds a long write transaction; try again",
            )
        if isinstance(e, sqlite3.DatabaseError) and "not a database" in msg:
            return ProviderError(
                f"{self.path} is not an SQLite database, so not a reconciler catalog ({msg})",
                code="CorruptCatalog",
                hint="point catalog.path at a catalog made by 'reconciler catalog init'",
            )
        if isinstance(e, sqlite3.DatabaseError) and "malformed" in msg:
            return ProviderError(
                f"the catalog {self.path} is damaged ({msg})",
                code="CorruptCatalog",
                hint="restore it from a copy, or recreate it with 'reconciler catalog init --from SEED.json --force'",
            )
        unwritable = _unwritable(self.path, e)
        if unwritable is not None:
            return unwritable
        return ProviderError(f"cannot {what} the catalog {self.path}: {msg}", code="IOError")

    def _check_file(self) -> None:
        """Refuse a file that is not a catalog, or one written by a newer version of this tool."""
        with contextlib.suppress(OSError):  # a missing file is _connect's to report
            if self.path.is_file() and self.path.stat().st_size == 0:
                raise ProviderError(
                    f"the catalog file {self.path} is empty",
                    code="EmptyCatalog",
                    hint=f"recreate it with: reconciler catalog init --from SEED.json --force --path {self.path}",
                )
        with self._read() as conn:
            try:
                row = conn.execute("SELECT application, version FROM schema_version").fetchone()
            except sqlite3.OperationalError as e:
                if "no such table" not in str(e):
                    raise  # not the file's content: opening or reading it failed (_transaction says why)
                raise ProviderError(
                    f"{self.path} is an SQLite file but not a reconciler catalog (no schema_version table)",
                    code="ForeignCatalog",
                    hint="point catalog.path at a catalog made by 'reconciler catalog init'",
                ) from e
        if row is None or row[0] != APPLICATION:
            raise ProviderError(
                f"{self.path} is not a reconciler catalog (application {row[0] if row else 'unknown'!r})",
                code="ForeignCatalog",
                hint="point catalog.path at a catalog made by 'reconciler catalog init'",
            )
        if int(row[1]) > SCHEMA_VERSION:
            raise ProviderError(
                f"{self.path} was written by a newer reconciler (catalog format {row[1]}; "
                f"this version understands up to {SCHEMA_VERSION})",
                code="UnsupportedCatalogVersion",
                hint="upgrade reconciler; this version will not read or write that file",
            )
        if int(row[1]) < SCHEMA_VERSION:
            self._migrate(int(row[1]))

    def _migrate(self, version: int) -> None:
        """Bring an older catalog file up to ``SCHEMA_VERSION`` in place (``store.MIGRATIONS``), in
        one write transaction: another process sees the old file or the new one."""
        with self._write() as conn:
            current = int(conn.execute("SELECT version FROM schema_version").fetchone()[0])
            for step in range(current, SCHEMA_VERSION):
                for stmt in MIGRATIONS[step]:
                    conn.execute(stmt)
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        del version

    # ---------------------------------------------------------------------------------------------
    # Reads

    def snapshot(self, like: Sequence[ImageSpec] = (), unchanged: UnchangedTest | None = None) -> Snapshot:
        """Every image and VM, sorted by (casefolded) name, in one consistent read. An image equal
        to its spec in ``like`` in a value shares the spec's; one that passes ``unchanged`` is kept
        as its fingerprint (``store.images_from_rows``)."""
        specs = {s.name: s for s in like}
        found: dict[str, str] = {}
        with self._read() as conn:
            images = tuple(images_from_rows(conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images ORDER BY key"),
                                            specs, unchanged, found))
            vm_rows = conn.execute(f"SELECT {_VM_COLUMNS} FROM vms ORDER BY key").fetchall()
        return Snapshot(
            images=images,
            vms=tuple(_vm_from_row(r) for r in vm_rows),
            unchanged=found,
        )

    def consumers(self, images: Sequence[Image], policy: ConsumersPolicy) -> dict[str, tuple[Consumer, ...]]:
        """The catalog's VMs created from each of ``images`` (``vms.image``; docs/local-provider.md).
        ``policy.subscriptions`` means nothing here."""
        del policy
        wanted = {i.key for i in images}
        with self._read() as conn:
            rows = conn.execute("SELECT name, image FROM vms WHERE image IS NOT NULL ORDER BY key").fetchall()
        out: dict[str, list[Consumer]] = {}
        for name, image in rows:
            if image.casefold() in wanted:
                out.setdefault(image.casefold(), []).append(
                    Consumer(kind="vm", name=name, image=image, id=f"vms/{name}"))
        return {k: tuple(v) for k, v in out.items()}

    # ---------------------------------------------------------------------------------------------
    # Primitives for the guard (providers/guard.py): no checks here, the guard made them

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction around the guard's re-read, check and write.

        Steps the primitives report reach ``on_step`` once it has committed, so a slow callback
        never holds the write lock.
        """
        steps: list[tuple[StepCallback, str]] = []
        with self._write() as conn:
            self._tx.conn, self._tx.steps = conn, steps
            try:
                yield conn
            finally:
                self._tx.conn = self._tx.steps = None
        for on_step, step in steps:
            on_step(step)

    def _step(self, on_step: StepCallback, step: str) -> None:
        self._tx.steps.append((on_step, step))

    def _held(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._tx, "conn", None)
        if conn is None:
            raise RuntimeError("local catalog writes run inside transaction()")
        return conn

    def read_image(self, name: str, type_: ImageType) -> Live | None:
        del type_  # one name space for both image types
        conn = getattr(self._tx, "conn", None)
        if conn is not None:
            image = _get_image(conn, name.casefold())
        else:
            with self._read() as conn:
                image = _get_image(conn, name.casefold())
        return Live(image) if image is not None else None

    def read_vm(self, name: str) -> LiveVM | None:
        vm = _get_vm(self._held(), name.casefold())
        return LiveVM(vm) if vm is not None else None

    def create_image(self, spec: ImageSpec, vm: LiveVM | None, check: CaptureCheck, on_step: StepCallback) -> Image:
        """Capture ``spec`` from its source VM row.

        A generalized capture deletes the source VM row (classic Azure semantics); a specialized one
        leaves the VM untouched. When ``check`` says so (``source.generalize``), the VM is first
        deallocated and generalized, then consumed. A promotion copies another catalog's image.
        """
        if spec.source.promotion:
            return self._promote(spec, on_step)
        assert vm is not None, "the guard refuses a capture without a source VM here"
        conn = self._held()
        source = vm.vm
        if check.generalize:
            self._step(on_step, "deallocate vm")
            self._step(on_step, "generalize vm")
            conn.execute(
                "UPDATE vms SET power_state = ?, os_state = ?, etag = ? WHERE key = ?",
                (PowerState.DEALLOCATED.value, OSState.GENERALIZED.value, _etag(), source.key),
            )
        image = image_from_spec(
            spec,
            category=Category.USER,
            owner=self.owner,
            # As written in the spec, so the planner's source comparison stays equal.
            source=Source(vm=spec.source.vm, storage_account=spec.source.storage_account),
            data_disks=len(source.data_disks) if spec.type is ImageType.VM else 0,
            created=self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            footprint=capture_footprint(spec, source),
        )
        self._step(on_step, "capture")
        fingerprint = _insert_image(conn, image)
        if check.consumes is not None:
            self._step(on_step, "delete vm")
            conn.execute("DELETE FROM vms WHERE key = ?", (source.key,))
        return _with_fingerprint(image, fingerprint)

    def origin(self, name: str) -> Image | None:
        """One image of this catalog by name, whoever owns it: the source of a promotion into
        another catalog (issue 11 §1). Read only."""
        with self._read() as conn:
            return _get_image(conn, name.casefold())

    def origins(self, specs: Sequence[ImageSpec]) -> dict[str, Image]:
        """``Provider.origins``: each promotion's image read from its source catalog file."""
        out: dict[str, Image] = {}
        for spec in specs:
            found = self._origin_of(spec)
            if found is not None:
                out[str(spec.source.image).casefold()] = found
        return out

    def _origin_of(self, spec: ImageSpec) -> Image | None:
        promo = spec.extra.get(PROMOTION_EXTRA) or {}
        path = (promo.get("settings") or {}).get("path")
        if not path:
            return None
        if not Path(str(path)).exists():
            raise ProviderError(f"source catalog '{promo.get('source')}' of '{spec.name}': {path} does not exist",
                                code="CatalogNotFound",
                                hint=f"fix sources.{promo.get('source')}.path, or create that catalog first")
        source = LocalBackend(str(path), str(promo.get("source") or "source"), capabilities=self.capabilities)
        try:
            return source.origin(str(promo.get("image", "")))
        finally:
            source.close()

    def _promote(self, spec: ImageSpec, on_step: StepCallback) -> Image:
        """Copy the source catalog's image (``extra[PROMOTION_EXTRA]`` says which file and name) into
        this one as a new owned image; the source catalog is only read. The copy records no source
        (it was made from no VM of this catalog) and keeps the source's disks."""
        promo = spec.extra.get(PROMOTION_EXTRA) or {}
        origin = self._origin_of(spec)
        if origin is None:
            where = (promo.get("settings") or {}).get("path") or f"source '{promo.get('source')}'"
            raise NotFound(f"source image {promo.get('from')} of '{spec.name}' does not exist in {where}",
                           status=404, code="ResourceNotFound")
        image = image_from_spec(
            spec,
            category=Category.USER,
            owner=self.owner,
            source=Source(),
            data_disks=origin.data_disks,
            created=self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            footprint=promotion_footprint(spec, origin),  # what the plan said it would store
            extra={k: v for k, v in spec.extra.items() if k != PROMOTION_EXTRA},
        )
        self._step(on_step, f"copy from {promo.get('from')}")
        fingerprint = _insert_image(self._held(), image)
        return _with_fingerprint(image, fingerprint)

    def settle_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """A capture here is one transaction: an image that exists is finished."""
        return live.image

    def update_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """Set the mutable fields and the protection marker to the spec's."""
        conn = self._held()
        conn.execute(
            "UPDATE images SET family = ?, label = ?, description = ?, recommended_vm_size = ?, "
            "tags = ?, protected = ?, extra = ?, etag = ? WHERE key = ?",
            (
                spec.family,
                spec.label,
                spec.description,
                spec.recommended_vm_size,
                _tags_json(spec.tags),
                int(spec.protect),
                _extra_json(spec.extra),
                _etag(),
                live.image.key,
            ),
        )
        updated = _get_image(conn, live.image.key)
        self._step(on_step, "update")
        assert updated is not None
        return updated

    def delete_image(self, live: Live, on_step: StepCallback) -> None:
        self._held().execute("DELETE FROM images WHERE key = ?", (live.image.key,))
        self._step(on_step, "remove")

    def set_owner(self, live: Live) -> Image:
        conn = self._held()
        conn.execute("UPDATE images SET owner = ?, etag = ? WHERE key = ?", (self.owner, _etag(), live.image.key))
        adopted = _get_image(conn, live.image.key)
        assert adopted is not None
        return adopted

    # ---------------------------------------------------------------------------------------------
    # The catalog lock

    def try_lock(self, info: LockInfo) -> LocalLockHandle | Held:
        """One try: insert the lock row when there is none, else say who holds it."""
        with self._write() as conn:
            holder = _lock_holder(conn)
            if holder is None:
                row = (info.id, json.dumps(info.as_dict()))
                conn.execute("INSERT INTO lock (slot, lock_id, info) VALUES (1, ?, ?)", row)
        return LocalLockHandle(self, info) if holder is None else held_by(holder)

    def acquire_lock(self, info: LockInfo, timeout: float, **waits: Unpack[LockWaits]) -> LocalLockHandle:
        """Insert the lock row, polling until ``timeout``; ``LockError`` names the holder."""
        return wait_for_lock(lambda: self.try_lock(info), timeout=timeout, poll=LOCK_POLL_INTERVAL, **waits)

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Delete the lock row, only when ``lock_id`` is exactly the holder's id."""
        with self._write() as conn:
            holder = unlockable(_lock_holder(conn), lock_id, what=f"the catalog {self.path}")
            conn.execute("DELETE FROM lock WHERE lock_id = ?", (lock_id,))
        return holder

    def close(self) -> None:
        """Close every thread's connection (the provider is not used after this)."""
        with self._open_lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


def _usable(conn: sqlite3.Connection) -> bool:
    """Whether a connection that just failed can serve the next call (not closed, no transaction left)."""
    try:
        return not conn.in_transaction
    except sqlite3.ProgrammingError:  # closed
        return False


class LocalProvider(GuardedProvider):
    """The local catalog as every caller gets it: ``LocalBackend`` behind the write-time guard.

    Takes ``LocalBackend``'s arguments (``path``, ``owner``, ``capabilities``, ``now``,
    ``busy_timeout``); ``path`` and the backend's other attributes read through.
    """

    backend: LocalBackend

    def __init__(self, path: str | os.PathLike[str], owner: str, **options: Any) -> None:
        super().__init__(LocalBackend(path, owner, **options))
