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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...errors import LockError, NotFound, ProviderError, RefusedError
from ...model import Capabilities, Image, ImageSpec, ImageType, OSState, Snapshot
from ...rules import NAME_TAKEN, CaptureCheck, ownership_phrase
from .. import LockInfo, StepCallback, _no_step
from ..guard import GuardedProvider, Live, LiveVM
from . import wire
from .client import Client, quote_name

LOCK_POLL_INTERVAL = 5.0


class ClassicLockHandle:
    def __init__(self, provider: ClassicBackend, info: LockInfo) -> None:
        self.provider = provider
        self.info = info

    def release(self) -> None:
        self.provider._release(self.info.id)

    def __enter__(self) -> ClassicLockHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ClassicBackend:
    """One classic subscription's image repository, bound to catalog ``owner``; raw, no policy
    (use it through ``ClassicProvider``, the write-time guard, which ``open_provider`` returns).

    ``poll_interval``/``deadline``: how often and how long to poll each operation (seconds);
    ``location``: where the lock's cloud service is created.
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
    ) -> None:
        self.client = client
        self.owner = owner
        self.capabilities = capabilities
        self.poll_interval = poll_interval
        self.deadline = deadline
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

    def snapshot(self) -> Snapshot:
        """Every OS and VM image (user and public) and every VM (role), sorted by name."""
        images = self._list("os") + self._list("vm")
        roles, generalized = self._roles()
        vms = []
        for name, role in wire.vm_names(roles).items():
            marked = {role.name.casefold()} if role.path.casefold() in generalized else set()
            vms.append(wire.vm_of(name, role, marked))
        return Snapshot(
            images=tuple(sorted(images, key=lambda i: (i.key, i.type.value))),
            vms=tuple(sorted(vms, key=lambda v: v.key)),
        )

    def _live(self, name: str, type_: ImageType) -> Image | None:
        key = name.casefold()
        for img in self._list("vm" if type_ is ImageType.VM else "os"):
            if img.key == key:
                return img
        return None

    # ---------------------------------------------------------------------------------------------
    # Writes

    def _wait(self, request_id: str, what: str, on_step: StepCallback) -> None:
        def polled(n: int) -> None:
            on_step(f"polling {what} ({n})")

        self.client.wait(request_id, interval=self.poll_interval, deadline=self.deadline, what=what, on_poll=polled)

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

    def acquire_lock(
        self,
        info: LockInfo,
        timeout: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> ClassicLockHandle:
        """Create the lock cloud service, retrying until ``timeout``; ``LockError`` names the holder."""
        clock = clock or time.monotonic
        sleep = sleep or time.sleep
        give_up = clock() + max(timeout, 0.0)
        body = wire.build("CreateHostedService", [
            ("ServiceName", self.lock_service),
            ("Label", _b64(f"reconciler lock of catalog {self.owner}")),
            ("Description", json.dumps(info.as_dict(), sort_keys=True)),
            ("Location", self.location),
        ])
        while True:
            reply = self.client.request("POST", "/services/hostedservices", body=body, ok=(200, 201, 409),
                                        what="take the catalog lock")
            if reply.status != 409:
                return ClassicLockHandle(self, info)
            holder = self._holder()
            if holder is not None and holder.id == info.id:
                return ClassicLockHandle(self, info)  # our own create went through before a retry
            remaining = give_up - clock()
            if remaining <= 0:
                who = holder.describe() if holder else "an unknown holder"
                lock_id = holder.id if holder else "?"
                raise LockError(
                    f"the catalog is locked by {who} (lock ID {lock_id})",
                    f"wait for that run to finish or raise --lock-timeout; if it was killed, run "
                    f"reconciler force-unlock {lock_id}",
                    holder={k: str(v) for k, v in holder.as_dict().items()} if holder else {},
                )
            sleep(min(LOCK_POLL_INTERVAL, remaining))

    def _release(self, lock_id: str) -> None:
        holder = self._holder()
        if holder is None or holder.id != lock_id:
            return
        self.client.request("DELETE", f"/services/hostedservices/{self.lock_service}", ok=(200, 202, 404),
                            what="release the catalog lock")

    def force_unlock(self, lock_id: str) -> LockInfo:
        holder = self._holder()
        if holder is None:
            raise LockError("the catalog is not locked", "there is nothing to unlock")
        if holder.id != lock_id:
            raise LockError(
                f"lock ID '{lock_id}' does not match the lock on the catalog, held by {holder.describe()}",
                "pass the exact lock ID shown by the failed run's error message",
                holder={k: str(v) for k, v in holder.as_dict().items()},
            )
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
