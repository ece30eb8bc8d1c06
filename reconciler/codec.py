"""One codec between the model's frozen dataclasses and plain data (dicts, lists, strings, numbers).

Layer: pure core. Imports only the standard library and nothing from the project, so any module
(``model`` included) may use it.

``to_dict(obj)`` / ``from_dict(cls, data)`` are driven by the dataclass fields and their type
hints: a nested dataclass is a dict, a tuple or list a list, a ``Mapping`` a dict, an enum its
value, ``None`` stays ``None`` and ``Any`` passes through untouched. By default every field is
written under its own name, in declaration order. Where a format differs (the plan document's
computed keys, the spec file's omitted defaults, the local catalog's columns), a ``Codec`` holds a
``Shape`` per class that says how, as data: no format writes its own mapping code.
"""

from __future__ import annotations

import dataclasses
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


def _same(a: Any, b: Any) -> bool:
    """Equal plain data of the same type (``0`` is not ``False``)."""
    return type(a) is type(b) and bool(a == b)


class Codec:
    """A format: the ``Shape`` of each class that differs from field-for-field, and the enums
    written by an attribute other than their value (``{Action: "word"}``)."""

    def __init__(self, shapes: Mapping[type, Shape] | None = None, enums: Mapping[type[Enum], str] | None = None):
        self.shapes: Mapping[type, Shape] = dict(shapes or {})
        self.enums: Mapping[type[Enum], str] = dict(enums or {})

    def shape(self, cls: type) -> Shape:
        return self.shapes.get(cls, _PLAIN)

    def keys(self, cls: type) -> tuple[str, ...]:
        """The keys ``to_dict`` writes for ``cls`` (flattened ones expanded, ``rest`` left out)."""
        shape = self.shape(cls)
        out: list[str] = []
        for name in self._names(cls):
            if name in shape.flatten:
                nested, _ = _optional(_hints(cls)[name])
                out += [shape.flatten[name] + k for k in self.keys(nested)]
            elif name != shape.rest:
                out.append(shape.rename.get(name, name))
        return tuple(out)

    def _names(self, cls: type) -> tuple[str, ...]:
        shape = self.shape(cls)
        return shape.keys or tuple(n for n in _hints(cls) if n not in shape.exclude)

    # Writing

    def to_dict(self, obj: Any) -> dict[str, Any]:
        """``obj`` (a dataclass instance) as a dict of plain data, in this format's shape."""
        cls = type(obj)
        shape = self.shape(cls)
        hints = _hints(cls)
        out: dict[str, Any] = {}
        for name in self._names(cls):
            if name in shape.computed:
                value = shape.computed[name](obj)
                if value is not OMIT:
                    out[name] = value
                continue
            if name == shape.rest:
                continue
            value = getattr(obj, name)
            if name in shape.flatten:
                nested, _ = _optional(hints[name])
                inner = self.to_dict(value) if value is not None else dict.fromkeys(self.keys(nested))
                out.update({shape.flatten[name] + k: v for k, v in inner.items()})
                continue
            plain = self._encode(value, hints[name])
            if self._omitted(cls, shape, name, plain, out):
                continue
            if name in shape.convert:
                plain = shape.convert[name][0](plain)
            out[shape.rename.get(name, name)] = plain
        if shape.rest is not None:
            out.update(self._encode(getattr(obj, shape.rest), hints[shape.rest]))
        return out

    def _omitted(self, cls: type, shape: Shape, name: str, plain: Any, written: Mapping[str, Any]) -> bool:
        if not (shape.omit_defaults is True or (shape.omit_defaults and name in shape.omit_defaults)):
            return False
        default = self._format_default(shape, name, written)
        if default is NO_DEFAULT and name not in shape.defaults:
            default = _field_default(cls, name)
            default = default if default is NO_DEFAULT else self._encode(default, _hints(cls)[name])
        return default is not NO_DEFAULT and _same(plain, default)

    @staticmethod
    def _format_default(shape: Shape, name: str, data: Mapping[str, Any]) -> Any:
        default = shape.defaults.get(name, NO_DEFAULT)
        return default(data) if callable(default) else default

    def _encode(self, value: Any, hint: _Hint) -> Any:
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

    # Reading

    def from_dict(self, cls: type[T], data: Mapping[str, Any], /, **fields: Any) -> T:
        """Build ``cls`` from plain ``data`` in this format's shape; ``fields`` (model values) are
        set as given, whatever ``data`` holds. A missing key without default is a ``KeyError``, an
        unknown one (strict shapes) a ``ValueError``, data of the wrong kind a ``TypeError``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        shape = self.shape(cls)
        hints = _hints(cls)
        known: set[str] = set(shape.computed)
        kwargs: dict[str, Any] = {}
        for name in self._names(cls):
            if name in shape.computed or name == shape.rest:
                continue
            if name in shape.flatten:
                nested, optional = _optional(hints[name])
                keys = self.keys(nested)
                prefix = shape.flatten[name]
                known.update(prefix + k for k in keys)
                inner = {k: data[prefix + k] for k in keys if prefix + k in data}
                if name not in fields:
                    empty = all(v is None for v in inner.values())
                    kwargs[name] = None if optional and empty else self.from_dict(nested, inner)
                continue
            key = shape.rename.get(name, name)
            known.add(key)
            if name in fields:
                continue
            if key in data:
                raw = data[key]
                if name in shape.convert:
                    raw = shape.convert[name][1](raw)
            else:
                raw = self._format_default(shape, name, data)
                if raw is NO_DEFAULT:
                    if _field_default(cls, name) is NO_DEFAULT:
                        raise KeyError(key)
                    continue
            kwargs[name] = self._decode(raw, hints[name])
        if shape.rest is not None:
            if shape.rest not in fields:
                kwargs[shape.rest] = {k: v for k, v in data.items() if k not in known}
        elif shape.strict:
            unknown = sorted(str(k) for k in data if k not in known)
            if unknown:
                raise ValueError(f"{cls.__name__}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        kwargs.update(fields)
        return cls(**kwargs)

    def _decode(self, value: Any, hint: _Hint) -> Any:
        hint, optional = _optional(hint)
        if value is None and optional:
            return None
        origin: Any = get_origin(hint)
        args = get_args(hint)
        if origin is tuple:
            item = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
            return tuple(self._decode(v, item) for v in self._sequence(value, hint))
        if origin is list:
            return [self._decode(v, args[0] if args else Any) for v in self._sequence(value, hint)]
        if origin is dict or origin is Mapping:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object for {hint}, got {type(value).__name__}")
            item = args[1] if len(args) == 2 else Any
            return {k: self._decode(v, item) for k, v in value.items()}
        if isinstance(hint, type) and issubclass(hint, Enum):
            return self._enum(hint, value)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.from_dict(hint, value)
        return value

    @staticmethod
    def _sequence(value: Any, hint: _Hint) -> list[Any] | tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list for {hint}, got {type(value).__name__}")
        return value

    def _enum(self, cls: type[Enum], value: Any) -> Enum:
        attr = self.enums.get(cls)
        if attr is None:
            return cls(value)
        for member in cls:
            if getattr(member, attr) == value:
                return member
        raise ValueError(f"unknown {cls.__name__.lower()} {value!r}")


#: The field-for-field format: every field under its own name, enums by value.
PLAIN = Codec()


def to_dict(obj: Any) -> dict[str, Any]:
    """``obj`` as plain data, every field under its own name (see ``Codec.to_dict``)."""
    return PLAIN.to_dict(obj)


def from_dict(cls: type[T], data: Mapping[str, Any], /, **fields: Any) -> T:
    """The inverse of ``to_dict`` (see ``Codec.from_dict``)."""
    return PLAIN.from_dict(cls, data, **fields)


__all__ = ["NO_DEFAULT", "OMIT", "PLAIN", "Codec", "Shape", "from_dict", "to_dict"]
