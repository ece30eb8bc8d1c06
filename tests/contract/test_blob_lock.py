"""The catalog blob-lease lock against a real Azurite blob service on loopback.

Every test uses its own container, so tests share one Azurite but never one lock. Waiting is driven
by an injected clock/sleep; the only real waits are Azurite's own HTTP round trips.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobLeaseClient, BlobServiceClient

from reconciler.errors import LockError
from reconciler.providers import LockInfo
from reconciler.providers.blob_lock import BlobLeaseLock, BlobLockHandle, LeaseLost, LockState
from tests.azurite import AzuriteBlob, azurite  # noqa: F401  (azurite is the session fixture)

ROOT = Path(__file__).resolve().parents[2]
MakeLock = Callable[..., BlobLeaseLock]


@pytest.fixture
def container() -> str:
    return f"locks-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_lock(azurite: AzuriteBlob, container: str) -> Iterator[MakeLock]:  # noqa: F811
    """Build locks on this test's container, the way the azure provider would; close them all after."""
    made: list[BlobLeaseLock] = []

    def make(catalog: str = "platform", **kwargs: object) -> BlobLeaseLock:
        lock = BlobLeaseLock.from_settings(azurite.lock_settings(container), azurite.env(), catalog=catalog, **kwargs)
        made.append(lock)
        return lock

    yield make
    for lock in made:
        lock.close()


@pytest.fixture
def raw(azurite: AzuriteBlob, container: str) -> Iterator[BlobServiceClient]:  # noqa: F811
    """A plain SDK client, to look at the blob (and break leases) as the Azure portal would."""
    client = BlobServiceClient(
        azurite.endpoint, credential={"account_name": azurite.account, "account_key": azurite.key}
    )
    yield client
    client.close()


def info(command: str = "apply images.yaml", who: str = "alice", run_id: str = "") -> LockInfo:
    return LockInfo.new(command, who=who, run_id=run_id)


class FakeTime:
    """Clock and sleep for ``acquire``: sleeping moves the clock, and may run a scripted action."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


def test_acquire_creates_container_and_blob_and_release_frees_it(make_lock: MakeLock, raw, container) -> None:
    lock = make_lock()
    assert lock.holder() is None  # container does not exist yet: that is "free", not an error
    me = info()
    handle = lock.acquire(me, timeout=0)
    try:
        assert isinstance(handle, BlobLockHandle) and handle.info == me
        props = raw.get_blob_client(container, "platform.lock").get_blob_properties()
        assert props.lease.state == "leased"
        assert props.lease.duration == "fixed"  # a finite lease: it lapses when nobody renews it
    finally:
        handle.release()
    assert lock.status().state is LockState.FREE
    props = raw.get_blob_client(container, "platform.lock").get_blob_properties()
    assert props.lease.state == "available" and props.metadata == {}
    handle.release()  # idempotent: the CLI's finally may run after an explicit release
    again = lock.acquire(info(), timeout=0)
    again.release()


def test_metadata_records_the_holder(make_lock: MakeLock, raw, container) -> None:
    lock = make_lock()
    me = info(command="apply images.yaml --auto-approve", who="ci-bot", run_id="12345678")
    handle = lock.acquire(me, timeout=0)
    try:
        assert lock.holder() == me
        meta = raw.get_blob_client(container, "platform.lock").get_blob_properties().metadata
        assert meta["id"] == me.id and meta["who"] == "ci-bot" and meta["run_id"] == "12345678"
        assert meta["pid"] == str(os.getpid()) and meta["host"] == me.host
        assert meta["command"] == "apply images.yaml --auto-approve"
        assert meta["created"] == me.created and meta["heartbeat"].endswith("Z")
        status = make_lock().status()  # another process's view
        assert status.state is LockState.HELD and status.holder == me
    finally:
        handle.release()


def test_second_acquire_waits_then_fails_naming_the_holder(make_lock: MakeLock) -> None:
    first = info(who="alice", run_id="111")
    handle = make_lock().acquire(first, timeout=0)
    try:
        t = FakeTime()
        with pytest.raises(LockError) as e:
            make_lock().acquire(info(who="bob"), timeout=10, clock=t.clock, sleep=t.sleep)
        assert sum(t.sleeps) == pytest.approx(10)
        assert len(t.sleeps) == 5  # polled every 2 s, never slept past the deadline
        assert first.describe() in e.value.message and first.id in e.value.message
        assert "waited 10 s" in e.value.message
        assert e.value.holder["id"] == first.id and e.value.holder["run_id"] == "111"
        assert f"reconciler force-unlock {first.id}" in e.value.hint
    finally:
        handle.release()


def test_a_waiting_acquire_gets_the_lock_once_the_holder_releases(make_lock: MakeLock) -> None:
    handle = make_lock().acquire(info(who="alice"), timeout=0)
    t = FakeTime(on_sleep=lambda n: handle.release() if n == 2 else None)
    mine = info(who="bob")
    second = make_lock().acquire(mine, timeout=60, clock=t.clock, sleep=t.sleep)
    try:
        assert len(t.sleeps) == 2
        assert make_lock().holder() == mine
    finally:
        second.release()


@pytest.mark.parametrize("contenders", [2, 4])
def test_racing_acquires_exactly_one_wins(make_lock: MakeLock, contenders: int) -> None:
    locks = [make_lock() for _ in range(contenders)]
    start = threading.Barrier(contenders)
    won: list[BlobLockHandle] = []
    lost: list[LockError] = []
    other: list[BaseException] = []

    def contend(lock: BlobLeaseLock) -> None:
        start.wait(timeout=30)
        try:
            won.append(lock.acquire(info(), timeout=0))
        except LockError as e:
            lost.append(e)
        except BaseException as e:  # surfaced below: a thread must not swallow a surprise
            other.append(e)

    threads = [threading.Thread(target=contend, args=(lock,)) for lock in locks]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    try:
        assert other == []
        assert len(won) == 1 and len(lost) == contenders - 1
        winner = won[0].info
        # a loser names the winner, or (caught between the winner's lease and its record) nobody
        assert all(e.holder.get("id") in (winner.id, None) for e in lost), [e.message for e in lost]
        assert make_lock().holder() == winner
    finally:
        for handle in won:
            handle.release()


_HOLDER_SCRIPT = """
import sys
from reconciler.providers import LockInfo
from reconciler.providers.blob_lock import BlobLeaseLock
endpoint, container, key = sys.argv[1:4]
lock = BlobLeaseLock.from_settings(
    {"lock_storage_account": "devstoreaccount1", "lock_container": container, "lock_endpoint": endpoint},
    {"AZURE_STORAGE_KEY": key},
    catalog="platform",
)
handle = lock.acquire(LockInfo.new("apply images.yaml", who="doomed", run_id="555"), timeout=0)
print(handle.info.id, flush=True)
sys.stdin.read()  # hold the lock until killed
"""


@pytest.fixture
def killed_holder(azurite: AzuriteBlob, container: str) -> Iterator[tuple[str, int]]:  # noqa: F811
    """A separate process takes the lock and is SIGKILLed: no release, no finally. Yields (lock id, pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER_SCRIPT, azurite.endpoint, container, azurite.key],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    try:
        with selectors.DefaultSelector() as sel:
            assert proc.stdout is not None
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=60)
        line = proc.stdout.readline().strip() if ready else ""
        if not line:
            proc.kill()
            proc.wait(timeout=30)
            pytest.fail(f"the holder process did not take the lock: {proc.stderr.read() if proc.stderr else ''}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        yield line, proc.pid
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_a_killed_holder_leaves_a_lock_only_the_right_id_clears(make_lock: MakeLock, killed_holder) -> None:
    lock_id, pid = killed_holder
    lock = make_lock()
    status = lock.status()
    assert status.state is LockState.HELD  # its lease runs on for up to a minute after the kill
    assert status.holder is not None and status.holder.id == lock_id and status.holder.pid == pid

    with pytest.raises(LockError) as e:
        lock.force_unlock(str(uuid.uuid4()))
    assert "lock ID mismatch" in e.value.message and lock_id in e.value.message
    assert e.value.holder["id"] == lock_id
    assert lock.holder() is not None and lock.holder().id == lock_id  # untouched

    with pytest.raises(LockError):
        lock.acquire(info(), timeout=0)

    released = lock.force_unlock(lock_id)
    assert released.id == lock_id and released.who == "doomed" and released.run_id == "555"
    assert lock.status().state is LockState.FREE
    handle = lock.acquire(info(), timeout=0)
    handle.release()


def test_an_abandoned_lock_whose_lease_lapsed_still_counts_as_held(make_lock: MakeLock, killed_holder, raw, container):
    lock_id, _ = killed_holder
    # what a minute without renewals does to the killed run's lease, without waiting a minute
    BlobLeaseClient(raw.get_blob_client(container, "platform.lock")).break_lease(lease_break_period=0)
    lock = make_lock()
    assert lock.status().state is LockState.ABANDONED

    with pytest.raises(LockError) as e:
        lock.acquire(info(), timeout=0)
    assert "probably killed" in e.value.message and lock_id in e.value.message
    assert f"reconciler force-unlock {lock_id}" in e.value.hint
    # the failed acquire did not leave its own lease behind
    assert raw.get_blob_client(container, "platform.lock").get_blob_properties().lease.state != "leased"

    with pytest.raises(LockError, match="lock ID mismatch"):
        lock.force_unlock("not-the-id")
    assert lock.force_unlock(lock_id).id == lock_id
    lock.acquire(info(), timeout=0).release()


def test_force_unlock_of_a_free_lock_says_so(make_lock: MakeLock) -> None:
    with pytest.raises(LockError, match="is not locked"):
        make_lock().force_unlock("anything")


def test_a_lease_without_a_holder_record_is_not_a_lock_anyone_must_force(make_lock: MakeLock, raw, container):
    lock = make_lock()
    lock.acquire(info(), timeout=0).release()  # creates container and blob
    foreign = BlobLeaseClient(raw.get_blob_client(container, "platform.lock"))
    foreign.acquire(lease_duration=15)
    try:
        assert lock.status().state is LockState.LEASED_UNKNOWN
        with pytest.raises(LockError) as e:
            lock.acquire(info(), timeout=0)
        assert "recorded no details" in e.value.message
        with pytest.raises(LockError, match="recorded no details"):
            lock.force_unlock("x")
    finally:
        foreign.release()
    lock.acquire(info(), timeout=0).release()


def test_renewal_keeps_the_lease_and_refreshes_the_heartbeat(make_lock: MakeLock, raw, container) -> None:
    lock = make_lock(lease_seconds=15)
    handle = lock.acquire(info(), timeout=0)
    try:
        assert handle._thread is not None and handle._thread.is_alive()
        handle.renew_now()  # one real renew call, as the background thread makes every 5 s
        props = raw.get_blob_client(container, "platform.lock").get_blob_properties()
        assert props.lease.state == "leased" and props.metadata["id"] == handle.info.id
        assert not handle.lost
        handle.check()
    finally:
        handle.release()
    assert not handle._thread.is_alive()  # release stops the renewer


def test_a_force_unlocked_run_learns_it_lost_the_lock(make_lock: MakeLock) -> None:
    mine = info()
    handle = make_lock().acquire(mine, timeout=0)
    make_lock().force_unlock(mine.id)
    with pytest.raises(LeaseLost):
        handle.renew_now()
    with pytest.raises(LockError, match="no longer held by this run"):
        handle.release()
    other = make_lock().acquire(info(who="bob"), timeout=0)  # the catalog is free for the next run
    other.release()


def test_a_broken_lease_is_reported_by_check_once_renewal_finds_it(make_lock: MakeLock, raw, container) -> None:
    handle = make_lock().acquire(info(), timeout=0)
    handle.check()
    BlobLeaseClient(raw.get_blob_client(container, "platform.lock")).break_lease(lease_break_period=0)
    with pytest.raises(LeaseLost):
        handle.renew_now()  # the renewal the background thread makes every third of the lease
    assert handle.lost
    with pytest.raises(LockError, match="this run lost the lock on catalog 'platform'") as lost:
        handle.check()
    assert lost.value.holder["id"] == handle.info.id
    with pytest.raises(LockError, match="no longer held by this run"):
        handle.release()
    # Its record stays after a broken lease: an abandoned lock, which only its id clears.
    assert make_lock().status().state is LockState.ABANDONED
    make_lock().force_unlock(handle.info.id)
    make_lock().acquire(info(who="bob"), timeout=0).release()


@pytest.mark.parametrize("failure", [RuntimeError("capture failed"), KeyboardInterrupt()])
def test_release_in_finally_after_an_error_or_ctrl_c(make_lock: MakeLock, failure: BaseException) -> None:
    lock = make_lock()

    def apply_that_fails() -> None:
        handle = lock.acquire(info(), timeout=0)
        try:
            raise failure
        finally:
            handle.release()

    with pytest.raises(type(failure)):
        apply_that_fails()
    assert lock.status().state is LockState.FREE
    lock.acquire(info(), timeout=0).release()


def test_locks_of_two_catalogs_are_independent(make_lock: MakeLock) -> None:
    a = make_lock("platform").acquire(info(), timeout=0)
    b = make_lock("data").acquire(info(), timeout=0)
    a.release()
    b.release()


def test_connection_string_credentials(azurite: AzuriteBlob, container: str) -> None:  # noqa: F811
    lock = BlobLeaseLock.from_settings(
        {"lock_container": container},
        {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
        catalog="platform",
    )
    with lock:
        lock.acquire(info(), timeout=0).release()


def test_wrong_key_is_a_provider_error_with_the_rbac_hint(azurite: AzuriteBlob, container: str) -> None:  # noqa: F811
    bad = BlobLeaseLock.from_settings(
        azurite.lock_settings(container), {"AZURE_STORAGE_KEY": "d3Jvbmc="}, catalog="platform"
    )
    with bad, pytest.raises(Exception) as e:
        bad.acquire(info(), timeout=0)
    from reconciler.errors import ProviderError

    assert isinstance(e.value, ProviderError) and not type(e.value).__module__.startswith("azure")
    assert e.value.status == 403 and "Storage Blob Data Contributor" in e.value.hint
    assert isinstance(e.value.__cause__, Exception)
