"""Authentication to ARM: the bearer token, where it may be sent, and the cloud's scope.

Layer: edge (provider). Tokens are never printed, logged or written into a plan. Which hosts a
token may travel to is decided in ``providers/clouds.py``; this module applies it to the ARM
endpoint and asks the selected cloud's authority for a token of the cloud's scope.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ProviderError, ReconcilerError
from ..clouds import Cloud, check_target, clean_token, get_cloud

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


def token_provider(
    env: Mapping[str, str],
    *,
    cloud: Cloud | None = None,
    credential_factory: Callable[[str], Any] | None = None,
) -> Callable[[], str]:
    """A callable returning a bearer token for ARM, cached until close to expiry.

    ``AZURE_ACCESS_TOKEN`` wins (a ready token, e.g. from ``az account get-access-token``; the
    newline such commands leave is stripped, a control character inside is refused without
    showing the token); else azure-identity's ``DefaultAzureCredential`` for the ``cloud``'s
    authority host, asked for the cloud's ARM scope, created lazily on the first request (the
    emulator wants a bearer token too: any value in ``AZURE_ACCESS_TOKEN`` will do there).
    ``credential_factory(authority_host)`` replaces ``DefaultAzureCredential`` in tests.
    """
    c = cloud or get_cloud(None)
    static = clean_token(env.get("AZURE_ACCESS_TOKEN"))
    if static:
        return lambda: static
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
    lock = threading.Lock()
    state: dict[str, Any] = {"cred": None, "token": None, "expires": 0.0}

    def get() -> str:
        with lock:
            if state["token"] is None or state["expires"] - 300 < time.time():
                try:
                    if state["cred"] is None:
                        state["cred"] = factory(c.authority)
                    tok = state["cred"].get_token(c.scope)
                except Exception as e:  # azure-identity raises several unrelated types; translate once
                    raise ProviderError(
                        "could not get an Azure access token: "
                        + ("no sign-in is available here" if "Unavailable" in type(e).__name__
                           else "the sign-in was refused" if "Authentication" in type(e).__name__
                           else "the sign-in failed"),
                        code="AuthenticationFailed",
                        hint="log in (az login), configure a service principal / workload identity, "
                        "or set AZURE_ACCESS_TOKEN",
                    ) from e
                state["token"], state["expires"] = tok.token, float(tok.expires_on)
            return str(state["token"])

    return get


__all__ = ["ARM_SCOPE", "DEFAULT_ENDPOINT", "check_endpoint", "token_provider"]
