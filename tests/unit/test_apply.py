"""The apply engine: order, bounded concurrency, stop-on-failure, continue-on-error, reporting.

The provider here is a small scripted in-memory recorder (the engine's only collaborator); real
providers are covered by the contract suite.
"""

from __future__ import annotations

import threading

import pytest
from planning import CAPS, desired, image, image_of, spec, vm

from reconciler.apply import apply_plan
from reconciler.errors import ProviderError, ReconcilerError
from reconciler.model import Action, Outcome, Snapshot, Source
from reconciler.plan import make_plan


class Recorder:
    name = "test"
    owner = "platform"
    capabilities = CAPS

    def __init__(self, fail: set[str] = frozenset(), gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail
        self.gate = gate
        self.running = 0
        self.max_running = 0
        self._lock = threading.Condition()

    def _do(self, op: str, name: str) -> None:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append((op, name))
            self._lock.notify_all()
        try:
            if self.gate is not None:
                assert self.gate.wait(5), "test gate never opened"
            if name in self.fail:
                raise ProviderError(f"{op} of {name} failed", code="Boom", status=500)
        finally:
            with self._lock:
                self.running -= 1

    def capture(self, spec, on_step=lambda m: None):
        on_step("capturing")
        self._do("capture", spec.name)

    def update(self, image, spec, on_step=lambda m: None):
        self._do("update", spec.name)

    def remove(self, image, on_step=lambda m: None):
        self._do("remove", image.name)


def captures(n: int):
    specs = [spec(f"img-{i:02d}", source=Source(vm=f"vm-{i:02d}")) for i in range(n)]
    vms = tuple(vm(f"vm-{i:02d}") for i in range(n))
    return make_plan(desired(*specs), Snapshot(vms=vms), CAPS)


def test_runs_every_pending_change_and_reports_done():
    plan = captures(5)
    rec = Recorder()
    result = apply_plan(plan, rec, parallelism=2)
    assert result.ok
    assert sorted(n for _, n in rec.calls) == [f"img-{i:02d}" for i in range(5)]
    assert [r.outcome for r in result.results] == [Outcome.DONE] * 5


def test_replace_removes_before_it_captures():
    s = spec("a")
    plan = make_plan(desired(s), Snapshot(images=(image_of(s, os="windows"),), vms=(vm("vm-a"),)), CAPS)
    assert plan.pending[0].action is Action.REPLACE
    rec = Recorder()
    apply_plan(plan, rec)
    assert rec.calls == [("remove", "a"), ("capture", "a")]


def test_stops_starting_changes_after_first_failure():
    plan = captures(6)
    rec = Recorder(fail={"img-00"})
    result = apply_plan(plan, rec, parallelism=1)
    assert [r.outcome for r in result.results] == [Outcome.FAILED] + [Outcome.NOT_STARTED] * 5
    assert "img-00 failed" in result.results[0].error
    assert rec.calls == [("capture", "img-00")]


def test_continue_on_error_runs_the_rest():
    plan = captures(4)
    rec = Recorder(fail={"img-01"})
    result = apply_plan(plan, rec, parallelism=1, continue_on_error=True)
    assert [r.outcome for r in result.results] == [Outcome.DONE, Outcome.FAILED, Outcome.DONE, Outcome.DONE]
    assert not result.ok


@pytest.mark.parametrize("limit", [None, 8])  # a provider's limit above --parallelism leaves it
def test_parallelism_bounds_concurrency(limit):
    import dataclasses

    plan = captures(12)
    gate = threading.Event()
    rec = Recorder(gate=gate)
    rec.capabilities = dataclasses.replace(CAPS, concurrent_changes=limit)
    t = threading.Thread(target=lambda: apply_plan(plan, rec, parallelism=4))
    t.start()
    # Wait until the pool is saturated (bounded), then let everything through.
    with rec._lock:
        assert rec._lock.wait_for(lambda: rec.running == 4, timeout=5)
    gate.set()
    t.join(10)
    assert rec.max_running == 4
    assert len(rec.calls) == 12


def test_in_flight_changes_finish_after_a_failure():
    plan = captures(3)
    rec = Recorder(fail={"img-00"})
    result = apply_plan(plan, rec, parallelism=3)
    # All three started together; the failure stops nothing already running.
    assert sorted(r.outcome.value for r in result.results) == ["done", "done", "failed"]


def test_errored_plan_is_refused_before_anything_runs():
    plan = make_plan(desired(spec("a")), Snapshot(), CAPS)  # source VM missing
    rec = Recorder()
    with pytest.raises(ReconcilerError, match="cannot be applied"):
        apply_plan(plan, rec)
    assert rec.calls == []


def test_hooks_see_start_steps_and_finish():
    events = []

    class Hooks:
        def started(self, c):
            events.append(("start", c.name))

        def step(self, c, m):
            events.append(("step", c.name, m))

        def finished(self, c, r, e):
            events.append(("end", c.name, r.outcome.value))

    ticks = iter(range(100))
    apply_plan(captures(1), Recorder(), hooks=Hooks(), clock=lambda: float(next(ticks)))
    assert events == [("start", "img-00"), ("step", "img-00", "capturing"), ("end", "img-00", "done")]


def test_unexpected_exception_is_a_failed_change_not_a_crash():
    class Broken(Recorder):
        def remove(self, image, on_step=lambda m: None):
            raise RuntimeError("bug")

    plan = make_plan(desired(prune=True), Snapshot(images=(image("old"),)), CAPS)
    result = apply_plan(plan, Broken())
    assert result.results[0].outcome is Outcome.FAILED
    assert "internal error: RuntimeError: bug" in result.results[0].error


def test_a_lost_lock_stops_new_changes_even_with_continue_on_error():
    from reconciler.errors import LockError

    plan = captures(4)
    rec = Recorder()
    calls = {"n": 0}

    def still_locked():
        calls["n"] += 1
        if calls["n"] >= 2:
            raise LockError("this run lost the lock", "run plan again")

    result = apply_plan(plan, rec, parallelism=1, continue_on_error=True, still_locked=still_locked)
    assert [r.outcome for r in result.results] == [
        Outcome.DONE,
        Outcome.FAILED,
        Outcome.NOT_STARTED,
        Outcome.NOT_STARTED,
    ]
    assert "lost the lock" in result.results[1].error
    assert rec.calls == [("capture", "img-00")]


class InterruptedWhileOtherRuns(Recorder):
    """img-00 gets the Ctrl-C / SIGTERM (KeyboardInterrupt) once img-01 is running; img-01 waits at the gate."""

    def capture(self, spec, on_step=lambda m: None):
        if spec.name == "img-00":
            with self._lock:
                assert self._lock.wait_for(lambda: self.running == 1, timeout=5)
            raise KeyboardInterrupt
        self._do("capture", spec.name)


def test_an_interrupt_starts_nothing_new_and_waits_for_the_changes_in_flight():
    from reconciler.apply import ApplyInterrupted

    gate = threading.Event()
    told = []

    def on_stop(changes):
        told.append([c.name for c in changes])
        gate.set()  # the change in flight may finish now: apply must wait for it

    with pytest.raises(ApplyInterrupted) as exc:
        apply_plan(captures(4), InterruptedWhileOtherRuns(gate=gate), parallelism=2, stop_grace=None, on_stop=on_stop)
    assert told == [["img-01"]]
    assert exc.value.unfinished == ()
    outcomes = {r.name: r.outcome for r in exc.value.result.results}
    assert outcomes["img-01"] is Outcome.DONE
    assert outcomes["img-02"] is outcomes["img-03"] is Outcome.NOT_STARTED


def test_the_wait_for_changes_in_flight_after_an_interrupt_is_bounded():
    from reconciler.apply import STILL_RUNNING, ApplyInterrupted

    gate = threading.Event()
    rec = InterruptedWhileOtherRuns(gate=gate)
    try:
        with pytest.raises(ApplyInterrupted) as exc:
            apply_plan(captures(3), rec, parallelism=2, stop_grace=0)
    finally:
        gate.set()  # let the worker thread end
    # apply returned while img-01 still ran: it is reported as such, and named.
    assert exc.value.unfinished == ("img-01",)
    assert "still running" in exc.value.message
    by_name = {r.name: r for r in exc.value.result.results}
    assert by_name["img-01"].outcome is Outcome.FAILED and by_name["img-01"].error == STILL_RUNNING
    assert by_name["img-02"].outcome is Outcome.NOT_STARTED


def test_a_provider_that_takes_one_change_at_a_time_gets_one_worker_whatever_the_parallelism():
    """``Capabilities.concurrent_changes`` (the local catalog's 1): a limit under --parallelism."""
    import dataclasses

    plan = captures(6)
    rec = Recorder()
    rec.capabilities = dataclasses.replace(CAPS, concurrent_changes=1)
    result = apply_plan(plan, rec, parallelism=4)
    assert result.ok
    assert rec.max_running == 1
    assert rec.calls == [("capture", f"img-{i:02d}") for i in range(6)]  # in the plan's order
