"""Table-driven tests of the model codec's rules (reconciler/codec.py), one per behaviour (issue 15).

Every test builds its own ``Codec``, so the converters are compiled inside the test, not taken from a
cache filled by an earlier one; a few build their classes inside the test too, for the hints cache.
The last test pins the source the codec generates for each kind of shape, as a golden file
(``tests/fixtures/golden/codec-source.txt``): the fast paths are what the codec is for, and a change
to them is reviewed as a diff. docs/testing.md lists the mutants of codec.py left and why.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, make_dataclass, replace
from enum import Enum
from types import MappingProxyType
from typing import Any

import pytest
from test_render_plans import check_golden

from reconciler import codec as codec_module
from reconciler.codec import NO_DEFAULT, OMIT, Codec, Shape


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Size(Enum):
    S = 1
    M = 2


class Mixed(Enum):
    ONE = 1
    TWO = "two"


class Ratio(Enum):
    """Values neither str nor int: read through the enum itself, not a table."""

    HALF = 0.5
    FULL = 1.0


class Verb(Enum):
    """Written by ``code``, which two members share: reading the code gives the first of them."""

    CREATE = "create"
    MAKE = "make"
    DROP = "drop"

    @property
    def code(self) -> str:
        return "d" if self is Verb.DROP else "c"


@dataclass(frozen=True)
class Point:
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class Point3(Point):
    z: int = 0


@dataclass(frozen=True)
class Empty:
    pass


@dataclass(frozen=True)
class Row:
    name: str
    colour: Colour = Colour.RED
    size: Size | None = None
    tags: tuple[str, ...] = ()
    colours: tuple[Colour, ...] = ()
    pair: tuple[int, str] | None = None
    items: list[Colour] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    by_name: Mapping[str, Colour] = field(default_factory=dict)
    point: Point | None = None
    anything: Any = None


@dataclass(frozen=True)
class Loose:
    """Hints with no fast path: every value goes through ``_encode`` by what it is."""

    value: object = None
    bare: tuple = ()  # type: ignore[type-arg]
    anys: tuple[Any, ...] = ()
    colours: tuple[Colour, ...] = ()
    mapping: Mapping[str, Any] = field(default_factory=dict)
    by_name: Mapping[str, Colour] = field(default_factory=dict)


@dataclass(frozen=True)
class Card:
    name: str
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    colour: Colour = Colour.RED
    count: int = 0
    point: Point | None = None
    note: str | None = None


@dataclass(frozen=True)
class Holder:
    name: str
    point: Point | None = None
    size: Size = Size.S
    others: dict[str, Colour] = field(default_factory=dict)


@dataclass(frozen=True)
class Pinned:
    point: Point
    name: str = ""


@dataclass(frozen=True)
class Typed:
    name: str
    note: str | None
    n: int
    ratio: float
    on: bool
    colour: Colour
    size: Size | None
    tags: tuple[str, ...]
    colours: tuple[Colour, ...]
    pair: tuple[int, str]
    items: list[Colour]
    labels: dict[str, str]
    by_name: Mapping[str, Colour]
    point: Point
    anything: Any


@dataclass(frozen=True)
class Tagged:
    name: str
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outer:
    inner: Tagged | None
    n: int = 0


class ColourStr(str):
    pass


class Ints(tuple):  # type: ignore[type-arg]
    pass


TYPED = Typed(
    "e", None, 1, 0.5, True, Colour.BLUE, Size.S, ("a",), (Colour.RED,), (1, 2), [Colour.RED], {"k": "v"},
    {"n": Colour.BLUE}, Point(1, 2), Colour.RED,
)  # fmt: skip
ROW = Row(
    name="r",
    colour=Colour.BLUE,
    size=Size.M,
    tags=("a", "b"),
    colours=(Colour.RED, Colour.BLUE),
    pair=(1, "x"),
    items=[Colour.BLUE],
    labels={"k": "v"},
    by_name={"n": Colour.RED},
    point=Point(1, 2),
    anything=(1, [2]),
)
ROW_DATA = {
    "name": "r",
    "colour": "blue",
    "size": 2,
    "tags": ["a", "b"],
    "colours": ["red", "blue"],
    "pair": [1, "x"],
    "items": ["blue"],
    "labels": {"k": "v"},
    "by_name": {"n": "red"},
    "point": {"x": 1, "y": 2},
    "anything": (1, [2]),
}


def spy_on_fallback(codec: Codec) -> list[Any]:
    """The values ``codec`` writes through its fallback ``_encode`` (set before the first compile,
    which binds it into the converters)."""
    calls: list[Any] = []
    real = codec._encode

    def spy(value: Any, hint: Any) -> Any:
        calls.append(value)
        return real(value, hint)

    codec._encode = spy  # type: ignore[method-assign]
    return calls


# --------------------------------------------------------------------------------------------------
# Writing: every kind of hint, and which values take the fast path


def test_every_kind_of_hint_is_written_as_plain_data_and_read_back() -> None:
    codec = Codec()
    d = codec.to_dict(ROW)
    assert d == ROW_DATA
    assert list(d) == list(ROW_DATA)  # declaration order
    assert d["anything"] is ROW.anything  # Any passes through untouched, tuples included
    back = codec.from_dict(Row, d)
    assert back == ROW
    assert (type(back.tags), type(back.colours), type(back.pair), type(back.items)) == (tuple, tuple, tuple, list)
    assert back.colours[0] is Colour.RED and back.size is Size.M and back.by_name["n"] is Colour.RED


def test_values_of_exactly_the_hinted_type_never_take_the_fallback() -> None:
    codec = Codec()
    calls = spy_on_fallback(codec)
    assert codec.to_dict(TYPED) == {
        "name": "e", "note": None, "n": 1, "ratio": 0.5, "on": True, "colour": "blue", "size": 1, "tags": ["a"],
        "colours": ["red"], "pair": [1, 2], "items": ["red"], "labels": {"k": "v"}, "by_name": {"n": "blue"},
        "point": {"x": 1, "y": 2}, "anything": Colour.RED,
    }  # fmt: skip
    assert calls == []
    assert codec.to_dict(Holder("h"))["point"] is None
    assert calls == [None]  # None of an optional nested object (or enum, or list): by what it is


FALLBACK = {
    # case: (field, value, what is written, the values the fallback is given)
    "a str subclass": ("name", ColourStr("s"), ColourStr("s"), ["s"]),  # written as it is
    "a list for a tuple": ("tags", ["a"], ["a"], []),
    "a tuple subclass": ("colours", Ints((Colour.BLUE,)), ["blue"], [(Colour.BLUE,), Colour.BLUE]),
    "a mapping that is not a dict": (
        "by_name",
        MappingProxyType({"n": Colour.BLUE}),
        {"n": "blue"},
        [{"n": Colour.BLUE}, Colour.BLUE],
    ),
    "a subclass of the nested dataclass": ("point", Point3(1, 2, 3), {"x": 1, "y": 2, "z": 3}, [Point3(1, 2, 3)]),
    "the second item of a pair": ("pair", (1, "x"), [1, "x"], ["x"]),  # items are tried as the first hint
    "None for a required field": ("name", None, None, [None]),
    "None for an optional enum": ("size", None, None, [None]),
    "an int for a float": ("ratio", 1, 1, [1]),
    "an int for a bool": ("on", 1, 1, [1]),
}


@pytest.mark.parametrize("case", FALLBACK)
def test_values_of_another_type_than_the_hint_take_the_fallback(case: str) -> None:
    name, value, written, given = FALLBACK[case]
    codec = Codec()
    calls = spy_on_fallback(codec)
    d = codec.to_dict(replace(TYPED, **{name: value}))
    assert d[name] == written and type(d[name]) is type(written)
    assert d == codec.to_dict(TYPED) | {name: written}
    assert calls == given


LOOSE = {
    # case: (the object, what is written)
    "an object hint holding a dataclass": (Loose(value=Point(1, 2)), {"value": {"x": 1, "y": 2}}),
    "an object hint holding an enum": (Loose(value=Colour.BLUE), {"value": "blue"}),
    "an object hint holding a tuple": (Loose(value=(Colour.RED, (1,))), {"value": [Colour.RED, (1,)]}),
    "an object hint holding a mapping": (Loose(value={"k": Colour.RED}), {"value": {"k": Colour.RED}}),
    "an object hint holding a class": (Loose(value=Point), {"value": Point}),
    "an object hint holding a string": (Loose(value="s"), {"value": "s"}),
    "a bare tuple hint": (Loose(bare=(Colour.RED,)), {"bare": [Colour.RED]}),
    "items of Any stay as they are": (Loose(anys=Ints((Colour.RED, (1,)))), {"anys": [Colour.RED, (1,)]}),
    "items of an enum hint are written": (Loose(colours=Ints((Colour.RED,))), {"colours": ["red"]}),
    "values of Any stay as they are": (Loose(mapping=MappingProxyType({"k": (1,)})), {"mapping": {"k": (1,)}}),
    "values of an enum hint are written": (
        Loose(by_name=MappingProxyType({"k": Colour.BLUE})),
        {"by_name": {"k": "blue"}},
    ),
}


@pytest.mark.parametrize("case", LOOSE)
def test_the_fallback_writes_a_value_by_what_it_is_and_its_items_by_the_hint(case: str) -> None:
    obj, expected = LOOSE[case]
    d = Codec().to_dict(obj)
    for key, value in expected.items():
        assert d[key] == value
        assert type(d[key]) is type(value)
        if isinstance(value, list | dict):
            items = value if isinstance(value, list) else list(value.values())
            got = d[key] if isinstance(d[key], list) else list(d[key].values())
            assert [type(i) for i in got] == [type(i) for i in items]


def test_enums_are_written_by_value_or_by_the_attribute_the_codec_names() -> None:
    plain, coded = Codec(), Codec(enums={Verb: "code"})
    assert plain.to_dict(Loose(value=Verb.MAKE))["value"] == "make"
    assert coded.to_dict(Loose(value=Verb.MAKE))["value"] == "c"  # the fallback
    assert coded.to_dict(Loose(colours=(Verb.DROP,)))["colours"] == ["d"]  # type: ignore[arg-type]

    @dataclass(frozen=True)
    class Step:
        verb: Verb
        then: Verb | None = None

    assert coded.to_dict(Step(Verb.MAKE, Verb.DROP)) == {"verb": "c", "then": "d"}
    assert plain.to_dict(Step(Verb.MAKE)) == {"verb": "make", "then": None}


# --------------------------------------------------------------------------------------------------
# Reading: every kind of hint, refusals and their messages


REFUSALS = {
    # case: (class, data, error type, message)
    "not an object": (Point, ["x"], TypeError, "Point: expected an object, got list"),
    "None for an object": (Point, None, TypeError, "Point: expected an object, got NoneType"),
    "None for a required nested object": (
        Pinned,
        {"point": None},
        TypeError,
        "Point: expected an object, got NoneType",
    ),
    "a string for a tuple": (
        Row,
        {"name": "r", "tags": "ab"},
        TypeError,
        "expected a list for tuple[str, ...], got str",
    ),
    "None for a tuple": (
        Row,
        {"name": "r", "tags": None},
        TypeError,
        "expected a list for tuple[str, ...], got NoneType",
    ),
    "a dict for a list": (
        Row,
        {"name": "r", "items": {}},
        TypeError,
        "expected a list for list[reconciler_colour], got dict",
    ),
    "a list for a dict": (
        Row,
        {"name": "r", "labels": []},
        TypeError,
        "expected an object for dict[str, str], got list",
    ),
    "a string for a mapping": (
        Row,
        {"name": "r", "by_name": "x"},
        TypeError,
        "expected an object for collections.abc.Mapping[str, reconciler_colour], got str",
    ),
    "a missing key": (Row, {}, KeyError, "'name'"),
    "an unknown key": (Point, {"x": 1, "w": 2}, ValueError, "Point: unknown key w"),
    "unknown keys, sorted, of any type": (Point, {3: 1, "w": 2, "a": 0}, ValueError, "Point: unknown keys 3, a, w"),
    "an unknown value": (Row, {"name": "r", "colour": "green"}, ValueError, "'green' is not a valid Colour"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_data_of_the_wrong_shape_is_refused_with_its_message(case: str) -> None:
    cls, data, error, message = REFUSALS[case]
    message = message.replace("reconciler_colour", f"{__name__}.Colour")
    with pytest.raises(error) as info:
        Codec().from_dict(cls, data)
    assert str(info.value) == message


def test_any_mapping_is_read_as_an_object() -> None:
    codec = Codec()
    assert codec.from_dict(Point, MappingProxyType({"x": 1})) == Point(1)
    row = codec.from_dict(Row, MappingProxyType({"name": "r", "labels": MappingProxyType({"k": "v"})}))
    assert row.labels == {"k": "v"} and type(row.labels) is dict


ENUMS = {
    # case: (enum, plain, member)
    "str values": (Colour, "blue", Colour.BLUE),
    "int values": (Size, 2, Size.M),
    "mixed values, int": (Mixed, 1, Mixed.ONE),
    "mixed values, str": (Mixed, "two", Mixed.TWO),
    "float values": (Ratio, 0.5, Ratio.HALF),
    "a str subclass": (Colour, ColourStr("red"), Colour.RED),
}


@pytest.mark.parametrize("case", ENUMS)
def test_enums_are_read_by_value(case: str) -> None:
    enum, plain, member = ENUMS[case]
    cls = make_dataclass("Holds", [("v", enum), ("o", enum | None, None), ("vs", tuple[enum, ...], ())])
    codec = Codec()
    back = codec.from_dict(cls, {"v": plain, "o": plain, "vs": [plain, plain]})
    assert (back.v, back.o, back.vs) == (member, member, (member, member))
    assert codec.from_dict(cls, {"v": plain, "o": None}).o is None
    assert codec.to_dict(back) == {"v": member.value, "o": member.value, "vs": [member.value] * 2}
    with pytest.raises(ValueError):
        codec.from_dict(cls, {"v": "nope"})


def test_an_enum_written_by_an_attribute_is_read_by_it_and_the_first_member_wins() -> None:
    codec = Codec(enums={Verb: "code"})
    cls = make_dataclass("Steps", [("v", Verb), ("vs", tuple[Verb, ...], ())])
    back = codec.from_dict(cls, {"v": "c", "vs": ["d", ColourStr("c")]})
    assert back.v is Verb.CREATE and back.vs == (Verb.DROP, Verb.CREATE)
    with pytest.raises(ValueError) as info:
        codec.from_dict(cls, {"v": "make"})
    assert str(info.value) == "unknown verb 'make'"
    with pytest.raises(ValueError) as info:
        codec.from_dict(cls, {"v": ColourStr("x")})
    assert str(info.value) == "unknown verb 'x'"


CONTAINERS = {
    # case: (hint, data, value read)
    "tuple of enums": (tuple[Colour, ...], ["red"], (Colour.RED,)),
    "tuple of pairs": (tuple[tuple[int, ...], ...], [[1, 2], (3,)], ((1, 2), (3,))),
    "pair: items as they are": (tuple[int, str], ["1", 2], ("1", 2)),
    "pair: enums as they are too": (tuple[Colour, int], ["red", 1], ("red", 1)),  # no model field is a pair
    "typing.Tuple": (typing.Tuple, ["a"], ("a",)),  # noqa: UP006
    "typing.List": (typing.List, ("a",), ["a"]),  # noqa: UP006
    "typing.Dict": (typing.Dict, MappingProxyType({"k": 1}), {"k": 1}),  # noqa: UP006
    "list of enums": (list[Colour], ("blue",), [Colour.BLUE]),
    "list of anything": (list, ("a",), ("a",)),  # type: ignore[type-arg]
    "dict of enums": (dict[str, Colour], {"k": "red"}, {"k": Colour.RED}),
    "dict of lists": (dict[str, list[int]], {"k": (1,)}, {"k": [1]}),
    "mapping of anything": (Mapping[str, Any], MappingProxyType({"k": [1]}), {"k": [1]}),
    "optional nested": (Point | None, {"x": 3}, Point(3)),
}


@pytest.mark.parametrize("case", CONTAINERS)
def test_containers_are_read_item_by_item_by_their_hints(case: str) -> None:
    hint, data, value = CONTAINERS[case]
    cls = make_dataclass("Box", [("v", hint)])
    got = Codec().from_dict(cls, {"v": data}).v
    assert got == value and type(got) is type(value)
    if isinstance(value, tuple | list) and value:
        assert [type(i) for i in got] == [type(i) for i in value]
    if isinstance(value, dict):
        assert [type(i) for i in got.values()] == [type(i) for i in value.values()]


def test_the_hints_of_a_new_class_are_read_the_first_time_it_is_used() -> None:
    @dataclass(frozen=True)
    class Fresh:
        colour: Colour
        size: Size | None = None
        derived: int = field(default=0, init=False)

    codec = Codec()
    assert codec.to_dict(Fresh(Colour.BLUE, Size.S)) == {"colour": "blue", "size": 1}
    assert codec.from_dict(Fresh, {"colour": "red"}) == Fresh(Colour.RED)
    assert codec.keys(Fresh) == ("colour", "size")


# --------------------------------------------------------------------------------------------------
# Shapes: keys, renames, computed keys, defaults, conversions, flattening, leftovers


def _upper(card: Card) -> Any:
    return card.name.upper() if card.name != "-" else OMIT


def _label_default(data: Mapping[str, Any]) -> Any:
    return data["name"].title() if data.get("name") != "-" else NO_DEFAULT


SHAPES = {
    # Every conditional key in the dict display: computed, static defaults, flattened, leftovers.
    "display": Shape(
        keys=("name", "upper", "label", "extra", "colour", "count", "point", "note"),
        computed={"upper": _upper},
        rename={"colour": "hue", "count": "n"},
        omit_defaults=frozenset({"label", "count", "note"}),
        defaults={"label": "none"},
        convert={"colour": (str.upper, str.lower)},
        flatten={"point": "p_"},
        rest="extra",
    ),
    # A default that depends on what is written so far: every key after it is written one by one.
    "after": Shape(
        keys=("name", "label", "upper", "extra", "colour", "count", "point", "note"),
        computed={"upper": _upper},
        rename={"colour": "hue", "count": "n"},
        omit_defaults=frozenset({"label", "count", "note"}),
        defaults={"label": _label_default},
        convert={"colour": (str.upper, str.lower)},
        flatten={"point": "p_"},
        rest="extra",
    ),
}
CARD = Card(name="ab", label="x", extra={"zone": 1, "tier": "b"}, colour=Colour.BLUE, count=3, point=Point(1, 2))

WRITTEN = {
    # case: (shape, card, what is written, in that order)
    "display, everything": (
        "display",
        CARD,
        {"name": "ab", "upper": "AB", "label": "x", "hue": "BLUE", "n": 3, "p_x": 1, "p_y": 2, "zone": 1, "tier": "b"},
    ),
    "display, defaults left out": (
        "display",
        Card(name="-", label="none", count=0, note=None),
        {"name": "-", "hue": "RED", "p_x": None, "p_y": None},
    ),
    "display, the format's default is left out": (
        "display",
        Card(name="a"),
        {"name": "a", "upper": "A", "label": "", "hue": "RED", "p_x": None, "p_y": None},
    ),
    "after, everything": (
        "after",
        CARD,
        {"name": "ab", "label": "x", "upper": "AB", "hue": "BLUE", "n": 3, "p_x": 1, "p_y": 2, "zone": 1, "tier": "b"},
    ),
    "after, defaults left out": (
        "after",
        Card(name="ab", label="Ab", note="n"),
        {"name": "ab", "upper": "AB", "hue": "RED", "p_x": None, "p_y": None, "note": "n"},
    ),
    "after, no default for that data": (
        "after",
        Card(name="-", label="-"),
        {"name": "-", "label": "-", "hue": "RED", "p_x": None, "p_y": None},
    ),
}


KEYS = {
    "display": ("name", "upper", "label", "hue", "n", "p_x", "p_y", "note"),
    "after": ("name", "label", "upper", "hue", "n", "p_x", "p_y", "note"),
}


@pytest.mark.parametrize("case", WRITTEN)
def test_a_shape_writes_its_keys_in_order_and_leaves_out_what_it_omits(case: str) -> None:
    shape, card, written = WRITTEN[case]
    codec = Codec({Card: SHAPES[shape]})
    d = codec.to_dict(card)
    assert list(d.items()) == list(written.items())
    assert codec.keys(Card) == KEYS[shape]


READ = {
    # case: (shape, data, the card read)
    "display, everything": (
        "display",
        {"name": "ab", "upper": "?", "label": "x", "hue": "BLUE", "n": 3, "p_x": 1, "p_y": 2, "zone": 1, "tier": "b"},
        CARD,
    ),
    "display, the format's default": ("display", {"name": "ab", "hue": "RED"}, Card(name="ab", label="none")),
    "after, a default from the data": (
        "after",
        {"name": "ab", "hue": "RED", "p_x": 1},
        Card("ab", "Ab", point=Point(1)),
    ),
    "after, the field's default": ("after", {"name": "-", "hue": "RED", "p_y": None}, Card("-")),
}


@pytest.mark.parametrize("case", READ)
def test_a_shape_reads_its_keys_back_and_leaves_the_rest_to_the_leftovers(case: str) -> None:
    shape, data, card = READ[case]
    assert Codec({Card: SHAPES[shape]}).from_dict(Card, data) == card


def test_a_callable_default_without_a_field_default_makes_the_key_required() -> None:
    codec = Codec({Pinned: Shape(defaults={"name": lambda d: "p" if "point" in d else NO_DEFAULT})})
    assert codec.from_dict(Pinned, {"point": {}}) == Pinned(Point(), "p")
    codec = Codec({Point: Shape(defaults={"x": lambda d: d["y"] * 2 if "y" in d else NO_DEFAULT})})
    assert codec.from_dict(Point, {"y": 2}) == Point(4, 2)
    assert codec.from_dict(Point, {}) == Point()  # the field's own default

    @dataclass(frozen=True)
    class Need:
        a: int
        b: int

    codec = Codec({Need: Shape(defaults={"a": lambda d: NO_DEFAULT}, convert={"b": (str, int)})})
    with pytest.raises(KeyError) as info:
        codec.from_dict(Need, {"b": "1"})
    assert info.value.args == ("a",)
    assert codec.from_dict(Need, {"a": 1, "b": "2"}) == Need(1, 2)
    assert codec.to_dict(Need(1, 2)) == {"a": 1, "b": "2"}


def test_each_default_that_depends_on_what_is_written_is_checked_in_turn() -> None:
    codec = Codec({Point: Shape(omit_defaults=True, defaults={"x": lambda d: 1, "y": lambda d: d.get("x", 1) + 1})})
    assert codec.to_dict(Point(1, 2)) == {}
    assert codec.to_dict(Point(0, 1)) == {"x": 0}
    assert codec.to_dict(Point(0, 5)) == {"x": 0, "y": 5}
    assert codec.to_dict(Point(1, 5)) == {"y": 5}
    assert codec.from_dict(Point, {"x": 4}) == Point(4, 5)  # reading: from the data read


def test_a_format_default_is_read_as_plain_data() -> None:
    codec = Codec({Holder: Shape(defaults={"size": 2, "others": lambda d: {"k": "red"}})})
    assert codec.from_dict(Holder, {"name": "h"}) == Holder("h", size=Size.M, others={"k": Colour.RED})
    assert codec.to_dict(Holder("h", size=Size.M)) == {"name": "h", "point": None, "size": 2, "others": {}}


OMITTED = {
    # case: (shape, object, what is written)
    "a default of the same type and value": (Shape(omit_defaults=True), Holder("h"), {"name": "h"}),
    "not the default": (Shape(omit_defaults=True), Holder("h", size=Size.M), {"name": "h", "size": 2}),
    "a required field that is None": (Shape(omit_defaults=True), Holder(None), {"name": None}),  # type: ignore[arg-type]
    "a format default, not omitting": (
        Shape(defaults={"size": 1}),
        Holder("h"),
        {"name": "h", "point": None, "size": 1, "others": {}},
    ),
    "only the fields named": (
        Shape(omit_defaults=frozenset({"point"})),
        Holder("h"),
        {"name": "h", "size": 1, "others": {}},
    ),
    "an Any default is compared as it is": (Shape(omit_defaults=True), Loose(mapping={"k": 1}), {"mapping": {"k": 1}}),
}


@pytest.mark.parametrize("case", OMITTED)
def test_omit_defaults_leaves_out_a_value_equal_to_its_default(case: str) -> None:
    shape, obj, written = OMITTED[case]
    assert Codec({type(obj): shape}).to_dict(obj) == written


def test_an_any_field_equal_to_its_tuple_default_is_left_out() -> None:
    @dataclass(frozen=True)
    class Anything:
        v: Any = (1, 2)
        n: int = 0

    codec = Codec({Anything: Shape(omit_defaults=True)})
    assert codec.to_dict(Anything()) == {}
    assert codec.to_dict(Anything([1, 2], 1)) == {"v": [1, 2], "n": 1}
    assert codec.to_dict(Anything(n=False)) == {"n": False}  # False is not the default 0


FLATTENED = {
    # case: (the nested shape, the holder, what is written)
    "the nested class itself": (None, Holder("h", Point(1, 2)), {"p_x": 1, "p_y": 2}),
    "a subclass, with its own keys": (None, Holder("h", Point3(1, 2, 3)), {"p_x": 1, "p_y": 2, "p_z": 3}),
    "None": (None, Holder("h"), {"p_x": None, "p_y": None}),
    "a nested shape that omits defaults": (Shape(omit_defaults=True), Holder("h", Point(0, 2)), {"p_y": 2}),
    "a nested shape with a computed key": (
        Shape(keys=("sum", "x", "y"), computed={"sum": lambda p: p.x + p.y or OMIT}),
        Holder("h", Point(0, 0)),
        {"p_x": 0, "p_y": 0},
    ),
}


@pytest.mark.parametrize("case", FLATTENED)
def test_a_flattened_object_is_written_inline_under_its_prefix(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    nested, holder, written = FLATTENED[case]
    prefixed: list[str] = []
    real = codec_module._prefixed

    def spy(prefix: str, data: Mapping[str, Any]) -> dict[str, Any]:
        prefixed.append(prefix)
        return real(prefix, data)

    monkeypatch.setattr(codec_module, "_prefixed", spy)  # bound into the writer when it is compiled
    shapes: dict[type, Shape] = {Holder: Shape(keys=("point", "name"), flatten={"point": "p_"})}
    if nested is not None:
        shapes[Point] = nested
    codec = Codec(shapes)
    assert codec.to_dict(holder) == written | {"name": "h"}
    assert list(codec.to_dict(holder))[-1] == "name"
    # the nested class itself, in a shape whose keys are always the same: zipped with the keys, no prefixing
    fixed = nested is None and type(holder.point) is Point
    assert prefixed == ([] if fixed or holder.point is None else ["p_", "p_"])


def test_a_flattened_object_with_leftovers_writes_them_under_the_prefix_too() -> None:
    codec = Codec({Outer: Shape(flatten={"inner": "i_"}), Tagged: Shape(rest="tags")})
    outer = Outer(Tagged("t", {"k": 1}), 2)
    assert codec.to_dict(outer) == {"i_name": "t", "i_k": 1, "n": 2}
    assert codec.keys(Outer) == ("i_name", "n")


UNFLATTENED = {
    # case: (data, the holder read)
    "every key": ({"name": "h", "p_x": 1, "p_y": 2}, Holder("h", Point(1, 2))),
    "some keys": ({"name": "h", "p_y": 2}, Holder("h", Point(0, 2))),
    "all null": ({"name": "h", "p_x": None, "p_y": None}, Holder("h")),
    "none of them": ({"name": "h"}, Holder("h")),
}


@pytest.mark.parametrize("case", UNFLATTENED)
def test_flattened_keys_are_read_back_and_all_null_is_none(case: str) -> None:
    data, holder = UNFLATTENED[case]
    codec = Codec({Holder: Shape(flatten={"point": "p_"})})
    assert codec.from_dict(Holder, data) == holder
    with pytest.raises(ValueError) as info:
        codec.from_dict(Holder, data | {"point": None})
    assert str(info.value) == "Holder: unknown key point"


def test_a_required_flattened_object_is_always_built() -> None:
    codec = Codec({Pinned: Shape(flatten={"point": "p_"})})
    assert codec.from_dict(Pinned, {"p_x": None, "name": "n"}) == Pinned(Point(None, 0), "n")  # type: ignore[arg-type]
    assert codec.from_dict(Pinned, {}) == Pinned(Point())
    assert codec.to_dict(Pinned(Point(1, 2), "n")) == {"p_x": 1, "p_y": 2, "name": "n"}

    @dataclass(frozen=True)
    class Marker:
        empty: Empty | None = None
        n: int = 0

    codec = Codec({Marker: Shape(flatten={"empty": "e_"})})
    assert codec.from_dict(Marker, {"n": 1}) == Marker(None, 1)
    assert codec.to_dict(Marker(Empty(), 1)) == {"n": 1}


def test_leftover_keys_go_into_the_rest_mapping_and_are_written_after_the_others() -> None:
    codec = Codec({Holder: Shape(rest="others", keys=("name", "others", "size"))})
    holder = codec.from_dict(Holder, {"name": "h", "size": 2, "a": "red", "b": "blue"})
    assert holder == Holder("h", size=Size.M, others={"a": "red", "b": "blue"})  # type: ignore[dict-item]
    assert list(holder.others) == ["a", "b"]  # leftovers are taken as they are, in order
    d = codec.to_dict(Holder("h", size=Size.M, others={"a": Colour.RED}))
    assert list(d.items()) == [("name", "h"), ("size", 2), ("a", "red")]
    assert codec.keys(Holder) == ("name", "size")


def test_a_lenient_shape_ignores_unknown_keys_and_a_strict_one_names_them() -> None:
    lenient = Codec({Point: Shape(strict=False)})
    assert lenient.from_dict(Point, {"x": 1, "w": 2}) == Point(1)
    strict = Codec({Point: Shape(exclude=frozenset({"y"}))})
    with pytest.raises(ValueError) as info:
        strict.from_dict(Point, {"x": 1, "y": 2})
    assert str(info.value) == "Point: unknown key y"
    assert strict.to_dict(Point(1, 2)) == {"x": 1}


# --------------------------------------------------------------------------------------------------
# Fields given to from_dict


GIVEN = {
    # case: (shape of Holder, data, fields given, the holder read)
    "a plain field": (Shape(), {"name": "data", "size": 2}, {"name": "given"}, Holder("given", size=Size.M)),
    "two fields": (Shape(), {"name": "d", "size": 2, "point": None}, {"name": "g", "size": Size.S}, Holder("g")),
    "a flattened field": (
        Shape(flatten={"point": "p_"}),
        {"name": "h", "p_x": 1, "size": 2},
        {"point": Point(5)},
        Holder("h", Point(5), Size.M),
    ),
    "the leftovers": (
        Shape(rest="others"),
        {"name": "h", "zz": 1, "size": 2},
        {"others": {"k": 1}},
        Holder("h", None, Size.M, {"k": 1}),
    ),
}


@pytest.mark.parametrize("case", GIVEN)
def test_fields_given_win_over_the_data_and_their_keys_are_not_unknown(case: str) -> None:
    shape, data, given, holder = GIVEN[case]
    codec = Codec({Holder: shape})
    assert codec.from_dict(Holder, data, **given) == holder
    assert codec.from_dict(Holder, data, **given) == holder  # the compiled reader, again


# --------------------------------------------------------------------------------------------------
# Caches and the generated functions


def test_each_class_is_compiled_once_per_codec_and_direction() -> None:
    codec = Codec()
    codec.to_dict(ROW)
    codec.from_dict(Point, {})
    writer, reader = codec._encoders[Row], codec._decoders[Point]
    codec.to_dict(ROW)
    codec.from_dict(Point, {"x": 1})
    assert codec._encoders[Row] is writer and codec._decoders[Point] is reader
    assert codec._encoders[Point] is not Codec()._encoders[Point]
    assert codec.keys(Row) is codec.keys(Row)


def test_each_generated_function_has_its_own_source_for_tracebacks() -> None:
    one, two = Codec({Point: Shape(keys=("x",))}), Codec({Point: Shape(keys=("y",))})
    one.to_dict(Point())
    two.to_dict(Point())
    f1, f2 = one._encoders[Point], two._encoders[Point]
    assert f1.__code__.co_filename != f2.__code__.co_filename
    assert re.fullmatch(r"<codec #\d+: to_dict Point>", f1.__code__.co_filename)
    assert "'x'" in inspect.getsource(f1) and "'y'" in inspect.getsource(f2)
    assert inspect.getsource(f1).endswith("return out\n")

    def boom(point: Point) -> Any:
        raise RuntimeError("boom")

    codec = Codec({Point: Shape(keys=("x", "b"), computed={"b": boom})})
    with pytest.raises(RuntimeError) as info:
        codec.to_dict(Point())
    frame = [f for f in info.traceback if "codec #" in str(f.path)][0]
    assert "_computed" in str(frame.statement)


GOLDEN_SHAPES = {
    # label: (codec, class, fields given to from_dict)
    "plain": (lambda: Codec(), Row, ()),
    "an enum by attribute, mixed enums, floats": (
        lambda: Codec(enums={Verb: "code"}),
        make_dataclass("Enums", [("verb", Verb), ("mixed", Mixed | None, None), ("ratio", Ratio, Ratio.HALF)]),
        (),
    ),
    "display": (lambda: Codec({Card: SHAPES["display"]}), Card, ()),
    "after": (lambda: Codec({Card: SHAPES["after"]}), Card, ()),
    "flattened, nested not fixed": (
        lambda: Codec({Holder: Shape(flatten={"point": "p_"}), Point: Shape(omit_defaults=True)}),
        Holder,
        (),
    ),
    "flattened, required": (lambda: Codec({Pinned: Shape(flatten={"point": "p_"})}), Pinned, ()),
    "fields given": (lambda: Codec({Holder: Shape(flatten={"point": "p_"}, rest="others")}), Holder, ("point", "name")),
    "required with a default from the data": (
        lambda: Codec({Pinned: Shape(defaults={"point": lambda d: NO_DEFAULT}, convert={"name": (str, str)})}),
        Pinned,
        (),
    ),
    "lenient": (lambda: Codec({Point: Shape(strict=False, defaults={"y": 1})}), Point, ()),
}


@dataclass(frozen=True)
class AnyItems:
    anys: tuple[Any, ...] = ()
    items: list[Any] = field(default_factory=list)
    mapping: dict[str, Any] = field(default_factory=dict)
    bare: typing.List = field(default_factory=list)  # type: ignore[type-arg]  # noqa: UP006
    dicts: typing.Dict = field(default_factory=dict)  # type: ignore[type-arg]  # noqa: UP006


GOLDEN_SHAPES["containers of anything"] = (lambda: Codec(), AnyItems, ())


def test_the_generated_source_of_each_kind_of_shape_is_golden() -> None:
    out: list[str] = []
    for label, (make, cls, given) in GOLDEN_SHAPES.items():
        codec = make()
        codec.keys(cls)
        codec._encoders[cls]
        reader = codec._decoders[(cls, *given) if given else cls]
        for fn in (codec._encoders[cls], reader):
            title = re.sub(r"#\d+", "#N", fn.__code__.co_filename)
            out.append(f"# {label}: {title}\n{inspect.getsource(fn)}")
    check_golden("codec-source.txt", "\n".join(out))
