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
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, Unpack
from urllib.parse import urlencode

from ...errors import NotFound, OperationFailed, ProviderError, ReconcilerError
from ...model import VM, CatalogConfig, Image, ImageSpec, ImageType, Snapshot
from ...rules import CaptureCheck
from .. import LockHandle, LockInfo, LockWaits, StepCallback, _no_step
from ..guard import GuardedProvider, Live, LiveVM
from ..http.lro import PollPolicy, Response, wait
from ..http.transport import Transport
from .caps import NAME, capabilities
from .mapping import COMPUTE_API, build_tags, kept_markers, vm_from_resource
from .markers import TAG_OWNER
from .modes import open_scope
from .scope import Scope, Target, api

T = TypeVar("T")


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

    def get(self, path: str, params: Mapping[str, str], what: str) -> dict[str, Any] | None:
        try:
            body = self.t.get(path, params=params, ok=(200,), what=what).body
        except NotFound:
            return None
        return body if isinstance(body, dict) else None

    def paged(self, path: str, params: Mapping[str, str], what: str) -> list[Any]:
        return self.t.paged(path, params=params, what=what)

    def call(self, method: str, path: str, params: Mapping[str, str], body: Any, what: str,
             on_step: StepCallback, deadline: PollPolicy) -> Response:
        initial = self.t.request(method, path, params=params, body=body, what=what)
        return wait(method, initial, lambda url: self.t.get(url, ok=(200, 201, 202, 204), what=what),
                    deadline, on_step=on_step, what=what)

    def remaining(self, started: float) -> PollPolicy:
        left = self.poll.deadline - (self.clock() - started)
        return PollPolicy(interval=self.poll.interval, deadline=max(0.0, left), clock=self.clock,
                          sleep=self.sleep, max_interval=self.poll.max_interval)

    def parallel(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(self.read_workers, len(items))) as pool:
            return list(pool.map(fn, items))


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

    def snapshot(self) -> Snapshot:
        """Every image of the scope and every VM of the resource group; O(items / page size) lists."""
        images = self.scope.list_images(self.arm)
        vms = self._read_vms()
        return Snapshot(images=tuple(sorted(images, key=lambda i: i.key)),
                        vms=tuple(sorted(vms, key=lambda v: v.key)))

    def _read_vms(self) -> list[VM]:
        path = f"{self.target.rp}/virtualMachines"
        if self._vm_expand_ok is not False:
            try:
                items = self.t.paged(path, params={**api(COMPUTE_API), "$expand": "instanceView"}, what="list VMs")
                self._vm_expand_ok = True
                return [vm_from_resource(r, None) for r in items]
            except ProviderError as e:
                # ARM allows $expand=instanceView on this list only together with a $filter; fall
                # back to one instanceView GET per VM (source VMs are few, images are many).
                if e.status != 400:
                    raise
                self._vm_expand_ok = False
        items = self.t.paged(path, params=api(COMPUTE_API), what="list VMs")

        def one(r: Mapping[str, Any]) -> VM:
            view = self.t.get(f"{self.target.vm_path(str(r['name']))}/instanceView", params=api(COMPUTE_API),
                              ok=(200,), what=f"read VM {r['name']}").body
            return vm_from_resource(r, view if isinstance(view, Mapping) else {})

        return self.arm.parallel(one, items)

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
        found = self.scope.read_image(self.arm, name)
        return Live(found[1], found[0]) if found is not None else None

    def read_vm(self, name: str) -> LiveVM | None:
        path = self.target.vm_path(name)
        res = self.arm.get(path, {**api(COMPUTE_API), "$expand": "instanceView"}, f"read VM {name}")
        if res is None:
            return None
        view = (res.get("properties") or {}).get("instanceView")
        if not isinstance(view, Mapping):
            view = self.t.get(f"{path}/instanceView", params=api(COMPUTE_API), ok=(200,),
                              what=f"read VM {name}").body or {}
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
        self.scope.prepare_capture(self.arm, spec, on_step, started)
        body = self.scope.capture_body(spec, vm_res, self._tags(spec))
        on_step("capturing")
        final = self.arm.call("PUT", self.scope.image_path(spec.name), api(self.scope.api_version), body,
                              f"capture {spec.name}", on_step, self.arm.remaining(started))
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
            if check.deallocate:
                on_step(f"deallocating {name}")
                self.arm.call("POST", f"{path}/deallocate", api(COMPUTE_API), None, f"deallocate VM {name}",
                              on_step, self.arm.remaining(started))
            on_step(f"generalizing {name}")
            # Generalize answers 200 only, no body, and is not a long-running operation.
            self.t.request("POST", f"{path}/generalize", params=api(COMPUTE_API), ok=(200,),
                           what=f"generalize VM {name}")
        return vm.raw

    # ---- update, remove, adopt

    def update_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """Rewrite the tags (and, in gallery mode, the publishing profile) of the image."""
        res, name = live.raw, live.image.name
        started = self.clock()
        # Markers that describe how the image was made stay as they were.
        tags = kept_markers(self._tags(spec), res.get("tags"))
        body = self.scope.update_body(spec, res, tags)
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


__all__ = ["ArmClient", "AzureBackend", "AzureProvider"]
