"""Every message the safety rules (reconciler/rules.py) write, pinned in one golden file.

Each rule function is called on a table of inputs (every kind of image holder for each verb, each
capture precondition, each capability) and every output is written down: the refusal's code,
summary and hint, or ``allowed``; for a capture check also its steps, the consumed VM and the
deallocate / generalize flags. The guard in front of every provider shows these words to the user
when an apply meets a refusal, so a wording change must be a reviewed golden diff
(``RECONCILER_UPDATE_GOLDEN=1``, docs/testing.md); it is also what kills the rules' message-text
mutants.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from test_render_plans import check_golden

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


def image(name: str = "img", owner: str | None = OWNER, **kw: object) -> Image:
    base = Image(name, ImageType.VM, "linux", OSState.GENERALIZED, owner=owner, source=Source(vm="build-01"))
    return replace(base, **kw)  # type: ignore[arg-type]


def spec(name: str = "img", **kw: object) -> ImageSpec:
    base = ImageSpec(name, ImageType.VM, "linux", OSState.GENERALIZED, Source(vm="build-01"))
    return replace(base, **kw)  # type: ignore[arg-type]


def vm(**kw: object) -> VM:
    return replace(VM("build-01", "linux", PowerState.STOPPED, OSState.GENERALIZED), **kw)  # type: ignore[arg-type]


#: Who may hold a name, each with a distinct image name so a message naming the wrong image shows.
HOLDERS = {
    "public": image("pub-img", owner=None, category=Category.PUBLIC),
    "public, marked with our owner": image("pub-ours", category=Category.PUBLIC),
    "unowned": image("loose-img", owner=None),
    "foreign": image("their-img", owner="someone-else"),
    "foreign, protected": image("their-kept", owner="someone-else", protected=True),
    "owned": image("our-img"),
    "owned, protected": image("our-kept", protected=True),
}

GENERALIZE = Source(vm="build-01", generalize=True)
SPECIALIZED = OSState.SPECIALIZED
VHD = Source(vhd="https://store/b.vhd")


def _refusal(r: rules.Refusal | None) -> str:
    return "allowed" if r is None else f"{r.code}: {r.summary}\n    hint: {r.hint}"


def _check(c: rules.CaptureCheck) -> str:
    lines = [f"  steps: {' / '.join(c.steps)}",
             f"  consumes: {c.consumes}; deallocate: {c.deallocate}; generalize: {c.generalize}"]
    lines += [f"  blocker {_refusal(b)}" for b in c.blockers]
    return "\n".join(lines)


def _sections() -> Iterator[str]:
    out = [f"{who}: {rules.ownership_phrase(i)} / {rules.conflict_hint(i, OWNER)}" for who, i in HOLDERS.items()]
    yield "## ownership_phrase / conflict_hint\n" + "\n".join(out)

    out = [f"{who}, {verb.value}: {_refusal(rules.touch_refusal(i, OWNER, verb))}"
           for who, i in HOLDERS.items() for verb in Verb]
    yield "## touch_refusal\n" + "\n".join(out)

    out = [f"{who}: {_refusal(rules.adopt_refusal(i, OWNER))}" for who, i in HOLDERS.items()]
    yield "## adopt_refusal\n" + "\n".join(out)

    retries = {
        "same VM": (image("our-img"), spec("our-img")),
        "same VM, other case": (image("our-img"), spec("our-img", source=Source(vm="BUILD-01"))),
        "other VM": (image("our-img"), spec("our-img", source=Source(vm="build-02"))),
        "unknown source": (image("our-img", source=None), spec("our-img")),
        "same VHD": (image("our-img", source=VHD), spec("our-img", source=VHD)),
        "other VHD": (image("our-img", source=VHD), spec("our-img", source=Source(vhd="https://store/c.vhd"))),
        "VHD image, VM spec": (image("our-img", source=VHD), spec("our-img")),
        "VM image, VHD spec": (image("our-img"), spec("our-img", source=VHD)),
        "unowned, same VM": (image("loose-img", owner=None), spec("loose-img")),
        "foreign, same VM": (image("their-img", owner="someone-else"), spec("their-img")),
        "public, same VM": (image("pub-img", owner=None, category=Category.PUBLIC), spec("pub-img")),
    }
    out = [f"{what}: retry={rules.is_capture_retry(i, s, OWNER)} "
           f"same_source={rules.same_source(i.source, s.source)}; {_refusal(rules.capture_refusal(i, s, OWNER))}"
           for what, (i, s) in retries.items()]
    yield "## is_capture_retry / same_source / capture_refusal\n" + "\n".join(out)

    only_vm = replace(CAPS, image_types=frozenset({ImageType.VM}))
    only_os = replace(CAPS, image_types=frozenset({ImageType.OS}), provider="os-only")
    capabilities = {
        "vm image, both types": (spec("web"), CAPS),
        "os image, vm-only provider": (spec("web", type=ImageType.OS), only_vm),
        "vm image, os-only provider": (spec("web"), only_os),
        "specialized os image": (spec("web", type=ImageType.OS, os_state=SPECIALIZED), CAPS),
        "specialized vm image, no specialized types": (
            spec("web", os_state=SPECIALIZED), replace(CAPS, specialized_types=frozenset(), provider="gallery")),
        "specialized vm image": (spec("web", os_state=SPECIALIZED), CAPS),
        "specialized os image, no specialized types": (
            spec("web", type=ImageType.OS, os_state=SPECIALIZED), replace(CAPS, specialized_types=frozenset())),
        "vhd source, vm-only provider": (spec("web", source=VHD), replace(CAPS, provider="classic")),
        "vhd source, vhd provider": (spec("web", source=VHD), replace(CAPS, vhd_source=True)),
    }
    out = [f"{what}: {_refusal(rules.capability_refusal(s, c))}" for what, (s, c) in capabilities.items()]
    yield "## capability_refusal\n" + "\n".join(out)

    blockers = {
        "ready": (spec("web"), vm(), CAPS),
        "deallocated": (spec("web"), vm(power_state=PowerState.DEALLOCATED), CAPS),
        "vm missing": (spec("web"), None, CAPS),
        "vhd source, no vm": (spec("web", source=VHD), None, CAPS),
        "other os": (spec("web"), vm(os="windows"), CAPS),
        "not generalized, provider can generalize": (spec("web"), vm(os_state=SPECIALIZED), CAPS),
        "not generalized, provider cannot": (spec("web"), vm(os_state=SPECIALIZED), NO_GENERALIZE),
        "generalize asked, provider cannot": (spec("web", source=GENERALIZE), vm(os_state=SPECIALIZED),
                                              NO_GENERALIZE),
        "generalize asked, vm running": (spec("web", source=GENERALIZE),
                                         vm(os_state=SPECIALIZED, power_state=PowerState.RUNNING), CAPS),
        "generalize asked, vm stopped": (spec("web", source=GENERALIZE), vm(os_state=SPECIALIZED), CAPS),
        "generalize asked, vm already generalized": (spec("web", source=GENERALIZE), vm(), CAPS),
        "specialized from a generalized vm": (spec("web", os_state=SPECIALIZED), vm(), CAPS),
        "specialized from a specialized vm": (spec("web", os_state=SPECIALIZED), vm(os_state=SPECIALIZED), CAPS),
        "specialized, vm running": (spec("web", os_state=SPECIALIZED),
                                    vm(os_state=SPECIALIZED, power_state=PowerState.RUNNING), CAPS),
        "running": (spec("web"), vm(power_state=PowerState.RUNNING), CAPS),
        "running, provider names its deallocate command": (
            spec("web"), vm(power_state=PowerState.RUNNING),
            replace(CAPS, deallocate_hint="az vm deallocate -g rg -n {vm}")),
        "starting, provider accepts running": (
            spec("web"), vm(power_state=PowerState.STARTING),
            replace(CAPS, capture_power_states=frozenset({PowerState.RUNNING}))),
        "other os and running": (spec("web"), vm(os="windows", power_state=PowerState.RUNNING), CAPS),
    }
    out = [f"{what}:\n{_check(rules.capture_blockers(s, v, c))}" for what, (s, v, c) in blockers.items()]
    yield "## capture_blockers\n" + "\n".join(out)


def test_every_rules_message_is_pinned():
    check_golden("rules-messages.txt", "\n\n".join(_sections()) + "\n")


def test_the_golden_table_reaches_every_refusal_code():
    # The golden file is only a complete record if the table reaches every code the rules can give.
    text = "\n".join(_sections())
    missing = [code for code in rules.CODES if f"{code}: " not in text]
    assert missing == []
