"""The catalog file's format: its tables, and rows <-> model.

Layer: edge (the ``local`` provider). Imports only ``sqlite3``, ``codec``, ``model`` and ``locking``.
Shared by the backend (reads and writes) and ``seeding`` (``catalog init``), so the tables are
written down once. ``docs/local-provider.md`` describes the layout.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields, replace
from functools import partial
from operator import attrgetter
from pathlib import Path
from sys import intern
from typing import Any

from ...codec import Codec, Shape
from ...errors import ProviderError
from ...model import VM, Category, Image, ImageSpec, ImageType, OSState, Source, UnchangedTest, positional
from ..locking import LockInfo

#: The catalog file's format. Bump it (and add a migration) whenever the tables change.
SCHEMA_VERSION = 2
#: Written in the schema-version table so that another program's SQLite file is never mistaken
#: for a catalog (and never written to).
APPLICATION = "reconciler-local-catalog"

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
    etag        TEXT NOT NULL,              -- new random value on every write: VM.fingerprint
    image       TEXT,                       -- (format 2) the image the VM was created from: a consumer
    disk_gib    TEXT NOT NULL DEFAULT '[]'  -- (format 2) JSON array: disk sizes, OS disk first
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
    etag                TEXT NOT NULL,      -- new random value on every write: Image.fingerprint
    footprint           TEXT NOT NULL DEFAULT '{}', -- (format 2) JSON object: storage type -> GiB
    extra               TEXT NOT NULL DEFAULT '{}'  -- (format 2) JSON object: the image fields set
                                                    -- (exclude_from_latest, end_of_life_date: issue 11)
);
CREATE TABLE lock (
    slot    INTEGER PRIMARY KEY CHECK (slot = 1),   -- one row at most: the lock itself
    lock_id TEXT NOT NULL,
    info    TEXT NOT NULL                           -- JSON of LockInfo
);
"""


# --------------------------------------------------------------------------------------------------
# Rows <-> model

#: The catalog's rows: a column per field, ``source`` flattened into ``source_*``, tags and data
#: disks as JSON text, the protection marker as 0/1, the fingerprint as ``etag``. ``id`` is not
#: stored (it is derived from the name), nor an image's ``extra`` beyond ``IMAGE_FIELDS``, nor the
#: ``facts`` of an image or VM (the local catalog has none), nor ``failed``: a local capture is one
#: transaction, it never half-fails.
_ROWS = Codec(
    {
        Image: Shape(
            exclude=frozenset({"facts", "failed", "id"}),
            rename={"fingerprint": "etag"},
            flatten={"source": "source_"},
            convert={"tags": (lambda t: _tags_json(t), json.loads), "protected": (int, bool),
                     "footprint": (lambda f: json.dumps(dict(sorted(f.items()))), json.loads),
                     "extra": (lambda e: _extra_json(e), json.loads)},
        ),
        # Only the sources a local capture takes (a VM; a VHD as seeded): a source field added to the
        # model for another provider (``image``, ``snapshot`` ...) is no column of this file.
        Source: Shape(keys=("vm", "vhd", "storage_account"), rename={"storage_account": "storage"}),
        VM: Shape(
            exclude=frozenset({"id", "facts"}), rename={"fingerprint": "etag"},
            convert={"data_disks": (json.dumps, json.loads), "disk_gib": (json.dumps, lambda t: tuple(json.loads(t)))},
        ),
    }
)
_IMAGE_COLUMNS = ", ".join(_ROWS.keys(Image))
#: Format 1 -> 2 (issue 11): what a VM was created from, its disk sizes, an image's footprint.
#: ``ADD COLUMN`` with a default rewrites nothing: opening an old catalog migrates it in place.
MIGRATIONS = {
    1: (
        "ALTER TABLE vms ADD COLUMN image TEXT",
        "ALTER TABLE vms ADD COLUMN disk_gib TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE images ADD COLUMN footprint TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE images ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'",
    ),
}
_VM_COLUMNS = ", ".join(_ROWS.keys(VM))


#: Columns whose values repeat across rows (an OS, a family, the owner, a creation time): read as
#: one string each, not one per row (issue 13: 50 MB of a 100,000-image snapshot).
_SHARED_COLUMNS = ("type", "os", "os_state", "category", "family", "description", "recommended_vm_size", "owner",
                   "created")


#: The storage type of a local image's footprint (one copy, in the catalog file's directory).
LOCAL_STORAGE = "local"


def capture_footprint(spec: ImageSpec, vm: VM) -> dict[str, float]:
    """What a capture of ``spec`` from ``vm`` stores (issue 11 §5): one copy of the disks it takes
    (the OS disk; a VM image every data disk too), when the catalog records the VM's disk sizes."""
    sizes = vm.disk_gib if spec.type is ImageType.VM else vm.disk_gib[:1]
    return {LOCAL_STORAGE: float(sum(sizes))} if sizes else {}


def promotion_footprint(spec: ImageSpec, origin: Image) -> dict[str, float]:
    """What a promotion of ``spec`` from ``origin`` stores (issue 11 §5): the same disks once, so
    the source image's own footprint (what ``LocalBackend._promote`` records); {} when unknown."""
    return dict(origin.footprint)


def _image_from_row(r: tuple[Any, ...]) -> Image:
    row = dict(zip(_ROWS.keys(Image), r, strict=True))
    for column in _SHARED_COLUMNS:
        value = row[column]
        if value.__class__ is str:
            row[column] = intern(value)
    return _ROWS.from_dict(Image, row, id=f"images/{r[0]}")


_TYPES = {t.value: t for t in ImageType}
_OS_STATES = {s.value: s for s in OSState}
_CATEGORIES = {c.value: c for c in Category}
#: The order ``images_from_rows`` unpacks a row of ``SELECT {_IMAGE_COLUMNS}`` in.
_ROW_ORDER = ("name", "type", "os", "os_state", "category", "family", "label", "description", "recommended_vm_size",
              "tags", "owner", "protected", "source_vm", "source_vhd", "source_storage", "data_disks", "extra", "etag",
              "created", "footprint")
assert _ROWS.keys(Image) == _ROW_ORDER, _ROWS.keys(Image)  # a column added to the codec is unpacked there too


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__; typeshed omits it


def _tags(text: str) -> Any:
    """``json.loads(text)`` for the JSON this module writes (no white space around it), without the
    decoder's two white-space regex matches: a third of a 100,000-row snapshot (issue 13)."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        end = -1
    return value if end == len(text) else json.loads(text)


_NEW_IMAGE = positional(Image)
_NEW_SOURCE = partial(positional(Source), image=None, snapshot=None, disk=None, data_snapshots=(), deprovision=False,
                      sysprepped=False)


#: Every field of a ``Source``, in order: a row's is ``(vm, vhd, False, storage, None, None, None, (),
#: False, False)`` (what ``_NEW_SOURCE`` builds from the first four; a row holds no more).
_SOURCE_FIELDS = attrgetter(*(f.name for f in fields(Source)))


def images_from_rows(rows: Iterable[tuple[Any, ...]], like: Mapping[str, ImageSpec] | None = None,
                     unchanged: UnchangedTest | None = None, found: dict[str, str] | None = None) -> Iterator[Image]:
    """``_image_from_row`` of each of ``rows`` (``SELECT {_IMAGE_COLUMNS}``, in ``_ROW_ORDER``), the snapshot's way
    (issue 13: 100,000 rows): fields passed straight to ``Image``, the repeated texts (an OS, a
    family, the owner, ``{}``) read once and shared, not a dict and a codec call per row.

    ``like``: specs by name (``Provider.snapshot``). The image of a spec takes the spec's name,
    label, tags and source where they are equal: the desired state and the snapshot then hold one
    copy of a value that has not changed (all frozen), not two: an unchanged image holds 0.37 KB
    instead of 1.07 (70 MB of 100,000), and the planner's comparison finds them identical at once.

    ``unchanged`` (``plan.unchanged_test``): an image of a spec that passes it is not yielded; what
    the test keeps of it (its fingerprint) goes into ``found`` under the spec's key
    (``Snapshot.unchanged``).

    ``tests/contract/test_local_roundtrip_property.py`` checks it builds exactly what
    ``_image_from_row`` does, with or without ``like``, and shares every equal value."""
    kept_as = found if found is not None else {}
    texts: dict[Any, Any] = {}
    shared = texts.setdefault
    documents: dict[str, Any] = {}  # the JSON of extra and footprint: a handful of distinct texts
    loads = json.loads
    image = _NEW_IMAGE
    source = _NEW_SOURCE
    spec_of = (like or {}).get
    for (name, type_, os_, os_state, category, family, label, description, size, tags, owner, protected,
         vm, vhd, storage, data_disks, extra, etag, created, footprint) in rows:
        e = documents.get(extra)
        if e is None:
            e = documents[extra] = loads(extra)
        f = documents.get(footprint)
        if f is None:
            f = documents[footprint] = loads(footprint)
        t = _tags(tags) if tags != "{}" else {}
        row_source = None if vm is None and vhd is None and storage is None else (vm, vhd, False, storage)
        src: Source | None = None  # the spec's, when equal
        spec = spec_of(name)
        if spec is not None:  # the spec's own values where equal (its name is: it was looked up by it)
            name = spec.name
            if label == spec.label:
                label = spec.label
            if t == spec.tags:
                t = spec.tags
            if row_source is not None and _SOURCE_FIELDS(spec.source) == (*row_source, None, None, None, (), False,
                                                                          False):
                src = spec.source
        built = image(
            name, _TYPES[type_], shared(os_, os_), _OS_STATES[os_state], _CATEGORIES[category], shared(family, family),
            label, shared(description, description), shared(size, size), t,
            shared(owner, owner), protected == 1,
            src if src is not None else source(*row_source) if row_source is not None else None,
            data_disks, e, f"images/{name}", etag, shared(created, created), None, None, f,
        )
        if spec is not None and unchanged is not None:
            kept = unchanged(spec, built)
            if kept is not None:
                kept_as[spec.key] = kept
                continue
        yield built


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


def _extra_json(extra: Mapping[str, Any]) -> str:
    """The image fields set (a field not set is not stored: undeclared, it reads back as absent)."""
    return json.dumps({k: v for k, v in sorted(extra.items()) if k in IMAGE_FIELDS and v is not None})


#: The local image fields (``schema.json``): what the ``extra`` column keeps of ``Image.extra``.
IMAGE_FIELDS = ("exclude_from_latest", "end_of_life_date")


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
