"""``import NAME...``: which live images may be adopted (``check_adoption``), and adopting them.

Layer: orchestration (``reconciler.operations``). The refusals themselves are ``rules.adopt_refusal``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import Diagnostic, SpecError
from ..model import DesiredState, Image, Snapshot
from ..providers import Provider


@dataclass(frozen=True)
class Adoption:
    """What ``import NAME...`` finds: the images to adopt, those already ours, the refusals.

    ``problems`` (unknown names, public images, images of another catalog) refuse the whole
    import: nothing is adopted while there is one. ``undeclared`` are the images to adopt that
    the desired-state file does not declare; with ``prune`` on, the next apply removes them.
    """

    owner: str
    todo: tuple[Image, ...] = ()
    already_owned: tuple[Image, ...] = ()
    problems: tuple[Diagnostic, ...] = ()
    undeclared: tuple[Image, ...] = ()
    prune: bool = False


def check_adoption(desired: DesiredState, snapshot: Snapshot, names: Sequence[str]) -> Adoption:
    """Which of ``names`` may be adopted into ``desired``'s catalog (pure: refusals are data)."""
    from ..rules import adopt_refusal

    owner = desired.catalog.name
    live = snapshot.image_index()
    todo: list[Image] = []
    owned: list[Image] = []
    problems: list[Diagnostic] = []
    for name in names:
        image = live.get(name.casefold())
        refusal = adopt_refusal(image, owner) if image is not None else None
        if image is None:
            problems.append(Diagnostic.error(f"no image named '{name}' in the catalog", "check the name"))
        elif refusal is not None:
            problems.append(Diagnostic.error(refusal.summary, refusal.hint))
        elif image.owner == owner:
            owned.append(image)
        else:
            todo.append(image)
    declared = {s.key for s in desired.images}
    return Adoption(
        owner,
        tuple(todo),
        tuple(owned),
        tuple(problems),
        undeclared=tuple(i for i in todo if i.key not in declared),
        prune=desired.policy.prune,
    )


def adopt(provider: Provider, adoption: Adoption, *, on_adopted: Callable[[Image], None] | None = None) -> None:
    """Mark ``adoption.todo`` as owned, one by one (``on_adopted`` after each); refuse on any problem."""
    if adoption.problems:
        raise SpecError(list(adoption.problems))
    for image in adoption.todo:
        provider.adopt(image)
        if on_adopted is not None:
            on_adopted(image)
