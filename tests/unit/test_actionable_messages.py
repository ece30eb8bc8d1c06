"""Issue 12 §3, "messages a user can act on": each test failed before its fix."""

from __future__ import annotations

from planning import desired, image, spec, vm

from reconciler.model import Snapshot, Source
from reconciler.plan import make_plan
from reconciler.providers import capabilities_for

# --- 1. everything apply needs is checked at plan time


def test_azure_capture_without_a_location_is_a_plan_time_error():
    s = spec("web", source=Source(vm="vm-web"))
    snap = Snapshot(vms=(vm("vm-web"),))
    caps = capabilities_for("azure", {"subscription": "s", "resource_group": "rg"})
    (change,) = make_plan(desired(s), snap, caps).changes
    assert [e.code for e in change.errors] == ["azure-location"]
    assert "catalog.location" in change.errors[0].hint
    with_location = capabilities_for("azure", {"subscription": "s", "resource_group": "rg", "location": "westeurope"})
    (change,) = make_plan(desired(s), snap, with_location).changes
    assert change.errors == ()


def test_classic_clearing_family_is_a_plan_time_error_with_the_hint():
    caps = capabilities_for("azure-classic", {})
    live = image("web", family="base")
    p = make_plan(desired(spec("web", family=None)), Snapshot(images=(live,)), caps)
    (change,) = p.changes
    assert p.errored
    (err,) = change.errors
    assert err.code == "field-not-clearable"
    assert "cannot clear family" in err.summary
    assert "declare a family" in err.hint
    # Setting a family is fine.
    assert not make_plan(desired(spec("web", family="other")), Snapshot(images=(live,)), caps).errored


# --- 2. --no-prune removes nothing at all


def _retention_case():
    from planning import CAPS

    old = [image(f"web-{i}", family="web", created=f"2026-01-0{i}") for i in range(1, 5)]
    return desired(prune=False, retention={"web": 1}), Snapshot(images=tuple(old)), CAPS


def test_no_prune_turns_off_retention_removals_too():
    d, snap, caps = _retention_case()
    assert [c.name for c in make_plan(d, snap, caps).pending] == ["web-1", "web-2", "web-3"]  # retention
    assert make_plan(d, snap, caps, prune=False).pending == ()
    assert make_plan(d, snap, caps, prune=True).pending != ()


def test_a_saved_no_prune_plan_and_a_saved_retention_plan_both_replay():
    from reconciler.operations import verify_saved_plan

    d, snap, caps = _retention_case()
    for override in (None, False, True):
        saved = make_plan(d, snap, caps, prune=override)
        verify_saved_plan(saved, d, snap, caps, "plan.json")  # raises when the replay differs


# --- 3. wording, counts and hints


def test_a_plural_field_alone_differs_in_the_plural():
    from planning import CAPS, image_of

    s = spec("web", tags={"t": "1"}, label="L")
    (c,) = make_plan(desired(s), Snapshot(images=(image_of(s, tags={"t": "2"}),)), CAPS).changes
    assert c.reason == "tags differ"
    (c,) = make_plan(desired(s), Snapshot(images=(image_of(s, label="old"),)), CAPS).changes
    assert c.reason == "label differs"


def test_the_power_state_hint_fits_the_provider():
    from reconciler.model import PowerState

    s = spec("web", source=Source(vm="vm-web"))
    snap = Snapshot(vms=(vm("vm-web", power_state=PowerState.RUNNING),))

    def hint(provider, settings):
        caps = capabilities_for(provider, settings)
        (c,) = make_plan(desired(s), snap, caps).changes
        (err,) = [e for e in c.errors if e.code == "vm-power-state"]
        return err.hint

    assert "az vm" not in hint("local", {"path": "x.db"})
    assert "az vm" not in hint("azure-classic", {})
    assert "az vm deallocate -g rg -n vm-web" in hint(
        "azure", {"subscription": "s", "resource_group": "rg", "location": "westeurope"})


def test_a_failed_operation_does_not_report_the_poll_http_200():
    from reconciler.providers.http.lro import Response, operation_error

    body = {"status": "Failed", "error": {"code": "InternalError", "message": "disk busy"}}
    err = operation_error(Response(200, {}, body), "failed", "capture web")
    assert "HTTP" not in str(err) and "disk busy" in str(err) and err.code == "InternalError"
    assert "(HTTP 409)" in str(operation_error(Response(409, {}, body), "failed", "capture web"))


# --- 4. plan-time errors point at the offending key


_FILE = b"""version: 1
catalog:
  name: platform
  provider: local
  path: c.db
images:
  - name: web
    type: vm
    os: linux
    os_state: generalized
    source:
      vm: vm-web
  - name: db
    type: vm
    os: windows
    os_state: generalized
    source: {vm: vm-db}
"""


def test_plan_time_errors_point_at_the_offending_key():
    from planning import CAPS

    from reconciler.model import Category
    from reconciler.spec import parse_spec

    d = parse_spec(_FILE, "images.yaml", capabilities=capabilities_for("local", {"path": "c.db"}))
    p = make_plan(d, Snapshot(vms=(vm("vm-db"),)), CAPS)
    (missing,) = [e for c in p.changes for e in c.errors if e.code == "vm-missing"]
    loc = missing.location
    assert (loc.line, loc.col, loc.json_path) == (12, 7, "$.images[0].source.vm")
    (os_err,) = [e for c in p.changes for e in c.errors if e.code == "os-mismatch"]
    assert (os_err.location.line, os_err.location.col, os_err.location.json_path) == (15, 5, "$.images[1].os")
    taken = make_plan(d, Snapshot(images=(image("db", owner="other"),), vms=(vm("vm-web"),)), CAPS)
    (name_err,) = [e for c in taken.changes for e in c.errors]
    assert (name_err.location.line, name_err.location.col) == (13, 5), name_err.location
    public = make_plan(d, Snapshot(images=(image("web", owner=None, category=Category.PUBLIC),)), CAPS)
    assert [e.location.line for c in public.changes for e in c.errors if e.code == "public"] == [7]


# --- 7. in gallery mode the family follows from the version name


def test_in_gallery_mode_the_family_follows_from_the_version_name():
    from reconciler.spec import check_spec

    settings = {"subscription": "s", "resource_group": "rg", "location": "westeurope", "gallery": "g"}
    text = b"""version: 1
catalog:
  {name: platform, provider: azure, subscription: 00000000-0000-0000-0000-000000000000, resource_group: rg,
   location: westeurope, gallery: g}
policy: {retention: {web-base: 2}}
images:
  - {name: web-base/1.0.3, type: os, os: linux, source: {vm: vm-web}}
"""
    caps = capabilities_for("azure", settings)
    d, diags = check_spec(text, "images.yaml", capabilities=caps)
    # No "no declared image has family 'web-base'" either; only the hint that retention is lifecycle.keep.
    assert d is not None and [x.summary for x in diags] == [
        "policy.retention.web-base: 2 works as policy.lifecycle.web-base.keep: 2"], diags
    assert d.images[0].family == "web-base"
    (change,) = make_plan(d, Snapshot(vms=(vm("vm-web"),)), caps).changes
    assert [e.code for e in change.errors if e.code == "azure-gallery-family"] == []
