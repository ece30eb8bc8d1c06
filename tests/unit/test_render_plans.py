"""Hand-built plans shared by the render and plan-file tests (no planner needed).

Named ``test_render_*`` so that it sits with the renderer tests it serves; it holds no tests itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import strategies as st

from reconciler.errors import Diagnostic, Location, Severity
from reconciler.model import (
    Action,
    Category,
    Change,
    FieldDiff,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Plan,
    Source,
)

LOC = Location(file="images.yaml", line=12, col=5, json_path="$.images[0].source.vm")


def spec(name: str, **kw: object) -> ImageSpec:
    base: dict[str, object] = dict(
        type=ImageType.VM,
        os="linux",
        os_state=OSState.GENERALIZED,
        source=Source(vm="build-web-01"),
        family="web-base",
    )
    base.update(kw)
    return ImageSpec(name=name, **base)  # type: ignore[arg-type]


def image(name: str, **kw: object) -> Image:
    base: dict[str, object] = dict(
        type=ImageType.VM,
        os="linux",
        os_state=OSState.GENERALIZED,
        family="web-base",
        owner="platform",
        fingerprint=f"fp-{name}",
        created="2026-10-01T00:00:00Z",
    )
    base.update(kw)
    return Image(name=name, **base)  # type: ignore[arg-type]


def capture_consuming() -> Change:
    s = spec("web-base-2026-11", label="Web base, November 2026", tags={"team": "web"})
    return Change(
        name=s.name,
        action=Action.CAPTURE,
        reason="not in the catalog",
        after=s,
        fields=(
            FieldDiff("type", None, "vm"),
            FieldDiff("source", None, {"vm": "build-web-01"}),
            FieldDiff("label", None, "Web base, November 2026"),
            FieldDiff("tags", None, {"team": "web"}),
        ),
        destructive=True,
        consumes_vm="build-web-01",
        steps=("deallocate VM build-web-01", "generalize VM build-web-01", "capture image"),
    )


def update_label() -> Change:
    before = image("web-base-2026-10", label="a")
    after = spec("web-base-2026-10", label="b", source=Source(vm="build-web-00"))
    return Change(
        name=before.name,
        action=Action.UPDATE,
        reason="label differs",
        before=before,
        after=after,
        fields=(FieldDiff("label", "a", "b"),),
        steps=("update image",),
    )


def replace_state() -> Change:
    before = image("db-base-2026-10", family="db-base", os_state=OSState.SPECIALIZED)
    after = spec("db-base-2026-10", family="db-base", os_state=OSState.SPECIALIZED, type=ImageType.OS)
    return Change(
        name=before.name,
        action=Action.REPLACE,
        reason="type cannot change in place",
        before=before,
        after=after,
        fields=(FieldDiff("type", "vm", "os", forces_replace=True), FieldDiff("tags.team", None, "db")),
        destructive=True,
        steps=("remove image", "capture image"),
    )


def remove_old() -> Change:
    before = image("web-base-2026-08", label="old", created="2026-08-01T00:00:00Z")
    return Change(
        name=before.name,
        action=Action.REMOVE,
        reason="no longer declared",
        before=before,
        fields=(FieldDiff("type", "vm", None), FieldDiff("label", "old", None)),
        destructive=True,
        steps=("remove image",),
    )


def noop(name: str = "web-base-2026-09") -> Change:
    before = image(name)
    return Change(name=name, action=Action.NOOP, reason="up to date", before=before, after=spec(name))


def full_plan() -> Plan:
    """Update first, then capture, replace, remove: the text view must pull destructive ones up."""
    changes = (update_label(), capture_consuming(), noop(), replace_state(), remove_old())
    return Plan(
        catalog="platform",
        provider="local",
        changes=changes,
        fingerprints={
            "image:web-base-2026-10": "fp-web-base-2026-10",
            "image:web-base-2026-11": "",
            "image:web-base-2026-09": "fp-web-base-2026-09",
            "image:db-base-2026-10": "fp-db-base-2026-10",
            "image:web-base-2026-08": "fp-web-base-2026-08",
            "vm:build-web-01": "fp-vm-1",
        },
        desired_digest="sha256:" + "ab" * 32,
        prune=True,
        warnings=(
            Diagnostic.warning(
                "image 'legacy-base' is no longer declared but is protected: it is kept",
                "to remove it, declare it again with protect: false, apply, then delete the entry",
                code="protected",
            ),
        ),
    )


def errored_plan() -> Plan:
    bad = Change(
        name="web-base-2026-12",
        action=Action.CAPTURE,
        reason="not in the catalog",
        after=spec("web-base-2026-12", source=Source(vm="ghost")),
        steps=("capture image",),
        errors=(
            Diagnostic.error(
                "source VM 'ghost' of image 'web-base-2026-12' does not exist",
                "fix source.vm, or create the VM before applying",
                LOC,
                code="vm-missing",
            ),
        ),
    )
    return Plan(
        catalog="platform",
        provider="local",
        changes=(bad, noop()),
        fingerprints={"image:web-base-2026-12": "", "vm:ghost": ""},
        desired_digest="sha256:" + "cd" * 32,
        errors=(
            Diagnostic.error(
                "--target 'nope' matches no declared image and no owned image",
                "check the name (names compare case-insensitively) or drop the --target",
                code="target",
            ),
        ),
        targets=("nope", "web-base-2026-12"),
    )


def empty_plan() -> Plan:
    return Plan(
        catalog="platform",
        provider="local",
        changes=(noop("a"), noop("b"), noop("c")),
        fingerprints={"image:a": "fp-a", "image:b": "fp-b", "image:c": "fp-c"},
        desired_digest="sha256:" + "00" * 32,
    )


GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"


def check_golden(name: str, actual: str) -> None:
    """Compare with ``tests/fixtures/golden/<name>``; ``RECONCILER_UPDATE_GOLDEN=1`` rewrites it.

    Reviewing a golden diff is how an output change gets noticed: CI never sets the variable.
    """
    path = GOLDEN / name
    if os.environ.get("RECONCILER_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8", newline="")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file (set RECONCILER_UPDATE_GOLDEN=1 to rewrite)"


# --------------------------------------------------------------------------------------------------
# Hypothesis strategies: arbitrary (schema-shaped) plans, for round trips and schema checks

_text = st.text(max_size=8)
_opt_text = st.none() | _text
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_locations = st.builds(
    Location,
    file=_text,
    line=st.integers(0, 10**6),
    col=st.integers(0, 500),
    json_path=_text,
)


def _diagnostics(severity: Severity) -> st.SearchStrategy[Diagnostic]:
    return st.builds(
        Diagnostic,
        severity=st.just(severity),
        summary=_text,
        hint=_text,
        location=st.none() | _locations,
        code=_text,
    )


_sources = st.builds(Source, vm=_opt_text, vhd=_opt_text, generalize=st.booleans(), storage_account=_opt_text)
_specs = st.builds(
    ImageSpec,
    name=_text,
    type=st.sampled_from(ImageType),
    os=_text,
    os_state=st.sampled_from(OSState),
    source=_sources,
    family=_opt_text,
    label=_opt_text,
    description=_opt_text,
    recommended_vm_size=_opt_text,
    tags=st.dictionaries(_text, _text, max_size=3),
    protect=st.booleans(),
    extra=st.dictionaries(_text, _json, max_size=2),
    line=st.integers(0, 10**5),
)
_images = st.builds(
    Image,
    name=_text,
    type=st.sampled_from(ImageType),
    os=_text,
    os_state=st.sampled_from(OSState),
    category=st.sampled_from(Category),
    family=_opt_text,
    label=_opt_text,
    description=_opt_text,
    recommended_vm_size=_opt_text,
    tags=st.dictionaries(_text, _text, max_size=3),
    owner=_opt_text,
    protected=st.booleans(),
    source=st.none() | _sources,
    data_disks=st.integers(0, 64),
    extra=st.dictionaries(_text, _json, max_size=2),
    id=_text,
    fingerprint=_text,
    created=_text,
)
_fields = st.builds(FieldDiff, path=_text, before=_json, after=_json, forces_replace=st.booleans())


@st.composite
def changes(draw: st.DrawFn) -> Change:
    action = draw(st.sampled_from(Action))
    before = draw(_images) if action is Action.REMOVE else draw(st.none() | _images)
    after = draw(_specs) if action is Action.CAPTURE else draw(st.none() | _specs)
    return Change(
        name=draw(_text),
        action=action,
        reason=draw(_text),
        before=before,
        after=after,
        fields=tuple(draw(st.lists(_fields, max_size=3))),
        destructive=draw(st.booleans()),
        consumes_vm=draw(_opt_text),
        steps=tuple(draw(st.lists(_text, max_size=3))),
        errors=tuple(draw(st.lists(_diagnostics(Severity.ERROR), max_size=2))),
        warnings=tuple(draw(st.lists(_diagnostics(Severity.WARNING), max_size=2))),
    )


plans = st.builds(
    Plan,
    catalog=_text,
    provider=_text,
    changes=st.lists(changes(), max_size=4).map(tuple),
    fingerprints=st.dictionaries(_text, _text, max_size=4),
    desired_digest=_text,
    prune=st.booleans(),
    targets=st.lists(_text, max_size=2).map(tuple),
    errors=st.lists(_diagnostics(Severity.ERROR), max_size=2).map(tuple),
    warnings=st.lists(_diagnostics(Severity.WARNING), max_size=2).map(tuple),
)
