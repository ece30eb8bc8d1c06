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
import json.scanner
import logging
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from ...errors import NotFound, ProviderError
from .lro import Response, retry_after
from .retry import RETRY_STATUSES, RetryPolicy
from .session import attempts_of, new_session, origin, redact, send

log = logging.getLogger("reconciler.http")

#: What may be sent again when its answer was lost after it went out: every call this provider
#: makes. ARM's PUT, PATCH (a merge) and DELETE are idempotent, the VM actions it POSTs (deallocate,
#: generalize) leave the same state when repeated, and a capture PUT repeated after it took effect
#: is recognised by the guard as our own capture (``rules``), not captured twice.
ARM_RESEND = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"})
#: How many list pages the paging helper may fetch ahead of the caller (memory: ~100 items each).
PAGES_AHEAD = 4
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
    elif resp.status == 429 and (wait := retry_after(resp.headers)) is not None:
        hint = (f"Azure is throttling this subscription's requests and asks to wait {wait:g} s (Retry-After): "
                "run again after that")
    return cls(message, status=resp.status, code=code or f"HTTP{resp.status}", request_id=resp.request_id,
               retryable=retryable, hint=hint, retry_after=retry_after(resp.headers))


class Transport:
    """One ``requests.Session`` against one base URL, JSON in and out; retries on its adapter.

    ``token`` is called before every request for a bearer token (None: no auth header); it is
    expected to cache. When it has an ``on_unauthorized(response)`` method, a 401 is shown to it
    once per request: it may raise a clearer error, or return True to have the request sent again
    with a fresh token (``providers/azure/auth.py``). ``default_params`` (for example
    ``api-version``) are added to relative paths only: absolute URLs from the service (``nextLink``,
    polling URLs) already carry theirs.
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
        headers: Callable[[], Mapping[str, str]] | None = None,
    ) -> Response:
        """Send one logical request (the adapter retries transient failures); a non-``ok`` status raises.

        The same ``x-ms-client-request-id`` goes with every attempt so a support ticket can
        follow the retries of one call. ``headers``: called before each attempt for more headers
        (an auxiliary token, ``x-ms-authorization-auxiliary``): they go only where the bearer token
        goes, to this transport's own origin (``url``), and are redacted from the log as it is.
        """
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        status, head, content, sent_url = self._exchange(method.upper(), self.url(path_or_url), params, data, what,
                                                         headers)
        resp = _to_response_from(status, head, content, sent_url)
        if resp.status in frozenset(ok):
            return resp
        raise error_from_response(resp, what=what)

    def _exchange(self, method: str, url: str, params: Mapping[str, str] | None, data: str | None,
                  what: str, more: Callable[[], Mapping[str, str]] | None = None,
                  ) -> tuple[int, dict[str, str], bytes, str]:
        """One logical request: (status, lower-cased headers, body bytes, the URL as sent).

        A 401 refusing the token goes to the token's ``on_unauthorized(response)`` hook
        (``providers/azure/auth.py``): it may raise a clear error (an expired static token), or
        return True once it dropped its cached token, and the request is sent once more with a
        fresh one (tokens expire in 60-90 minutes; a long replication outlives them)."""
        reauth: Callable[[Response], bool] | None = getattr(self._token, "on_unauthorized", None)
        for attempt in (1, 2):
            headers = self._headers()
            if more is not None:
                headers.update(more())
            if data is not None:
                headers["Content-Type"] = "application/json"
            started = self.clock()
            self.sent += 1
            raw = send(self.session, method, url, what=what, params=params, data=data, headers=headers,
                       timeout=self.timeout)
            with raw:
                content = raw.content
                status = raw.status_code
                head = {k.lower(): v for k, v in raw.headers.items()}
                tries = attempts_of(raw)
                sent_url = raw.url or url  # query included: a poll of the resource itself reuses it
            log.debug("%s %s -> %d in %.0f ms (attempts %d) request headers %s request id %s", method, url, status,
                      (self.clock() - started) * 1000, tries, redact(headers),
                      head.get("x-ms-request-id") or head.get("x-ms-correlation-request-id", ""))
            if status == 401 and attempt == 1 and reauth is not None:
                if reauth(_to_response_from(status, head, content, sent_url)):
                    continue
            break
        return status, head, content, sent_url

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent,
                   "x-ms-client-request-id": str(uuid.uuid4())}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token()}"
        return headers

    def get(self, path_or_url: str, **kw: Any) -> Response:
        return self.request("GET", path_or_url, **kw)

    def paged(self, path: str, *, params: Mapping[str, str] | None = None, what: str = "") -> list[Any]:
        """Every item of a pageable ARM list, following ``nextLink`` to the end (pipelined, ``pages``)."""
        return [item for page in self.pages(path, params=params, what=what) for item, _ in page]

    def pages(self, path: str, *, params: Mapping[str, str] | None = None,
              what: str = "") -> Iterator[list[tuple[Any, str]]]:
        """The pages of a pageable ARM list, each a list of ``(item, the item's JSON text as sent)``.

        Pipelined (issue 13): one helper thread requests page k+1 as soon as page k's ``nextLink``
        is read (from the page's tail, ``tail_next_link``), up to ``PAGES_AHEAD`` pages ahead of the
        caller, while the caller's thread parses page k (``split_page``) and works on it. The item
        text lets a caller fingerprint what the service sent without serialising the item again.
        Closing the iterator early stops the helper; it waits for the one request in flight.
        """
        label = what or "list"
        ready: queue.SimpleQueue[_Fetched | BaseException] = queue.SimpleQueue()
        slots = threading.Semaphore(PAGES_AHEAD)
        stop = threading.Event()

        def parse(got: _Fetched) -> tuple[list[tuple[Any, str]], str | None]:
            try:
                return split_page(got.text)
            except ValueError:
                raise ProviderError(f"{label}: the service answered without a 'value' list", status=got.status,
                                    code="BadResponse", request_id=got.request_id) from None

        def produce() -> None:
            url, query = path, params
            seen: set[str] = set()
            try:
                while True:
                    slots.acquire()
                    if stop.is_set():
                        return
                    resp, text = self.request_text("GET", url, params=query, what=what)
                    got = _Fetched(text, None, tail_next_link(text), resp.request_id, resp.status)
                    if got.next_link is None:  # not last in the page (or absent): parse it here
                        items, link = parse(got)
                        got = _Fetched(text, items, link, resp.request_id, resp.status)
                    ready.put(got)
                    if not got.next_link:
                        return
                    if got.next_link in seen:
                        ready.put(ProviderError(f"{label}: the service returned the same nextLink twice",
                                                code="BadResponse", request_id=got.request_id))
                        return
                    seen.add(got.next_link)
                    url, query = got.next_link, None
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, raised there
                ready.put(e)

        helper = threading.Thread(target=produce, name="reconciler-pages", daemon=True)
        helper.start()
        interrupted = False
        try:
            while True:
                got = ready.get()
                slots.release()
                if isinstance(got, BaseException):
                    raise got
                items = got.items
                if items is None:
                    items, link = parse(got)
                    if link != got.next_link:  # cannot happen with valid JSON; never follow a guess
                        raise ProviderError(f"{label}: the page's nextLink could not be read unambiguously",
                                            code="BadResponse", request_id=got.request_id)
                yield items
                if not got.next_link:
                    return
        except (KeyboardInterrupt, SystemExit):
            interrupted = True
            raise
        finally:
            stop.set()
            slots.release()
            if not interrupted:  # Ctrl-C does not wait for the request in flight (a daemon thread)
                helper.join()

    def request_text(self, method: str, path_or_url: str, *, params: Mapping[str, str] | None,
                      what: str) -> tuple[Response, str]:
        """A 200 answer as (its head, its body text), for callers that parse the text themselves."""
        status, head, content, sent_url = self._exchange(method.upper(), self.url(path_or_url), params, None, what)
        if status != 200:
            raise error_from_response(_to_response_from(status, head, content, sent_url), what=what)
        try:
            text = content.decode("utf-8-sig")  # as json.loads(bytes) would, a BOM is dropped
        except UnicodeDecodeError:
            text = content.decode("utf-8", "replace")
        return Response(status=status, headers=head, body=None, url=sent_url), text


@dataclass(frozen=True)
class _Fetched:
    """One page as the helper thread hands it over: parsed already (``items``) or not yet."""

    text: str
    items: list[tuple[Any, str]] | None
    next_link: str | None
    request_id: str
    status: int


#: ``, "nextLink": "<url>" }`` closing the page: only the top-level object can end the text so
#: (inside a string every quote is escaped; a nested object is followed by ``]`` or more members).
_TAIL_NEXT_LINK = re.compile(r',\s*"nextLink"\s*:\s*("(?:[^"\\]|\\.)*")\s*\}\s*\Z')


def tail_next_link(text: str) -> str | None:
    """The page's ``nextLink`` when it is the last member (ARM's order), else None (not there, null,
    or elsewhere: ``split_page`` finds it). Looks at the last 4 KiB only."""
    m = _TAIL_NEXT_LINK.search(text, max(0, len(text) - 4096))
    if m is None:
        return None
    link = json.loads(m.group(1))
    return link if isinstance(link, str) and link else None


def split_page(text: str) -> tuple[list[tuple[Any, str]], str | None]:
    """A list page's items, each with its JSON text as sent, and its ``nextLink`` (None at the end).

    One pass of the C JSON scanner over the page, stopping at each top-level item of ``value`` to
    note where it starts and ends: what ``json.loads`` would do, plus the item spans. Raises
    ValueError when the text is not a JSON object with a ``value`` list.
    """
    scan = _scan
    i = _ws(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    i = _ws(text, i + 1)
    items: list[tuple[Any, str]] | None = None
    next_link: Any = None
    if text[i : i + 1] == "}":
        raise ValueError("no 'value'")
    while True:
        if text[i : i + 1] != '"':
            raise ValueError(f"expected a key at {i}")
        key, i = scan(text, i)
        i = _ws(text, i)
        if text[i : i + 1] != ":":
            raise ValueError(f"expected ':' at {i}")
        i = _ws(text, i + 1)
        if key == "value" and text[i : i + 1] == "[":
            items = []
            i = _ws(text, i + 1)
            if text[i : i + 1] == "]":
                i += 1
            else:
                while True:
                    start = i
                    item, i = scan(text, i)
                    items.append((item, text[start:i]))
                    i = _ws(text, i)
                    c = text[i : i + 1]
                    i += 1
                    if c == "]":
                        break
                    if c != ",":
                        raise ValueError(f"expected ',' or ']' at {i - 1}")
                    i = _ws(text, i)
        else:
            value, i = scan(text, i)
            if key == "nextLink":
                next_link = value
        i = _ws(text, i)
        c = text[i : i + 1]
        i = _ws(text, i + 1)
        if c == "}":
            break
        if c != ",":
            raise ValueError(f"expected ',' or '}}' at {i}")
    if i != len(text):
        raise ValueError("extra data after the page")
    if items is None:
        raise ValueError("no 'value' list")
    return items, next_link if isinstance(next_link, str) and next_link else None


#: The C scanner ``json.loads`` runs on, called at each value's start: (value, where it ends).
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_WS = re.compile(r"[ \t\n\r]*")


def _scan(text: str, i: int) -> tuple[Any, int]:
    try:
        return _SCAN(text, i)
    except StopIteration as e:  # the scanner's way of saying "no JSON value starts here"
        raise ValueError(f"expected a JSON value at {e.value}") from None


def _ws(text: str, i: int) -> int:
    m = _WS.match(text, i)
    return m.end() if m else i


def _to_response_from(status: int, headers: dict[str, str], content: bytes, url: str) -> Response:
    body: Any = None
    if content:
        try:
            body = json.loads(content)
        except ValueError:
            body = content.decode("utf-8", "replace")
    return Response(status=status, headers=headers, body=body, url=url)


__all__ = ["ARM_RESEND", "RETRY_STATUSES", "RetryPolicy", "Transport", "error_from_response", "split_page"]
