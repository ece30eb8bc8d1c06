"""HTTP for the ``azure-classic`` provider: XML requests with ``x-ms-version`` and auth; operation status.

Layer: edge. One of the modules allowed to import ``requests``. Every failure leaves here as one
``errors.ProviderError`` (``NotFound``, ...) with the cause chained and the service's
``<Error><Code>``, message and ``x-ms-request-id``.

Retries are the HTTP providers' one policy, mounted on this client's session
(``providers/http/retry.py``): 429 and 5xx are retried with backoff honouring ``Retry-After``; a
connection that cannot be made at all gets the short budget of ``RetryPolicy.connect_attempts``
(3 tries, ~3 s), one WARNING line on ``reconciler.http`` each; an answer lost after the request went
out is retried for GET, PUT and DELETE but not for a POST (a capture the service may already have
started is not sent twice) — urllib3 knows which of the two happened. Operation polling is
``lro``'s (``OperationStatusStrategy``); ``operation_status`` is its ``fetch``. Why not
``providers.http.transport.Transport``: it speaks JSON (bodies, ``Accept``, ARM error bodies);
this API speaks XML.
"""

from __future__ import annotations

import base64
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from ...errors import NotFound, ProviderError
from ..clouds import TRUSTED_ENV, check_target, clean_token, get_cloud, parse_trusted_hosts
from ..http import lro
from ..http.retry import IDEMPOTENT, RETRY_STATUSES, RetryPolicy
from ..http.session import attempts_of, new_session, send
from . import wire

#: The public cloud's Service Management endpoint; ``cloud`` selects another (``providers/clouds.py``).
DEFAULT_ENDPOINT = "https://management.core.windows.net"
DEFAULT_VERSION = "2014-10-01"
_DEFAULT_RETRY = RetryPolicy()
_TLS_HINT = "check the management certificate and, for a private endpoint, settings.ca_bundle"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    request_id: str
    attempts: int


def quote_name(name: str) -> str:
    """Percent-encode a name for the path (safe set as the legacy SDK's)."""
    return quote(name, safe="()$=',")


class Client:
    """XML requests to ``{endpoint}/{subscription}/...`` with auth in one place, retries on the session.

    ``cert``: a PEM file holding the management certificate and its key (mutual TLS).
    ``token``: a bearer token, used when there is no certificate. ``verify``: CA bundle path for
    the endpoint (None: the system store). ``sleep``/``rand`` are injected for tests (the retry
    policy's waits). An injected ``session`` brings its own policy (``http.session.new_session``).
    """

    def __init__(
        self,
        endpoint: str,
        subscription: str,
        *,
        version: str = DEFAULT_VERSION,
        cert: str | None = None,
        token: str | None = None,
        verify: str | None = None,
        timeout: float | tuple[float, float] = (10.0, 65.0),
        retry: RetryPolicy = _DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        self.base = f"{endpoint.rstrip('/')}/{subscription}"
        self.version = version
        self.cert = cert
        self._token = token
        # Explicit verify/cert per request: the session ignores the environment (REQUESTS_CA_BUNDLE).
        self.verify: str | bool = verify if verify else True
        self.timeout = timeout
        self.retry = retry
        self.session = session or new_session(retry, sleep=sleep, rand=rand, resend=IDEMPOTENT,
                                              on_retry=self._count_retry, pool_maxsize=10)
        #: Counters for tests: requests sent (retries included) and retries.
        self.sent = 0
        self.retries = 0

    def _count_retry(self) -> None:
        self.sent += 1
        self.retries += 1

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
        what: str = "",
    ) -> Reply:
        """Send one logical request; a status outside ``ok`` raises a translated ``ProviderError``.

        ``Reply.attempts``: how many tries it took (a DELETE answered 404 after a lost answer was
        probably ours).
        """
        url = self.base + path
        headers = {"x-ms-version": self.version, "Accept": "application/xml"}
        if body is not None:
            headers["Content-Type"] = "application/xml"
        if self._token and not self.cert:
            headers["Authorization"] = f"Bearer {self._token}"
        self.sent += 1
        raw = send(self.session, method, url, what=what, tls_hint=_TLS_HINT, params=params, data=body,
                   headers=headers, timeout=self.timeout, cert=self.cert, verify=self.verify)
        with raw:
            status, content = raw.status_code, raw.content
            rid = raw.headers.get("x-ms-request-id", "")
            tries = attempts_of(raw)
        if status in ok:
            return Reply(status, content, rid, tries)
        raise translate(status, content, rid, what=what)

    def operation_status(self, path: str, *, what: str) -> lro.Response:
        """``GET /operations/{id}`` as ``lro`` reads a status resource: ``{status, error}`` in the
        body, the operation's id as ``x-ms-request-id`` and, once it ended, the HTTP status it
        ended with (``<HttpStatusCode>``) as the response's status."""
        reply = self.request("GET", path, ok=(200,), what=f"{what} (status)")
        request_id = path.rsplit("/", 1)[-1]
        try:
            op = wire.operation(reply.body)
        except wire.WireError as e:
            raise ProviderError(f"{what}: {e}", code="BadResponse", request_id=request_id) from e
        body: dict[str, Any] = {"status": op.status}
        if op.status.casefold() == "failed":
            body["error"] = {"code": op.code or "OperationFailed",
                             "message": f"the operation failed: {op.message or 'no message'}"}
        return lro.Response(op.http_status or reply.status, {"x-ms-request-id": request_id}, body, self.base + path)


def translate(status: int, body: bytes, request_id: str, *, what: str = "") -> ProviderError:
    """An error answer as ``ProviderError``: ``ResourceNotFound``/404 is ``NotFound``."""
    code, message = wire.error_of(body)
    message = message or f"HTTP {status}"
    text = f"{what}: {message}" if what else message
    retryable = status in RETRY_STATUSES or code in ("ServerBusy", "InternalError", "OperationTimedOut")
    hint = ""
    if status == 403 or code in ("ForbiddenError", "AuthenticationFailed"):
        hint = ("the management certificate (or token) was refused: upload the certificate to the subscription, "
                "check settings.certificate / settings.publish_settings and settings.subscription")
    elif code == "MissingOrIncorrectVersionHeader":
        hint = "set settings.x_ms_version to a date the service supports (YYYY-MM-DD, default 2014-10-01)"
    elif status == 409:
        hint = "another image of that name exists, or a conflicting operation is running; plan again"
    cls = NotFound if status == 404 or code == "ResourceNotFound" else ProviderError
    return cls(text, status=status, code=code or f"HTTP{status}", request_id=request_id, retryable=retryable,
               hint=hint)


# --------------------------------------------------------------------------------------------------
# Credentials


@dataclass
class Credentials:
    """Resolved auth: a PEM path for the client certificate, or a token; ``cleanup`` removes temp files."""

    endpoint: str
    subscription: str
    cert: str | None = None
    token: str | None = None
    _temp: str | None = None

    def cleanup(self) -> None:
        if self._temp is not None:
            Path(self._temp).unlink(missing_ok=True)
            self._temp = None


def credentials(settings: Mapping[str, Any], env: Mapping[str, str]) -> Credentials:
    """Auth from settings (``certificate`` PEM, or ``publish_settings``) or ``AZURE_ACCESS_TOKEN``.

    A ``.publishsettings`` file supplies the subscription and endpoint too, unless the settings
    name them; its PKCS#12 certificate is written to a private temporary PEM (``requests`` needs a
    file) that ``Credentials.cleanup`` removes when the provider closes.

    The endpoint (settings, the file's ``Url``/``ServiceManagementUrl``, or the ``cloud``'s) must
    be the selected cloud's Service Management endpoint, loopback or a host in
    ``RECONCILER_TRUSTED_ENDPOINTS``: the certificate or token goes there. The file's URL is only
    known now, so this is where it is checked (``validate`` checks ``settings.endpoint``).
    """
    cloud = get_cloud(settings.get("cloud"))
    trusted = parse_trusted_hosts(env.get(TRUSTED_ENV))
    endpoint = str(settings.get("endpoint") or "")
    source = "catalog.endpoint"
    subscription = str(settings.get("subscription") or "")
    cert = str(settings["certificate"]) if settings.get("certificate") else None
    temp = None
    if settings.get("publish_settings"):
        path = str(settings["publish_settings"])
        try:
            profiles = wire.publish_profiles(Path(path).read_bytes())
        except OSError as e:
            raise ProviderError(f"cannot read publish settings file {path}: {e.strerror}", code="Config") from e
        except wire.WireError as e:
            raise ProviderError(f"{path} is not a .publishsettings file: {e}", code="Config") from e
        chosen = [p for p in profiles if not subscription or p.subscription.casefold() == subscription.casefold()]
        if not chosen:
            raise ProviderError(
                f"{path} has no subscription {subscription!r}", code="Config",
                hint="set settings.subscription to one of: " + ", ".join(p.subscription for p in profiles),
            )
        profile = chosen[0]
        subscription = subscription or profile.subscription
        if not endpoint and profile.url:
            endpoint, source = profile.url, f"the ServiceManagementUrl of the publish settings file {path}"
        check_target(endpoint or cloud.classic, setting=source, cloud=cloud, trusted_hosts=trusted, kind="classic")
        if not cert and profile.certificate:
            temp = _pem_from_pkcs12(profile.certificate, path)
            cert = temp
    if not subscription:
        raise ProviderError(
            "the azure-classic provider needs a subscription id", code="Config",
            hint="set catalog.subscription (or AZURE_SUBSCRIPTION_ID), or give settings.publish_settings",
        )
    endpoint = endpoint or cloud.classic
    try:
        check_target(endpoint, setting=source, cloud=cloud, trusted_hosts=trusted, kind="classic")
        token = clean_token(env.get("AZURE_ACCESS_TOKEN"))
    except BaseException:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        raise
    return Credentials(endpoint, subscription, cert, token, temp)


def _pem_from_pkcs12(b64: str, source: str) -> str:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ModuleNotFoundError as e:  # pragma: no cover - depends on the installation
        raise ProviderError(
            "reading a .publishsettings certificate needs the 'cryptography' package", code="Config",
            hint="pip install 'reconciler[azure]', or convert it to PEM and set settings.certificate",
        ) from e
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(b64), None)
    except ValueError as e:
        raise ProviderError(f"the ManagementCertificate in {source} cannot be read: {e}", code="Config") from e
    if key is None or cert is None:
        raise ProviderError(f"the ManagementCertificate in {source} has no key or certificate", code="Config")
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, path = tempfile.mkstemp(prefix="reconciler-classic-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)
    return path
