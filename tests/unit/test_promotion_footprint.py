"""A promotion carries its storage footprint (issue 11 §5): the planner asks the provider's
``Capabilities.promotion_footprint`` with the source image (``Snapshot.origins``); the local and
azure hooks give exact values, and unknown anywhere is unknown ({}), never a guess."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.model import (
    PROMOTION_EXTRA,
    VM,
    Action,
    Capabilities,
    CatalogConfig,
    DesiredState,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    PowerState,
    Snapshot,
    Source,
)
from reconciler.plan import make_plan
from reconciler.providers.azure.caps import capabilities
from reconciler.providers.azure.footprint import promotion_footprint as azure_promotion
from reconciler.providers.local.store import capture_footprint
from reconciler.providers.local.store import promotion_footprint as local_promotion

REF = "dev:web-base/1.4.0"


def promo(ref: str = REF, name: str = "web-base/1.4.0", **extra: Any) -> ImageSpec:
    data = {PROMOTION_EXTRA: {"from": ref, "source": "dev", "image": "web-base/1.4.0"}, **extra}
    return ImageSpec(name=name, type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(image=ref), family="web-base", extra=data)


def origin(footprint: dict[str, float] | None = None, **extra: Any) -> Image:
    return Image(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                 owner="dev", created="2026-11-28T00:00:00Z", footprint=footprint or {}, extra=extra)


def desired(*specs: ImageSpec) -> DesiredState:
    return DesiredState(catalog=CatalogConfig(name="prod"), policy=Policy(), images=specs, digest="d")


SEEN: list[tuple[str, str]] = []


def _hook(spec: ImageSpec, source: Image) -> dict[str, float]:
    """Distinct from the origin's own footprint, so that the plan shows the hook's answer."""
    SEEN.append((spec.name, source.owner or ""))
    return {k: 3 * v for k, v in source.footprint.items()}


def caps(**kw: Any) -> Capabilities:
    return Capabilities(provider="test", mutable_fields=frozenset({"tags"}), promotion=True, generalize=True, **kw)


# ---- the planner ----------------------------------------------------------------------------------


def test_a_promotion_stores_what_the_provider_says_of_its_source() -> None:
    SEEN.clear()
    plan = make_plan(desired(promo()), Snapshot(origins={REF: origin({"local": 20.0})}),
                     caps(promotion_footprint=_hook))
    (c,) = plan.changes
    assert c.action is Action.CAPTURE and c.errors == ()
    assert c.stored == {"local": 60.0} and c.freed == {}
    assert SEEN == [("web-base/1.4.0", "dev")]
    assert plan.storage() == {"stored": {"local": 60.0}, "freed": {}}


def test_a_source_named_in_another_case_is_found() -> None:
    (c,) = make_plan(desired(promo("DEV:Web-Base/1.4.0")), Snapshot(origins={REF: origin({"local": 5.0})}),
                     caps(promotion_footprint=_hook)).changes
    assert c.stored == {"local": 15.0}


def test_a_missing_source_stores_nothing_known() -> None:
    (c,) = make_plan(desired(promo()), Snapshot(), caps(promotion_footprint=_hook)).changes
    assert c.errors and c.stored == {} and c.freed == {}


def test_without_a_promotion_hook_a_promotion_stores_nothing_known_even_with_a_capture_hook() -> None:
    snap = Snapshot(origins={REF: origin({"local": 20.0})})
    (c,) = make_plan(desired(promo()), snap, caps(footprint=capture_footprint)).changes
    assert c.action is Action.CAPTURE and c.stored == {}


def test_an_unknown_source_footprint_stores_nothing_known() -> None:
    (c,) = make_plan(desired(promo()), Snapshot(origins={REF: origin()}), caps(promotion_footprint=_hook)).changes
    assert c.stored == {}


def test_a_vm_capture_uses_the_capture_hook_not_the_promotion_hook() -> None:
    vm_spec = ImageSpec(name="other", type=ImageType.VM, os="linux", os_state=OSState.GENERALIZED,
                        source=Source(vm="build"))
    build = VM(name="build", os="linux", power_state=PowerState.STOPPED, os_state=OSState.GENERALIZED,
               disk_gib=(30.0, 10.0))
    snap = Snapshot(vms=(build,), origins={REF: origin({"local": 20.0})})
    both = caps(footprint=capture_footprint, promotion_footprint=_hook)
    by = {c.name: c for c in make_plan(desired(vm_spec, promo()), snap, both).changes}
    assert by["other"].stored == {"local": 40.0} and by["web-base/1.4.0"].stored == {"local": 60.0}
    (only,) = make_plan(desired(vm_spec), snap, caps(promotion_footprint=_hook)).changes
    assert only.stored == {}  # no capture hook: a VM capture's footprint is unknown


def test_a_replaced_promotion_stores_the_copy_and_frees_the_old_image() -> None:
    live = Image(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                 family="web-base", owner="prod", source=Source(), footprint={"local": 7.0})
    snap = Snapshot(images=(live,), origins={REF: origin({"local": 20.0})})
    plan = make_plan(desired(promo()), snap, caps(promotion_footprint=_hook), replace=["web-base/1.4.0"])
    (c,) = plan.pending
    assert c.action is Action.REPLACE and c.stored == {"local": 60.0} and c.freed == {"local": 7.0}
    assert plan.storage() == {"stored": {"local": 60.0}, "freed": {"local": 7.0}}


# ---- local: the same disks once -------------------------------------------------------------------


def test_local_a_promotion_stores_the_source_footprint() -> None:
    assert local_promotion(promo(), origin({"local": 42.5})) == {"local": 42.5}
    assert local_promotion(promo(), origin()) == {}


# ---- azure: one copy of the source x the target's replicas and regions -----------------------------

WEU = "westeurope"


@pytest.mark.parametrize(("source", "target", "stored"), [
    # one copy in one region both sides: the source's footprint
    (origin({"Standard_LRS": 30.0}), {}, {"Standard_LRS": 30.0}),
    # the source: 2 regions x 2 replicas + 3 replicas in one = 5 copies of 30 GiB (one storage type each)
    (origin({"Standard_LRS": 60.0, "Premium_LRS": 90.0}, replica_count=2,
            target_regions=[{"name": WEU}, {"name": "northeurope", "replicas": 3, "storage": "Premium_LRS"}]),
     {}, {"Standard_LRS": 30.0}),
    # the source's regions take the default of one replica
    (origin({"Standard_LRS": 80.0}, target_regions=[{"name": WEU}, {"name": "eastus"}]), {},
     {"Standard_LRS": 40.0}),
    # a source of 3 replicas (no regions listed: its own), the target declaring 2 regions
    (origin({"Standard_LRS": 90.0}, replica_count=3),
     {"replica_count": 2,
      "target_regions": [{"name": WEU}, {"name": "eastus", "replicas": 4, "storage": "premium_lrs"}]},
     {"Standard_LRS": 60.0, "Premium_LRS": 120.0}),
    (origin({"Standard_LRS": 30.0}), {"storage_account_type": "Standard_ZRS"}, {"Standard_ZRS": 30.0}),
    # unknown: the source's size is not known
    (origin({}, replica_count=2), {"replica_count": 2}, {}),
])
def test_azure_a_promotion_stores_one_copy_per_declared_replica_and_region(
        source: Image, target: dict[str, Any], stored: dict[str, float]) -> None:
    assert azure_promotion(promo(**target), source, gallery=True, location="West Europe") == stored


def test_azure_managed_images_promote_nothing() -> None:
    assert azure_promotion(promo(), origin({"Standard_LRS": 30.0}), gallery=False, location=WEU) == {}


def test_azure_capabilities_carry_the_hook_for_the_catalog_location() -> None:
    settings = {"subscription": "s", "resource_group": "rg", "location": "West Europe", "gallery": "prod"}
    hook = capabilities(settings).promotion_footprint
    assert hook is not None
    source = origin({"Standard_LRS": 60.0}, replica_count=2)
    assert hook(promo(), source) == {"Standard_LRS": 30.0}
    assert hook(promo(target_regions=[WEU, "eastus"]), source) == {"Standard_LRS": 60.0}
    managed = capabilities({k: v for k, v in settings.items() if k != "gallery"}).promotion_footprint
    assert managed is not None and managed(promo(), source) == {}
