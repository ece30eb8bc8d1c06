"""The one lock wait loop (``providers/locking.py``) with a fake clock, and the shared lock wording.

Layer: tests. Pure: the clock and the sleep are injected, nothing sleeps, no storage. Each provider's
handle against a really lost lock is tested with that provider (local, classic, blob).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from reconciler.errors import LockError
from reconciler.providers import LockHandle, LockInfo
from reconciler.providers.blob_lock import BlobLockHandle
from reconciler.providers.classic.provider import ClassicLockHandle
from reconciler.providers.local import LocalLockHandle
from reconciler.providers.locking import (
    Held,
    held_by,
    holder_fields,
    lost_at_release,
    lost_lock,
    taken_from,
    unlockable,
    wait_for_lock,
)

ALICE = LockInfo("id-alice", "alice", "elsewhere", 2817, "apply", "2026-11-02T03:00:00Z", run_id="987")
BOB = LockInfo("id-bob", "bob", "elsewhere", 42, "apply", "2026-11-02T04:00:00Z")


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "never sleeps for nothing"
        self.sleeps.append(seconds)
        self.now += seconds


class Handle:
    def __init__(self, info: LockInfo) -> None:
        self.info = info

    def release(self) -> None:
        pass

    def check(self) -> None:
        pass


def script(t: FakeTime, *results: Handle | Held) -> tuple[Callable[[], Handle | Held], list[float]]:
    """An ``attempt`` returning ``results`` in turn (the last one for ever), noting the time of every try."""
    tries: list[float] = []
    queue = list(results)

    def attempt() -> Handle | Held:
        tries.append(t.now)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return attempt, tries


@pytest.fixture
def t() -> FakeTime:
    return FakeTime()


def test_a_free_lock_is_taken_at_once_without_sleeping(t: FakeTime) -> None:
    mine = Handle(BOB)
    attempt, tries = script(t, mine)
    assert wait_for_lock(attempt, timeout=30, poll=2, clock=t.clock, sleep=t.sleep) is mine
    assert tries == [100.0] and t.sleeps == []


def test_timeout_zero_tries_once_and_names_the_holder(t: FakeTime) -> None:
    attempt, tries = script(t, held_by(ALICE))
    with pytest.raises(LockError) as e:
        wait_for_lock(attempt, timeout=0, poll=2, clock=t.clock, sleep=t.sleep)
    assert len(tries) == 1 and t.sleeps == []
    assert e.value.message == f"the catalog is locked by {ALICE.describe()} (lock ID id-alice)"
    assert "waited" not in e.value.message
    assert e.value.holder == holder_fields(ALICE) and e.value.holder["run_id"] == "987"
    assert "reconciler force-unlock id-alice" in e.value.hint


def test_waits_the_whole_timeout_polling_and_never_sleeps_past_the_deadline(t: FakeTime) -> None:
    attempt, tries = script(t, held_by(ALICE))
    with pytest.raises(LockError) as e:
        wait_for_lock(attempt, timeout=5, poll=2, clock=t.clock, sleep=t.sleep)
    assert t.sleeps == [2, 2, 1]
    assert tries == [100.0, 102.0, 104.0, 105.0]  # one try at once, one per poll, one at the deadline
    assert e.value.message.endswith("(lock ID id-alice) (waited 5 s)")


def test_the_last_holder_seen_is_the_one_named(t: FakeTime) -> None:
    attempt, _ = script(t, held_by(ALICE), held_by(BOB))
    with pytest.raises(LockError) as e:
        wait_for_lock(attempt, timeout=3, poll=1, clock=t.clock, sleep=t.sleep)
    assert e.value.holder["id"] == "id-bob" and "bob" in e.value.message


def test_a_lock_freed_while_waiting_is_taken_at_the_next_poll(t: FakeTime) -> None:
    mine = Handle(BOB)
    attempt, tries = script(t, held_by(ALICE), held_by(ALICE), mine)
    assert wait_for_lock(attempt, timeout=60, poll=0.5, clock=t.clock, sleep=t.sleep) is mine
    assert t.sleeps == [0.5, 0.5] and len(tries) == 3


def test_a_provider_worded_holder_keeps_its_words(t: FakeTime) -> None:
    worded = Held(None, "catalog 'platform' lock blob is leased by a holder that recorded no details", "break it")
    attempt, _ = script(t, worded)
    with pytest.raises(LockError) as e:
        wait_for_lock(attempt, timeout=10, poll=2, clock=t.clock, sleep=t.sleep)
    assert e.value.message == worded.message + " (waited 10 s)"
    assert e.value.hint == "break it" and e.value.holder == {}


def test_an_unknown_holder_is_said_so() -> None:
    held = held_by(None)
    assert held.holder is None and "an unknown holder" in held.message


def test_a_holder_on_this_host_whose_process_is_gone_gets_the_force_unlock_hint() -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = LockInfo.new("apply", who="ci")
    dead = LockInfo(dead.id, dead.who, dead.host, int(child.stdout), dead.command, dead.created)
    held = held_by(dead)
    assert f"its process (pid {dead.pid}) no longer exists on this host" in held.message
    assert "that run is gone" in held.hint and dead.id in held.hint
    alive = LockInfo(dead.id, dead.who, dead.host, os.getpid(), dead.command, dead.created)
    assert "no longer exists" not in held_by(alive).message
    assert "no longer exists" not in held_by(ALICE).message  # another host: nothing to look at


def test_a_blob_lock_holder_on_this_host_whose_process_is_gone_is_said_gone() -> None:
    from reconciler.providers.blob_lock import LockState, LockStatus, describe_status

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    base = LockInfo.new("apply", who="ci")
    dead = LockInfo(base.id, base.who, base.host, int(child.stdout), base.command, base.created)
    for state in (LockState.HELD, LockState.ABANDONED):
        message, hint = describe_status("platform", LockStatus(state, dead))
        assert f"its process (pid {dead.pid}) no longer exists on this host" in message
        assert f"reconciler force-unlock {dead.id}" in hint
        message, _ = describe_status("platform", LockStatus(state, base))  # this very process: alive
        assert "no longer exists" not in message


def test_force_unlock_needs_a_lock_and_its_exact_id() -> None:
    with pytest.raises(LockError, match="not locked"):
        unlockable(None, "x")
    with pytest.raises(LockError) as e:
        unlockable(ALICE, "id-bob")
    assert "alice" in e.value.message and e.value.holder["id"] == "id-alice"
    assert unlockable(ALICE, "id-alice") is ALICE


def test_why_a_lock_is_no_longer_ours() -> None:
    assert taken_from(ALICE, ALICE) is None
    assert "gone" in (taken_from(ALICE, None) or "")
    assert "bob" in (taken_from(ALICE, BOB) or "") and "id-bob" in (taken_from(ALICE, BOB) or "")
    lost = lost_lock("catalog 'platform'", ALICE, "its lock record is gone")
    assert lost.message == "this run lost the lock on catalog 'platform': its lock record is gone"
    assert lost.holder["id"] == "id-alice" and "force-unlock" in lost.hint
    ended = lost_at_release("catalog 'platform'", ALICE)
    assert "no longer held by this run" in ended.message and "id-alice" in ended.message


@pytest.mark.parametrize("cls", [LocalLockHandle, ClassicLockHandle, BlobLockHandle])
def test_every_provider_handle_implements_the_whole_protocol(cls: type) -> None:
    for member in ("release", "check"):
        assert callable(getattr(cls, member, None)), f"{cls.__name__} lacks {member}()"
    assert LockHandle.__annotations__.keys() == {"info"}
