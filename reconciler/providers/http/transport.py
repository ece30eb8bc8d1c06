"""JSON over HTTP for the ARM provider: one session, a base URL, bearer auth, pagination, error bodies.

Layer: edge. Retries are not here: they are the policy mounted on the session's adapter
(``retry.py``, through ``session.new_session``), so one logical ``request`` here may be several
attempts there, with the same ``x-ms-client-request-id``. What ``requests`` raises is translated in
``session.send``; an error *answer* (an ARM ``CloudError`` body or anything else) becomes one
``errors.ProviderError`` here (``error_from_response``), with the HTTP status, the service's error
code and message, and the request id. Clock, sleep and randomness are injected so tests run
without real waiting.

Logging goes to the ``reconciler.http`` logger: each request at DEBUG (the CLI turns it on for
``--debug``), each retry of a failed connection at WARNING (the CLI prints those on stderr), with
``Authorization`` and any token-bearing header redacted.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

import requests

from ...errors import NotFound, ProviderError
from .lro import Response
from .retry import RETRY_STATUSES, RetryPolicy
from .session import attempts_of, new_session, origin, redact, send

log = logging.getLogger("reconciler.http")

#: What may be sent again when its answer was lost after it went out: every call this provider
#: makes. ARM's PUT, PATCH (a merge) and DELETE are idempotent, the VM actions it POSTs (deallocate,
#: generalize) leave the same state when repeated, and a capture PUT repeated after it took effect
#: is recognised by the guard as our own capture (``rules``), not captured twice.
ARM_RESEND = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"})
_DEFAULT_RETRY = RetryPolicy()


def error_from_response(resp: Response, *, retryable: bool | None = None, what: str = "") -> ProviderError:
    """Translate an HTTP error response (ARM ``CloudError`` body or anything else) to ``ProviderError``."""
    body = resp.body
    code, message = "", ""
    if isinstance(body, Mapping):
        inner = body.get("error")
        err: Mapping[str, Any] = inner if isinstance(inner, Mapping) else body
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
    """One ``requests.Session`` against one base URL, JSON in and out; retries on its adapter.

    ``token`` is called before every request for a bearer token (None: no auth header); it is
    expected to cache. ``default_params`` (for example ``api-version``) are added to relative
    paths only: absolute URLs from the service (``nextLink``, polling URLs) already carry theirs.
    ``resend``: methods sent again when an answer is lost after the request went out (the API
    knows which of its calls are idempotent; see ``retry.py``), by default ``ARM_RESEND``. An
    injected ``session`` brings its own policy (build it with ``session.new_session``); ``retries``
    then counts nothing.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: Callable[[], str] | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        retry: RetryPolicy = _DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        resend: Collection[str] = ARM_RESEND,
        session: requests.Session | None = None,
        user_agent: str = "reconciler",
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self.timeout = timeout
        self.retry = retry
        self.clock = clock
        self.session = session or new_session(retry, sleep=sleep, rand=rand, resend=resend,
                                              on_retry=self._count_retry)
        self.user_agent = user_agent
        #: Counters for benchmarks and tests: requests sent (retries included) and retries.
        self.sent = 0
        self.retries = 0

    def _count_retry(self) -> None:
        self.sent += 1
        self.retries += 1

    def url(self, path_or_url: str) -> str:
        """A path joined to ``base_url``, or an absolute URL the service handed us (``nextLink``,
        ``Azure-AsyncOperation``, ``Location``) — only on the same origin, since the bearer token
        goes with every request and must never reach another host."""
        if path_or_url.startswith(("http://", "https://")):
            if origin(path_or_url) != origin(self.base_url):
                raise ProviderError(
                    f"the service pointed to {origin(path_or_url)}, not to the endpoint {origin(self.base_url)}: "
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
        """Send one logical request (the adapter retries transient failures); a non-``ok`` status raises.

        The same ``x-ms-client-request-id`` goes with every attempt so a support ticket can
        follow the retries of one call.
        """
        method = method.upper()
        url = self.url(path_or_url)
        headers = {"Accept": "application/json", "User-Agent": self.user_agent,
                   "x-ms-client-request-id": str(uuid.uuid4())}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token()}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        started = self.clock()
        self.sent += 1
        raw = send(self.session, method, url, what=what, params=params, data=data, headers=headers,
                   timeout=self.timeout)
        with raw:
            resp = _to_response(raw, url)
            tries = attempts_of(raw)
        log.debug("%s %s -> %d in %.0f ms (attempts %d) request headers %s request id %s", method, url,
                  resp.status, (self.clock() - started) * 1000, tries, redact(headers), resp.request_id)
        if resp.status in frozenset(ok):
            return resp
        raise error_from_response(resp, what=what)

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


__all__ = ["ARM_RESEND", "RETRY_STATUSES", "RetryPolicy", "Transport", "error_from_response"]
