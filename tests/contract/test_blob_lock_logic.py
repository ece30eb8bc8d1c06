"""The blob lock's decisions without storage: renewal loop, state classification, metadata, settings."""

from __future__ import annotations

import pytest

from reconciler.errors import ProviderError, ReconcilerError
from reconciler.providers import LockInfo
from reconciler.providers.blob_lock import (
    BlobLeaseLock,
    LeaseLost,
    LockState,
    classify,
    decode_metadata,
    describe_status,
    encode_metadata,
    run_renewals,
)

INFO = LockInfo(
    id="0f8e2a3c-1111-4222-8333-444455556666",
    who="ci-bot",
    host="runner-7",
    pid=4242,
    command="apply images.yaml",
    created="2026-11-02T03:00:00Z",
    run_id="987654",
)


class FakeTime:
    """A clock that only moves when the code under test waits."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self.stop_after = stop_after

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            return True
        self.waits.append(seconds)
        self.now += seconds
        return False


# -- renewal loop ------------------------------------------------------------------------------


def test_renewals_run_every_third_of_the_lease_until_stopped() -> None:
    t = FakeTime(stop_after=5)
    renewed: list[float] = []
    reason = run_renewals(lambda: renewed.append(t.now), lease_seconds=60, wait=t.wait, clock=t.clock)
    assert reason == ""
    assert t.waits == [20.0] * 5
    # five renewals over 100 s: the lease (60 s) never went 60 s without one
    assert renewed == [1020.0, 1040.0, 1060.0, 1080.0, 1100.0]


def test_a_transient_failure_is_retried_sooner_and_the_lease_survives() -> None:
    t = FakeTime(stop_after=4)
    results = iter([ProviderError("503", status=503, retryable=True), None, None, None])

    def renew() -> None:
        err = next(results)
        if err:
            raise err

    assert run_renewals(renew, lease_seconds=60, wait=t.wait, clock=t.clock) == ""
    assert t.waits == [20.0, 5.0, 20.0, 20.0]


def test_renewal_gives_up_once_no_renewal_succeeded_for_a_whole_lease() -> None:
    t = FakeTime()

    def renew() -> None:
        raise ProviderError("connection refused", retryable=True)

    reason = run_renewals(renew, lease_seconds=15, wait=t.wait, clock=t.clock)
    assert "lapsed" in reason and "connection refused" in reason
    assert sum(t.waits) >= 15
    assert sum(t.waits) < 15 + 5  # it noticed at the first failure past the lease, not much later


def test_a_lost_lease_stops_renewal_at_once() -> None:
    t = FakeTime()
    calls = []

    def renew() -> None:
        calls.append(1)
        raise LeaseLost("LeaseIdMismatchWithLeaseOperation", status=409, code="LeaseIdMismatchWithLeaseOperation")

    reason = run_renewals(renew, lease_seconds=60, wait=t.wait, clock=t.clock)
    assert reason.startswith("the lease was lost")
    assert len(calls) == 1


# -- state and metadata ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lease_state", "with_holder", "expected"),
    [
        ("available", False, LockState.FREE),
        ("expired", False, LockState.FREE),
        ("broken", False, LockState.FREE),
        ("leased", False, LockState.LEASED_UNKNOWN),
        ("leased", True, LockState.HELD),
        ("breaking", True, LockState.HELD),
        ("expired", True, LockState.ABANDONED),
        ("broken", True, LockState.ABANDONED),
        ("available", True, LockState.ABANDONED),
    ],
)
def test_classify(lease_state: str, with_holder: bool, expected: LockState) -> None:
    meta = encode_metadata(INFO, "2026-11-02T03:05:00Z") if with_holder else {}
    status = classify(lease_state, meta)
    assert status.state is expected
    assert (status.holder == INFO) is with_holder


def test_metadata_round_trips_non_ascii_and_percent_signs() -> None:
    info = LockInfo(
        id="x1", who="Zoë Ångström", host="h", pid=1, command="apply 100% images.yaml", created="c", run_id="r"
    )
    meta = encode_metadata(info, "2026-11-02T03:05:00Z")
    assert all(v.isascii() for v in meta.values())
    holder, beat = decode_metadata(meta)
    assert holder == info
    assert beat == "2026-11-02T03:05:00Z"


def test_odd_metadata_still_names_the_holder() -> None:
    # hand-edited or half-written records: upper-case keys, a bad pid, missing fields
    holder, _ = decode_metadata({"ID": "abc", "PID": "not-a-number", "who": "ops"})
    assert holder is not None
    assert (holder.id, holder.pid, holder.who, holder.host) == ("abc", 0, "ops", "")
    assert decode_metadata({"who": "ops"})[0] is None
    assert decode_metadata(None) == (None, "")


def test_messages_tell_the_operator_what_to_run() -> None:
    held, hint = describe_status("platform", classify("leased", encode_metadata(INFO, "t")))
    assert "ci-bot on runner-7 (pid 4242, run 987654)" in held and INFO.id in held
    assert f"reconciler force-unlock {INFO.id}" in hint
    abandoned, hint = describe_status("platform", classify("expired", encode_metadata(INFO, "2026-11-02T03:05:00Z")))
    assert "probably killed" in abandoned and "last heartbeat 2026-11-02T03:05:00Z" in abandoned
    assert f"reconciler force-unlock {INFO.id}" in hint
    unknown, hint = describe_status("platform", classify("leased", {}))
    assert "recorded no details" in unknown and "lapses by itself" in hint


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "env", "fragment"),
    [
        ({}, {"AZURE_STORAGE_KEY": "a2V5"}, "lock_storage_account"),
        ({"lock_storage_account": "Bad_Name"}, {"AZURE_STORAGE_KEY": "a2V5"}, "lock_storage_account"),
        ({"lock_storage_account": "acct", "lock_container": "Locks!"}, {"AZURE_STORAGE_KEY": "a2V5"}, "lock_container"),
        (
            {"lock_storage_account": "acct", "lock_endpoint": "http://storage.example.com/acct"},
            {"AZURE_STORAGE_KEY": "a2V5"},
            "plain http",
        ),
        ({}, {"AZURE_STORAGE_CONNECTION_STRING": "nonsense"}, "connection string"),
        (
            {},
            {
                "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;"
                "BlobEndpoint=http://storage.example.com/acct;"
            },
            "plain http",
        ),
    ],
)
def test_bad_settings_are_reported_not_raised_raw(settings: dict[str, str], env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ReconcilerError) as e:
        BlobLeaseLock.from_settings(settings, env, catalog="platform")
    assert fragment in e.value.message + e.value.hint


def test_https_endpoint_and_shared_key_build_without_io() -> None:
    lock = BlobLeaseLock.from_settings(
        {"lock_storage_account": "acct", "lock_container": "ci-locks"},
        {"AZURE_STORAGE_KEY": "a2V5"},
        catalog="platform",
    )
    with lock:
        assert lock._blob.url == "https://acct.blob.core.windows.net/ci-locks/platform.lock"
        assert lock.lease_seconds == 60


def test_lease_length_must_be_one_azure_accepts() -> None:
    with pytest.raises(ValueError):
        BlobLeaseLock.from_settings(
            {"lock_storage_account": "acct"}, {"AZURE_STORAGE_KEY": "a2V5"}, catalog="p", lease_seconds=90
        )


class _Token:
    def get_token(self, *scopes: str, **kwargs: object) -> object:
        raise AssertionError("no token is asked for")


def test_a_token_over_http_asks_for_the_storage_key() -> None:
    """Azurite speaks http: a sign-in token cannot go there, the shared key can (issue 12)."""
    with pytest.raises(ReconcilerError) as e:
        BlobLeaseLock.from_settings(
            {"lock_storage_account": "devstoreaccount1", "lock_endpoint": "http://127.0.0.1:10000/devstoreaccount1"},
            {},
            catalog="platform",
            credential=_Token(),
        )
    assert "set AZURE_STORAGE_KEY (or AZURE_STORAGE_CONNECTION_STRING) for an http Blob endpoint such as Azurite" in (
        e.value.hint
    )
    assert "Storage Blob Data Contributor" not in e.value.hint
    assert "Token credential" not in e.value.message
