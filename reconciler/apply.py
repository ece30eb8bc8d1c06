"""Apply: carry out exactly the changes of a plan through a provider. Decides nothing itself.

Layer: core, acting through the injected provider and reporting through injected hooks; it never
prints, sleeps or reads the clock directly (``clock`` is passed in). Independent changes run
concurrently up to ``parallelism``; at the first failure no new change is started (unless
``continue_on_error``), the ones in flight finish, and the result lists every pending change as
done, failed or not started — so a second ``plan`` shows exactly what is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from .errors import ReconcilerError
from .model import Action, ApplyResult, Change, ChangeResult, Outcome, Plan
from .providers import Provider


class ApplyHooks(Protocol):
    """Progress callbacks; called from worker threads, so implementations must be thread-safe."""

    def started(self, change: Change) -> None: ...

    def step(self, change: Change, message: str) -> None: ...

    def finished(self, change: Change, result: ChangeResult, error: BaseException | None) -> None: ...


class NoHooks:
    def started(self, change: Change) -> None:
        return None

    def step(self, change: Change, message: str) -> None:
        return None

    def finished(self, change: Change, result: ChangeResult, error: BaseException | None) -> None:
        return None


class ApplyInterrupted(ReconcilerError):
    """Apply was interrupted (Ctrl-C); ``result`` holds what was done before it stopped."""

    def __init__(self, result: ApplyResult) -> None:
        super().__init__(
            "apply was interrupted: changes in flight were allowed to finish, no new change was started",
            "run plan again to see what is left",
        )
        self.result = result


def apply_plan(
    plan: Plan,
    provider: Provider,
    *,
    parallelism: int = 10,
    continue_on_error: bool = False,
    hooks: ApplyHooks | None = None,
    clock: Callable[[], float] = time.monotonic,
    still_locked: Callable[[], None] | None = None,
) -> ApplyResult:
    """Run every pending change of ``plan``; returns one ``ChangeResult`` per pending change.

    A plan with errors is refused before anything runs. Never raises for a failed change: the
    failure is in the result. Raises ``ApplyInterrupted`` on KeyboardInterrupt.
    ``still_locked`` raises ``ReconcilerError`` when the catalog lock was lost (a lease taken by
    ``force-unlock``); it is called before each change starts, and a loss fails that change, so
    no new change starts (even with ``continue_on_error``).
    """
    if plan.errored:
        raise ReconcilerError(
            f"the plan has {len(plan.all_errors)} error(s) and cannot be applied",
            "fix the errors shown by `reconciler plan` first",
        )
    if parallelism < 1:
        raise ReconcilerError("--parallelism must be at least 1", "use --parallelism 1 to run changes one at a time")
    hooks = hooks or NoHooks()
    pending = list(plan.pending)
    results: dict[str, ChangeResult] = {}
    failed = False

    lock_lost = False

    def run(change: Change) -> ChangeResult:
        nonlocal lock_lost
        hooks.started(change)
        start = clock()
        error: BaseException | None = None
        try:
            if still_locked is not None:
                try:
                    still_locked()
                except ReconcilerError:
                    lock_lost = True
                    raise
            _execute(change, provider, lambda msg: hooks.step(change, msg))
            result = ChangeResult(change.name, change.action, Outcome.DONE, seconds=clock() - start)
        except ReconcilerError as e:
            error = e
            result = ChangeResult(change.name, change.action, Outcome.FAILED, str(e), clock() - start)
        except Exception as e:  # noqa: BLE001 - a bug in one change must not hide what the others did
            error = e
            result = ChangeResult(
                change.name, change.action, Outcome.FAILED, f"internal error: {type(e).__name__}: {e}", clock() - start
            )
        hooks.finished(change, result, error)
        return result

    queue = list(pending)
    in_flight: dict[Future[ChangeResult], Change] = {}
    pool = ThreadPoolExecutor(max_workers=min(parallelism, max(1, len(pending))), thread_name_prefix="apply")
    try:
        while queue or in_flight:
            while queue and len(in_flight) < parallelism and not (failed and not continue_on_error) and not lock_lost:
                change = queue.pop(0)
                in_flight[pool.submit(run, change)] = change
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in done:
                change = in_flight.pop(fut)
                result = fut.result()
                results[change.key] = result
                if result.outcome is Outcome.FAILED:
                    failed = True
    except KeyboardInterrupt:
        queue.clear()
        for fut in list(in_flight):
            if fut.cancel():
                in_flight.pop(fut)
        for fut, change in in_flight.items():
            results[change.key] = fut.result()
        raise ApplyInterrupted(_collect(pending, results)) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return _collect(pending, results)


def _collect(pending: list[Change], results: dict[str, ChangeResult]) -> ApplyResult:
    return ApplyResult(
        tuple(results.get(c.key) or ChangeResult(c.name, c.action, Outcome.NOT_STARTED) for c in pending)
    )


def _execute(change: Change, provider: Provider, on_step: Callable[[str], None]) -> None:
    """One change, as the plan says: a replace removes before it captures."""
    if change.action is Action.CAPTURE:
        assert change.after is not None
        provider.capture(change.after, on_step)
    elif change.action is Action.UPDATE:
        assert change.before is not None and change.after is not None
        provider.update(change.before, change.after, on_step)
    elif change.action is Action.REPLACE:
        assert change.before is not None and change.after is not None
        on_step("removing the old image")
        provider.remove(change.before, on_step)
        on_step("capturing the new image")
        provider.capture(change.after, on_step)
    elif change.action is Action.REMOVE:
        assert change.before is not None
        provider.remove(change.before, on_step)
