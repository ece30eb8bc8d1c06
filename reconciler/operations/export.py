"""``export``: the desired-state file of the live images a catalog owns.

Layer: orchestration (``reconciler.operations``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..model import CatalogConfig, Category, DesiredState, FamilySpec, Image, Snapshot


def owned_images(snapshot: Snapshot, owner: str, family: str | None = None) -> list[Image]:
    """The user images ``owner`` owns (of ``family`` only, when given), in key order."""
    owned = [
        i
        for i in snapshot.images
        if i.owner == owner and i.category is Category.USER and (family is None or (i.family or "") == family)
    ]
    return sorted(owned, key=lambda i: i.key)


@dataclass(frozen=True)
class Export:
    """A desired-state document for the owned live images. ``prune_dropped``: a one-family export
    whose ``policy.prune`` was turned off, so that applying it cannot prune every other family."""

    text: str
    images: tuple[Image, ...]
    prune_dropped: bool = False


def export_spec(desired: DesiredState, snapshot: Snapshot, *, as_written: CatalogConfig | None = None,
                family: str | None = None) -> Export:
    """The desired-state file of ``desired``'s owned images in ``snapshot`` (``export``).

    ``as_written``: the catalog section as the file writes it (``load_desired(..., with_defaults=
    False)``), so that values from the environment (subscription, ...) stay in the environment.
    """
    from ..model import spec_from_image
    from ..spec import dump_spec

    owned = owned_images(snapshot, desired.catalog.name, family)
    policy = desired.policy
    dropped = family is not None and policy.prune
    if dropped:
        policy = replace(policy, prune=False)
    text = dump_spec(as_written or desired.catalog, policy, [spec_from_image(i) for i in owned],
                     live_families(snapshot, owned))
    return Export(text, tuple(owned), dropped)


def live_families(snapshot: Snapshot, images: list[Image]) -> list[FamilySpec]:
    """The live families (``Snapshot.families``: gallery definitions) of ``images``, in name order,
    every property as the provider read it (its defaults made explicit), so that the exported file
    declares each definition exactly as it is and plans as a no-op."""
    keys = sorted({(i.family or "").casefold() for i in images} & set(snapshot.families))
    return [snapshot.families[k].spec for k in keys]
