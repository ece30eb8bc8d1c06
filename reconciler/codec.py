"""One codec between the model's frozen dataclasses and plain data (dicts, lists, strings, numbers).

Layer: pure core. Imports only the standard library and nothing from the project, so any module
(``model`` included) may use it.

``to_dict(obj)`` / ``from_dict(cls, data)`` are driven by the dataclass fields and their type
hints: a nested dataclass is a dict, a tuple or list a list, a ``Mapping`` a dict, an enum its
value, ``None`` stays ``None`` and ``Any`` passes through untouched. By default every field is
written under its own name, in declaration order. Where a format differs (the plan document's
computed keys, the spec file's omitted defaults, the local catalog's columns), a ``Codec`` holds a
``Shape`` per class that says how, as data: no format writes its own mapping code.

A ``Codec`` compiles each class, the first time it writes or reads one, into a function of its own
(generated source, as ``attrs`` and ``cattrs`` do): a dict display of the keys in order, the fields
read straight into the constructor's arguments, enums through a table. The hot paths (the spec
file's 100,000 images, the plan document, the catalog's rows) then cost what hand-written code
costs: no look-up of fields, hints or shapes per object (``benchmarks/codec_speed.py``).
"""

from __future__ import annotations

import dataclasses
import linecache
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

#: A ``Shape.defaults`` function's answer when the field has no default for that data.
NO_DEFAULT: Any = dataclasses.MISSING
#: A ``Shape.computed`` function's answer when the key is left out for that object.
OMIT: Any = object()

_Hint = Any
_Default = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Shape:
    """How one dataclass is laid out in one format; every part is optional.

    ``keys``: the fields and computed keys written, in order (empty: every field not in
    ``exclude``, in declaration order). A field left out is neither written nor read: it takes its
    default or an override.
    ``rename``: field -> key. ``computed``: write-only keys derived from the object (accepted and
    ignored on read); a function returns ``OMIT`` to leave its key out.
    ``omit_defaults``: leave out a field (``True``: any field) whose value is its default.
    ``defaults``: the format's own default of a field as plain data, or a function of the mapping
    (the data being read, or what is written so far) giving plain data or ``NO_DEFAULT``.
    ``convert``: field -> (encode, decode) of its plain value (a JSON text column, a 0/1 flag).
    ``flatten``: nested-dataclass field -> key prefix: its keys are written inline (``source_vm``)
    and read back as ``None`` when they are all null. ``rest``: a mapping field whose items are
    written inline after the other keys and which, on read, takes every key the shape does not
    name. ``strict``: reading refuses a key the shape does not know (without ``rest``).
    """

    keys: tuple[str, ...] = ()
    exclude: frozenset[str] = frozenset()
    rename: Mapping[str, str] = field(default_factory=dict)
    computed: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    omit_defaults: bool | frozenset[str] = False
    defaults: Mapping[str, Any] = field(default_factory=dict)
    convert: Mapping[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = field(default_factory=dict)
    flatten: Mapping[str, str] = field(default_factory=dict)
    rest: str | None = None
    strict: bool = True


_PLAIN = Shape()


_HINTS: dict[type, dict[str, _Hint]] = {}


def _hints(cls: type) -> dict[str, _Hint]:
    """Field name -> resolved type hint, for the init fields of a dataclass, in declaration order."""
    if cls not in _HINTS:
        resolved = get_type_hints(cls)
        _HINTS[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls) if f.init}
    return _HINTS[cls]


def _field_default(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return NO_DEFAULT


def _optional(hint: _Hint) -> tuple[_Hint, bool]:
    """``X | None`` -> (X, True); any other hint -> (hint, False)."""
    origin: Any = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(get_args(hint))
    return hint, False


def _omits(shape: Shape, name: str) -> bool:
    """Whether ``shape`` leaves ``name`` out when its value is its default."""
    omit = shape.omit_defaults
    return omit if isinstance(omit, bool) else name in omit


class _Table(dict[Any, Callable[..., Any]]):
    """A cache of compiled converters that compiles the one it lacks on first use."""

    def __init__(self, make: Callable[[Any], Callable[..., Any]]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: Any) -> Callable[..., Any]:
        made = self[key] = self._make(key)
        return made


#: Hints whose values are written as they are when they are of exactly that type.
_ATOMS = (str, int, float, bool)
#: A key the data does not hold (``Mapping.get``'s answer); never a plain value.
_ABSENT: Any = object()


_compiled = 0  # functions compiled so far: each has a file name of its own, for tracebacks


class _Source:
    """The text of one generated function and the names it uses (its globals)."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"OMIT": OMIT, "NO_DEFAULT": NO_DEFAULT, "_ABSENT": _ABSENT, "Mapping": Mapping}
        self.lines: list[str] = []
        self._count = 0

    def name(self, value: Any, stem: str = "k") -> str:
        """A global name bound to ``value``."""
        self._count += 1
        name = f"_{stem}{self._count}"
        self.names[name] = value
        return name

    def temp(self) -> str:
        self._count += 1
        return f"t{self._count}"

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def function(self, title: str, signature: str) -> Callable[..., Any]:
        text = f"def _converter({signature}):\n" + "\n".join(self.lines) + "\n"
        global _compiled
        _compiled += 1
        filename = f"<codec #{_compiled}: {title}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
        exec(compile(text, filename, "exec"), self.names)  # noqa: S102 - our own generated source
        fn: Callable[..., Any] = self.names["_converter"]
        return fn


def _not_an_object(cls: type, data: Any) -> TypeError:
    return TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")


def _not_a_list(value: Any, hint: _Hint) -> Any:
    raise TypeError(f"expected a list for {hint}, got {type(value).__name__}")


def _not_a_mapping(value: Any, hint: _Hint) -> Any:
    raise TypeError(f"expected an object for {hint}, got {type(value).__name__}")


def _unknown_keys(cls: type, data: Mapping[str, Any], known: frozenset[str]) -> ValueError:
    unknown = sorted(str(k) for k in data if k not in known)
    return ValueError(f"{cls.__name__}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")


class Codec:
    """A format: the ``Shape`` of each class that differs from field-for-field, and the enums
    written by an attribute other than their value (``{Action: "word"}``).

    Each class is compiled once per direction, at first use, into a function of its own
    (generated source, like ``attrs``' ``__init__``): writing or reading an object then does no
    introspection of fields, hints or shapes. A codec's shapes are fixed once it has been used.
    """

    def __init__(self, shapes: Mapping[type, Shape] | None = None, enums: Mapping[type[Enum], str] | None = None):
        self.shapes: Mapping[type, Shape] = dict(shapes or {})
        self.enums: Mapping[type[Enum], str] = dict(enums or {})
        self._encoders = _Table(self._compile_encoder)
        self._decoders = _Table(self._compile_decoder)
        self._keys: dict[type, tuple[str, ...]] = {}

    def shape(self, cls: type) -> Shape:
        return self.shapes.get(cls, _PLAIN)

    def keys(self, cls: type) -> tuple[str, ...]:
        """The keys ``to_dict`` writes for ``cls`` (flattened ones expanded, ``rest`` left out)."""
        keys = self._keys.get(cls)
        if keys is None:
            shape = self.shape(cls)
            out: list[str] = []
            for name in self._names(cls):
                if name in shape.flatten:
                    nested, _ = _optional(_hints(cls)[name])
                    out += [shape.flatten[name] + k for k in self.keys(nested)]
                elif name != shape.rest:
                    out.append(shape.rename.get(name, name))
            keys = self._keys[cls] = tuple(out)
        return keys

    def _names(self, cls: type) -> tuple[str, ...]:
        shape = self.shape(cls)
        return shape.keys or tuple(n for n in _hints(cls) if n not in shape.exclude)

    # Writing

    def to_dict(self, obj: Any) -> dict[str, Any]:
        """``obj`` (a dataclass instance) as a dict of plain data, in this format's shape."""
        out: dict[str, Any] = self._encoders[type(obj)](obj)
        return out

    def _encode(self, value: Any, hint: _Hint) -> Any:
        """``value`` as plain data, by what it is (the compiled writers' answer for values their
        hint does not describe exactly)."""
        if value is None or hint is Any:
            return value
        if isinstance(value, Enum):
            attr = self.enums.get(type(value))
            return getattr(value, attr) if attr else value.value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.to_dict(value)
        args = get_args(_optional(hint)[0])
        if isinstance(value, tuple | list):
            return [self._encode(v, args[0] if args else Any) for v in value]
        if isinstance(value, Mapping):
            return {k: self._encode(v, args[-1] if args else Any) for k, v in value.items()}
        return value

    def _fixed(self, cls: type) -> bool:
        """Whether ``to_dict`` of an exact ``cls`` always writes ``keys(cls)``, in that order."""
        shape = self.shape(cls)
        return not (shape.computed or shape.omit_defaults or shape.flatten or shape.rest is not None)

    def _encode_expr(self, src: _Source, hint: _Hint, value: str) -> str:
        """An expression of ``value`` (a local name) as plain data: the hint's exact type takes the
        fast way; anything else (``None``, subclasses, other types) goes by what it is."""
        if hint is Any:
            return value
        inner, optional = _optional(hint)
        fallback = f"{src.name(self._encode, 'encode')}({value}, {src.name(hint, 'hint')})"
        none = f"{value} is None or " if optional else ""
        if inner in _ATOMS:
            return f"({value} if {none}{value}.__class__ is {inner.__name__} else {fallback})"
        test = f"{value}.__class__ is {src.name(inner, 'type')}"
        if isinstance(inner, type) and issubclass(inner, Enum):
            attr = self.enums.get(inner) or "value"
            plain = src.name({m.name: getattr(m, attr) for m in inner}, "plain")
            fast = f"{plain}[{value}._name_]"
        elif isinstance(inner, type) and dataclasses.is_dataclass(inner):
            fast = f"{src.name(self._encoders, 'encoders')}[{value}.__class__]({value})"
        else:
            origin: Any = get_origin(inner)
            args = get_args(inner)
            item = src.temp()
            if origin in (tuple, list) and args:
                test = f"({value}.__class__ is tuple or {value}.__class__ is list)"
                each = self._encode_expr(src, args[0], item)
                fast = f"list({value})" if each == item else f"[{each} for {item} in {value}]"
            elif origin in (dict, Mapping) and args:
                test = f"{value}.__class__ is dict"
                each, k = self._encode_expr(src, args[-1], item), src.temp()
                fast = f"dict({value})" if each == item else f"{{{k}: {each} for {k}, {item} in {value}.items()}}"
            else:
                return fallback
        return f"({fast} if {test} else {fallback})"

    def _compile_encoder(self, cls: type) -> Callable[[Any], dict[str, Any]]:
        """``to_dict`` of ``cls``: the fields read into locals, a dict display of the keys written in
        order, the conditional ones dropped after it (a computed ``OMIT``, an omitted default), then
        the keys whose default depends on what is written so far, one by one."""
        shape, hints, src = self.shape(cls), _hints(cls), _Source()
        reads: list[str] = []  # the fields, into locals
        literal: list[str] = []  # entries of the dict display
        drops: list[str] = []  # conditions under which a key of the display is dropped
        after: list[tuple[int, str]] = []  # statements once the display is built
        for name in self._names(cls):
            key = repr(name)
            if name in shape.computed:
                c = src.temp()
                call = f"{src.name(shape.computed[name], 'computed')}(obj)"
                if after:
                    after += [(0, f"{c} = {call}"), (0, f"if {c} is not OMIT:"), (1, f"out[{key}] = {c}")]
                else:
                    literal.append(f"{key}: ({c} := {call})")
                    drops.append(f"if {c} is OMIT: del out[{key}]")
                continue
            if name == shape.rest:
                continue
            v = src.temp()
            read = f"{v} = obj.{name}"
            if name in shape.flatten:
                nested, _ = _optional(hints[name])
                prefix = shape.flatten[name]
                keys = self.keys(nested)
                empty = src.name(dict.fromkeys(prefix + k for k in keys), "empty")
                inner = f"{src.name(self._encoders, 'encoders')}[{v}.__class__]({v})"
                flat = f"{src.name(_prefixed, 'prefixed')}({prefix!r}, {inner})"
                if self._fixed(nested):
                    fixed = f"dict(zip({src.name(tuple(prefix + k for k in keys), 'keys')}, {inner}.values()))"
                    flat = f"({fixed} if {v}.__class__ is {src.name(nested, 'type')} else {flat})"
                expr = f"({empty} if {v} is None else {flat})"
                if after:
                    after += [(0, read), (0, f"out.update({expr})")]
                else:
                    reads.append(read)
                    literal.append(f"**{expr}")
                continue
            plain = self._encode_expr(src, hints[name], v)
            out_key = repr(shape.rename.get(name, name))
            convert = f"{src.name(shape.convert[name][0], 'convert')}" if name in shape.convert else ""
            omit = _omits(shape, name)
            default = shape.defaults.get(name, NO_DEFAULT)
            if omit and name not in shape.defaults:
                field_default = _field_default(cls, name)
                if field_default is not NO_DEFAULT:
                    default = self._encode(field_default, hints[name])
            p = src.temp()
            if not omit or default is NO_DEFAULT:
                entry = f"{convert}({plain})" if convert else plain
                if after:
                    after += [(0, read), (0, f"out[{out_key}] = {entry}")]
                else:
                    reads.append(read)
                    literal.append(f"{out_key}: {entry}")
            elif callable(default):
                # what is written so far decides: from here on, key by key
                d = src.temp()
                after += [
                    (0, read),
                    (0, f"{p} = {plain}"),
                    (0, f"{d} = {src.name(default, 'default')}(out)"),
                    (0, f"if {d} is NO_DEFAULT or type({p}) is not type({d}) or not ({p} == {d}):"),
                    (1, f"out[{out_key}] = {convert}({p})"),
                ]
            else:
                same = f"type({p}) is {src.name(type(default), 'type')} and {p} == {src.name(default, 'default')}"
                if after:
                    after += [
                        (0, read),
                        (0, f"{p} = {plain}"),
                        (0, f"if not ({same}):"),
                        (1, f"out[{out_key}] = {convert}({p})"),
                    ]
                else:
                    reads.append(read)
                    literal.append(f"{out_key}: {convert}({p} := {plain})")
                    drops.append(f"if {same}: del out[{out_key}]")
        for line in reads:
            src.add(1, line)
        src.add(1, "out = {" + ", ".join(literal) + "}")
        for line in drops:
            src.add(1, line)
        for indent, line in after:
            src.add(1 + indent, line)
        if shape.rest is not None:
            r = src.temp()
            src.add(1, f"{r} = obj.{shape.rest}")
            src.add(1, f"out.update({self._encode_expr(src, hints[shape.rest], r)})")
        src.add(1, "return out")
        return src.function(f"to_dict {cls.__qualname__}", "obj")

    # Reading

    def from_dict(self, cls: type[T], data: Mapping[str, Any], /, **fields: Any) -> T:
        """Build ``cls`` from plain ``data`` in this format's shape; ``fields`` (model values) are
        set as given, whatever ``data`` holds. A missing key without default is a ``KeyError``, an
        unknown one (strict shapes) a ``ValueError``, data of the wrong kind a ``TypeError``."""
        obj: T = self._decoders[(cls, *fields)](data, fields) if fields else self._decoders[cls](data)
        return obj

    def _decode_expr(self, src: _Source, hint: _Hint, value: str) -> str:
        """An expression of ``value`` (a local name) read as ``hint``."""
        hint, optional = _optional(hint)
        origin: Any = get_origin(hint)
        args = get_args(hint)
        item = src.temp()
        if origin is tuple or origin is list:
            if origin is tuple:
                each = self._decode_expr(src, args[0] if len(args) == 2 and args[1] is Ellipsis else Any, item)
                fast = f"tuple({value})" if each == item else f"tuple([{each} for {item} in {value}])"
            else:
                each = self._decode_expr(src, args[0] if args else Any, item)
                fast = f"list({value})" if each == item else f"[{each} for {item} in {value}]"
            refuse = f"{src.name(_not_a_list, 'refuse')}({value}, {src.name(hint, 'hint')})"
            expr = f"({fast} if isinstance({value}, (list, tuple)) else {refuse})"
        elif origin is dict or origin is Mapping:
            each, k = self._decode_expr(src, args[1] if len(args) == 2 else Any, item), src.temp()
            fast = f"dict({value})" if each == item else f"{{{k}: {each} for {k}, {item} in {value}.items()}}"
            refuse = f"{src.name(_not_a_mapping, 'refuse')}({value}, {src.name(hint, 'hint')})"
            expr = f"({fast} if {value}.__class__ is dict or isinstance({value}, Mapping) else {refuse})"
        elif isinstance(hint, type) and issubclass(hint, Enum):
            attr = self.enums.get(hint)
            if attr is None:
                members: dict[Any, Enum] = dict(hint._value2member_map_)
                slow = f"{src.name(hint, 'enum')}({value})"
            else:
                members = {getattr(m, attr): m for m in reversed(list(hint))}  # the first one wins
                slow = f"{src.name(self._enum, 'enum')}({src.name(hint, 'enum')}, {value})"
            kinds = sorted({type(k).__name__ for k in members})
            if members and set(kinds) <= {"str", "int"}:
                table = src.name(members, "members")
                test = " or ".join(f"{value}.__class__ is {k}" for k in kinds)
                expr = f"({table}[{value}] if ({test}) and {value} in {table} else {slow})"
            else:
                expr = slow
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            expr = f"{src.name(self._decoders, 'decoders')}[{src.name(hint, 'type')}]({value})"
        else:
            return value
        return f"(None if {value} is None else {expr})" if optional else expr

    def _compile_decoder(self, key: type | tuple[Any, ...]) -> Callable[..., Any]:
        """``from_dict`` of a class (``key``), or of a class with fields given (``(cls, *names)``)."""
        cls, given = (key[0], frozenset(key[1:])) if isinstance(key, tuple) else (key, frozenset())
        shape, hints, src = self.shape(cls), _hints(cls), _Source()
        known: set[str] = set(shape.computed)
        args: list[str] = []
        src.add(1, "if data.__class__ is not dict and not isinstance(data, Mapping):")
        src.add(2, f"raise {src.name(_not_an_object)}({src.name(cls, 'cls')}, data)")
        for name in self._names(cls):
            if name in shape.computed or name == shape.rest:
                continue
            a = src.temp()
            if name in shape.flatten:
                nested, optional = _optional(hints[name])
                prefix = shape.flatten[name]
                keys = self.keys(nested)
                known.update(prefix + k for k in keys)
                if name in given:
                    continue
                parts = [src.temp() for _ in keys]
                for part, k in zip(parts, keys, strict=True):
                    src.add(1, f"{part} = data.get({prefix + k!r}, _ABSENT)")
                inner = src.temp()
                indent = 1
                if optional:
                    empty = " and ".join(f"({p} is None or {p} is _ABSENT)" for p in parts) or "True"
                    src.add(1, f"if {empty}:")
                    src.add(2, f"{a} = None")
                    src.add(1, "else:")
                    indent = 2
                src.add(indent, f"{inner} = {{}}")
                for part, k in zip(parts, keys, strict=True):
                    src.add(indent, f"if {part} is not _ABSENT: {inner}[{k!r}] = {part}")
                src.add(indent, f"{a} = {src.name(self._decoders, 'decoders')}[{src.name(nested, 'type')}]({inner})")
                args.append(f"{name}={a}")
                continue
            key_ = shape.rename.get(name, name)
            known.add(key_)
            if name in given:
                continue
            r = src.temp()
            read = self._decode_expr(src, hints[name], r)
            if read == r:  # taken as it is: straight into the argument
                r = read = a
            convert = f"{r} = {src.name(shape.convert[name][1], 'convert')}({r})" if name in shape.convert else ""
            default = shape.defaults.get(name, NO_DEFAULT)
            field_default = self._field_default_expr(src, cls, name)
            if default is NO_DEFAULT and field_default is None:
                src.add(1, f"{r} = data[{key_!r}]")
                if convert:
                    src.add(1, convert)
                src.add(1, f"{a} = {read}")
            else:
                src.add(1, f"{r} = data.get({key_!r}, _ABSENT)")
                src.add(1, f"if {r} is not _ABSENT:")
                if convert:
                    src.add(2, convert)
                src.add(2, f"{a} = {read}")
                src.add(1, "else:")
                if callable(default):
                    src.add(2, f"{r} = {src.name(default, 'default')}(data)")
                    src.add(2, f"if {r} is NO_DEFAULT:")
                    src.add(3, f"{a} = {field_default}" if field_default else f"raise KeyError({key_!r})")
                    src.add(2, "else:")
                    src.add(3, f"{a} = {read}")
                elif default is not NO_DEFAULT:
                    src.add(2, f"{r} = {src.name(default, 'default')}")
                    src.add(2, f"{a} = {read}")
                else:
                    src.add(2, f"{a} = {field_default}")
            args.append(f"{name}={a}")
        known_name = src.name(frozenset(known), "known")
        if shape.rest is not None:
            if shape.rest not in given:
                args.append(f"{shape.rest}={{k: v for k, v in data.items() if k not in {known_name}}}")
        elif shape.strict:
            src.add(1, f"if not {known_name}.issuperset(data):")
            src.add(2, f"raise {src.name(_unknown_keys)}({src.name(cls, 'cls')}, data, {known_name})")
        if given:
            args.append("**fields")
        src.add(1, f"return {src.name(cls, 'cls')}({', '.join(args)})")
        title = f"from_dict {cls.__qualname__}" + (f" with {', '.join(sorted(given))}" if given else "")
        return src.function(title, "data, fields" if given else "data")

    @staticmethod
    def _field_default_expr(src: _Source, cls: type, name: str) -> str | None:
        """The expression of a field's own default (its factory called), or None when it has none."""
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        if f.default is not dataclasses.MISSING:
            return src.name(f.default, "default")
        if f.default_factory is not dataclasses.MISSING:
            return f"{src.name(f.default_factory, 'factory')}()"
        return None

    def _enum(self, cls: type[Enum], value: Any) -> Enum:
        attr = self.enums.get(cls)
        if attr is None:
            return cls(value)
        for member in cls:
            if getattr(member, attr) == value:
                return member
        raise ValueError(f"unknown {cls.__name__.lower()} {value!r}")


def _prefixed(prefix: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + k: v for k, v in data.items()}


#: The field-for-field format: every field under its own name, enums by value.
PLAIN = Codec()


def to_dict(obj: Any) -> dict[str, Any]:
    """``obj`` as plain data, every field under its own name (see ``Codec.to_dict``)."""
    return PLAIN.to_dict(obj)


def from_dict(cls: type[T], data: Mapping[str, Any], /, **fields: Any) -> T:
    """The inverse of ``to_dict`` (see ``Codec.from_dict``)."""
    return PLAIN.from_dict(cls, data, **fields)


__all__ = ["NO_DEFAULT", "OMIT", "PLAIN", "Codec", "Shape", "from_dict", "to_dict"]
