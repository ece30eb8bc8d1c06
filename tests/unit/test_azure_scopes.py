"""The azure provider's modes as scope objects: one protocol, one place that selects, typed facts.

Pure: no HTTP. The backend is written once over ``Scope``; each mode must offer exactly what the
protocol names, with the protocol's parameters, so a third mode (or the gallery model's growth)
cannot drift from what the backend calls.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from reconciler.model import (
    Action,
    CatalogConfig,
    Change,
    FamilySpec,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Plan,
    Snapshot,
    Source,
)
from reconciler.plandoc import plan_document, plan_from_document, to_dict
from reconciler.planfile import plan_differences
from reconciler.providers import azure
from reconciler.providers.azure.families import family_from_resource, live_families
from reconciler.providers.azure.modes import open_scope, scope_class
from reconciler.providers.azure.scope import Scope, Target

TARGET = Target(owner="platform", subscription="sub", resource_group="rg", location="westeurope")
SCOPES = {
    "managed": open_scope({}, TARGET),
    "gallery": open_scope({"gallery": "gal"}, TARGET),
}


def protocol_members() -> dict[str, Any]:
    members = {}
    for klass in reversed(Scope.__mro__):
        if klass is object or klass.__module__ in ("typing", "typing_extensions"):
            continue
        members.update({k: v for k, v in vars(klass).items() if not k.startswith("_")})
    members.update({k: None for k in getattr(Scope, "__annotations__", {})})
    return members


@pytest.mark.parametrize("mode", sorted(SCOPES))
def test_each_scope_satisfies_the_one_protocol(mode: str) -> None:
    scope = SCOPES[mode]
    assert isinstance(scope, Scope)
    for name, member in protocol_members().items():
        assert hasattr(scope, name), f"{type(scope).__name__} lacks {name}"
        if callable(member):
            want = [p for p in inspect.signature(member).parameters if p != "self"]
            have = list(inspect.signature(getattr(scope, name)).parameters)
            assert have == want, (type(scope).__name__, name, have, want)


def test_the_settings_select_the_scope_and_nothing_else_looks() -> None:
    assert scope_class({}) is azure.ManagedScope and scope_class({"gallery": ""}) is azure.ManagedScope
    assert scope_class({"gallery": "g"}) is azure.GalleryScope
    assert type(SCOPES["managed"]) is azure.ManagedScope and type(SCOPES["gallery"]) is azure.GalleryScope


def test_paths_and_api_versions_per_mode() -> None:
    managed, gallery = SCOPES["managed"], SCOPES["gallery"]
    rp = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute"
    assert managed.image_path("web 1") == f"{rp}/images/web%201"
    assert gallery.image_path("web-base/1.0.3") == f"{rp}/galleries/gal/images/web-base/versions/1.0.3"
    assert (managed.api_version, gallery.api_version) == (azure.COMPUTE_API, azure.GALLERY_API)


def test_capabilities_are_the_scopes_facts() -> None:
    for settings, mode in (({}, azure.ManagedScope), ({"gallery": "g"}, azure.GalleryScope)):
        caps = azure.capabilities(settings)
        assert caps.name_pattern == mode.name_pattern and caps.name_hint == mode.name_hint
        assert set(caps.image_fields) == set(mode.image_fields)
        assert mode.mutable_fields <= caps.mutable_fields and caps.specialized_types == mode.specialized_types


def test_update_and_owner_bodies_echo_the_version_source_only_in_gallery_mode() -> None:
    live = {"tags": {}, "properties": {"storageProfile": {"source": {"virtualMachineId": "/x/vm1"}},
                                       "publishingProfile": {"replicaCount": 2}}}
    spec = ImageSpec(name="d/1.0.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(vm="vm1"), family="d")
    assert SCOPES["managed"].update_body(spec, live, {"a": "b"}) == {"tags": {"a": "b"}}
    assert SCOPES["managed"].owner_body(live, {"a": "b"}) == {"tags": {"a": "b"}}
    body = SCOPES["gallery"].update_body(spec, live, {"a": "b"})
    assert body["properties"]["storageProfile"] == {"source": {"virtualMachineId": "/x/vm1"}}
    assert body["properties"]["publishingProfile"] == {"replicaCount": 2}
    assert SCOPES["gallery"].owner_body(live, {})["properties"] == {"storageProfile": {"source": {
        "virtualMachineId": "/x/vm1"}}}


# --------------------------------------------------------------------------------------------------
# The definition's facts travel typed, and documents show them where they always were


def version_image() -> Image:
    definition = {"name": "web", "properties": {"osType": "Linux", "osState": "Specialized",
                                                "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
                                                "hyperVGeneration": "V2"}}
    version = {"name": "1.0.0", "tags": {azure.TAG_OWNER: "platform", "reconciler-fields": "replica_count"},
               "properties": {"storageProfile": {"source": {"virtualMachineId": "/x/virtualMachines/vm1"}},
                              "publishingProfile": {"replicaCount": 2}}}
    return azure.image_from_version(definition, version)


def test_a_version_carries_its_definition_as_typed_facts_not_in_extra() -> None:
    image = version_image()
    assert isinstance(image.facts, azure.GalleryVersionFacts)
    assert image.facts.definition() == azure.GalleryDefinition("web", OSState.SPECIALIZED, publisher="p", offer="o",
                                                               sku="s", hyper_v_generation="V2")
    assert (image.facts.provisioning_state, image.facts.replication, image.failed) == ("Succeeded", (), None)
    assert dict(image.extra) == {"replica_count": 2}
    # The nested family stays a FamilySpec (built field by field, not through ``asdict``).
    assert image.facts.family == family_from_resource(
        {"name": "web", "properties": {"osState": "Specialized", "hyperVGeneration": "V2",
                                       "identifier": {"publisher": "p", "offer": "o", "sku": "s"}}})
    assert isinstance(image.facts.live().spec, FamilySpec) and image.facts.live().facts is image.facts
    # The facts are what the gallery checks read: a generalized capture into the definition is refused.
    spec = ImageSpec(name="web/2.0.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(vm="vm1"), family="web")
    codes = sorted(d.code for d in azure.plan_checks(spec, Snapshot(images=(image,))))
    assert codes == ["azure-gallery-os-state"]
    # So do the snapshot's families (a definition without versions): the same refusal.
    live = live_families([{"name": "web", "properties": {"osType": "Linux", "osState": "Specialized"}}])
    assert [d.code for d in azure.plan_checks(spec, Snapshot(families=live))] == ["azure-gallery-os-state"]


def test_an_image_whose_old_tag_declared_a_definition_field_does_not_carry_it_in_extra() -> None:
    # Versions made before ``families:`` listed publisher & co in their declared-fields tag; the
    # fields are the family's now: not in the image's extra (export would write them per image).
    definition = {"name": "web", "properties": {"osType": "Linux", "osState": "Generalized",
                                                "identifier": {"publisher": "p", "offer": "o", "sku": "s"}}}
    version = {"name": "1.0.0", "tags": {azure.TAG_OWNER: "platform", "reconciler-fields": "publisher,sku"},
               "properties": {"storageProfile": {"source": {"virtualMachineId": "/x/virtualMachines/vm1"}}}}
    assert dict(azure.image_from_version(definition, version).extra) == {}


def test_documents_show_the_facts_in_extra_as_before_and_a_saved_plan_still_matches() -> None:
    image = version_image()
    shown = to_dict(image)
    assert "facts" not in shown
    assert list(shown["extra"]) == ["replica_count", "definition_os_state", "definition_publisher",
                                    "definition_offer", "definition_sku", "definition_hyper_v_generation",
                                    "provisioning_state", "replication"]
    assert shown["extra"]["definition_hyper_v_generation"] == "V2"
    change = Change(name=image.name, action=Action.REMOVE, reason="not declared", before=image, destructive=True)
    plan = Plan(catalog="platform", provider="azure", changes=(change,), fingerprints={}, desired_digest="d",
                prune=True)
    doc = json.loads(json.dumps(plan_document(plan)))
    assert doc["resource_changes"][0]["before"] == shown
    saved = plan_from_document(doc)
    assert plan_document(saved) == plan_document(plan)
    assert plan_differences(saved, plan) == []


def test_no_catalog_format_stores_the_facts() -> None:
    from reconciler.model import spec_from_image

    assert "definition_os_state" not in spec_from_image(version_image()).extra
    assert CatalogConfig("c").provider  # the model imports nothing from the provider
