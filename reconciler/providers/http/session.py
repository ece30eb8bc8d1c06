"""One ``requests.Session`` per HTTP provider, ``Retries`` mounted on its adapter, errors translated once.

Layer: edge. ``new_session`` mounts the retry policy (``retry.py``) once, for ``http://`` and
``https://``; ``send`` makes one logical request through it and turns what ``requests`` raises
(after urllib3 gave up, or at once for what is never retried) into one ``errors.ProviderError``
with the cause chained. The JSON transport (ARM) and the classic XML client both send through here;
each keeps its own body format and its own translation of the service's error answers.

An error message names the request (what, method, URL without its query) and the exception's
type, never the exception's text, which can quote a header value (requests' ``InvalidHeader``
does, token included). ``Authorization`` and any token-bearing header are redacted in logs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from ...errors import ProviderError
from .retry import IDEMPOTENT, Retries, RetryPolicy, attempts, unreachable

_REDACT = frozenset({"authorization", "x-ms-authorization-auxiliary", "cookie", "set-cookie"})


def new_session(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    rand: Callable[[], float],
    resend: Collection[str] = IDEMPOTENT,
    on_retry: Callable[[], None] | None = None,
    pool_maxsize: int = 32,
) -> requests.Session:
    """A session whose adapter carries the retry policy: every request through it is retried there."""
    session = requests.Session()
    retries = Retries(policy, sleep=sleep, rand=rand, resend=resend, on_retry=on_retry)
    # Apply runs up to --parallelism changes at once through this one session.
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=retries)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Proxies and CA bundles from the environment are the CLI's business (it passes them
    # explicitly); loopback tests must not go through a proxy either.
    session.trust_env = False
    return session


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str = "",
    tls_hint: str = "",
    **kw: Any,
) -> requests.Response:
    """One request through ``session`` (its adapter retries); a failure without an answer raises
    ``ProviderError``: ``ConnectionError`` (retryable), ``TLSError`` or ``RequestError``."""
    prefix = f"{what}: " if what else ""
    try:
        return session.request(method, url, allow_redirects=False, **kw)
    except requests.exceptions.SSLError as e:
        raise ProviderError(f"{prefix}TLS with {display_origin(url)} failed: {_tls_reason(e)}", code="TLSError",
                            hint=tls_hint) from e
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
        raise connection_error(e, method, url, prefix) from e
    except requests.exceptions.InvalidHeader:
        # Its text quotes the header value (a token): neither shown nor chained.
        raise ProviderError(
            f"{prefix}{method} {safe_url(url)} failed: a request header has an invalid value (InvalidHeader)",
            code="RequestError",
            hint="check the credentials in the environment (AZURE_ACCESS_TOKEN) for stray characters",
        ) from None
    except requests.RequestException as e:
        raise ProviderError(f"{prefix}{method} {safe_url(url)} failed: {_request_reason(e)}",
                            code="RequestError") from e


def connection_error(e: BaseException, method: str, url: str, prefix: str) -> ProviderError:
    """No answer: could not connect (after the short budget), or the answer was lost (after the
    long one, or at once for a request that must not be sent twice)."""
    reason = unreachable(e)
    tries = attempts(e)
    where = f"({method} {urlsplit(url).path})"
    if reason is not None:
        return ProviderError(
            f"{prefix}cannot reach {display_origin(url)}: {reason} after {tries or 1} attempts {where}",
            code="ConnectionError", retryable=True,
            hint="check catalog.endpoint and that the service is up and reachable from here",
        )
    cause = _innermost(e)
    if tries is None:
        return ProviderError(
            f"{prefix}the connection to {display_origin(url)} failed after the request was sent "
            f"({_connection_reason(cause)}); not sent again {where}",
            code="ConnectionError", retryable=True,
        )
    return ProviderError(
        f"{prefix}cannot reach {display_origin(url)}: {_connection_reason(cause)} after {tries} attempts {where}",
        code="ConnectionError", retryable=True,
    )


def _tls_reason(e: BaseException) -> str:
    """Why a TLS connection failed, in words (not ``SSLError``)."""
    text = str(e).lower()
    if "certificate_verify_failed" in text or "certificate verify failed" in text:
        if "hostname" in text or "ip address mismatch" in text:
            return "the certificate does not name this host"
        if "expired" in text:
            return "the certificate has expired"
        return "the certificate is not trusted"
    if "wrong_version_number" in text or "wrong version number" in text:
        return "the server does not speak TLS (is it plain http?)"
    return "the TLS handshake failed"


def _connection_reason(cause: BaseException) -> str:
    """What went wrong on a connection, in words (not ``RemoteDisconnected``)."""
    import http.client
    import socket

    if isinstance(cause, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(cause, http.client.RemoteDisconnected | BrokenPipeError | ConnectionAbortedError):
        return "the server closed the connection"
    if isinstance(cause, TimeoutError | socket.timeout) or "timeout" in type(cause).__name__.lower():
        return "timed out"
    if "incomplete" in type(cause).__name__.lower() or "chunked" in type(cause).__name__.lower():
        return "the answer was cut off"
    return "the connection failed"


def _request_reason(e: BaseException) -> str:
    """Why ``requests`` refused or failed a request, in words (not ``InvalidURL``)."""
    words = {
        "InvalidURL": "the URL is not valid",
        "MissingSchema": "the URL has no scheme",
        "InvalidSchema": "the URL's scheme is not supported",
        "TooManyRedirects": "too many redirects",
        "ContentDecodingError": "the answer could not be decoded",
        "InvalidJSONError": "the request body is not valid JSON",
    }
    for cls in type(e).__mro__:
        if cls.__name__ in words:
            return words[cls.__name__]
    return "the request could not be made"


def _innermost(e: BaseException) -> BaseException:
    """The urllib3/socket error ``requests`` wrapped (its type names the failure in a message)."""
    seen: set[int] = set()
    while id(e) not in seen:
        seen.add(id(e))
        inner = getattr(e, "reason", None) or next((a for a in e.args if isinstance(a, BaseException)), None)
        if not isinstance(inner, BaseException):
            break
        e = inner
    return e


def attempts_of(response: requests.Response) -> int:
    """How many tries the answer took (urllib3 keeps the retry history on the raw response)."""
    retries = getattr(response.raw, "retries", None)
    return 1 + len(retries.history) if isinstance(retries, Retries) else 1


def safe_url(url: str) -> str:
    """``url`` for a message: no user info, no query (a ``nextLink`` token, a SAS signature)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def display_origin(url: str) -> str:
    """scheme://host[:port] as written (no user info), for messages."""
    full = safe_url(url)
    path = urlsplit(url).path
    return full[: len(full) - len(path)] if path else full


def origin(url: str) -> str:
    """scheme://host:port, normalised (default port filled in), to compare two URLs' origins."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to log: token-bearing ones are replaced by ``<redacted>``."""
    return {k: ("<redacted>" if k.lower() in _REDACT else v) for k, v in headers.items()}


__all__ = ["attempts_of", "connection_error", "display_origin", "new_session", "origin", "redact", "safe_url",
           "send"]
