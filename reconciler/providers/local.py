"""The embedded ``local`` provider: an image catalog kept in one SQLite file.

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
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

from ..codec import Codec, Shape
from ..errors import LockError, ProviderError
from ..model import (
    VM,
    Capabilities,
    CatalogConfig,
    Category,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    PowerState,
    Snapshot,
    Source,
    image_from_spec,
)
from ..rules import CaptureCheck
from . import StepCallback
from .guard import GuardedProvider, Live, LiveVM
from .locking import (
    Held,
    LockInfo,
    LockWaits,
    held_by,
    lost_at_release,
    lost_lock,
    taken_from,
    unlockable,
    wait_for_lock,
)

#: The catalog file's format. Bump it (and add a migration) whenever the tables change.
SCHEMA_VERSION = 1
#: Written in the schema-version table so that another program's SQLite file is never mistaken
#: for a catalog (and never written to).
APPLICATION = "reconciler-local-catalog"
DEFAULT_PATH = ".reconciler/catalog.db"
#: Seconds a writer waits for another writer before SQLite gives up ("database is locked").
DEFAULT_BUSY_TIMEOUT = 30.0
#: How often a waiting ``acquire_lock`` looks at the lock row again.
LOCK_POLL_INTERVAL = 0.5

_MUTABLE_FIELDS = frozenset({"family", "label", "description", "recommended_vm_size", "tags", "protect"})

_DDL = """
CREATE TABLE schema_version (
    application TEXT NOT NULL,
    version     INTEGER NOT NULL
);
CREATE TABLE vms (
    key         TEXT PRIMARY KEY,           -- casefolded name: names compare case-insensitively
    name        TEXT NOT NULL,
    os          TEXT NOT NULL,
    power_state TEXT NOT NULL,
    os_state    TEXT NOT NULL,
    os_disk     TEXT NOT NULL,
    data_disks  TEXT NOT NULL,              -- JSON array of disk names
    etag        TEXT NOT NULL               -- new random value on every write: VM.fingerprint
);
CREATE TABLE images (
    key                 TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    type                TEXT NOT NULL CHECK (type IN ('os', 'vm')),
    os                  TEXT NOT NULL,
    os_state            TEXT NOT NULL CHECK (os_state IN ('generalized', 'specialized')),
    category            TEXT NOT NULL CHECK (category IN ('user', 'public')),
    family              TEXT,
    label               TEXT,
    description         TEXT,
    recommended_vm_size TEXT,
    tags                TEXT NOT NULL,      -- JSON object of user tags (markers live in columns)
    owner               TEXT,               -- ownership marker: catalog name, NULL = unowned
    protected           INTEGER NOT NULL CHECK (protected IN (0, 1)),
    source_vm           TEXT,
    source_vhd          TEXT,
    source_storage      TEXT,
    data_disks          INTEGER NOT NULL CHECK (data_disks >= 0),
    created             TEXT NOT NULL,
    etag                TEXT NOT NULL       -- new random value on every write: Image.fingerprint
);
CREATE TABLE lock (
    slot    INTEGER PRIMARY KEY CHECK (slot = 1),   -- one row at most: the lock itself
    lock_id TEXT NOT NULL,
    info    TEXT NOT NULL                           -- JSON of LockInfo
);
"""


def capabilities(settings: Mapping[str, Any]) -> Capabilities:
    """What the local catalog can hold and change (pure, no I/O)."""
    return Capabilities(
        provider="local",
        mutable_fields=_MUTABLE_FIELDS,
        image_types=frozenset({ImageType.OS, ImageType.VM}),
        specialized_types=frozenset({ImageType.VM}),
        capture_power_states=frozenset({PowerState.STOPPED, PowerState.DEALLOCATED}),
        generalize=True,
        vhd_source=False,
        settings={"path": f"the SQLite catalog file (default {DEFAULT_PATH}); create it with catalog init"},
        consumes_vm="deletes the source VM",
    )


def _default_capabilities() -> Capabilities:
    return capabilities({})


def open_provider(config: CatalogConfig, *, env: Mapping[str, str]) -> LocalProvider:
    """Open the catalog file named by ``catalog.path`` (``env`` is unused: no credentials)."""
    del env
    path = str(config.settings.get("path") or DEFAULT_PATH)
    return LocalProvider(path, config.name, capabilities=capabilities(config.settings))


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


class LocalLockHandle:
    """A held catalog lock: the lock row carrying ``info.id``. ``release`` deletes that row only."""

    def __init__(self, provider: LocalBackend, info: LockInfo) -> None:
        self.info = info
        self._provider = provider
        self._released = False

    @property
    def _what(self) -> str:
        return f"catalog {self._provider.path}"

    def check(self) -> None:
        """Raise ``LockError`` when the lock row is gone or another run's (force-unlock ran)."""
        with self._provider._read() as conn:
            reason = taken_from(self.info, _lock_holder(conn))
        if reason is not None:
            raise lost_lock(self._what, self.info, reason)

    def release(self) -> None:
        """Delete our lock row; safe to call twice. ``LockError`` when it was no longer ours."""
        if self._released:
            return
        with self._provider._write() as conn:
            deleted = conn.execute("DELETE FROM lock WHERE lock_id = ?", (self.info.id,)).rowcount
        self._released = True
        if not deleted:
            raise lost_at_release(self._what, self.info)

    def __enter__(self) -> LocalLockHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
        self._check_file()

    # ---------------------------------------------------------------------------------------------
    # Connections and transactions

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise ProviderError(
                f"no catalog at {self.path}",
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
                check_same_thread=True,
            )
        except sqlite3.Error as e:
            raise self._translate(e, "open") from e
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
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
            raise self._translate(e, what) from e
        finally:
            conn.close()

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

    # ---------------------------------------------------------------------------------------------
    # Reads

    def snapshot(self) -> Snapshot:
        """Every image and VM, sorted by (casefolded) name, in one consistent read."""
        with self._read() as conn:
            image_rows = conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images ORDER BY key").fetchall()
            vm_rows = conn.execute(f"SELECT {_VM_COLUMNS} FROM vms ORDER BY key").fetchall()
        return Snapshot(
            images=tuple(_image_from_row(r) for r in image_rows),
            vms=tuple(_vm_from_row(r) for r in vm_rows),
        )

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
        deallocated and generalized, then consumed.
        """
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
        )
        self._step(on_step, "capture")
        fingerprint = _insert_image(conn, image)
        if check.consumes is not None:
            self._step(on_step, "delete vm")
            conn.execute("DELETE FROM vms WHERE key = ?", (source.key,))
        return _with_fingerprint(image, fingerprint)

    def settle_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """A capture here is one transaction: an image that exists is finished."""
        return live.image

    def update_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """Set the mutable fields and the protection marker to the spec's."""
        conn = self._held()
        conn.execute(
            "UPDATE images SET family = ?, label = ?, description = ?, recommended_vm_size = ?, "
            "tags = ?, protected = ?, etag = ? WHERE key = ?",
            (
                spec.family,
                spec.label,
                spec.description,
                spec.recommended_vm_size,
                _tags_json(spec.tags),
                int(spec.protect),
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
        """Nothing to close: every call opened and closed its own connection."""


class LocalProvider(GuardedProvider):
    """The local catalog as every caller gets it: ``LocalBackend`` behind the write-time guard.

    Takes ``LocalBackend``'s arguments (``path``, ``owner``, ``capabilities``, ``now``,
    ``busy_timeout``); ``path`` and the backend's other attributes read through.
    """

    backend: LocalBackend

    def __init__(self, path: str | os.PathLike[str], owner: str, **options: Any) -> None:
        super().__init__(LocalBackend(path, owner, **options))


# --------------------------------------------------------------------------------------------------
# Rows <-> model

#: The catalog's rows: a column per field, ``source`` flattened into ``source_*``, tags and data
#: disks as JSON text, the protection marker as 0/1, the fingerprint as ``etag``. ``id`` is not
#: stored (it is derived from the name), nor an image's ``extra`` (the local catalog has none).
_ROWS = Codec(
    {
        Image: Shape(
            exclude=frozenset({"extra", "id"}),
            rename={"fingerprint": "etag"},
            flatten={"source": "source_"},
            convert={"tags": (lambda t: _tags_json(t), json.loads), "protected": (int, bool)},
        ),
        Source: Shape(exclude=frozenset({"generalize"}), rename={"storage_account": "storage"}),
        VM: Shape(
            exclude=frozenset({"id"}), rename={"fingerprint": "etag"}, convert={"data_disks": (json.dumps, json.loads)}
        ),
    }
)
_IMAGE_COLUMNS = ", ".join(_ROWS.keys(Image))
_VM_COLUMNS = ", ".join(_ROWS.keys(VM))


def _image_from_row(r: tuple[Any, ...]) -> Image:
    return _ROWS.from_dict(Image, dict(zip(_ROWS.keys(Image), r, strict=True)), id=f"images/{r[0]}")


def _vm_from_row(r: tuple[Any, ...]) -> VM:
    return _ROWS.from_dict(VM, dict(zip(_ROWS.keys(VM), r, strict=True)), id=f"vms/{r[0]}")


def _get_image(conn: sqlite3.Connection, key: str) -> Image | None:
    row = conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE key = ?", (key,)).fetchone()
    return _image_from_row(row) if row is not None else None


def _get_vm(conn: sqlite3.Connection, key: str) -> VM | None:
    row = conn.execute(f"SELECT {_VM_COLUMNS} FROM vms WHERE key = ?", (key,)).fetchone()
    return _vm_from_row(row) if row is not None else None


def _insert(conn: sqlite3.Connection, table: str, columns: str, obj: Image | VM) -> str:
    """Insert ``obj`` as a new row with a new etag (its fingerprint), which is returned."""
    etag = _etag()
    row = _ROWS.to_dict(obj) | {"etag": etag}
    conn.execute(f"INSERT INTO {table} (key, {columns}) VALUES (?{', ?' * len(row)})", (obj.key, *row.values()))
    return etag


def _insert_image(conn: sqlite3.Connection, i: Image) -> str:
    return _insert(conn, "images", _IMAGE_COLUMNS, i)


def _insert_vm(conn: sqlite3.Connection, v: VM) -> None:
    _insert(conn, "vms", _VM_COLUMNS, v)


def _with_fingerprint(i: Image, etag: str) -> Image:
    return replace(i, id=f"images/{i.name}", fingerprint=etag)


def _tags_json(tags: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(tags.items())))


def _etag() -> str:
    return uuid.uuid4().hex[:16]


# --------------------------------------------------------------------------------------------------
# Checks and messages


#: SQLite's primary result codes for "cannot write" and "cannot open" (the low byte of the code).
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14


def _unwritable(path: Path, e: sqlite3.Error) -> ProviderError | None:
    """What SQLite's "readonly" / "unable to open" really means for the catalog at ``path``, if known.

    In WAL mode even a reader creates ``<file>-wal`` and ``<file>-shm`` beside the file, so a
    catalog on a read-only mount, or in a directory this user cannot write, cannot be opened at
    all; a file without write permission can be read but not changed. None: something else.
    """
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    msg = str(e)
    if code not in (_SQLITE_READONLY, _SQLITE_CANTOPEN) and "readonly" not in msg and "unable to open" not in msg:
        return None
    directory = path.parent
    copy = f"/tmp/{path.name}"
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if not os.access(directory, os.W_OK) and not (wal.exists() and shm.exists()):
        return ProviderError(
            f"cannot open the catalog {path} read-write: its directory is not writable "
            f"(SQLite needs to create {wal} and {shm}; a read-only mount, or no write permission)",
            code="ReadOnlyCatalog",
            hint=f"work on a writable copy: cp {path} {copy} and set catalog.path: {copy} "
            "(a copy's changes stay in the copy); or make the directory writable",
        )
    if not os.access(path, os.W_OK):
        return ProviderError(
            f"the catalog file {path} is read-only (no write permission, or a read-only mount): "
            f"it can be read but not changed ({msg})",
            code="ReadOnlyCatalog",
            hint=f"make it writable, or work on a writable copy: cp {path} {copy} and set catalog.path: {copy}",
        )
    return None


def _lock_holder(conn: sqlite3.Connection) -> LockInfo | None:
    row = conn.execute("SELECT info FROM lock WHERE slot = 1").fetchone()
    return LockInfo.from_dict(json.loads(row[0])) if row is not None else None


__all__ = [
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "LocalBackend",
    "LocalLockHandle",
    "LocalProvider",
    "capabilities",
    "init_catalog",
    "open_provider",
]
