"""The retrying transport against a real scripted HTTP server on 127.0.0.1 (port 0), fake sleep."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reconciler.errors import NotFound, ProviderError
from reconciler.providers.http.session import redact
from reconciler.providers.http.transport import RetryPolicy, Transport


class Script:
    """Responses to hand out in order: (status, headers, body) or "drop" to close without answering."""

    def __init__(self) -> None:
        self.queue: list[Any] = []
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def _serve(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            with script.lock:
                script.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                    "body": body.decode()})
                item = script.queue.pop(0) if script.queue else (200, {}, {"ok": True})
            if item == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, payload = item
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make(url: str, sleeps: list[float], **kw: Any) -> Transport:
    return Transport(url, token=lambda: "s3cr3t-token", sleep=sleeps.append, rand=lambda: 1.0,
                     timeout=5, retry=kw.pop("retry", RetryPolicy(max_attempts=5, base=0.5, cap=3)), **kw)


def test_retries_429_honouring_retry_after(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(429, {"Retry-After": "7"}, {"error": {"code": "TooManyRequests", "message": "slow"}}),
                    (200, {}, {"value": 1})]
    with make(url, sleeps) as t:
        r = t.get("/x")
    assert r.body == {"value": 1}
    assert sleeps == [7.0]
    assert len(script.seen) == 2
    # One logical call: the same client request id on every attempt.
    assert script.seen[0]["headers"]["x-ms-client-request-id"] == script.seen[1]["headers"]["x-ms-client-request-id"]


def test_retries_5xx_with_capped_exponential_backoff(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(503, {}, None)] * 4 + [(200, {}, {})]
    with make(url, sleeps) as t:
        t.request("PUT", "/x", body={"a": 1})
    assert sleeps == [0.5, 1.0, 2.0, 3.0]
    assert all(s["body"] == '{"a":1}' for s in script.seen)


def test_jitter_uses_injected_random(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(500, {}, None), (200, {}, {})]
    with Transport(url, sleep=sleeps.append, rand=lambda: 0.25, retry=RetryPolicy(base=2)) as t:
        t.get("/x")
    assert sleeps == [0.5]


def test_retries_dropped_connection(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = ["drop", "drop", (200, {}, {"ok": 1})]
    with make(url, sleeps) as t:
        assert t.get("/x").body == {"ok": 1}
        assert t.retries == 2


def test_gives_up_after_budget_as_retryable_provider_error(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    body = {"error": {"code": "ServerBusy", "message": "try later"}}
    script.queue = [(503, {"x-ms-request-id": "rid-9"}, body)] * 5
    with make(url, sleeps) as t, pytest.raises(ProviderError) as ei:
        t.get("/x")
    e = ei.value
    assert (e.status, e.code, e.request_id, e.retryable) == (503, "ServerBusy", "rid-9", True)
    assert len(script.seen) == 5


def test_too_long_retry_after_fails_fast(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(429, {"Retry-After": "1200"}, {"error": {"code": "OperationNotAllowed", "message": "m",
                                                               "details": [{"code": "TooManyRequests",
                                                                            "target": "HighCostGet30Min"}]}})]
    with make(url, sleeps) as t, pytest.raises(ProviderError) as ei:
        t.get("/x")
    assert ei.value.retryable and ei.value.status == 429
    assert "HighCostGet30Min" in ei.value.message
    assert sleeps == []


def test_client_errors_are_not_retried_and_translated(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(404, {"x-ms-correlation-request-id": "corr-1"},
                     {"error": {"code": "ResourceNotFound", "message": "image 'a' was not found"}})]
    with make(url, sleeps) as t, pytest.raises(NotFound) as ei:
        t.get("/x", what="read image a")
    e = ei.value
    assert (e.status, e.code, e.request_id, e.retryable) == (404, "ResourceNotFound", "corr-1", False)
    assert e.message.startswith("read image a:")
    assert len(script.seen) == 1 and sleeps == []


def test_connection_refused_becomes_provider_error(sleeps: list[float]) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with make(f"http://127.0.0.1:{port}", sleeps, retry=RetryPolicy(max_attempts=2)) as t:
        with pytest.raises(ProviderError) as ei:
            t.get("/x")
    assert ei.value.retryable and ei.value.code == "ConnectionError"
    assert isinstance(ei.value.__cause__, Exception)


def test_paged_follows_next_link_to_the_end(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(200, {}, {"value": [1, 2], "nextLink": f"{url}/x?$skiptoken=2"}),
                    (200, {}, {"value": [3], "nextLink": f"{url}/x?$skiptoken=3"}),
                    (200, {}, {"value": []})]
    with make(url, sleeps) as t:
        assert t.paged("/x", params={"api-version": "v"}) == [1, 2, 3]
    assert [s["path"] for s in script.seen] == ["/x?api-version=v", "/x?$skiptoken=2", "/x?$skiptoken=3"]


def test_token_sent_but_never_logged(server: tuple[str, Script], sleeps: list[float],
                                     caplog: pytest.LogCaptureFixture) -> None:
    url, script = server
    script.queue = [(500, {}, None), (400, {}, {"error": {"code": "InvalidParameter", "message": "bad"}})]
    caplog.set_level(logging.DEBUG, logger="reconciler.http")
    with make(url, sleeps) as t, pytest.raises(ProviderError) as ei:
        t.get("/x")
    assert script.seen[0]["headers"]["Authorization"] == "Bearer s3cr3t-token"
    assert "s3cr3t" not in caplog.text and "<redacted>" in caplog.text
    assert "s3cr3t" not in str(ei.value)


def test_redact() -> None:
    assert redact({"Authorization": "Bearer x", "Accept": "a"}) == {"Authorization": "<redacted>", "Accept": "a"}


def test_a_next_link_to_another_host_is_refused_and_gets_no_token(
    server: tuple[str, Script], sleeps: list[float]
) -> None:
    url, script = server
    other = url.replace("127.0.0.1", "localhost")  # same server, another origin as far as the client knows
    script.queue = [(200, {}, {"value": [1], "nextLink": f"{other}/page2"})]
    with make(url, sleeps) as t, pytest.raises(ProviderError) as e:
        t.paged("/x")
    assert e.value.code == "ForeignURL"
    assert len(script.seen) == 1  # the token went to the endpoint only


def test_a_next_link_on_the_same_origin_is_followed(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(200, {}, {"value": [1], "nextLink": f"{url}/page2"}), (200, {}, {"value": [2]})]
    with make(url, sleeps) as t:
        assert t.paged("/x") == [1, 2]


# --------------------------------------------------------------------------------------------------
# Issue 8 item 10: an endpoint nobody answers on fails in seconds, not minutes


def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_a_closed_port_fails_after_a_few_quick_tries_each_logged(sleeps: list[float],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="reconciler.http")
    url = f"http://127.0.0.1:{_closed_port()}"
    with Transport(url, token=lambda: "s3cr3t-token", sleep=sleeps.append, rand=lambda: 1.0) as t:
        with pytest.raises(ProviderError) as ei:
            t.get("/subscriptions/x", what="list images")
    # The default policy: 3 attempts, at most ~3 s of waiting in total (not 10 attempts over 75-99 s).
    assert t.sent == 3 and len(sleeps) == 2 and sum(sleeps) <= 3.0
    e = ei.value
    assert e.retryable and e.code == "ConnectionError"
    assert "connection refused after 3 attempts" in e.message and e.hint
    warnings = [r for r in caplog.records if r.name == "reconciler.http" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("(connection refused), retrying in" in r.getMessage() for r in warnings)
    assert "s3cr3t-token" not in caplog.text


def test_failures_to_connect_are_told_apart_from_failures_after_connecting() -> None:
    """The classifier that picks the short budget, on the exception chains requests really raises
    (built here: resolving a name would leave the loopback)."""
    import socket

    import requests
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError

    from reconciler.providers.http.retry import unreachable

    def wrapped(reason: Exception) -> requests.ConnectionError:
        return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]

    dns = NameResolutionError("arm.invalid", None, socket.gaierror(-2, "Name or service not known"))  # type: ignore[arg-type]
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert unreachable(wrapped(dns)) == "name not resolved"
    assert unreachable(wrapped(refused)) == "connection refused"
    assert unreachable(requests.exceptions.ConnectTimeout("connect timed out")) == "connect timeout"
    assert unreachable(requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))) is None
    assert unreachable(requests.exceptions.ReadTimeout("read timed out")) is None
    assert unreachable(requests.exceptions.ChunkedEncodingError("dropped")) is None


def test_server_errors_keep_the_long_budget(server: tuple[str, Script], sleeps: list[float]) -> None:
    url, script = server
    script.queue = [(503, {}, {"error": {"code": "ServerBusy", "message": "later"}})] * 10
    with Transport(url, sleep=sleeps.append, rand=lambda: 1.0) as t, pytest.raises(ProviderError) as ei:
        t.get("/x")
    assert len(script.seen) == RetryPolicy().max_attempts == 10
    assert ei.value.status == 503 and sum(sleeps) > 60


def test_the_connect_budget_is_a_policy_setting(sleeps: list[float]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with Transport(url, sleep=sleeps.append, rand=lambda: 0.0, retry=RetryPolicy(connect_attempts=2)) as t:
        with pytest.raises(ProviderError):
            t.get("/x")
    assert t.sent == 2


# --------------------------------------------------------------------------------------------------
# Issue 9 item 7: one retry policy, mounted on the session (urllib3 knows whether a request went out)


def test_the_retry_policy_is_mounted_once_on_the_session(sleeps: list[float]) -> None:
    from reconciler.providers.http.retry import Retries

    with Transport("https://arm.invalid", sleep=sleeps.append) as t:
        adapter = t.session.get_adapter("https://arm.invalid/x")
        assert adapter is t.session.get_adapter("http://other.invalid/")
        assert isinstance(adapter.max_retries, Retries)
        assert adapter.max_retries.total == RetryPolicy().max_attempts - 1


def test_a_post_whose_answer_was_lost_is_not_sent_again_unless_the_api_allows_it(
    server: tuple[str, Script], sleeps: list[float]
) -> None:
    from reconciler.providers.http.retry import IDEMPOTENT

    url, script = server
    script.queue = ["drop"]
    with make(url, sleeps, resend=IDEMPOTENT) as t, pytest.raises(ProviderError) as ei:
        t.request("POST", "/capture", body={"a": 1})
    assert ei.value.retryable and ei.value.code == "ConnectionError" and "not sent again" in ei.value.message
    assert len(script.seen) == 1 and t.retries == 0 and sleeps == []
    # The same drop on a GET is retried: nothing is done twice by reading twice.
    script.queue = ["drop", (200, {}, {"ok": 1})]
    with make(url, sleeps, resend=IDEMPOTENT) as t:
        assert t.get("/x").body == {"ok": 1} and t.sent == 2
    # ARM's calls are all safe to resend (the default): its POST actions are retried too.
    script.queue = ["drop", (200, {}, {})]
    with make(url, sleeps) as t:
        t.request("POST", "/vm/deallocate")
        assert t.retries == 1


def test_throttling_is_retried_for_every_method(server: tuple[str, Script], sleeps: list[float]) -> None:
    from reconciler.providers.http.retry import IDEMPOTENT

    url, script = server
    script.queue = [(429, {"Retry-After": "2"}, None), (503, {}, None), (202, {}, None)]
    with make(url, sleeps, resend=IDEMPOTENT) as t:
        assert t.request("POST", "/capture").status == 202
    assert [s["method"] for s in script.seen] == ["POST"] * 3 and sleeps == [2.0, 1.0]


def test_a_retry_after_date_is_honoured_with_the_injected_sleep(server: tuple[str, Script],
                                                                sleeps: list[float]) -> None:
    from email.utils import formatdate

    url, script = server
    script.queue = [(503, {"Retry-After": formatdate(usegmt=True)}, None), (200, {}, {})]
    with make(url, sleeps) as t:
        t.get("/x")
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 1  # "now": no real wait, nothing slept for real


def test_a_tls_failure_is_said_in_words_not_class_names():
    """Issue 12: ``TLSError: TLS with https://h failed: SSLError`` named two internal classes."""
    import requests as _requests

    from reconciler.providers.http.session import send

    class _Session:
        def request(self, *a, **kw):
            raise _requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    with pytest.raises(ProviderError) as ei:
        send(_Session(), "GET", "https://catalog.example.com/x")  # type: ignore[arg-type]
    text = str(ei.value)
    assert "the certificate is not trusted" in text
    assert "SSLError" not in text and "TLSError" not in text
    assert ei.value.code == "TLSError"  # the machine-readable code stays


def test_a_failed_sign_in_is_said_in_words_not_class_names():
    from reconciler.providers.azure.auth import token_provider

    class CredentialUnavailableError(Exception):
        pass

    class _Cred:
        def get_token(self, *scopes):
            raise CredentialUnavailableError("EnvironmentCredential: incomplete")

    get = token_provider({}, credential_factory=lambda authority: _Cred())
    with pytest.raises(ProviderError) as ei:
        get()
    assert "could not get an Azure access token: no sign-in is available here" in str(ei.value)
    assert "CredentialUnavailableError" not in str(ei.value) and "AuthenticationFailed" not in str(ei.value)
