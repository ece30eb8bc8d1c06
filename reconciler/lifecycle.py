"""Golden-image lifecycle rules (issue 11 §2, §3): durations, time, version order, ``latest``.

Layer: pure core. Imports only ``model``; no I/O and no clock: the time is an input (``now``,
an ISO-8601 instant handed in by the shell and recorded in the saved plan). ``plan.py`` applies
these decisions to the snapshot; ``spec/`` uses ``parse_duration`` for validate's messages.

The choices made where issue 11 is silent are in docs/lifecycle.md ("Lifecycle policy", "A declared
latest"): ages are measured from ``Image.created``; "older than" means at least that old; an
image of unknown age is never deprecated by age; versions order by their dotted numbers
(``web-base/1.10.0`` after ``web-base/1.9.0``), then by creation time and name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .model import Image

#: The tag a deprecation writes on a version, its value the time of ``now`` (``2026-12-01T11:00:00Z``).
DEPRECATED_TAG = "deprecated-at"
#: The tag the ring rollout of a declared ``latest`` writes on the version: how many rings moved and
#: when the last of them did (``2@2026-12-01T11:00:00Z``), so the next plan knows when the next is due.
LATEST_RING_TAG = "latest-ring"

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")

#: The hint of every duration message.
DURATION_HINT = "write a whole number and a unit: 30m, 72h, 30d or 2w (m minutes, h hours, d days, w weeks)"


def parse_duration(text: str) -> timedelta:
    """``72h`` -> 72 hours. Raises ``ValueError`` (its message for validate) for anything else."""
    m = _DURATION.match(str(text).strip())
    if m is None:
        raise ValueError(f"'{text}' is not a duration")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def duration_problem(value: object) -> str | None:
    """Why ``value`` is not a duration (a sentence for validate), None when it is one."""
    if not isinstance(value, str):
        return f"{value!r} is not a duration (a string like 72h)"
    try:
        parse_duration(value)
    except ValueError as e:
        return str(e)
    return None


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 instant (``Z`` or an offset; a bare date is midnight UTC) -> aware UTC datetime;
    None when ``text`` is None, empty or not a time."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(UTC)


def format_time(t: datetime) -> str:
    """The one spelling of an instant in plans and tags: ``2026-12-01T11:00:00Z`` (seconds, UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(image: Image, now: datetime) -> timedelta | None:
    """How old ``image`` is at ``now``; None when its creation time is unknown."""
    created = parse_time(image.created)
    return None if created is None else now - created


def deprecated_at(image: Image) -> datetime | None:
    """When a lifecycle deprecated ``image`` (its ``DEPRECATED_TAG``), None when it was not."""
    return parse_time(image.tags.get(DEPRECATED_TAG))


# --------------------------------------------------------------------------------------------------
# Versions and latest


_SUFFIX = re.compile(r"^.+?[-_]v?(\d+(?:\.\d+)+)$")


def version_of(name: str) -> str:
    """The version part of an image name: after the last ``/`` (a gallery version: ``web-base/1.4.0``
    -> ``1.4.0``); in a name without ``/``, a dotted number after the last ``-`` or ``_``
    (``web-base-1.4.0`` -> ``1.4.0``); else the whole name."""
    if "/" in name:
        return name.rpartition("/")[2]
    m = _SUFFIX.match(name)
    return m.group(1) if m else name


def version_key(name: str, created: str) -> tuple[tuple[int, ...], str, str]:
    """How versions order: dotted numbers first (a name that is not one orders before all that are),
    then creation time, then the casefolded name."""
    v = version_of(name)
    numbers = tuple(int(p) for p in v.split(".")) if re.fullmatch(r"\d+(\.\d+)*", v) else ()
    return (numbers, created, name.casefold())


def names_version(name: str, latest: str) -> bool:
    """Whether image ``name`` is the version ``latest`` names (its version part, or the whole name;
    case-insensitive)."""
    want = latest.casefold()
    return name.casefold() == want or version_of(name).casefold() == want


@dataclass(frozen=True)
class Member:
    """One version of a family as ``latest`` sees it: its name, creation time and whether it is
    excluded from ``latest`` (version-wide)."""

    name: str
    created: str = ""
    excluded: bool = False

    @property
    def order(self) -> tuple[tuple[int, ...], str, str]:
        return version_key(self.name, self.created)


def resolve_latest(members: Iterable[Member]) -> str | None:
    """What Azure's ``latest`` resolves to: the highest version not excluded from latest (None:
    every version is excluded, or there is none). Azure Compute Gallery docs, "Image versions":
    "latest" is the highest version whose ``excludeFromLatest`` is false."""
    candidates = [m for m in members if not m.excluded]
    return max(candidates, key=lambda m: m.order).name if candidates else None


def latest_flags(members: Iterable[Member], target: str) -> dict[str, bool]:
    """The exclude-from-latest flag each version needs so that ``latest`` resolves to ``target``
    (a member's name): every higher version excluded, ``target`` not; lower versions are left as
    they are (absent: not managed)."""
    ms = list(members)
    by_name = {m.name.casefold(): m for m in ms}
    top = by_name[target.casefold()].order
    return {m.name: m.order > top for m in ms if m.order >= top}


def _regions(image: Image) -> dict[str, bool]:
    """Canonical region -> its own exclude-from-latest flag, from the image's ``target_regions``."""
    out: dict[str, bool] = {}
    for item in image.extra.get("target_regions") or ():
        if isinstance(item, str):
            out[item.replace(" ", "").lower()] = False
        elif isinstance(item, Mapping) and item.get("name"):
            out[str(item["name"]).replace(" ", "").lower()] = bool(item.get("exclude_from_latest"))
    return out


def latest_marks(images: Iterable[Image]) -> dict[str, str]:
    """What ``images list --family F`` says of each image (key -> ``latest``, or ``latest in R1, R2``
    where ``latest`` resolves to it only in some regions); images ``latest`` never resolves to are
    absent. Per region, a version is excluded when its version-wide flag or that region's flag says
    so (``excludeFromLatest``: "Virtual Machines deployed from the latest version of the Image
    Definition won't use this Image Version", GalleryImageVersionPublishingProfile, Compute
    Gallery REST docs); versions without regions (local) only have the version-wide flag."""
    ims = [(i, _regions(i)) for i in images]
    regions = sorted({r for _, rs in ims for r in rs})
    if not regions:
        overall = resolve_latest(Member(i.name, i.created, bool(i.extra.get("exclude_from_latest"))) for i, _ in ims)
        return {overall.casefold(): "latest"} if overall is not None else {}
    per_region: dict[str, list[str]] = {}
    for r in regions:
        chosen = resolve_latest(Member(i.name, i.created, bool(i.extra.get("exclude_from_latest")) or rs[r])
                                for i, rs in ims if r in rs)
        if chosen is not None:
            per_region.setdefault(chosen.casefold(), []).append(r)
    return {k: "latest" if len(rs) == len(regions) else "latest in " + ", ".join(rs) for k, rs in per_region.items()}


@dataclass(frozen=True)
class Rollout:
    """Where a ring rollout of ``latest`` stands once the plan is applied: ``moved`` rings (1-based
    count), the ``tag`` to record on the version (``LATEST_RING_TAG``), whether a ring moves with
    this plan (``advanced``), and when the next ring is due (None: every ring moved)."""

    moved: int
    tag: str
    advanced: bool
    next_due: datetime | None


_RING_TAG = re.compile(r"(\d+)@(.+)")


def parse_ring_tag(value: str | None) -> tuple[int, datetime | None]:
    """``2@2026-12-01T11:00:00Z`` -> (2, that time); (0, None) when absent or not such a value."""
    m = _RING_TAG.fullmatch(value) if value else None
    t = parse_time(m.group(2)) if m else None
    return (int(m.group(1)), t) if m and t else (0, None)


def ring_progress(afters: Sequence[str | None], tag: str | None, now: datetime) -> Rollout:
    """The rollout of rings whose ``after`` durations are ``afters`` (the first ring's is None), from
    the version's ring tag: no tag, the first ring moves now; ring N moved at T, ring N+1 moves once
    ``now`` is at least T + its ``after``."""
    n, at = parse_ring_tag(tag)
    n = min(n, len(afters))
    advanced = False
    if at is None:
        n, at, advanced = 1, now, True
    elif n < len(afters) and now >= at + parse_duration(afters[n] or "0m"):
        n, at, advanced = n + 1, now, True
    due = at + parse_duration(afters[n] or "0m") if n < len(afters) else None
    return Rollout(n, f"{n}@{format_time(at)}", advanced, due)


# --------------------------------------------------------------------------------------------------
# Lifecycle decisions


@dataclass(frozen=True)
class Decision:
    """What a lifecycle does to one image: ``deprecate`` (an update) or ``delete`` (a remove), and
    why, for the plan's reason."""

    action: str  # "deprecate" | "delete"
    reason: str


def lifecycle_decisions(
    images: Iterable[Image],
    *,
    keep: int,
    deprecate_after: timedelta | None,
    delete_after: timedelta | None,
    now: datetime,
    spared: Iterable[str] = (),
) -> dict[str, Decision]:
    """The lifecycle of one family over its owned, undeclared images (key -> ``Decision``).

    The newest ``keep`` (by creation time) are never touched, nor those named in ``spared`` (keys:
    the declared and the effective ``latest``). Of the rest, one not deprecated yet is deprecated
    once it is at least ``deprecate_after`` old (an image of unknown age never is); one deprecated
    at least ``delete_after`` ago is deleted (never, without ``delete_after``).
    """
    ordered = sorted(images, key=lambda i: (i.created, i.key), reverse=True)
    never = {s.casefold() for s in spared}
    out: dict[str, Decision] = {}
    for image in ordered[keep:]:
        if image.key in never:
            continue
        since = deprecated_at(image)
        if since is not None:
            if delete_after is not None and now - since >= delete_after:
                out[image.key] = Decision("delete", f"lifecycle: deprecated {format_time(since)}, "
                                                    f"delete after {spell(delete_after)}")
            continue
        if deprecate_after is None:
            continue
        old = age(image, now)
        if old is not None and old >= deprecate_after:
            out[image.key] = Decision("deprecate", f"lifecycle: older than {spell(deprecate_after)}, "
                                                   f"not among the newest {keep}")
    return out


def spell(d: timedelta) -> str:
    """A duration as the file would write it, in its largest whole unit (``72h`` is ``3d``)."""
    seconds = int(d.total_seconds())
    unit = next((u for u in ("w", "d", "h") if seconds and seconds % _UNITS[u] == 0), "m")
    return f"{seconds // _UNITS[unit]}{unit}"


def deprecation_fields(now: datetime, image_fields: Mapping[str, str]) -> dict[str, object]:
    """The ``extra`` fields a deprecation sets, those the provider has: end of life today, excluded
    from ``latest``."""
    out: dict[str, object] = {}
    if "end_of_life_date" in image_fields:
        out["end_of_life_date"] = format_time(now)[:10]
    if "exclude_from_latest" in image_fields:
        out["exclude_from_latest"] = True
    return out


__all__ = [
    "DEPRECATED_TAG",
    "DURATION_HINT",
    "LATEST_RING_TAG",
    "Decision",
    "Member",
    "Rollout",
    "age",
    "deprecated_at",
    "deprecation_fields",
    "duration_problem",
    "format_time",
    "latest_flags",
    "latest_marks",
    "lifecycle_decisions",
    "names_version",
    "parse_duration",
    "parse_ring_tag",
    "parse_time",
    "resolve_latest",
    "ring_progress",
    "spell",
    "version_key",
    "version_of",
]
