"""rules.py for the sources beyond VM and VHD and the guest steps of a generalize (issue 10 §1, §3, §4).

Exact strings and flags, so that a mutant of the new lines (a step dropped, a flag flipped, a noun
swapped) fails here.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler import rules
from reconciler.model import VM, Action, Capabilities, ImageSpec, ImageType, OSState, PowerState, Snapshot, Source
from reconciler.plan import make_plan
from tests.unit.planning import desired, image

CAPS = Capabilities(provider="test", mutable_fields=frozenset(), generalize=True, vhd_source=True)
AZURE_LIKE = replace(CAPS, disk_sources=True, deprovision=True)


def spec(source: Source, **kw: object) -> ImageSpec:
    return replace(ImageSpec("img", ImageType.OS, "linux", OSState.GENERALIZED, source), **kw)  # type: ignore[arg-type]


def vm(power: PowerState = PowerState.RUNNING, state: OSState = OSState.SPECIALIZED) -> VM:
    return VM("build", "linux", power, state)


@pytest.mark.parametrize(("source", "noun"), [(Source(image="img0"), "managed image"),
                                              (Source(snapshot="snap"), "snapshot"),
                                              (Source(disk="disk"), "managed disk")])
def test_disk_sources_are_refused_where_the_provider_has_none(source: Source, noun: str) -> None:
    refusal = rules.capability_refusal(spec(source), CAPS)
    assert refusal is not None and refusal.code == rules.SOURCE_UNSUPPORTED
    assert refusal.summary == f"cannot capture 'img': the test provider cannot capture from a {noun}"
    assert refusal.hint == "use source.vm or source.vhd"
    vm_only = rules.capability_refusal(spec(source), replace(CAPS, vhd_source=False))
    assert vm_only is not None and vm_only.hint == "use source.vm"
    assert rules.capability_refusal(spec(source), AZURE_LIKE) is None


def test_a_vhd_is_still_refused_without_vhd_support_and_a_vm_never() -> None:
    refusal = rules.capability_refusal(spec(Source(vhd="https://a/b.vhd")), replace(CAPS, vhd_source=False))
    assert refusal is not None and "not VHDs" in refusal.summary
    assert rules.capability_refusal(spec(Source(vm="build")), replace(CAPS, vhd_source=False)) is None


def test_source_kind_and_identity() -> None:
    assert Source(vm="v").kind == "vm" and Source(vhd="u").kind == "vhd" and Source(image="i").kind == "image"
    assert Source(snapshot="s").kind == "snapshot" and Source(disk="d").kind == "disk" and Source().kind == "vm"
    assert Source(snapshot="s", data_snapshots=("d0", "d1"), generalize=True, deprovision=True).as_dict() == {
        "snapshot": "s", "data_snapshots": ["d0", "d1"]}
    assert Source(image="i", sysprepped=True).as_dict() == {"image": "i"}
    assert Source(disk="d").as_dict() == {"disk": "d"}


def test_deprovision_runs_first_and_forces_the_deallocate() -> None:
    src = Source(vm="build", generalize=True, deprovision=True)
    for power in (PowerState.RUNNING, PowerState.STOPPED):
        check = rules.capture_blockers(spec(src), vm(power), AZURE_LIKE)
        assert check.steps == ("deprovision the guest of VM build (waagent -deprovision+user)",
                               "deallocate VM build", "generalize VM build", "capture image")
        assert (check.deprovision, check.deallocate, check.generalize, check.blockers) == (True, True, True, ())


def test_deprovision_is_ignored_by_a_provider_that_cannot() -> None:
    src = Source(vm="build", generalize=True, deprovision=True)
    check = rules.capture_blockers(spec(src), vm(PowerState.DEALLOCATED), CAPS)
    assert check.steps == ("generalize VM build", "capture image")
    assert (check.deprovision, check.deallocate) == (False, False)


def test_the_generalize_step_says_what_happens_to_the_guest() -> None:
    plain = rules.capture_blockers(spec(Source(vm="build", generalize=True)), vm(PowerState.DEALLOCATED), AZURE_LIKE)
    assert plain.steps == ("generalize VM build (marks it only: the guest is not deprovisioned; declare "
                           "source.deprovision: true for Linux)", "capture image")
    assert plain.deprovision is False
    stated = rules.capture_blockers(spec(Source(vm="build", generalize=True, sysprepped=True), os="windows"),
                                    replace(vm(PowerState.DEALLOCATED), os="windows"), AZURE_LIKE)
    assert stated.steps == ("generalize VM build (the file states the guest was sysprepped)", "capture image")
    # A provider that cannot deprovision says nothing new: its plans read as before.
    before = rules.capture_blockers(spec(Source(vm="build", generalize=True)), vm(PowerState.DEALLOCATED), CAPS)
    assert before.steps == ("generalize VM build", "capture image")


def test_no_guest_step_for_a_generalized_vm() -> None:
    src = Source(vm="build", generalize=True, deprovision=True)
    check = rules.capture_blockers(spec(src), vm(PowerState.DEALLOCATED, OSState.GENERALIZED), AZURE_LIKE)
    assert check.steps == ("capture image",) and not check.deprovision


# --------------------------------------------------------------------------------------------------
# The planner compares a source by identity, each kind of it (plan.py ``_VIEW``)

SOURCES = [Source(vm="a"), Source(vhd="https://s/a.vhd"), Source(image="a"), Source(snapshot="a"),
           Source(disk="a"), Source(snapshot="a", data_snapshots=("d0",)), Source(disk="a", data_snapshots=("d1",))]


@pytest.mark.parametrize("live", SOURCES)
@pytest.mark.parametrize("declared", SOURCES)
def test_a_different_source_of_any_kind_is_a_replace(live: Source, declared: Source) -> None:

    caps = replace(AZURE_LIKE, mutable_fields=frozenset({"label"}))
    s = spec(declared, type=ImageType.VM, name="img")
    plan = make_plan(desired(s), Snapshot(images=(image("img", source=live),)), caps)
    change = next(c for c in plan.changes if c.name == "img")
    assert change.action is (Action.NOOP if live == declared else Action.REPLACE), change.reason
    if live != declared:
        assert any(f.path.startswith("source") for f in change.fields)


def test_how_is_not_what_deprovision_and_sysprepped_are_no_difference() -> None:

    live = image("img", source=Source(vm="a"))
    for how in (Source(vm="a", generalize=True, deprovision=True), Source(vm="a", generalize=True, sysprepped=True)):
        plan = make_plan(desired(spec(how, type=ImageType.VM, name="img")), Snapshot(images=(live,)), AZURE_LIKE)
        assert [c.action for c in plan.changes] == [Action.NOOP]
