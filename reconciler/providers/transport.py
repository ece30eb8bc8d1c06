"""A retrying JSON-over-HTTP transport for the HTTP providers (ARM today, others may reuse it).

Layer: edge. This is one of the two places (with the provider modules) allowed to import
``requests``. Retries live here and nowhere above: 429 (honouring ``Retry-After``), 5xx and
dropped connections are retried with capped exponential backoff and full jitter (10 attempts);
a connection that could not be made at all (refused, name not resolved, connect timeout) gets a
short budget of its own (3 attempts, at most ~3 s of waiting: nobody is listening, and waiting a
minute will not change that); every other failure, and a retry budget exhausted, becomes one
``errors.ProviderError`` with the cause chained, the HTTP status, the service's error code and
message, and the request id. Clock, sleep and randomness are injected so tests run without real
waiting.

Logging goes to the ``reconciler.http`` logger: each request at DEBUG (the CLI turns it on for
``--debug``), each retry of a failed connection at WARNING (the CLI prints those on stderr).
``Authorization`` and any token-bearing header are redacted there. An error message names the
request (what, method, URL without its query) and the exception's type, never the exception's
text, which can quote a header value (requests' ``InvalidHeader`` does, token included).
"""

from __future__ import annotations

import json
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from ..errors import NotFound, ProviderError
from ..lro import Response, retry_after

log = logging.getLogger("reconciler.http")

#: Statuses retried by the transport (throttling and transient server errors).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_REDACT = frozenset({"authorization", "x-ms-authorization-auxiliary", "cookie", "set-cookie"})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` includes the first try; the n-th retry waits up to
    ``min(cap, base * 2**n)`` seconds (full jitter) unless the server sent ``Retry-After``, which
    is honoured as is, up to ``max_retry_after`` (a longer one fails the call as retryable).

    ``connect_attempts``: tries when the connection cannot be made at all (see ``unreachable``);
    the n-th such retry waits between half and all of ``connect_base * 2**(n-1)`` seconds, so the
    default 3 attempts wait at most 1 + 2 = 3 s before the error (a closed port used to take
    75-99 s of silent retries on the long budget).
    """

    max_attempts: int = 10
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    connect_attempts: int = 3
    connect_base: float = 1.0

    def connect_delay(self, retry: int, rand: Callable[[], float]) -> float:
        """Seconds before the ``retry``-th (1-based) retry of a connection that could not be made."""
        d = self.connect_base * (2 ** (retry - 1))
        return d / 2 + rand() * d / 2


def unreachable(e: BaseException) -> str | None:
    """Why no connection could be made, when none was: "connection refused", "name not resolved",
    "connect timeout" or "cannot connect" (unreachable network, ...); None when the failure came
    after connecting (reset, dropped, read timeout), which the long budget keeps retrying.
    Nothing was sent in the first four cases, so even a POST may be retried."""
    seen: set[int] = set()
    todo: list[BaseException] = [e]
    found: str | None = None
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, NameResolutionError | socket.gaierror):
            return "name not resolved"
        if isinstance(x, ConnectionRefusedError):
            return "connection refused"
        if isinstance(x, requests.exceptions.ConnectTimeout | ConnectTimeoutError):
            found = found or "connect timeout"
        elif isinstance(x, NewConnectionError):
            found = "connection refused" if "refused" in str(x).lower() else (found or "cannot connect")
        nxt = [x.__cause__, x.__context__, getattr(x, "reason", None), *x.args]
        todo.extend(n for n in nxt if isinstance(n, BaseException))
    return found


def safe_url(url: str) -> str:
    """``url`` for a message: no user info, no query (a ``nextLink`` token, a SAS signature)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to log: token-bearing ones are replaced by ``<redacted>``."""
    return {k: ("<redacted>" if k.lower() in _REDACT else v) for k, v in headers.items()}


def error_from_response(resp: Response, *, retryable: bool | None = None, what: str = "") -> ProviderError:
    """Translate an HTTP error response (ARM ``CloudError`` body or anything else) to ``ProviderError``."""
    body = resp.body
    code, message = "", ""
    if isinstance(body, Mapping):
        err = body.get("error") if isinstance(body.get("error"), Mapping) else body
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
        details = err.get("details")
        if isinstance(details, list) and details and isinstance(details[0], Mapping):
            # Throttling puts the real reason (TooManyRequests/HighCostGet30Min) in details.
            d = details[0]
            extra = " ".join(str(d.get(k)) for k in ("code", "target") if d.get(k))
            if extra and extra not in message:
                message = f"{message} ({extra})" if message else extra
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    if not message:
        message = f"HTTP {resp.status}"
    if what:
        message = f"{what}: {message}"
    if retryable is None:
        retryable = resp.status in RETRY_STATUSES
    cls = NotFound if resp.status == 404 else ProviderError
    hint = ""
    if resp.status == 401:
        hint = "the access token was refused: log in again (az login / AZURE_ACCESS_TOKEN) or check the tenant"
    elif resp.status == 403:
        hint = "the identity lacks an RBAC permission: see docs/azure.md for the actions the provider needs"
    return cls(message, status=resp.status, code=code or f"HTTP{resp.status}", request_id=resp.request_id,
               retryable=retryable, hint=hint)


class Transport:
    """One ``requests.Session`` against one base URL, JSON in and out, retries in one place.

    ``token`` is called before every request for a bearer token (None: no auth header); it is
    expected to cache. ``default_params`` (for example ``api-version``) are added to relative
    paths only: absolute URLs from the service (``nextLink``, polling URLs) already carry theirs.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: Callable[[], str] | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
        user_agent: str = "reconciler",
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self.timeout = timeout
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        if session is None:
            session = requests.Session()
            # Apply runs up to --parallelism changes at once through this one session.
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        # Proxies from the environment are the CLI's business, not ours; loopback tests must not
        # go through one either.
        self.session.trust_env = False
        self.user_agent = user_agent
        #: Counters for benchmarks and tests: requests sent (retries included) and retries.
        self.sent = 0
        self.retries = 0

    def url(self, path_or_url: str) -> str:
        """A path joined to ``base_url``, or an absolute URL the service handed us (``nextLink``,
        ``Azure-AsyncOperation``, ``Location``) — only on the same origin, since the bearer token
        goes with every request and must never reach another host."""
        if path_or_url.startswith(("http://", "https://")):
            if _origin(path_or_url) != _origin(self.base_url):
                raise ProviderError(
                    f"the service pointed to {_origin(path_or_url)}, not to the endpoint {_origin(self.base_url)}: "
                    "refusing to send the credentials there",
                    code="ForeignURL",
                    hint="check catalog.endpoint; if the service really moved, point endpoint at the new host",
                )
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        ok: Iterable[int] = (200, 201, 202, 204),
        what: str = "",
    ) -> Response:
        """Send one logical request, retrying transient failures; a non-``ok`` status raises.

        The same ``x-ms-client-request-id`` is sent on every attempt so a support ticket can
        follow the retries of one call.
        """
        method = method.upper()
        url = self.url(path_or_url)
        ok_set = frozenset(ok)
        headers = {"Accept": "application/json", "User-Agent": self.user_agent,
                   "x-ms-client-request-id": str(uuid.uuid4())}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        attempt = 0
        cannot_connect = 0
        prefix = f"{what}: " if what else ""
        while True:
            attempt += 1
            if self._token is not None:
                headers["Authorization"] = f"Bearer {self._token()}"
            started = self.clock()
            try:
                self.sent += 1
                raw = self.session.request(method, url, params=params, data=data, headers=headers,
                                           timeout=self.timeout, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
                log.debug("%s %s -> %s (attempt %d)", method, safe_url(url), type(e).__name__, attempt)
                reason = unreachable(e)
                if reason is not None:
                    cannot_connect += 1
                    budget = min(self.retry.connect_attempts, self.retry.max_attempts)
                    if cannot_connect >= budget:
                        raise ProviderError(
                            f"{prefix}cannot reach {_display_origin(url)}: {reason} after {cannot_connect} attempts "
                            f"({method} {urlsplit(url).path})",
                            code="ConnectionError", retryable=True,
                            hint="check catalog.endpoint and that the service is up and reachable from here",
                        ) from e
                    delay = self.retry.connect_delay(cannot_connect, self.rand)
                    log.warning("%scannot connect to %s (%s), retrying in %.1f s (attempt %d of %d)", prefix,
                                _display_origin(url), reason, delay, cannot_connect, budget)
                    self.retries += 1
                    self.sleep(delay)
                    continue
                if attempt >= self.retry.max_attempts:
                    raise ProviderError(
                        f"{prefix}cannot reach {_display_origin(url)}: {type(e).__name__} after {attempt} attempts "
                        f"({method} {urlsplit(url).path})",
                        code="ConnectionError", retryable=True,
                    ) from e
                self._backoff(attempt, None)
                continue
            except requests.exceptions.InvalidHeader:
                # Its text quotes the header value (a token): neither shown nor chained.
                raise ProviderError(
                    f"{prefix}{method} {safe_url(url)} failed: a request header has an invalid value (InvalidHeader)",
                    code="RequestError",
                    hint="check the credentials in the environment (AZURE_ACCESS_TOKEN) for stray characters",
                ) from None
            except requests.RequestException as e:
                raise ProviderError(f"{prefix}{method} {safe_url(url)} failed: {type(e).__name__}",
                                    code="RequestError") from e
            with raw:
                resp = _to_response(raw, url)
            log.debug("%s %s -> %d in %.0f ms (attempt %d) request headers %s request id %s", method, url,
                      resp.status, (self.clock() - started) * 1000, attempt, redact(headers), resp.request_id)
            if resp.status in ok_set:
                return resp
            if resp.status in RETRY_STATUSES and attempt < self.retry.max_attempts:
                hinted = retry_after(resp.headers)
                if hinted is not None and hinted > self.retry.max_retry_after:
                    raise error_from_response(resp, retryable=True, what=what)
                self._backoff(attempt, hinted)
                continue
            raise error_from_response(resp, what=what)

    def _backoff(self, attempt: int, hinted: float | None) -> None:
        self.retries += 1
        if hinted is not None:
            delay = hinted
        else:
            delay = self.rand() * min(self.retry.cap, self.retry.base * (2 ** (attempt - 1)))
        self.sleep(delay)

    def get(self, path_or_url: str, **kw: Any) -> Response:
        return self.request("GET", path_or_url, **kw)

    def paged(self, path: str, *, params: Mapping[str, str] | None = None, what: str = "") -> list[Any]:
        """Every item of a pageable ARM list, following ``nextLink`` to the end."""
        items: list[Any] = []
        resp = self.request("GET", path, params=params, ok=(200,), what=what)
        seen: set[str] = set()
        while True:
            body = resp.body if isinstance(resp.body, Mapping) else {}
            value = body.get("value")
            if not isinstance(value, list):
                raise ProviderError(f"{what or 'list'}: the service answered without a 'value' list",
                                    status=resp.status, code="BadResponse", request_id=resp.request_id)
            items.extend(value)
            nxt = body.get("nextLink")
            if not nxt:
                return items
            if nxt in seen:
                raise ProviderError(f"{what or 'list'}: the service returned the same nextLink twice",
                                    code="BadResponse", request_id=resp.request_id)
            seen.add(nxt)
            resp = self.request("GET", nxt, ok=(200,), what=what)


def _to_response(raw: requests.Response, url: str) -> Response:
    headers = {k.lower(): v for k, v in raw.headers.items()}
    body: Any = None
    content = raw.content
    if content:
        try:
            body = json.loads(content)
        except ValueError:
            body = content.decode("utf-8", "replace")
    # The URL as sent (query included): a poll of the resource itself reuses it.
    return Response(status=raw.status_code, headers=headers, body=body, url=raw.url or url)


__all__ = ["RETRY_STATUSES", "RetryPolicy", "Transport", "error_from_response", "redact", "safe_url", "unreachable"]


def _display_origin(url: str) -> str:
    """scheme://host[:port] as written (no user info), for messages."""
    full = safe_url(url)
    return full[: len(full) - len(urlsplit(url).path)] if urlsplit(url).path else full


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"
