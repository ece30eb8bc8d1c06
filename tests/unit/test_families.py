"""Issue 10 §2: ``families:`` in the file, families in the plan, and gallery definitions as families.

The file (schema, semantics, ``DesiredState.families``, ``fmt``, ``dump_spec``); the planner's family
pass (a mutable difference rides on the family's first image, an immutable one is a plan error,
never a replace); the pure mapping of a family to a gallery definition (``providers/azure/families.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planning import CAPS, OWNER, desired, image, spec, vm

from reconciler.errors import Severity
from reconciler.fmt import format_yaml
from reconciler.model import (
    FAMILY_EXTRA,
    Action,
    Family,
    FamilySpec,
    OSState,
    PowerState,
    Snapshot,
)
from reconciler.plan import make_plan
from reconciler.providers.azure import families as fam
from reconciler.providers.azure.vmfacts import VmFacts
from reconciler.spec import check_spec, dump_spec, parse_spec

AZURE = """version: 1
catalog:
  name: platform
  provider: azure
  subscription: 00000000-0000-0000-0000-000000000000
  resource_group: rg
  location: westeurope
{gallery}"""


def gallery_file(body: str, gallery: bool = True) -> bytes:
    return (AZURE.format(gallery="  gallery: gal\n" if gallery else "") + body).encode()


FAMILIES = """families:
  web-base:
    description: nginx baseline
    hyper_v_generation: V2
    security_type: TrustedLaunch
    disk_controllers: [SCSI, NVMe]
    accelerated_networking: true
    recommended: {vcpus: {min: 2, max: 16}, memory_gb: {min: 4}}
    end_of_life_date: 2028-01-01
    purchase_plan: {publisher: contoso, product: web, name: base}
images:
  - name: web-base/1.0.0
    type: os
    os: linux
    source: {vm: build-01}
  - name: other/1.0.0
    type: os
    os: linux
    source: {vm: build-01}
"""


# --------------------------------------------------------------------------------------------------
# The file


def test_families_become_family_specs_and_ride_on_their_images_in_gallery_mode() -> None:
    state = parse_spec(gallery_file(FAMILIES), "images.yaml")
    f = state.families["web-base"]
    assert (f.hyper_v_generation, f.security_type, f.disk_controllers) == ("V2", "TrustedLaunch", ("SCSI", "NVMe"))
    assert (f.accelerated_networking, f.hibernation, f.end_of_life_date) == (True, None, "2028-01-01")
    assert f.recommended == {"vcpus": {"min": 2, "max": 16}, "memory_gb": {"min": 4}}
    assert f.line == 11
    web, other = state.images
    assert web.extra[FAMILY_EXTRA] == f.declared()
    assert f.declared()["disk_controllers"] == ["SCSI", "NVMe"] and "hibernation" not in f.declared()
    assert FAMILY_EXTRA not in other.extra  # an undeclared family: nothing to carry, all inferred


def test_a_provider_without_families_takes_description_and_refuses_gallery_fields_where_they_are() -> None:
    text = b"""version: 1
catalog: {name: platform}
families:
  web:
    description: fine everywhere
    security_type: TrustedLaunch
images:
  - {name: web-1, type: os, os: linux, family: web, source: {vm: b}}
"""
    state, diags = check_spec(text, "images.yaml")
    assert state is None
    [d] = [d for d in diags if d.severity is Severity.ERROR]
    assert (d.location.line, d.location.col, d.location.json_path) == (6, 5, "$.families.web.security_type")
    assert "gallery capability: provider 'local' does not support it" in d.summary
    assert "family fields: description" in d.hint and "catalog.gallery" in d.hint
    ok = parse_spec(text.replace(b"    security_type: TrustedLaunch\n", b""), "images.yaml")
    assert ok.families["web"].description == "fine everywhere"
    assert FAMILY_EXTRA not in ok.images[0].extra  # local keeps no families: nothing carried


def test_managed_images_keep_hyper_v_generation_per_image_but_refuse_it_as_a_family_field() -> None:
    body = """families:
  web: {hyper_v_generation: V2}
images:
  - {name: web-1, type: os, os: linux, family: web, hyper_v_generation: V2, source: {vm: b}}
"""
    _, diags = check_spec(gallery_file(body, gallery=False), "images.yaml")
    assert [(d.location.json_path, d.severity) for d in diags] == [("$.families.web.hyper_v_generation",
                                                                     Severity.ERROR)]


@pytest.mark.parametrize("field_name", ["publisher", "offer", "sku", "hyper_v_generation"])
def test_an_old_per_image_definition_field_says_where_it_moved(field_name: str) -> None:
    body = f"""images:
  - name: web-base/1.0.0
    type: os
    os: linux
    {field_name}: V2
    source: {{vm: build-01}}
"""
    _, diags = check_spec(gallery_file(body), "images.yaml")
    [d] = diags
    assert (d.location.line, d.location.col) == (13, 5)
    assert d.summary == f"'{field_name}' is no longer an image field: move to families.web-base.{field_name}"
    assert f"under families.web-base.{field_name}" in d.hint


def test_a_declared_family_no_image_uses_is_a_warning() -> None:
    state, diags = check_spec(gallery_file(FAMILIES.replace("  web-base:\n", "  web-bse:\n")), "images.yaml")
    assert state is not None
    [w] = diags
    assert (w.severity, w.location.json_path) == (Severity.WARNING, "$.families.web-bse")
    assert "no declared image has family 'web-bse'" in w.summary


def test_dump_spec_writes_families_that_read_back_equal() -> None:
    state = parse_spec(gallery_file(FAMILIES), "images.yaml")
    text = dump_spec(state.catalog, state.policy, state.images, list(state.families.values()))
    assert FAMILY_EXTRA not in text  # the carried declaration is not an image field of the file
    again = parse_spec(text.encode(), "images.yaml")
    assert again.families == state.families and again.images == state.images
    assert text.index("families:") < text.index("images:")


def test_fmt_puts_families_after_policy_and_orders_their_fields() -> None:
    text = """version: 1
images: []
families:
  web:
    # kept
    description: d
    publisher: p
catalog: {name: platform}
"""
    out = format_yaml(text.replace("    description: d\n    publisher: p\n", "    publisher: p\n    description: d\n"))
    assert out.index("catalog:") < out.index("families:") < out.index("images:")
    assert out.index("description: d") < out.index("publisher: p")


# --------------------------------------------------------------------------------------------------
# The planner's family pass (pure)

FAMILY_CAPS = replace(CAPS, family_fields=dict(fam.FIELDS), family_mutable=fam.MUTABLE, family_noun="definition")


def live(name: str = "web", owner: str | None = OWNER, **kw: Any) -> Family:
    base: dict[str, Any] = dict(description="old", hyper_v_generation="V2", security_type="TrustedLaunch",
                                architecture="x64", disk_controllers=("SCSI", "NVMe"), publisher=OWNER)
    base.update(kw)
    return Family(spec=FamilySpec(name, **base), owner=owner, id=f"/defs/{name}", fingerprint=f"fp-def-{name}")


def state_with(family: FamilySpec, *specs: Any) -> Any:
    return replace(desired(*specs), families={family.name: family})


def two_images() -> tuple[Any, Any]:
    return spec("web-2", family="web"), spec("web-1", family="web")  # file order: web-2 first


def test_a_mutable_difference_rides_on_the_first_declared_image_of_the_family() -> None:
    first, second = two_images()
    snap = Snapshot(images=(image("web-1", family="web"), image("web-2", family="web")), families={"web": live()})
    plan = make_plan(state_with(FamilySpec("web", description="new"), first, second), snap, FAMILY_CAPS)
    by_name = {c.name: c for c in plan.changes}
    carrier = by_name["web-2"]
    assert (carrier.action, carrier.reason, carrier.steps) == (Action.UPDATE, "definition web: description differs",
                                                               ("update definition web",))
    assert [(f.path, f.before, f.after, f.forces_replace) for f in carrier.fields] == [
        ("families.web.description", "old", "new", False)]
    assert by_name["web-1"].action is Action.NOOP
    assert plan.applyable and plan.fingerprints["family:web"] == "fp-def-web"


def test_several_mutable_differences_on_an_image_that_changes_anyway() -> None:
    first, _ = two_images()
    first = replace(first, label="new label")
    snap = Snapshot(images=(image("web-2", family="web"),), families={"web": live(eula="a")})
    plan = make_plan(state_with(FamilySpec("web", description="new", eula="b"), first), snap, FAMILY_CAPS)
    [c] = plan.changes
    assert c.action is Action.UPDATE and c.reason == "label differs"
    assert [f.path for f in c.fields] == ["label", "families.web.description", "families.web.eula"]
    assert c.steps == ("update definition web", "update image")


def test_the_first_capture_into_an_existing_family_updates_it_before_capturing() -> None:
    new = spec("web-3", family="web")
    snap = Snapshot(vms=(vm("vm-web-3"),), families={"web": live()})
    plan = make_plan(state_with(FamilySpec("web", description="new", hyper_v_generation="V2"), new), snap,
                     FAMILY_CAPS)
    [c] = plan.changes
    assert c.action is Action.CAPTURE
    assert c.steps == ("update definition web", "capture image")
    assert c.fields[-1].path == "families.web.description"


def test_an_immutable_difference_is_a_plan_error_at_the_field_never_a_replace() -> None:
    first, second = two_images()
    snap = Snapshot(images=(image("web-1", family="web"), image("web-2", family="web")), families={"web": live()})
    fam_spec = FamilySpec("web", hyper_v_generation="V1", security_type="TrustedLaunch", line=7)
    state = replace(state_with(fam_spec, first, second),
                    positions={"$.families.web.hyper_v_generation": (9, 5)})
    plan = make_plan(state, snap, FAMILY_CAPS)
    assert all(c.action is Action.NOOP for c in plan.changes)
    [e] = plan.errors
    assert (e.code, e.location.file, e.location.line, e.location.col, e.location.json_path) == (
        "family-immutable", "images.yaml", 9, 5, "$.families.web.hyper_v_generation")
    assert e.summary == ("definition 'web' has hyper_v_generation 'V2', the file declares 'V1': "
                         "hyper_v_generation of an existing definition cannot change")
    assert "declare hyper_v_generation: V2" in e.hint and "delete every version" in e.hint
    assert not plan.applyable


def test_a_mutable_difference_on_a_family_of_another_catalog_is_refused() -> None:
    first, _ = two_images()
    snap = Snapshot(images=(image("web-2", family="web"),), families={"web": live(owner="someone-else")})
    plan = make_plan(state_with(FamilySpec("web", description="new", line=4), first), snap, FAMILY_CAPS)
    [e] = plan.errors
    assert e.code == "family-not-owned" and (e.location.line, e.location.json_path) == (4, "$.families.web")
    assert e.location.file == "images.yaml"
    assert e.summary == "definition 'web' is not owned by catalog 'platform': its description cannot be updated"
    assert e.hint == ("import one of its images (reconciler import NAME adopts the definition too), or remove "
                      "the differing fields")
    assert plan.changes[0].action is Action.NOOP


def test_live_values_declared_are_no_change_and_undeclared_fields_are_unmanaged() -> None:
    first, _ = two_images()
    snap = Snapshot(images=(image("web-2", family="web"),), families={"web": live()})
    snap = replace(snap, families={"web": live(disk_controllers=("NVMe", "SCSI"))})
    declared = FamilySpec("web", disk_controllers=("SCSI", "NVMe"), security_type="TrustedLaunch")  # any order
    plan = make_plan(state_with(declared, first), snap, FAMILY_CAPS)
    assert [c.action for c in plan.changes] == [Action.NOOP] and not plan.errors


def test_a_provider_that_keeps_no_families_compares_none() -> None:
    first, _ = two_images()
    snap = Snapshot(images=(image("web-2", family="web"),), families={"web": live()})
    plan = make_plan(state_with(FamilySpec("web", description="new", hyper_v_generation="V1"), first), snap, CAPS)
    assert [c.action for c in plan.changes] == [Action.NOOP] and not plan.errors


def test_a_refused_image_does_not_carry_the_family_update() -> None:
    theirs, ours = spec("web-0", family="web"), spec("web-1", family="web")
    snap = Snapshot(images=(image("web-0", family="web", owner="other"), image("web-1", family="web")),
                    families={"web": live()})
    plan = make_plan(state_with(FamilySpec("web", description="new"), theirs, ours), snap, FAMILY_CAPS)
    by_name = {c.name: c for c in plan.changes}
    assert by_name["web-0"].errors and by_name["web-0"].action is Action.NOOP
    assert by_name["web-1"].action is Action.UPDATE


def test_family_steps_of_the_provider_run_right_before_the_capture() -> None:
    caps = replace(FAMILY_CAPS, family_steps=lambda s, snap: (f"create definition {s.family} ({len(snap.vms)} VM)",))
    new = spec("web-3", family="web", source=replace(spec("x").source, vm="vm-web-3", generalize=True))
    running = vm("vm-web-3", os_state=OSState.SPECIALIZED, power_state=PowerState.RUNNING)
    plan = make_plan(desired(new), Snapshot(vms=(running,)), caps)
    [c] = plan.changes
    assert c.steps == ("deallocate VM vm-web-3", "generalize VM vm-web-3", "create definition web (1 VM)",
                       "capture image")


# --------------------------------------------------------------------------------------------------
# A family as a gallery definition (pure mapping)

_declared = st.fixed_dictionaries({}, optional={
    "description": st.text(min_size=1, max_size=8),
    "publisher": st.sampled_from(["contoso", "fabrikam"]),
    "hyper_v_generation": st.sampled_from(["V1", "V2"]),
    "security_type": st.sampled_from(["Standard", "TrustedLaunch", "TrustedLaunchSupported", "ConfidentialVM",
                                      "ConfidentialVMSupported", "TrustedLaunchAndConfidentialVmSupported"]),
    "architecture": st.sampled_from(["x64", "Arm64"]),
    "disk_controllers": st.sampled_from([["SCSI"], ["NVMe"], ["SCSI", "NVMe"], ["NVMe", "SCSI"]]),
    "accelerated_networking": st.booleans(),
    "hibernation": st.booleans(),
    "recommended": st.sampled_from([{"vcpus": {"min": 2}}, {"vcpus": {"min": 2, "max": 8}, "memory_gb": {"max": 64}}]),
    "eula": st.just("https://e.example/eula"),
    "release_notes": st.just("https://e.example/notes"),
    "privacy_statement": st.just("https://e.example/privacy"),
    "end_of_life_date": st.just("2028-01-01"),
    "purchase_plan": st.just({"publisher": "p", "product": "q", "name": "n"}),
})


@settings(derandomize=True, max_examples=150, deadline=None)
@given(_declared)
def test_property_every_declared_field_reads_back_from_the_definition_it_writes(declared: dict[str, Any]) -> None:
    # Azure's read-back of what was written (the emulator and Azure store these as sent): each
    # declared value compares equal, so a created definition plans as a no-op.
    resource = {"name": "web", "properties": {"osType": "Linux", "osState": "Generalized",
                                              **fam.properties_of(declared)}}
    back = fam.family_from_resource(resource)
    for key, value in declared.items():
        assert fam.comparable(key, getattr(back, key)) == fam.comparable(key, value), key
    assert fam.mutable_changes(declared, back) == {}


def test_security_types_map_to_the_features_azurerm_writes() -> None:
    assert "features" not in fam.properties_of({"security_type": "Standard"})
    for value in ("TrustedLaunch", "TrustedLaunchSupported", "ConfidentialVM", "ConfidentialVMSupported",
                  "TrustedLaunchAndConfidentialVmSupported"):
        assert fam.properties_of({"security_type": value})["features"] == [{"name": "SecurityType", "value": value}]
    props = fam.properties_of({"disk_controllers": ["SCSI", "NVMe"], "accelerated_networking": True,
                               "hibernation": False, "end_of_life_date": "2028-01-01",
                               "recommended": {"memory_gb": {"min": 4}}, "release_notes": "https://n"})
    assert props["features"] == [{"name": "DiskControllerTypes", "value": "SCSI, NVMe"},
                                 {"name": "IsAcceleratedNetworkSupported", "value": "true"},
                                 {"name": "IsHibernateSupported", "value": "false"}]
    assert (props["endOfLifeDate"], props["recommended"], props["releaseNoteUri"]) == (
        "2028-01-01T00:00:00+00:00", {"memory": {"min": 4}}, "https://n")


def test_a_definition_without_properties_reads_as_azures_defaults() -> None:
    back = fam.family_from_resource({"name": "d", "properties": {"identifier": {"publisher": "p", "offer": "o",
                                                                                "sku": "s"}}})
    assert (back.hyper_v_generation, back.security_type, back.architecture, back.disk_controllers,
            back.accelerated_networking, back.hibernation) == ("V1", "Standard", "x64", ("SCSI",), False, False)
    assert (back.publisher, back.offer, back.sku, back.description, back.end_of_life_date) == ("p", "o", "s", None,
                                                                                               None)


def test_a_new_definition_takes_what_is_declared_and_infers_the_rest_from_the_source_vm() -> None:
    facts = VmFacts(hyper_v_generation="V2", security_type="TrustedLaunch", architecture="Arm64",
                    disk_controller="NVMe")
    assert fam.resolve("web", {}, facts, "platform") == {
        "publisher": "platform", "offer": "web", "sku": "web", "hyper_v_generation": "V2",
        "security_type": "TrustedLaunch", "architecture": "Arm64", "disk_controllers": ["SCSI", "NVMe"]}
    assert fam.resolve("web", {"sku": "s", "security_type": "ConfidentialVM"}, facts, "o")["security_type"] == (
        "ConfidentialVM")
    # A Standard Gen1 x64 SCSI VM (or a VHD: no facts) sends nothing Azure would not default to.
    assert fam.resolve("web", {}, VmFacts(hyper_v_generation="V1"), "o") == {
        "publisher": "o", "offer": "web", "sku": "web", "hyper_v_generation": "V1"}
    assert fam.resolve("web", {}, None, "o") == {"publisher": "o", "offer": "web", "sku": "web"}
    assert fam.summary(fam.resolve("web", {}, facts, "o")) == "V2, TrustedLaunch, Arm64, SCSI+NVMe"


def _capture(declared: dict[str, Any] | None, facts: VmFacts, families: dict[str, Family] | None = None) -> Any:
    s = spec("web/1.0.0", family="web", type=image("x").type,
             extra={FAMILY_EXTRA: declared} if declared is not None else {})
    snap = Snapshot(vms=(vm("vm-web/1.0.0", facts=facts),), families=families or {})
    return fam.capture_checks(s, snap), fam.capture_steps(s, snap)


def test_a_capture_into_a_new_family_is_checked_against_what_the_file_declares() -> None:
    tl_gen2 = VmFacts(hyper_v_generation="V2", security_type="TrustedLaunch")
    errors, steps = _capture(None, tl_gen2)
    assert errors == [] and steps == ("create definition web (V2, TrustedLaunch, x64)",)
    errors, _ = _capture({"hyper_v_generation": "V1"}, tl_gen2)
    assert [e.code for e in errors] == ["azure-gallery-generation"]
    assert "gallery definition 'web' (as families.web declares it)" in errors[0].summary
    errors, _ = _capture({"security_type": "TrustedLaunchSupported"}, tl_gen2)
    assert [e.code for e in errors] == ["azure-gallery-security-type"]
    errors, _ = _capture({"security_type": "TrustedLaunch"}, VmFacts(hyper_v_generation="V2"))
    assert [e.code for e in errors] == ["azure-gallery-security-type"]
    # An existing definition is GalleryScope.plan_checks' (its live facts): nothing here, no step.
    assert _capture({"hyper_v_generation": "V1"}, tl_gen2, {"web": live()}) == ([], ())


def test_several_differences_on_a_no_op_image_are_worded_together() -> None:
    first, _ = two_images()
    snap = Snapshot(images=(image("web-2", family="web"),), families={"web": live(eula="a")})
    plan = make_plan(state_with(FamilySpec("web", description="new", eula="b"), first), snap, FAMILY_CAPS)
    assert plan.changes[0].reason == "definition web: description, eula differ"


def test_a_declared_family_not_live_yet_is_left_to_the_first_capture() -> None:
    new = spec("web-3", family="web")
    snap = Snapshot(vms=(vm("vm-web-3"),), families={"other": live("other")})
    plan = make_plan(state_with(FamilySpec("web", description="new", hyper_v_generation="V1"), new), snap,
                     FAMILY_CAPS)
    [c] = plan.changes
    assert (c.action, c.steps, [f.path for f in c.fields if f.path.startswith("families")]) == (
        Action.CAPTURE, ("capture image",), [])
    assert not plan.errors and "family:other" not in plan.fingerprints


def test_the_families_of_declared_images_are_fingerprinted_declared_or_not() -> None:
    first, _ = two_images()
    snap = Snapshot(images=(image("web-2", family="web"),), families={"web": live()})
    assert make_plan(desired(first), snap, FAMILY_CAPS).fingerprints["family:web"] == "fp-def-web"
    assert make_plan(desired(first), snap, FAMILY_CAPS).fingerprints == {
        **make_plan(desired(first), replace(snap, families={}), FAMILY_CAPS).fingerprints,
        "family:web": "fp-def-web"}


@pytest.mark.parametrize("name", ["web.base", "it's", "a\\b"])
def test_family_errors_point_at_the_key_whatever_the_family_is_called(name: str) -> None:
    from reconciler.spec import json_path

    s = spec("x-1", family=name)
    snap = Snapshot(images=(image("x-1", family=name),), families={name.casefold(): live(name)})
    path = json_path(("families", name, "hyper_v_generation"))
    state = replace(state_with(FamilySpec(name, hyper_v_generation="V1", line=3), s),
                    positions={path: (5, 7), json_path(("families", name)): (4, 3)})
    [e] = make_plan(state, snap, FAMILY_CAPS).errors
    assert (e.location.line, e.location.col, e.location.json_path) == (5, 7, path)
    other = replace(state, positions={})
    [e] = make_plan(other, snap, FAMILY_CAPS).errors
    assert (e.location.file, e.location.line, e.location.col) == ("images.yaml", 3, 0)
    theirs = replace(snap, families={name.casefold(): live(name, owner=None)})
    desc = replace(state, families={name: FamilySpec(name, description="new", line=3)})
    [e] = make_plan(desc, theirs, FAMILY_CAPS).errors
    assert (e.code, e.location.line, e.location.col) == ("family-not-owned", 4, 3)


def test_each_family_is_planned_on_its_own() -> None:
    # web: not live; fixed: only an immutable difference; theirs: not ours; ours: a description to update.
    images = [spec(f"{f}-1", family=f) for f in ("web", "fixed", "theirs", "ours")]
    snap = Snapshot(images=tuple(image(f"{f}-1", family=f) for f in ("web", "fixed", "theirs", "ours")),
                    families={"fixed": live("fixed"), "theirs": live("theirs", owner="x"), "ours": live("ours")})
    declared = {"web": FamilySpec("web", description="d"), "fixed": FamilySpec("fixed", hyper_v_generation="V1"),
                "theirs": FamilySpec("theirs", description="d"), "ours": FamilySpec("ours", description="d")}
    plan = make_plan(replace(desired(*images), families=declared), snap, FAMILY_CAPS)
    assert [e.code for e in plan.errors] == ["family-immutable", "family-not-owned"]
    assert {c.name: c.action for c in plan.changes} == {"web-1": Action.NOOP, "fixed-1": Action.NOOP,
                                                         "theirs-1": Action.NOOP, "ours-1": Action.UPDATE}


def test_a_family_without_a_declared_image_changes_nothing() -> None:
    snap = Snapshot(images=(image("web-1", family="web"),), vms=(vm("vm-other-1"),), families={"web": live()})
    state = replace(desired(spec("other-1", family="other")), families={"web": FamilySpec("web", description="d")})
    plan = make_plan(state, snap, FAMILY_CAPS)
    assert [c.name for c in plan.pending] == ["other-1"] and not plan.errors


def test_an_equal_field_does_not_hide_the_next_one() -> None:
    first, _ = two_images()
    snap = Snapshot(images=(image("web-2", family="web"),), families={"web": live()})
    plan = make_plan(state_with(FamilySpec("web", description="old", eula="b"), first), snap, FAMILY_CAPS)
    assert [(f.path, f.before, f.after) for f in plan.changes[0].fields] == [("families.web.eula", None, "b")]


def test_a_generalizing_capture_updates_the_family_right_before_capturing() -> None:
    new = spec("web-3", family="web", source=replace(spec("x").source, vm="vm-web-3", generalize=True))
    unrelated = spec("plain-1")
    snap = Snapshot(vms=(vm("vm-web-3", os_state=OSState.SPECIALIZED), vm("vm-plain-1")), families={"web": live()})
    plan = make_plan(state_with(FamilySpec("web", description="new"), unrelated, new), snap, FAMILY_CAPS)
    by_name = {c.name: c for c in plan.changes}
    assert by_name["web-3"].steps == ("generalize VM vm-web-3", "update definition web", "capture image")
    assert by_name["plain-1"].steps == ("capture image",)
