"""The pipeline of the desired-state file: bytes -> every problem, and the ``DesiredState``.

Layer: pure core, except ``load_spec`` (the thin wrapper that reads a file). Never prints, reads
the environment or exits (the environment reaches us as the ``defaults`` mapping built by the CLI).

1. ``reader``: decode and read the YAML events into plain data with positions.
2. ``schema``: check it against ``schemas/images.schema.json`` (jsonschema-rs decides, jsonschema
   words the errors).
3. ``env``: the provider and its settings, from the file and the environment defaults; the
   provider's own setting checks.
4. ``semantics``: what the schema cannot express; every problem is returned together, sorted by
   position.
5. ``build``: the ``DesiredState``, when there is no error.
"""

from __future__ import annotations

import gc
import hashlib
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import Diagnostic, Severity, SpecError
from ..model import Capabilities, DesiredState
from .build import StateBuilder
from .env import CatalogSettings, resolve_catalog, resolve_sources
from .messages import misindented
from .reader import Document, Entries, StreamBroken, read_document, read_text
from .schema import piece_ok, schema_diagnostics
from .semantics import check_semantics


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    unique: dict[tuple[Any, ...], Diagnostic] = {}
    for d in diags:
        unique.setdefault((d.severity, d.summary, d.location), d)
    return sorted(unique.values(), key=Diagnostic.sort_key)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a file becomes data.

    Reading builds hundreds of thousands of long-lived containers in one go; on CPython 3.11 the
    collector keeps rescanning them and doubles the time of a 10,000-image file. Nothing built here
    is cyclic, so nothing is lost by collecting afterwards. Restores the previous state.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Digest:
    """The file's SHA-256, computed beside the checks of a large file: hashlib lets go of the GIL
    while it hashes, so the second core does it while the first checks the schema and the rest
    (40 ms of a 25 MB file; issue 13). Started after the read, which may fork a helper
    (``forked``: a fork needs a process of one thread). A small file is hashed when asked.

    A large file is also compressed there (``packed``, zlib lets go of the GIL too): the document
    keeps that instead of its text for the positions a plan-time message may ask for
    (``reader.Document.release``), 1.3 MB instead of 25 at the peak of a 100,000-image plan.

    Both are computed from the decoded text, a megabyte at a time, not from the bytes: the reader
    lets the bytes go once decoded (24 MB of that peak). A strict UTF-8 decode is undone exactly
    by the encode, and ``utf-8-sig`` took away at most one BOM (``bom``): the digest is the
    bytes' own (``test_spec_build_fast``)."""

    _THREADED = 1 << 20
    _SLICE = 1 << 20

    def __init__(self, text: str, bom: bool = False) -> None:
        self._text = text
        self._bom = bom
        self._value: str | None = None
        self._packed = b""
        self._thread: threading.Thread | None = None
        if len(text) >= self._THREADED:
            self._thread = threading.Thread(target=self._work, name="reconciler-digest", daemon=True)
            self._thread.start()

    def _pieces(self) -> Iterator[bytes]:
        text, n = self._text, self._SLICE
        for i in range(0, len(text), n):
            yield text[i:i + n].encode("utf-8")

    def _hash(self) -> None:
        self._work(pack=False)

    def _work(self, pack: bool = True) -> None:
        sha = hashlib.sha256(_BOM if self._bom else b"")
        packer = zlib.compressobj(1)
        packed = []
        for piece in self._pieces():
            sha.update(piece)
            if pack:
                packed.append(packer.compress(piece))
        self._value = sha.hexdigest()
        if pack:
            self._packed = b"".join(packed) + packer.flush()
        self._text = ""  # the document may let it go (``Document.pack``)

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
        elif self._value is None:
            self._hash()

    def hexdigest(self) -> str:
        self._join()
        assert self._value is not None
        return self._value

    def packed(self) -> bytes:
        """The file, zlib-compressed: empty for a small file (kept as text)."""
        self._join()
        return self._packed


_BOM = b"\xef\xbb\xbf"


def _handed(data: bytes | list[bytes]) -> list[bytes]:
    """``data`` as a list holding the bytes (``check_spec``): the caller's list itself, when it is one."""
    return data if isinstance(data, list) else [data]


def check_spec(
    data: bytes | list[bytes],
    filename: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    trusted_hosts: Iterable[str] = (),
) -> tuple[DesiredState | None, list[Diagnostic]]:
    """Every problem of a desired-state file (errors and warnings, sorted by position).

    Returns the ``DesiredState`` when there is no error (warnings allowed), else None. Pure.

    ``defaults``: catalog settings (and ``provider``) taken from the environment by the CLI. A
    setting in the file wins; a default only fills a missing one, and only when the provider knows
    it (the environment may carry settings of other providers). ``name`` is never defaulted: the
    ownership marker must be reviewed in the file. Text values are coerced to the schema's type.

    ``capabilities``: the provider's record, for tests and for callers that already hold it; when
    None it comes from ``providers.capabilities_for(provider, settings)``.

    ``trusted_hosts``: hosts the CLI's environment trusts with a credential
    (``RECONCILER_TRUSTED_ENDPOINTS``); the provider's ``check_settings`` refuses an endpoint
    outside its cloud, loopback and these. Never read from the file.

    ``data``: the file's bytes, or a list holding them, handed over: the reader empties it and
    lets the bytes go once decoded, when nothing else holds them (``reader.read_document``; 24 MB
    of a 100,000-image file). ``count_images``, ``parse_spec`` and ``load_spec`` alike.
    """
    with _gc_paused():
        state, diags = _check(_handed(data), filename, defaults or {}, capabilities, tuple(trusted_hosts))
    assert not isinstance(state, int)
    return state, diags


def count_images(
    data: bytes | list[bytes],
    filename: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    trusted_hosts: Iterable[str] = (),
) -> tuple[int | None, list[Diagnostic]]:
    """``check_spec`` without building the desired state (``validate``): the same messages, and the
    number of images when there is no error. Building is a fifth of a 100,000-image check and
    finds nothing more (issue 13)."""
    with _gc_paused():
        count, diags = _check(_handed(data), filename, defaults or {}, capabilities, tuple(trusted_hosts), build=False)
    assert not isinstance(count, DesiredState)
    return count, diags


def _check(
    data: list[bytes], filename: str, defaults: Mapping[str, Any], capabilities: Capabilities | None,
    trusted_hosts: tuple[str, ...] = (), *, build: bool = True,
) -> tuple[DesiredState | int | None, list[Diagnostic]]:
    """``data``: a list holding the file's bytes, handed over: the reader empties it (``read_document``).

    A long ``images:`` list the split read takes is streamed first (``_streamed``): read, checked
    and built a piece at a time, so that its entries are never all held, beside its specs. Only a
    file without an error (warnings allowed) is answered so; anything else (an error, a piece the
    split read does not take) is answered by reading the whole text again, as every file was read
    before: the same messages, the same state (``tests/unit/test_spec_streamed.py``)."""
    bom = data[0].startswith(_BOM)
    # Before the digest's thread: the read may fork (``forked``).
    doc, diags = read_document(data, filename, stream=True)
    if doc is None:
        return None, _sorted(diags)
    entries = doc.data.get("images")
    if isinstance(entries, Entries):
        try:
            answer = _streamed(doc, entries, defaults, capabilities, trusted_hosts, bom, build)
        finally:
            entries.close()
        if answer is not None:
            return answer
        doc, diags = read_text(doc.source(), filename)
        if doc is None:
            return None, _sorted(diags)
    digest = _Digest(doc.text, bom) if build else None
    diags.extend(schema_diagnostics(doc.data, doc))
    catalog = resolve_catalog(doc, doc.data, diags, defaults, capabilities, trusted_hosts)
    sources = resolve_sources(doc, doc.data, diags, catalog, trusted_hosts)
    check_semantics(doc, doc.data, diags, catalog.provider, catalog.caps, printable=doc.printable)
    diags = _sorted(misindented(doc.data, doc, diags))
    if any(d.severity is Severity.ERROR for d in diags):
        return None, diags
    if not build:
        return len(doc.data.get("images") or ()), diags
    assert digest is not None
    builder = _builder(doc, doc.data, catalog, sources)
    builder.add(0, doc.data["images"])
    state = builder.state(digest.hexdigest())
    doc.release(digest.packed())  # positions are read again on demand (a plan-time message)
    return state, diags


def _builder(doc: Document, data: Mapping[str, Any], catalog: CatalogSettings,
             sources: Mapping[str, CatalogSettings]) -> StateBuilder:
    """The builder of the desired state of a document without errors (``StateBuilder``)."""
    caps = catalog.caps
    return StateBuilder(doc, data, catalog.provider, catalog.settings, caps.image_fields if caps is not None else (),
                        family_from_name=caps is not None and caps.family_from_name, file_paths=catalog.file_paths,
                        family_extra=caps is not None and bool(caps.family_mutable),
                        sources={a: (c.settings, c.file_paths) for a, c in sources.items()})


class _Said(Exception):
    """A streamed piece has something to say (``_streamed``): the whole read says it."""


def _streamed(
    doc: Document, entries: Entries, defaults: Mapping[str, Any], capabilities: Capabilities | None,
    trusted_hosts: tuple[str, ...], bom: bool, build: bool,
) -> tuple[DesiredState | int, list[Diagnostic]] | None:
    """``_check`` of a document whose ``images:`` list is read a piece at a time (``Entries``): each
    piece is checked (the schema's pre-check, then the semantic checks of its entries) and built as
    it comes, then let go of. The same checks as the whole document's, in the same code: the
    schema of the list is only what each entry is (``schema.piece_ok``), and the semantic checks
    carry the names and families seen from piece to piece (``check_semantics``' ``pieces``).
    None at the first error any check finds (warnings are kept), or a piece the split read does not
    take."""
    data = {**doc.data, "images": []}
    if not piece_ok(data, []):
        return None
    diags: list[Diagnostic] = []
    catalog = resolve_catalog(doc, data, diags, defaults, capabilities, trusted_hosts)
    sources = resolve_sources(doc, data, diags, catalog, trusted_hosts)
    if diags:
        return None
    digest = _Digest(doc.text, bom) if build else None
    builder = _builder(doc, data, catalog, sources) if build else None
    count = 0
    if digest is not None:  # its packed copy stands in for the text once the stream is cut
        entries.done_with_text = lambda: doc.pack(digest.packed())

    def pieces() -> Iterator[tuple[int, list[Any]]]:
        nonlocal count
        for start, items in entries.pieces():
            if not piece_ok(data, items):
                raise _Said
            yield start, items  # the semantic checks of its entries
            if any(d.severity is Severity.ERROR for d in diags):
                raise _Said
            count += len(items)
            if builder is not None:
                builder.add(start, items)

    try:
        check_semantics(doc, data, diags, catalog.provider, catalog.caps, printable=doc.printable, pieces=pieces())
    except (_Said, StreamBroken):
        return None
    if any(d.severity is Severity.ERROR for d in diags):
        return None
    # Warnings only (a family no image has): said as the whole read says them. ``misindented``
    # rewords errors only, and the order of appending is undone by the sort.
    if builder is None or digest is None:
        return count, _sorted(diags)
    state = builder.state(digest.hexdigest())
    doc.release(digest.packed())
    return state, _sorted(diags)


def parse_spec(
    data: bytes | list[bytes],
    filename: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    trusted_hosts: Iterable[str] = (),
) -> DesiredState:
    """The validated desired state; raises ``SpecError`` carrying every error (and warning)."""
    state, diags = check_spec(_handed(data), filename, defaults=defaults, capabilities=capabilities,
                              trusted_hosts=trusted_hosts)
    if state is None:
        raise SpecError(diags)
    return state


def load_spec(
    path: str | Path,
    *,
    defaults: Mapping[str, Any] | None = None,
    capabilities: Capabilities | None = None,
    trusted_hosts: Iterable[str] = (),
) -> DesiredState:
    """Read and parse a desired-state file; an unreadable file is a ``ReconcilerError`` with a hint."""
    from ..files import read_input

    hint = "start from the example (cp images.yaml.example images.yaml) or pass the path of the desired-state file"
    # Handed over: no frame here holds the bytes while the file is read (24 MB of a large one).
    return parse_spec([read_input(Path(path), "desired-state file", hint)], str(path), defaults=defaults,
                      capabilities=capabilities, trusted_hosts=trusted_hosts)


__all__ = ["check_spec", "count_images", "load_spec", "parse_spec"]
