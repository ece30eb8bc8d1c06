"""The one retry policy of the HTTP providers: a urllib3 ``Retry`` mounted on the session's adapter.

Layer: edge (urllib3; ``requests`` only to read its exceptions). What is retried, and how long it waits, is decided
here and nowhere else; urllib3 runs the loop, because it alone knows how far a request got:

* **a connection that could not be made** (refused, name not resolved, connect timeout): nothing
  was sent, so any method is retried, but briefly (``RetryPolicy.connect_attempts``, ~3 s in all:
  nobody is listening, and waiting a minute will not change that), each retry one WARNING line on
  the ``reconciler.http`` logger;
* **an answer lost after the request went out** (reset, dropped, read timeout): only the methods
  the API says are safe to resend (``resend``; a classic capture POST is not: the service may have
  started it), on the long budget;
* **an answer of 408/429/500/502/503/504**, for any method (the service says it did not do it):
  ``Retry-After`` honoured as is up to ``max_retry_after`` (a longer one hands the answer back, to
  fail as retryable), else capped exponential backoff with full jitter;
* anything else (TLS, a bad header) is not retried.

``sleep`` and ``rand`` are injected (tests and benchmarks never wait); ``on_retry`` is told of each
retry (the providers' ``sent``/``retries`` counters).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ResponseError,
)
from urllib3.util.retry import Retry

from .lro import retry_after

if TYPE_CHECKING:
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

log = logging.getLogger("reconciler.http")

#: Statuses retried (throttling and transient server errors).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Methods safe to send again when the answer was lost after the request went out.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` includes the first try; the n-th retry waits up to
    ``min(cap, base * 2**(n-1))`` seconds (full jitter) unless the server sent ``Retry-After``,
    which is honoured as is, up to ``max_retry_after`` (a longer one fails the call as retryable).

    ``connect_attempts``: tries when the connection cannot be made at all; the n-th such retry
    waits between half and all of ``connect_base * 2**(n-1)`` seconds, so the default 3 attempts
    wait at most 1 + 2 = 3 s before the error (a closed port used to take 75-99 s of silent
    retries on the long budget).
    """

    max_attempts: int = 10
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    connect_attempts: int = 3
    connect_base: float = 1.0

    def backoff(self, attempt: int, rand: Callable[[], float]) -> float:
        """Seconds before retrying after the ``attempt``-th (1-based) try failed."""
        return rand() * min(self.cap, self.base * 2.0 ** (attempt - 1))

    def connect_delay(self, retry: int, rand: Callable[[], float]) -> float:
        """Seconds before the ``retry``-th (1-based) retry of a connection that could not be made."""
        d = self.connect_base * 2.0 ** (retry - 1)
        return d / 2 + rand() * d / 2


_DEFAULT_POLICY = RetryPolicy()


class GaveUp(MaxRetryError):
    """The retry budget ran out; ``attempts`` is how many tries were made."""

    def __init__(self, pool: ConnectionPool | None, url: str, reason: Exception | None, attempts: int) -> None:
        # urllib3 types ``pool`` as non-None, yet its own Retry.increment passes None here.
        super().__init__(pool, url, reason)  # type: ignore[arg-type]
        self.attempts = attempts


class Retries(Retry):
    """``RetryPolicy`` as urllib3 counters, with the waits and the logging of this project.

    urllib3 makes a new instance per retry (``new``), carrying ``history``; the policy, the
    injected ``sleep``/``rand``, ``resend`` and ``on_retry`` travel along. ``delay`` is what this
    instance's ``sleep`` waits: decided in ``increment``, which alone sees the error or response.
    """

    def __init__(
        self,
        policy: RetryPolicy = _DEFAULT_POLICY,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        resend: Collection[str] = IDEMPOTENT,
        on_retry: Callable[[], None] | None = None,
        delay: float = 0.0,
        **urllib3_args: Any,
    ) -> None:
        urllib3_args.setdefault("total", policy.max_attempts - 1)
        urllib3_args.setdefault("connect", max(0, min(policy.connect_attempts, policy.max_attempts) - 1))
        urllib3_args.setdefault("other", 0)
        urllib3_args.setdefault("status_forcelist", RETRY_STATUSES)
        urllib3_args.setdefault("raise_on_status", False)  # the caller translates the last answer
        urllib3_args["allowed_methods"] = frozenset(m.upper() for m in resend)
        super().__init__(**urllib3_args)
        self.policy = policy
        self._sleep = sleep
        self._rand = rand
        self._on_retry = on_retry
        self.delay = delay

    def new(self, **kw: Any) -> Self:
        return super().new(policy=self.policy, sleep=self._sleep, rand=self._rand, on_retry=self._on_retry,
                           resend=self.allowed_methods or (), **kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # Any method: a throttled or failed answer means the service did not carry the request out.
        return status_code in RETRY_STATUSES

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        hinted = retry_after(response.headers) if response is not None else None
        if hinted is not None and hinted > self.policy.max_retry_after:
            # Longer than we are willing to wait: hand the answer back, it fails as retryable.
            raise GaveUp(_pool, url or "", ResponseError(f"Retry-After {hinted:g}s"), len(self.history) + 1)
        try:
            new = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as e:
            raise GaveUp(_pool, url or "", e.reason, len(self.history) + 1) from e.reason
        attempt = len(new.history)
        where = f"{method} {(url or '').split('?', 1)[0]}"
        if error is not None and self._is_connection_error(error):
            n = sum(1 for h in new.history if h.error is not None and self._is_connection_error(h.error))
            budget = min(self.policy.connect_attempts, self.policy.max_attempts)
            new.delay = self.policy.connect_delay(n, self._rand)
            log.warning("%s: cannot connect to %s (%s), retrying in %.1f s (attempt %d of %d)", where,
                        _origin(_pool), unreachable(error) or "cannot connect", new.delay, n, budget)
        else:
            new.delay = hinted if hinted is not None else self.policy.backoff(attempt, self._rand)
            outcome = type(error).__name__ if error is not None else str(response.status if response else "?")
            log.debug("%s -> %s (attempt %d), retrying in %.1f s", where, outcome, attempt, new.delay)
        if self._on_retry is not None:
            self._on_retry()
        return new

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        self._sleep(self.delay)

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        # Only urllib3's redirect path calls this directly (the providers follow no redirects).
        hinted = retry_after(response.headers)
        if hinted is None:
            return False
        self._sleep(min(hinted, self.policy.max_retry_after))
        return True


def unreachable(e: BaseException) -> str | None:
    """Why no connection could be made, for messages: "connection refused", "name not resolved",
    "connect timeout" or "cannot connect"; None when the failure came after connecting (reset,
    dropped, read timeout). Walks the chain ``requests`` and urllib3 wrap the cause in."""
    seen: set[int] = set()
    todo: list[BaseException] = [e]
    found: str | None = None
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, NameResolutionError):
            return "name not resolved"
        if isinstance(x, ConnectionRefusedError):
            return "connection refused"
        if isinstance(x, NewConnectionError):
            found = "connection refused" if "refused" in str(x).lower() else (found or "cannot connect")
        elif isinstance(x, ConnectTimeoutError | requests.exceptions.ConnectTimeout):
            found = found or "connect timeout"
        nxt = [x.__cause__, x.__context__, getattr(x, "reason", None), *x.args]
        todo.extend(n for n in nxt if isinstance(n, BaseException))
    return found


def attempts(e: BaseException) -> int | None:
    """How many tries a failed call made, when the retry budget ran out (``GaveUp`` in the chain)."""
    x: BaseException | None = e
    seen: set[int] = set()
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        if isinstance(x, GaveUp):
            return x.attempts
        inner = next((a for a in x.args if isinstance(a, BaseException)), None)
        x = inner or x.__cause__ or x.__context__
    return None


def _origin(pool: ConnectionPool | None) -> str:
    if pool is None:
        return "the endpoint"
    host = pool.host or ""
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{pool.scheme}://{host}:{pool.port}" if pool.port else f"{pool.scheme}://{host}"


__all__ = ["GaveUp", "IDEMPOTENT", "RETRY_STATUSES", "RetryPolicy", "Retries", "attempts", "unreachable"]
