"""A retrying JSON-over-HTTP transport for the HTTP providers (ARM today, others may reuse it).

Layer: edge. This is one of the two places (with the provider modules) allowed to import
``requests``. Retries live here and nowhere above: 429 (honouring ``Retry-After``), 5xx and
connection errors are retried with capped exponential backoff and full jitter; every other failure,
and a retry budget exhausted, becomes one ``errors.ProviderError`` with the cause chained, the HTTP
status, the service's error code and message, and the request id. Clock, sleep and randomness are
injected so tests run without real waiting.

Logging goes to the ``reconciler.http`` logger at DEBUG (the CLI turns it on for ``--debug``);
``Authorization`` and any token-bearing header are redacted there, and tokens are never put into
an exception message.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

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
    is honoured as is, up to ``max_retry_after`` (a longer one fails the call as retryable)."""

    max_attempts: int = 10
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0


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
                log.debug("%s %s -> %s (attempt %d)", method, url, type(e).__name__, attempt)
                err = ProviderError(
                    f"{what + ': ' if what else ''}cannot reach {self.base_url}: {type(e).__name__}",
                    code="ConnectionError", retryable=True,
                )
                if attempt >= self.retry.max_attempts:
                    raise err from e
                self._backoff(attempt, None)
                continue
            except requests.RequestException as e:
                raise ProviderError(f"{what + ': ' if what else ''}request failed: {e}", code="RequestError") from e
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


__all__ = ["RETRY_STATUSES", "RetryPolicy", "Transport", "error_from_response", "redact"]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"
