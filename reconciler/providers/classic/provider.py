"""The ``azure-classic`` provider: OS images and VM images of the classic Service Management API.

Layer: edge. Reads ``/services/images`` and ``/services/vmimages`` (and the cloud services for
source VMs), captures with ``CaptureRoleOperation`` / ``CaptureRoleAsVMImageOperation``, updates
with PUT (the service merges), removes with DELETE, and polls ``/operations/{id}`` after every
mutating call. Ownership, protection and tags live in the Description marker (``wire.Marker``).
``ClassicBackend`` supplies the raw primitives; ``ClassicProvider`` puts the write-time guard
(``providers/guard.py``, the rules of ``reconciler.rules``) in front of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Unpack

from ...errors import NotFound, ProviderError, RefusedError
from ...model import (
    Capabilities,
    Consumer,
    ConsumersPolicy,
    Image,
    ImageSpec,
    ImageType,
    OSState,
    Snapshot,
    UnchangedTest,
)
from ...rules import NAME_TAKEN, CaptureCheck, ownership_phrase
from .. import StepCallback, _no_step
from ..guard import GuardedProvider, Live, LiveVM
from ..http import lro
from ..locking import (
    Held,
    LockInfo,
    LockWaits,
    held_by,
    lost_lock,
    taken_from,
    unlockable,
    wait_for_lock,
)
from . import wire
from .client import Client, quote_name

LOCK_POLL_INTERVAL = 5.0


class ClassicLockHandle:
    """A held catalog lock: the lock cloud service, whose description records ``info``."""

    def __init__(self, provider: ClassicBackend, info: LockInfo) -> None:
        self.provider = provider
        self.info = info

    def check(self) -> None:
        """Raise ``LockError`` when the lock service is gone or records another run (force-unlock ran)."""
        reason = taken_from(self.info, self.provider._holder())
        if reason is not None:
            raise lost_lock(f"catalog '{self.provider.owner}'", self.info, reason)

    def release(self) -> None:
        """Delete the lock service if it is still ours; safe to call twice.

        A lock already gone (force-unlocked) is released silently, unlike the local and blob locks
        (this provider's behaviour, pinned by its tests); ``check`` is what reports the loss.
        """
        self.provider._release(self.info.id)

    def __enter__(self) -> ClassicLockHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ClassicBackend:
    """One classic subscription's image repository, bound to catalog ``owner``; raw, no policy
    (use it through ``ClassicProvider``, the write-time guard, which ``open_provider`` returns).

    ``poll_interval``/``deadline``: how often and how long to poll each operation (seconds), on
    ``clock`` with ``sleep`` (injected for tests); ``location``: where the lock's cloud service is created.
    """

    name = "azure-classic"
    remove_missing_ok = False

    def __init__(
        self,
        client: Client,
        owner: str,
        capabilities: Capabilities,
        *,
        poll_interval: float = 5.0,
        deadline: float = 1800.0,
        location: str = "West US",
        now: Callable[[], datetime] | None = None,
        on_close: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.owner = owner
        self.capabilities = capabilities
        self.poll = lro.PollPolicy(interval=poll_interval, deadline=deadline, clock=clock, sleep=sleep)
        self.location = location
        self._now = now or (lambda: datetime.now(UTC))
        self._on_close = on_close

    # ---------------------------------------------------------------------------------------------
    # Reads

    def _list(self, what: str) -> list[Image]:
        path = "/services/vmimages" if what == "vm" else "/services/images"
        reply = self.client.request("GET", path, ok=(200,), what=f"list {'VM' if what == 'vm' else 'OS'} images")
        try:
            return wire.vm_images(reply.body) if what == "vm" else wire.os_images(reply.body)
        except wire.WireError as e:
            raise ProviderError(f"list images: {e}", code="BadResponse", request_id=reply.request_id) from e

    def _roles(self) -> tuple[list[wire.Role], set[str]]:
        """Every role of every cloud service, and the casefolded names of those marked generalized."""
        reply = self.client.request("GET", "/services/hostedservices", ok=(200,), what="list cloud services")
        roles: list[wire.Role] = []
        generalized: set[str] = set()
        try:
            names = wire.service_names(reply.body)
            for name in names:
                r = self.client.request(
                    "GET", f"/services/hostedservices/{quote_name(name)}", params={"embed-detail": "true"},
                    ok=(200,), what=f"read cloud service {name}",
                )
                svc = wire.service(r.body)
                marked = wire.generalized_roles(svc.description)
                for role in svc.roles:
                    roles.append(role)
                    if role.name.casefold() in marked:
                        generalized.add(role.path.casefold())
        except wire.WireError as e:
            raise ProviderError(f"list VMs: {e}", code="BadResponse") from e
        return roles, generalized

    def snapshot(self, like: Sequence[ImageSpec] = (), unchanged: UnchangedTest | None = None) -> Snapshot:
        """Every OS and VM image (user and public) and every VM (role), sorted by name. ``like``
        and ``unchanged``: not used (``Provider.snapshot``)."""
        del like, unchanged
        images = self._list("os") + self._list("vm")
        roles, generalized = self._roles()
        vms = []
        names = wire.vm_names(roles)
        for name, role in names.items():
            marked = {role.name.casefold()} if role.path.casefold() in generalized else set()
            vms.append(wire.vm_of(name, role, marked))
        return Snapshot(
            images=tuple(sorted(images, key=lambda i: (i.key, i.type.value))),
            vms=tuple(sorted(vms, key=lambda v: v.key)),
            vm_aliases=wire.vm_aliases(names),  # source.vm may name a role in any of its forms
        )

    def consumers(self, images: Sequence[Image], policy: ConsumersPolicy) -> dict[str, tuple[Consumer, ...]]:
        """The roles of every deployment created from each of ``images`` (Get Deployment names the
        source image of each role; docs/lifecycle.md). ``policy.subscriptions`` means nothing here."""
        del policy
        wanted = {i.key for i in images}
        roles, _ = self._roles()
        out: dict[str, list[Consumer]] = {}
        for role in sorted(roles, key=lambda r: r.path.casefold()):
            if role.image and role.image.casefold() in wanted:
                out.setdefault(role.image.casefold(), []).append(Consumer(
                    kind="role", name=role.name, image=role.image, scope=f"{role.service}/{role.deployment}",
                    id=role.path))
        return {k: tuple(v) for k, v in out.items()}

    def _live(self, name: str, type_: ImageType) -> Image | None:
        key = name.casefold()
        for img in self._list("vm" if type_ is ImageType.VM else "os"):
            if img.key == key:
                return img
        return None

    # ---------------------------------------------------------------------------------------------
    # Writes

    def _wait(self, request_id: str, what: str, on_step: StepCallback) -> None:
        """Follow the operation of ``request_id`` (``lro``'s Service Management strategy) to its end."""
        if not request_id:
            raise ProviderError(f"{what}: the service returned no x-ms-request-id to poll", code="BadResponse")
        lro.wait("POST", lro.Response(202, {"x-ms-request-id": request_id}),
                 partial(self.client.operation_status, what=what), self.poll, on_step=on_step, what=what,
                 strategies=lro.CLASSIC_STRATEGIES)

    def _marker(self, spec: ImageSpec, *, source: str | None) -> wire.Marker:
        return wire.Marker(
            owner=self.owner, protected=spec.protect, tags=dict(spec.tags), source=source,
            label_defaulted=spec.label is None, extra=dict(spec.extra),
        )

    # ---- primitives for the guard (providers/guard.py): no checks here, the guard made them

    def transaction(self) -> contextlib.AbstractContextManager[object]:
        """Nothing to hold: the guard's re-read is a GET right before the write."""
        return contextlib.nullcontext()

    def read_image(self, name: str, type_: ImageType) -> Live | None:
        """OS images and VM images are two name spaces in the classic API: ``type_`` picks one."""
        image = self._live(name, type_)
        return Live(image) if image is not None else None

    def read_vm(self, name: str) -> LiveVM | None:
        """The role ``source.vm`` names (``service/deployment/role``, ``service/role`` or ``role``)."""
        roles, generalized = self._roles()
        found = wire.resolve_vm(name, roles)
        if not found:
            return None
        if len(found) > 1:
            raise ProviderError(
                f"source VM '{name}' is ambiguous: " + ", ".join(r.path for r in found),
                code="AmbiguousVM", hint="name it as service/role or service/deployment/role",
            )
        role = found[0]
        marked = {role.name.casefold()} if role.path.casefold() in generalized else set()
        return LiveVM(wire.vm_of(name, role, marked), role)

    def settle_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """A capture is done when its operation succeeded: an image that is listed is finished."""
        return live.image

    def create_image(self, spec: ImageSpec, vm: LiveVM | None, check: CaptureCheck, on_step: StepCallback) -> Image:
        """Capture ``spec`` from its source role; an OS image or a generalized VM image deletes the VM."""
        assert vm is not None, "the guard refuses a capture without a source VM here"
        what = f"capture '{spec.name}'"
        other_kind = ImageType.OS if spec.type is ImageType.VM else ImageType.VM
        twin = self._live(spec.name, other_kind)
        if twin is not None:
            # The service allows one name in both kinds, but the plan indexes images by name, so
            # one of the two would hide the other; PowerShell refuses this capture as well.
            raise RefusedError(
                NAME_TAKEN,
                f"{what}: an {other_kind.value.upper()} image named '{twin.name}' already exists "
                f"({ownership_phrase(twin)})",
                "choose another name",
            )
        role: wire.Role = vm.raw
        marker = self._marker(spec, source=spec.source.vm)
        label = spec.label or spec.name
        path = (f"/services/hostedservices/{quote_name(role.service)}/deployments/{quote_name(role.deployment)}"
                f"/roleinstances/{quote_name(role.name)}/Operations")
        if spec.type is ImageType.VM:
            body = wire.build("CaptureRoleAsVMImageOperation", [
                ("OperationType", "CaptureRoleAsVMImageOperation"),
                ("OSState", "Generalized" if spec.os_state is OSState.GENERALIZED else "Specialized"),
                ("VMImageName", spec.name),
                ("VMImageLabel", label),
                ("Description", wire.compose_description(spec.description, marker)),
                ("ImageFamily", spec.family),
                ("RecommendedVMSize", spec.recommended_vm_size),
            ])
        else:
            body = wire.build("CaptureRoleOperation", [
                ("OperationType", "CaptureRoleOperation"),
                ("PostCaptureAction", "Delete"),
                ("TargetImageLabel", label),
                ("TargetImageName", spec.name),
            ])
        on_step("capture")
        reply = self.client.request("POST", path, body=body, ok=(200, 202), what=what)
        self._wait(reply.request_id, what, on_step)
        if spec.type is ImageType.OS:
            # Capture Role takes no Description/ImageFamily: the marker follows in an update. Until
            # it lands the image is unowned (``reconciler import`` adopts it if this step fails).
            on_step("write marker")
            self._put(spec.name, ImageType.OS, [
                ("Label", label),
                ("Description", wire.compose_description(spec.description, marker)),
                ("ImageFamily", spec.family),
                ("RecommendedVMSize", spec.recommended_vm_size),
                ("PublishedDate", self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ], what, on_step)
        image = self._live(spec.name, spec.type)
        if image is None:
            raise ProviderError(f"{what}: the operation succeeded but the image is not listed", code="BadResponse")
        return image

    def _put(
        self, name: str, type_: ImageType, fields: list[tuple[str, Any]], what: str, on_step: StepCallback
    ) -> None:
        kind = "vmimages" if type_ is ImageType.VM else "images"
        root = "VMImage" if type_ is ImageType.VM else "OSImage"
        reply = self.client.request("PUT", f"/services/{kind}/{quote_name(name)}", body=wire.build(root, fields),
                                    ok=(200, 202), what=what)
        self._wait(reply.request_id, what, on_step)

    def update_image(self, live: Live, spec: ImageSpec, on_step: StepCallback) -> Image:
        """PUT the mutable fields and the marker; the service merges, so a field cannot be emptied."""
        image = live.image
        what = f"update '{image.name}'"
        for field, new, old in (("family", spec.family, image.family),
                                ("recommended_vm_size", spec.recommended_vm_size, image.recommended_vm_size)):
            if new is None and old is not None:
                raise ProviderError(
                    f"{what}: the classic API cannot clear {field} (an update only sets values)",
                    code="OperationNotAllowed",
                    hint=f"declare a {field} for it, or remove and capture the image again",
                )
        source = image.source.vm if image.source is not None else None
        marker = self._marker(spec, source=source)
        self._put(image.name, image.type, [
            ("Label", spec.label or image.name),
            ("Description", wire.compose_description(spec.description, marker)),
            ("ImageFamily", spec.family),
            ("RecommendedVMSize", spec.recommended_vm_size),
        ], what, on_step)
        on_step("update")
        updated = self._live(image.name, image.type)
        if updated is None:
            raise NotFound(f"{what}: the image disappeared during the update", code="ResourceNotFound", status=404)
        return updated

    def delete_image(self, live: Live, on_step: StepCallback) -> None:
        """DELETE the image; ``?comp=media`` when its marker says delete_media."""
        image = live.image
        what = f"remove '{image.name}'"
        kind = "vmimages" if image.type is ImageType.VM else "images"
        params = {"comp": "media"} if image.extra.get("delete_media") is True else None
        reply = self.client.request("DELETE", f"/services/{kind}/{quote_name(image.name)}", params=params,
                                    ok=(200, 202, 404), what=what)
        if reply.status == 404:
            if reply.attempts > 1:
                return  # our first attempt deleted it before the connection failed
            raise NotFound(f"{what}: it does not exist", code="ResourceNotFound", status=404,
                           request_id=reply.request_id)
        self._wait(reply.request_id, what, on_step)
        on_step("remove")

    def set_owner(self, live: Live) -> Image:
        """Write this catalog's marker into the Description, keeping the image's tags and text."""
        image = live.image
        marker = wire.Marker(owner=self.owner, protected=image.protected, tags=dict(image.tags),
                             source=image.source.vm if image.source else None, extra=dict(image.extra))
        self._put(image.name, image.type, [
            ("Label", image.label or image.name),
            ("Description", wire.compose_description(image.description, marker)),
        ], f"import '{image.name}'", _no_step)
        adopted = self._live(image.name, image.type)
        assert adopted is not None
        return adopted

    # ---------------------------------------------------------------------------------------------
    # The lock: an empty cloud service whose creation is atomic (409 when it exists)

    @property
    def lock_service(self) -> str:
        """A DNS-safe cloud-service name unique to (subscription, catalog)."""
        digest = hashlib.sha256(f"{self.client.base}|{self.owner}".encode()).hexdigest()[:16]
        return f"reconciler-lock-{digest}"

    def _holder(self) -> LockInfo | None:
        try:
            reply = self.client.request("GET", f"/services/hostedservices/{self.lock_service}", ok=(200,),
                                        what="read the catalog lock")
        except NotFound:
            return None
        try:
            root = wire.parse(reply.body)
            desc = wire.text(wire.child(root, "HostedServiceProperties"), "Description") or "{}"
            return LockInfo.from_dict(json.loads(desc))
        except (wire.WireError, ValueError) as e:
            raise ProviderError(f"the catalog lock {self.lock_service} is unreadable: {e}", code="BadResponse") from e

    def try_lock(self, info: LockInfo) -> ClassicLockHandle | Held:
        """One try: create the lock service (atomic: 409 when it exists), else say who holds it."""
        body = wire.build("CreateHostedService", [
            ("ServiceName", self.lock_service),
            ("Label", _b64(f"reconciler lock of catalog {self.owner}")),
            ("Description", json.dumps(info.as_dict(), sort_keys=True)),
            ("Location", self.location),
        ])
        reply = self.client.request("POST", "/services/hostedservices", body=body, ok=(200, 201, 409),
                                    what="take the catalog lock")
        if reply.status != 409:
            return ClassicLockHandle(self, info)
        holder = self._holder()
        if holder is not None and holder.id == info.id:
            return ClassicLockHandle(self, info)  # our own create went through before a retry
        return held_by(holder)

    def acquire_lock(self, info: LockInfo, timeout: float, **waits: Unpack[LockWaits]) -> ClassicLockHandle:
        """Create the lock cloud service, retrying until ``timeout``; ``LockError`` names the holder."""
        return wait_for_lock(lambda: self.try_lock(info), timeout=timeout, poll=LOCK_POLL_INTERVAL, **waits)

    def _release(self, lock_id: str) -> bool:
        """Delete the lock service when it records ``lock_id``; False when it did not (nothing deleted)."""
        holder = self._holder()
        if holder is None or holder.id != lock_id:
            return False
        self.client.request("DELETE", f"/services/hostedservices/{self.lock_service}", ok=(200, 202, 404),
                            what="release the catalog lock")
        return True

    def force_unlock(self, lock_id: str) -> LockInfo:
        holder = unlockable(self._holder(), lock_id)
        self._release(lock_id)
        return holder

    def close(self) -> None:
        self.client.close()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


class ClassicProvider(GuardedProvider):
    """The classic catalog as every caller gets it: ``ClassicBackend`` behind the write-time guard.

    Takes ``ClassicBackend``'s arguments; the backend's attributes (``client``, ``lock_service``,
    ...) read through.
    """

    backend: ClassicBackend

    def __init__(self, client: Client, owner: str, capabilities: Capabilities, **options: Any) -> None:
        super().__init__(ClassicBackend(client, owner, capabilities, **options))


def _b64(s: str) -> str:
    import base64

    return base64.b64encode(s.encode()).decode()
