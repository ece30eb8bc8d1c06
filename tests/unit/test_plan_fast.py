"""The planner's no-op fast path (issue 13) gives exactly the plan of the full comparison.

``plan._same`` answers "are the compared views of this spec and this live image equal?" without
building them. The full comparison is what the planner did before: reached here by replacing
``_same`` with a function that always says "don't know" (False), so every image goes through
``_view`` and ``_field_diffs``. A hypothesis property compares the two plans over the worlds of
``planning.applyable_worlds``; a table test perturbs every field of ``ImageSpec``, ``Image`` and
``Source`` one at a time, so a field added to the model (or to what the planner compares) that the
fast path would skip makes the two plans differ and fails here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import replace
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planning import CAPS, OWNER, applyable_worlds, desired, image_of, spec, vm

from reconciler import plan as planner
from reconciler.model import Capabilities, DesiredState, Image, ImageSpec, Plan, Snapshot, Source

PROFILE = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

#: A provider with image fields of its own (``extra``), compared by the planner like any field.
EXTRA_CAPS = replace(CAPS, image_fields={"end_of_life_date": "", "regions": ""},
                     mutable_fields=CAPS.mutable_fields | {"extra.end_of_life_date"})


def _full(monkeypatch: pytest.MonkeyPatch, make: Callable[[], Plan]) -> Plan:
    """``make()`` with the fast path off: every image through the full comparison."""
    with monkeypatch.context() as m:
        m.setattr(planner, "_same", lambda *args: False)
        return make()


def _both(monkeypatch: pytest.MonkeyPatch, d: DesiredState, snap: Snapshot, caps: Capabilities,
          **kw: Any) -> tuple[Plan, Plan]:
    fast = planner.make_plan(d, snap, caps, **kw)
    return fast, _full(monkeypatch, lambda: planner.make_plan(d, snap, caps, **kw))


@st.composite
def _worlds(draw: st.DrawFn) -> tuple[DesiredState, Snapshot, Capabilities, list[str]]:
    """Worlds of every role, some live images given ``extra`` values, no recorded source or a
    failed state, and some ``--replace`` names."""
    d, snap, _roles = draw(applyable_worlds())
    caps = draw(st.sampled_from([CAPS, EXTRA_CAPS]))
    images = []
    for img in snap.images:
        change = draw(st.sampled_from(["none", "none", "extra", "no-source", "failed"]))
        if change == "extra":
            img = replace(img, extra={"end_of_life_date": draw(st.sampled_from(["2030-01-01", None]))})
        elif change == "no-source":
            img = replace(img, source=None)
        elif change == "failed":
            img = replace(img, failed="provisioning failed")
        images.append(img)
    specs = []
    for s in d.images:
        if draw(st.booleans()) and caps is EXTRA_CAPS:
            s = replace(s, extra={"end_of_life_date": "2030-01-01"})
        specs.append(s)
    names = [s.name for s in specs]
    replace_names = draw(st.lists(st.sampled_from(names), max_size=2, unique=True)) if names else []
    return replace(d, images=tuple(specs)), replace(snap, images=tuple(images)), caps, replace_names


def test_property_fast_path_gives_the_full_comparisons_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    noops = 0

    @PROFILE
    @given(_worlds())
    def check(world: tuple[DesiredState, Snapshot, Capabilities, list[str]]) -> None:
        nonlocal noops
        d, snap, caps, forced = world
        fast, full = _both(monkeypatch, d, snap, caps, replace=forced)
        assert fast == full
        noops += sum(1 for c in fast.changes if c.reason == "up to date")

    check()
    assert noops >= 20  # the fast path was really taken (29 times over these derandomized examples)


# --------------------------------------------------------------------------------------------------
# Every field, one at a time


class _Facts:
    def document_fields(self) -> Mapping[str, Any]:
        return {"fact": 1}


def _perturbed(value: Any) -> Any:
    """Another value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, Enum):
        members = list(type(value))
        return members[(members.index(value) + 1) % len(members)]
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "-x"
    if isinstance(value, Source):
        return replace(value, vm=(value.vm or "") + "-x")
    if isinstance(value, Mapping):
        return {**value, "end_of_life_date": "2099-01-01", "p": "q"}
    if isinstance(value, tuple):
        return (*value, "x")
    if value is None:
        return "x"
    raise AssertionError(f"no perturbation for {value!r}")  # a new kind of field: add one here


def _base() -> tuple[ImageSpec, Image]:
    s = spec("web-01", family="web", label="Web", description="d", recommended_vm_size="S", tags={"t": "1"},
             extra={"end_of_life_date": "2030-01-01"})
    return s, image_of(s, created="2026-01-01T00:00:00Z")


def _plans_for(monkeypatch: pytest.MonkeyPatch, s: ImageSpec, img: Image) -> tuple[Plan, Plan]:
    d = desired(s)
    snap = Snapshot((img,), (vm(s.source.vm or "vm"),))
    return _both(monkeypatch, d, snap, EXTRA_CAPS)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Image)])
def test_every_live_image_field_perturbed_plans_alike(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    s, img = _base()
    if field == "facts":
        changed = replace(img, facts=_Facts())
    else:
        changed = replace(img, **{field: _perturbed(getattr(img, field))})
    fast, full = _plans_for(monkeypatch, s, changed)
    assert fast == full


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(ImageSpec)])
def test_every_spec_field_perturbed_plans_alike(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    s, img = _base()
    fast, full = _plans_for(monkeypatch, replace(s, **{field: _perturbed(getattr(s, field))}), img)
    assert fast == full


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Source)])
def test_every_source_field_perturbed_plans_alike(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    s, img = _base()
    assert img.source is not None
    for changed_spec, changed_image in (
        (replace(s, source=replace(s.source, **{field: _perturbed(getattr(s.source, field))})), img),
        (s, replace(img, source=replace(img.source, **{field: _perturbed(getattr(img.source, field))}))),
    ):
        fast, full = _plans_for(monkeypatch, changed_spec, changed_image)
        assert fast == full


def test_every_compared_field_defeats_the_fast_path() -> None:
    """Each key of the planner's view (``_VIEW``), changed on the spec alone, makes ``_same`` False:
    the fast path reads every field the full comparison compares."""
    s, img = _base()
    assert planner._same(s, img, EXTRA_CAPS)  # the base pair is up to date: the fast path is taken
    for key in planner._VIEW.keys(ImageSpec):
        changed = replace(s, **{key: _perturbed(getattr(s, key))})
        assert planner._view(changed, EXTRA_CAPS) != planner._view(s, EXTRA_CAPS), key
        assert not planner._same(changed, img, EXTRA_CAPS), key
    for key in EXTRA_CAPS.image_fields:
        changed = replace(s, extra={**s.extra, key: "other"})
        assert not planner._same(changed, img, EXTRA_CAPS), key


def test_the_fast_path_ignores_an_unknown_source_and_defers_to_compare_extra() -> None:
    s, img = _base()
    unknown = replace(img, source=None)
    assert planner._same(replace(s, source=Source(vm="elsewhere")), unknown, EXTRA_CAPS)
    assert not planner._same(replace(s, source=Source(vm="elsewhere")), img, EXTRA_CAPS)
    own = replace(EXTRA_CAPS, compare_extra=lambda spec_, image_: None)
    assert not planner._same(s, img, own)  # a provider comparison: always the full path
    assert planner._same(s, img, replace(EXTRA_CAPS, image_fields={}))


def test_an_owned_up_to_date_image_is_a_noop_without_a_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path really skips the views: with ``_view`` broken, an up-to-date plan still plans."""
    s, img = _base()
    d = desired(s)
    snap = Snapshot((img,), ())

    def no_view(*args: Any) -> Any:
        raise AssertionError("the full comparison ran for an up-to-date image")

    monkeypatch.setattr(planner, "_view", no_view)
    p = planner.make_plan(d, snap, EXTRA_CAPS, prune=False)
    assert [(c.name, c.reason) for c in p.changes] == [("web-01", "up to date")]
    assert p.changes[0].before is img and p.changes[0].after is s
    assert OWNER == d.catalog.name


def test_a_plan_only_shown_records_no_fingerprints() -> None:
    """``fingerprints=False`` (a plan shown, never saved): the same changes, no fingerprints; by
    default every declared image is recorded."""
    s, img = _base()
    d = desired(s)
    snap = Snapshot((img,), ())
    recorded = planner.make_plan(d, snap, EXTRA_CAPS, prune=False)
    shown = planner.make_plan(d, snap, EXTRA_CAPS, prune=False, fingerprints=False)
    assert recorded.fingerprints[f"image:{img.key}"] == img.fingerprint
    assert shown.fingerprints == {}
    assert shown.changes == recorded.changes and shown.errors == recorded.errors
    assert dataclasses.replace(shown, fingerprints=recorded.fingerprints) == recorded


def test_a_noop_is_the_change_the_full_comparison_builds() -> None:
    """``_up_to_date`` (the fast path's constructor) builds the very ``Change`` the keyword one does."""
    s, img = _base()
    built = planner._up_to_date(s, img)
    plain = planner.Change(name=s.name, action=planner.Action.NOOP, reason="up to date", before=img, after=s)
    assert built == plain and repr(built) == repr(plain)


def test_the_fast_path_on_extra_fields_alone() -> None:
    """Neither side holds a provider field: the same, at once; only the live image holds one: not
    known the same (the full comparison decides)."""
    s, img = _base()
    bare_spec, bare_img = replace(s, extra={}), replace(img, extra={})
    assert planner._same(bare_spec, bare_img, EXTRA_CAPS) is True
    assert planner._same(bare_spec, img, EXTRA_CAPS) is False
    assert planner._same(s, bare_img, EXTRA_CAPS) is False
    assert planner._same(s, img, EXTRA_CAPS) is True


def test_no_prune_removes_nothing_not_even_by_retention() -> None:
    """``--no-prune`` (``prune=False``) turns every removal off, retention's too."""
    keep = spec("web-03", family="web")
    d = desired(keep, retention={"web": 1})
    old = [image_of(spec(f"web-0{i}", family="web"), created=f"2026-01-0{i}T00:00:00Z") for i in (1, 2)]
    snap = Snapshot((*old, image_of(keep, created="2026-01-03T00:00:00Z")), ())
    removes = [c.name for c in planner.make_plan(d, snap, CAPS).changes if c.action is planner.Action.REMOVE]
    assert removes == ["web-01"]
    assert [c for c in planner.make_plan(d, snap, CAPS, prune=False).changes if c.action is planner.Action.REMOVE] == []
