"""Hand-built plans shared by the render and plan-file tests (no planner needed).

Named ``test_render_*`` so that it sits with the renderer tests it serves; it holds no tests itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import Diagnostic, Location
from reconciler.model import (
    Action,
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
