"""``reconciler consumers``: what still uses the catalog's images (issue 11 §4; docs/lifecycle.md).

Layer: orchestration (``reconciler.operations``). Which images are asked about is decided here; the
provider reads who uses them (``Provider.consumers``), the renderers show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ReconcilerError
from ..model import Category, Consumer, DesiredState, Image
from ..providers import Provider


@dataclass(frozen=True)
class ConsumerReport:
    """The images asked about (live names, in name order) and what uses each (casefolded name ->
    consumers; an image nothing uses is absent)."""

    images: tuple[str, ...]
    consumers: dict[str, tuple[Consumer, ...]] = field(default_factory=dict)

    @property
    def in_use(self) -> tuple[str, ...]:
        return tuple(n for n in self.images if self.consumers.get(n.casefold()))


def select_images(images: tuple[Image, ...], *, name: str | None = None, family: str | None = None) -> list[Image]:
    """The user images ``consumers`` asks about: the one named ``name``, those of ``family``, or all.
    A name or family that matches nothing is bad input (exit 1), not an empty answer."""
    if name is not None and family is not None:
        raise ReconcilerError("give an image NAME or --family, not both", "drop one of them")
    user = sorted((i for i in images if i.category is Category.USER), key=lambda i: i.key)
    if name is not None:
        found = [i for i in user if i.key == name.casefold()]
        if not found:
            raise ReconcilerError(f"no user image named '{name}' in the catalog",
                                  "see `reconciler images list --category user` for the names")
        return found
    if family is not None:
        found = [i for i in user if (i.family or "").casefold() == family.casefold()]
        if not found:
            raise ReconcilerError(f"no user image of family '{family}' in the catalog",
                                  "see `reconciler images families` for the families")
        return found
    return user


def find_consumers(desired: DesiredState, provider: Provider, *, name: str | None = None,
                   family: str | None = None) -> ConsumerReport:
    """What uses each selected image, read now (``policy.consumers.subscriptions`` on azure)."""
    images = select_images(provider.snapshot().images, name=name, family=family)
    found = provider.consumers(images, desired.policy.consumers) if images else {}
    return ConsumerReport(images=tuple(i.name for i in images), consumers=dict(found))
