"""The model codec: every model type round-trips through plain data; formats differ only as data."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_render_plans import _images, _specs, full_plan, plans

from reconciler.codec import NO_DEFAULT, OMIT, PLAIN, Codec, Shape, from_dict, to_dict
from reconciler.errors import Diagnostic, Location, Severity
from reconciler.model import (
    VM,
    Action,
    ApplyResult,
    CatalogConfig,
    Change,
    ChangeResult,
    DesiredState,
    FieldDiff,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Outcome,
    Plan,
    Policy,
    PowerState,
    SettingProblem,
    Snapshot,
    Source,
    image_from_spec,
    spec_from_image,
)
from reconciler.plandoc import PLAN_FORMAT, compact, plan_document, plan_from_document

SPEC = ImageSpec(
    name="web",
    type=ImageType.VM,
    os="linux",
    os_state=OSState.SPECIALIZED,
    source=Source(vm="vm-1", generalize=True),
    label="Web",
    tags={"team": "web"},
    protect=True,
    extra={"end_of_life_date": "2030-01-01", "regions": ["a", "b"]},
    line=7,
)
IMAGE = Image(
    name="web",
    type=ImageType.OS,
    os="linux",
    os_state=OSState.GENERALIZED,
    owner="prod",
    source=Source(vhd="https://x/y.vhd", storage_account="sa"),
    tags={"a": "b"},
    data_disks=2,
    id="images/web",
    fingerprint="etag-1",
)
VM_1 = VM(name="vm-1", os="linux", power_state=PowerState.STOPPED, data_disks=("d1", "d2"), fingerprint="f")
DIAG = Diagnostic.error("bad", "fix it", Location("images.yaml", 3, 5, "$.images[0]"), code="x")

EVERY_TYPE = [
    SPEC,
    IMAGE,
    VM_1,
    Source(vm="vm-1"),
    CatalogConfig(name="prod", provider="azure", settings={"subscription": "s", "nested": {"k": [1, 2]}}),
    Policy(prune=True, retention={"web": 3}),
    DesiredState(
        catalog=CatalogConfig(name="prod"), policy=Policy(), images=(SPEC, SPEC), digest="sha256:0", path="a.yaml"
    ),
    Snapshot(images=(IMAGE,), vms=(VM_1,)),
    FieldDiff("tags.team", None, {"deep": [1, None, "x"]}, forces_replace=True),
    DIAG,
    Diagnostic.warning("careful"),
    Location("f", 1, 2, "$"),
    SettingProblem("endpoint", "bad host", "use https"),
    Change(name="web", action=Action.REPLACE, reason="r", before=IMAGE, after=SPEC, errors=(DIAG,), steps=("a",)),
    full_plan(),
    ChangeResult(name="web", action=Action.CAPTURE, outcome=Outcome.FAILED, error="boom", seconds=1.5),
    ApplyResult(results=(ChangeResult(name="web", action=Action.NOOP, outcome=Outcome.DONE),)),
]


@pytest.mark.parametrize("obj", EVERY_TYPE, ids=lambda o: type(o).__name__)
def test_every_model_type_round_trips_through_json(obj: Any) -> None:
    data = json.loads(json.dumps(to_dict(obj), allow_nan=False))
    back = from_dict(type(obj), data)
    assert back == obj
    assert to_dict(back) == data
    if isinstance(obj, ImageSpec):
        assert back.line == obj.line  # compare=False fields travel too


def test_enums_by_value_tuples_as_lists_nested_dataclasses_as_objects() -> None:
    d = to_dict(SPEC)
    assert d["type"] == "vm" and d["os_state"] == "specialized"
    assert d["source"] == {"vm": "vm-1", "vhd": None, "generalize": True, "storage_account": None, "image": None,
                           "snapshot": None, "disk": None, "data_snapshots": [], "deprovision": False,
                           "sysprepped": False}
    assert to_dict(VM_1)["data_disks"] == ["d1", "d2"]
    assert isinstance(from_dict(VM, to_dict(VM_1)).data_disks, tuple)
    assert to_dict(IMAGE)["source"]["vhd"] == "https://x/y.vhd"
    assert to_dict(Image(name="a", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED))["source"] is None


def test_keys_follow_declaration_order() -> None:
    assert list(to_dict(DIAG)) == ["severity", "summary", "hint", "location", "code"]
    assert PLAIN.keys(Location) == ("file", "line", "col", "json_path")


def test_any_values_pass_through_untouched() -> None:
    value = {"k": (1, 2)}
    d = to_dict(FieldDiff("p", value, None))
    assert d["before"] is value


def test_an_unknown_enum_value_is_refused() -> None:
    d = to_dict(SPEC) | {"type": "disk"}
    with pytest.raises(ValueError):
        from_dict(ImageSpec, d)


def test_an_enum_written_by_another_attribute() -> None:
    codec = Codec(enums={Action: "word"})
    change = Change(name="a", action=Action.REPLACE, reason="r")
    d = codec.to_dict(change)
    assert d["action"] == "replace"
    assert codec.from_dict(Change, d) == change
    with pytest.raises(ValueError, match="unknown action 'explode'"):
        codec.from_dict(Change, d | {"action": "explode"})


def test_unknown_keys_are_refused_where_the_format_is_strict() -> None:
    with pytest.raises(ValueError, match="unknown keys extra_1, extra_2"):
        from_dict(Location, {"file": "f", "extra_1": 1, "extra_2": 2})
    lenient = Codec({Location: Shape(strict=False)})
    assert lenient.from_dict(Location, {"file": "f", "other": 1}) == Location("f")


def test_a_missing_key_takes_the_default_or_is_refused() -> None:
    assert from_dict(Location, {}) == Location()
    with pytest.raises(KeyError, match="summary"):
        from_dict(Diagnostic, {"severity": "error"})


def test_wrong_kinds_of_data_are_refused() -> None:
    with pytest.raises(TypeError):
        from_dict(Location, ["f"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_dict(VM, to_dict(VM_1) | {"data_disks": "d1"})
    with pytest.raises(TypeError):
        from_dict(ImageSpec, to_dict(SPEC) | {"tags": ["a"]})


def test_overrides_win_over_the_data() -> None:
    back = from_dict(Image, to_dict(IMAGE) | {"id": "ignored"}, id="images/other")
    assert back.id == "images/other"


# --------------------------------------------------------------------------------------------------
# Shapes


@dataclass(frozen=True)
class _Thing:
    name: str
    kind: str = "plain"
    source: Source | None = None
    flags: tuple[str, ...] = ()
    rest: dict[str, Any] = field(default_factory=dict)


def test_keys_select_and_order_rename_and_compute() -> None:
    codec = Codec(
        {
            _Thing: Shape(
                keys=("kind", "upper", "name"),
                rename={"name": "title"},
                computed={"upper": lambda t: t.name.upper() if t.name else OMIT},
            )
        }
    )
    assert list(codec.to_dict(_Thing("a", "b"))) == ["kind", "upper", "title"]
    assert "upper" not in codec.to_dict(_Thing("", "b"))
    # computed keys are accepted and ignored on read; fields not listed take their defaults
    assert codec.from_dict(_Thing, {"kind": "b", "upper": "X", "title": "a"}) == _Thing("a", "b")
    assert codec.keys(_Thing) == ("kind", "upper", "title")


def test_omitted_defaults_and_format_defaults() -> None:
    codec = Codec(
        {
            _Thing: Shape(
                omit_defaults=True,
                defaults={"kind": lambda d: "special" if d.get("name") == "s" else NO_DEFAULT},
            ),
            Source: Shape(omit_defaults=frozenset({"vhd", "storage_account", "image", "snapshot", "disk",
                                                   "data_snapshots", "deprovision", "sysprepped"})),
        }
    )
    assert codec.to_dict(_Thing("a")) == {"name": "a", "kind": "plain"}  # "plain" is no default of this format
    assert codec.to_dict(_Thing("s", "special")) == {"name": "s"}
    assert codec.from_dict(_Thing, {"name": "s"}).kind == "special"
    assert codec.from_dict(_Thing, {"name": "a"}).kind == "plain"
    assert codec.to_dict(_Thing("a", source=Source(vm="v")))["source"] == {"vm": "v", "generalize": False}
    # 0 is not False: a default is left out only when it is the same plain value
    assert Codec({FieldDiff: Shape(omit_defaults=True)}).to_dict(FieldDiff("p", 0, 0, False)) == {
        "path": "p",
        "before": 0,
        "after": 0,
    }


def test_flatten_convert_and_rest() -> None:
    codec = Codec(
        {
            _Thing: Shape(
                flatten={"source": "src_"}, convert={"flags": (",".join, lambda s: s.split(","))}, rest="rest"
            ),
            Source: Shape(keys=("vm", "vhd")),
        }
    )
    thing = _Thing("a", source=Source(vm="v"), flags=("x", "y"), rest={"zone": 1})
    d = codec.to_dict(thing)
    assert d == {"name": "a", "kind": "plain", "src_vm": "v", "src_vhd": None, "flags": "x,y", "zone": 1}
    assert codec.from_dict(_Thing, d) == thing
    empty = codec.to_dict(_Thing("b", flags=("z",)))
    assert empty["src_vm"] is None and codec.from_dict(_Thing, empty).source is None
    assert codec.keys(_Thing) == ("name", "kind", "src_vm", "src_vhd", "flags")


# --------------------------------------------------------------------------------------------------
# The formats that use it


def test_plan_document_round_trip_and_layout() -> None:
    plan = full_plan()
    doc = plan_document(plan)
    assert plan_from_document(json.loads(json.dumps(doc))) == compact(plan)  # unchanged images: names
    assert list(doc)[:3] == ["format_version", "reconciler_version", "catalog"]
    replace = next(c for c in doc["resource_changes"] if c["action"] == "replace")
    assert list(replace)[:6] == ["name", "family", "action", "actions", "symbol", "reason"]
    assert list(replace)[-1] == "replace_paths"
    assert all("replace_paths" not in c for c in doc["resource_changes"] if c["action"] != "replace")


@settings(max_examples=100, deadline=None)
@given(plans)
def test_plan_format_round_trip_property(plan: Plan) -> None:
    doc = json.loads(json.dumps(PLAN_FORMAT.to_dict(plan)))
    assert plan_from_document(doc) == plan


@settings(max_examples=100, deadline=None)
@given(_images)
def test_image_round_trip_property(image: Image) -> None:
    assert from_dict(Image, json.loads(json.dumps(to_dict(image)))) == image


@settings(max_examples=100, deadline=None)
@given(_specs, st.sampled_from(["prod", None]))
def test_spec_and_image_share_their_fields(spec: ImageSpec, owner: str | None) -> None:
    image = image_from_spec(spec, owner=owner, source=spec.source)
    assert (image.label, image.tags, image.protected, image.extra, image.owner) == (
        spec.label,
        spec.tags,
        spec.protect,
        spec.extra,
        owner,
    )
    src = spec.source
    assert spec_from_image(image) == dataclasses.replace(spec, source=dataclasses.replace(src, generalize=False))


def test_spec_from_image_without_source() -> None:
    spec = spec_from_image(Image(name="a", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED))
    assert spec.source == Source(vm="unknown")


def test_severity_enum_by_value() -> None:
    assert to_dict(Diagnostic.warning("w"))["severity"] == "warning"
    assert from_dict(Diagnostic, {"severity": "warning", "summary": "w"}).severity is Severity.WARNING


def test_exclude_leaves_fields_out_in_declaration_order() -> None:
    codec = Codec({VM: Shape(exclude=frozenset({"id", "fingerprint"}))})
    assert codec.keys(VM) == ("name", "os", "power_state", "os_state", "os_disk", "data_disks", "facts", "image",
                              "disk_gib")
    codec = Codec({VM: Shape(exclude=frozenset({"id", "fingerprint", "facts"}))})
    assert codec.keys(VM) == ("name", "os", "power_state", "os_state", "os_disk", "data_disks", "image", "disk_gib")
    back = codec.from_dict(VM, codec.to_dict(VM_1))
    assert back == dataclasses.replace(VM_1, fingerprint="")
    with pytest.raises(ValueError, match="unknown key fingerprint"):
        codec.from_dict(VM, {**codec.to_dict(VM_1), "fingerprint": "f"})
