"""The ``azure`` provider: Azure Resource Manager over HTTPS with ``requests``.

Layer: edge (provider). Talks to ARM through ``providers.http.transport`` (error translation; the
retry policy is mounted on its session) and follows long-running operations with
``providers.http.lro``. Never prints, never reads the process environment itself: ``open_provider``
receives ``env`` from ``cli.py`` for credentials only.

Two modes, chosen by the ``gallery`` setting:

* **managed-image mode** (no ``gallery``): each image is a ``Microsoft.Compute/images`` resource in
  ``resource_group``. Only tags can change in place, so every product field that is not part of
  the image itself (family, label, description, recommended VM size, markers) is a tag.
* **gallery mode** (``gallery`` set): each image is an Azure Compute Gallery image *version*, named
  ``<definition>/<X.Y.Z>``; the definition is the family. A missing definition is created on the
  first capture into it. Tags, target regions, replica count, end-of-life date and
  exclude-from-latest change in place.

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

import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Unpack
from urllib.parse import quote, urlencode

from ..errors import Diagnostic, NotFound, OperationFailed, ProviderError, ReconcilerError
from ..model import (
    VM,
    Capabilities,
    CatalogConfig,
    Category,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    PowerState,
    SettingProblem,
    Snapshot,
    Source,
)
from ..rules import CaptureCheck
from . import LockHandle, LockInfo, LockWaits, StepCallback, _no_step
from .clouds import (
    TRUSTED_ENV,
    Cloud,
    check_target,
    clean_token,
    cloud_problem,
    credential_target_problem,
    get_cloud,
    parse_trusted_hosts,
    target_hint,
)
from .guard import GuardedProvider, Live, LiveVM
from .http.lro import PollPolicy, Response, wait
from .http.transport import RetryPolicy, Transport

NAME = "azure"
#: The public cloud's ARM endpoint and token scope; ``cloud`` selects another (``providers/clouds.py``).
DEFAULT_ENDPOINT = "https://management.azure.com"
COMPUTE_API = "2025-11-01"
GALLERY_API = "2025-03-03"
ARM_SCOPE = "https://management.azure.com/.default"  # the public cloud's; token_provider uses the cloud's

PREFIX = "reconciler-"
TAG_OWNER = "reconciler-catalog"
TAG_PROTECT = "reconciler-protect"
TAG_FAMILY = "reconciler-family"
TAG_LABEL = "reconciler-label"
TAG_DESCRIPTION = "reconciler-description"
TAG_SIZE = "reconciler-recommended-vm-size"
TAG_TYPE = "reconciler-type"
TAG_SOURCE_VM = "reconciler-source-vm"
TAG_FIELDS = "reconciler-fields"
TAG_LOCK = "reconciler-lock"

#: ARM limits on tags (per resource; name and value length).
MAX_TAGS = 50
MAX_TAG_VALUE = 256
MAX_TAG_NAME = 512

SETTINGS = {
    "subscription": "subscription id (GUID); env AZURE_SUBSCRIPTION_ID or RECONCILER_SUBSCRIPTION",
    "resource_group": "resource group holding the images, the source VMs and the gallery",
    "location": "region new images and definitions are created in, e.g. westeurope",
    "gallery": "Azure Compute Gallery name: switches to gallery mode (images are definition/X.Y.Z)",
    "cloud": "Azure cloud: public (default), usgov or china; selects endpoint, token scope and Blob suffix",
    "endpoint": "ARM base URL (default: the cloud's, e.g. https://management.azure.com); only the cloud's "
    "endpoint, loopback (http allowed) or a host in RECONCILER_TRUSTED_ENDPOINTS",
    "timeout": "seconds one change (all its long-running operations) may take (default 3600)",
    "poll_interval": "seconds between polls when Azure sends no Retry-After (default 5)",
    "lock_storage_account": "storage account holding the catalog lock blob (a lease on <catalog>.lock)",
    "lock_container": "blob container of the lock (default reconciler-locks)",
    "lock_endpoint": "blob endpoint of the lock (default https://<account>.blob.core.windows.net, or the "
    "cloud's Blob suffix)",
}

GALLERY_FIELDS = {
    "end_of_life_date": "YYYY-MM-DD after which the version should not be used (updatable)",
    "exclude_from_latest": "true: 'latest' never resolves to this version (updatable)",
    "target_regions": "regions to replicate to, [{name, replicas}] (updatable)",
    "replica_count": "replicas per region when a region states none (updatable)",
    "publisher": "definition identifier publisher (default: the catalog name)",
    "offer": "definition identifier offer (default: the definition name)",
    "sku": "definition identifier sku (default: the definition name)",
    "hyper_v_generation": "V1 or V2 (definition; default V1)",
}
MANAGED_FIELDS = {"hyper_v_generation": "V1 or V2 (default: deduced by Azure from the source)"}
GALLERY_MUTABLE_EXTRA = ("end_of_life_date", "exclude_from_latest", "target_regions", "replica_count")
DEFINITION_FIELDS = ("publisher", "offer", "sku", "hyper_v_generation")

_DEFINITION_RE = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9])?"
GALLERY_NAME_PATTERN = rf"^{_DEFINITION_RE}/\d{{1,9}}\.\d{{1,9}}\.\d{{1,9}}$"
GALLERY_NAME_HINT = "in gallery mode an image is <definition>/<major>.<minor>.<patch>, e.g. web-base/1.0.3"
_VHD_RE = re.compile(r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/[^/]+/.+\.vhd$", re.I)

CONSUMES_VM = "leaves the source VM generalized and unusable"


# --------------------------------------------------------------------------------------------------
# Capabilities and plan-time checks (pure)


def capabilities(settings: Mapping[str, Any]) -> Capabilities:
    """What this provider can hold in the mode ``settings`` select. Pure."""
    gallery = bool(settings.get("gallery"))
    tag_backed = {"label", "description", "recommended_vm_size", "tags", "protect"}
    if gallery:
        return Capabilities(
            provider=NAME,
            mutable_fields=frozenset(tag_backed | {f"extra.{k}" for k in GALLERY_MUTABLE_EXTRA}),
            specialized_types=frozenset({ImageType.OS, ImageType.VM}),
            capture_power_states=frozenset({PowerState.STOPPED, PowerState.DEALLOCATED}),
            generalize=True,
            vhd_source=True,
            image_fields=dict(GALLERY_FIELDS),
            settings=dict(SETTINGS),
            consumes_vm=CONSUMES_VM,
            name_pattern=GALLERY_NAME_PATTERN,
            name_hint=GALLERY_NAME_HINT,
            extra_checks=partial(plan_checks, gallery=True),
            check_settings=check_settings,
        )
    return Capabilities(
        provider=NAME,
        mutable_fields=frozenset(tag_backed | {"family"}),
        # Managed images cannot hold a specialized OS ("For managed images, use Generalized").
        specialized_types=frozenset(),
        capture_power_states=frozenset({PowerState.STOPPED, PowerState.DEALLOCATED}),
        generalize=True,
        vhd_source=True,
        image_fields=dict(MANAGED_FIELDS),
        settings=dict(SETTINGS),
        consumes_vm=CONSUMES_VM,
        name_pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$",
        name_hint="a managed image name: 1-80 letters, digits, '.', '_', '-'; no '/' outside gallery mode",
        extra_checks=partial(plan_checks, gallery=False),
        check_settings=check_settings,
    )


def check_settings(settings: Mapping[str, Any], trusted_hosts: tuple[str, ...] = ()) -> list[SettingProblem]:
    """Validate-time: ``endpoint`` and ``lock_endpoint`` must be the selected cloud's, loopback or
    trusted by the environment (``providers/clouds.py``); ``open_provider`` and the Blob lock
    check again. An unknown ``cloud`` is the schema's error; nothing else can be judged then."""
    if cloud_problem(settings.get("cloud") or "public") is not None:
        return []
    cloud = get_cloud(settings.get("cloud"))
    out = []
    for key, kind in (("endpoint", "arm"), ("lock_endpoint", "blob")):
        value = settings.get(key)
        if isinstance(value, str) and value:
            problem = credential_target_problem(value, cloud=cloud, trusted_hosts=trusted_hosts, kind=kind)
            if problem is not None:
                out.append(SettingProblem(key, problem, target_hint(f"catalog.{key}")))
    return out


def split_gallery_name(name: str) -> tuple[str, str]:
    """``web-base/1.0.3`` -> (``web-base``, ``1.0.3``); a name without '/' is (name, "")."""
    definition, _, version = name.partition("/")
    return definition, version


def plan_checks(spec: ImageSpec, snapshot: Snapshot, *, gallery: bool | None = None) -> list[Diagnostic]:
    """Azure-specific preconditions of capturing ``spec``, checked at plan time. Pure.

    Gallery mode: the definition's OS state (carried as ``extra.definition_os_state`` by every
    version of it in the snapshot) must equal the image's and the source VM's; ``family`` must be
    the definition; declared definition fields must match an existing definition. Both modes:
    reserved tag names and ARM tag limits; VHD URL form and storage account.
    """
    if gallery is None:
        gallery = "/" in spec.name
    out: list[Diagnostic] = []
    for k in spec.tags:
        if k.lower().startswith(PREFIX):
            out.append(Diagnostic.error(f"tag '{k}' uses the reserved prefix '{PREFIX}'",
                                        "rename the tag: reconciler keeps its markers under that prefix",
                                        code="azure-reserved-tag"))
        if len(k) > MAX_TAG_NAME:
            out.append(Diagnostic.error(f"tag name '{k[:40]}...' is longer than {MAX_TAG_NAME} characters",
                                        "shorten it (an Azure limit)", code="azure-tag-limit"))
    for field_name, value in _text_tags(spec).items():
        if value is not None and len(value) > MAX_TAG_VALUE:
            out.append(Diagnostic.error(
                f"{field_name} of '{spec.name}' is {len(value)} characters; Azure tags hold {MAX_TAG_VALUE}",
                f"shorten {field_name} (it is stored as a tag on the image)", code="azure-tag-limit"))
    for k, v in spec.tags.items():
        if len(v) > MAX_TAG_VALUE:
            out.append(Diagnostic.error(f"tag '{k}' of '{spec.name}' is longer than {MAX_TAG_VALUE} characters",
                                        "shorten it (an Azure limit)", code="azure-tag-limit"))
    if len(build_tags(spec, "x" * 8)) > MAX_TAGS:
        out.append(Diagnostic.error(f"'{spec.name}' would carry more than {MAX_TAGS} tags",
                                    "drop some tags: Azure allows 50 per resource, reconciler's markers included",
                                    code="azure-tag-limit"))
    if spec.source.vhd is not None:
        m = _VHD_RE.match(spec.source.vhd)
        if m is None:
            out.append(Diagnostic.error(
                f"source.vhd of '{spec.name}' is not an Azure page-blob VHD URL",
                "use https://<account>.blob.core.windows.net/<container>/<name>.vhd", code="azure-vhd-url"))
        elif spec.source.storage_account:
            account = spec.source.storage_account.rstrip("/").rsplit("/", 1)[-1]
            if account.lower() != m.group("account").lower():
                out.append(Diagnostic.error(
                    f"source.vhd of '{spec.name}' is in storage account '{m.group('account')}', "
                    f"but source.storage_account says '{account}'",
                    "make them name the same account", code="azure-vhd-account"))
        elif gallery:
            out.append(Diagnostic.error(
                f"a gallery version from a VHD needs source.storage_account ('{spec.name}')",
                "set source.storage_account to the account name or its resource id", code="azure-vhd-account"))
    if not gallery:
        return out

    definition, _ = split_gallery_name(spec.name)
    if spec.family != definition:
        # Read back, a version's family is always its definition: any other value (None included)
        # would plan a replace on every run.
        out.append(Diagnostic.error(
            f"in gallery mode the family of '{spec.name}' is its definition '{definition}', "
            f"not {repr(spec.family) if spec.family is not None else 'unset'}",
            f"set family: {definition}", code="azure-gallery-family"))
    known = _definition_facts(snapshot, definition)
    def_state = known.get("definition_os_state")
    if def_state is not None and def_state != spec.os_state.value:
        out.append(Diagnostic.error(
            f"gallery definition '{definition}' holds {def_state} images, but '{spec.name}' is {spec.os_state.value}",
            f"declare os_state: {def_state}, or use another definition (a definition's OS state cannot change)",
            code="azure-gallery-os-state"))
    for k in DEFINITION_FIELDS:
        have = known.get(f"definition_{k}")
        want = spec.extra.get(k)
        if want is not None and have is not None and want != have:
            out.append(Diagnostic.error(
                f"gallery definition '{definition}' has {k} '{have}', but '{spec.name}' declares '{want}'",
                f"declare {k}: {have} (definition fields cannot change), or use another definition",
                code="azure-gallery-definition"))
    if spec.source.vm is not None:
        vm = snapshot.vm_index().get(spec.source.vm.casefold())
        if vm is not None:
            # With source.generalize the VM will be generalized before the capture.
            vm_state = OSState.GENERALIZED if spec.source.generalize else vm.os_state
            target = def_state or spec.os_state.value
            if vm_state.value != target:
                out.append(Diagnostic.error(
                    f"source VM '{vm.name}' is {vm_state.value}, but gallery definition '{definition}' "
                    f"holds {target} images (Azure answers BadRequest)",
                    "capture from a VM in the definition's OS state, or into a definition of the VM's state",
                    code="azure-gallery-os-state"))
    return out


def _definition_facts(snapshot: Snapshot, definition: str) -> dict[str, Any]:
    prefix = definition.casefold() + "/"
    for image in snapshot.images:
        if image.key.startswith(prefix) and "definition_os_state" in image.extra:
            return {k: v for k, v in image.extra.items() if k.startswith("definition_")}
    return {}


def _text_tags(spec: ImageSpec) -> dict[str, str | None]:
    return {"label": spec.label, "description": spec.description,
            "recommended_vm_size": spec.recommended_vm_size, "family": spec.family}


# --------------------------------------------------------------------------------------------------
# Mapping between ARM resources and the model (pure)


def build_tags(spec: ImageSpec, owner: str, *, gallery: bool = False) -> dict[str, str]:
    """The full tag set an image of ``spec`` carries: user tags plus reconciler's markers."""
    tags = {k: v for k, v in spec.tags.items()}
    tags[TAG_OWNER] = owner
    tags[TAG_TYPE] = spec.type.value
    if spec.protect:
        tags[TAG_PROTECT] = "true"
    if spec.family is not None and not gallery:
        tags[TAG_FAMILY] = spec.family
    for key, value in ((TAG_LABEL, spec.label), (TAG_DESCRIPTION, spec.description),
                       (TAG_SIZE, spec.recommended_vm_size)):
        if value is not None:
            tags[key] = value
    if spec.source.vm is not None:
        tags[TAG_SOURCE_VM] = spec.source.vm
    declared = sorted(k for k in spec.extra if k in (GALLERY_FIELDS if gallery else MANAGED_FIELDS))
    if declared:
        tags[TAG_FIELDS] = ",".join(declared)
    return tags


def user_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (tags or {}).items() if not k.lower().startswith(PREFIX)}


def _itags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Tag names are case-insensitive in ARM: look markers up by lower-cased name."""
    return {k.lower(): v for k, v in (tags or {}).items()}


def fingerprint(resource: Mapping[str, Any]) -> str:
    """The resource's etag when ARM gives one, else a SHA-256 of its canonical JSON."""
    etag = resource.get("etag")
    if isinstance(etag, str) and etag:
        return f"etag:{etag}"
    canon = json.dumps(resource, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()


def _last(resource_id: str | None) -> str | None:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def _os(value: Any) -> str:
    return str(value or "linux").lower()


def _state(value: Any) -> OSState:
    return OSState.SPECIALIZED if str(value or "").lower() == "specialized" else OSState.GENERALIZED


def _common(tags: Mapping[str, str]) -> dict[str, Any]:
    t = _itags(tags)
    return {
        "label": t.get(TAG_LABEL),
        "description": t.get(TAG_DESCRIPTION),
        "recommended_vm_size": t.get(TAG_SIZE),
        "tags": user_tags(tags),
        "owner": t.get(TAG_OWNER),
        "protected": t.get(TAG_PROTECT, "").lower() == "true",
    }


def _declared(tags: Mapping[str, str]) -> list[str]:
    raw = _itags(tags).get(TAG_FIELDS, "")
    return [f for f in raw.split(",") if f]


def _created(resource: Mapping[str, Any]) -> str:
    sd = resource.get("systemData")
    return str(sd.get("createdAt", "")) if isinstance(sd, Mapping) else ""


def image_from_managed(resource: Mapping[str, Any]) -> Image:
    """A ``Microsoft.Compute/images`` resource as the model's ``Image``."""
    props = resource.get("properties") or {}
    storage = props.get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    data = storage.get("dataDisks") or []
    tags = resource.get("tags") or {}
    t = _itags(tags)
    itype = ImageType(t[TAG_TYPE]) if t.get(TAG_TYPE) in ("os", "vm") else (ImageType.VM if data else ImageType.OS)
    source: Source | None = None
    src_vm = _last((props.get("sourceVirtualMachine") or {}).get("id")) or t.get(TAG_SOURCE_VM)
    if src_vm:
        source = Source(vm=src_vm)
    elif os_disk.get("blobUri"):
        source = Source(vhd=os_disk["blobUri"])
    extra: dict[str, Any] = {}
    if "hyper_v_generation" in _declared(tags) and props.get("hyperVGeneration"):
        extra["hyper_v_generation"] = props["hyperVGeneration"]
    return Image(
        name=str(resource.get("name", "")),
        type=itype,
        os=_os(os_disk.get("osType")),
        os_state=_state(os_disk.get("osState")),
        category=Category.USER,
        family=t.get(TAG_FAMILY),
        source=source,
        data_disks=len(data),
        extra=extra,
        id=str(resource.get("id", "")),
        fingerprint=fingerprint(resource),
        created=_created(resource),
        **_common(tags),
    )


def _target_regions(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``targetRegions`` in the file's shape; a region's replicas only when they differ from the default."""
    default = profile.get("replicaCount") or 1
    out = []
    for r in profile.get("targetRegions") or []:
        item: dict[str, Any] = {"name": r.get("name")}
        if r.get("regionalReplicaCount") not in (None, default):
            item["replicas"] = r["regionalReplicaCount"]
        out.append(item)
    return out


def image_from_version(definition: Mapping[str, Any], version: Mapping[str, Any]) -> Image:
    """A gallery image version (with its definition) as the model's ``Image``."""
    dprops = definition.get("properties") or {}
    ident = dprops.get("identifier") or {}
    props = version.get("properties") or {}
    storage = props.get("storageProfile") or {}
    profile = props.get("publishingProfile") or {}
    data = storage.get("dataDiskImages") or []
    tags = version.get("tags") or {}
    t = _itags(tags)
    itype = ImageType(t[TAG_TYPE]) if t.get(TAG_TYPE) in ("os", "vm") else (ImageType.VM if data else ImageType.OS)
    src = storage.get("source") or {}
    os_src = (storage.get("osDiskImage") or {}).get("source") or {}
    source: Source | None = None
    if src.get("virtualMachineId"):
        source = Source(vm=_last(src["virtualMachineId"]))
    elif t.get(TAG_SOURCE_VM):
        source = Source(vm=t[TAG_SOURCE_VM])
    elif os_src.get("uri"):
        source = Source(vhd=os_src["uri"], storage_account=_last(os_src.get("storageAccountId")))
    actual: dict[str, Any] = {
        "end_of_life_date": _date(profile.get("endOfLifeDate")),
        "exclude_from_latest": profile.get("excludeFromLatest"),
        "target_regions": _target_regions(profile),
        "replica_count": profile.get("replicaCount"),
        "publisher": ident.get("publisher"),
        "offer": ident.get("offer"),
        "sku": ident.get("sku"),
        "hyper_v_generation": dprops.get("hyperVGeneration") or "V1",
    }
    extra = {k: actual[k] for k in _declared(tags) if k in actual}
    # Not compared by the planner (not image_fields): facts plan_checks needs about the definition.
    extra["definition_os_state"] = _state(dprops.get("osState")).value
    for k in DEFINITION_FIELDS:
        extra[f"definition_{k}"] = actual[k]
    dname = str(definition.get("name", ""))
    return Image(
        name=f"{dname}/{version.get('name', '')}",
        type=itype,
        os=_os(dprops.get("osType")),
        os_state=_state(dprops.get("osState")),
        category=Category.USER,
        family=dname,
        source=source,
        data_disks=len(data),
        extra=extra,
        id=str(version.get("id", "")),
        fingerprint=fingerprint(version),
        created=_created(version) or str(profile.get("publishedDate") or ""),
        **_common(tags),
    )


def _date(value: Any) -> str | None:
    """ARM date-times (``2027-01-01T00:00:00+00:00``) back to the file's ``YYYY-MM-DD``."""
    if not value:
        return None
    return str(value)[:10]


def vm_from_resource(resource: Mapping[str, Any], instance_view: Mapping[str, Any] | None) -> VM:
    """A VM resource plus its instance view as the model's ``VM`` (power and OS state from statuses)."""
    props = resource.get("properties") or {}
    storage = props.get("storageProfile") or {}
    os_disk = storage.get("osDisk") or {}
    view = instance_view if instance_view is not None else (props.get("instanceView") or {})
    codes = [str(s.get("code", "")) for s in view.get("statuses") or [] if isinstance(s, Mapping)]
    power = PowerState.UNKNOWN
    for c in codes:
        if c.lower().startswith("powerstate/"):
            try:
                power = PowerState(c.split("/", 1)[1].lower())
            except ValueError:
                power = PowerState.UNKNOWN
    os_state = OSState.GENERALIZED if any(c.lower() == "osstate/generalized" for c in codes) else OSState.SPECIALIZED
    data = sorted(storage.get("dataDisks") or [], key=lambda d: d.get("lun", 0))
    disk_name = os_disk.get("name") or _last((os_disk.get("managedDisk") or {}).get("id")) or ""
    # The fingerprint covers the resource and the status codes, not the instance view's timestamps
    # (which move on every read and would make every saved plan look stale).
    props_wo_view = {k: v for k, v in props.items() if k != "instanceView"}
    if resource.get("etag"):
        fp = f"etag:{resource['etag']}|{','.join(codes)}"
    else:
        fp = fingerprint({**resource, "properties": props_wo_view, "statuses": codes})
    return VM(
        name=str(resource.get("name", "")),
        os=_os(os_disk.get("osType")),
        power_state=power,
        os_state=os_state,
        os_disk=str(disk_name),
        data_disks=tuple(str(d.get("name") or _last((d.get("managedDisk") or {}).get("id")) or "") for d in data),
        id=str(resource.get("id", "")),
        fingerprint=fp,
    )


def check_endpoint(endpoint: str, *, cloud: Cloud | str | None = None, trusted_hosts: tuple[str, ...] = ()) -> str:
    """The endpoint without a trailing '/', if a token may be sent there (``providers/clouds.py``):
    the cloud's ARM endpoint, loopback (plain http allowed only there) or a trusted host."""
    check_target(endpoint, setting="catalog.endpoint", cloud=cloud, trusted_hosts=trusted_hosts, kind="arm")
    return endpoint.rstrip("/")


# --------------------------------------------------------------------------------------------------
# Authentication


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
                        f"could not get an Azure access token: {type(e).__name__}",
                        code="AuthenticationFailed",
                        hint="log in (az login), configure a service principal / workload identity, "
                        "or set AZURE_ACCESS_TOKEN",
                    ) from e
                state["token"], state["expires"] = tok.token, float(tok.expires_on)
            return str(state["token"])

    return get


# --------------------------------------------------------------------------------------------------
# The provider


class AzureBackend:
    """A catalog in one resource group (managed images) or one gallery (image versions).

    Raw ARM primitives, no policy: use it through ``AzureProvider`` (the write-time guard), which
    ``open_provider`` returns. A DELETE is idempotent in ARM, so removing what is gone is done.
    """

    name = NAME
    remove_missing_ok = True

    def __init__(
        self,
        config: CatalogConfig,
        transport: Transport,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        read_workers: int = 8,
        env: Mapping[str, str] | None = None,
    ) -> None:
        s = config.settings
        missing = [k for k in ("subscription", "resource_group") if not s.get(k)]
        if missing:
            raise ReconcilerError(
                f"the azure provider needs {' and '.join(missing)}",
                "set them under catalog: in the file, or as RECONCILER_SUBSCRIPTION (or AZURE_SUBSCRIPTION_ID) "
                "and RECONCILER_RESOURCE_GROUP",
            )
        self.owner = config.name
        self.settings = dict(s)
        self.gallery: str | None = s.get("gallery") or None
        self.capabilities = capabilities(self.settings)
        self.location = str(s.get("location") or "")
        self.t = transport
        self.clock = clock
        self.sleep = sleep
        self.read_workers = read_workers
        self.poll = PollPolicy(
            interval=float(s.get("poll_interval") or 5.0),
            deadline=float(s.get("timeout") or 3600.0),
            clock=clock,
            sleep=sleep,
        )
        sub = quote(str(s["subscription"]), safe="")
        rg = quote(str(s["resource_group"]), safe="")
        self.sub_path = f"/subscriptions/{sub}"
        self.rg_path = f"/subscriptions/{sub}/resourceGroups/{rg}"
        self.rp = f"{self.rg_path}/providers/Microsoft.Compute"
        self._vm_expand_ok: bool | None = None
        self.env = dict(env or {})
        self._lock: Any = None
        self._lock_guard = threading.Lock()

    # ---- paths

    def _image_path(self, name: str) -> str:
        if self.gallery:
            d, v = split_gallery_name(name)
            return f"{self._def_path(d)}/versions/{quote(v, safe='')}"
        return f"{self.rp}/images/{quote(name, safe='')}"

    def _def_path(self, definition: str) -> str:
        return f"{self.rp}/galleries/{quote(self.gallery or '', safe='')}/images/{quote(definition, safe='')}"

    def _vm_path(self, vm: str) -> str:
        return f"{self.rp}/virtualMachines/{quote(vm, safe='')}"

    def _vm_id(self, vm: str) -> str:
        return f"{self.rp}/virtualMachines/{vm}"

    _compute = {"api-version": COMPUTE_API}
    _galleryv = {"api-version": GALLERY_API}

    # ---- reading

    def snapshot(self) -> Snapshot:
        """Every image of the scope and every VM of the resource group; O(items / page size) lists."""
        images = self._read_gallery() if self.gallery else self._read_managed()
        vms = self._read_vms()
        return Snapshot(images=tuple(sorted(images, key=lambda i: i.key)),
                        vms=tuple(sorted(vms, key=lambda v: v.key)))

    def _read_managed(self) -> list[Image]:
        items = self.t.paged(f"{self.rp}/images", params=self._compute, what="list images")
        return [image_from_managed(r) for r in items]

    def _read_gallery(self) -> list[Image]:
        gpath = f"{self.rp}/galleries/{quote(self.gallery or '', safe='')}"
        try:
            definitions = self.t.paged(f"{gpath}/images", params=self._galleryv, what="list gallery definitions")
        except NotFound as e:
            raise ProviderError(
                f"gallery '{self.gallery}' does not exist in resource group '{self.settings['resource_group']}'",
                status=e.status, code=e.code, request_id=e.request_id,
                hint="create it (az sig create) or fix catalog.gallery",
            ) from e

        def versions(d: Mapping[str, Any]) -> list[Image]:
            vs = self.t.paged(f"{self._def_path(str(d['name']))}/versions", params=self._galleryv,
                              what=f"list versions of {d['name']}")
            return [image_from_version(d, v) for v in vs]

        return [i for batch in self._parallel(versions, definitions) for i in batch]

    def _read_vms(self) -> list[VM]:
        path = f"{self.rp}/virtualMachines"
        if self._vm_expand_ok is not False:
            try:
                items = self.t.paged(path, params={**self._compute, "$expand": "instanceView"}, what="list VMs")
                self._vm_expand_ok = True
                return [vm_from_resource(r, None) for r in items]
            except ProviderError as e:
                # ARM allows $expand=instanceView on this list only together with a $filter; fall
                # back to one instanceView GET per VM (source VMs are few, images are many).
                if e.status != 400:
                    raise
                self._vm_expand_ok = False
        items = self.t.paged(path, params=self._compute, what="list VMs")

        def one(r: Mapping[str, Any]) -> VM:
            view = self.t.get(f"{self._vm_path(str(r['name']))}/instanceView", params=self._compute, ok=(200,),
                              what=f"read VM {r['name']}").body
            return vm_from_resource(r, view if isinstance(view, Mapping) else {})

        return self._parallel(one, items)

    def _parallel(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(self.read_workers, len(items))) as pool:
            return list(pool.map(fn, items))

    def _get(self, path: str, params: Mapping[str, str], what: str) -> dict[str, Any] | None:
        try:
            body = self.t.get(path, params=params, ok=(200,), what=what).body
        except NotFound:
            return None
        return body if isinstance(body, dict) else None

    def _read_raw(self, name: str) -> tuple[dict[str, Any], Image] | None:
        """The live resource of image ``name`` and its model view, or None when absent."""
        if self.gallery:
            d, _ = split_gallery_name(name)
            definition = self._get(self._def_path(d), self._galleryv, f"read definition {d}")
            if definition is None:
                return None
            version = self._get(self._image_path(name), self._galleryv, f"read image {name}")
            return (version, image_from_version(definition, version)) if version is not None else None
        res = self._get(self._image_path(name), self._compute, f"read image {name}")
        return (res, image_from_managed(res)) if res is not None else None

    def _read_image(self, name: str) -> Image | None:
        found = self._read_raw(name)
        return found[1] if found is not None else None

    def _settle(self, name: str, raw: Mapping[str, Any], on_step: StepCallback, started: float) -> None:
        """Wait for an image another attempt left Creating/Updating; refuse one left Failed."""
        state = str((raw.get("properties") or {}).get("provisioningState") or "Succeeded").lower()
        if state == "succeeded":
            return
        if state in ("failed", "canceled"):
            raise OperationFailed(
                f"image '{name}' exists but its capture ended {state}", code="ProvisioningFailed",
                hint="remove the failed image in Azure (or with a plan that replaces it), then apply again")
        params = self._galleryv if self.gallery else self._compute
        url = self.t.url(self._image_path(name)) + "?" + urlencode(params)
        wait("PUT", Response(200, {}, raw, url), lambda u: self.t.get(u, ok=(200,), what=f"capture {name}"),
             self._remaining(started), on_step=on_step, what=f"capture {name}")

    # ---- primitives for the guard (providers/guard.py): no checks here, the guard made them

    def transaction(self) -> contextlib.AbstractContextManager[object]:
        """Nothing to hold: the guard's re-read is a GET right before the write."""
        return contextlib.nullcontext()

    def read_image(self, name: str, type_: ImageType) -> Live | None:
        del type_  # one name space for both image types
        found = self._read_raw(name)
        return Live(found[1], found[0]) if found is not None else None

    def read_vm(self, name: str) -> LiveVM | None:
        res = self._get(self._vm_path(name), {**self._compute, "$expand": "instanceView"}, f"read VM {name}")
        if res is None:
            return None
        view = (res.get("properties") or {}).get("instanceView")
        if not isinstance(view, Mapping):
            view = self.t.get(f"{self._vm_path(name)}/instanceView", params=self._compute, ok=(200,),
                              what=f"read VM {name}").body or {}
        return LiveVM(vm_from_resource(res, view), res)

    # ---- long-running calls

    def _call(self, method: str, path: str, params: Mapping[str, str], body: Any, what: str,
              on_step: StepCallback, deadline: PollPolicy | None = None) -> Response:
        initial = self.t.request(method, path, params=params, body=body, what=what)
        return wait(method, initial, lambda url: self.t.get(url, ok=(200, 201, 202, 204), what=what),
                    deadline or self.poll, on_step=on_step, what=what)

    # ---- capture

    def settle_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """A retry of a capture that happened (or is still running): wait for it, the same image once."""
        on_step("already captured")
        self._settle(spec.name, live.raw, on_step, self.clock())
        return self._read_image(spec.name) or live.image

    def create_image(self, spec: ImageSpec, vm: LiveVM | None, check: CaptureCheck, on_step: StepCallback) -> Image:
        """PUT the image (after deallocating / generalizing the VM when ``check`` says so)."""
        started = self.clock()
        if not self.location:
            raise ReconcilerError("the azure provider needs a location to create images",
                                  "set catalog.location (or RECONCILER_LOCATION), e.g. westeurope")
        vm_res = self._prepare_vm(vm, check, on_step, started) if vm is not None else None
        if self.gallery:
            self._ensure_definition(spec, on_step, started)
        body = self._capture_body(spec, vm_res)
        params = self._galleryv if self.gallery else self._compute
        on_step("capturing")
        final = self._call("PUT", self._image_path(spec.name), params, body, f"capture {spec.name}",
                           on_step, self._remaining(started))
        image = self._read_image(spec.name)
        if image is None:
            raise ProviderError(f"capture of '{spec.name}' finished but the image is not there",
                                code="NotFound", request_id=final.request_id)
        return image

    def _remaining(self, started: float) -> PollPolicy:
        left = self.poll.deadline - (self.clock() - started)
        return PollPolicy(interval=self.poll.interval, deadline=max(0.0, left), clock=self.clock,
                          sleep=self.sleep, max_interval=self.poll.max_interval)

    def _prepare_vm(self, vm: LiveVM, check: CaptureCheck, on_step: StepCallback, started: float) -> Any:
        """Deallocate and generalize the source VM when the file opted in and it is needed."""
        name = vm.vm.name
        if check.generalize:
            if check.deallocate:
                on_step(f"deallocating {name}")
                self._call("POST", f"{self._vm_path(name)}/deallocate", self._compute, None,
                           f"deallocate VM {name}", on_step, self._remaining(started))
            on_step(f"generalizing {name}")
            self.t.request("POST", f"{self._vm_path(name)}/generalize", params=self._compute, ok=(200,),
                           what=f"generalize VM {name}")
        return vm.raw

    def _capture_body(self, spec: ImageSpec, vm_res: Mapping[str, Any] | None) -> dict[str, Any]:
        tags = build_tags(spec, self.owner, gallery=bool(self.gallery))
        os_type = "Windows" if spec.os.lower() == "windows" else "Linux"
        os_state = "Specialized" if spec.os_state is OSState.SPECIALIZED else "Generalized"
        if self.gallery:
            storage: dict[str, Any]
            vm_storage = ((vm_res or {}).get("properties") or {}).get("storageProfile") or {}
            os_disk_id = ((vm_storage.get("osDisk") or {}).get("managedDisk") or {}).get("id")
            if spec.source.vm is not None and spec.type is ImageType.OS and vm_storage.get("dataDisks") and os_disk_id:
                # An OS image of a VM with data disks: capture only its OS disk (virtualMachineId
                # would take every disk). The version then takes the definition's OS state.
                storage = {"osDiskImage": {"source": {"id": os_disk_id}}}
            elif spec.source.vm is not None:
                vm_id = str((vm_res or {}).get("id") or self._vm_id(spec.source.vm))
                storage = {"source": {"virtualMachineId": vm_id}}
            else:
                storage = {"osDiskImage": {"source": {"uri": spec.source.vhd,
                                                      "storageAccountId": self._account_id(spec.source)}}}
            return {"location": self.location, "tags": tags,
                    "properties": {"storageProfile": storage, "publishingProfile": self._publishing(spec)}}
        props: dict[str, Any] = {}
        if spec.source.vhd is not None:
            props["storageProfile"] = {"osDisk": {"osType": os_type, "osState": os_state,
                                                  "blobUri": spec.source.vhd}, "dataDisks": []}
        elif spec.type is ImageType.OS:
            # Only the OS disk: build the storage profile from the VM's OS managed disk, so ARM
            # does not copy the data disks (which it does for sourceVirtualMachine).
            os_disk = (((vm_res or {}).get("properties") or {}).get("storageProfile") or {}).get("osDisk") or {}
            disk_id = (os_disk.get("managedDisk") or {}).get("id")
            if not disk_id:
                raise ProviderError(f"source VM '{spec.source.vm}' has no managed OS disk to capture",
                                    code="InvalidSource", hint="capture type: vm, or migrate the VM to managed disks")
            props["storageProfile"] = {"osDisk": {"osType": os_type, "osState": os_state,
                                                  "managedDisk": {"id": disk_id}}, "dataDisks": []}
        else:
            vm_id = str((vm_res or {}).get("id") or self._vm_id(spec.source.vm or ""))
            props["sourceVirtualMachine"] = {"id": vm_id}
        if spec.extra.get("hyper_v_generation"):
            props["hyperVGeneration"] = spec.extra["hyper_v_generation"]
        return {"location": self.location, "tags": tags, "properties": props}

    def _account_id(self, source: Source) -> str:
        acct = source.storage_account or ""
        if acct.startswith("/subscriptions/"):
            return acct
        return f"{self.rg_path}/providers/Microsoft.Storage/storageAccounts/{acct}"

    def _publishing(self, spec: ImageSpec, existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The publishing profile for ``spec``. On update (``existing`` given) fields the file does not
        declare keep their live values: undeclared means unmanaged, not "reset to default"."""
        if existing is not None:
            live = (existing.get("properties") or {}).get("publishingProfile") or {}
            prof = {k: live[k] for k in ("targetRegions", "replicaCount", "excludeFromLatest", "endOfLifeDate")
                    if k in live}
            prof.update(self._declared_publishing(spec))
            return prof
        return {"targetRegions": [{"name": self.location}], **self._declared_publishing(spec)}

    def _declared_publishing(self, spec: ImageSpec) -> dict[str, Any]:
        x = spec.extra
        prof: dict[str, Any] = {}
        if x.get("target_regions"):
            prof["targetRegions"] = [
                {"name": r["name"], **({"regionalReplicaCount": r["replicas"]} if r.get("replicas") else {})}
                for r in x["target_regions"]
            ]
        if x.get("replica_count") is not None:
            prof["replicaCount"] = x["replica_count"]
        if x.get("exclude_from_latest") is not None:
            prof["excludeFromLatest"] = bool(x["exclude_from_latest"])
        if x.get("end_of_life_date"):
            prof["endOfLifeDate"] = f"{x['end_of_life_date']}T00:00:00+00:00"
        return prof

    def _ensure_definition(self, spec: ImageSpec, on_step: StepCallback, started: float) -> None:
        d, _ = split_gallery_name(spec.name)
        existing = self._get(self._def_path(d), self._galleryv, f"read definition {d}")
        want_state = "Specialized" if spec.os_state is OSState.SPECIALIZED else "Generalized"
        if existing is not None:
            have = str(((existing.get("properties") or {}).get("osState")) or "")
            if have.lower() != want_state.lower():
                raise ProviderError(
                    f"gallery definition '{d}' holds {have.lower()} images, '{spec.name}' is {want_state.lower()}",
                    status=400, code="BadRequest", hint="run plan again: a definition's OS state cannot change")
            return
        x = spec.extra
        props: dict[str, Any] = {
            "osType": "Windows" if spec.os.lower() == "windows" else "Linux",
            "osState": want_state,
            "identifier": {"publisher": x.get("publisher") or self.owner, "offer": x.get("offer") or d,
                           "sku": x.get("sku") or d},
        }
        if x.get("hyper_v_generation"):
            props["hyperVGeneration"] = x["hyper_v_generation"]
        on_step(f"creating definition {d}")
        body = {"location": self.location, "tags": {TAG_OWNER: self.owner}, "properties": props}
        self._call("PUT", self._def_path(d), self._galleryv, body, f"create definition {d}", on_step,
                   self._remaining(started))

    # ---- update, remove, adopt

    def update_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """Rewrite the tags (and, in gallery mode, the publishing profile) of the image."""
        res, name = live.raw, live.image.name
        started = self.clock()
        have = _itags(res.get("tags"))
        tags = build_tags(spec, self.owner, gallery=bool(self.gallery))
        # Markers that describe how the image was made stay as they were.
        for key in (TAG_TYPE, TAG_SOURCE_VM):
            if key in have:
                tags[key] = have[key]
            else:
                tags.pop(key, None)
        body: dict[str, Any] = {"tags": tags}
        if self.gallery:
            body["properties"] = {"storageProfile": _source_only(res),
                                  "publishingProfile": self._publishing(spec, existing=res)}
        on_step("updating")
        params = self._galleryv if self.gallery else self._compute
        self._call("PATCH", self._image_path(name), params, body, f"update {name}", on_step,
                   self._remaining(started))
        after = self._read_image(name)
        if after is None:
            raise NotFound(f"image '{name}' disappeared during its update", code="ResourceNotFound")
        return after

    def delete_image(self, live: Live, on_step: StepCallback) -> None:
        """DELETE the image (a gallery version; the definition stays)."""
        name = live.image.name
        on_step("removing")
        params = self._galleryv if self.gallery else self._compute
        self._call("DELETE", self._image_path(name), params, None, f"remove {name}", on_step,
                   self._remaining(self.clock()))

    def set_owner(self, live: Live) -> Image:
        """PATCH our ownership marker into the image's tags, keeping every other tag."""
        res, name = live.raw, live.image.name
        tags = dict(res.get("tags") or {})
        tags[TAG_OWNER] = self.owner
        body: dict[str, Any] = {"tags": tags}
        if self.gallery:
            body["properties"] = {"storageProfile": _source_only(res)}
        params = self._galleryv if self.gallery else self._compute
        self._call("PATCH", self._image_path(name), params, body, f"import {name}", _no_step,
                   self._remaining(self.clock()))
        return self._read_image(name) or live.image

    # ---- lock: a lease on a blob (providers/blob_lock.py, docs/locking.md)

    def _blob_lock(self) -> Any:
        with self._lock_guard:
            if self._lock is None:
                from .blob_lock import BlobLeaseLock  # noqa: PLC0415 (needs the azure extra)

                self._lock = BlobLeaseLock.from_settings(self.settings, self.env, catalog=self.owner)
            return self._lock

    def acquire_lock(self, info: LockInfo, timeout: float, **waits: Unpack[LockWaits]) -> LockHandle:
        """Take the catalog lock: a renewed lease on blob ``<lock_container>/<catalog>.lock``."""
        handle: LockHandle = self._blob_lock().acquire(info, timeout, **waits)
        return handle

    def force_unlock(self, lock_id: str) -> LockInfo:
        info: LockInfo = self._blob_lock().force_unlock(lock_id)
        return info

    def close(self) -> None:
        self.t.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class AzureProvider(GuardedProvider):
    """The azure catalog as every caller gets it: ``AzureBackend`` behind the write-time guard.

    Takes ``AzureBackend``'s arguments; the backend's attributes (``t``, ``gallery``, ...) read through.
    """

    backend: AzureBackend

    def __init__(self, config: CatalogConfig, transport: Transport, **options: Any) -> None:
        super().__init__(AzureBackend(config, transport, **options))


def _source_only(version: Mapping[str, Any]) -> dict[str, Any]:
    """The version's storage profile as a PATCH must echo it (required, and its source may not change)."""
    storage = (version.get("properties") or {}).get("storageProfile") or {}
    return {"source": storage["source"]} if storage.get("source") else {}


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
    "AzureBackend",
    "AzureProvider",
    "COMPUTE_API",
    "GALLERY_API",
    "build_tags",
    "capabilities",
    "check_endpoint",
    "check_settings",
    "fingerprint",
    "image_from_managed",
    "image_from_version",
    "open_provider",
    "plan_checks",
    "split_gallery_name",
    "token_provider",
    "vm_from_resource",
]
