"""Where a credential may be sent: the known Azure clouds, loopback, and hosts the operator trusts.

Layer: pure (no I/O, no ``requests``, never reads the environment). Used at ``validate`` time by
the providers' settings checks and again when a provider opens (defence in depth), by ``azure``,
``azure-classic`` and the Blob lock alike, so the rule lives in one place:

* a credential (bearer token, management certificate, storage key or token) goes only to an
  endpoint of the **selected** cloud (ARM, classic Service Management or ``*.blob.<suffix>``),
  to a **loopback** address (127.0.0.0/8, ::1, ``localhost``; the emulators), or to a host the
  operator listed in ``RECONCILER_TRUSTED_ENDPOINTS`` (``cli/env.py`` reads it and hands it down; it
  never comes from the desired-state file, so a pull request cannot widen it);
* plain ``http`` only to loopback: a trusted host still needs ``https``.

Only the selected cloud's endpoints are accepted, not all three clouds': the token is requested
for that cloud's audience, so another cloud's endpoint could not use it anyway, and the mismatch
gets a precise message ("set cloud: usgov") instead of a 401 at plan time.

Endpoints (evidence): the ARM endpoints and token scopes are those of ``azure-mgmt-core``'s
``get_arm_endpoints`` (``azure/mgmt/core/tools.py``: management.azure.com,
management.usgovcloudapi.net with scope management.core.usgovcloudapi.net/.default,
management.chinacloudapi.cn) and of the Azure SDK for Rust ``resource_manager_endpoint``
constants; the authority hosts are azure-identity's ``AzureAuthorityHosts``
(login.microsoftonline.com, login.microsoftonline.us, login.chinacloudapi.cn); the classic
Service Management and Blob endpoints are those of the Azure national-cloud documentation
(learn.microsoft.com: "Microsoft Entra authentication & national clouds", "Azure Government
developer guide" endpoint mapping: management.core.usgovcloudapi.net, blob.core.usgovcloudapi.net;
"Azure China developer guide": management.core.chinacloudapi.cn, blob.core.chinacloudapi.cn) and
of azure-identity's interactive scopes for classic management (``_internal/interactive.py``).
Azure Resource Graph (the consumers of an image, issue 11 §4) is served by the same ARM endpoint
(``POST {arm}/providers/Microsoft.ResourceGraph/resources``, shared/azure-rest/CONTRACT.md §10.2)
with the same token, so the ARM rule covers it: no host of its own is trusted.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ..errors import ReconcilerError

#: The environment variable ``operations.Environment`` takes the trusted hosts from (comma separated).
TRUSTED_ENV = "RECONCILER_TRUSTED_ENDPOINTS"

Kind = Literal["arm", "classic", "blob"]


@dataclass(frozen=True)
class Cloud:
    """One Azure cloud instance.

    ``arm``: the Resource Manager endpoint; ``scope``: the ARM token scope (audience + /.default);
    ``authority``: the Entra ID authority host for azure-identity; ``classic``: the Service
    Management endpoint; ``blob_suffix``: storage accounts' Blob hosts are ``<account>.<suffix>``.
    """

    name: str
    title: str
    arm: str
    scope: str
    authority: str
    classic: str
    blob_suffix: str


CLOUDS: dict[str, Cloud] = {
    c.name: c
    for c in (
        Cloud("public", "Azure public cloud", "https://management.azure.com",
              "https://management.azure.com/.default", "login.microsoftonline.com",
              "https://management.core.windows.net", "blob.core.windows.net"),
        Cloud("usgov", "Azure US Government", "https://management.usgovcloudapi.net",
              "https://management.core.usgovcloudapi.net/.default", "login.microsoftonline.us",
              "https://management.core.usgovcloudapi.net", "blob.core.usgovcloudapi.net"),
        Cloud("china", "Azure operated by 21Vianet (China)", "https://management.chinacloudapi.cn",
              "https://management.chinacloudapi.cn/.default", "login.chinacloudapi.cn",
              "https://management.core.chinacloudapi.cn", "blob.core.chinacloudapi.cn"),
    )
}
DEFAULT_CLOUD = "public"

#: The setting each kind of endpoint is configured by, for messages.
_WHAT = {"arm": "ARM endpoint", "classic": "Service Management endpoint", "blob": "Blob endpoint"}
_ACCOUNT_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def cloud_problem(name: object) -> str | None:
    """Why ``name`` is not a known cloud (with "did you mean"), or None."""
    if isinstance(name, str) and name in CLOUDS:
        return None
    close = difflib.get_close_matches(str(name), list(CLOUDS), n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown cloud '{name}': {hint}use one of: {', '.join(CLOUDS)}"


def get_cloud(name: object) -> Cloud:
    """The cloud named ``name`` (None or "" is the default); ``ReconcilerError`` when unknown."""
    if name is None or name == "":
        return CLOUDS[DEFAULT_CLOUD]
    problem = cloud_problem(name)
    if problem is not None:
        raise ReconcilerError(problem, "set catalog.cloud (or RECONCILER_CLOUD) to public, usgov or china")
    return CLOUDS[str(name)]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost`` (the emulators' addresses)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_trusted_hosts(value: str | None) -> tuple[str, ...]:
    """``RECONCILER_TRUSTED_ENDPOINTS`` as normalised ``host`` / ``host:port`` entries.

    Comma separated, blanks ignored; ``https://host[:port][/]`` is accepted and reduced to its
    authority. Anything else (a path, a wildcard, user info) raises ``ReconcilerError``: a typo
    here must not silently trust or distrust a host.
    """
    out: list[str] = []
    for raw in (value or "").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        text = entry
        if "://" in text:
            scheme, _, text = text.partition("://")
            if scheme != "https":
                raise ReconcilerError(
                    f"{TRUSTED_ENV} entry '{raw.strip()}' is not a host",
                    f"list host names or host:port, comma separated, e.g. {TRUSTED_ENV}=arm.example.net",
                )
            text = text.rstrip("/")
        try:
            parts = urlsplit("//" + text)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            host, port = "", None
        valid = bool(host) and not parts.username and not parts.path and not parts.query and not parts.fragment
        if valid:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                valid = bool(_HOST_RE.match(host))
        if not valid:
            raise ReconcilerError(
                f"{TRUSTED_ENV} entry '{raw.strip()}' is not a host or host:port",
                f"list host names or host:port, comma separated (no wildcards, no paths), "
                f"e.g. {TRUSTED_ENV}=arm.example.net,blob.example.net:8443",
            )
        out.append(f"[{host}]:{port}" if ":" in host and port else (f"{host}:{port}" if port else host))
    return tuple(out)


def _trusted(host: str, port: int, trusted_hosts: Iterable[str]) -> bool:
    for entry in trusted_hosts:
        try:
            parts = urlsplit("//" + entry.strip().lower())
            t_host, t_port = parts.hostname or "", parts.port
        except ValueError:
            continue
        if t_host == host and (t_port is None or t_port == port):
            return True
    return False


def _known_host(host: str, cloud: Cloud, kind: Kind) -> bool:
    if kind == "blob":
        label, dot, rest = host.partition(".")
        return bool(dot) and rest == cloud.blob_suffix and bool(_ACCOUNT_LABEL.match(label))
    base = cloud.arm if kind == "arm" else cloud.classic
    return host == (urlsplit(base).hostname or "")


def _other_cloud(host: str, cloud: Cloud, kind: Kind) -> Cloud | None:
    for other in CLOUDS.values():
        if other.name != cloud.name and _known_host(host, other, kind):
            return other
    return None


def credential_target_problem(
    url: str,
    *,
    cloud: Cloud | str | None = None,
    trusted_hosts: Iterable[str] = (),
    kind: Kind,
) -> str | None:
    """Why a credential must not be sent to ``url`` (one sentence), or None when it may.

    ``kind`` names the service (``arm``, ``classic``, ``blob``) whose endpoints of ``cloud`` are
    allowed; loopback (any scheme) and ``trusted_hosts`` (https only; an entry without a port
    matches any port) are allowed for every kind. Pure.
    """
    c = cloud if isinstance(cloud, Cloud) else get_cloud(cloud)
    what = _WHAT[kind]
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return f"{what} '{url}' is not a valid URL"
    if scheme not in ("http", "https") or not host:
        return f"{what} '{url}' is not an http(s) URL"
    if parts.username or parts.password:
        return f"{what} '{url}' carries user information; credentials never go in a URL"
    if is_loopback(host):
        return None
    if scheme != "https":
        return f"{what} '{url}' uses plain http to a host that is not loopback: the credential would travel in clear"
    effective_port = port or 443
    if _trusted(host, effective_port, trusted_hosts):
        return None
    if _known_host(host, c, kind) and effective_port == 443:
        return None
    other = _other_cloud(host, c, kind)
    if other is not None and effective_port == 443:
        return (f"{what} '{url}' belongs to the {other.title} (cloud: {other.name}), "
                f"but the selected cloud is {c.name}")
    allowed = f"{c.arm}" if kind == "arm" else (c.classic if kind == "classic" else f"https://<account>.{c.blob_suffix}")
    return (f"{what} '{url}' is not an endpoint of the {c.title} ({allowed}), not loopback and not in "
            f"{TRUSTED_ENV}: refusing to send credentials there")


def target_hint(setting: str) -> str:
    """The one-line hint that goes with a ``credential_target_problem``."""
    return (f"leave {setting} out and use the cloud setting (public, usgov, china); if this host is yours, "
            f"set {TRUSTED_ENV}=<host> in the CI environment (never in the file)")


def check_target(url: str, *, setting: str, cloud: Cloud | str | None, trusted_hosts: Iterable[str],
                 kind: Kind) -> None:
    """``credential_target_problem`` as a ``ReconcilerError`` (the provider's open-time check)."""
    problem = credential_target_problem(url, cloud=cloud, trusted_hosts=trusted_hosts, kind=kind)
    if problem is not None:
        raise ReconcilerError(f"{setting}: {problem}", target_hint(setting))


def clean_token(value: str | None, name: str = "AZURE_ACCESS_TOKEN") -> str | None:
    """A bearer token from the environment without surrounding whitespace (``$(az ...)`` and files
    add a newline); None when empty. A control character inside is refused with a message that
    does not show the token (it would otherwise end up in an error or a log)."""
    if value is None:
        return None
    token = value.strip()
    if not token:
        return None
    bad = next((i for i, ch in enumerate(token) if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F), None)
    if bad is not None:
        raise ReconcilerError(
            f"{name} contains a control character (at position {bad + 1} of {len(token)})",
            f"set {name} to the bare token, e.g. {name}=$(az account get-access-token --query accessToken -o tsv)",
        )
    if not token.isascii():
        raise ReconcilerError(
            f"{name} contains a non-ASCII character",
            f"set {name} to the bare token (a JWT is ASCII only)",
        )
    return token


__all__ = [
    "CLOUDS",
    "Cloud",
    "DEFAULT_CLOUD",
    "TRUSTED_ENV",
    "check_target",
    "clean_token",
    "cloud_problem",
    "credential_target_problem",
    "get_cloud",
    "is_loopback",
    "parse_trusted_hosts",
    "target_hint",
]
