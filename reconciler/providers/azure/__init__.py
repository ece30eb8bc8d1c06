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
``mapping.py``  ARM JSON <-> model for what both modes share: markers, tags, VMs (pure)
``scope.py``    ``Scope``: one small object per mode (paths, api-version, bodies, fields); ``Arm``
``managed.py``  the managed-image scope and the mapping of its resource
``gallery.py``  the gallery scope, its mapping and checks, ``GalleryDefinition`` facts
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
from . import mapping
from .auth import ARM_SCOPE, DEFAULT_ENDPOINT, check_endpoint, token_provider
from .caps import CONSUMES_VM, ENVIRONMENT, NAME, SETTINGS, capabilities, check_settings
from .checks import plan_checks
from .gallery import (
    DEFINITION_FIELDS,
    GALLERY_API,
    GALLERY_FIELDS,
    GALLERY_MUTABLE_EXTRA,
    GALLERY_NAME_HINT,
    GALLERY_NAME_PATTERN,
    GalleryDefinition,
    GalleryScope,
    image_from_version,
    split_gallery_name,
)
from .managed import MANAGED_FIELDS, ManagedScope, image_from_managed
from .mapping import (
    COMPUTE_API,
    MAX_TAG_NAME,
    MAX_TAG_VALUE,
    MAX_TAGS,
    PREFIX,
    TAG_DESCRIPTION,
    TAG_FAMILY,
    TAG_FIELDS,
    TAG_LABEL,
    TAG_LOCK,
    TAG_OWNER,
    TAG_PROTECT,
    TAG_SIZE,
    TAG_SOURCE_VM,
    TAG_TYPE,
    fingerprint,
    user_tags,
    vm_from_resource,
)
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
) -> AzureProvider:
    """Open the azure catalog ``config`` describes. No request is sent until the first operation.

    ``clock``/``sleep``/``rand``/``retry`` exist for tests and benchmarks; the CLI passes only
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
    token = token_provider(env, cloud=cloud)
    kw: dict[str, Any] = {"sleep": sleep, "clock": clock}
    if rand is not None:
        kw["rand"] = rand
    if retry is not None:
        kw["retry"] = retry
    transport = Transport(endpoint, token=token, user_agent="reconciler-azure", **kw)
    return AzureProvider(config, transport, clock=clock, sleep=sleep, env=env)


__all__ = [
    "ARM_SCOPE",
    "AzureBackend",
    "AzureProvider",
    "COMPUTE_API",
    "CONSUMES_VM",
    "DEFAULT_ENDPOINT",
    "DEFINITION_FIELDS",
    "ENVIRONMENT",
    "GALLERY_API",
    "GALLERY_FIELDS",
    "GALLERY_MUTABLE_EXTRA",
    "GALLERY_NAME_HINT",
    "GALLERY_NAME_PATTERN",
    "GalleryDefinition",
    "GalleryScope",
    "MANAGED_FIELDS",
    "MAX_TAGS",
    "MAX_TAG_NAME",
    "MAX_TAG_VALUE",
    "ManagedScope",
    "NAME",
    "PREFIX",
    "SETTINGS",
    "Scope",
    "TAG_DESCRIPTION",
    "TAG_FAMILY",
    "TAG_FIELDS",
    "TAG_LABEL",
    "TAG_LOCK",
    "TAG_OWNER",
    "TAG_PROTECT",
    "TAG_SIZE",
    "TAG_SOURCE_VM",
    "TAG_TYPE",
    "build_tags",
    "capabilities",
    "check_endpoint",
    "check_settings",
    "fingerprint",
    "image_from_managed",
    "image_from_version",
    "open_provider",
    "plan_checks",
    "scope_class",
    "split_gallery_name",
    "token_provider",
    "user_tags",
    "vm_from_resource",
]
