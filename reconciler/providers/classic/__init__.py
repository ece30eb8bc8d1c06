"""``catalog.provider: azure-classic``: the classic Service Management API (OS images and VM images).

Layer: edge (provider package). This module is the package's declaration to the registry
(``providers/registry.py``, entry point ``azure-classic``): capabilities, the schema fragment
(``schema.json``: its settings and the ``delete_media`` image field), the environment mapping and
``open_provider``. ``wire`` is the pure XML codec and marker, ``client`` the HTTP (auth,
``x-ms-version``, operation status; retries and polling are ``providers/http``'s), ``provider`` the
``Provider`` itself; ``client`` and ``provider`` (and with them ``requests``) are imported only when a
catalog is opened, so validating a file never pays for them.
See docs/azure-classic.md for the marker, VM naming and the limits of this legacy API.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...errors import ProviderError
from ...model import Capabilities, CatalogConfig, ImageType, PowerState, SettingProblem
from ..clouds import cloud_problem, credential_target_problem, get_cloud, target_hint
from ..registry import described, environment_of

if TYPE_CHECKING:
    from .provider import ClassicProvider

NAME = "azure-classic"
#: The subscription may come from the variable the azure provider reads too (the client's hint
#: names it), besides ``RECONCILER_SUBSCRIPTION``.
#: Declared in the fragment (``schema.json``, ``environment``), so the registry reads it unimported.
ENVIRONMENT: Mapping[str, str] = environment_of(__name__)

#: Catalog settings and image fields, with their descriptions: the fragment's (``schema.json``).
SETTINGS = described(__name__, "settings")
IMAGE_FIELDS = described(__name__, "image")


def capabilities(settings: Mapping[str, Any]) -> Capabilities:
    """What classic images can hold: everything Update OS/VM Image sets, plus the marker's fields."""
    return Capabilities(
        provider=NAME,
        mutable_fields=frozenset({
            "label", "description", "family", "recommended_vm_size", "tags", "protect", "extra.delete_media",
        }),
        image_types=frozenset({ImageType.OS, ImageType.VM}),
        specialized_types=frozenset({ImageType.VM}),
        capture_power_states=frozenset({PowerState.STOPPED, PowerState.DEALLOCATED}),
        generalize=False,
        vhd_source=False,
        image_fields=dict(IMAGE_FIELDS),
        settings=dict(SETTINGS),
        consumes_vm="deletes the source VM",
        set_only_fields=frozenset({"family", "recommended_vm_size"}),
        check_settings=check_settings,
    )


def check_settings(settings: Mapping[str, Any], trusted_hosts: tuple[str, ...] = ()) -> list[SettingProblem]:
    """Validate-time: ``endpoint`` must be the cloud's Service Management endpoint, loopback or
    trusted by the environment. A .publishsettings file's URL is checked when the provider opens."""
    if cloud_problem(settings.get("cloud") or "public") is not None:
        return []
    value = settings.get("endpoint")
    if not isinstance(value, str) or not value:
        return []
    problem = credential_target_problem(value, cloud=get_cloud(settings.get("cloud")),
                                        trusted_hosts=trusted_hosts, kind="classic")
    return [] if problem is None else [SettingProblem("endpoint", problem, target_hint("catalog.endpoint"))]


def _number(settings: Mapping[str, Any], key: str, default: float) -> float:
    raw = settings.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError) as e:
        raise ProviderError(f"catalog setting {key} must be a number of seconds, not {raw!r}", code="Config") from e
    if value < 0:
        raise ProviderError(f"catalog setting {key} must not be negative", code="Config")
    return value


def _ca_bundle(settings: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """``settings.ca_bundle``, else the bundle requests users name in the environment, else the default."""
    for value in (settings.get("ca_bundle"), env.get("REQUESTS_CA_BUNDLE"), env.get("CURL_CA_BUNDLE")):
        if value:
            return str(value)
    return None


def open_provider(
    config: CatalogConfig,
    *,
    env: Mapping[str, str],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ClassicProvider:
    """Open the subscription named by ``config.settings`` for catalog ``config.name`` (no request yet).

    ``sleep``/``clock`` drive retries and operation polling (tests inject fakes).
    """
    from .client import DEFAULT_VERSION, Client, credentials
    from .provider import ClassicProvider

    settings = dict(config.settings)
    creds = credentials(settings, env)
    client = Client(
        creds.endpoint,
        creds.subscription,
        version=str(settings.get("x_ms_version") or DEFAULT_VERSION),
        cert=creds.cert,
        token=creds.token,
        verify=_ca_bundle(settings, env),
        sleep=sleep,
    )
    return ClassicProvider(
        client,
        config.name,
        capabilities(settings),
        poll_interval=_number(settings, "poll_interval", 5.0),
        deadline=_number(settings, "timeout", 1800.0),
        location=str(settings.get("location") or "West US"),
        on_close=creds.cleanup,
        clock=clock,
        sleep=sleep,
    )


def __getattr__(name: str) -> Any:
    # The heavy parts, on first use: ``classic.ClassicProvider``, ``classic.client``.
    if name == "ClassicProvider":
        return importlib.import_module(f"{__name__}.provider").ClassicProvider
    if name in ("client", "provider", "wire"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENVIRONMENT",
    "IMAGE_FIELDS",
    "NAME",
    "SETTINGS",
    "ClassicProvider",
    "capabilities",
    "check_settings",
    "open_provider",
]
