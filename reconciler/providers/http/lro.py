"""Long-running-operation polling for the HTTP providers, as sans-IO decisions.

Layer: pure core (plus one small driver loop that takes its I/O as arguments). Imports nothing that
does I/O: no ``requests``, no clock, no sleep. The driver ``wait`` receives a ``fetch`` callable, a
clock and a sleep through ``PollPolicy`` so tests script responses and time.

The shape follows azure-core's ARM polling: an ordered list of strategies, the first whose
``can_poll`` accepts the initial response wins. Azure Resource Manager (``DEFAULT_STRATEGIES``):

1. ``Azure-AsyncOperation`` header: poll that status resource until ``status`` is terminal (Compute's
   ``/locations/{loc}/operations/{id}``, Compute Gallery's ``/locations/{loc}/capsOperations/{id}``:
   the URL is used as given, api-version included).
2. ``Location`` header: 202 while running, 200/201/204 when done (the body is the result).
3. ``properties.provisioningState`` of a PUT/PATCH body: GET the resource until terminal.
4. Immediate: the initial response is already the result.

Service Management (azure-classic, ``CLASSIC_STRATEGIES``): every call is polled at
``/operations/{x-ms-request-id}`` until ``Succeeded`` or ``Failed``; the classic client turns that
XML ``<Operation>`` into the same ``{status, error: {code, message}}`` body an ARM status resource
has, so one strategy, one driver and one error path serve both.

A ``Failed`` or ``Canceled`` status raises ``errors.OperationFailed`` carrying the service's error
code and message; running past the policy's deadline raises ``errors.OperationTimeout``.
``Retry-After`` on any poll response overrides the policy interval for the next wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from ...errors import OperationFailed, OperationTimeout

SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})


@dataclass(frozen=True)
class Response:
    """One HTTP response as plain data. ``headers`` keys are lower-case; ``body`` is parsed JSON or None.

    ``url`` is the URL that was requested (kept so a resource poll can GET it again).
    ``request_id`` is ARM's ``x-ms-request-id`` (or correlation id), for error messages.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    url: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def request_id(self) -> str:
        return self.header("x-ms-request-id") or self.header("x-ms-correlation-request-id") or ""


def retry_after(headers: Mapping[str, str], now_epoch: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), None when absent/bad."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    now = time.time() if now_epoch is None else now_epoch
    return max(0.0, when - now)


# --------------------------------------------------------------------------------------------------
# Strategies (pure)


class Strategy(Protocol):
    """How to follow one kind of long-running operation. Every method is pure.

    ``accepted_only``: the initial response only says the operation was accepted (a 201 with
    ``Location`` is not "done"): poll at least once whatever it says. ``first_delay``: seconds
    before that first poll when the service sent no ``Retry-After`` (None: the policy interval).
    """

    name: str
    accepted_only: bool
    first_delay: float | None

    def can_poll(self, method: str, initial: Response) -> bool: ...

    def polling_url(self, method: str, initial: Response) -> str: ...

    def status(self, response: Response) -> str:
        """Lower-case status of the operation after this poll response."""
        ...

    def final_url(self, method: str, initial: Response) -> str | None:
        """Where the result is read once the operation succeeded (None: the last poll body is it)."""
        ...


class _Defaults:
    """What a strategy says unless it knows better: the initial response may be the answer, and
    the first poll waits the policy interval."""

    accepted_only = False
    first_delay: float | None = None


def _body_status(body: Any, *path: str) -> str | None:
    cur = body
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur.lower() if isinstance(cur, str) else None


class AsyncOperationStrategy(_Defaults):
    """``Azure-AsyncOperation`` (or ``Operation-Location``): a status resource with ``status``."""

    name = "azure-asyncoperation"
    accepted_only = True

    def _header(self, r: Response) -> str | None:
        return r.header("azure-asyncoperation") or r.header("operation-location")

    def can_poll(self, method: str, initial: Response) -> bool:
        return bool(self._header(initial))

    def polling_url(self, method: str, initial: Response) -> str:
        return self._header(initial) or ""

    def status(self, response: Response) -> str:
        if response.status == 202 and response.body is None:
            return "inprogress"
        return _body_status(response.body, "status") or "inprogress"

    def final_url(self, method: str, initial: Response) -> str | None:
        # Same rule as azure-core ARM: PUT/PATCH read the resource itself; POST the Location if
        # any; DELETE has nothing to read.
        if method in ("PUT", "PATCH"):
            return initial.url
        if method == "POST":
            return initial.header("location")
        return None


class LocationStrategy(_Defaults):
    """``Location``: answers 202 while running and 200/201/204 (the result) when done."""

    name = "location"
    accepted_only = True

    def can_poll(self, method: str, initial: Response) -> bool:
        return bool(initial.header("location")) and initial.status in (201, 202)

    def polling_url(self, method: str, initial: Response) -> str:
        return initial.header("location") or ""

    def status(self, response: Response) -> str:
        if response.status == 202:
            return "inprogress"
        # Anything but 202 means done; a resource body may still say it Failed.
        state = _body_status(response.body, "properties", "provisioningState")
        return state if state in (FAILED, CANCELED) else SUCCEEDED

    def final_url(self, method: str, initial: Response) -> str | None:
        if method in ("PUT", "PATCH") and initial.url:
            return initial.url
        return None


class ProvisioningStateStrategy(_Defaults):
    """A PUT/PATCH answered with ``properties.provisioningState``: GET the resource until terminal."""

    name = "provisioningstate"

    def can_poll(self, method: str, initial: Response) -> bool:
        if method not in ("PUT", "PATCH"):
            return False
        state = _body_status(initial.body, "properties", "provisioningState")
        return state is not None and state not in TERMINAL and initial.status in (200, 201, 202)

    def polling_url(self, method: str, initial: Response) -> str:
        return initial.url

    def status(self, response: Response) -> str:
        state = _body_status(response.body, "properties", "provisioningState")
        if state is None:
            return SUCCEEDED
        return state

    def final_url(self, method: str, initial: Response) -> str | None:
        return None


class ImmediateStrategy(_Defaults):
    """The initial response is final (200/204 with a terminal or absent provisioningState)."""

    name = "immediate"

    def can_poll(self, method: str, initial: Response) -> bool:
        return True

    def polling_url(self, method: str, initial: Response) -> str:
        return ""

    def status(self, response: Response) -> str:
        state = _body_status(response.body, "properties", "provisioningState")
        return state if state in TERMINAL else SUCCEEDED

    def final_url(self, method: str, initial: Response) -> str | None:
        return None


class OperationStatusStrategy(_Defaults):
    """Service Management: ``GET /operations/{x-ms-request-id}`` until ``Succeeded``/``Failed``.

    The polling URL is relative (the classic client resolves it against ``{endpoint}/{subscription}``);
    the poll body is the client's ``{status, error}`` view of ``<Operation>``. The first poll is
    made at once: a synchronous call's operation has already succeeded (contract §4), and a
    capture is usually done in seconds.
    """

    name = "service-management"
    accepted_only = True
    first_delay: float | None = 0.0

    def can_poll(self, method: str, initial: Response) -> bool:
        return bool(initial.header("x-ms-request-id"))

    def polling_url(self, method: str, initial: Response) -> str:
        return f"/operations/{initial.header('x-ms-request-id') or ''}"

    def status(self, response: Response) -> str:
        return _body_status(response.body, "status") or "inprogress"

    def final_url(self, method: str, initial: Response) -> str | None:
        return None


#: Azure Resource Manager, in azure-core's order.
DEFAULT_STRATEGIES: tuple[Strategy, ...] = (
    AsyncOperationStrategy(),
    LocationStrategy(),
    ProvisioningStateStrategy(),
    ImmediateStrategy(),
)
#: Service Management (azure-classic): an answer without a request id has nothing to poll.
CLASSIC_STRATEGIES: tuple[Strategy, ...] = (OperationStatusStrategy(), ImmediateStrategy())


def choose_strategy(method: str, initial: Response, strategies: Sequence[Strategy] = DEFAULT_STRATEGIES) -> Strategy:
    """The first strategy that can follow this initial response (``ImmediateStrategy`` always can)."""
    for s in strategies:
        if s.can_poll(method.upper(), initial):
            return s
    return ImmediateStrategy()


def operation_error(response: Response, status: str, what: str) -> OperationFailed:
    """``OperationFailed`` from a terminal failed/canceled poll body, with Azure's code and message.

    The poll that reads a failure is itself a success (HTTP 200): that status is not the failure's,
    so it is not reported (``status`` 0); an error status of the poll (4xx/5xx) is kept."""
    body = response.body if isinstance(response.body, Mapping) else {}
    err = body.get("error") if isinstance(body.get("error"), Mapping) else None
    if err is None and isinstance(body.get("properties"), Mapping):
        err = body["properties"].get("error") if isinstance(body["properties"].get("error"), Mapping) else None
    code = str((err or {}).get("code") or ("OperationCanceled" if status == CANCELED else "OperationFailed"))
    message = str((err or {}).get("message") or f"the operation ended {status}")
    return OperationFailed(
        f"{what}: {message}" if what else message,
        status=response.status if response.status >= 400 else 0,
        code=code,
        request_id=response.request_id,
        retryable=False,
    )


# --------------------------------------------------------------------------------------------------
# Policy and decisions


@dataclass(frozen=True)
class PollPolicy:
    """How to wait: ``interval`` seconds between polls unless ``Retry-After`` says otherwise,
    ``deadline`` seconds in total per operation, ``clock`` (monotonic seconds) and ``sleep``
    injected so tests never sleep. ``max_interval`` caps a server's ``Retry-After``.
    """

    interval: float = 5.0
    deadline: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    max_interval: float = 60.0


@dataclass(frozen=True)
class Wait:
    """Decision: sleep ``delay`` seconds then GET ``url``."""

    delay: float
    url: str


@dataclass(frozen=True)
class Done:
    """Decision: the operation succeeded; GET ``final_url`` for the result, or use ``response``."""

    response: Response
    final_url: str | None


def next_step(
    strategy: Strategy,
    method: str,
    initial: Response,
    last: Response,
    *,
    started: float,
    now: float,
    policy: PollPolicy,
    what: str = "",
    first: bool = False,
) -> Wait | Done:
    """Decide what to do after ``last`` (the initial response or the latest poll). Pure.

    Raises ``OperationFailed`` on Failed/Canceled and ``OperationTimeout`` past the deadline.
    """
    method = method.upper()
    status = "inprogress" if first and strategy.accepted_only else strategy.status(last)
    if status == SUCCEEDED:
        return Done(last, strategy.final_url(method, initial))
    if status in (FAILED, CANCELED):
        raise operation_error(last, status, what)
    url = strategy.polling_url(method, initial)
    if not url:
        # Nothing to poll and not terminal: treat the response as final rather than loop forever.
        return Done(last, None)
    hinted = retry_after(last.headers)
    default = strategy.first_delay if first and strategy.first_delay is not None else policy.interval
    delay = default if hinted is None else min(hinted, policy.max_interval)
    elapsed = now - started
    if elapsed + delay > policy.deadline:
        raise OperationTimeout(
            f"{what or 'operation'} did not finish within {policy.deadline:g}s (last status: {status})",
            code="OperationTimeout",
            request_id=last.request_id,
            retryable=False,
            hint="raise the catalog's 'timeout' setting, or check the operation in the Azure portal",
        )
    return Wait(delay, url)


def wait(
    method: str,
    initial: Response,
    fetch: Callable[[str], Response],
    policy: PollPolicy,
    *,
    on_step: Callable[[str], None] | None = None,
    what: str = "",
    strategies: Sequence[Strategy] = DEFAULT_STRATEGIES,
) -> Response:
    """Drive an operation to completion: the only loop here; I/O is ``fetch``, time is ``policy``.

    Returns the final resource response (the GET of ``final_url`` when the strategy names one,
    else the last poll response). ``on_step`` is told "polling (N)" before each poll.
    """
    strategy = choose_strategy(method, initial, strategies)
    started = policy.clock()
    last = initial
    polls = 0
    while True:
        step = next_step(
            strategy, method, initial, last,
            started=started, now=policy.clock(), policy=policy, what=what, first=polls == 0,
        )
        if isinstance(step, Done):
            if step.final_url:
                return fetch(step.final_url)
            return step.response
        if step.delay > 0:
            policy.sleep(step.delay)
        polls += 1
        if on_step is not None:
            on_step(f"polling ({polls})")
        last = fetch(step.url)


__all__ = [
    "AsyncOperationStrategy",
    "CLASSIC_STRATEGIES",
    "DEFAULT_STRATEGIES",
    "Done",
    "ImmediateStrategy",
    "LocationStrategy",
    "OperationStatusStrategy",
    "PollPolicy",
    "ProvisioningStateStrategy",
    "Response",
    "Strategy",
    "Wait",
    "choose_strategy",
    "next_step",
    "operation_error",
    "retry_after",
    "wait",
]
