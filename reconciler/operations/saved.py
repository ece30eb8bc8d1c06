"""Plans, saved plans and apply: ``make_plan``, reading and verifying a saved plan, ``apply``'s
argument (a saved plan or a desired-state file, by content), and running a plan under the lock.

Layer: orchestration (``reconciler.operations``). A saved plan runs only if it is still the plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PlanFileError, ReconcilerError
from ..model import Action, ApplyResult, Capabilities, Change, DesiredState, Plan, Snapshot
from ..providers import LockHandle, Provider
from .environment import Environment
from .loading import load_desired, parse_desired, read_path

if TYPE_CHECKING:  # the engine (and its thread pool) loads only for an apply: a plan never runs it
    from ..apply import ApplyHooks


def read_snapshot(desired: DesiredState, provider: Provider, *, prune: bool | None = None,
                  targets: Sequence[str] = (), replace: Sequence[str] = (), now: datetime | None = None) -> Snapshot:
    """The live snapshot a plan of ``desired`` reads: the catalog, and the consumers of the images
    a remove of which the policy could hold (issue 11 §4). Consumers cost a query of their own
    (azure: Resource Graph across subscriptions), so they are read only when a first plan (at
    ``now``: a lifecycle delete depends on it) has such a remove; the snapshot then carries them and
    the planner marks those removes held."""
    return _read(desired, provider, prune=prune, targets=targets, replace=replace, now=now)[0]


def _read(desired: DesiredState, provider: Provider, *, prune: bool | None, targets: Sequence[str],
          replace: Sequence[str], now: datetime | None, fingerprints: bool = True) -> tuple[Snapshot, Plan | None]:
    """``read_snapshot``, and the first plan when it is already the plan (no consumers were needed),
    so that a plan whose policy may hold removes but has none is made once."""
    from ..plan import make_plan as plan_changes
    from ..plan import removes_to_check, unchanged_test

    # The up-to-date images kept as their fingerprints alone (issue 13: 50 MB of 100,000).
    snapshot = provider.snapshot(desired.images, unchanged_test(desired, provider.capabilities, replace=replace,
                                                                fingerprints=fingerprints))
    # Only images from another image, a snapshot or a disk read more than the catalog (100,000
    # VM sources ask nothing more: one attribute test each; issue 13).
    sourced = [s for s in desired.images if s.source.image is not None or s.source.snapshot is not None
               or s.source.disk is not None]
    promoted = [s for s in sourced if s.source.promotion]
    if promoted:  # issue 11 §1: the source images of the file's promotions, from their catalogs
        snapshot = dataclasses.replace(snapshot, origins=provider.origins(promoted))
    capturing = [s for s in sourced if s.source.disk_refs()]
    if capturing:  # issue 10 §3: the managed images, snapshots and disks captures read, for their checks
        snapshot = dataclasses.replace(snapshot, capture_sources=provider.capture_sources(capturing))
    if not desired.policy.may_block:  # policy.consumers, or a lifecycle entry (issue 11 §3)
        return snapshot, None
    first = plan_changes(desired, snapshot, provider.capabilities, prune=prune, targets=targets, replace=replace,
                         now=now, fingerprints=fingerprints)
    images = removes_to_check(desired, first)
    if not images:
        return snapshot, first
    return dataclasses.replace(snapshot, consumers=provider.consumers(images, desired.policy.consumers)), None


def make_plan(desired: DesiredState, provider: Provider, *, prune: bool | None = None,
              targets: Sequence[str] = (), replace: Sequence[str] = (), now: datetime | None = None,
              fingerprints: bool = True) -> Plan:
    """A fresh plan of ``desired`` against the live catalog (read once, now); ``replace``: the
    ``--replace`` names, recaptured even when nothing differs; ``now``: the shell's time, for the
    time-based rules; ``fingerprints=False``: a plan only shown, never saved (``plan.make_plan``)."""
    from ..plan import make_plan as plan_changes

    with read_path():
        snapshot, made = _read(desired, provider, prune=prune, targets=targets, replace=replace, now=now,
                               fingerprints=fingerprints)
        if made is not None:
            return made
        return plan_changes(desired, snapshot, provider.capabilities, prune=prune, targets=targets,
                            replace=replace, now=now, fingerprints=fingerprints)


def _saved_snapshot(saved: Plan, desired: DesiredState, provider: Provider, now: datetime | None = None) -> Snapshot:
    """The snapshot a saved plan is verified against: read as a fresh plan with its options (and its
    time) would."""
    return read_snapshot(desired, provider, prune=_replay_prune(saved), targets=saved.targets, replace=saved.replace,
                         now=_replay_now(saved, now))


def read_plan(path: Path, data: bytes | None = None) -> Plan:
    """The saved plan at ``path`` (or in ``data``, its bytes already read), checked and sealed."""
    from ..files import read_input
    from ..planfile import load_plan

    if data is None:
        data = read_input(path, "plan file", "pass the file written by `reconciler plan --out`")
    return load_plan(data, str(path))


def verify_saved_plan(saved: Plan, desired: DesiredState, snapshot: Snapshot, capabilities: Capabilities,
                      filename: str, *, now: datetime | None = None) -> None:
    """A saved plan runs only if it is still the plan (docs/plan-format.md, "What applying a saved
    plan guarantees"): made for this catalog, not stale (the fast first answer), and equal to a
    fresh plan of the same desired-state file and live ``snapshot`` with its own prune/targets.

    Pure: ``snapshot`` and ``capabilities`` are the provider's, read under the lock by the caller.
    """
    from ..plan import make_plan as plan_changes
    from ..planfile import ensure_fresh, ensure_same_plan

    if saved.errored:
        raise ReconcilerError("the saved plan has errors and cannot be applied", "fix them and run plan again")
    if saved.catalog != desired.catalog.name or saved.provider != desired.catalog.provider:
        raise PlanFileError(
            f"{filename} was made for catalog '{saved.catalog}' ({saved.provider}), "
            f"not '{desired.catalog.name}' ({desired.catalog.provider})",
            "apply it with the desired-state file it was made from (--file)",
        )
    ensure_fresh(saved, snapshot, desired.digest)
    fresh = plan_changes(desired, snapshot, capabilities, prune=_replay_prune(saved), targets=saved.targets,
                        replace=saved.replace, now=_replay_now(saved, now))
    ensure_same_plan(saved, fresh, filename)


def _replay_now(saved: Plan, now: datetime | None) -> datetime | None:
    """The time that plans ``saved`` again: the one it recorded (issue 11 §3: a saved plan does not
    change meaning between review and apply, a deprecation due at review is applied as reviewed),
    else ``now``."""
    from ..lifecycle import parse_time

    return parse_time(saved.now) or now


def _replay_prune(saved: Plan) -> bool | None:
    """The ``prune`` that plans ``saved`` again. ``--no-prune`` removes nothing at all (retention
    included), so a saved plan that removes nothing (and kept nothing protected back) is replayed with
    removals off; one that does was planned with removals on: ``True`` when pruning, else the file's
    policy (retention only)."""
    if saved.prune:
        return True
    removes = any(c.action is Action.REMOVE for c in saved.changes) or any(
        w.code == "protected" for w in saved.warnings)
    return None if removes else False


@dataclass(frozen=True)
class ApplyRequest:
    """What ``apply ARG`` was given, told apart by content: a saved plan or a desired-state file.

    ``saved`` is the saved plan (None: plan ``desired`` afresh, with ``prune`` and ``targets``).
    ``desired_file`` is the desired-state file either way (the one ``force-unlock`` hints name).
    """

    desired: DesiredState
    desired_file: Path
    saved: Plan | None = None
    saved_file: Path | None = None
    prune: bool | None = None
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()


def read_apply_request(
    arg: Path,
    data: bytes,
    *,
    spec_file: Path,
    env: Environment,
    targets: Sequence[str] = (),
    prune: bool | None = None,
    replace: Sequence[str] = (),
) -> ApplyRequest:
    """Read ``apply``'s argument (``data``, the bytes of ``arg``) as a saved plan or a desired-state file.

    A plan is told by its content (a ``plan_file`` envelope), not its name: ``images.json`` is a
    desired-state file (JSON is YAML). A saved plan comes with ``spec_file``, the desired-state
    file it was made from, and refuses ``targets``, ``prune`` and ``replace``: it already decided those.
    """
    from ..planfile import is_plan_document

    if not is_plan_document(data):
        return ApplyRequest(parse_desired(data, str(arg), env), arg, prune=prune, targets=tuple(targets),
                            replace=tuple(replace))
    if targets or prune is not None or replace:
        raise ReconcilerError(
            "--target, --replace and --prune cannot be used with a saved plan",
            "the saved plan already decided what to change: make a new plan with those options",
        )
    saved = read_plan(arg, data)
    return ApplyRequest(load_desired(spec_file, env), spec_file, saved=saved, saved_file=arg)


def plan_to_apply(request: ApplyRequest, provider: Provider, *, now: datetime | None = None) -> Plan:
    """The plan ``apply`` runs: the saved plan once verified under the lock, else a fresh one."""
    if request.saved is None:
        return make_plan(request.desired, provider, prune=request.prune, targets=request.targets,
                         replace=request.replace, now=now)
    verify_saved_plan(request.saved, request.desired,
                      _saved_snapshot(request.saved, request.desired, provider, now),
                      provider.capabilities, str(request.saved_file), now=now)
    return request.saved


def apply_changes(
    plan: Plan,
    provider: Provider,
    lock: LockHandle,
    *,
    hooks: ApplyHooks | None = None,
    parallelism: int = 10,
    continue_on_error: bool = False,
    stop_grace: float | None = None,
    on_stop: Callable[[list[Change]], None] | None = None,
    on_stopped: Callable[[], None] | None = None,
) -> ApplyResult:
    """Run ``plan`` under the held ``lock``: a lost lock fails the next change (``apply.apply_plan``)."""
    from ..apply import apply_plan

    return apply_plan(
        plan,
        provider,
        hooks=hooks,
        parallelism=parallelism,
        continue_on_error=continue_on_error,
        still_locked=lock.check,
        stop_grace=stop_grace,
        on_stop=on_stop,
        on_stopped=on_stopped,
    )


def apply_saved(saved: Plan, desired: DesiredState, provider: Provider, lock: LockHandle, *, filename: str,
                hooks: ApplyHooks | None = None, parallelism: int = 10,
                continue_on_error: bool = False) -> ApplyResult:
    """Verify a saved plan against ``desired`` and the live catalog, then run exactly it."""
    verify_saved_plan(saved, desired, _saved_snapshot(saved, desired, provider), provider.capabilities, filename)
    return apply_changes(saved, provider, lock, hooks=hooks, parallelism=parallelism,
                         continue_on_error=continue_on_error)
