"""The azure backend: raw ARM primitives over the catalog's scope, and the source VM's power steps.

Layer: edge (provider). Talks to ARM through ``providers.http.transport`` (error translation; the
retry policy is mounted on its session) and follows long-running operations with
``providers.http.lro``. Never prints, never reads the process environment itself. Where images
live and how they are written is the scope's (``scope.py``: ``managed.py`` or ``gallery.py``);
this module is written once over it. No policy: the write-time guard (``providers/guard.py``)
checks the rules, then calls these primitives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, Unpack
from urllib.parse import urlencode

from ...errors import NotFound, OperationFailed, ProviderError, ReconcilerError
from ...model import (
    ORIGIN_UNREADABLE,
    PROMOTION_EXTRA,
    VM,
    CaptureSource,
    CatalogConfig,
    Consumer,
    ConsumersPolicy,
    Image,
    ImageSpec,
    ImageType,
    PublicListing,
    PublicQuery,
    Snapshot,
    UnchangedTest,
)
from ...rules import CaptureCheck
from .. import LockHandle, LockInfo, LockWaits, StepCallback, _no_step
from ..clouds import get_cloud
from ..guard import GuardedProvider, Live, LiveVM
from ..http.lro import PollPolicy, Response, wait
from ..http.transport import Transport
from .auth import (
    AUXILIARY_HEADER,
    cross_tenant,
    source_credential_problem,
    source_token_provider,
    source_token_variable,
)
from .caps import NAME, capabilities
from .managed import ManagedScope
from .mapping import COMPUTE_API, build_tags, kept_markers, vm_from_resource
from .markers import TAG_OWNER
from .modes import open_scope
from .scope import Scope, Target, api
from .sources import read_sources

T = TypeVar("T")

#: The subscription's tenant in ARM's ``InvalidAuthenticationTokenTenant`` message ("It must match the
#: tenant 'https://sts.windows.net/<tenant>/' associated with this subscription", Azure/pcs-cli#357,
#: Azure/azure-sdk-for-python#38382).
_TENANT_IN_MESSAGE = re.compile(r"must match the tenant '?https://[^/]+/([^/']+)/?'?", re.IGNORECASE)

#: The RBAC action polling a gallery operation needs (BEHAVIOURS.md row 7; docs/azure.md's role).
CAPS_OPERATIONS_READ = "Microsoft.Compute/locations/capsOperations/read"

#: ``VirtualMachines_RunCommand`` body of ``source.deprovision`` (ComputeRP ``RunCommandInput``):
#: the Linux agent's deprovision, ``+user`` also deleting the last provisioned account, ``-force``
#: without asking (learn.microsoft.com, "Deprovision or generalize a VM before creating an image").
DEPROVISION_COMMAND: dict[str, Any] = {"commandId": "RunShellScript",
                                       "script": ["waagent -deprovision+user -force"]}


class ArmClient:
    """ARM as a scope and the backend use it (``scope.Arm``): GETs that say None for 404, paged
    lists, writes followed to the end of their long-running operation, bounded parallel reads."""

    def __init__(self, transport: Transport, poll: PollPolicy, clock: Callable[[], float],
                 sleep: Callable[[float], None], read_workers: int) -> None:
        self.t = transport
        self.poll = poll
        self.clock = clock
        self.sleep = sleep
        self.read_workers = read_workers
        self._local = threading.local()  # .change: (on_step, deadline, begun) of this thread's change

    @contextlib.contextmanager
    def change(self, on_step: StepCallback) -> Iterator[None]:
        """While this thread carries out one change (``AzureProvider``): its reads (the guard's
        re-read, the source VM) wait out a long ``Retry-After`` within the change's deadline too."""
        deadline = self.remaining(self.clock())
        self._local.change = (on_step, deadline, deadline.clock())
        try:
            yield
        finally:
            self._local.change = None

    def _read(self, send: Callable[[], T], what: str) -> T:
        change = getattr(self._local, "change", None)
        if change is None:
            return send()
        on_step, deadline, begun = change
        return self._patient(send, what, on_step, deadline, begun)

    def get(self, path: str, params: Mapping[str, str], what: str) -> dict[str, Any] | None:
        try:
            body = self._read(lambda: self.t.get(path, params=params, ok=(200,), what=what), what).body
        except NotFound:
            return None
        return body if isinstance(body, dict) else None

    def get_text(self, path: str, params: Mapping[str, str], what: str) -> tuple[dict[str, Any], str] | None:
        try:
            _, text = self._read(lambda: self.t.request_text("GET", path, params=params, what=what), what)
        except NotFound:
            return None
        try:
            body = json.loads(text)
        except ValueError:
            raise ProviderError(f"{what}: the service answered with a body that is not JSON",
                                code="BadResponse") from None
        return (body, text) if isinstance(body, dict) else None

    def paged(self, path: str, params: Mapping[str, str], what: str) -> list[Any]:
        return self.t.paged(path, params=params, what=what)

    def pages(self, path: str, params: Mapping[str, str], what: str) -> Iterator[list[tuple[Any, str]]]:
        return self.t.pages(path, params=params, what=what)

    def call(self, method: str, path: str, params: Mapping[str, str], body: Any, what: str,
             on_step: StepCallback, deadline: PollPolicy,
             headers: Callable[[], Mapping[str, str]] | None = None) -> Response:
        """Send a write and follow its long-running operation (``Azure-AsyncOperation``: Compute's
        ``/operations/`` or GalleryRP's ``/capsOperations/``, BEHAVIOURS.md row 7) to the end, all
        within ``deadline``; a throttled request or poll waits out a long ``Retry-After`` there.
        ``headers``: more headers for the write itself (not its polls): an auxiliary token."""
        begun = deadline.clock()

        def poll(url: str) -> Response:
            try:
                return self._patient(lambda: self.t.get(url, ok=(200, 201, 202, 204), what=what), what, on_step,
                                     deadline, begun)
            except ProviderError as e:
                if e.status == 403 and "/capsoperations/" in url.lower():
                    e.hint = (f"the identity may write gallery resources but not read their operations: grant "
                              f"'{CAPS_OPERATIONS_READ}' (see the custom role in docs/azure.md)")
                raise

        initial = self._patient(lambda: self.t.request(method, path, params=params, body=body, what=what,
                                                       headers=headers), what, on_step, deadline, begun)
        left = dataclasses.replace(deadline, deadline=max(0.0, deadline.deadline - (deadline.clock() - begun)))
        return wait(method, initial, poll, left, on_step=on_step, what=what)

    def send(self, method: str, path: str, params: Mapping[str, str], body: Any, what: str,
             on_step: StepCallback, deadline: PollPolicy, ok: tuple[int, ...] = (200,)) -> Response:
        """One request that is not a long-running operation (a VM's ``generalize`` answers 200, no
        body), a long ``Retry-After`` waited out within ``deadline`` as ``call`` waits it."""
        return self._patient(lambda: self.t.request(method, path, params=params, body=body, ok=ok, what=what), what,
                             on_step, deadline, deadline.clock())

    def _patient(self, send: Callable[[], T], what: str, on_step: StepCallback, deadline: PollPolicy,
                 begun: float) -> T:
        """``send()``, waiting out a throttled answer's ``Retry-After`` when it is longer than the
        transport waits on its own (``RetryPolicy.max_retry_after``, 120 s) but fits in what is left
        of the change's deadline: Compute's throttling asks for up to 1200 s (BEHAVIOURS.md row 13).
        Each wait is one progress line saying why; a wait past the deadline is a clear error."""
        while True:
            try:
                return send()
            except ProviderError as e:
                wait_s = e.retry_after
                if e.status not in (429, 503) or wait_s is None or wait_s <= self.t.retry.max_retry_after:
                    raise
                left = deadline.deadline - (deadline.clock() - begun)
                if wait_s > left:
                    raise ProviderError(
                        f"{what}: Azure throttled the request and asks to wait {_duration(wait_s)} (Retry-After: "
                        f"{wait_s:g} s), more than the {_duration(max(0.0, left))} left of this change's deadline",
                        status=e.status, code=e.code, request_id=e.request_id, retryable=True,
                        retry_after=wait_s,
                        hint="apply again after the wait (the subscription's request quota refills), or raise "
                        "the catalog's 'timeout' setting above it",
                    ) from e
                on_step(f"throttled by Azure ({e.code}): waiting {_duration(wait_s)} as its Retry-After asks, "
                        "then sending the request again")
                deadline.sleep(wait_s)

    def remaining(self, started: float) -> PollPolicy:
        left = self.poll.deadline - (self.clock() - started)
        return PollPolicy(interval=self.poll.interval, deadline=max(0.0, left), clock=self.clock,
                          sleep=self.sleep, max_interval=self.poll.max_interval)

    def parallel(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        change = getattr(self._local, "change", None)

        def within(item: Any) -> T:
            # The worker's reads belong to the caller's change (``change``): as patient as its own.
            self._local.change = change
            try:
                return fn(item)
            finally:
                self._local.change = None

        with ThreadPoolExecutor(max_workers=min(self.read_workers, len(items))) as pool:
            return list(pool.map(within if change is not None else fn, items))


def _duration(seconds: float) -> str:
    """``1200`` -> ``20 min``, ``90`` -> ``90 s``, ``5400`` -> ``1 h 30 min``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


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
        wall: Callable[[], float] = time.time,
        source_credential_factory: Callable[[str], Any] | None = None,
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
        self.capabilities = capabilities(self.settings)
        self.target = Target(owner=config.name, subscription=str(s["subscription"]),
                             resource_group=str(s["resource_group"]), location=str(s.get("location") or ""))
        self.scope: Scope = open_scope(self.settings, self.target)
        self.t = transport
        self.clock = clock
        self.sleep = sleep
        self.poll = PollPolicy(
            interval=float(s.get("poll_interval") or 5.0),
            deadline=float(s.get("timeout") or 3600.0),
            clock=clock,
            sleep=sleep,
        )
        self.arm = ArmClient(transport, self.poll, clock, sleep, read_workers)
        self._read_workers = read_workers
        self._wall = wall
        self._source_factory = source_credential_factory
        #: Per source alias in another tenant (issue 11 §1): its token and the ARM client reading with it.
        self._source_tokens: dict[str, Any] = {}
        self._source_arms: dict[str, ArmClient] = {}
        self._source_guard = threading.RLock()
        if hasattr(self.scope, "source_arm"):
            self.scope.source_arm = self._source_arm  # a definition created for a promotion reads its source
        self._vm_expand_ok: bool | None = None
        self.env = dict(env or {})
        self._lock: Any = None
        self._lock_guard = threading.Lock()

    @property
    def location(self) -> str:
        return self.target.location

    def _tags(self, spec: ImageSpec) -> dict[str, str]:
        return build_tags(spec, self.owner, family_tag=self.scope.family_tag, declarable=self.scope.image_fields)

    # ---- reading

    def snapshot(self, like: Sequence[ImageSpec] = (), unchanged: UnchangedTest | None = None) -> Snapshot:
        """Every image of the scope and every VM of the resource group; O(items / page size) lists.
        Plus the public images the ``public_images`` setting names (``public.py``), read-only.
        ``like`` and ``unchanged``: not used (``Provider.snapshot``)."""
        del like, unchanged
        images, families = self.scope.list_catalog(self.arm)
        if self.settings.get("public_images"):
            images = [*images, *self._public().snapshot_images(self.arm.parallel)]
        vms = self._read_vms()
        return Snapshot(images=tuple(sorted(images, key=lambda i: i.key)),
                        vms=tuple(sorted(vms, key=lambda v: v.key)), families=families)

    def origins(self, specs: Sequence[ImageSpec]) -> dict[str, Image]:
        """``Provider.origins``: each promotion's source version, read with this catalog's own
        credential through its own endpoint (a ``sources:`` entry naming another endpoint or cloud is
        refused: its credential would be this one's; docs/azure.md "Promotion"). Managed-image mode
        promotes nothing."""
        reader = getattr(self.scope, "read_origin", None)
        if reader is None:
            return {}
        for spec in specs:
            promo = spec.extra.get(PROMOTION_EXTRA) or {}
            alias = str(promo.get("source") or "")
            problem = source_credential_problem(self.settings, promo.get("settings") or {}, alias)
            if problem is not None:
                key = next(k for k in ("endpoint", "cloud") if f"names {k} " in problem)
                raise ProviderError(f"{problem} ('{spec.name}')", code="SourceEndpoint",
                                    hint=f"remove sources.{alias}.{key}")

        def one(spec: ImageSpec) -> tuple[ImageSpec, Image | None]:
            try:
                return spec, reader(self._source_arm(spec), spec)
            except ProviderError as e:
                unreadable = self._unreadable(spec, e)
                if unreadable is None:
                    raise
                return spec, unreadable

        found = self.arm.parallel(one, list(specs))
        return {str(spec.source.image).casefold(): image for spec, image in found if image is not None}

    # ---- sources in another tenant (issue 11 §1; auth.py "A source in another tenant")

    def _source_arm(self, spec: ImageSpec) -> ArmClient:
        """The ARM client reading ``spec``'s promotion source: the catalog's own, or, for a source in
        another tenant (``sources.<alias>.tenant_id``), one on the same endpoint (the catalog's, already
        checked) with a token of that tenant."""
        promo = spec.extra.get(PROMOTION_EXTRA) or {}
        alias = str(promo.get("source") or "")
        tenant = cross_tenant(self.settings, promo.get("settings") or {}) if alias else None
        if tenant is None:
            return self.arm
        with self._source_guard:
            client = self._source_arms.get(alias)
            if client is None:
                token = self._source_token(alias, tenant)
                transport = Transport(self.t.base_url, token=token, retry=self.t.retry, clock=self.clock,
                                      sleep=self.sleep, user_agent=self.t.user_agent)
                client = self._source_arms[alias] = ArmClient(transport, self.poll, self.clock, self.sleep,
                                                              self._read_workers)
            return client

    def _source_token(self, alias: str, tenant: str) -> Any:
        """The (cached) token provider of ``sources.<alias>``'s tenant (``auth.source_token_provider``)."""
        with self._source_guard:
            token = self._source_tokens.get(alias)
            if token is None:
                cloud = get_cloud(self.settings.get("cloud"))
                token = self._source_tokens[alias] = source_token_provider(
                    self.env, alias, tenant, cloud=cloud, credential_factory=self._source_factory, wall=self._wall)
            return token

    def _auxiliary(self, spec: ImageSpec) -> Callable[[], Mapping[str, str]] | None:
        """The ``x-ms-authorization-auxiliary`` header of ``spec``'s capture when it promotes a version
        of another tenant: ARM checks the linked source against it (``auth.AUXILIARY_HEADER``)."""
        if not spec.source.promotion:
            return None
        promo = spec.extra.get(PROMOTION_EXTRA) or {}
        alias = str(promo.get("source") or "")
        tenant = cross_tenant(self.settings, promo.get("settings") or {}) if alias else None
        if tenant is None:
            return None
        token = self._source_token(alias, tenant)
        return lambda: {AUXILIARY_HEADER: f"Bearer {token()}"}

    def _unreadable(self, spec: ImageSpec, error: ProviderError) -> Image | None:
        """A promotion source that could not be read for want of a credential of its tenant, as an
        origin the plan reports at the entry (``ORIGIN_UNREADABLE``: what to set); None: another error."""
        promo = spec.extra.get(PROMOTION_EXTRA) or {}
        alias = str(promo.get("source") or "")
        theirs = promo.get("settings") or {}
        tenant = cross_tenant(self.settings, theirs) if alias else None
        variable = source_token_variable(alias) if alias else ""
        if tenant is not None and (error.code == "AuthenticationFailed" or error.status == 401):
            why = f"no usable credential for tenant {tenant} (sources.{alias}.tenant_id): {error.message}"
            hint = (f"set {variable} (az account get-access-token --tenant {tenant} --query accessToken -o tsv), "
                    f"or sign in to tenant {tenant} with an identity that can read the source gallery")
        elif error.code == "InvalidAuthenticationTokenTenant" and alias:
            found = _TENANT_IN_MESSAGE.search(error.message)
            other = found.group(1) if found else "TENANT"
            why = (f"its subscription belongs to another tenant ({other}) than the catalog's credential "
                   f"(Azure: {error.code})")
            hint = (f"set sources.{alias}.tenant_id: {other} and a credential for it: {variable}, or a sign-in "
                    f"to that tenant; the copy then sends it as the auxiliary token")
        elif error.code == "InvalidAuthenticationTokenTenant":
            why = f"its subscription belongs to another tenant than the catalog's credential (Azure: {error.code})"
            hint = ("declare the source under sources: with its tenant_id (source.image: ALIAS:NAME), so a "
                    "credential for that tenant reads it and goes with the copy")
        else:
            return None
        return Image(name=str(spec.source.image), type=spec.type, os=spec.os, os_state=spec.os_state, failed=why,
                     extra={ORIGIN_UNREADABLE: hint})

    def capture_sources(self, specs: Sequence[ImageSpec]) -> dict[str, CaptureSource | None]:
        """``Provider.capture_sources``: each managed image, snapshot or disk ``specs`` capture from,
        one GET each with bounded parallelism (``sources.py``), for the plan-time checks."""
        return read_sources(self.arm, self.target.rp, specs, self.arm.parallel)

    def _read_vms(self) -> list[VM]:
        """Every VM of the resource group with its instance view (power and OS state, generation).

        ``$expand=instanceView`` on this list is allowed "only if a valid $filter option is
        specified" (ComputeRP spec; BEHAVIOURS.md row 9): ARM may answer 400, or 200 without
        instance views. Either way each VM listed without ``properties.instanceView`` gets one
        ``instanceView`` GET, with bounded parallelism (``read_workers``), as ``az vm list -d`` does.
        After a 400 the expand is not sent again on this backend.
        """
        path = f"{self.target.rp}/virtualMachines"
        items: list[Any] | None = None
        if self._vm_expand_ok is not False:
            try:
                items = self.t.paged(path, params={**api(COMPUTE_API), "$expand": "instanceView"}, what="list VMs")
                self._vm_expand_ok = True
            except ProviderError as e:
                if e.status != 400:
                    raise
                self._vm_expand_ok = False
        if items is None:
            items = self.t.paged(path, params=api(COMPUTE_API), what="list VMs")

        def one(r: Mapping[str, Any]) -> VM | None:
            view = (r.get("properties") or {}).get("instanceView")
            if isinstance(view, Mapping):
                return vm_from_resource(r, view)
            # Through ``ArmClient.get``, as every other read: throttling waited out as there.
            got = self.arm.get(f"{self.target.vm_path(str(r['name']))}/instanceView", api(COMPUTE_API),
                               f"read VM {r['name']}")
            return vm_from_resource(r, got) if got is not None else None  # None: deleted meanwhile

        missing = [r for r in items if not isinstance((r.get("properties") or {}).get("instanceView"), Mapping)]
        if not missing:
            return [vm_from_resource(r, None) for r in items]
        return [vm for vm in self.arm.parallel(one, items) if vm is not None]

    def consumers(self, images: Sequence[Image], policy: ConsumersPolicy) -> dict[str, tuple[Consumer, ...]]:
        """The VMs and scale sets using each of ``images`` (``consumers.py``): one Resource Graph query
        over ``policy.subscriptions`` (default: the catalog's), or the lists where it is refused."""
        from .consumers import read_consumers  # noqa: PLC0415 - only a plan that may hold a remove pays

        return read_consumers(self.t, policy.subscriptions or (self.target.subscription,), images)

    def _public(self) -> Any:
        """The reader of public images (Marketplace, community and shared galleries) for this location."""
        from .public import PublicReader, parse_sources  # noqa: PLC0415

        return PublicReader(self.arm, self.target.subscription, self.target.location,
                            sources=parse_sources(self.settings.get("public_images")))

    def browse_public(self, query: PublicQuery) -> PublicListing:
        """``images list --category public`` beyond the snapshot: the Marketplace under
        ``query.publisher`` (offer, sku), a community or shared gallery, or the publishers."""
        listing: PublicListing = self._public().browse(query, self.arm.parallel)
        return listing

    def _read_image(self, name: str) -> Image | None:
        found = self.scope.read_image(self.arm, name)
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
        url = self.t.url(self.scope.image_path(name)) + "?" + urlencode(api(self.scope.api_version))
        wait("PUT", Response(200, {}, raw, url), lambda u: self.t.get(u, ok=(200,), what=f"capture {name}"),
             self.arm.remaining(started), on_step=on_step, what=f"capture {name}")

    # ---- primitives for the guard (providers/guard.py): no checks here, the guard made them

    def transaction(self) -> contextlib.AbstractContextManager[object]:
        """Nothing to hold: the guard's re-read is a GET right before the write."""
        return contextlib.nullcontext()

    def read_image(self, name: str, type_: ImageType) -> Live | None:
        del type_  # one name space for both image types
        from .public import is_public_name  # noqa: PLC0415 (public images: only when asked about)

        if is_public_name(name):
            # A URN or a gallery/definition/version path: a public image (never one of the scope's).
            public = self._public().read(name)
            return Live(public) if public is not None else None
        found = self.scope.read_image(self.arm, name)
        return Live(found[1], found[0]) if found is not None else None

    def read_vm(self, name: str) -> LiveVM | None:
        path = self.target.vm_path(name)
        res = self.arm.get(path, {**api(COMPUTE_API), "$expand": "instanceView"}, f"read VM {name}")
        if res is None:
            return None
        view = (res.get("properties") or {}).get("instanceView")
        if not isinstance(view, Mapping):
            # ``ArmClient.get``: within a change, a long Retry-After is waited out as for the VM's GET.
            view = self.arm.get(f"{path}/instanceView", api(COMPUTE_API), f"read VM {name}")
            if view is None:
                return None  # deleted between the two reads
            # The raw resource carries its instance view either way (a capture reads its generation).
            res = {**res, "properties": {**(res.get("properties") or {}), "instanceView": view}}
        return LiveVM(vm_from_resource(res, view), res)

    # ---- capture

    def settle_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """A retry of a capture that happened (or is still running): wait for it, the same image once."""
        on_step("already captured")
        self._settle(spec.name, live.raw, on_step, self.clock())
        return self._read_image(spec.name) or live.image

    def create_image(self, spec: ImageSpec, vm: LiveVM | None, check: CaptureCheck, on_step: StepCallback) -> Image:
        """PUT the image (after deallocating / generalizing the VM when ``check`` says so)."""
        started = self.clock()
        if not self.target.location:
            raise ReconcilerError("the azure provider needs a location to create images",
                                  "set catalog.location (or RECONCILER_LOCATION), e.g. westeurope")
        vm_res = self._prepare_vm(vm, check, on_step, started) if vm is not None else None
        self.scope.prepare_capture(self.arm, spec, on_step, started, vm_res)
        body = self.scope.capture_body(spec, vm_res, self._tags(spec))
        props = body.get("properties")
        if isinstance(self.scope, ManagedScope) and spec.source.kind in ("snapshot", "disk") and isinstance(
                props, dict) and not props.get("hyperVGeneration"):
            # Undeclared: the snapshot's or disk's own generation (ARM records V1 otherwise; issue 10 §3).
            found = read_sources(self.arm, self.target.rp, [spec], self.arm.parallel)
            source = next(iter(found.values()), None)
            generation = getattr(source.facts, "hyper_v_generation", None) if source is not None else None
            if generation:
                props["hyperVGeneration"] = generation
        on_step("capturing")
        final = self.arm.call("PUT", self.scope.image_path(spec.name), api(self.scope.api_version), body,
                              f"capture {spec.name}", on_step, self.arm.remaining(started),
                              headers=self._auxiliary(spec))
        image = self._read_image(spec.name)
        if image is None:
            raise ProviderError(f"capture of '{spec.name}' finished but the image is not there",
                                code="NotFound", request_id=final.request_id)
        return image

    def _prepare_vm(self, vm: LiveVM, check: CaptureCheck, on_step: StepCallback, started: float) -> Any:
        """Deallocate and generalize the source VM when the file opted in and it is needed."""
        name = vm.vm.name
        path = self.target.vm_path(name)
        if check.generalize:
            if check.deprovision:
                # The in-guest step ARM's generalize does not do (BEHAVIOURS.md row 11): the Linux
                # agent removes users, keys and machine identity while the VM still runs.
                on_step(f"deprovisioning the guest of {name} (Run Command)")
                self.arm.call("POST", f"{path}/runCommand", api(COMPUTE_API), DEPROVISION_COMMAND,
                              f"deprovision VM {name}", on_step, self.arm.remaining(started))
            if check.deallocate:
                on_step(f"deallocating {name}")
                self.arm.call("POST", f"{path}/deallocate", api(COMPUTE_API), None, f"deallocate VM {name}",
                              on_step, self.arm.remaining(started))
            on_step(f"generalizing {name}")
            # Generalize answers 200 only, no body, and is not a long-running operation; throttled,
            # it waits within the change's deadline as the deallocate before it does.
            self.arm.send("POST", f"{path}/generalize", api(COMPUTE_API), None, f"generalize VM {name}", on_step,
                          self.arm.remaining(started))
        return vm.raw

    # ---- update, remove, adopt

    def update_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """Rewrite the tags (and, in gallery mode, the publishing profile) of the image."""
        res, name = live.raw, live.image.name
        started = self.clock()
        # Markers that describe how the image was made stay as they were.
        tags = kept_markers(self._tags(spec), res.get("tags"))
        self.scope.prepare_update(self.arm, spec, on_step, started)
        body = self.scope.update_body(spec, res, tags)
        # Gallery versions: a safety flag to set before the update can remove a region (gallery.py).
        first: Callable[[ImageSpec, Mapping[str, Any]], list[tuple[str, dict[str, Any]]]] | None = getattr(
            self.scope, "update_first", None)
        for step, pre in first(spec, res) if first is not None else []:
            on_step(step)
            self.arm.call("PATCH", self.scope.image_path(name), api(self.scope.api_version), pre,
                          f"update {name}", on_step, self.arm.remaining(started))
        on_step("updating")
        self.arm.call("PATCH", self.scope.image_path(name), api(self.scope.api_version), body, f"update {name}",
                      on_step, self.arm.remaining(started))
        after = self._read_image(name)
        if after is None:
            raise NotFound(f"image '{name}' disappeared during its update", code="ResourceNotFound")
        return after

    def delete_image(self, live: Live, on_step: StepCallback) -> None:
        """DELETE the image (a gallery version; the definition stays)."""
        name = live.image.name
        on_step("removing")
        self.arm.call("DELETE", self.scope.image_path(name), api(self.scope.api_version), None, f"remove {name}",
                      on_step, self.arm.remaining(self.clock()))

    def set_owner(self, live: Live) -> Image:
        """PATCH our ownership marker into the image's tags, keeping every other tag."""
        res, name = live.raw, live.image.name
        tags = dict(res.get("tags") or {})
        tags[TAG_OWNER] = self.owner
        body = self.scope.owner_body(res, tags)
        self.arm.call("PATCH", self.scope.image_path(name), api(self.scope.api_version), body, f"import {name}",
                      _no_step, self.arm.remaining(self.clock()))
        self.scope.adopt_parent(self.arm, name, _no_step, self.clock())
        return self._read_image(name) or live.image

    # ---- lock: a lease on a blob (providers/blob_lock/, docs/locking.md)

    def _blob_lock(self) -> Any:
        with self._lock_guard:
            if self._lock is None:
                from ..blob_lock import BlobLeaseLock  # noqa: PLC0415 (needs the azure extra)

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
        for client in self._source_arms.values():
            client.t.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class AzureProvider(GuardedProvider):
    """The azure catalog as every caller gets it: ``AzureBackend`` behind the write-time guard.

    Takes ``AzureBackend``'s arguments; the backend's attributes (``t``, ``scope``, ...) read through.
    """

    backend: AzureBackend

    def __init__(self, config: CatalogConfig, transport: Transport, **options: Any) -> None:
        super().__init__(AzureBackend(config, transport, **options))

    # Each change runs in ``ArmClient.change``: its reads are as patient with throttling as its writes.
    def capture(self, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        with self.backend.arm.change(on_step):
            return super().capture(spec, on_step)

    def update(self, image: Image, spec: ImageSpec, on_step: StepCallback = _no_step) -> Image:
        with self.backend.arm.change(on_step):
            return super().update(image, spec, on_step)

    def remove(self, image: Image, on_step: StepCallback = _no_step) -> None:
        with self.backend.arm.change(on_step):
            super().remove(image, on_step)

    def adopt(self, image: Image) -> Image:
        with self.backend.arm.change(_no_step):
            return super().adopt(image)


__all__ = ["DEPROVISION_COMMAND", "ArmClient", "AzureBackend", "AzureProvider"]
