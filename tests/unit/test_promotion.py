"""The pure promotion rules (issue 11 §1): the gate (``promotion.waiting_reason``), the source's
type/OS/state, and how the planner applies them (waiting, never destructive, source not compared).
Exact strings and the boundaries of ages, so that a mutant of the gate is caught."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler import rules
from reconciler.model import (
    PROMOTION_EXTRA,
    Action,
    Capabilities,
    CatalogConfig,
    DesiredState,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Plan,
    Policy,
    Snapshot,
    Source,
)
from reconciler.plan import make_plan
from reconciler.promotion import Promotion, origin_mismatches, promotion_of, spell_age, split_ref, waiting_reason

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REF = "dev:web-base/1.4.0"


def origin(created: datetime | None = None, tags: dict[str, str] | None = None, **kw) -> Image:
    stamp = "" if created is None else created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Image(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                 tags=tags or {}, created=stamp, owner="dev", **kw)


def gate(min_age: str = "", tags: dict[str, str] | None = None) -> Promotion:
    return Promotion(ref=REF, alias="dev", image="web-base/1.4.0", min_age=min_age, tags=tags or {})


# ---- the gate ------------------------------------------------------------------------------------


def test_no_gate_is_due() -> None:
    assert waiting_reason(gate(), origin(NOW), NOW) is None


@pytest.mark.parametrize(("age", "reason"), [
    (timedelta(hours=20), "dev:web-base/1.4.0 is 20h old, needs 72h"),
    (timedelta(hours=71, minutes=59), "dev:web-base/1.4.0 is 71h old, needs 72h"),
    (timedelta(minutes=5), "dev:web-base/1.4.0 is 5m old, needs 72h"),
    (timedelta(hours=72), None),  # exactly min_age: due
    (timedelta(hours=72, seconds=1), None),
    (timedelta(days=30), None),
])
def test_min_age_boundaries(age: timedelta, reason: str | None) -> None:
    assert waiting_reason(gate("72h"), origin(NOW - age), NOW) == reason


def test_an_age_of_days_is_spelled_in_days() -> None:
    assert waiting_reason(gate("2w"), origin(NOW - timedelta(days=3, hours=5)), NOW) == \
        "dev:web-base/1.4.0 is 3d old, needs 2w"


def test_unknown_age_and_no_clock_wait() -> None:
    assert waiting_reason(gate("1h"), origin(None), NOW) == \
        "dev:web-base/1.4.0 has no creation time, needs to be 1h old"
    assert waiting_reason(gate("1h"), origin(NOW - timedelta(days=9)), None) == \
        "dev:web-base/1.4.0 needs to be 1h old, and this plan was given no time"
    assert waiting_reason(gate(tags={"a": "b"}), origin(None, {"a": "b"}), None) is None  # tags need no clock


def test_tags_must_be_present_with_exactly_the_value() -> None:
    g = gate(tags={"validated": "true", "approved": "yes"})
    assert waiting_reason(g, origin(NOW, {"validated": "true", "approved": "yes", "x": "y"}), NOW) is None
    assert waiting_reason(g, origin(NOW, {"validated": "True", "approved": "yes"}), NOW) == \
        "dev:web-base/1.4.0 has validated=True, needs validated=true"
    assert waiting_reason(g, origin(NOW, {"validated": "true"}), NOW) == \
        "dev:web-base/1.4.0 has no tag approved (needs approved=yes)"


def test_every_unmet_condition_is_named_age_first_then_tags_by_name() -> None:
    g = gate("72h", {"z": "1", "a": "2"})
    assert waiting_reason(g, origin(NOW - timedelta(hours=1)), NOW) == (
        "dev:web-base/1.4.0 is 1h old, needs 72h; dev:web-base/1.4.0 has no tag a (needs a=2); "
        "dev:web-base/1.4.0 has no tag z (needs z=1)")


@pytest.mark.parametrize(("d", "unit", "text"), [
    (timedelta(seconds=59), "h", "0m"), (timedelta(minutes=59, seconds=59), "h", "59m"),
    (timedelta(hours=1), "h", "1h"), (timedelta(hours=71, minutes=59), "h", "71h"),
    (timedelta(hours=48), "d", "2d"), (timedelta(hours=47), "d", "1d"), (timedelta(hours=23), "d", "23h"),
    (timedelta(days=20), "w", "2w"), (timedelta(days=6), "w", "6d"), (timedelta(days=9), "m", "12960m"),
    (timedelta(seconds=-5), "h", "0m"), (timedelta(days=3), "x", "3d"),
])
def test_spell_age_in_the_gate_unit(d: timedelta, unit: str, text: str) -> None:
    assert spell_age(d, unit) == text


def test_spell_age_defaults_to_days() -> None:
    assert spell_age(timedelta(days=3, hours=5)) == "3d"
    assert spell_age(timedelta(hours=5)) == "5h"


def test_split_ref() -> None:
    assert split_ref("dev:web-base/1.4.0") == ("dev", "web-base/1.4.0")
    assert split_ref("/subscriptions/s/x/versions/1.0.0") == ("", "/subscriptions/s/x/versions/1.0.0")
    assert split_ref("a:b:c") == ("a", "b:c")


# ---- what is a promotion --------------------------------------------------------------------------


@pytest.mark.parametrize(("image", "promotes"), [
    ("dev:web-base/1.4.0", True), ("golden-image", False), (None, False),
    ("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0", True),
    ("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/managed", False),
])
def test_source_promotion(image: str | None, promotes: bool) -> None:
    assert Source(image=image).promotion is promotes


def spec(ref: str = REF, **promo) -> ImageSpec:
    extra = {PROMOTION_EXTRA: {"from": ref, "source": "dev", "image": "web-base/1.4.0", **promo}}
    return ImageSpec(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     source=Source(image=ref), family="web-base", extra=extra)


def test_promotion_of_reads_the_gate_from_the_spec() -> None:
    p = promotion_of(spec(min_age="3d", tags={"ok": "1"}))
    assert p == Promotion(ref=REF, alias="dev", image="web-base/1.4.0", min_age="3d", tags={"ok": "1"})
    assert p is not None and p.key == "dev:web-base/1.4.0"
    assert promotion_of(spec(REF.upper())).key == REF  # type: ignore[union-attr]
    vm = ImageSpec(name="x", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED, source=Source(vm="v"))
    assert promotion_of(vm) is None


def test_origin_mismatches_name_each_field() -> None:
    other = Image(name="x", type=ImageType.VM, os="windows", os_state=OSState.SPECIALIZED)
    assert origin_mismatches(spec(), other) == [
        ("type", "'web-base/1.4.0' declares type: os, but its source dev:web-base/1.4.0 is vm",
         "set type: vm (a promotion copies the image as it is)"),
        ("os", "'web-base/1.4.0' declares os: linux, but its source dev:web-base/1.4.0 is windows",
         "set os: windows (a promotion copies the image as it is)"),
        ("os_state", "'web-base/1.4.0' declares os_state: generalized, but its source dev:web-base/1.4.0 is "
         "specialized", "set os_state: specialized (a promotion copies the image as it is)"),
    ]
    assert origin_mismatches(spec(), origin(NOW)) == []


# ---- rules ----------------------------------------------------------------------------------------

CAPS = Capabilities(provider="local", mutable_fields=frozenset({"tags", "label"}), promotion=True)


def test_rules_a_promotion_needs_the_capability_and_no_vm() -> None:
    assert rules.capability_refusal(spec(), CAPS) is None
    refusal = rules.capability_refusal(spec(), Capabilities(provider="azure-classic", mutable_fields=frozenset()))
    assert refusal is not None and refusal.code == rules.SOURCE_UNSUPPORTED
    assert refusal.summary == ("cannot capture 'web-base/1.4.0': the azure-classic provider cannot copy an image "
                               "from another catalog")
    check = rules.capture_blockers(spec(), None, CAPS)
    assert check.blockers == () and check.consumes is None
    assert check.steps == ("copy image from dev:web-base/1.4.0",)


def test_rules_a_retry_of_a_promotion_is_an_image_made_from_no_vm_or_vhd() -> None:
    assert rules.same_source(Source(), Source(image=REF))
    assert rules.same_source(Source(image="/subscriptions/x/versions/1"), Source(image=REF))
    assert not rules.same_source(Source(vm="build"), Source(image=REF))
    assert not rules.same_source(Source(vhd="https://a/b.vhd"), Source(image=REF))
    assert not rules.same_source(None, Source(image=REF))


# ---- the planner ----------------------------------------------------------------------------------


def desired(*specs: ImageSpec) -> DesiredState:
    return DesiredState(catalog=CatalogConfig(name="prod"), policy=Policy(), images=specs, digest="d")


def plan(s: ImageSpec, snapshot: Snapshot, now: datetime | None = NOW) -> Plan:
    return make_plan(desired(s), snapshot, CAPS, now=now)


def test_a_waiting_promotion_is_not_a_change() -> None:
    p = plan(spec(min_age="72h"), Snapshot(origins={REF: origin(NOW - timedelta(hours=20))}))
    (c,) = p.changes
    assert c.action is Action.CAPTURE and c.waiting == "dev:web-base/1.4.0 is 20h old, needs 72h"
    assert p.pending == () and p.waiting == (c,) and not p.has_changes and p.applyable
    assert p.counts()["capture"] == 0 and not c.destructive and c.consumes_vm is None


def test_a_plan_with_an_age_gate_records_its_time_and_one_without_does_not() -> None:
    """``now`` is recorded when a gate reads it (issue 11 §3): ``apply PLAN`` plans again at that time."""
    live = Snapshot(origins={REF: origin(NOW - timedelta(hours=20))})
    assert plan(spec(min_age="72h"), live).now == "2026-12-01T12:00:00Z"
    assert plan(spec(tags={"ok": "1"}), live).now == ""
    assert plan(spec(), live).now == ""
    vm = ImageSpec(name="x", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED, source=Source(vm="v"))
    assert plan(vm, Snapshot()).now == ""


def test_a_due_promotion_is_a_capture_that_consumes_nothing() -> None:
    p = plan(spec(min_age="72h"), Snapshot(origins={REF: origin(NOW - timedelta(hours=72))}))
    (c,) = p.pending
    assert c.action is Action.CAPTURE and c.waiting is None and c.errors == ()
    assert c.steps == ("copy image from dev:web-base/1.4.0",) and not c.destructive and p.waiting == ()


def test_a_missing_or_failed_source_is_an_error_not_a_wait() -> None:
    (c,) = plan(spec(min_age="72h"), Snapshot()).changes
    assert [e.code for e in c.errors] == ["promotion-source-missing"] and c.waiting is None
    assert c.errors[0].summary == ("source image dev:web-base/1.4.0 of 'web-base/1.4.0' does not exist in catalog "
                                   "'dev' (sources.dev)")
    failed = origin(NOW - timedelta(days=9), failed="provisioning failed")
    (c,) = plan(spec(), Snapshot(origins={REF: failed})).changes
    assert [e.code for e in c.errors] == ["promotion-source-failed"]
    assert c.errors[0].summary == \
        "source image dev:web-base/1.4.0 of 'web-base/1.4.0' is not usable: provisioning failed"


def test_a_source_of_another_os_is_an_error_at_the_entry_key() -> None:
    windows = Image(name="web-base/1.4.0", type=ImageType.OS, os="windows", os_state=OSState.GENERALIZED)
    (c,) = plan(spec(), Snapshot(origins={REF: windows})).changes
    assert [e.code for e in c.errors] == ["promotion-source-mismatch"]
    assert c.errors[0].location is not None and c.errors[0].location.json_path == "$.images[0].os"


def test_a_promoted_image_is_not_gated_again_and_its_source_is_not_compared() -> None:
    live = Image(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                 family="web-base", owner="prod", source=Source(), fingerprint="f")
    (c,) = plan(spec(min_age="72h"), Snapshot(images=(live,))).changes  # source gone, gate unmet: no matter
    assert c.action is Action.NOOP and c.errors == () and c.waiting is None
    recorded = Image(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                     family="web-base", owner="prod", source=Source(image="/subscriptions/s/v/versions/1.4.0"))
    (c,) = plan(spec(), Snapshot(images=(recorded,))).changes
    assert c.action is Action.NOOP


def test_a_replace_of_a_promoted_image_checks_the_source_but_does_not_wait() -> None:
    live = Image(name="web-base/1.4.0", type=ImageType.VM, os="linux", os_state=OSState.GENERALIZED,
                 family="web-base", owner="prod", source=Source())
    young = origin(NOW - timedelta(hours=1))
    (c,) = plan(spec(min_age="72h"), Snapshot(images=(live,), origins={REF: young})).changes
    assert c.action is Action.REPLACE and c.waiting is None and c.errors == () and c.destructive
    (c,) = plan(spec(min_age="72h"), Snapshot(images=(live,))).changes
    assert [e.code for e in c.errors] == ["promotion-source-missing"]


def test_a_waiting_promotion_round_trips_through_the_plan_document() -> None:
    from reconciler.plandoc import plan_document, plan_from_document

    p = plan(spec(min_age="72h"), Snapshot(origins={REF: origin(NOW - timedelta(hours=20))}))
    doc = plan_document(p)
    assert doc["summary"]["waiting"] == 1 and doc["summary"]["capture"] == 0
    assert doc["resource_changes"][0]["waiting"] == "dev:web-base/1.4.0 is 20h old, needs 72h"
    back = plan_from_document(doc)
    assert back.waiting[0].waiting == p.waiting[0].waiting and back.pending == ()
    due = plan(spec(), Snapshot(origins={REF: origin(NOW)}))
    assert "waiting" not in plan_document(due)["resource_changes"][0]
    assert "waiting" not in plan_document(due)["summary"]


def test_a_saved_plan_differs_when_a_promotion_became_due() -> None:
    from reconciler.planfile import plan_differences

    s = spec(min_age="72h")
    early = plan(s, Snapshot(origins={REF: origin(NOW - timedelta(hours=71))}))
    later = plan(s, Snapshot(origins={REF: origin(NOW - timedelta(hours=73))}))
    assert any("waiting promotion" in d for d in plan_differences(early, later))
    assert plan_differences(early, early) == []


def test_rendering_shows_the_waiting_section() -> None:
    from reconciler.render import render_plan_markdown, render_plan_text

    p = plan(spec(min_age="72h"), Snapshot(origins={REF: origin(NOW - timedelta(hours=20))}))
    text = render_plan_text(p)
    assert "1 promotion waiting: its promote_when gate is not met yet; not applied:\n" \
           "~ web-base/1.4.0 WAITING: dev:web-base/1.4.0 is 20h old, needs 72h" in text
    assert "Plan:" not in text
    md = render_plan_markdown(p)
    assert "**No changes.** — ⏳ 1 promotion waiting" in md
    assert "- web-base/1.4.0 WAITING: dev:web-base/1.4.0 is 20h old, needs 72h" in md


# ---- validate -------------------------------------------------------------------------------------


def _validate(text: str) -> list[str]:
    from reconciler.spec import check_spec

    _, diags = check_spec(text.encode(), "images.yaml")
    return [f"{d.location.line if d.location else 0}: {d.summary}" for d in diags]


CLASSIC = """\
version: 1
catalog: {name: prod, provider: azure-classic, subscription: 00000000-0000-4000-8000-000000000001}
sources:
  dev: {subscription: 00000000-0000-4000-8000-000000000002}
images:
  - name: web-base
    type: os
    os: linux
    source: {image: "dev:web-base"}
"""


def test_azure_classic_refuses_a_promotion_at_validate_time() -> None:
    assert "9: promotion (an image copied from another catalog) is not supported by azure-classic" in _validate(CLASSIC)


def test_azure_managed_images_refuse_a_promotion_and_a_source_of_another_provider() -> None:
    text = CLASSIC.replace("azure-classic, subscription: 00000000-0000-4000-8000-000000000001",
                           "azure, subscription: 00000000-0000-4000-8000-000000000001, resource_group: rg")
    assert "9: promotion (an image copied from another catalog) is not supported by azure" \
        in _validate(text)
    other = text.replace("dev: {subscription: 00000000-0000-4000-8000-000000000002}", "dev: {provider: local}")
    assert "4: source 'dev' is a local catalog, but this catalog's provider is azure" in _validate(other)


def test_local_sources_take_only_local_settings_and_name_an_image() -> None:
    text = CLASSIC.replace("azure-classic, subscription: 00000000-0000-4000-8000-000000000001", "local").replace(
        "dev: {subscription: 00000000-0000-4000-8000-000000000002}", "dev: {path: dev.db, gallery: g}")
    assert "4: setting 'gallery' is not known to provider 'local'" in _validate(text)
    empty = CLASSIC.replace("azure-classic, subscription: 00000000-0000-4000-8000-000000000001", "local").replace(
        "dev: {subscription: 00000000-0000-4000-8000-000000000002}", "dev: {path: dev.db}").replace(
        '"dev:web-base"', '"dev:"')
    assert "9: source.image 'dev:' names no image" in _validate(empty)
    fine = empty.replace('"dev:"', '"dev:web-base"')
    assert _validate(fine) == []


def test_a_promotion_carries_its_source_and_gate_into_the_spec() -> None:
    from reconciler.spec import parse_spec

    text = CLASSIC.replace("azure-classic, subscription: 00000000-0000-4000-8000-000000000001", "local").replace(
        "dev: {subscription: 00000000-0000-4000-8000-000000000002}", "dev: {path: dev.db}") + \
        '    promote_when: {min_age: 3d, tags: {ok: "1"}}\n'
    state = parse_spec(text.encode(), "sub/images.yaml")
    assert state.sources["dev"].effective_settings == {"path": "sub/dev.db"}
    (s,) = state.images
    assert s.extra[PROMOTION_EXTRA] == {"from": "dev:web-base", "source": "dev", "image": "web-base",
                                        "provider": "local", "settings": {"path": "sub/dev.db"},
                                        "min_age": "3d", "tags": {"ok": "1"}}
    assert promotion_of(s) == Promotion(ref="dev:web-base", alias="dev", image="web-base", min_age="3d",
                                        tags={"ok": "1"})


def test_the_planner_words_and_locates_each_source_error() -> None:
    (c,) = plan(spec(), Snapshot()).changes
    (e,) = c.errors
    assert e.hint == "fix source.image (ALIAS:NAME, names compare case-insensitively), or create it there first"
    assert e.location is not None and e.location.json_path == "$.images[0].source.image"
    vid = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/d/versions/1.0.0"
    by_id = ImageSpec(name="d/1.0.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                      source=Source(image=vid), extra={PROMOTION_EXTRA: {"from": vid, "source": "", "image": vid}})
    (c,) = plan(by_id, Snapshot()).changes
    assert c.errors[0].summary == f"source image {vid} of 'd/1.0.0' does not exist in Azure"
    (c,) = plan(spec(), Snapshot(origins={REF: origin(NOW, failed="provisioning failed")})).changes
    assert c.errors[0].hint == "repair the source image in its own catalog first (plan and apply that catalog)"
    assert c.errors[0].location is not None and c.errors[0].location.json_path == "$.images[0].source.image"


def test_a_promotion_next_to_a_vm_capture_leaves_the_capture_alone() -> None:
    vm_spec = ImageSpec(name="other", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                        source=Source(vm="build"))
    from reconciler.model import VM, PowerState

    snap = Snapshot(vms=(VM(name="build", os="linux", power_state=PowerState.STOPPED, os_state=OSState.GENERALIZED),),
                    origins={REF: origin(NOW - timedelta(hours=1))})
    p = make_plan(desired(spec(min_age="72h"), vm_spec), snap, CAPS, now=NOW)
    by = {c.name: c for c in p.changes}
    assert by["other"].waiting is None and by["other"].consumes_vm == "build" and by["other"].destructive
    assert by["web-base/1.4.0"].waiting is not None and [c.name for c in p.pending] == ["other"]


def test_an_update_of_a_promoted_image_needs_no_source() -> None:
    live = Image(name="web-base/1.4.0", type=ImageType.OS, os="linux", os_state=OSState.GENERALIZED,
                 family="web-base", owner="prod", source=Source(), tags={"old": "1"})
    (c,) = plan(spec(min_age="72h"), Snapshot(images=(live,))).changes
    assert c.action is Action.UPDATE and c.errors == () and c.waiting is None and not c.destructive


def test_the_capability_refusal_says_what_to_do() -> None:
    refusal = rules.capability_refusal(spec(), Capabilities(provider="x", mutable_fields=frozenset()))
    assert refusal is not None and refusal.hint == "capture it from a VM in this catalog instead"
