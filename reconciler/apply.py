"""Apply: carry out exactly the changes of a plan through a provider. Decides nothing itself.

Layer: core, acting through the injected provider and reporting through injected hooks; it never
prints, sleeps or reads the clock directly (``clock`` is passed in). Independent changes run
concurrently up to ``parallelism``; at the first failure no new change is started (unless
``continue_on_error``), the ones in flight finish, and the result lists every pending change as
done, failed or not started — so a second ``plan`` shows exactly what is left.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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


#: The error of a change that was still running when apply stopped waiting for it.
STILL_RUNNING = "still running when apply stopped waiting for it: its outcome is unknown"


class ApplyInterrupted(ReconcilerError):
    """Apply was interrupted (Ctrl-C, SIGTERM); ``result`` holds what was done before it stopped.

    ``unfinished`` names the changes that were still running when apply stopped waiting for them
    (the grace period ran out, or a second interrupt came): their result says ``STILL_RUNNING``,
    and their threads may still be working, so the caller must not treat the catalog as quiet.
    """

    def __init__(self, result: ApplyResult, unfinished: tuple[str, ...] = ()) -> None:
        if unfinished:
            message = (
                f"apply was interrupted: no new change was started, and {len(unfinished)} change(s) in flight "
                f"were still running when it stopped waiting ({', '.join(unfinished)})"
            )
            hint = "run plan again once they are over in the cloud, to see what is left"
        else:
            message = "apply was interrupted: changes in flight were allowed to finish, no new change was started"
            hint = "run plan again to see what is left"
        super().__init__(message, hint)
        self.result = result
        self.unfinished = unfinished


#: The longest the main thread waits at once for the changes in flight. A SIGINT or SIGTERM that
#: the kernel hands to a worker thread only sets CPython's flag: the main thread, blocked in a lock
#: with no timeout, would run the handler when a change finished (an apply polling a 10-minute
#: capture ignored a SIGTERM for 10 minutes, and a CI job's SIGKILL then left the lock held). Waiting
#: in slices, it runs the handler within this long.
_TICK = 0.25


def apply_plan(
    plan: Plan,
    provider: Provider,
    *,
    parallelism: int = 10,
    continue_on_error: bool = False,
    hooks: ApplyHooks | None = None,
    clock: Callable[[], float] = time.monotonic,
    still_locked: Callable[[], None] | None = None,
    stop_grace: float | None = None,
    on_stop: Callable[[list[Change]], None] | None = None,
    on_stopped: Callable[[], None] | None = None,
) -> ApplyResult:
    """Run every pending change of ``plan``; returns one ``ChangeResult`` per pending change.

    A plan with errors is refused before anything runs. Never raises for a failed change: the
    failure is in the result. Raises ``ApplyInterrupted`` on KeyboardInterrupt.
    ``still_locked`` raises ``ReconcilerError`` when the catalog lock was lost (a lease taken by
    ``force-unlock``); it is called before each change starts, and a loss fails that change, so
    no new change starts (even with ``continue_on_error``).

    On an interrupt no new change starts; ``on_stop`` is told which changes are in flight, and
    they are waited for, at most ``stop_grace`` seconds (``None``: as long as they take). A second
    interrupt from ``on_stop``'s call until ``on_stopped`` is called ends the wait at once (the
    caller lets a second interrupt through only in that window). Changes still running then are
    reported failed with ``STILL_RUNNING`` and named in ``ApplyInterrupted.unfinished``.
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
    # What the workers share with the main thread. Each worker takes the next change of ``queue``
    # (plan order) as it finishes one, until none is left or no new change may start: a failure
    # (without ``continue_on_error``), a lost lock, ``stopping`` (an interrupt). The main thread
    # only waits: it wakes when every worker is done, or an interrupt comes, not once a change
    # (issue 13: a hand-over per change cost two thread switches each). A change is "active" from
    # the moment its worker takes it until its result is recorded.
    state = threading.Condition()
    active: dict[str, Change] = {}
    stopping = False
    queue = deque(pending)

    def work(first: Change) -> None:
        nonlocal failed
        with state:
            if stopping:
                return  # given it, but the interrupt came first: reported as not started
            active[first.key] = first
        change: Change | None = first
        while change is not None:
            result: ChangeResult | None = None
            try:
                result = _run_one(change)
            finally:
                with state:
                    active.pop(change.key, None)
                    if result is not None:
                        results[change.key] = result
                        failed = failed or result.outcome is Outcome.FAILED
                    state.notify_all()
                    change = _next() if result is not None else None

    def _next() -> Change | None:  # under ``state``
        if stopping or not queue or (failed and not continue_on_error) or lock_lost:
            return None
        change = queue.popleft()
        active[change.key] = change
        return change

    def _run_one(change: Change) -> ChangeResult:
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

    workers = min(parallelism, provider.capabilities.concurrent_changes or parallelism, max(1, len(pending)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply")
    unfinished: list[Change] = []
    try:
        with state:  # the first changes start together, one for each worker
            first = [queue.popleft() for _ in range(min(workers, len(queue)))]
        running: set[Future[None]] = {pool.submit(work, change) for change in first}
        while running:  # in slices: see ``_TICK``
            done, running = wait(running, timeout=_TICK, return_when=FIRST_EXCEPTION)
            for fut in done:
                fut.result()  # what a worker raised outside any change's own handling: raised here
    except KeyboardInterrupt:
        with state:
            stopping = True
            in_flight = list(active.values())
        try:
            try:
                if on_stop is not None and in_flight:
                    on_stop(in_flight)
                deadline = None if stop_grace is None else time.monotonic() + stop_grace
                with state:
                    while active:  # in slices: see ``_TICK``
                        left = _TICK if deadline is None else min(_TICK, deadline - time.monotonic())
                        if left <= 0:
                            break
                        state.wait(left)
            finally:
                if on_stopped is not None:
                    on_stopped()
        except KeyboardInterrupt:
            pass  # asked twice: stop waiting now
        with state:
            unfinished = list(active.values())
            for change in unfinished:
                results[change.key] = ChangeResult(change.name, change.action, Outcome.FAILED, STILL_RUNNING)
            snapshot = dict(results)
        raise ApplyInterrupted(_collect(pending, snapshot), tuple(c.name for c in unfinished)) from None
    finally:
        # Never block on a change we stopped waiting for; the caller decides what becomes of it.
        pool.shutdown(wait=not unfinished, cancel_futures=True)
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
