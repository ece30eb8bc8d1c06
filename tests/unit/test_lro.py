"""LRO strategies and the polling driver, fed scripted responses and a fake clock (no I/O, no sleep)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.errors import OperationFailed, OperationTimeout
from reconciler.providers.http.lro import (
    CLASSIC_STRATEGIES,
    AsyncOperationStrategy,
    Done,
    ImmediateStrategy,
    LocationStrategy,
    OperationStatusStrategy,
    PollPolicy,
    ProvisioningStateStrategy,
    Response,
    Wait,
    choose_strategy,
    next_step,
    retry_after,
    wait,
)

RES = "https://arm/sub/rg/images/img?api-version=1"
AO = "https://arm/ops/1"
LOC = "https://arm/ops/1?monitor=true"


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def scripted(responses: dict[str, list[Response]]) -> tuple[Callable[[str], Response], list[str]]:
    calls: list[str] = []

    def fetch(url: str) -> Response:
        calls.append(url)
        queue = responses[url]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return fetch, calls


def policy(t: FakeTime, **kw: float) -> PollPolicy:
    return PollPolicy(interval=kw.get("interval", 5.0), deadline=kw.get("deadline", 600.0), clock=t.clock,
                      sleep=t.sleep)


@pytest.mark.parametrize(
    ("method", "initial", "expected"),
    [
        ("PUT", Response(201, {"azure-asyncoperation": AO, "location": LOC}, {}, RES), "azure-asyncoperation"),
        ("DELETE", Response(202, {"location": LOC}, None, RES), "location"),
        ("PUT", Response(201, {}, {"properties": {"provisioningState": "Creating"}}, RES), "provisioningstate"),
        ("PUT", Response(200, {}, {"properties": {"provisioningState": "Succeeded"}}, RES), "immediate"),
        ("DELETE", Response(204, {}, None, RES), "immediate"),
        ("POST", Response(200, {}, None, RES), "immediate"),
    ],
)
def test_strategies_are_tried_in_order(method: str, initial: Response, expected: str) -> None:
    assert choose_strategy(method, initial).name == expected


def test_async_operation_polls_status_then_reads_resource_for_put() -> None:
    t = FakeTime()
    initial = Response(201, {"azure-asyncoperation": AO, "location": LOC, "retry-after": "2"}, {}, RES)
    fetch, calls = scripted({
        AO: [Response(200, {"retry-after": "3"}, {"status": "InProgress"}),
             Response(200, {}, {"status": "InProgress"}),
             Response(200, {}, {"status": "Succeeded"})],
        RES: [Response(200, {}, {"name": "img", "properties": {"provisioningState": "Succeeded"}})],
    })
    steps: list[str] = []
    final = wait("PUT", initial, fetch, policy(t), on_step=steps.append)
    assert final.body["name"] == "img"
    assert calls == [AO, AO, AO, RES]
    # Retry-After of the initial response (2), then of the first poll (3), then the default interval.
    assert t.sleeps == [2.0, 3.0, 5.0]
    assert steps == ["polling (1)", "polling (2)", "polling (3)"]


def test_async_operation_delete_has_no_final_get() -> None:
    t = FakeTime()
    initial = Response(202, {"azure-asyncoperation": AO, "location": LOC}, None, RES)
    fetch, calls = scripted({AO: [Response(200, {}, {"status": "Succeeded"})]})
    wait("DELETE", initial, fetch, policy(t))
    assert calls == [AO]


def test_failed_operation_raises_with_azure_code_and_message() -> None:
    t = FakeTime()
    initial = Response(201, {"azure-asyncoperation": AO}, {}, RES)
    body = {"status": "Failed", "error": {"code": "OperationNotAllowed", "message": "VM must be generalized"}}
    fetch, _ = scripted({AO: [Response(200, {"x-ms-request-id": "rid-1"}, body)]})
    with pytest.raises(OperationFailed) as ei:
        wait("PUT", initial, fetch, policy(t), what="capture img")
    assert ei.value.code == "OperationNotAllowed"
    assert "VM must be generalized" in ei.value.message
    assert ei.value.request_id == "rid-1"
    assert not ei.value.retryable


def test_canceled_operation_is_terminal() -> None:
    t = FakeTime()
    fetch, _ = scripted({AO: [Response(200, {}, {"status": "Canceled"})]})
    with pytest.raises(OperationFailed) as ei:
        wait("DELETE", Response(202, {"azure-asyncoperation": AO}, None, RES), fetch, policy(t))
    assert ei.value.code == "OperationCanceled"


def test_location_polls_202_until_200() -> None:
    t = FakeTime()
    initial = Response(202, {"location": LOC, "retry-after": "1"}, None, RES)
    fetch, calls = scripted({LOC: [Response(202, {"retry-after": "1"}), Response(202, {}), Response(200, {}, None)]})
    wait("POST", initial, fetch, policy(t, interval=4))
    assert calls == [LOC, LOC, LOC]
    assert t.sleeps == [1.0, 1.0, 4.0]


def test_location_put_reads_resource_at_the_end() -> None:
    t = FakeTime()
    initial = Response(201, {"location": LOC}, {"properties": {"provisioningState": "Creating"}}, RES)
    fetch, calls = scripted({LOC: [Response(200, {}, None)],
                             RES: [Response(200, {}, {"properties": {"provisioningState": "Succeeded"}})]})
    final = wait("PUT", initial, fetch, policy(t))
    assert calls == [LOC, RES]
    assert final.body["properties"]["provisioningState"] == "Succeeded"


def test_provisioning_state_polls_resource() -> None:
    t = FakeTime()
    initial = Response(201, {}, {"properties": {"provisioningState": "Creating"}}, RES)
    fetch, calls = scripted({RES: [Response(200, {}, {"properties": {"provisioningState": "Creating"}}),
                                   Response(200, {}, {"properties": {"provisioningState": "Succeeded"}})]})
    final = wait("PUT", initial, fetch, policy(t))
    assert calls == [RES, RES]
    assert final.body["properties"]["provisioningState"] == "Succeeded"


def test_provisioning_state_failed() -> None:
    t = FakeTime()
    initial = Response(201, {}, {"properties": {"provisioningState": "Creating"}}, RES)
    failed = {"properties": {"provisioningState": "Failed", "error": {"code": "DiskError", "message": "bad"}}}
    fetch, _ = scripted({RES: [Response(200, {}, failed)]})
    with pytest.raises(OperationFailed) as ei:
        wait("PUT", initial, fetch, policy(t))
    assert ei.value.code == "DiskError"


def test_immediate_returns_initial_without_polling() -> None:
    t = FakeTime()
    initial = Response(200, {}, {"properties": {"provisioningState": "Succeeded"}}, RES)
    fetch, calls = scripted({})
    assert wait("PUT", initial, fetch, policy(t)) is initial
    assert calls == [] and t.sleeps == []


def test_deadline_raises_timeout_without_sleeping_past_it() -> None:
    t = FakeTime()
    initial = Response(202, {"azure-asyncoperation": AO}, None, RES)
    fetch, calls = scripted({AO: [Response(200, {}, {"status": "InProgress"})]})
    with pytest.raises(OperationTimeout) as ei:
        wait("DELETE", initial, fetch, policy(t, interval=10, deadline=35), what="remove img")
    assert "35s" in ei.value.message and "remove img" in ei.value.message
    assert sum(t.sleeps) <= 35
    assert len(calls) == 3


def test_retry_after_is_capped_by_max_interval() -> None:
    t = FakeTime()
    p = PollPolicy(interval=1, deadline=10_000, clock=t.clock, sleep=t.sleep, max_interval=30)
    initial = Response(202, {"location": LOC, "retry-after": "1200"}, None, RES)
    step = next_step(LocationStrategy(), "DELETE", initial, initial, started=0, now=0, policy=p, first=True)
    assert step == Wait(30, LOC)


def test_next_step_is_pure_and_done_for_terminal() -> None:
    p = PollPolicy()
    r = Response(200, {}, {"status": "Succeeded"})
    initial = Response(201, {"azure-asyncoperation": AO}, {}, RES)
    assert next_step(AsyncOperationStrategy(), "PUT", initial, r, started=0, now=0, policy=p) == Done(r, RES)
    assert isinstance(
        next_step(ProvisioningStateStrategy(), "PUT", initial, Response(200, {}, {}), started=0, now=0, policy=p),
        Done,
    )
    assert isinstance(next_step(ImmediateStrategy(), "GET", r, r, started=0, now=0, policy=p), Done)


def test_retry_after_parsing() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({"retry-after": "Thu, 01 Jan 2026 00:00:10 GMT"}, now_epoch=1767225600.0) == 10.0
    assert retry_after({"retry-after": "-3"}) == 0.0


# --------------------------------------------------------------------------------------------------
# Service Management (azure-classic): GET /operations/{x-ms-request-id}, one more strategy

OP = "/operations/e10b9f31cacfbb74aa0a980f4debcdcf"
ACCEPTED = Response(202, {"x-ms-request-id": OP.rsplit("/", 1)[1]})


def test_classic_operations_are_polled_by_request_id_and_at_once() -> None:
    assert choose_strategy("POST", ACCEPTED, CLASSIC_STRATEGIES).name == "service-management"
    assert choose_strategy("POST", Response(200, {}), CLASSIC_STRATEGIES).name == "immediate"
    # Not among ARM's: an ARM answer carries an x-ms-request-id too.
    assert choose_strategy("POST", ACCEPTED).name == "immediate"
    t = FakeTime()
    fetch, calls = scripted({OP: [Response(200, {}, {"status": "InProgress"}),
                                  Response(200, {}, {"status": "Succeeded"})]})
    steps: list[str] = []
    final = wait("POST", ACCEPTED, fetch, policy(t, interval=2), on_step=steps.append,
                 strategies=CLASSIC_STRATEGIES)
    assert final.body == {"status": "Succeeded"} and calls == [OP, OP]
    assert t.sleeps == [2.0]  # the first poll at once: a synchronous call's operation is already done
    assert steps == ["polling (1)", "polling (2)"]


def test_a_failed_classic_operation_raises_with_its_code_message_and_status() -> None:
    t = FakeTime()
    error = {"code": "ConflictError", "message": "the operation failed: taken"}
    failed = Response(409, {"x-ms-request-id": "rid"}, {"status": "Failed", "error": error})
    fetch, _ = scripted({OP: [failed]})
    with pytest.raises(OperationFailed) as ei:
        wait("POST", ACCEPTED, fetch, policy(t), what="capture 'a'", strategies=CLASSIC_STRATEGIES)
    e = ei.value
    assert (e.code, e.status, e.request_id, e.retryable) == ("ConflictError", 409, "rid", False)
    assert e.message == "capture 'a': the operation failed: taken"


def test_a_classic_operation_stops_at_the_deadline() -> None:
    t = FakeTime()
    fetch, calls = scripted({OP: [Response(200, {}, {"status": "InProgress"})]})
    with pytest.raises(OperationTimeout):
        wait("POST", ACCEPTED, fetch, policy(t, interval=2, deadline=60), strategies=CLASSIC_STRATEGIES)
    assert set(t.sleeps) == {2.0} and sum(t.sleeps) == 60 and len(calls) == 31
    assert OperationStatusStrategy().status(Response(200, {}, None)) == "inprogress"
