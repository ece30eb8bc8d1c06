"""Authentication to ARM: the bearer token, where it may be sent, and the cloud's scope.

Layer: edge (provider). Tokens are never printed, logged or written into a plan. Which hosts a
token may travel to is decided in ``providers/clouds.py``; this module applies it to the ARM
endpoint and asks the selected cloud's authority for a token of the cloud's scope.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...errors import ProviderError, ReconcilerError
from ..clouds import Cloud, check_target, clean_token, get_cloud
from ..http.lro import Response

#: The public cloud's ARM endpoint and token scope; ``cloud`` selects another (``providers/clouds.py``).
DEFAULT_ENDPOINT = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"  # the public cloud's; token_provider uses the cloud's


def check_endpoint(endpoint: str, *, cloud: Cloud | str | None = None, trusted_hosts: tuple[str, ...] = ()) -> str:
    """The endpoint without a trailing '/', if a token may be sent there (``providers/clouds.py``):
    the cloud's ARM endpoint, loopback (plain http allowed only there) or a trusted host."""
    check_target(endpoint, setting="catalog.endpoint", cloud=cloud, trusted_hosts=trusted_hosts, kind="arm")
    return endpoint.rstrip("/")


def _default_credential(authority: str) -> Any:
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 (optional extra)

    return DefaultAzureCredential(authority=authority)


#: ARM's codes for a bearer token it will not take (``ExpiredAuthenticationToken``: "The access token
#: expiry UTC time '6/15/2026 8:22:51 AM' is earlier than current UTC time '6/15/2026 9:27:25 AM'.",
#: microsoft/foundry-dev-tools#461, microsoft/vscode-azureappservice#2483).
EXPIRED_CODE = "ExpiredAuthenticationToken"
_TOKEN_CODES = frozenset({EXPIRED_CODE, "InvalidAuthenticationToken", "InvalidAuthenticationTokenTenant"})
#: A cached token is renewed this long before it expires (azure-core's BearerTokenCredentialPolicy: 300 s).
REFRESH_MARGIN = 300.0
_RENEW_HINT = ("get a fresh one (AZURE_ACCESS_TOKEN=$(az account get-access-token --query accessToken -o tsv)); "
               "a token lives 60-90 minutes, so for longer runs (multi-region replication) sign in with "
               "az login, a service principal or workload identity instead and leave AZURE_ACCESS_TOKEN unset: "
               "those are refreshed while the run goes on")


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds) of a JWT, None when ``token`` is not one or has none.
    Only read, never verified: it dates an error message, it does not decide what is trusted."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def refused_token(resp: Response) -> bool:
    """A 401 that refuses the bearer token itself (expired or invalid), not some other 401."""
    if resp.status != 401:
        return False
    return _error_field(resp, "code") in _TOKEN_CODES or "invalid_token" in (resp.header("www-authenticate") or "")


def _error_field(resp: Response, key: str) -> str:
    """``error.<key>`` of an ARM ``CloudError`` body ("" when the body is not one)."""
    err = resp.body.get("error") if isinstance(resp.body, Mapping) else None
    return str(err.get(key) or "") if isinstance(err, Mapping) else ""


class StaticToken:
    """``AZURE_ACCESS_TOKEN``: sent as given until it expires, then a clear error naming when it did,
    before any request (JWT ``exp``) or on ARM's 401, never a loop of refused requests."""

    def __init__(self, token: str, wall: Callable[[], float], variable: str = "AZURE_ACCESS_TOKEN") -> None:
        self._token = token
        self._wall = wall
        self.variable = variable
        self.expires = jwt_expiry(token)

    def __call__(self) -> str:
        if self.expires is not None and self.expires <= self._wall():
            raise self._expired(f"expired at {utc(self.expires)}")
        return self._token

    def on_unauthorized(self, resp: Response) -> bool:
        """A refused token cannot be renewed here: say so (with its expiry), never resend."""
        if not refused_token(resp):
            return False
        lapsed = self.expires is not None and self.expires <= self._wall()
        expired = lapsed or _error_field(resp, "code") == EXPIRED_CODE
        if not expired:
            return False  # refused for another reason (audience, tenant): the usual 401 error says it
        when = f"expired at {utc(self.expires)}" if self.expires is not None else "has expired"
        said = _error_field(resp, "message")
        raise self._expired(when + (f" (Azure: {said})" if said else ""), request_id=resp.request_id)

    def _expired(self, when: str, request_id: str = "") -> ProviderError:
        hint = _RENEW_HINT if self.variable == "AZURE_ACCESS_TOKEN" else _RENEW_HINT.replace(
            "AZURE_ACCESS_TOKEN", self.variable).replace("get-access-token", "get-access-token --tenant TENANT")
        return ProviderError(f"the access token in {self.variable} {when}", status=401,
                             code="AuthenticationFailed", request_id=request_id, hint=hint)


class CredentialToken:
    """A token from an azure-identity credential: cached, and asked of ``get_token`` again
    ``REFRESH_MARGIN`` before it expires (so a run longer than a token's life keeps going) or when
    ARM refuses it as expired or invalid (once per token: the resend carries the new one)."""

    def __init__(self, factory: Callable[[str], Any], cloud: Cloud, wall: Callable[[], float],
                 tenant_id: str | None = None) -> None:
        self._factory = factory
        self._cloud = cloud
        self._wall = wall
        #: A source's tenant (issue 11 §1): the token is asked for it (``get_token(..., tenant_id=)``).
        self.tenant_id = tenant_id
        self._lock = threading.Lock()
        self._cred: Any = None
        self._token: str | None = None
        self._expires = 0.0

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or self._expires - REFRESH_MARGIN < self._wall():
                self._renew()
            assert self._token is not None
            return self._token

    def on_unauthorized(self, resp: Response) -> bool:
        """ARM refused the token: drop it so the next request asks the credential; True (resend once)."""
        if not refused_token(resp):
            return False
        with self._lock:
            self._token = None
        return True

    def _renew(self) -> None:
        try:
            if self._cred is None:
                self._cred = self._factory(self._cloud.authority)
            tok = (self._cred.get_token(self._cloud.scope, tenant_id=self.tenant_id) if self.tenant_id
                   else self._cred.get_token(self._cloud.scope))
        except Exception as e:  # azure-identity raises several unrelated types; translate once
            raise ProviderError(
                "could not get an Azure access token: "
                + ("no sign-in is available here" if "Unavailable" in type(e).__name__
                   else "the sign-in was refused" if "Authentication" in type(e).__name__
                   else "the sign-in failed")
                + (f" for tenant {self.tenant_id}" if self.tenant_id else ""),
                code="AuthenticationFailed",
                hint=(f"sign in to tenant {self.tenant_id} (az login --tenant {self.tenant_id}, or a service "
                      "principal / workload identity that tenant knows)" if self.tenant_id else
                      "log in (az login), configure a service principal / workload identity, "
                      "or set AZURE_ACCESS_TOKEN"),
            ) from e
        self._token, self._expires = str(tok.token), float(tok.expires_on)


def token_provider(
    env: Mapping[str, str],
    *,
    cloud: Cloud | None = None,
    credential_factory: Callable[[str], Any] | None = None,
    wall: Callable[[], float] = time.time,
) -> StaticToken | CredentialToken:
    """A callable returning a bearer token for ARM; its ``on_unauthorized(response)`` is the
    transport's hook for a 401 (``Transport(token=...)``).

    ``AZURE_ACCESS_TOKEN`` wins (a ready token, e.g. from ``az account get-access-token``; the
    newline such commands leave is stripped, a control character inside is refused without
    showing the token): ``StaticToken``, which cannot be renewed and says when it expired. Else
    azure-identity's ``DefaultAzureCredential`` for the ``cloud``'s authority host, asked for the
    cloud's ARM scope, created lazily on the first request: ``CredentialToken`` (the emulator wants
    a bearer token too: any value in ``AZURE_ACCESS_TOKEN`` will do there).
    ``credential_factory(authority_host)`` replaces ``DefaultAzureCredential`` and ``wall`` (epoch
    seconds) the clock in tests.
    """
    c = cloud or get_cloud(None)
    static = clean_token(env.get("AZURE_ACCESS_TOKEN"))
    if static:
        return StaticToken(static, wall)
    factory = credential_factory
    if factory is None:
        try:
            import azure.identity  # noqa: F401, PLC0415 (optional extra)
        except ImportError as e:
            raise ReconcilerError(
                "the azure provider needs azure-identity to log in (or a token in AZURE_ACCESS_TOKEN)",
                "pip install 'reconciler[azure]'",
            ) from e
        factory = _default_credential
    return CredentialToken(factory, c, wall)


# --------------------------------------------------------------------------------------------------
# A source in another tenant (issue 11 §1; docs/azure.md "Promotion across tenants")
#
# ARM's documented mechanism ("Authenticate requests across tenants", learn.microsoft.com/azure/
# azure-resource-manager/management/authenticate-multi-tenant): the request runs under the primary
# token (``Authorization``, the catalog's tenant), and a resource of another tenant named in it is
# checked against the auxiliary tokens in ``x-ms-authorization-auxiliary: Bearer <token>`` (up to
# three, each valid and unexpired; an expired one is a 401). The Compute Gallery's cross-tenant
# copy uses it ("Share gallery VM images across Azure tenants": one identity known to both tenants,
# a token from each; azure-sdk-for-js ``auxiliaryAuthenticationHeaderPolicy``; azurerm's
# ``auxiliary_tenant_ids``). Without it ARM answers ``LinkedAuthorizationFailed`` ("... however the
# current tenant '<t>' is not authorized to access linked subscription '<s>'", Azure/azure-cli#30976,
# MicrosoftDocs/azure-docs#68563) or ``InvalidAuthenticationTokenTenant``
# (Azure/azure-libraries-for-java#993).

#: The header ARM reads auxiliary (other-tenant) tokens from.
AUXILIARY_HEADER = "x-ms-authorization-auxiliary"


def source_token_variable(alias: str) -> str:
    """``RECONCILER_SOURCE_<ALIAS>_ACCESS_TOKEN``: a ready token for ``sources.<alias>``'s tenant
    (the alias upper-cased, every character other than a letter or digit an ``_``)."""
    return "RECONCILER_SOURCE_" + "".join(c if c.isascii() and c.isalnum() else "_" for c in alias).upper() \
        + "_ACCESS_TOKEN"


def cross_tenant(catalog: Mapping[str, Any], source: Mapping[str, Any]) -> str | None:
    """The tenant ``source`` (a ``sources:`` entry's settings) is in, when it names one other than the
    catalog's ``tenant_id`` (compared case-insensitively; a catalog that names none is taken to be
    elsewhere: a token and an auxiliary token for the same tenant are harmless); None otherwise."""
    theirs = str(source.get("tenant_id") or "").strip()
    if not theirs or theirs.casefold() == str(catalog.get("tenant_id") or "").strip().casefold():
        return None
    return theirs


def source_credential_problem(catalog: Mapping[str, Any], source: Mapping[str, Any], alias: str) -> str | None:
    """Why ``sources.<alias>``'s credential must not be used (one sentence), None when it may. Pure.

    The source tenant's token goes only with requests to the catalog's own ARM endpoint (whose host
    ``check_endpoint`` already allowed: the cloud's, loopback, or ``RECONCILER_TRUSTED_ENDPOINTS``):
    a source that names another ``endpoint`` or ``cloud`` is refused, so no setting in the file can
    send either token to a host of its choosing. The transport refuses absolute URLs of another
    origin (``Transport.url``), polls included."""
    for key in ("endpoint", "cloud"):
        mine, theirs = str(catalog.get(key) or "").rstrip("/"), str(source.get(key) or "").rstrip("/")
        if theirs and theirs != mine:
            return (f"source '{alias}' names {key} {source[key]!r}, not the catalog's: a source is read through the "
                    f"catalog's own {key}, its credential sent nowhere else")
    return None


def source_token_provider(
    env: Mapping[str, str],
    alias: str,
    tenant_id: str,
    *,
    cloud: Cloud | None = None,
    credential_factory: Callable[[str], Any] | None = None,
    wall: Callable[[], float] = time.time,
) -> StaticToken | CredentialToken:
    """The token for ``sources.<alias>``'s tenant: ``RECONCILER_SOURCE_<ALIAS>_ACCESS_TOKEN`` when set
    (the same hygiene as ``AZURE_ACCESS_TOKEN``: whitespace stripped, a control character refused,
    expiry checked), else the catalog's credential chain (azure-identity ``DefaultAzureCredential``)
    asked for a token of ``tenant_id`` (``get_token(scope, tenant_id=...)``, the tenant allowed with
    ``additionally_allowed_tenants``)."""
    c = cloud or get_cloud(None)
    variable = source_token_variable(alias)
    static = clean_token(env.get(variable), variable)
    if static:
        return StaticToken(static, wall, variable=variable)
    factory = credential_factory
    if factory is None:
        try:
            import azure.identity  # noqa: F401, PLC0415 (optional extra)
        except ImportError as e:
            raise ReconcilerError(
                f"source '{alias}' is in tenant {tenant_id}: reading it needs a token for that tenant",
                f"set {variable}, or pip install 'reconciler[azure]' to sign in with azure-identity",
            ) from e

        def factory(authority: str) -> Any:
            from azure.identity import DefaultAzureCredential  # noqa: PLC0415

            return DefaultAzureCredential(authority=authority, additionally_allowed_tenants=[tenant_id])

    return CredentialToken(factory, c, wall, tenant_id=tenant_id)


__all__ = ["ARM_SCOPE", "AUXILIARY_HEADER", "DEFAULT_ENDPOINT", "CredentialToken", "StaticToken", "check_endpoint",
           "cross_tenant", "jwt_expiry", "refused_token", "source_credential_problem", "source_token_provider",
           "source_token_variable", "token_provider"]
