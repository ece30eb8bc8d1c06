"""The fast read of the desired-state file (``reader._fast_read``, issue 13) agrees with the event reader.

Property: on generated documents in the block style the format is written in (block mappings and
lists, indentless lists, one-line flow collections, plain and quoted scalars, comments, blank lines,
trailing spaces) and on the same documents with characters inserted or deleted at random, either
the fast read declines (``_NotFast``: the event reader reads the file) or it gives exactly what the
event reader gives for a file without a single message: the same data, the same marks (so every
``file:line:col`` a later message prints is the same) and the same ``printable``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.spec import reader

_WORDS = ["name", "type", "os", "vm", "tags", "a", "b.c", "x-y", "k_1", "Image 0", "team", "index", "01"]
_PLAINS = ["linux", "img-000001", "Image 1", "1", "-3", "0x1F", "1.5", "1e3", "yes", "no", "on", "off", "true",
           "null", "~", "2026-11-26", "1.10", "a:b", "a#b", "http://x/y", "-x", "é ü", "a  b", "R&D", "*", "!x",
           "a,b", "[x]", "x]", "a: b", "a #c", "b:", "?x", "{x}", "@x", "`x", "%x", "|", ">", "- a", ""]
_QUOTED = ['"0"', '"a b"', "'it''s'", "'a'", '"a\\"b"', '"x, y"', "'x: y'", '""', "''", '"#"']

_SAFE = ["linux", "img-000001", "Image 1", "1", "0x1F", "1.5", "yes", "null", "2026-11-26", "a:b", '"0"', "'a'"]
scalars = st.sampled_from(_SAFE) | st.sampled_from(_PLAINS + _QUOTED)  # mostly values the fast read takes
keys = st.sampled_from(_WORDS)


@st.composite
def _node(draw: st.DrawFn, depth: int) -> Any:
    kind = draw(st.sampled_from(["scalar", "map", "list", "flow"] if depth < 4 else ["scalar"]))
    if kind == "scalar":
        return ("s", draw(scalars))
    if kind == "flow":
        if draw(st.booleans()):
            return ("fm", draw(st.lists(st.tuples(keys, scalars), max_size=3)))
        return ("fl", draw(st.lists(scalars, max_size=3)))
    n = draw(st.integers(1, 3))
    if kind == "map":
        return ("m", [(draw(keys), draw(_node(depth + 1))) for _ in range(n)])
    return ("l", [draw(_node(depth + 1)) for _ in range(n)], draw(st.booleans()))


def _flow(node: Any) -> str:
    if node[0] == "fm":
        return "{" + ", ".join(f"{k}: {v}" for k, v in node[1]) + "}"
    return "[" + ", ".join(node[1]) + "]"


def _emit(node: Any, indent: int, out: list[str], step: int) -> None:
    """Block lines of a mapping or list node at ``indent``."""
    pad = " " * indent
    if node[0] == "m":
        for k, v in node[1]:
            if v[0] == "s":
                out.append(f"{pad}{k}: {v[1]}")
            elif v[0] in ("fm", "fl"):
                out.append(f"{pad}{k}: {_flow(v)}")
            elif v[0] == "l" and v[2]:  # an indentless list
                out.append(f"{pad}{k}:")
                _emit(v, indent, out, step)
            else:
                out.append(f"{pad}{k}:")
                _emit(v, indent + step, out, step)
        return
    for item in node[1]:
        if item[0] == "s":
            out.append(f"{pad}- {item[1]}")
        elif item[0] in ("fm", "fl"):
            out.append(f"{pad}- {_flow(item)}")
        elif item[0] == "m":
            sub: list[str] = []
            _emit(item, indent + 2, sub, step)
            out.append(f"{pad}- {sub[0].lstrip(' ')}")
            out.extend(sub[1:])
        else:
            sub = []
            _emit(item, indent + step, sub, step)
            out.append(f"{pad}-")
            out.extend(sub)


@st.composite
def documents(draw: st.DrawFn) -> str:
    root = ("m", [(k, draw(_node(1))) for k in draw(st.lists(keys, min_size=1, max_size=5))])
    lines: list[str] = []
    _emit(root, 0, lines, draw(st.sampled_from([2, 4])))
    extra = draw(st.lists(st.tuples(st.integers(0, len(lines)),
                                    st.sampled_from(["", "   ", "# a comment", "  # indented", "---", "..."])),
                          max_size=2))
    for at, line in sorted(extra, reverse=True):
        lines.insert(at, line)
    if draw(st.booleans()):
        lines = [line + draw(st.sampled_from(["", " ", "  "])) for line in lines]
    if draw(st.booleans()):  # comments after values (and after keys whose value follows)
        lines = [line + draw(st.sampled_from(["", "", " # c", "   # c: d", " #", "# not one"])) for line in lines]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(documents())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and at < len(text):
            text = text[:at] + text[at + 1:]
        else:
            text = text[:at] + draw(st.sampled_from(list(" -:#{}[],\"'\n\t&*!|>?") + ["  ", "- ", ": "])) + text[at:]
    return text


def _agree(text: str) -> bool:
    """Whether the fast read took ``text``; asserts it agrees with the event reader when it did."""
    fast = reader.Document("p.yaml", text=text)
    try:
        data = reader._fast_read(text, fast)
    except reader._NotFast:
        return False
    full = reader.Document("p.yaml", text=text)
    diags: list[Any] = []
    try:
        have_root, root = reader._build_data(reader._events(text), full, diags)
    except Exception as e:  # noqa: BLE001 - a parser error: the fast read must have declined
        raise AssertionError(f"the fast read took a file the event reader refuses: {e}") from e
    assert diags == [], f"the fast read took a file with messages: {diags}"
    assert have_root
    assert data == root
    assert [type(v) for v in _leaves(data)] == [type(v) for v in _leaves(root)]  # 1 is not True, nor "1"
    assert fast.first_marks() == full.marks
    assert all(fast.line(p) == m[0] + 1 for p, m in full.marks.items())
    assert full.printable
    doc, d = reader.read_document(text.encode(), "p.yaml")
    assert doc is not None and d == [] and doc.printable and doc.data == root and doc.first_marks() == full.marks
    return True


def _leaves(data: Any) -> list[Any]:
    if isinstance(data, dict):
        return [x for k, v in data.items() for x in (k, *_leaves(v))]
    if isinstance(data, list):
        return [x for v in data for x in _leaves(v)]
    return [data]


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_fast_read_agrees_with_the_event_reader(text: str) -> None:
    _agree(text)


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_read_declines_or_agrees_on_broken_documents(text: str) -> None:
    _agree(text)


def test_the_format_as_written_is_read_fast() -> None:
    """The shape of images.yaml.example (and of the benchmark's file) takes the fast read: the
    property above cannot pass by always declining."""
    text = (
        "# the catalog\n"
        "version: 1   # the format\n"
        "catalog:  # the catalog\n"
        "  name: bench\n"
        "  provider: local\n"
        "policy:\n"
        "  prune: false\n"
        "  retention: {web: 3}\n"
        "\n"
        "images:\n"
        "  - name: img-000001\n"
        "    type: vm\n"
        "    os: linux\n"
        "    label: Image 1   \n"
        "    source: {vm: build-000001}\n"
        '    tags: {team: bench, index: "1"}\n'
        "  - name: 'img-2'\n"
        "    os: linux # an OS\n"
        "    regions:\n"
        "    - westeurope\n"
        "    - East US\n"
        "    protect: true\n"
    )
    assert _agree(text)
    doc, _ = reader.read_document(text.encode(), "p.yaml")
    assert doc is not None
    assert doc.data["images"][1] == {"name": "img-2", "os": "linux", "regions": ["westeurope", "East US"],
                                     "protect": True}
    assert doc.data["images"][0]["tags"] == {"team": "bench", "index": "1"}
    marks = doc.first_marks()
    assert marks[("images", 1)] == (16, 4) and marks[()] == (1, 0) and marks[("policy", "retention")] == (7, 13)
    assert doc.line(("images", 1)) == 17 and doc.line(("images", 2)) == 0 and doc.line(("images",)) == 11


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",  # a duplicate key: the event reader's message
    "a: &x 1\nb: *x\n",  # anchors and aliases
    "a: !!str 1\n",  # tags
    "a: |\n  text\n",  # block scalars
    "a: b\n  c\n",  # a plain scalar continued on the next line
    'a: "x\\ty"\n',  # escapes
    "a:\n\t- b\n",  # a tab
    'a: "b #c" # comment\n',  # a comment after a quoted value holding " #"
    "- # c\n",  # a list entry that is a comment
    "a: {b: {c: d}}\n",  # nested flow
    "- a\n",  # a list at the root
    "  a: 1\n",  # an indented root
    "---\na: 1\n",  # a document marker
    "a: 1\r\n",  # CRLF
    "a: \u200bb\n",  # an invisible character
    "a: [x, ]\n",  # an empty flow entry
])
def test_outside_the_subset_the_event_reader_reads(text: str) -> None:
    assert not _agree(text)


def test_the_root_mark_after_many_blank_lines_and_comments() -> None:
    assert _agree("\n" * 70 + "# c\n" * 3 + "   \nversion: 1\nimages:\n- name: a\n")


def test_the_shipped_example_is_read_fast_and_the_same() -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "images.yaml.example"
    assert _agree(example.read_text("utf-8"))


def test_a_local_plan_imports_no_other_provider(tmp_path) -> None:
    """Issue 13's fixed cost: the registry reads the other providers' schema fragments and
    environment variables from their files, without importing their packages; a file in the fast
    read's subset never imports yaml, and typer no pydantic."""
    import subprocess
    import sys

    (tmp_path / "images.yaml").write_text(
        f"version: 1\ncatalog:\n  name: t\n  provider: local\n  path: {tmp_path / 'c.db'}\nimages: []\n")
    code = ("import sys\nfrom reconciler.cli.app import main\nsys.argv = ['reconciler', 'validate', 'images.yaml']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('reconciler.providers.azure', "
            "'reconciler.providers.classic', 'yaml', 'pydantic'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
    assert "valid" in done.stdout


# --------------------------------------------------------------------------------------------------
# The split read of the ``images:`` list (``reader._fast_split``): entry by entry, with str.split


_FLOW_VALUES = ["bench", '"5"', '""', "build-000001", "1", "yes", "a b", '"a b"', "null", "x.y/z", '"a,b"', "-1"]


@st.composite
def _entry_value(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)) == 0:
        pairs = draw(st.lists(st.tuples(keys.filter(lambda k: " " not in k), st.sampled_from(_FLOW_VALUES)),
                              max_size=3))
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return draw(scalars.filter(bool))


@st.composite
def image_lists(draw: st.DrawFn) -> str:
    """A file whose ``images:`` list is written as ``export`` writes it, with sometimes one line that
    is not (a nested block, a comment, a blank line, a duplicate key ...) and sometimes a root key after."""
    indent = draw(st.sampled_from([1, 2, 4]))
    lines = ["version: 1", "catalog:", "  name: c"] if draw(st.booleans()) else []
    lines.append("images:")
    for _ in range(draw(st.integers(1, 4))):
        entry = [(k, draw(_entry_value())) for k in draw(st.lists(keys, min_size=1, max_size=4))]
        for i, (k, v) in enumerate(entry):
            lines.append(" " * indent + ("- " if i == 0 else "  ") + f"{k}: {v}")
        if draw(st.booleans()):
            lines.append("")
    if draw(st.booleans()):
        at = draw(st.integers(lines.index("images:") + 1, len(lines)))
        lines.insert(at, draw(st.sampled_from([
            "", "# a comment", " " * (indent + 2) + "# c", " " * (indent + 2) + "key:", " " * (indent + 4) + "a: b",
            " " * (indent + 2) + "k:  two spaces", " " * (indent + 2) + "- x", " " * indent + "-  name: x",
            " " * indent + "- x", "  a: b", "---", "families: {}", " " * (indent + 2) + "name: dup"])))
    if draw(st.booleans()):
        lines += ["families:", "  web: {description: x}"]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


def _line_by_line(text: str) -> tuple[dict[str, Any], dict[Any, Any]] | None:
    root: dict[str, Any] = {}
    marks: dict[Any, Any] = {}
    try:
        last, _, _ = reader._fast_lines(text, 0, len(text), -1, root, marks, {}, {}, reader._FAST_LINE.findall)
    except reader._NotFast:
        return None
    return (root, marks) if last == text.count("\n") else None


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(image_lists())
def test_the_split_read_agrees_with_the_line_by_line_read_and_the_event_reader(text: str) -> None:
    _agree(text)
    if " \n" in text or text.endswith(" "):
        return
    marks: dict[Any, Any] = {}
    try:
        split = reader._fast_split(text, marks, {}, {}, reader._FAST_LINE.findall)
    except reader._NotFast:
        assert _line_by_line(text) is None  # where the split read refuses, so does the line-by-line one
        return
    if split is not None:
        lines = _line_by_line(text)
        assert lines is not None
        assert split == lines[0]
        assert marks == lines[1]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(image_lists().flatmap(lambda t: st.tuples(st.just(t), st.integers(0, len(t)),
                                                   st.sampled_from(list(" -:#{}[],\"'\n") + ["  ", ": "]))))
def test_the_split_read_declines_or_agrees_on_broken_lists(case: tuple[str, int, str]) -> None:
    text, at, insert = case
    _agree(text[:at] + insert + text[at:])


def test_the_benchmark_layout_takes_the_split_read() -> None:
    text = ("version: 1\ncatalog:\n  name: c\nimages:\n"
            + "".join(f"  - name: img-{i}\n    type: vm\n    source: {{vm: build-{i}}}\n"
                      f'    tags: {{team: bench, index: "{i}"}}\n' for i in range(3))
            + "families:\n  web: {description: x}\n")
    marks: dict[Any, Any] = {}
    split = reader._fast_split(text, marks, {}, {}, reader._FAST_LINE.findall)
    assert split is not None
    assert split["images"][2] == {"name": "img-2", "type": "vm", "source": {"vm": "build-2"},
                                  "tags": {"team": "bench", "index": "2"}}
    assert marks[("images", 1)] == (8, 4)
    assert _agree(text)


def test_a_printable_character_is_one_yaml_allows() -> None:
    """``read_document`` skips the search for characters YAML refuses when every character is
    printable: every printable code point is one YAML allows (all of them, checked)."""
    printable = "".join(c for c in map(chr, range(0x110000)) if c.isprintable())
    assert reader._disallowed().search(printable) is None
    assert reader._printable("a\nb") and not reader._printable("a\tb") and not reader._printable("a\x85b")


# --------------------------------------------------------------------------------------------------
# The split read shared with a helper process (``reader._PARALLEL_MIN``, ``spec.forked``)


def _split_outcome(text: str) -> Any:
    marks: dict[Any, Any] = {}
    try:
        root = reader._fast_split(text, marks, {}, {}, reader._FAST_LINE.findall)
    except reader._NotFast:
        return "declined: _NotFast"
    return root, marks


class _Shared:
    """Every ``images:`` list read with a helper (``_PARALLEL_MIN`` 0), forks counted; the one-thread
    rule waived, since other tests of this session may leave a server thread running."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from reconciler.spec import forked

        self.forks = 0
        real = forked.start

        def start(work: Any) -> Any:
            helper = real(work)
            self.forks += helper is not None
            return helper

        monkeypatch.setattr(forked, "_single_threaded", lambda: True)
        monkeypatch.setattr(forked, "_spare_core", lambda: True)  # a 1-CPU runner too
        monkeypatch.setattr(forked, "start", start)
        self.patch = monkeypatch

    def outcome(self, text: str) -> Any:
        with self.patch.context() as m:
            m.setattr(reader, "_PARALLEL_MIN", 0)
            return _split_outcome(text)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> _Shared:
    return _Shared(monkeypatch)


def test_the_shared_split_read_agrees_with_the_split_read(shared: _Shared) -> None:
    """Property (hand-rolled over hypothesis' examples, as a fixture cannot be given per example):
    the list read half here and half by a helper == the list read here alone == the list read with
    its caches forgotten at every entry (``_CACHE_MAX``) == the list cut into pieces of a few
    characters (``_SPLIT_CHARS``): the same data, marks, decline (None) or refusal (``_NotFast``),
    on generated lists and on lists broken in either half."""
    texts: list[str] = []

    @settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(image_lists().flatmap(lambda t: st.tuples(st.just(t), st.integers(0, len(t)),
                                                       st.sampled_from(["", "", " ", ": ", "#", "\n", '"', "{"]))))
    def collect(case: tuple[str, int, str]) -> None:
        text, at, insert = case
        texts.append(text[:at] + insert + text[at:])

    collect()
    outcomes = set()
    for text in texts:
        alone = _split_outcome(text)
        assert shared.outcome(text) == alone, text
        with shared.patch.context() as m:  # the caches forgotten at every entry: the same read
            m.setattr(reader, "_CACHE_MAX", 0)
            assert _split_outcome(text) == alone, text
        for cut in (0, 1, 37):  # the list cut into pieces of a few characters (``_SPLIT_CHARS``): the same read
            with shared.patch.context() as m:
                m.setattr(reader, "_SPLIT_CHARS", cut)
                assert _split_outcome(text) == alone, (cut, text)
        outcomes.add("declined: _NotFast" if alone == "declined: _NotFast" else
                     "declined" if alone[0] is None else "read")
    assert outcomes == {"read", "declined", "declined: _NotFast"}  # every outcome was compared
    assert shared.forks > len(texts) // 4  # the helper read often (a list of one entry has no second half)


def test_a_large_list_is_read_with_a_helper_and_the_same(shared: _Shared) -> None:
    text = ("version: 1\ncatalog:\n  name: c\nimages:\n"
            + "".join(f"  - name: img-{i}\n    type: vm\n    source: {{vm: build-{i}}}\n"
                      f'    tags: {{team: bench, index: "{i}"}}\n' for i in range(2000))
            + "families:\n  web: {description: x}\n")
    alone = _split_outcome(text)
    assert shared.outcome(text) == alone and shared.forks == 1
    assert alone[0]["images"][1999]["tags"] == {"team": "bench", "index": "1999"}
    assert alone[1][("images", 1999)] == (4 + 4 * 1999, 4)


def test_a_helper_that_fails_leaves_the_read_to_this_process(shared: _Shared,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.spec import forked

    text = "images:\n" + "".join(f"  - name: i{i}\n    os: linux\n" for i in range(50))
    alone = _split_outcome(text)
    real = forked.start
    monkeypatch.setattr(forked, "start", lambda work: real(lambda: os._exit(3)))  # the helper dies, unanswered
    assert shared.outcome(text) == alone


def test_the_helper_answers_from_another_process() -> None:
    from reconciler.spec import forked

    if not forked._single_threaded() or not forked._spare_core():
        pytest.skip("a thread of another test is running, or one CPU: this process does not fork")
    helper = forked.start(lambda: (os.getpid(), [1, "two", {"three": None}]))
    assert helper is not None
    pid, value = helper.result()
    assert pid != os.getpid() and value == [1, "two", {"three": None}]


def test_a_helper_that_raises_or_is_cancelled_is_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.spec import forked

    monkeypatch.setattr(forked, "_single_threaded", lambda: True)
    monkeypatch.setattr(forked, "_spare_core", lambda: True)

    def fails() -> None:
        raise ValueError("no")

    helper = forked.start(fails)
    assert helper is not None
    pid = helper._pid
    with pytest.raises(forked.HelperFailed, match="status 1"):
        helper.result()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left
    import threading

    gate = threading.Event()
    helper = forked.start(lambda: gate.wait())  # the copy's gate is never set: it waits until killed
    assert helper is not None
    pid = helper._pid
    helper.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    helper.cancel()  # twice: nothing left to do


def test_the_helper_ends_on_the_signals_that_stop_the_command_and_only_those(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal the command handles ends the helper (SIG_DFL: the command cancels it anyway); one
    the command ignores, as a background job ignores SIGINT, the helper ignores too."""
    import signal

    from reconciler.spec import forked

    monkeypatch.setattr(forked, "_single_threaded", lambda: True)
    monkeypatch.setattr(forked, "_spare_core", lambda: True)

    def handler(signum: int, frame: Any) -> None:
        raise AssertionError("not the helper's")

    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, handler)
        helper = forked.start(lambda: (signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
                                       signal.getsignal(signal.SIGTERM) is signal.SIG_DFL))
        assert helper is not None
        assert helper.result() == (True, True)
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def test_no_helper_is_forked_beside_another_thread() -> None:
    import threading

    from reconciler.spec import forked

    gate = threading.Event()
    other = threading.Thread(target=gate.wait)
    other.start()
    try:
        assert not forked._single_threaded()
        assert forked.start(lambda: 1) is None  # the copy would hold the other thread's locks forever
        assert forked._spare_core() is (len(os.sched_getaffinity(0)) >= 2)
    finally:
        gate.set()
        other.join()


def test_the_split_read_keeps_the_entries_marks_apart() -> None:
    """``Document.entry_lines``: the split read's entries are not in ``marks`` (18 MB of 100,000);
    ``line`` and ``first_marks`` answer as the marks did, and a full read replaces them."""
    text = ("version: 1\ncatalog:\n  name: c\nimages:\n"
            + "".join(f"  - name: img-{i}\n    type: vm\n    source: {{vm: build-{i}}}\n" for i in range(3))
            + "families:\n  web: {description: x}\n")
    doc, _ = reader.read_document(text.encode(), "p.yaml")
    assert doc is not None and doc.entry_lines == [4, 7, 10] and doc.entry_col == 4
    assert ("images", 1) not in doc.marks and doc.first_marks()[("images", 1)] == (7, 4)
    assert [doc.line(("images", i)) for i in (0, 1, 2, 3, -1)] == [5, 8, 11, 0, 0]
    assert doc.line(("families", "web")) == 15 and doc.line(("images", "x")) == 0
    loc = doc.loc(("images", 2))
    assert (loc.line, loc.col) == (11, 5) and doc.entry_lines == [] and doc.line(("images", 2)) == 11
