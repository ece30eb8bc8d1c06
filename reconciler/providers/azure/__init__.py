"""The ``azure`` provider: Azure Resource Manager over HTTPS with ``requests``.

Layer: edge (provider). Never prints, never reads the process environment itself:
``open_provider`` receives ``env`` from the CLI for credentials only. Importing the package is cheap
(the registry imports it to validate a file): ``requests`` comes with ``backend``, on first use.

Two modes, chosen by the ``gallery`` setting (``modes.scope_class``, the only place that looks):

* **managed-image mode** (no ``gallery``, ``managed.py``): each image is a
  ``Microsoft.Compute/images`` resource in ``resource_group``. Only tags can change in place, so
  every product field that is not part of the image itself (family, label, description,
  recommended VM size, markers) is a tag.
* **gallery mode** (``gallery`` set, ``gallery.py``): each image is an Azure Compute Gallery image
  *version*, named ``<definition>/<X.Y.Z>``; the definition is the family. A missing definition
  is created on the first capture into it. Tags, target regions, replica count, end-of-life date
  and exclude-from-latest change in place.

The package:

==============  ===================================================================================
``caps.py``     capabilities per mode, settings and their validate-time checks (pure)
``checks.py``   plan-time preconditions of a capture: shared, then the mode's (pure)
``markers.py``  the marker tags and ARM's tag limits (constants)
``mapping.py``  ARM JSON <-> model for what both modes share: tags, the common image fields, VMs (pure)
``scope.py``    ``Scope``: one small object per mode (paths, api-version, bodies, fields); ``Arm``
``managed.py``  the managed-image scope and the mapping of its resource
``gallery.py``  the gallery scope, its mapping and checks, ``GalleryDefinition`` facts
``versions.py`` gallery versions: replication, safety profile, state, declared vs live (pure)
``modes.py``    which scope the settings select
``auth.py``     the bearer token and where it may be sent
``backend.py``  the raw primitives over the scope and the VM power steps; ``AzureProvider``
==============  ===================================================================================

Markers (tags; the ``reconciler-`` prefix is reserved, user tags may not use it):

==============================  ===================================================================
``reconciler-catalog``          ownership: the catalog name. Nothing without it is ever changed.
``reconciler-protect``          ``"true"``: never removed or replaced until a plan drops it first.
``reconciler-family``           family (managed mode; in gallery mode the definition is the family)
``reconciler-label``            label
``reconciler-description``      description
``reconciler-recommended-vm-size``  recommended VM size
``reconciler-type``             ``os`` / ``vm`` as declared (a VM image of a VM without data disks
                                looks like an OS image otherwise)
``reconciler-source-vm``        the source VM's name (an OS-only managed image is captured from the
                                VM's OS disk, so ARM does not record the VM)
``reconciler-fields``           the provider ``extra`` fields the file declared, comma separated:
                                only those are read back, so an undeclared service default never
                                shows up as a difference
==============================  ===================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...model import CatalogConfig, ImageSpec
from ..clouds import TRUSTED_ENV, check_target, get_cloud, parse_trusted_hosts
from . import gallery, managed, mapping, markers
from .auth import ARM_SCOPE, DEFAULT_ENDPOINT, check_endpoint, token_provider
from .caps import CONSUMES_VM, ENVIRONMENT, NAME, SETTINGS, capabilities, check_settings
from .checks import plan_checks
from .gallery import *  # noqa: F403 (the package re-exports what the module exports: its __all__)
from .managed import *  # noqa: F403
from .mapping import COMPUTE_API, fingerprint, user_tags, vm_from_resource
from .markers import *  # noqa: F403
from .modes import scope_class
from .scope import Scope

if TYPE_CHECKING:
    from ..http.transport import RetryPolicy
    from .backend import AzureBackend, AzureProvider

#: Imported on first use: they need ``requests`` (``backend``), which validating a file never does.
_LAZY = frozenset({"AzureBackend", "AzureProvider"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import backend  # noqa: PLC0415

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_tags(spec: ImageSpec, owner: str, *, gallery: bool = False) -> dict[str, str]:
    """The full tag set an image of ``spec`` carries in the mode ``gallery`` selects."""
    mode = scope_class({"gallery": gallery})
    return mapping.build_tags(spec, owner, family_tag=mode.family_tag, declarable=mode.image_fields)


def open_provider(
    config: CatalogConfig,
    *,
    env: Mapping[str, str],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] | None = None,
    retry: RetryPolicy | None = None,
    wall: Callable[[], float] = time.time,
) -> AzureProvider:
    """Open the azure catalog ``config`` describes. No request is sent until the first operation.

    ``clock``/``sleep``/``rand``/``retry``/``wall`` (epoch seconds, for token expiry) exist for
    tests and benchmarks; the CLI passes only
    ``env`` (for ``AZURE_ACCESS_TOKEN``; azure-identity reads its own variables).
    """
    from ..http.transport import Transport  # noqa: PLC0415 (requests: only once a catalog is opened)
    from .backend import AzureProvider  # noqa: PLC0415

    cloud = get_cloud(config.settings.get("cloud"))
    # Defence in depth: validate refused these already, but a caller may skip validate.
    trusted = parse_trusted_hosts(env.get(TRUSTED_ENV))
    endpoint = check_endpoint(str(config.settings.get("endpoint") or cloud.arm), cloud=cloud, trusted_hosts=trusted)
    if config.settings.get("lock_endpoint"):
        check_target(str(config.settings["lock_endpoint"]), setting="catalog.lock_endpoint", cloud=cloud,
                     trusted_hosts=trusted, kind="blob")
    token = token_provider(env, cloud=cloud, wall=wall)
    kw: dict[str, Any] = {"sleep": sleep, "clock": clock}
    if rand is not None:
        kw["rand"] = rand
    if retry is not None:
        kw["retry"] = retry
    transport = Transport(endpoint, token=token, user_agent="reconciler-azure", **kw)
    return AzureProvider(config, transport, clock=clock, sleep=sleep, env=env, wall=wall)


__all__ = [
    "ARM_SCOPE",
    "AzureBackend",
    "AzureProvider",
    "COMPUTE_API",
    "CONSUMES_VM",
    "DEFAULT_ENDPOINT",
    "ENVIRONMENT",
    "NAME",
    "SETTINGS",
    "Scope",
    "build_tags",
    "capabilities",
    "check_endpoint",
    "check_settings",
    "fingerprint",
    "open_provider",
    "plan_checks",
    "scope_class",
    "token_provider",
    "user_tags",
    "vm_from_resource",
]
__all__ += gallery.__all__
__all__ += managed.__all__
__all__ += markers.__all__
