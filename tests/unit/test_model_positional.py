"""``model.positional``: the constructor the large readers use (issue 13) builds what ``__init__`` builds."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from reconciler.model import Image, ImageSpec, ImageType, OSState, Source, positional


@pytest.mark.parametrize("cls, args", [
    (Source, ("vm-1", None, True, "st", None, None, None, ("s1",), False, True)),
    (Image, ("web", ImageType.VM, "linux", OSState.GENERALIZED)),
    (ImageSpec, ("web", ImageType.OS, "windows", OSState.SPECIALIZED, Source(vm="v"))),
])
def test_positional_builds_what_init_builds(cls, args) -> None:
    full = cls(*args)
    values = [getattr(full, f.name) for f in fields(cls)]
    built = positional(cls)(*values)
    assert built == full and repr(built) == repr(full) and type(built) is cls
    for obj in (full, built):  # still frozen (3.11 raises TypeError for a slotted one, not FrozenInstanceError)
        with pytest.raises((AttributeError, TypeError)):
            obj.name = "other"


def test_positional_refuses_a_class_with_post_init_or_no_slots() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            raise ValueError

    @dataclass(frozen=True)
    class Plain:
        x: int

    for cls in (Checked, Plain):
        with pytest.raises(AssertionError):
            positional(cls)


def test_a_key_is_the_folded_name_and_the_name_itself_when_folded_already() -> None:
    from reconciler.model import fold

    name = "".join(["img-", "000001"])  # built at run time: not a shared constant
    assert fold(name) is name
    assert fold("Web-Base") == "web-base" and fold("STRASSE") == "strasse" and fold("Straße") == "strasse"
