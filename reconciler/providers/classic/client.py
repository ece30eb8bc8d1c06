"""HTTP for the ``azure-classic`` provider: one session, ``x-ms-version``, auth, retries, operation polling.

Layer: edge. One of the modules allowed to import ``requests``. Every failure leaves here as one
``errors.ProviderError`` (``NotFound``, ``OperationFailed``, ``OperationTimeout``) with the cause
chained and the service's ``<Error><Code>``, message and ``x-ms-request-id``.

Why not ``providers.transport.Transport``: it speaks JSON (bodies, ``Accept``, ARM error bodies);
this API speaks XML. The retry rules are the same ones (its ``RetryPolicy`` and ``lro.retry_after``
are reused): 429 and 5xx are retried with backoff honouring ``Retry-After``; connection errors are
retried for GET/PUT/DELETE, but a POST (a capture) only when the connection was never made, so a
capture the service may already have started is not sent twice. A connection that cannot be made
at all (refused, name not resolved, connect timeout) gets the short budget of
``RetryPolicy.connect_attempts`` (3 tries, ~3 s), one WARNING line on ``reconciler.http`` each.
Error messages name the request and the exception's type, never its text (it can quote a header).
"""

from __future__ import annotations

import base64
import logging
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

from ...errors import NotFound, OperationFailed, OperationTimeout, ProviderError
from ...lro import retry_after
from ..clouds import TRUSTED_ENV, check_target, clean_token, get_cloud, parse_trusted_hosts
from ..transport import RETRY_STATUSES, RetryPolicy, unreachable
from . import wire

log = logging.getLogger("reconciler.http")

#: The public cloud's Service Management endpoint; ``cloud`` selects another (``providers/clouds.py``).
DEFAULT_ENDPOINT = "https://management.core.windows.net"
DEFAULT_VERSION = "2014-10-01"
_DEFAULT_RETRY = RetryPolicy()


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
    """XML requests to ``{endpoint}/{subscription}/...`` with auth and retries in one place.

    ``cert``: a PEM file holding the management certificate and its key (mutual TLS).
    ``token``: a bearer token, used when there is no certificate. ``verify``: CA bundle path for
    the endpoint (None: the system store). ``sleep``/``clock``/``rand`` are injected for tests.
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
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        self.base = f"{endpoint.rstrip('/')}/{subscription}"
        self.version = version
        self.cert = cert
        self._token = token
        self.verify: str | bool = verify if verify else True
        self.timeout = timeout
        self.retry = retry
        self.sleep, self.clock, self.rand = sleep, clock, rand
        self.session = session or requests.Session()
        # Explicit verify/cert per request: the environment's REQUESTS_CA_BUNDLE would otherwise
        # override a session setting, and proxies are the shell's business.
        self.session.trust_env = False
        self.sent = 0

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
        """Send one logical request; a status outside ``ok`` raises a translated ``ProviderError``."""
        url = self.base + path
        headers = {"x-ms-version": self.version, "Accept": "application/xml"}
        if body is not None:
            headers["Content-Type"] = "application/xml"
        if self._token and not self.cert:
            headers["Authorization"] = f"Bearer {self._token}"
        attempt = 0
        cannot_connect = 0
        where = f"{method} {path.split('?', 1)[0]}"
        while True:
            attempt += 1
            self.sent += 1
            try:
                raw = self.session.request(
                    method, url, params=params, data=body, headers=headers, timeout=self.timeout,
                    cert=self.cert, verify=self.verify, allow_redirects=False,
                )
            except requests.exceptions.SSLError as e:
                raise ProviderError(
                    f"{what}: TLS with {self.base} failed: {e.__class__.__name__}", code="TLSError",
                    hint="check the management certificate and, for a private endpoint, settings.ca_bundle",
                ) from e
            except (requests.ConnectionError, requests.Timeout) as e:
                reason = unreachable(e)
                if reason is not None:
                    # Nothing was sent: safe to retry even a POST, but only briefly.
                    cannot_connect += 1
                    budget = min(self.retry.connect_attempts, self.retry.max_attempts)
                    if cannot_connect >= budget:
                        raise ProviderError(
                            f"{what}: cannot reach {self.base}: {reason} after {cannot_connect} attempts ({where})",
                            code="ConnectionError", retryable=True,
                            hint="check catalog.endpoint and that the service is up and reachable from here",
                        ) from e
                    delay = self.retry.connect_delay(cannot_connect, self.rand)
                    log.warning("%s: cannot connect to %s (%s), retrying in %.1f s (attempt %d of %d)", what,
                                self.base, reason, delay, cannot_connect, budget)
                    self.sleep(delay)
                    continue
                err = ProviderError(
                    f"{what}: cannot reach {self.base}: {type(e).__name__} after {attempt} attempts ({where})",
                    code="ConnectionError", retryable=True,
                )
                if attempt >= self.retry.max_attempts or method == "POST":
                    raise err from e
                self._backoff(attempt, None)
                continue
            except requests.exceptions.InvalidHeader:
                # Its text quotes the header value (a token): neither shown nor chained.
                raise ProviderError(
                    f"{what}: {where} failed: a request header has an invalid value (InvalidHeader)",
                    code="RequestError",
                    hint="check the credentials in the environment (AZURE_ACCESS_TOKEN) for stray characters",
                ) from None
            except requests.RequestException as e:
                raise ProviderError(f"{what}: {where} failed: {type(e).__name__}", code="RequestError") from e
            with raw:
                status, content = raw.status_code, raw.content
                headers_in = {k.lower(): v for k, v in raw.headers.items()}
            rid = headers_in.get("x-ms-request-id", "")
            if status in ok:
                return Reply(status, content, rid, attempt)
            if status in RETRY_STATUSES and attempt < self.retry.max_attempts:
                hinted = retry_after(headers_in)
                if hinted is None or hinted <= self.retry.max_retry_after:
                    self._backoff(attempt, hinted)
                    continue
            raise translate(status, content, rid, what=what, attempts=attempt)

    def _backoff(self, attempt: int, hinted: float | None) -> None:
        if hinted is not None:
            delay = hinted
        else:
            delay = self.rand() * min(self.retry.cap, self.retry.base * (2 ** (attempt - 1)))
        self.sleep(delay)

    def wait(self, request_id: str, *, interval: float, deadline: float, what: str,
             on_poll: Callable[[int], None] | None = None) -> wire.OperationStatus:
        """Poll ``GET /operations/{id}`` until Succeeded (returned) or Failed (``OperationFailed``)."""
        if not request_id:
            raise ProviderError(f"{what}: the service returned no x-ms-request-id to poll", code="BadResponse")
        give_up = self.clock() + deadline
        polls = 0
        while True:
            reply = self.request("GET", f"/operations/{request_id}", ok=(200,), what=f"{what} (status)")
            polls += 1
            try:
                op = wire.operation(reply.body)
            except wire.WireError as e:
                raise ProviderError(f"{what}: {e}", code="BadResponse", request_id=request_id) from e
            if on_poll is not None:
                on_poll(polls)
            state = op.status.casefold()
            if state == "succeeded":
                return op
            if state == "failed":
                raise OperationFailed(
                    f"{what}: the operation failed: {op.message or 'no message'}",
                    status=op.http_status, code=op.code or "OperationFailed", request_id=request_id,
                )
            if self.clock() >= give_up:
                raise OperationTimeout(
                    f"{what}: still {op.status or 'in progress'} after {deadline:g}s",
                    code="OperationTimedOut", request_id=request_id, retryable=False,
                    hint="raise settings.timeout, or check the operation in the portal; plan again to see what is left",
                )
            self.sleep(interval)


def translate(status: int, body: bytes, request_id: str, *, what: str = "", attempts: int = 1) -> ProviderError:
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
