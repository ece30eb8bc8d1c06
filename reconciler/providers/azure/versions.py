"""Gallery image versions: replication, safety profile and state, declared vs live. Pure.

Layer: edge (provider), no I/O: plain functions of ARM JSON and of the file's fields. ``gallery.py``
reads and writes versions with them; ``compare`` is the mode's ``Capabilities.compare_extra``.

The file's version fields and their API mapping (``docs/azure.md``, "Gallery versions"):

=============================================  ======================================================
file                                           ``properties`` of the version (GalleryRP 2025-03-03)
=============================================  ======================================================
``target_regions: [name | {name, replicas,     ``publishingProfile.targetRegions[]``: ``name``,
storage, exclude_from_latest}]``               ``regionalReplicaCount``, ``storageAccountType``,
                                               ``excludeFromLatest``
``replica_count``                              ``publishingProfile.replicaCount``
``storage_account_type``                       ``publishingProfile.storageAccountType``
``replication_mode: full | shallow``           ``publishingProfile.replicationMode``
``exclude_from_latest``                        ``publishingProfile.excludeFromLatest``
``end_of_life_date``                           ``publishingProfile.endOfLifeDate``
``allow_deletion_of_replicated_locations``     ``safetyProfile.allowDeletionOfReplicatedLocations``
``block_deletion_before_end_of_life``          ``safetyProfile.blockDeletionBeforeEndOfLife``
=============================================  ======================================================

Declared vs live (design §10): a field the file does not declare is unmanaged (never compared,
kept as it is on update); a declared field compares with the live value in canonical form (region
names without case or spaces: Azure answers ``"West Europe"`` to ``westeurope``, BEHAVIOURS.md
row 6); a value Azure fills in when it is not sent (``replicaCount`` 1, ``excludeFromLatest`` and
both safety flags false, ``replicationMode`` Full, a region's replicas from ``replicaCount``)
compares equal to the same value declared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...model import ExtraComparison, Image, ImageSpec

#: The version's own fields of the fragment (``schema.json``), in display order.
VERSION_FIELDS = (
    "target_regions",
    "replica_count",
    "storage_account_type",
    "replication_mode",
    "exclude_from_latest",
    "end_of_life_date",
    "allow_deletion_of_replicated_locations",
    "block_deletion_before_end_of_life",
)
#: What changes in place (BEHAVIOURS.md row 15: tags, target regions and replica counts,
#: exclude-from-latest, end of life; the safety profile too, issue 10 §3); anything else, and the
#: storage type of a region that exists, needs a new version.
UPDATABLE = (
    "target_regions",
    "replica_count",
    "exclude_from_latest",
    "end_of_life_date",
    "allow_deletion_of_replicated_locations",
    "block_deletion_before_end_of_life",
    "replication",
)
#: Azure's value when a version states none (GET after a create that did not send it).
DEFAULTS: Mapping[str, Any] = {
    "replica_count": 1,
    "replication_mode": "full",
    "exclude_from_latest": False,
    "allow_deletion_of_replicated_locations": False,  # azurerm docs (BEHAVIOURS.md row 8)
    "block_deletion_before_end_of_life": False,
}
STORAGE_TYPES = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")  # GalleryRP StorageAccountType
#: The planner's key for the storage type of a region both sides hold (not updatable: a replace).
REGION_STORAGE = "extra.region_storage"
#: The planner's key for regions whose replication failed (drift repaired by an update).
REPLICATION = "extra.replication"


def region(name: Any) -> str:
    """A region's canonical name: ``West Europe`` -> ``westeurope`` (azurerm ``location.Normalize``)."""
    return str(name or "").replace(" ", "").lower()


@dataclass(frozen=True)
class Region:
    """One target region as the file declares it; None: not declared (unmanaged or defaulted)."""

    name: str
    replicas: int | None = None
    storage: str | None = None
    exclude_from_latest: bool | None = None

    @classmethod
    def of(cls, item: Any) -> Region:
        """A file item: a plain name, or ``{name, replicas, storage, exclude_from_latest}``."""
        if isinstance(item, str):
            return cls(region(item))
        return cls(region(item.get("name")), item.get("replicas"), item.get("storage"),
                   item.get("exclude_from_latest"))


def declared_regions(value: Any) -> list[Region]:
    return [Region.of(i) for i in value or []]


def duplicate_regions(extra: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(summary, hint, code) when ``target_regions`` names a region twice (in any spelling)."""
    names = [r.name for r in declared_regions(extra.get("target_regions"))]
    twice = sorted({n for n in names if names.count(n) > 1})
    if not twice:
        return None
    return (f"target_regions names {', '.join(twice)} more than once (region names compare without case or spaces)",
            "list each region once", "azure-gallery-regions")


# --------------------------------------------------------------------------------------------------
# ARM -> the file's shape


def live_fields(version: Mapping[str, Any]) -> dict[str, Any]:
    """Every version field as the file would declare it, from the live version (None: Azure says none).

    Target regions are canonical and compact: a region's replicas, storage type and
    exclude-from-latest appear only where they differ from the version-wide value."""
    props = version.get("properties") or {}
    profile = props.get("publishingProfile") or {}
    safety = props.get("safetyProfile") or {}
    count = profile.get("replicaCount")
    storage = profile.get("storageAccountType")
    regions = []
    for r in profile.get("targetRegions") or []:
        item: dict[str, Any] = {"name": region(r.get("name"))}
        if r.get("regionalReplicaCount") not in (None, count or 1):
            item["replicas"] = r["regionalReplicaCount"]
        if r.get("storageAccountType") not in (None, storage):
            item["storage"] = r["storageAccountType"]
        if r.get("excludeFromLatest"):
            item["exclude_from_latest"] = True
        regions.append(item)
    mode = profile.get("replicationMode")
    return {
        "target_regions": regions or None,
        "replica_count": count,
        "storage_account_type": storage,
        "replication_mode": str(mode).lower() if mode else None,
        "exclude_from_latest": profile.get("excludeFromLatest"),
        "end_of_life_date": str(profile["endOfLifeDate"])[:10] if profile.get("endOfLifeDate") else None,
        "allow_deletion_of_replicated_locations": safety.get("allowDeletionOfReplicatedLocations"),
        "block_deletion_before_end_of_life": safety.get("blockDeletionBeforeEndOfLife"),
    }


def provisioning_state(version: Mapping[str, Any]) -> str:
    return str((version.get("properties") or {}).get("provisioningState") or "Succeeded")


def replication(version: Mapping[str, Any]) -> dict[str, str]:
    """Canonical region -> replication state (lower case: completed, replicating, failed, unknown),
    from ``properties.replicationStatus`` (``$expand=ReplicationStatus``); empty when not read."""
    status = (version.get("properties") or {}).get("replicationStatus") or {}
    return {region(s.get("region")): str(s.get("state") or "unknown").lower() for s in status.get("summary") or []}


# --------------------------------------------------------------------------------------------------
# The file -> ARM


def _wire_storage(value: str) -> str:
    return next((s for s in STORAGE_TYPES if s.lower() == value.lower()), value)


def wire_regions(regions: Iterable[Region],
                 live: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``targetRegions`` for the declared regions. ``live`` (canonical name -> live region): a
    region's sub-fields the file does not declare keep their live values on update."""
    out = []
    for r in regions:
        have = (live or {}).get(r.name) or {}
        item: dict[str, Any] = {"name": r.name}
        for key, value in (("regionalReplicaCount", r.replicas), ("storageAccountType", r.storage),
                           ("excludeFromLatest", r.exclude_from_latest)):
            if value is not None:
                item[key] = _wire_storage(str(value)) if key == "storageAccountType" else value
            elif key in have:
                item[key] = have[key]
        out.append(item)
    return out


def declared_publishing(extra: Mapping[str, Any], live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The publishing profile fields the file declares (``live``: the live profile, on update)."""
    prof: dict[str, Any] = {}
    if extra.get("target_regions"):
        have = {region(r.get("name")): r for r in (live or {}).get("targetRegions") or []}
        if extra.get("replica_count") is not None:
            # A region that declares no replicas takes the declared replica_count (Azure applies
            # replicaCount to a region sent without regionalReplicaCount), not its live count.
            have = {n: {k: v for k, v in r.items() if k != "regionalReplicaCount"} for n, r in have.items()}
        prof["targetRegions"] = wire_regions(declared_regions(extra["target_regions"]), have)
    if extra.get("replica_count") is not None:
        prof["replicaCount"] = extra["replica_count"]
    if extra.get("exclude_from_latest") is not None:
        prof["excludeFromLatest"] = bool(extra["exclude_from_latest"])
    if extra.get("end_of_life_date"):
        prof["endOfLifeDate"] = f"{extra['end_of_life_date']}T00:00:00+00:00"
    if live is None:  # create-only fields
        if extra.get("storage_account_type"):
            prof["storageAccountType"] = _wire_storage(str(extra["storage_account_type"]))
        if extra.get("replication_mode"):
            prof["replicationMode"] = str(extra["replication_mode"]).capitalize()
    return prof


def declared_safety(extra: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if extra.get("allow_deletion_of_replicated_locations") is not None:
        out["allowDeletionOfReplicatedLocations"] = bool(extra["allow_deletion_of_replicated_locations"])
    if extra.get("block_deletion_before_end_of_life") is not None:
        out["blockDeletionBeforeEndOfLife"] = bool(extra["block_deletion_before_end_of_life"])
    return out


def removed_regions(extra: Mapping[str, Any], live_version: Mapping[str, Any]) -> list[str]:
    """Live regions (canonical) the declared ``target_regions`` drop; [] when they are undeclared."""
    if not extra.get("target_regions"):
        return []
    want = {r.name for r in declared_regions(extra["target_regions"])}
    profile = ((live_version.get("properties") or {}).get("publishingProfile") or {})
    return [n for n in (region(r.get("name")) for r in profile.get("targetRegions") or []) if n not in want]


# --------------------------------------------------------------------------------------------------
# Declared vs live (the planner's view)


def _expanded(extra: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Live regions with every sub-field resolved (a compact region takes the version-wide value)."""
    count = extra.get("replica_count") or DEFAULTS["replica_count"]
    storage = extra.get("storage_account_type")
    out = {}
    for item in extra.get("target_regions") or []:
        r = Region.of(item)
        out[r.name] = {"replicas": r.replicas or count, "storage": r.storage or storage,
                       "exclude_from_latest": bool(r.exclude_from_latest)}
    return out


def _regions_view(want: Mapping[str, Any], have: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any],
                                                                            dict[str, Any]]:
    """(live, declared) target regions as compared, canonical name -> the sub-fields compared (a set
    keyed by name: the diff then names the region), and the storage view of regions both hold. A
    region's sub-field is compared only where the file manages it: declared on the region, or
    version-wide (``replica_count``, ``storage_account_type``)."""
    live = _expanded(have)
    after: dict[str, dict[str, Any]] = {}
    before: dict[str, dict[str, Any]] = {}
    storage_before: dict[str, Any] = {}
    storage_after: dict[str, Any] = {}
    managed: dict[str, dict[str, Any]] = {}
    for r in declared_regions(want.get("target_regions")):
        item: dict[str, Any] = {}
        replicas = r.replicas if r.replicas is not None else want.get("replica_count")
        if replicas is not None:
            item["replicas"] = replicas
        if r.exclude_from_latest is not None:
            item["exclude_from_latest"] = r.exclude_from_latest
        managed[r.name] = item
        after[r.name] = item
        storage = r.storage or want.get("storage_account_type")
        have_storage = (live.get(r.name) or {}).get("storage")
        if storage and r.name in live and have_storage:
            storage_before[r.name] = str(have_storage).lower()
            storage_after[r.name] = str(storage).lower()
    for name, sub in live.items():
        before[name] = {key: sub[key] for key in ("replicas", "exclude_from_latest") if key in managed.get(name, {})}
    return (dict(sorted(before.items())), dict(sorted(after.items())),
            {"before": storage_before, "after": storage_after} if storage_after else {})


def _canonical(key: str, value: Any) -> Any:
    if key in ("storage_account_type", "replication_mode") and isinstance(value, str):
        return value.lower()
    return value


def compare(spec: ImageSpec, image: Image, fields: Iterable[str], failures: Mapping[str, str]) -> ExtraComparison:
    """The declared ``extra`` fields of ``spec`` beside ``image``'s live ones, as the planner compares
    them; ``fields``: every field of the mode; ``failures``: canonical region -> its failed
    replication (the live version's ``replication``), each drift that an update repairs.

    A declared removal of a region from a version that refuses it (its live
    ``allow_deletion_of_replicated_locations`` false) sets the flag first: the view shows the flag
    going to true, unless the file declares it false, which is an error saying why not."""
    want, have = spec.extra, image.extra
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    errors: list[tuple[str, str, str]] = []
    twice = duplicate_regions(want)
    if twice is not None:
        errors.append(twice)
    for key in fields:
        value = want.get(key)
        if value is None:
            continue  # undeclared: unmanaged
        if key == "target_regions":
            b, a, storage = _regions_view(want, have)
            before[f"extra.{key}"], after[f"extra.{key}"] = b, a
            if storage:
                before[REGION_STORAGE], after[REGION_STORAGE] = storage["before"], storage["after"]
            continue
        live = have.get(key)
        if live is None:
            # Azure's default when it states none; a field Azure never reports (a storage type
            # chosen by storageAccountStrategy) is unknown, and unknown is not a difference.
            live = DEFAULTS.get(key, value if key == "storage_account_type" else None)
        before[f"extra.{key}"], after[f"extra.{key}"] = _canonical(key, live), _canonical(key, value)
    removed = sorted(set(before.get("extra.target_regions", {})) - set(after.get("extra.target_regions", {})))
    allowed = have.get("allow_deletion_of_replicated_locations") or False
    if removed and not allowed:
        if want.get("allow_deletion_of_replicated_locations") is False:
            errors.append((
                f"cannot remove region(s) {', '.join(removed)} from '{spec.name}': it declares "
                "allow_deletion_of_replicated_locations: false, and Azure refuses to remove a replicated region then",
                "set allow_deletion_of_replicated_locations: true (the update sets it before it removes the "
                "regions), or keep the regions in target_regions", "azure-gallery-region-removal"))
        else:
            key = "extra.allow_deletion_of_replicated_locations"
            before[key], after[key] = False, True
    repair = {r: s for r, s in failures.items() if r not in removed}
    if repair:
        before[REPLICATION] = dict(sorted(repair.items()))
        after[REPLICATION] = {r: "completed" for r in sorted(repair)}
    return ExtraComparison(before, after, tuple(errors))


__all__ = [
    "DEFAULTS",
    "REGION_STORAGE",
    "REPLICATION",
    "STORAGE_TYPES",
    "UPDATABLE",
    "VERSION_FIELDS",
    "Region",
    "compare",
    "declared_publishing",
    "declared_regions",
    "declared_safety",
    "duplicate_regions",
    "live_fields",
    "provisioning_state",
    "region",
    "removed_regions",
    "replication",
    "wire_regions",
]
