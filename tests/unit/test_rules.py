"""The safety rules (reconciler/rules.py), table-driven: each rule, each refusal code."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler import rules
from reconciler.model import (
    VM,
    Capabilities,
    Category,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    PowerState,
    Source,
)
from reconciler.rules import Verb

OWNER = "platform"
CAPS = Capabilities(provider="test", mutable_fields=frozenset({"label"}), generalize=True)
NO_GENERALIZE = replace(CAPS, generalize=False)


def image(owner: str | None = OWNER, **kw: object) -> Image:
    base = Image("img", ImageType.VM, "linux", OSState.GENERALIZED, owner=owner, source=Source(vm="build-01"))
    return replace(base, **kw)  # type: ignore[arg-type]


def spec(**kw: object) -> ImageSpec:
    base = ImageSpec("img", ImageType.VM, "linux", OSState.GENERALIZED, Source(vm="build-01"))
    return replace(base, **kw)  # type: ignore[arg-type]


def vm(**kw: object) -> VM:
    return replace(VM("build-01", "linux", PowerState.STOPPED, OSState.GENERALIZED), **kw)  # type: ignore[arg-type]


PUBLIC = image(owner=None, category=Category.PUBLIC)
UNOWNED = image(owner=None)
FOREIGN = image(owner="someone-else")
OWNED = image()
PROTECTED = image(protected=True)


# --------------------------------------------------------------------------------------------------
# touch_refusal: may this verb touch this image for this owner


@pytest.mark.parametrize("live", [
    PUBLIC, UNOWNED, FOREIGN, OWNED, PROTECTED, replace(FOREIGN, protected=True),
    image(owner=OWNER, category=Category.PUBLIC),  # a public image never is ours, whatever its marker says
])
def test_owned_is_what_an_update_may_touch(live: Image) -> None:
    """``owned``: the planner's cheap question (``unchanged_test``) is ``touch_refusal``'s answer."""
    assert rules.owned(live, OWNER) is (rules.touch_refusal(live, OWNER, Verb.UPDATE) is None)
    assert rules.owned(live, OWNER) is (live in (OWNED, PROTECTED))


@pytest.mark.parametrize(
    ("live", "verb", "code"),
    [
        (PUBLIC, Verb.UPDATE, "public"),
        (PUBLIC, Verb.REMOVE, "public"),
        (PUBLIC, Verb.REPLACE, "public"),
        (UNOWNED, Verb.UPDATE, "unowned"),
        (UNOWNED, Verb.REMOVE, "unowned"),
        (FOREIGN, Verb.UPDATE, "foreign"),
        (FOREIGN, Verb.REMOVE, "foreign"),
        (replace(FOREIGN, protected=True), Verb.UPDATE, "foreign"),  # ownership is checked first
        (OWNED, Verb.UPDATE, None),
        (OWNED, Verb.REMOVE, None),
        (OWNED, Verb.REPLACE, None),
        (PROTECTED, Verb.UPDATE, None),  # an update is how the marker comes off
        (PROTECTED, Verb.REMOVE, "protected"),
        (PROTECTED, Verb.REPLACE, "protected"),
        # A capture never overwrites: whoever holds the name, it is taken.
        (PUBLIC, Verb.CAPTURE, "public"),
        (UNOWNED, Verb.CAPTURE, "unowned"),
        (FOREIGN, Verb.CAPTURE, "foreign"),
        (OWNED, Verb.CAPTURE, "name-taken"),
    ],
)
def test_touch_refusal(live: Image, verb: Verb, code: str | None) -> None:
    refusal = rules.touch_refusal(live, OWNER, verb)
    assert (refusal.code if refusal else None) == code
    if refusal is not None:
        assert refusal.code in rules.CODES
        assert refusal.summary and refusal.hint, "every refusal says what is wrong and what to do"


def test_refusal_wording_names_the_image_and_the_way_out() -> None:
    unowned = rules.touch_refusal(UNOWNED, OWNER, Verb.CAPTURE)
    assert unowned is not None and "reconciler import img" in unowned.hint
    foreign = rules.touch_refusal(FOREIGN, OWNER, Verb.REMOVE)
    assert foreign is not None and "catalog 'someone-else'" in foreign.summary
    protected = rules.touch_refusal(PROTECTED, OWNER, Verb.REMOVE)
    assert protected is not None and "protect: false" in protected.hint
    taken = rules.touch_refusal(OWNED, OWNER, Verb.CAPTURE)
    assert taken is not None and "another source" in taken.hint


@pytest.mark.parametrize(
    ("live", "expected"),
    [(OWNED, True), (PROTECTED, True), (UNOWNED, False), (FOREIGN, False), (PUBLIC, False),
     (image(category=Category.PUBLIC), False)],
)
def test_owned(live: Image, expected: bool) -> None:
    assert rules.owned(live, OWNER) is expected


# --------------------------------------------------------------------------------------------------
# is_capture_retry / capture_refusal: is this existing image a retry of this capture


@pytest.mark.parametrize(
    ("existing", "wanted", "retry", "code"),
    [
        (OWNED, spec(), True, None),
        (OWNED, spec(source=Source(vm="BUILD-01")), True, None),  # VM names compare case-insensitively
        (OWNED, spec(source=Source(vm="build-02")), False, "name-taken"),
        (image(source=None), spec(), False, "name-taken"),  # unknown source: never assumed the same
        (image(source=Source(vhd="https://a/b.vhd")), spec(source=Source(vhd="https://a/b.vhd")), True, None),
        (image(source=Source(vhd="https://a/b.vhd")), spec(source=Source(vhd="https://a/c.vhd")), False, "name-taken"),
        (UNOWNED, spec(), False, "unowned"),
        (FOREIGN, spec(), False, "foreign"),
        (PUBLIC, spec(), False, "public"),
    ],
)
def test_capture_retry(existing: Image, wanted: ImageSpec, retry: bool, code: str | None) -> None:
    assert rules.is_capture_retry(existing, wanted, OWNER) is retry
    refusal = rules.capture_refusal(existing, wanted, OWNER)
    assert (refusal.code if refusal else None) == code


# --------------------------------------------------------------------------------------------------
# adopt_refusal: may this image be adopted


@pytest.mark.parametrize(
    ("live", "code"),
    [(UNOWNED, None), (OWNED, None), (FOREIGN, "foreign"), (PUBLIC, "public")],
)
def test_adopt_refusal(live: Image, code: str | None) -> None:
    refusal = rules.adopt_refusal(live, OWNER)
    assert (refusal.code if refusal else None) == code


def test_adopt_refusal_keeps_the_import_wording() -> None:
    assert rules.adopt_refusal(FOREIGN, OWNER) == rules.Refusal(
        "foreign",
        "'img' is owned by catalog 'someone-else'",
        "only an unowned image can be imported; remove it from 'someone-else' first",
    )
    assert rules.adopt_refusal(PUBLIC, OWNER) == rules.Refusal(
        "public", "'img' is a public image", "public images cannot be owned by a catalog"
    )


# --------------------------------------------------------------------------------------------------
# capture_blockers / capability_refusal: what blocks this capture


@pytest.mark.parametrize(
    ("wanted", "source", "caps", "codes"),
    [
        (spec(), vm(), CAPS, []),
        (spec(), None, CAPS, ["vm-missing"]),
        (spec(), vm(os="windows"), CAPS, ["os-mismatch"]),
        (spec(), vm(os_state=OSState.SPECIALIZED), CAPS, ["vm-not-generalized"]),
        (spec(os_state=OSState.SPECIALIZED), vm(), CAPS, ["vm-generalized"]),
        (spec(os_state=OSState.SPECIALIZED), vm(os_state=OSState.SPECIALIZED), CAPS, []),
        (spec(), vm(power_state=PowerState.RUNNING), CAPS, ["vm-power-state"]),
        (spec(), vm(power_state=PowerState.DEALLOCATED), CAPS, []),
        # source.generalize: the provider deallocates and generalizes, so neither state blocks
        (spec(source=Source(vm="build-01", generalize=True)),
         vm(os_state=OSState.SPECIALIZED, power_state=PowerState.RUNNING), CAPS, []),
        # ... unless the provider cannot generalize
        (spec(source=Source(vm="build-01", generalize=True)), vm(os_state=OSState.SPECIALIZED), NO_GENERALIZE,
         ["vm-not-generalized"]),
        # generalize does not excuse a running VM for a specialized capture
        (spec(os_state=OSState.SPECIALIZED, source=Source(vm="build-01", generalize=True)),
         vm(os_state=OSState.SPECIALIZED, power_state=PowerState.RUNNING), CAPS, ["vm-power-state"]),
        (spec(), vm(os="windows", power_state=PowerState.RUNNING), CAPS, ["os-mismatch", "vm-power-state"]),
        (spec(source=Source(vhd="https://a/b.vhd")), None, CAPS, []),  # no VM to check
    ],
)
def test_capture_blockers(
    wanted: ImageSpec, source: VM | None, caps: Capabilities, codes: list[str]
) -> None:
    check = rules.capture_blockers(wanted, source, caps)
    assert [b.code for b in check.blockers] == codes
    assert all(b.code in rules.CODES and b.summary and b.hint for b in check.blockers)
    assert check.steps[-1] == "capture image"


def test_capture_blockers_plan_the_generalize_steps_and_the_consumed_vm() -> None:
    running = vm(os_state=OSState.SPECIALIZED, power_state=PowerState.RUNNING)
    check = rules.capture_blockers(spec(source=Source(vm="build-01", generalize=True)), running, CAPS)
    assert check.steps == ("deallocate VM build-01", "generalize VM build-01", "capture image")
    assert (check.deallocate, check.generalize, check.consumes) == (True, True, "build-01")

    stopped = rules.capture_blockers(spec(source=Source(vm="build-01", generalize=True)),
                                     vm(os_state=OSState.SPECIALIZED), CAPS)
    assert (stopped.deallocate, stopped.generalize) == (False, True)

    kept = rules.capture_blockers(spec(os_state=OSState.SPECIALIZED), vm(os_state=OSState.SPECIALIZED), CAPS)
    assert (kept.consumes, kept.steps) == (None, ("capture image",))


@pytest.mark.parametrize(
    ("wanted", "caps", "code"),
    [
        (spec(), CAPS, None),
        (spec(type=ImageType.OS), replace(CAPS, image_types=frozenset({ImageType.VM})), "type-unsupported"),
        (spec(type=ImageType.OS, os_state=OSState.SPECIALIZED), CAPS, "specialized-unsupported"),
        (spec(os_state=OSState.SPECIALIZED), replace(CAPS, specialized_types=frozenset()), "specialized-unsupported"),
        (spec(os_state=OSState.SPECIALIZED), CAPS, None),
        (spec(source=Source(vhd="https://a/b.vhd")), CAPS, "source-unsupported"),
        (spec(source=Source(vhd="https://a/b.vhd")), replace(CAPS, vhd_source=True), None),
    ],
)
def test_capability_refusal(wanted: ImageSpec, caps: Capabilities, code: str | None) -> None:
    refusal = rules.capability_refusal(wanted, caps)
    assert (refusal.code if refusal else None) == code


def test_codes_are_unique_and_stable() -> None:
    assert len(set(rules.CODES)) == len(rules.CODES)
    # These travel in JSON plans and in ProviderError.code: renaming one breaks users' scripts.
    assert {"public", "unowned", "foreign", "protected", "name-taken", "vm-missing", "os-mismatch",
            "vm-not-generalized", "vm-generalized", "vm-power-state"} <= set(rules.CODES)
