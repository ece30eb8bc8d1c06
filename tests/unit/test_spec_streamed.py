"""The streamed read of a long ``images:`` list (``check._streamed``, issue 13): read, checked and
built a piece at a time, it answers exactly what the whole read answers (the same state, types and
lines included, the same messages), with pieces of any size, with or without a helper process, and
falls back to the whole read at the first thing to say."""

from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.spec import check, check_spec, count_images, forked, reader

_CATALOG = "version: 1\ncatalog:\n  name: c\n  provider: local\n  path: /tmp/streamed.db\n"
_name = st.sampled_from(["web", "img", "Web", "db/1.0", "db/1.1"])


@st.composite
def files(draw: st.DrawFn) -> str:
    """A file of valid entries written as ``export`` writes them, then sometimes one thing a check
    has to say (a duplicate name, a bad value, an unknown field, a family no image uses)."""
    lines = [_CATALOG.rstrip("\n")]
    if draw(st.booleans()):
        lines += ["policy:", "  retention: {fam-1: 3}"]
    lines.append("images:")
    for i in range(draw(st.integers(1, 12))):
        name = f"{draw(_name)}-{i}"
        lines += [f"  - name: {name}", f"    type: {draw(st.sampled_from(['os', 'vm']))}", "    os: linux",
                  "    os_state: generalized", f"    source: {{vm: build-{i}}}"]
        if draw(st.booleans()):
            lines.append(f"    family: fam-{draw(st.integers(0, 2))}")
        if draw(st.booleans()):
            lines.append(f'    tags: {{team: bench, index: "{i}"}}')
        if draw(st.booleans()):
            lines.append(f"    label: Image {i}")
    if draw(st.booleans()):
        at = draw(st.integers(lines.index("images:") + 1, len(lines)))
        lines.insert(at, draw(st.sampled_from([
            "  - name: web-0\n    type: os\n    os: linux\n    source: {vm: b}",  # a duplicate name (maybe)
            "    type: disk", "    colour: red", "    protect: maybe", "    os_state: frozen", "    # a comment",
            "    tags: {a: 1}", "    source: {vm: b, image: dev:x}",
        ])))
    if draw(st.booleans()):
        lines += ["families:", f"  fam-{draw(st.integers(0, 4))}: {{description: x}}"]
    return "\n".join(lines) + "\n"


def _answer(text: str, *, build: bool = True) -> tuple[str, Any]:
    data = text.encode()
    if not build:
        count, diags = count_images(data, "p.yaml")
        return repr(count), diags
    state, diags = check_spec(data, "p.yaml")
    # Every field, types included; the positions are compared in a test of their own (read again).
    return repr(replace(state, positions={}) if state is not None else None), diags


class _Streams:
    """Counts the streamed reads that answered (``_streamed`` not None; with warnings: ``warned``)
    and those that declined."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answered = self.declined = self.warned = 0
        real = check._streamed

        def counted(*args: Any) -> Any:
            out = real(*args)
            if out is None:
                self.declined += 1
            else:
                self.answered += 1
                self.warned += bool(out[1])  # answered with its warnings
            return out

        monkeypatch.setattr(check, "_streamed", counted)
        self.patch = monkeypatch

    def answer(self, text: str, *, build: bool = True, piece: int = 0, entries: int = 2) -> tuple[str, Any]:
        """The file's answer, streamed: every list streams, in pieces of ``piece`` characters and
        helper pieces of ``entries`` entries."""
        with self.patch.context() as m:
            m.setattr(reader, "_STREAM_MIN", 0)
            m.setattr(reader, "_SPLIT_CHARS", piece)
            m.setattr(reader, "_PIECE_ENTRIES", entries)
            return _answer(text, build=build)


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> _Streams:
    return _Streams(monkeypatch)


def _whole(text: str, *, build: bool = True) -> tuple[str, Any]:
    """The file's answer read whole (no list streams)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(reader, "_STREAM_MIN", 1 << 60)
        return _answer(text, build=build)


def test_the_streamed_read_answers_what_the_whole_read_answers(streams: _Streams) -> None:
    """Property (hand-rolled over hypothesis' examples, as a fixture cannot be given per example)."""
    texts: list[str] = []

    @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(files())
    def collect(text: str) -> None:
        texts.append(text)

    collect()
    for text in texts:
        whole = _whole(text)
        for piece in (0, 1, 60, 1 << 20):
            assert streams.answer(text, piece=piece) == whole, (piece, text)
        bom = "\ufeff" + text  # the digest is the bytes', BOM and all
        assert streams.answer(bom, piece=60) == _whole(bom), text
        assert streams.answer(text, build=False) == _whole(text, build=False), text
    assert streams.answered > len(texts) // 2 and streams.declined > len(texts)  # both ways were compared
    assert streams.warned > len(texts) // 10


def test_a_valid_file_streams_and_its_state_is_the_whole_reads(streams: _Streams) -> None:
    text = _CATALOG + "images:\n" + "".join(
        f"  - name: img-{i}\n    type: os\n    os: linux\n    source: {{vm: build-{i}}}\n"
        f'    tags: {{team: bench, index: "{i}"}}\n' for i in range(40)) + "families:\n  web: {description: x}\n"
    # "web" is a family no image has: a warning, said as the whole read says it.
    answer = streams.answer(text)
    assert answer == _whole(text) and streams.answered == 1 and [d.summary for d in answer[1]] == [
        "no declared image has family 'web'"]
    text = text.replace("families:\n  web: {description: x}\n", "")
    state, diags = check_spec(text.encode(), "p.yaml")  # below _STREAM_MIN: the whole read
    with pytest.MonkeyPatch.context() as m:
        m.setattr(reader, "_STREAM_MIN", 0)
        m.setattr(reader, "_SPLIT_CHARS", 100)
        streamed, said = check_spec(text.encode(), "p.yaml")
    assert streams.answered == 2 and said == diags == [] and streamed is not None and state is not None
    assert streamed == state and [s.line for s in streamed.images] == [7 + 5 * i for i in range(40)]
    assert dict(streamed.positions) == dict(state.positions)  # a plan-time message: the file read again


def test_the_streamed_read_with_a_helper_answers_the_same(streams: _Streams, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper process reads the second part (``forked``), answering in marshalled pieces; one that
    dies unanswered leaves its part to this process. The same answer each time."""
    monkeypatch.setattr(forked, "_single_threaded", lambda: True)
    monkeypatch.setattr(forked, "_spare_core", lambda: True)
    monkeypatch.setattr(reader, "_PARALLEL_MIN", 0)
    forks = []
    real = forked.start

    def start(work: Any) -> Any:
        helper = real(work)
        forks.append(helper is not None)
        return helper

    monkeypatch.setattr(forked, "start", start)
    text = _CATALOG + "images:\n" + "".join(
        f"  - name: img-{i}\n    type: os\n    os: linux\n    label: Image {i}\n    source: {{vm: build-{i}}}\n"
        for i in range(300))
    whole = _whole(text)
    assert streams.answer(text, piece=500, entries=7) == whole and forks == [True, True] and streams.answered == 1
    broken = text.replace("  - name: img-250\n", "  - name: img-250\n    colour: red\n")  # in the helper's part
    assert streams.answer(broken, piece=500) == _whole(broken) and streams.declined == 1
    monkeypatch.setattr(forked, "start", lambda work: real(lambda: forked.os._exit(3)))  # dies, unanswered
    assert streams.answer(text, piece=500) == whole and streams.answered == 2


def test_a_stream_given_up_ends_its_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """A piece with something to say ends the read: the helper still reading is killed and reaped."""
    monkeypatch.setattr(forked, "_single_threaded", lambda: True)
    monkeypatch.setattr(forked, "_spare_core", lambda: True)
    monkeypatch.setattr(reader, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(reader, "_STREAM_MIN", 0)
    helpers = []
    real = forked.start
    monkeypatch.setattr(forked, "start", lambda work: helpers.append(real(work)) or helpers[-1])
    text = _CATALOG + "images:\n  - name: a\n    type: disk\n    os: linux\n    source: {vm: b}\n" + "".join(
        f"  - name: img-{i}\n    type: os\n    os: linux\n    source: {{vm: build-{i}}}\n" for i in range(50))
    state, diags = check_spec(text.encode(), "p.yaml")
    assert state is None and [d.location.json_path for d in diags] == ["$.images[0].type"]  # type: ignore[union-attr]
    assert helpers and helpers[0] is not None and helpers[0]._pid == 0  # reaped


def test_the_text_is_let_go_once_the_stream_is_cut_and_read_back_when_needed(
        streams: _Streams, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once this process has cut its pieces and the helper has answered, the document keeps the
    packed copy instead of the text (``Entries.done_with_text``, ``Document.pack``): a file with an
    error in the helper's part is then read again from that copy, and says what the whole read says."""
    monkeypatch.setattr(forked, "_single_threaded", lambda: True)
    monkeypatch.setattr(forked, "_spare_core", lambda: True)
    monkeypatch.setattr(reader, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(check._Digest, "_THREADED", 0)  # packed, as a large file is
    packed: list[tuple[int, int]] = []  # (pieces built by then, the text's length)
    real_pack, real_add = reader.Document.pack, check.StateBuilder.add
    built = [0]

    def pack(self: reader.Document, data: bytes) -> None:
        packed.append((built[0], len(self.text)))
        real_pack(self, data)
        assert self.text == "" and zlib.decompress(self.packed)

    def add(self: Any, start: int, items: Any) -> None:
        built[0] += 1
        real_add(self, start, items)

    monkeypatch.setattr(reader.Document, "pack", pack)
    monkeypatch.setattr(check.StateBuilder, "add", add)
    text = _CATALOG + "images:\n" + "".join(
        f"  - name: img-{i}\n    type: os\n    os: linux\n    label: Image {i}\n    source: {{vm: build-{i}}}\n"
        for i in range(300))
    whole = _whole(text)
    packed.clear()
    assert streams.answer(text, piece=500, entries=7) == whole and streams.answered == 1
    # Let go before the helper's pieces were built (this process's part: about 55% of 25 KB in 500s).
    assert packed and packed[0][1] == len(text) and 0 < packed[0][0] < 40
    broken = text.replace("  - name: img-250\n", "  - name: img-250\n    colour: red\n")  # in the helper's part
    packed.clear()
    assert streams.answer(broken, piece=500, entries=7) == _whole(broken) and streams.declined == 1
    assert packed and packed[0][1] == len(broken)  # the error was found after the text was let go


def test_a_helpers_piece_is_marshalled_or_pickled_and_loads_as_it_was() -> None:
    """``_dump_piece``: marshal for the plain values the split read makes; a piece holding any
    other value is pickled whole; ``_load_piece`` tells them apart and gives back equal entries."""
    import datetime
    import marshal

    plain = [{"name": "img-1", "tags": {"a": "b"}, "n": 3, "f": 1.5, "ok": True, "none": None, "l": [1, "x"]}] * 3
    blob = reader._dump_piece(plain)
    assert blob == marshal.dumps(plain) and blob[:1] != b"\x80"
    assert reader._load_piece(blob) == plain
    odd = [*plain, {"when": datetime.date(2026, 1, 2)}]
    blob = reader._dump_piece(odd)
    assert blob[:1] == b"\x80"
    assert reader._load_piece(blob) == odd
