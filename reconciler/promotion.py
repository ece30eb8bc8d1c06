"""Promotion (issue 11 §1; docs/lifecycle.md "Promotion"): a capture whose source is another
catalog's image, and the gate (``promote_when``) that says when it is due.

Layer: pure core. Imports only ``model``, ``errors`` and ``lifecycle`` (durations and ages); no
I/O and no clock: ``now`` is an input (the shell's, ``RECONCILER_NOW`` in tests). ``plan.py``
applies these decisions to the snapshot; the source image itself is read by the operations layer
(``Snapshot.origins``), and its provider-specific preconditions (an Azure version's state,
replication, definition) are the provider's ``Capabilities.extra_checks``.

Choices where the issue is silent (docs/lifecycle.md): the source's age is measured from its
``created`` time; "at least ``min_age`` old" is met at exactly ``min_age``; a source of unknown age
never meets a ``min_age``; every declared tag must be present with exactly that value (values
compare as text, case-sensitively, as Azure tags do); a promotion whose gate is not met waits,
every unmet condition named. An image that was promoted is never gated again: the gate decides
when a copy is made, not whether it is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .lifecycle import age, parse_duration
from .model import PROMOTION_EXTRA, Image, ImageSpec


@dataclass(frozen=True)
class Promotion:
    """What the file says of one promotion (``ImageSpec.extra[PROMOTION_EXTRA]``).

    ``ref``: the source as the file writes it (``dev:web-base/1.4.0``, or a resource id), its
    casefolded form the key of ``Snapshot.origins``; ``alias``: the ``sources:`` entry ("" for a
    resource id); ``image``: the source image's name in that catalog (or the id). ``min_age``: the
    gate's age as written (``72h``; "" when not declared); ``tags``: tags the source must carry.
    """

    ref: str
    alias: str = ""
    image: str = ""
    min_age: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.ref.casefold()


def promotion_of(spec: ImageSpec) -> Promotion | None:
    """The promotion ``spec`` declares, None when its source is not another catalog's image."""
    if not spec.source.promotion:
        return None
    data: Mapping[str, Any] = spec.extra.get(PROMOTION_EXTRA) or {}
    ref = str(spec.source.image)
    return Promotion(
        ref=ref,
        alias=str(data.get("source", "")),
        image=str(data.get("image", ref)),
        min_age=str(data.get("min_age") or ""),
        tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
    )


def split_ref(ref: str) -> tuple[str, str]:
    """``dev:web-base/1.4.0`` -> (``dev``, ``web-base/1.4.0``); a resource id -> ("", the id)."""
    if ref.startswith("/"):
        return "", ref
    alias, _, name = ref.partition(":")
    return alias, name


_UNIT_SECONDS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60))


def spell_age(d: timedelta, unit: str = "d") -> str:
    """How old something is, in the gate's unit (``72h`` -> hours) or the largest smaller one it
    fills: ``20h``, ``71h``; a ``2w`` gate and 3 days: ``3d``; under a minute: ``0m``. Rounded down:
    a source 71h59m old is ``71h`` old, not yet the ``72h`` a gate asks."""
    seconds = max(0, int(d.total_seconds()))
    units = [u for u in _UNIT_SECONDS if u[1] <= dict(_UNIT_SECONDS).get(unit, 86400)]
    for name, size in units:
        if seconds >= size:
            return f"{seconds // size}{name}"
    return "0m"


def waiting_reason(promotion: Promotion, origin: Image, now: datetime | None) -> str | None:
    """Why ``promotion`` of ``origin`` is not due at ``now`` (every unmet condition, ``; ``-joined),
    None when its gate is met (or it declares none).

    ``dev:web-base/1.4.0 is 20h old, needs 72h``; ``dev:web-base/1.4.0 has no tag validated (needs
    validated=true)``; ``... has validated=false, needs validated=true``."""
    ref = promotion.ref
    reasons: list[str] = []
    if promotion.min_age:
        needed = parse_duration(promotion.min_age)
        old = age(origin, now) if now is not None else None
        if now is None:
            reasons.append(f"{ref} needs to be {promotion.min_age} old, and this plan was given no time")
        elif old is None:
            reasons.append(f"{ref} has no creation time, needs to be {promotion.min_age} old")
        elif old < needed:
            reasons.append(f"{ref} is {spell_age(old, promotion.min_age[-1:])} old, needs {promotion.min_age}")
    for key, want in sorted(promotion.tags.items()):
        have = origin.tags.get(key)
        if have is None:
            reasons.append(f"{ref} has no tag {key} (needs {key}={want})")
        elif have != want:
            reasons.append(f"{ref} has {key}={have}, needs {key}={want}")
    return "; ".join(reasons) or None


def origin_mismatches(spec: ImageSpec, origin: Image) -> list[tuple[str, str, str]]:
    """(key, summary, hint) for each of ``type``, ``os``, ``os_state`` the entry declares otherwise
    than the source image holds: a copy cannot change them."""
    out: list[tuple[str, str, str]] = []
    ref = spec.source.image
    for key, want, have in (("type", spec.type.value, origin.type.value), ("os", spec.os, origin.os),
                            ("os_state", spec.os_state.value, origin.os_state.value)):
        if want != have:
            out.append((key, f"'{spec.name}' declares {key}: {want}, but its source {ref} is {have}",
                        f"set {key}: {have} (a promotion copies the image as it is)"))
    return out


__all__ = ["Promotion", "origin_mismatches", "promotion_of", "spell_age", "split_ref", "waiting_reason"]
