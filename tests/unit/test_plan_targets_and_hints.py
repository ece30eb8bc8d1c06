"""The planner's ``--target`` resolution and its "not generalized" hint; each one failed before its fix."""

from __future__ import annotations

from planning import CAPS, desired, image

from reconciler.model import Snapshot
from reconciler.plan import make_plan


def plan_of(d, snap, **kw):
    return make_plan(d, snap, CAPS, **kw)


def test_target_naming_an_owned_image_with_nothing_to_do_is_not_called_unknown():
    # An owned, undeclared image that the plan keeps (prune off, or protected) is a real target:
    # the plan has nothing for it, but saying it "matches no owned image" is false.
    snap = Snapshot(images=(image("old"), image("kept", protected=True)))
    for d, t in ((desired(prune=False), "OLD"), (desired(prune=True), "kept")):
        p = plan_of(d, snap, targets=[t])
        assert not p.errored, p.errors
        assert p.pending == ()
    # A name that is neither declared nor an owned image is still an error.
    bad = plan_of(desired(prune=True), Snapshot(images=(image("theirs", owner="other"),)), targets=["theirs"])
    assert bad.errored and "theirs" in bad.errors[0].summary


def test_not_generalized_hint_offers_source_generalize_only_when_the_provider_can():
    from dataclasses import replace

    from planning import spec, vm

    from reconciler.model import OSState, PowerState

    snap = Snapshot(vms=(vm("vm-a", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),))
    d = desired(spec("a"))

    def hint(caps):
        (err,) = [e for c in make_plan(d, snap, caps).changes for e in c.errors if e.code == "vm-not-generalized"]
        return err.hint

    assert "source.generalize" in hint(CAPS)
    assert "source.generalize" not in hint(replace(CAPS, generalize=False))  # validate would refuse it here
