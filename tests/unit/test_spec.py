"""Unit tests of reconciler.spec beyond the fixture files: schema, bytes, defaults, API, dump."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_spec_fixtures import CAPS  # tests/unit is on sys.path (rootdir-relative import)

from reconciler import spec
from reconciler.errors import ReconcilerError, Severity, SpecError
from reconciler.model import Capabilities, CatalogConfig, ImageSpec, ImageType, OSState, Policy, Source
from reconciler.spec import check_spec, dump_spec, json_path, load_schema, load_spec, parse_spec, reader
from reconciler.spec import env as spec_env
from reconciler.spec import schema as spec_schema

ROOT = Path(__file__).resolve().parents[2]
LOCAL = CAPS["local"]

MINIMAL = b"version: 1\ncatalog:\n  name: platform\nimages: []\n"


def _image(name: str = "web-base-2026-11", source: str = "{vm: build-web-01}", **extra: str) -> str:
    lines = [f"  - name: {name}", "    type: os", "    os: linux", f"    source: {source}"]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def _doc(catalog: str = "  name: platform\n", images: str = "") -> bytes:
    return f"version: 1\ncatalog:\n{catalog}images:\n{images or '  []'}\n".encode()


def _errors(data: bytes, **kw: Any) -> list[tuple[int, int, str, str]]:
    kw.setdefault("capabilities", LOCAL)
    state, diags = check_spec(data, "images.yaml", **kw)
    assert (state is None) == any(d.severity is Severity.ERROR for d in diags)
    return [(d.location.line, d.location.col, d.location.json_path, d.summary) for d in diags if d.location]


# --------------------------------------------------------------------------------------------------
# The schema


def test_schema_is_valid_draft_2020_12_with_id() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://reconciler.dev/schemas/images.schema.json"
    assert load_schema() is schema  # cached


def test_every_object_in_the_schema_is_closed() -> None:
    def walk(node: Any, where: str) -> list[str]:
        open_objects = []
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                open_objects.append(where)
            if "properties" in node and node.get("additionalProperties") is not False:
                open_objects.append(where)
            for k, v in node.items():
                open_objects += walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                open_objects += walk(v, f"{where}/{i}")
        return open_objects

    assert walk(load_schema(), "#") == []


def test_schema_symlink_at_repo_root_is_the_packaged_file() -> None:
    assert (ROOT / "schemas" / "images.schema.json").resolve() == (
        ROOT / "reconciler" / "schemas" / "images.schema.json"
    ).resolve()


def test_load_schema_works_from_a_zipped_package(tmp_path: Path) -> None:
    """importlib.resources, not __file__: the schema loads from a non-filesystem install too."""
    archive = tmp_path / "reconciler.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in (ROOT / "reconciler").rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, f.relative_to(ROOT).as_posix())
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import reconciler.spec as s; "
        "assert s.__file__.startswith(sys.argv[1]), s.__file__; print(s.load_schema()['$id'])"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(archive)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "https://reconciler.dev/schemas/images.schema.json"


_IMAGE_VALUES: dict[str, list[Any]] = {
    "name": ["web-base-2026-11", "a/b.c", "", "web base", 3, "x" * 81],
    "type": ["vm", "os", "VM", None],
    "os": ["linux", "windows", "mac", 1],
    "os_state": ["generalized", "specialized", "gen"],
    "family": ["web-base", "", 1.5],
    "label": ["x", 1, None],
    "recommended_vm_size": ["Standard_D2s_v5", "Standard D2"],
    "source": [
        {"vm": "a"},
        {"vhd": "https://a/b.vhd"},
        {"vhd": "http://a/b.vhd"},
        {"vm": "a", "vhd": "https://a/b"},
        {},
        {"vm": "a", "generalize": "yes"},
        {"vm": "", "storage_account": "UPPER"},
        {"vm": "a", "extra": 1},
        "a",
    ],
    "tags": [{}, {"a": "b"}, {"a": 1}, {"": "x"}, []],
    "protect": [True, False, 1, "true"],
    "end_of_life_date": ["2027-06-30", "2027-13-01", "soon"],
    "replica_count": [1, 0, 2.0, True],
    "target_regions": [[{"name": "w"}], [], [{"name": "w", "replicas": 0}], [{"nam": "w"}], [{"name": "w", "x": 1}]],
    "hyper_v_generation": ["V1", "V3"],
    "delete_media": [True, None],
    "tpye": ["vm"],
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(sorted(_IMAGE_VALUES)),
        st.integers(min_value=0, max_value=10),
        max_size=len(_IMAGE_VALUES),
    ),
)
def test_fast_precheck_is_never_laxer_than_jsonschema(choice: dict[str, int]) -> None:
    image = {k: _IMAGE_VALUES[k][i % len(_IMAGE_VALUES[k])] for k, i in choice.items()}
    v = spec_schema.validators()
    jsonschema_ok = not list(v.image.iter_errors(image))
    if spec_schema._fast_ok(v.fast_image, image):
        assert jsonschema_ok, image
    if jsonschema_ok:
        assert spec_schema._fast_ok(v.fast_image, image), image  # and it is not uselessly strict either


# Settings where Python's ``re`` and Rust's regex read a class escape differently (\w, \S).
_SETTING_VALUES: dict[str, list[Any]] = {
    "resource_group": ["rg-1", "r\u00e9seau", "gro\u0301up", "a\u203fb", "rg.", "x" * 91],
    "endpoint": ["https://a.example/x", "https://a\x1cb", "https://a\u00a0b", "https://a b", "https://a\n"],
    "subscription_id": ["00000000-0000-0000-0000-000000000000", "0000", "{00000000-0000-0000-0000-000000000000}"],
}


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, vs in _SETTING_VALUES.items() for v in vs])
def test_fast_precheck_is_never_laxer_on_unicode_patterns(key: str, value: str) -> None:
    v = spec_schema.validators()
    doc = {"version": 1, "catalog": {"name": "platform", key: value}, "images": []}
    if spec_schema._fast_ok(v.fast_full, doc):
        assert not list(v.full.iter_errors(doc)), doc


def test_ascii_pattern_narrows_class_escapes_and_refuses_what_it_cannot_vouch_for() -> None:
    assert spec_schema._ascii_pattern(r"^[-\w.()]{0,89}[-\w()]$") == r"^[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]$"
    assert spec_schema._ascii_pattern(r"^https://\S+$") == r"^https://[!-~]+$"
    for pattern in (r"\bword", r"\p{L}", r"(?!x)y", r"[^\w]", r"\u00e9"):
        with pytest.raises(ValueError):
            spec_schema._ascii_pattern(pattern)
    with pytest.raises(ValueError):
        spec_schema._ascii_patterns({"not": {"pattern": r"\w"}})


def test_a_value_the_precheck_cannot_hold_is_left_to_jsonschema() -> None:
    v = spec_schema.validators()
    assert spec_schema._fast_ok(v.fast_image, {"name": "a\ud800"}) is False  # a lone surrogate: not UTF-8


@pytest.mark.parametrize("bad", [None, 0, 2, 4, 6])
def test_a_long_images_list_is_prechecked_in_chunks_and_the_same(bad: int | None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``_fast_document_ok`` checks a long list ``_CHUNK`` images at a time: the same verdict as the
    whole document, whichever chunk holds the bad image (the first, the middle, a last short one)."""
    v = spec_schema.validators()
    images: list[Any] = [{"name": f"i{n}", "type": "os", "os": "linux", "source": {"vm": f"v{n}"}} for n in range(7)]
    if bad is not None:
        images[bad] = {**images[bad], "os": "plan9"}
    doc = {"version": 1, "catalog": {"name": "platform"}, "images": images}
    whole = spec_schema._fast_ok(v.fast_full, doc)
    assert whole is (bad is None)
    monkeypatch.setattr(spec_schema, "_CHUNK", 2)
    calls: list[int] = []
    real = spec_schema._fast_ok

    def counted(validator: Any, instance: Any) -> bool:
        calls.append(len(instance.get("images", ())))
        return real(validator, instance)

    monkeypatch.setattr(spec_schema, "_fast_ok", counted)
    assert spec_schema._fast_document_ok(v, doc, images) is whole
    assert calls == [2, 2, 2, 1][:bad // 2 + 1 if bad is not None else 4]  # chunks, up to the bad one
    document, _ = reader.read_document(yaml.safe_dump(doc).encode(), "p.yaml")
    assert document is not None
    assert (spec_schema.schema_diagnostics(document.data, document) == []) is (bad is None)
    monkeypatch.setattr(spec_schema, "_CHUNK", 2048)
    assert spec_schema._fast_document_ok(v, {**doc, "version": 2}, images) is False  # the rest of it is checked too


# --------------------------------------------------------------------------------------------------
# The example file


def test_example_file_is_valid_and_matches_the_demo_seed() -> None:
    state = load_spec(ROOT / "images.yaml.example", capabilities=LOCAL)
    assert state.catalog == CatalogConfig("platform", "local", {"path": ".reconciler/catalog.db"})
    assert state.policy == Policy(prune=True)
    web, db, win = state.images
    assert web == ImageSpec(
        name="web-base-2026-11",
        type=ImageType.VM,
        os="linux",
        os_state=OSState.GENERALIZED,
        source=Source(vm="build-web-01"),
        family="web-base",
        label="Web base, November 2026",
        description="nginx + hardening baseline",
        recommended_vm_size="Standard_D2s_v5",
        tags={"team": "web"},
        protect=True,
    )
    assert db == ImageSpec(
        name="db-base-2026-10",
        type=ImageType.VM,
        os="linux",
        os_state=OSState.SPECIALIZED,
        source=Source(vm="build-db-01"),
        family="db-base",
        label="DB base, October 2026",
        description="PostgreSQL 17 on the hardened baseline",
        recommended_vm_size="Standard_E4s_v5",
        tags={"team": "data"},
    )
    assert win == ImageSpec(
        name="win-base-2026-09",
        type=ImageType.OS,
        os="windows",
        os_state=OSState.GENERALIZED,
        source=Source(vm="build-win-01"),
        family="win-base",
        label="Windows base, September 2026",
        tags={"team": "desktop"},
        protect=True,
    )
    text = (ROOT / "images.yaml.example").read_text().splitlines()
    for image in state.images:
        assert text[image.line - 1].strip().startswith(f"- name: {image.name}")


# --------------------------------------------------------------------------------------------------
# Bytes, encodings and YAML rules


def test_nul_byte_is_binary_with_offset_and_line() -> None:
    data = b"version: 1\ncatalog:\n  na\x00me: platform\n"
    assert _errors(data) == [(3, 5, "$", "binary content: NUL byte at offset 24")]


def test_non_utf8_reports_offset_and_line() -> None:
    data = b"version: 1\ncatalog:\n  name: platform\nimages: []\n# caf\xe9\n"
    [(line, col, _, summary)] = _errors(data)
    assert (line, col) == (5, 6)
    assert summary == "not UTF-8: invalid byte 0xe9 at offset 53"


def test_utf16_is_refused_as_binary() -> None:
    [(_, _, _, summary)] = _errors(MINIMAL.decode().encode("utf-16"))
    assert summary.startswith("binary content")


def test_control_character_is_refused_with_position() -> None:
    data = b"version: 1\ncatalog:\n  name: plat\x07form\nimages: []\n"
    assert _errors(data) == [(3, 13, "$", "control character U+0007 is not allowed in YAML")]


def test_utf8_bom_is_accepted_and_digest_is_of_the_raw_bytes() -> None:
    data = b"\xef\xbb\xbf" + MINIMAL
    state, diags = check_spec(data, "images.yaml", capabilities=LOCAL)
    assert diags == [] and state is not None
    assert state.digest == hashlib.sha256(data).hexdigest()
    assert state.path == "images.yaml"


def test_timestamps_and_versions_stay_strings() -> None:
    data = _doc(images=_image(tags='{built: 2026-11-26, at: 2026-11-26T10:00:00Z, release: "1.10", v: !!str 2}'))
    state = parse_spec(data, "images.yaml", capabilities=LOCAL)
    assert state.images[0].tags == {"built": "2026-11-26", "at": "2026-11-26T10:00:00Z", "release": "1.10", "v": "2"}


def test_unquoted_version_is_a_number_and_the_hint_says_quote_it() -> None:
    _, diags = check_spec(_doc(images=_image(tags="{release: 1.10}")), "f", capabilities=LOCAL)
    [d] = diags
    assert d.summary == "release must be text, not a number (1.1)"
    assert "quote" in d.hint


def test_alias_bomb_is_refused_without_expanding() -> None:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, 30):  # 2**29 elements if it were expanded
        lines.append(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]")
    data = (MINIMAL.decode() + "\n".join(lines) + "\n").encode()
    start = time.perf_counter()
    state, diags = check_spec(data, "f", capabilities=LOCAL)
    # A guard against expansion (2**29 elements would never finish), not a speed target.
    assert time.perf_counter() - start < 10.0
    assert state is None
    alias_errors = [d for d in diags if "aliases are not allowed" in d.summary]
    assert len(alias_errors) == 29  # one per anchor, not one per use


def test_deep_nesting_in_block_style_does_not_recurse() -> None:
    body = "policy:\n" + "".join(f"{'  ' * (i + 1)}k{i}:\n" for i in range(200))
    state, diags = check_spec(MINIMAL + body.encode(), "f", capabilities=LOCAL)
    assert state is None
    assert any("nested deeper" in d.summary for d in diags)


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000, b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, MINIMAL + b"x: " + b"[" * 5000 + b"\n"],
    ids=["flow-seq", "json-objects", "past-libyaml-limit"],
)
def test_hostile_nesting_is_one_clear_error(data: bytes) -> None:
    # libyaml stops at 1000 levels with "exceeded maximum nesting depth": say what is wrong instead.
    state, diags = check_spec(data, "deep.yaml", capabilities=LOCAL)
    assert state is None
    assert [d.summary for d in diags] == [f"the file nests too deeply (nested deeper than {spec.MAX_DEPTH} levels)"]
    assert diags[0].location is not None and diags[0].location.file == "deep.yaml"


def test_json_desired_state_with_a_bom_is_read() -> None:
    doc = {"version": 1, "catalog": {"name": "platform"}, "images": []}
    import json

    state = parse_spec(b"\xef\xbb\xbf" + json.dumps(doc).encode(), "images.json", capabilities=LOCAL)
    assert state.catalog.name == "platform" and state.images == ()


def test_every_diagnostic_is_sorted_by_position() -> None:
    data = _doc(images=_image("a b", tpye="x") + _image("A B", os_state="specialized"))
    _, diags = check_spec(data, "f", capabilities=LOCAL)
    positions = [(d.location.line, d.location.col) for d in diags if d.location]
    assert len(positions) >= 4
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ((), "$"),
        (("images", 0, "name"), "$.images[0].name"),
        (("policy", "retention", "web-base"), "$.policy.retention.web-base"),
        (("tags", "a.b"), "$.tags['a.b']"),
        (("tags", "it's"), "$.tags['it\\'s']"),
    ],
)
def test_json_path(path: tuple[str | int, ...], expected: str) -> None:
    assert json_path(path) == expected


# --------------------------------------------------------------------------------------------------
# Defaults from the environment, and capabilities


def test_file_setting_wins_over_default() -> None:
    data = _doc("  name: platform\n  path: from-file.db\n")
    state = parse_spec(data, "f", defaults={"path": "from-env.db"}, capabilities=LOCAL)
    assert state.catalog.settings == {"path": "from-file.db"}


def test_default_fills_a_missing_setting() -> None:
    state = parse_spec(MINIMAL, "f", defaults={"path": "from-env.db"}, capabilities=LOCAL)
    assert state.catalog.settings == {"path": "from-env.db"}


def test_defaults_the_provider_does_not_know_are_ignored() -> None:
    state, diags = check_spec(
        MINIMAL, "f", defaults={"subscription": "not even a guid?", "PATH": "/usr/bin", "name": "x"},
        capabilities=LOCAL,
    )
    assert state is not None, diags
    assert state.catalog.settings == {}
    assert state.catalog.name == "platform"  # the ownership marker is never defaulted


def test_default_text_is_coerced_to_the_schema_type() -> None:
    state = parse_spec(
        MINIMAL, "f", defaults={"provider": "azure", "timeout": "30", "poll_interval": "0.5"},
        capabilities=CAPS["azure"],
    )
    assert state.catalog.provider == "azure"
    assert state.catalog.settings == {"timeout": 30, "poll_interval": 0.5}


def test_invalid_default_is_a_diagnostic_naming_the_setting() -> None:
    _, diags = check_spec(MINIMAL, "f", defaults={"timeout": "soon"}, capabilities=CAPS["azure"])
    [d] = diags
    assert d.location is not None and d.location.json_path == "$.catalog.timeout"
    assert "from the environment" in d.summary
    assert "the file wins" in d.hint


def test_capabilities_come_from_the_provider_with_merged_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(provider: str, settings: dict[str, Any]) -> Capabilities:
        calls.append((provider, dict(settings)))
        return LOCAL

    monkeypatch.setattr(spec_env, "_capabilities_for", fake)
    data = _doc("  name: platform\n  provider: local\n")
    state = parse_spec(data, "f", defaults={"path": "env.db"})
    assert calls == [("local", {"path": "env.db"})]
    assert state.catalog.settings == {"path": "env.db"}


@pytest.mark.parametrize(
    ("catalog", "line", "col"),
    [("  name: platform\n  provider: azure\n", 4, 13), ("  name: platform\n", 2, 1)],
)
def test_provider_that_cannot_load_is_a_diagnostic_at_catalog_provider(
    monkeypatch: pytest.MonkeyPatch, catalog: str, line: int, col: int
) -> None:
    def unavailable(provider: str, settings: dict[str, Any]) -> Capabilities:
        raise ReconcilerError(f"provider '{provider}' is not available", "install the extra")

    monkeypatch.setattr(spec_env, "_capabilities_for", unavailable)
    state, diags = check_spec(_doc(catalog), "f")
    assert state is None
    [d] = diags
    assert d.summary.startswith("provider ") and d.hint == "install the extra"
    assert (d.location.line, d.location.col) == (line, col)


# --------------------------------------------------------------------------------------------------
# load_spec / parse_spec


def test_load_spec_missing_file_has_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError) as info:
        load_spec(tmp_path / "images.yaml", capabilities=LOCAL)
    assert "no such file" in info.value.message
    assert "images.yaml.example" in info.value.hint
    assert not isinstance(info.value, SpecError)


def test_load_spec_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError, match="is a directory"):
        load_spec(tmp_path, capabilities=LOCAL)


def test_load_spec_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "images.yaml"
    path.write_bytes(_doc(images=_image()))
    state = load_spec(path, capabilities=LOCAL)
    assert state.path == str(path)
    assert [i.name for i in state.images] == ["web-base-2026-11"]
    assert state.images[0].line == 5


def test_parse_spec_raises_spec_error_with_every_error() -> None:
    data = _doc(images=_image(tpye="vm") + _image("WEB-BASE-2026-11"))
    with pytest.raises(SpecError) as info:
        parse_spec(data, "f", capabilities=LOCAL)
    summaries = [d.summary for d in info.value.diagnostics()]
    assert summaries == ["unknown field 'tpye'", "duplicate image name 'WEB-BASE-2026-11' (first declared on line 5)"]


def test_warnings_do_not_block() -> None:
    state, diags = check_spec(
        _doc(images=_image(source="{vm: a, storage_account: acct01}")), "f", capabilities=LOCAL
    )
    assert state is not None
    assert [d.severity for d in diags] == [Severity.WARNING]


# --------------------------------------------------------------------------------------------------
# dump_spec round trip


ROUNDTRIP = Capabilities(
    provider="azure",
    mutable_fields=frozenset(),
    specialized_types=frozenset({ImageType.VM}),
    generalize=True,
    vhd_source=True,
    image_fields=CAPS["gallery"].image_fields,
    settings=CAPS["gallery"].settings,
)

# What the file accepts (docs/file-format.md, "Characters a reviewer cannot see"): names, keys and
# other identifiers hold printable characters only; free text (label, tag values) also tabs and
# invisible formatting characters (a warning), a description also line breaks; no bidi control anywhere.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_printable = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"), include_characters=" ")
_free = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters=_BIDI, include_characters="\t")
_text = st.text(_free, max_size=30)
_description = st.text(_free | st.sampled_from("\n\r"), max_size=30)
_word = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z")
_extra = st.fixed_dictionaries(
    {},
    optional={
        "end_of_life_date": st.dates().map(lambda d: d.isoformat()),
        "exclude_from_latest": st.booleans(),
        "replica_count": st.integers(1, 10),
        "target_regions": st.lists(
            st.fixed_dictionaries(
                {"name": st.text(_printable, min_size=1, max_size=10)}, optional={"replicas": st.integers(1, 5)}
            ),
            min_size=1,
            max_size=3,
        ),
    },
)


@st.composite
def _specs(draw: st.DrawFn, name: str) -> ImageSpec:
    itype = draw(st.sampled_from(ImageType))
    state = OSState.GENERALIZED if itype is ImageType.OS else draw(st.sampled_from(OSState))
    if draw(st.booleans()):
        source = Source(
            vm=draw(st.text(_printable, min_size=1, max_size=64)),
            generalize=state is OSState.GENERALIZED and draw(st.booleans()),
        )
    else:
        source = Source(
            vhd="https://acct.blob.core.windows.net/" + draw(st.from_regex(r"\A[a-z0-9/._-]{1,20}\Z")),
            storage_account=draw(st.none() | st.from_regex(r"\A[a-z0-9]{3,24}\Z")),
        )
    return ImageSpec(
        name=name,
        type=itype,
        os=draw(st.sampled_from(["linux", "windows"])),
        os_state=state,
        source=source,
        family=draw(st.none() | st.text(_printable, min_size=1, max_size=20)),
        label=draw(st.none() | _text),
        description=draw(st.none() | _description),
        recommended_vm_size=draw(st.none() | st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,20}\Z")),
        tags=draw(st.dictionaries(st.text(_printable, min_size=1, max_size=10), _text, max_size=3)),
        protect=draw(st.booleans()),
        extra=draw(_extra),
    )


@st.composite
def _states(draw: st.DrawFn) -> tuple[CatalogConfig, Policy, list[ImageSpec]]:
    names = draw(st.lists(_word, unique_by=str.casefold, max_size=5))
    images = [draw(_specs(n)) for n in names]
    families = sorted({i.family for i in images if i.family})
    catalog = CatalogConfig(
        name=draw(st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z")),
        provider="azure",
        settings=draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "subscription": st.uuids().map(str),
                    "location": st.sampled_from(["westeurope", "2026-11-26", "yes", "1.10"]),
                    "timeout": st.integers(1, 3600) | st.floats(0.1, 1e6),
                },
            )
        ),
    )
    policy = Policy(
        prune=draw(st.booleans()),
        retention=draw(st.dictionaries(st.sampled_from(families), st.integers(1, 9))) if families else {},
    )
    return catalog, policy, images


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_states())
def test_dump_spec_round_trips_through_parse_spec(state: tuple[CatalogConfig, Policy, list[ImageSpec]]) -> None:
    catalog, policy, images = state
    text = dump_spec(catalog, policy, images)
    parsed = parse_spec(text.encode("utf-8"), "export.yaml", capabilities=ROUNDTRIP)
    assert list(parsed.images) == images
    assert parsed.catalog == catalog
    assert parsed.policy == policy


def test_dump_spec_of_the_example_reads_back_equal() -> None:
    state = load_spec(ROOT / "images.yaml.example", capabilities=LOCAL)
    text = dump_spec(state.catalog, state.policy, state.images)
    again = parse_spec(text.encode(), "export.yaml", capabilities=LOCAL)
    assert again.images == state.images and again.catalog == state.catalog and again.policy == state.policy
    assert "os_state" not in text.split("win-base-2026-09")[1]  # implied for an OS image


# --------------------------------------------------------------------------------------------------
# Speed


def test_ten_thousand_images_parse_and_validate() -> None:
    """About 120,000 lines: every image, with its line. Speed is measured by benchmarks/bench.py."""
    parts = ["version: 1\ncatalog:\n  name: platform\n  path: c.db\npolicy:\n  prune: true\nimages:\n"]
    for i in range(10_000):
        parts.append(
            f"  - name: web-base-{i}\n    type: vm\n    os: linux\n    os_state: generalized\n"
            f"    family: web-base\n    label: Web base {i}\n    description: nginx + hardening baseline\n"
            f"    recommended_vm_size: Standard_D2s_v5\n    source:\n      vm: build-web-{i}\n"
            f"    tags:\n      team: web\n    protect: true\n"
        )
    data = "".join(parts).encode()
    assert data.count(b"\n") > 120_000
    state, diags = check_spec(data, "big.yaml", capabilities=LOCAL)
    assert state is not None and diags == []
    assert len(state.images) == 10_000 and state.images[-1].line == 8 + 13 * 9_999


def test_pure_python_parser_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml the fallback parser must give the same data, positions and messages."""
    fixtures = sorted((ROOT / "tests" / "fixtures" / "specs").glob("*/*.yaml")) + [ROOT / "images.yaml.example"]

    def outcome(p: Path) -> tuple[Any, list[tuple[Any, ...]]]:
        state, diags = check_spec(p.read_bytes(), p.name, capabilities=CAPS["gallery"])
        # The two parsers word syntax errors differently; their positions must agree.
        return state, [
            (d.severity, d.location, "syntax" if d.summary.startswith("YAML syntax") else d.summary) for d in diags
        ]

    with_c = {p.name: outcome(p) for p in fixtures}

    class PurePython(yaml.SafeLoader):
        pass

    PurePython.yaml_implicit_resolvers = reader._NoTimestampLoader.yaml_implicit_resolvers
    monkeypatch.setattr(reader, "_NoTimestampLoader", PurePython)
    for p in fixtures:
        assert outcome(p) == with_c[p.name], p.name


@pytest.mark.parametrize("data", [b"", b"\n\n", b"   \n", b"---\n", b"~\n", b"# nothing\n"])
def test_empty_files(data: bytes) -> None:
    assert _errors(data) == [(1, 1, "$", "the file is empty")]


def test_crlf_line_endings_read_the_same() -> None:
    lf = (ROOT / "images.yaml.example").read_bytes()
    crlf = lf.replace(b"\n", b"\r\n")
    a = parse_spec(lf, "a", capabilities=LOCAL)
    b = parse_spec(crlf, "a", capabilities=LOCAL)
    assert a.images == b.images and [i.line for i in a.images] == [i.line for i in b.images]
    assert a.digest != b.digest  # the digest is of the bytes, not of the meaning


@pytest.mark.parametrize(
    ("provider", "settings"),
    [("local", {}), ("azure", {}), ("azure", {"gallery": "shared_images"}), ("azure-classic", {})],
)
def test_schema_knows_every_setting_and_image_field_of_the_real_providers(
    provider: str, settings: dict[str, str]
) -> None:
    """The schema is the union of what providers accept; the semantic check narrows it per provider."""
    from reconciler.providers import capabilities_for

    try:
        caps = capabilities_for(provider, settings)
    except ReconcilerError as e:  # an optional extra not installed here
        pytest.skip(str(e))
    schema = load_schema()
    assert set(caps.settings) <= set(schema["$defs"]["catalog"]["properties"]) - {"name", "provider"}
    assert set(caps.image_fields) <= set(schema["$defs"]["image"]["properties"])


def test_example_file_is_valid_against_the_real_local_provider() -> None:
    state, diags = check_spec((ROOT / "images.yaml.example").read_bytes(), "images.yaml.example")
    if state is None and any(d.code == "provider" for d in diags):
        pytest.skip("local provider not importable")
    assert diags == [] and state is not None
    assert state.catalog.settings == {"path": ".reconciler/catalog.db"}


# --------------------------------------------------------------------------------------------------
# The package's own layering


def _project_and_external_imports(path: Path) -> tuple[set[str], set[str]]:
    import ast

    project, external = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            project.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.ImportFrom) and node.module:
            external.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            external |= {a.name.split(".")[0] for a in node.names}
    return project, external


def test_spec_modules_keep_to_their_step() -> None:
    """One reader of YAML (and the dumper), one user of jsonschema-rs, positions below everything."""
    pkg = ROOT / "reconciler" / "spec"
    uses: dict[str, tuple[set[str], set[str]]] = {p.stem: _project_and_external_imports(p) for p in pkg.glob("*.py")}
    assert {m for m, (_, ext) in uses.items() if "yaml" in ext} == {"reader", "build"}
    assert {m for m, (_, ext) in uses.items() if "jsonschema_rs" in ext} == {"schema"}
    assert uses["positions"][0] == {"..errors"}
    assert uses["messages"][0] <= {"..errors", ".positions"}
    seed_project, _ = _project_and_external_imports(ROOT / "reconciler" / "seed.py")
    assert {".spec.positions", ".spec.messages"} <= seed_project  # seed shares them rather than copying
