"""Every message, reason and step the planner writes, pinned in one golden file.

One scenario per rule (each refusal, each capture precondition, each reason and warning), planned
and described fact by fact (action, reason, steps, field diffs, each diagnostic's code, location,
summary and hint). Reviewing
the golden diff is how a wording change gets noticed; it is also what kills the planner's
message-text mutants (docs/testing.md).
"""

from __future__ import annotations

import json
from dataclasses import replace

from planning import CAPS, desired, image, image_of, spec, vm
from test_render_plans import check_golden

from reconciler.errors import Diagnostic
from reconciler.model import Category, ImageType, OSState, Plan, PowerState, Snapshot, Source
from reconciler.plan import make_plan

NO_GENERALIZE = replace(CAPS, generalize=False)
STRICT = replace(CAPS, specialized_types=frozenset(), extra_checks=lambda s, snap: (
    [Diagnostic.error(f"provider check refuses '{s.name}'", "a provider hint")] if s.name.startswith("x") else []
))


def _scenarios():
    s = spec("web", label="L", tags={"t": "1"}, family="f")
    yield "capture, consuming its VM", desired(s), Snapshot(vms=(vm("vm-web"),)), CAPS
    yield "capture, specialized", desired(spec("sp", os_state=OSState.SPECIALIZED)), Snapshot(
        vms=(vm("vm-sp", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),)), CAPS
    yield "capture, generalizing a running VM", desired(spec("g", source=Source(vm="vm-g", generalize=True))), \
        Snapshot(vms=(vm("vm-g", os_state=OSState.SPECIALIZED, power_state=PowerState.RUNNING),)), CAPS
    yield "capture, generalizing a stopped VM", desired(spec("g", source=Source(vm="vm-g", generalize=True))), \
        Snapshot(vms=(vm("vm-g", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),)), CAPS
    yield "no-op", desired(s), Snapshot(images=(image_of(s),)), CAPS
    yield "update, one field", desired(s), Snapshot(images=(image_of(s, label="old"),)), CAPS
    yield "update, tags only", desired(s), Snapshot(images=(image_of(s, tags={"t": "2"}),)), CAPS
    yield "update, several fields", desired(s), Snapshot(images=(image_of(s, label="old", tags={"t": "2"}),)), CAPS
    yield "update, protection added", desired(replace(s, protect=True)), Snapshot(images=(image_of(s),)), CAPS
    yield "update, protection removed", desired(s), Snapshot(images=(image_of(s, protected=True),)), CAPS
    yield "replace", desired(s), Snapshot(images=(image_of(s, os_state=OSState.SPECIALIZED),), vms=(vm("vm-web"),)), \
        CAPS
    yield "replace of a protected image", desired(replace(s, protect=True)), Snapshot(
        images=(image_of(s, source=Source(vm="old"), protected=True),), vms=(vm("vm-web"),)), CAPS
    yield "public name", desired(s), Snapshot(images=(image_of(s, owner=None, category=Category.PUBLIC),)), CAPS
    yield "unowned name", desired(s), Snapshot(images=(image_of(s, owner=None),)), CAPS
    yield "foreign name", desired(s), Snapshot(images=(image_of(s, owner="other"),)), CAPS
    yield "VM missing", desired(s), Snapshot(), CAPS
    yield "VM of another OS", desired(s), Snapshot(vms=(vm("vm-web", os="windows"),)), CAPS
    yield "VM not generalized, provider can generalize", desired(s), Snapshot(
        vms=(vm("vm-web", os_state=OSState.SPECIALIZED),)), CAPS
    yield "VM not generalized, provider cannot", desired(s), Snapshot(
        vms=(vm("vm-web", os_state=OSState.SPECIALIZED),)), NO_GENERALIZE
    yield "VM generalized, specialized capture", desired(spec("sp", os_state=OSState.SPECIALIZED)), Snapshot(
        vms=(vm("vm-sp"),)), CAPS
    yield "VM running", desired(s), Snapshot(vms=(vm("vm-web", power_state=PowerState.RUNNING),)), CAPS
    yield "provider check", desired(spec("xo", type=ImageType.OS)), Snapshot(vms=(vm("vm-xo"),)), STRICT
    yield "VM consumed twice", desired(spec("a", source=Source(vm="v")), spec(
        "b", os_state=OSState.SPECIALIZED, source=Source(vm="v"))), Snapshot(
        vms=(vm("v", os_state=OSState.SPECIALIZED, power_state=PowerState.STOPPED),)), CAPS
    yield "prune", desired(prune=True), Snapshot(images=(image("gone", label="L", family="f"),)), CAPS
    yield "prune of a protected image", desired(prune=True), Snapshot(images=(image("kept", protected=True),)), CAPS
    yield "retention", desired(retention={"f": 1}), Snapshot(images=(
        image("f1", family="f", created="1"), image("f2", family="f", created="2"),
        image("f3", family="f", created="3"))), CAPS


def _diag(kind: str, d: Diagnostic) -> str:
    where = f" @{d.location.json_path}" if d.location is not None else ""
    return f"  {kind}[{d.code}]{where}: {d.summary}\n    hint: {d.hint}"


def _describe(plan: Plan) -> str:
    """Everything the planner decided and wrote, one line per fact, in plan order."""
    lines = []
    for c in plan.changes:
        flags = [f for f, on in (("destructive", c.destructive), (f"consumes {c.consumes_vm}", c.consumes_vm)) if on]
        lines.append(f"{c.action.word} {c.name}: {c.reason}" + (f" ({', '.join(flags)})" if flags else ""))
        if c.steps:
            lines.append(f"  steps: {' / '.join(c.steps)}")
        for f in c.fields:
            lines.append(f"  {f.path}: {json.dumps(f.before)} -> {json.dumps(f.after)}"
                         + ("  [forces replace]" if f.forces_replace else ""))
        lines += [_diag("error", e) for e in c.errors] + [_diag("warning", w) for w in c.warnings]
    lines += [_diag("plan error", e) for e in plan.errors] + [_diag("plan warning", w) for w in plan.warnings]
    return "\n".join(lines)


def test_every_planner_message_is_pinned():
    out = [f"## {title}\n{_describe(make_plan(d, snap, caps))}\n" for title, d, snap, caps in _scenarios()]
    out.append(f"## unknown target\n{_describe(make_plan(desired(), Snapshot(), CAPS, targets=['nope']))}\n")
    s = spec("web", label="L")
    requested = {
        "replace requested": (desired(s), Snapshot(images=(image_of(s),), vms=(vm("vm-web"),)), CAPS, ["web"]),
        "replace requested, not declared": (desired(s), Snapshot(images=(image_of(s),)), CAPS, ["Ghost"]),
        "replace requested, protected": (
            desired(replace(s, protect=True)), Snapshot(images=(image_of(s, protected=True),), vms=(vm("vm-web"),)),
            CAPS, ["web"]),
        "update clearing a set-only field": (
            desired(s), Snapshot(images=(image_of(s, description="D"),)),
            replace(CAPS, set_only_fields=frozenset({"description"}), provider="classic"), []),
    }
    out += [f"## {title}\n{_describe(make_plan(d, snap, caps, replace=names))}\n"
            for title, (d, snap, caps, names) in requested.items()]
    check_golden("planner-messages.txt", "\n".join(out))
