"""``build._plain_spec``, the fast build of an image entry (issue 13), builds exactly what the codec
builds (``SPEC_FILE.from_dict``), types included, or declines (None) and leaves the entry to it."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import ImageSpec
from reconciler.spec.build import SPEC_FILE, _plain_spec

_text = st.sampled_from(["web", "Image 1", "img-000001", "é"])
_source = st.fixed_dictionaries({}, optional={
    "vm": _text, "vhd": st.just("https://x/y.vhd"), "generalize": st.booleans(), "storage_account": _text,
    "deprovision": st.booleans(), "sysprepped": st.booleans(), "image": _text, "snapshot": _text,
    "data_snapshots": st.lists(_text, max_size=2),
})
_entry = st.fixed_dictionaries(
    {"name": _text, "type": st.sampled_from(["vm", "os"]), "os": st.sampled_from(["linux", "windows"]),
     "source": _source},
    optional={"os_state": st.sampled_from(["generalized", "specialized"]), "family": _text, "label": _text,
              "description": _text, "recommended_vm_size": _text, "protect": st.booleans(),
              "tags": st.dictionaries(_text, _text, max_size=2), "end_of_life_date": _text},
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_entry, st.sampled_from([{}, {"x": 1}]), st.integers(0, 9))
def test_the_fast_build_is_the_codec_build(img: dict[str, Any], extra: dict[str, Any], line: int) -> None:
    fast = _plain_spec(img, extra, line)
    if fast is None:
        return
    slow = SPEC_FILE.from_dict(ImageSpec, img, extra=extra, line=line)
    assert repr(fast) == repr(slow)
    assert fast.line == slow.line and fast.tags is not img.get("tags")  # its own copy of the tags
    owned = _plain_spec(img, extra, line, own=True)  # an entry let go of (``consume``): its tags are kept
    assert repr(owned) == repr(slow)
    assert owned is not None and (owned.tags is img["tags"] if img.get("tags") else not owned.tags)


def test_the_benchmark_entry_takes_the_fast_build() -> None:
    img = {"name": "img-1", "type": "os", "os": "linux", "family": "f", "label": "L", "source": {"vm": "b-1"},
           "tags": {"team": "bench"}}
    assert _plain_spec(img, {}, 4) is not None
    assert _plain_spec({**img, "end_of_life_date": "2030-01-01"}, {}, 4) is None  # a provider field
    assert _plain_spec({**img, "source": {"image": "dev:web"}}, {}, 4) is None  # a promotion
    assert _plain_spec({**img, "type": "vm"}, {}, 4) is None  # no os_state: the codec says what it says


def test_the_file_digest_is_sha256_however_it_is_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``check._Digest``: hashed beside the read for a large file (a thread), when asked for a small one;
    from the decoded text a slice at a time, it is the bytes' own digest (a BOM, characters of 2-4
    bytes across the slices' ends)."""
    import hashlib

    from reconciler.spec.check import _BOM, _Digest

    monkeypatch.setattr(_Digest, "_SLICE", 7)
    large = b"x" * (_Digest._THREADED + 1)
    for data in (b"", b"version: 1\n", _BOM + b"a: 1\n", "n: \u00e9\u4e2d\U0001f600 \u00e9t\u00e9\n".encode() * 3,
                 large, _BOM + large):
        text = data.decode("utf-8-sig")
        digest = _Digest(text, data.startswith(_BOM))
        assert (digest._thread is not None) == (len(text) >= _Digest._THREADED)
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest() == digest.hexdigest()
        packed = digest.packed()
        assert zlib.decompress(packed).decode("utf-8-sig") == text if len(text) >= _Digest._THREADED else not packed


def test_a_large_file_keeps_its_text_packed_and_its_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large file's document keeps the file compressed, not its text (``Document.release``); a
    plan-time message still finds every position, as the text gave them (a BOM and all)."""
    from reconciler.spec import check_spec
    from reconciler.spec.check import _Digest

    text = ("\ufeffversion: 1\ncatalog: {name: c, provider: local, path: /tmp/x.db}\nimages:\n"
            + "".join(f"  - name: img-{i}\n    type: os\n    os: linux\n    source:\n      vm: b-{i}\n"
                      for i in range(3)))
    data = text.encode()
    kept, _ = check_spec(data, "p.yaml")
    monkeypatch.setattr(_Digest, "_THREADED", 0)  # every file is "large"
    state, diags = check_spec(data, "p.yaml")
    assert state is not None and kept is not None and diags == []
    doc = state.positions._doc  # type: ignore[attr-defined]  # the reader's document, not asked yet
    assert doc.text == "" and zlib.decompress(doc.packed) == data[3:]  # the text's bytes: no BOM
    assert dict(state.positions) == dict(kept.positions)
    assert state.positions["$.images[2].source.vm"] == (18, 7)  # the key, 1-based


def test_bytes_handed_over_are_let_go_of_once_decoded() -> None:
    """``read_document`` given a list holding the bytes empties it (``check._check``: the bytes of a
    large file are not held beside its text and its data); the document is the same."""
    from reconciler.spec.reader import read_document

    data = b"\xef\xbb\xbfversion: 1\ncatalog: {name: c}\nimages: []\n"
    box = [data]
    doc, diags = read_document(box, "p.yaml")
    alone, _ = read_document(data, "p.yaml")
    assert box == [] and doc is not None and alone is not None and diags == []
    assert doc.data == alone.data and doc.text == alone.text == data[3:].decode()
