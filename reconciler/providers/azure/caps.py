"""What the azure provider can hold, per mode, and which settings it takes. Pure, no I/O.

Layer: edge (provider), read by ``validate`` and ``plan`` without opening a catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from ...model import LATEST_FIELDS, Capabilities, PowerState, SettingProblem
from ..clouds import Kind, cloud_problem, credential_target_problem, get_cloud, target_hint
from ..registry import described, environment_of
from . import families
from .checks import mode_checks
from .footprint import capture_footprint, promotion_footprint
from .modes import GalleryScope, scope_class

NAME = "azure"
#: The subscription may come from the variable Azure's own tools read, besides ``RECONCILER_SUBSCRIPTION``.
#: Declared in the fragment (``schema.json``, ``environment``), so the registry reads it unimported.
ENVIRONMENT: Mapping[str, str] = environment_of(__package__ or "")

#: Catalog settings with their descriptions: the fragment's (``schema.json``, ``$defs.settings``).
SETTINGS = described(__package__ or "", "settings")

CONSUMES_VM = "leaves the source VM generalized and unusable"

#: The fields both modes keep in tags, so both can change them in place.
TAG_BACKED = frozenset({"label", "description", "recommended_vm_size", "tags", "protect"})


def capabilities(settings: Mapping[str, Any]) -> Capabilities:
    """What this provider can hold in the mode ``settings`` select. Pure."""
    mode = scope_class(settings)
    return Capabilities(
        provider=NAME,
        mutable_fields=frozenset(TAG_BACKED | mode.mutable_fields),
        specialized_types=mode.specialized_types,
        capture_power_states=frozenset({PowerState.STOPPED, PowerState.DEALLOCATED}),
        generalize=True,
        vhd_source=True,
        disk_sources=True,
        deprovision=True,
        image_fields=dict(mode.image_fields),
        settings=dict(SETTINGS),
        consumes_vm=CONSUMES_VM,
        family_from_name=mode is GalleryScope,  # a version's family is its definition, before the '/'
        deallocate_hint=f"az vm deallocate -g {settings.get('resource_group') or 'RESOURCE_GROUP'} -n {{vm}}",
        name_pattern=mode.name_pattern,
        name_hint=mode.name_hint,
        extra_checks=partial(mode_checks, mode, location=str(settings.get("location") or "")),
        # Gallery versions: declared vs live in canonical form (versions.compare); managed images: plain.
        compare_extra=getattr(mode, "compare_extra", None),
        check_settings=check_settings,
        # What a capture stores (issue 11 §5): one copy, or one per declared replica and region.
        footprint=partial(capture_footprint, gallery=mode is GalleryScope,
                          location=str(settings.get("location") or "")),
        promotion_footprint=partial(promotion_footprint, gallery=mode is GalleryScope,
                                    location=str(settings.get("location") or "")),
        promotion=mode is GalleryScope,  # a version from another gallery's version (issue 11 §1)
        **_family_caps(mode is GalleryScope),
    )


def _family_caps(gallery: bool) -> dict[str, Any]:
    """Gallery mode keeps families as image definitions (``families.py``); managed images take a
    family's ``description`` only, as documentation (the family is a tag there)."""
    if not gallery:
        return {}
    return {"family_fields": {**families.FIELDS, **LATEST_FIELDS}, "family_mutable": families.MUTABLE,
            "family_noun": "definition",
            "family_steps": families.capture_steps}


def check_settings(settings: Mapping[str, Any], trusted_hosts: tuple[str, ...] = ()) -> list[SettingProblem]:
    """Validate-time: ``endpoint`` and ``lock_endpoint`` must be the selected cloud's, loopback or
    trusted by the environment (``providers/clouds.py``); ``open_provider`` and the Blob lock
    check again. An unknown ``cloud`` is the schema's error; nothing else can be judged then."""
    if cloud_problem(settings.get("cloud") or "public") is not None:
        return []
    cloud = get_cloud(settings.get("cloud"))
    out = []
    targets: tuple[tuple[str, Kind], ...] = (("endpoint", "arm"), ("lock_endpoint", "blob"))
    for key, kind in targets:
        value = settings.get(key)
        if isinstance(value, str) and value:
            problem = credential_target_problem(value, cloud=cloud, trusted_hosts=trusted_hosts, kind=kind)
            if problem is not None:
                out.append(SettingProblem(key, problem, target_hint(f"catalog.{key}")))
    return out


__all__ = ["CONSUMES_VM", "ENVIRONMENT", "NAME", "SETTINGS", "TAG_BACKED", "capabilities", "check_settings"]
