"""The read path's shortcuts (issue 13) change nothing a user sees: the character check skipped for
printable files, the reader's data and marks let go, the GC paused, the local connections kept."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
from pathlib import Path

from reconciler import operations
from reconciler.model import VM, Image, ImageType, OSState, PowerState, Snapshot
from reconciler.providers.local import LocalProvider, init_catalog
from reconciler.spec import check_spec
from reconciler.spec.reader import read_document
from reconciler.spec.semantics import check_semantics

PLAIN = b"""version: 1
catalog:
  name: platform
  provider: local
images:
  - name: web-01
    type: os
    os: linux
    label: Web
    source: {vm: build-01}
    tags: {team: web}
"""


def _doc(text: bytes):  # type: ignore[no-untyped-def]
    doc, diags = read_document(text, "images.yaml")
    assert doc is not None and not diags
    return doc


# --------------------------------------------------------------------------------------------------
# Printable files skip the walk for invisible characters


def test_a_plain_file_is_printable_and_anything_else_is_not() -> None:
    assert _doc(PLAIN).printable
    for odd in (
        PLAIN.replace(b"label: Web", b'label: "W\\u202eb"'),  # an escape for a bidi control
        PLAIN.replace(b"label: Web", b'label: "W\\tb"'),  # a tab, escaped
        PLAIN.replace(b"label: Web", b"label: |\n      two\n      lines"),  # a line break in a value
        PLAIN.replace(b"team: web", b'"te\\u200bam": web'),  # an invisible character in a key
    ):
        assert not _doc(odd).printable, odd


def test_the_character_check_runs_unless_the_reader_saw_only_printable_text() -> None:
    data = {"images": [{"name": "a\u202eb"}]}
    doc = _doc(PLAIN)
    found: list = []
    check_semantics(doc, data, found, "local", None)
    assert any("bidirectional" in d.summary for d in found)
    skipped: list = []
    check_semantics(doc, data, skipped, "local", None, printable=True)
    assert not any("bidirectional" in d.summary for d in skipped)


def test_a_bidi_escape_is_still_refused_end_to_end() -> None:
    state, diags = check_spec(PLAIN.replace(b"label: Web", b'label: "W\\u202eb"'), "images.yaml")
    assert state is None and any("bidirectional" in d.summary for d in diags)
    state, diags = check_spec(PLAIN, "images.yaml")
    assert state is not None and not diags


# --------------------------------------------------------------------------------------------------
# Marks: entries only on the first read, all of them when a message needs one; released after build


def test_the_first_read_marks_entries_only_and_a_message_reads_the_rest() -> None:
    doc = _doc(PLAIN)
    first = doc.first_marks()
    assert ("images", 0) in first and ("images",) in first and ("catalog",) in first
    assert ("images", 0, "source") not in first and ("images", 0, "tags") not in first
    assert doc.line(("images", 0)) == 6
    loc = doc.loc(("images", 0, "source", "vm"))
    assert (loc.line, loc.col) == (10, 18)
    assert ("images", 0, "source") in doc.marks


def test_release_lets_the_data_go_and_positions_still_answer() -> None:
    doc = _doc(PLAIN)
    doc.release()
    assert doc.data is None and doc.marks == {} and doc.key_marks == {} and doc.entry_lines == []
    loc = doc.loc(("images", 0, "label"))
    assert (loc.line, loc.col) == (9, 12)
    full = _doc(PLAIN)
    full.loc(())
    marks = dict(full.marks)
    full.release()
    assert full.marks == marks  # a full read keeps its marks: they were paid for


def test_a_desired_state_still_locates_its_keys_after_the_release() -> None:
    state, _ = check_spec(PLAIN, "images.yaml")
    assert state is not None
    assert state.positions["$.images[0].source.vm"] == (10, 14)  # the key's position
    assert state.images[0].line == 6


# --------------------------------------------------------------------------------------------------
# GC


def test_the_read_path_pauses_the_collector_and_freezes_what_it_built() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    with operations.read_path():
        assert not gc.isenabled()
        with operations.read_path():
            assert not gc.isenabled()
        assert not gc.isenabled()  # nested: still paused
        kept = [[i] for i in range(1000)]  # lists: always tracked by the collector
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(kept)
    gc.unfreeze()
    gc.disable()
    with operations.read_path():
        pass
    assert not gc.isenabled()  # restores what it found
    gc.enable()


# --------------------------------------------------------------------------------------------------
# Local connections: one per thread, kept, renewed when the file is replaced


def _catalog(tmp_path: Path, name: str = "catalog.db", images: tuple[Image, ...] = ()) -> Path:
    path = tmp_path / name
    init_catalog(path, Snapshot(images=images, vms=(VM("build", "linux", PowerState.STOPPED),)))
    return path


def test_one_connection_per_thread_kept_until_close(tmp_path: Path) -> None:
    p = LocalProvider(_catalog(tmp_path), "platform")
    backend = p.backend
    first = backend._connect()
    assert backend._connect() is first
    p.snapshot()
    assert backend._connect() is first
    assert first.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    other: list[sqlite3.Connection] = []
    t = threading.Thread(target=lambda: other.append(backend._connect()))
    t.start()
    t.join()
    assert other[0] is not first
    p.close()
    for conn in (first, other[0]):
        try:
            conn.execute("SELECT 1")
            raise AssertionError("a connection stayed open after close()")
        except sqlite3.ProgrammingError:
            pass
    assert len(p.snapshot().vms) == 1  # usable again: a new connection


def test_a_replaced_catalog_file_gets_a_new_connection(tmp_path: Path) -> None:
    path = _catalog(tmp_path)
    p = LocalProvider(path, "platform")
    first = p.backend._connect()
    assert p.snapshot().images == ()
    image = Image("web", ImageType.OS, "linux", OSState.GENERALIZED, owner="platform")
    other = _catalog(tmp_path, "other.db", images=(image,))
    os.replace(other, path)  # what `catalog init --force` does
    assert [i.name for i in p.snapshot().images] == ["web"]
    assert p.backend._connect() is not first
    p.close()
