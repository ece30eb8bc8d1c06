"""The embedded ``local`` provider: an image catalog kept in one SQLite file.

Layer: edge (a provider). Imports only the standard library, ``model``, ``errors`` and the provider
protocol; every ``sqlite3`` or OS failure is translated here, once, into ``errors.ProviderError`` (or
a subclass) with the cause chained. It behaves like a small Azure: the same capture, update, remove,
adopt and lock semantics the remote providers have, so that ``plan``/``apply`` and the end-to-end
tests run offline. See ``docs/local-provider.md`` for the file layout and the exact semantics.

Concurrency: ``apply`` calls capture/update/remove from several threads at once and a second
``apply`` may run in another process, so no connection is ever shared: every call opens its own
connection, does its work in one transaction (``BEGIN IMMEDIATE`` for writes, so the checks and the
write see the same state), and closes it. The database runs in WAL mode so readers never block
the writer, and ``busy_timeout`` makes writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import LockError, NotFound, ProviderError
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
)
from . import LockInfo, StepCallback, _no_step, conflict_hint, ownership_phrase

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


def init_catalog(path: str | os.PathLike[str], snapshot: Snapshot, *, force: bool = False) -> None:
    """Create a catalog file holding ``snapshot`` (from a seed). Refuses to overwrite unless ``force``.

    The file is built under a temporary name and renamed into place, so a failed init never leaves
    a half-seeded catalog where the old one was.
    """
    target = Path(path)
    if target.exists() and not force:
        raise ProviderError(
            f"a catalog already exists at {target}",
            code="AlreadyExists",
            hint="pass --force to replace it (every image and VM in it is lost), or choose another path",
        )
    tmp = target.with_name(f".{target.name}.init-{uuid.uuid4().hex[:8]}")
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


class LocalLockHandle:
    """A held catalog lock; ``release`` deletes the lock row only if it is still ours."""

    def __init__(self, provider: LocalProvider, info: LockInfo) -> None:
        self.info = info
        self._provider = provider

    def release(self) -> None:
        with self._provider._write() as conn:
            conn.execute("DELETE FROM lock WHERE lock_id = ?", (self.info.id,))

    def __enter__(self) -> LocalLockHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LocalProvider:
    """The local catalog bound to one catalog name (``owner``: the ownership marker it writes).

    ``now`` gives the capture time (injectable for tests); ``busy_timeout`` is how long a write
    waits for another writer before failing with a retryable ``ProviderError``.
    """

    name = "local"

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
        if isinstance(e, sqlite3.DatabaseError) and ("not a database" in msg or "malformed" in msg):
            return ProviderError(
                f"{self.path} is not a usable SQLite catalog ({msg})",
                code="CorruptCatalog",
                hint="point catalog.path at a catalog made by 'reconciler catalog init'",
            )
        return ProviderError(f"cannot {what} the catalog {self.path}: {msg}", code="IOError")

    def _check_file(self) -> None:
        """Refuse a file that is not a catalog, or one written by a newer version of this tool."""
        with self._read() as conn:
            try:
                row = conn.execute("SELECT application, version FROM schema_version").fetchone()
            except sqlite3.OperationalError as e:
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
    # Writes

    def capture(self, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        """Capture ``spec`` from its source VM, re-checking every precondition inside the transaction.

        A generalized capture deletes the source VM row (classic Azure semantics); a specialized one
        leaves the VM untouched. With ``source.generalize`` a VM that is not yet generalized (or
        still running) is first deallocated and generalized, then consumed.
        """
        steps: list[str] = []
        with self._write() as conn:
            existing = _get_image(conn, spec.key)
            if existing is not None:
                if (
                    existing.owner == self.owner
                    and existing.category is Category.USER
                    and existing.source is not None
                    and existing.source.as_dict() == spec.source.as_dict()
                ):
                    return existing  # a retried capture: already done
                raise ProviderError(
                    f"an image named '{existing.name}' already exists ({ownership_phrase(existing)})",
                    code="Conflict",
                    status=409,
                    hint=conflict_hint(existing, self.owner),
                )
            if spec.source.vm is None:
                raise ProviderError(
                    f"cannot capture '{spec.name}': the local provider captures from VMs only, not VHDs",
                    code="OperationNotAllowed",
                    hint="use source.vm, or a provider that supports VHD sources",
                )
            vm = _get_vm(conn, spec.source.vm.casefold())
            if vm is None:
                raise NotFound(
                    f"source VM '{spec.source.vm}' of image '{spec.name}' not found",
                    code="ResourceNotFound",
                    status=404,
                    hint="check source.vm against 'reconciler images list' VMs; names are case-insensitive",
                )
            _check_capture(spec, vm, self.capabilities)
            generalized = spec.os_state is OSState.GENERALIZED
            if generalized and (vm.os_state is not OSState.GENERALIZED or vm.power_state not in _CAPTURABLE):
                # _check_capture only lets this through with source.generalize.
                steps += ["deallocate vm", "generalize vm"]
                conn.execute(
                    "UPDATE vms SET power_state = ?, os_state = ?, etag = ? WHERE key = ?",
                    (PowerState.DEALLOCATED.value, OSState.GENERALIZED.value, _etag(), vm.key),
                )
            image = Image(
                name=spec.name,
                type=spec.type,
                os=spec.os,
                os_state=spec.os_state,
                category=Category.USER,
                family=spec.family,
                label=spec.label,
                description=spec.description,
                recommended_vm_size=spec.recommended_vm_size,
                tags=dict(spec.tags),
                owner=self.owner,
                protected=spec.protect,
                # As written in the spec, so the planner's source comparison stays equal.
                source=Source(vm=spec.source.vm, storage_account=spec.source.storage_account),
                data_disks=len(vm.data_disks) if spec.type is ImageType.VM else 0,
                created=self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            steps.append("capture")
            fingerprint = _insert_image(conn, image)
            if generalized:
                steps.append("delete vm")
                conn.execute("DELETE FROM vms WHERE key = ?", (vm.key,))
        for step in steps:
            on_step(step)
        return _with_fingerprint(image, fingerprint)

    def update(self, image: Image, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        """Set the mutable fields and the protection marker of an owned user image to the spec's."""
        with self._write() as conn:
            live = self._owned(conn, image.name, "update")
            etag = _etag()
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
                    etag,
                    live.key,
                ),
            )
            updated = _get_image(conn, live.key)
        on_step("update")
        assert updated is not None
        return updated

    def remove(self, image: Image, on_step: StepCallback = _no_step) -> None:
        """Delete an owned, unprotected user image."""
        with self._write() as conn:
            live = self._owned(conn, image.name, "remove")
            if live.protected:
                raise ProviderError(
                    f"image '{live.name}' is protected and cannot be removed",
                    code="OperationNotAllowed",
                    status=409,
                    hint="set protect: false on it and apply, then remove it",
                )
            conn.execute("DELETE FROM images WHERE key = ?", (live.key,))
        on_step("remove")

    def adopt(self, image: Image) -> Image:
        """Mark an unowned user image as this catalog's (``import``); a no-op when already ours."""
        with self._write() as conn:
            live = _get_image(conn, image.key)
            if live is None:
                raise NotFound(f"image '{image.name}' not found", code="ResourceNotFound", status=404)
            if live.category is Category.PUBLIC:
                raise ProviderError(
                    f"image '{live.name}' is a public image and cannot be imported",
                    code="OperationNotAllowed",
                    status=409,
                    hint="only user images can be owned; reference public images by name instead",
                )
            if live.owner == self.owner:
                return live
            if live.owner is not None:
                raise ProviderError(
                    f"image '{live.name}' is already owned by catalog '{live.owner}'",
                    code="Conflict",
                    status=409,
                    hint=f"manage it from catalog '{live.owner}', or remove it from that catalog's file first",
                )
            conn.execute("UPDATE images SET owner = ?, etag = ? WHERE key = ?", (self.owner, _etag(), live.key))
            adopted = _get_image(conn, live.key)
        assert adopted is not None
        return adopted

    def _owned(self, conn: sqlite3.Connection, name: str, verb: str) -> Image:
        live = _get_image(conn, name.casefold())
        if live is None:
            raise NotFound(f"image '{name}' not found", code="ResourceNotFound", status=404)
        if live.category is Category.PUBLIC:
            raise ProviderError(
                f"cannot {verb} '{live.name}': it is a public image",
                code="OperationNotAllowed",
                status=409,
                hint="public images are read-only; only user images this catalog owns can change",
            )
        if live.owner != self.owner:
            raise ProviderError(
                f"cannot {verb} '{live.name}': {ownership_phrase(live)}, not by catalog '{self.owner}'",
                code="OperationNotAllowed",
                status=409,
                hint=conflict_hint(live, self.owner),
            )
        return live

    # ---------------------------------------------------------------------------------------------
    # The catalog lock

    def acquire_lock(
        self,
        info: LockInfo,
        timeout: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> LocalLockHandle:
        """Insert the lock row, polling until ``timeout``; ``LockError`` names the holder."""
        clock = clock or time.monotonic
        sleep = sleep or time.sleep
        deadline = clock() + max(timeout, 0.0)
        while True:
            with self._write() as conn:
                holder = _lock_holder(conn)
                if holder is None:
                    conn.execute(
                        "INSERT INTO lock (slot, lock_id, info) VALUES (1, ?, ?)",
                        (info.id, json.dumps(info.as_dict())),
                    )
                    return LocalLockHandle(self, info)
            remaining = deadline - clock()
            if remaining <= 0:
                raise _locked_error(holder, timeout)
            sleep(min(LOCK_POLL_INTERVAL, remaining))

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Delete the lock row, only when ``lock_id`` is exactly the holder's id."""
        with self._write() as conn:
            holder = _lock_holder(conn)
            if holder is None:
                raise LockError(f"the catalog {self.path} is not locked", "there is nothing to unlock")
            if holder.id != lock_id:
                raise LockError(
                    f"lock ID '{lock_id}' does not match the lock on the catalog, held by {holder.describe()}",
                    "pass the exact lock ID shown by the failed run's error message",
                    holder=_holder_dict(holder),
                )
            conn.execute("DELETE FROM lock WHERE lock_id = ?", (lock_id,))
        return holder

    def close(self) -> None:
        """Nothing to close: every call opened and closed its own connection."""


# --------------------------------------------------------------------------------------------------
# Rows <-> model

_IMAGE_COLUMNS = (
    "name, type, os, os_state, category, family, label, description, recommended_vm_size, tags, owner, "
    "protected, source_vm, source_vhd, source_storage, data_disks, created, etag"
)
_VM_COLUMNS = "name, os, power_state, os_state, os_disk, data_disks, etag"
_CAPTURABLE = frozenset({PowerState.STOPPED, PowerState.DEALLOCATED})


def _image_from_row(r: tuple[Any, ...]) -> Image:
    source = None
    if r[12] is not None or r[13] is not None:
        source = Source(vm=r[12], vhd=r[13], storage_account=r[14])
    return Image(
        name=r[0],
        type=ImageType(r[1]),
        os=r[2],
        os_state=OSState(r[3]),
        category=Category(r[4]),
        family=r[5],
        label=r[6],
        description=r[7],
        recommended_vm_size=r[8],
        tags=json.loads(r[9]),
        owner=r[10],
        protected=bool(r[11]),
        source=source,
        data_disks=r[15],
        created=r[16],
        id=f"images/{r[0]}",
        fingerprint=r[17],
    )


def _vm_from_row(r: tuple[Any, ...]) -> VM:
    return VM(
        name=r[0],
        os=r[1],
        power_state=PowerState(r[2]),
        os_state=OSState(r[3]),
        os_disk=r[4],
        data_disks=tuple(json.loads(r[5])),
        id=f"vms/{r[0]}",
        fingerprint=r[6],
    )


def _get_image(conn: sqlite3.Connection, key: str) -> Image | None:
    row = conn.execute(f"SELECT {_IMAGE_COLUMNS} FROM images WHERE key = ?", (key,)).fetchone()
    return _image_from_row(row) if row is not None else None


def _get_vm(conn: sqlite3.Connection, key: str) -> VM | None:
    row = conn.execute(f"SELECT {_VM_COLUMNS} FROM vms WHERE key = ?", (key,)).fetchone()
    return _vm_from_row(row) if row is not None else None


def _insert_image(conn: sqlite3.Connection, i: Image) -> str:
    etag = _etag()
    src = i.source or Source()
    conn.execute(
        f"INSERT INTO images (key, {_IMAGE_COLUMNS}) VALUES ({', '.join('?' * 19)})",
        (
            i.key,
            i.name,
            i.type.value,
            i.os,
            i.os_state.value,
            i.category.value,
            i.family,
            i.label,
            i.description,
            i.recommended_vm_size,
            _tags_json(i.tags),
            i.owner,
            int(i.protected),
            src.vm,
            src.vhd,
            src.storage_account,
            i.data_disks,
            i.created,
            etag,
        ),
    )
    return etag


def _insert_vm(conn: sqlite3.Connection, v: VM) -> None:
    conn.execute(
        f"INSERT INTO vms (key, {_VM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            v.key,
            v.name,
            v.os,
            v.power_state.value,
            v.os_state.value,
            v.os_disk,
            json.dumps(list(v.data_disks)),
            _etag(),
        ),
    )


def _with_fingerprint(i: Image, etag: str) -> Image:
    return replace(i, id=f"images/{i.name}", fingerprint=etag)


def _tags_json(tags: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(tags.items())))


def _etag() -> str:
    return uuid.uuid4().hex[:16]


# --------------------------------------------------------------------------------------------------
# Checks and messages


def _check_capture(spec: ImageSpec, vm: VM, caps: Capabilities) -> None:
    """The capture preconditions of design §4, re-checked against the live VM at write time."""

    def refuse(message: str, hint: str) -> ProviderError:
        return ProviderError(message, code="OperationNotAllowed", status=409, hint=hint)

    what = f"cannot capture '{spec.name}' from VM '{vm.name}'"
    if spec.type not in caps.image_types:
        raise refuse(f"{what}: the local catalog cannot hold {spec.type.value} images", "")
    if spec.os_state is OSState.SPECIALIZED and spec.type not in caps.specialized_types:
        raise refuse(f"{what}: an {spec.type.value} image is always generalized", "use type: vm")
    if spec.os != vm.os:
        raise refuse(f"{what}: the image says os {spec.os} but the VM runs {vm.os}", f"set os: {vm.os}")
    generalize = spec.source.generalize and spec.os_state is OSState.GENERALIZED
    if vm.power_state not in caps.capture_power_states and not generalize:
        raise refuse(
            f"{what}: the VM is {vm.power_state.value}",
            "stop or deallocate the VM first"
            + (", or set source.generalize: true" if spec.os_state is OSState.GENERALIZED else ""),
        )
    if spec.os_state is OSState.GENERALIZED and vm.os_state is not OSState.GENERALIZED and not generalize:
        raise refuse(
            f"{what}: a generalized capture needs a generalized VM, and this one is specialized",
            "generalize the VM (Sysprep / waagent -deprovision), or set source.generalize: true",
        )
    if spec.os_state is OSState.SPECIALIZED and vm.os_state is OSState.GENERALIZED:
        raise refuse(
            f"{what}: the VM is generalized, so a specialized capture is impossible",
            "declare os_state: generalized",
        )


def _lock_holder(conn: sqlite3.Connection) -> LockInfo | None:
    row = conn.execute("SELECT info FROM lock WHERE slot = 1").fetchone()
    return LockInfo.from_dict(json.loads(row[0])) if row is not None else None


def _holder_dict(holder: LockInfo) -> dict[str, str]:
    return {k: str(v) for k, v in holder.as_dict().items()}


def _locked_error(holder: LockInfo, timeout: float) -> LockError:
    alive = _pid_alive(holder.pid) if holder.host == socket.gethostname() else None
    if alive is False:
        hint = (
            f"the holder (pid {holder.pid} on this host) is no longer running: run reconciler force-unlock {holder.id}"
        )
    else:
        hint = (
            "wait for that run to finish or raise --lock-timeout; if it was killed, "
            f"run reconciler force-unlock {holder.id}"
        )
    waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
    return LockError(
        f"the catalog is locked by {holder.describe()}{waited} (lock ID {holder.id})",
        hint,
        holder=_holder_dict(holder),
    )


def _pid_alive(pid: int) -> bool | None:
    """Whether ``pid`` runs on this host; None when unknowable (never signal on Windows)."""
    if os.name != "posix" or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


__all__ = [
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "LocalLockHandle",
    "LocalProvider",
    "capabilities",
    "init_catalog",
    "open_provider",
]
