"""Unit tests of the catalog seed format (``reconciler.seed``): parsing, messages, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import SpecError
from reconciler.model import VM, Category, Image, ImageType, OSState, PowerState, Snapshot, Source
from reconciler.seed import parse_seed, seed_schema, seed_to_dict

ROOT = Path(__file__).resolve().parents[2]


def _errors(text: str) -> list:
    with pytest.raises(SpecError) as e:
        parse_seed(text.encode(), "seed.json")
    return e.value.diagnostics()


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(seed_schema())
    assert seed_schema()["additionalProperties"] is False


def test_demo_catalog_matches_the_demo_story() -> None:
    snap = parse_seed((ROOT / "examples" / "demo-catalog.json").read_bytes(), "demo-catalog.json")
    images = snap.image_index()
    vms = snap.vm_index()
    assert set(vms) == {"build-web-01", "build-db-01", "build-win-01", "build-spare-01"}
    assert (vms["build-web-01"].power_state, vms["build-web-01"].os_state) == (
        PowerState.STOPPED,
        OSState.GENERALIZED,
    )
    assert len(vms["build-web-01"].data_disks) == 1
    assert (vms["build-db-01"].power_state, vms["build-db-01"].os_state) == (
        PowerState.STOPPED,
        OSState.SPECIALIZED,
    )
    assert len(vms["build-db-01"].data_disks) == 2
    assert vms["build-win-01"].power_state is PowerState.DEALLOCATED
    assert vms["build-spare-01"].power_state is PowerState.RUNNING

    db = images["db-base-2026-10"]
    assert db.label == "DB base, Oct 2026"
    assert dict(db.tags) == {"team": "data", "cost-center": "42"}
    assert (db.type, db.os_state, db.data_disks, db.owner) == (ImageType.VM, OSState.SPECIALIZED, 2, "platform")
    assert db.source == Source(vm="build-db-01")
    win = images["win-base-2026-09"]
    assert win.protected and win.description is None and win.recommended_vm_size is None
    assert images["web-base-2026-08"].source == Source(vm="build-web-00")
    assert images["legacy-tools"].owner is None and images["legacy-tools"].category is Category.USER
    public = {i.name for i in snap.images if i.category is Category.PUBLIC}
    assert public == {"Ubuntu-24_04-LTS", "WindowsServer-2025"}
    assert all(i.owner is None for i in snap.images if i.category is Category.PUBLIC)


def test_optional_fields_default() -> None:
    snap = parse_seed(
        b'{"vms": [{"name": "v", "os": "linux", "power_state": "stopped"}],'
        b' "images": [{"name": "i", "type": "os", "os": "linux"}]}',
        "s.json",
    )
    assert snap.vms == (VM(name="v", os="linux", power_state=PowerState.STOPPED, os_disk="v-osdisk"),)
    assert snap.images == (Image(name="i", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED),)
    assert parse_seed(b"{}", "empty.json") == Snapshot()


def test_results_are_sorted_case_insensitively() -> None:
    snap = parse_seed(
        json.dumps({"images": [{"name": n, "type": "os", "os": "linux"} for n in ("b", "C", "a")]}).encode(),
        "s.json",
    )
    assert [i.name for i in snap.images] == ["a", "b", "C"]


def test_json_syntax_error_points_at_line_and_column() -> None:
    [d] = _errors('{\n  "vms": [\n    {"name": "a",}\n  ]\n}')
    assert d.location.file == "seed.json"
    assert (d.location.line, d.location.col) == (3, 18)
    assert "invalid JSON" in d.summary


def test_unknown_field_points_at_the_key() -> None:
    text = '{\n  "images": [\n    {"name": "a", "type": "os",\n     "os": "linux", "lable": "x"}\n  ]\n}'
    [d] = _errors(text)
    assert "lable" in d.summary
    assert (d.location.line, d.location.col) == (4, 21)
    assert d.location.json_path == "$.images[0].lable"
    assert "spelling" in d.hint


def test_bad_enum_value_names_the_choices() -> None:
    [d] = _errors('{"vms": [{"name": "a", "os": "linux", "power_state": "asleep"}]}')
    assert d.location.json_path == "$.vms[0].power_state"
    assert "running" in d.hint and "deallocated" in d.hint


def test_missing_required_field_points_at_its_object() -> None:
    [d] = _errors('{"images": [\n  {"name": "a", "os": "linux"}\n]}')
    assert "'type' is a required property" in d.summary
    assert (d.location.line, d.location.col) == (2, 3)


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        ({"name": "a", "type": "vm", "os": "linux"}, "os_state"),
        ({"name": "a", "type": "os", "os": "linux", "os_state": "specialized"}, "generalized"),
        ({"name": "a", "type": "os", "os": "linux", "data_disks": 2}, "0"),
        ({"name": "a", "type": "os", "os": "linux", "category": "public", "owner": "me"}, "None"),
        ({"name": "a", "type": "os", "os": "linux", "source": {"vm": "x", "vhd": "y"}}, ""),
        ({"name": "a", "type": "os", "os": "linux", "source": {}}, ""),
        ({"name": "bad name!", "type": "os", "os": "linux"}, "does not match"),
        ({"name": "a", "type": "os", "os": "linux", "tags": {"n": 1}}, "not of type 'string'"),
    ],
)
def test_invalid_images_are_refused(image: dict, needle: str) -> None:
    diags = _errors(json.dumps({"images": [image]}))
    assert diags
    assert any(needle in d.summary for d in diags), [d.summary for d in diags]
    assert all(d.location.json_path.startswith("$.images[0]") for d in diags)


def test_duplicate_names_compare_case_insensitively() -> None:
    text = json.dumps(
        {
            "vms": [
                {"name": "Build-01", "os": "linux", "power_state": "stopped"},
                {"name": "build-01", "os": "linux", "power_state": "running"},
            ],
            "images": [
                {"name": "web", "type": "os", "os": "linux"},
                {"name": "WEB", "type": "os", "os": "linux"},
            ],
        },
        indent=1,
    )
    diags = _errors(text)
    assert [d.code for d in diags] == ["seed-duplicate", "seed-duplicate"]
    assert "build-01" in diags[0].summary and "Build-01" in diags[0].summary
    assert diags[1].location.json_path == "$.images[1].name"
    assert diags[0].location.line < diags[1].location.line


def test_duplicate_json_keys_are_refused() -> None:
    [d] = _errors('{"images": [{"name": "a", "type": "os", "os": "linux", "name": "b"}]}')
    assert d.code == "seed-duplicate-key"
    assert d.location.json_path == "$.images[0].name"
    assert d.location.col == 56


def test_created_must_be_iso_8601() -> None:
    [d] = _errors('{"images": [{"name": "a", "type": "os", "os": "linux", "created": "last tuesday"}]}')
    assert d.location.json_path == "$.images[0].created"
    for good in ("2026-10-02T08:00:00Z", "2026-10-02", "2026-10-02T08:00:00.5+02:00"):
        parse_seed(json.dumps({"images": [{"name": "a", "type": "os", "os": "linux", "created": good}]}).encode(), "s")


def test_every_error_is_reported_sorted_by_line() -> None:
    text = (
        '{"vms": [\n'
        '  {"name": "v", "os": "beos", "power_state": "stopped"},\n'
        '  {"name": "w", "os": "linux"}\n'
        '], "images": [\n'
        '  {"name": "i", "type": "floppy", "os": "linux"}\n'
        "]}"
    )
    diags = _errors(text)
    assert [d.location.line for d in diags] == [2, 3, 5]


def test_non_utf8_bytes_are_a_spec_error() -> None:
    with pytest.raises(SpecError) as e:
        parse_seed(b'{"vms": "\xff"}', "bin.json")
    assert e.value.diagnostics()[0].code == "seed-encoding"


def test_a_utf8_bom_is_accepted() -> None:
    assert parse_seed(b"\xef\xbb\xbf{}", "bom.json") == Snapshot()


# --------------------------------------------------------------------------------------------------
# Round trip

_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
_text = st.none() | st.text(max_size=8)


@st.composite
def _images(draw: st.DrawFn) -> Image:
    type_ = draw(st.sampled_from(ImageType))
    public = draw(st.booleans())
    return Image(
        name=draw(_names),
        type=type_,
        os=draw(st.sampled_from(["linux", "windows"])),
        os_state=OSState.GENERALIZED if type_ is ImageType.OS else draw(st.sampled_from(OSState)),
        category=Category.PUBLIC if public else Category.USER,
        family=draw(_text),
        label=draw(_text),
        description=draw(_text),
        recommended_vm_size=draw(_text),
        tags=draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
        owner=None if public else draw(st.none() | st.sampled_from(["platform", "other"])),
        protected=False if public else draw(st.booleans()),
        source=draw(
            st.none() | st.builds(Source, vm=_names) | st.builds(Source, vhd=_names, storage_account=st.none() | _names)
        ),
        data_disks=0 if type_ is ImageType.OS else draw(st.integers(0, 8)),
        created=draw(st.sampled_from(["", "2026-10-02T08:00:00Z"])),
    )


_vms = st.builds(
    VM,
    name=_names,
    os=st.sampled_from(["linux", "windows"]),
    power_state=st.sampled_from(PowerState),
    os_state=st.sampled_from(OSState),
    os_disk=_names,
    data_disks=st.lists(_names, max_size=3).map(tuple),
)


def _unique(items: list) -> tuple:
    seen: dict[str, object] = {}
    for item in items:
        seen.setdefault(item.key, item)
    return tuple(sorted(seen.values(), key=lambda i: i.key))  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(st.lists(_images(), max_size=6), st.lists(_vms, max_size=4))
def test_seed_to_dict_round_trips(images: list[Image], vms: list[VM]) -> None:
    snap = Snapshot(images=_unique(images), vms=_unique(vms))
    as_dict = seed_to_dict(snap)
    jsonschema.Draft202012Validator(seed_schema()).validate(as_dict)
    assert parse_seed(json.dumps(as_dict).encode(), "rt.json") == snap


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"vms": ' + b"[" * 500 + b"]" * 500 + b"}"], ids=["100k", "500"])
def test_hostile_nesting_is_a_clear_error(data: bytes) -> None:
    # 100k levels exhaust the JSON decoder's recursion; 500 decode but would exhaust the schema validator's.
    with pytest.raises(SpecError) as e:
        parse_seed(data, "seed.json")
    assert [d.summary for d in e.value.diagnostics()] == ["the seed nests too deeply (more than 64 levels)"]
