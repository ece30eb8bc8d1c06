"""The planner over a live image that failed (``Image.failed``) and a provider's own comparison of
its ``extra`` fields (``Capabilities.compare_extra``): issue 10 §3, design §4/§10."""

from __future__ import annotations

from dataclasses import replace

from planning import CAPS, desired, image_of, spec, vm

from reconciler.model import Action, ExtraComparison, Image, ImageSpec, Snapshot
from reconciler.plan import make_plan


def _plan(s: ImageSpec, live: Image, caps=CAPS):  # type: ignore[no-untyped-def]
    return make_plan(desired(s), Snapshot((live,), (vm(f"vm-{s.name}"),)), caps)


def test_a_failed_live_image_is_replaced_with_its_reason():
    s = spec("web")
    plan = _plan(s, image_of(s, failed="provisioning failed"))
    (c,) = plan.changes
    assert (c.action, c.reason, c.destructive) == (Action.REPLACE, "provisioning failed", True)
    assert c.steps[0] == "remove image" and not c.errors


def test_a_failed_image_that_is_protected_is_an_error_naming_the_failure():
    s = spec("web", protect=True)
    (c,) = _plan(s, image_of(s, failed="provisioning failed")).changes
    assert c.action is Action.REPLACE
    assert [e.code for e in c.errors] == ["protected"]
    assert c.errors[0].summary.startswith("provisioning failed: ")


def test_a_failed_image_of_another_catalog_is_not_touched():
    s = spec("web")
    (c,) = _plan(s, image_of(s, failed="provisioning failed", owner="other")).changes
    assert c.action is Action.NOOP and [e.code for e in c.errors] == ["foreign"]


def test_not_failed_and_equal_is_a_no_op():
    s = spec("web")
    (c,) = _plan(s, image_of(s)).changes
    assert c.action is Action.NOOP


def test_compare_extra_replaces_the_plain_extra_views_and_its_errors_are_located():
    caps = replace(CAPS, image_fields={"regions": "r", "mode": "m"},
                   mutable_fields=CAPS.mutable_fields | {"extra.regions"},
                   compare_extra=lambda s, i: ExtraComparison(
                       {"extra.regions": ["a"]}, {"extra.regions": ["a"]}))
    s = spec("web", extra={"regions": ["A "], "mode": "x"})
    live = image_of(s, extra={"regions": ["a"]})
    (c,) = make_plan(desired(s), Snapshot((live,), (vm("vm-web"),)), caps).changes
    assert c.action is Action.NOOP, "the hook's canonical views are equal, whatever extra holds"

    caps = replace(caps, compare_extra=lambda s, i: ExtraComparison(
        {"extra.regions": ["a", "b"]}, {"extra.regions": ["a"]}, (("cannot remove b", "keep it", "code-x"),)))
    (c,) = make_plan(desired(s), Snapshot((live,), (vm("vm-web"),)), caps).changes
    assert c.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in c.fields] == [("extra.regions[1]", "b", None)]
    assert [(e.code, e.summary, e.hint) for e in c.errors] == [("code-x", "cannot remove b", "keep it")]
    assert c.errors[0].location is not None and c.errors[0].location.file == "images.yaml"


def test_images_table_shows_a_status_column_only_when_an_image_has_a_status():
    from reconciler.render import render_images_table

    s = spec("web")
    plain = render_images_table([image_of(s)])
    assert "STATUS" not in plain
    table = render_images_table([image_of(s, failed="provisioning failed"), image_of(spec("api"))]).splitlines()
    assert table[0].split()[-1] == "STATUS"
    assert table[1].endswith("provisioning failed") and table[2].endswith("-")


def test_replace_requested_on_a_failed_image_says_replace_requested():
    from reconciler.plan import REPLACE_REQUESTED

    s = spec("web")
    plan = make_plan(desired(s), Snapshot((image_of(s, failed="provisioning failed"),), (vm("vm-web"),)), CAPS,
                     replace=["web"])
    (c,) = plan.changes
    assert (c.action, c.reason) == (Action.REPLACE, REPLACE_REQUESTED)
