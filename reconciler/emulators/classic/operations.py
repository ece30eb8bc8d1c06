"""The classic emulator's asynchronous operations: tracking, polling, and the role operations.

Layer: emulator (no sockets). An asynchronous request answers 202 with ``x-ms-request-id``; its
effect is applied when a poll of ``GET /operations/<id>`` finishes it (after ``Faults.op_polls`` polls
and ``Faults.op_seconds`` on the injected clock), or at once by ``settle()``. Captures reserve their
image name while in flight (§11.3).
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .faults import Fault, Faults
from .state import Store
from .wire import ClassicError, iso, local, operation_xml, parse, text


@dataclass
class Operation:
    id: str
    status: str = "Succeeded"
    http_status: int = 200
    error: tuple[str, str] | None = None
    polls: int = 0
    started: float = 0.0
    effect: Callable[[], None] | None = None
    fail: Fault | None = None
    on_done: Callable[[], None] | None = None

    def xml(self) -> bytes:
        return operation_xml(self.id, self.status, self.http_status, self.error)


class Operations:
    """Every request's operation record, by request id (without dashes, lower-case)."""

    def __init__(self, store: Store, faults: Faults, clock: Callable[[], float], lock: threading.RLock) -> None:
        self.store, self.faults, self.clock, self.lock = store, faults, clock, lock
        self.ops: dict[str, Operation] = {}

    def record_sync(self, rid: str, status: int) -> None:
        with self.lock:
            self.ops[rid] = Operation(rid, "Succeeded" if status < 400 else "Failed", status)

    def start_async(
        self, rid: str, effect: Callable[[], None], on_done: Callable[[], None] | None = None, name: str = ""
    ) -> None:
        fail = self.faults.take(("fail_operation",), "*", "*")
        if fail is None and name and name.casefold() in self.faults.fail_names:
            self.faults.fail_names.discard(name.casefold())
            fail = Fault("fail_operation", 1, None, None,
                         {"status": 500, "code": "InternalError", "message": f"The operation on {name} failed."})
        with self.lock:
            self.ops[rid] = Operation(
                rid, "InProgress", 0, started=self.clock(), effect=effect, fail=fail, on_done=on_done
            )

    def poll(self, rid: str) -> Operation:
        with self.lock:
            op = self.ops.get(rid.replace("-", "").lower())
            if op is None:
                raise ClassicError(404, "ResourceNotFound", "The operation request ID was not found.")
            if op.status == "InProgress":
                op.polls += 1
                if op.polls >= self.faults.op_polls and self.clock() - op.started >= self.faults.op_seconds:
                    self._finish(op)
            return op

    def _finish(self, op: Operation) -> None:
        try:
            if op.fail is not None:
                p = op.fail.params
                op.status, op.http_status, op.error = "Failed", p["status"], (p["code"], p["message"])
                return
            try:
                assert op.effect is not None
                op.effect()
                op.status, op.http_status = "Succeeded", 200
            except ClassicError as e:
                op.status, op.http_status, op.error = "Failed", e.status, (e.code, e.message)
        finally:
            if op.on_done is not None:
                op.on_done()

    def settle(self) -> None:
        """Finish every operation in flight now (for tests that do not poll)."""
        with self.lock:
            for op in self.ops.values():
                if op.status == "InProgress":
                    self._finish(op)

    # -- role operations ---------------------------------------------------------------------------
    def role_operation(self, svc_name: str, dep_name: str, role_name: str, body: bytes, rid: str) -> int:
        el = parse(body, None)
        op_type = (text(el, "OperationType") or local(el.tag)).strip()
        svc = self.store.service(svc_name)
        dep = self.store.deployment(svc, name=dep_name)
        role = self.store.role(dep, role_name)
        if op_type == "CaptureRoleAsVMImageOperation":
            return self._capture_vm_image(svc, dep, role, el, rid)
        if op_type == "CaptureRoleOperation":
            return self._capture_role(svc, dep, role, el, rid)
        if op_type == "ShutdownRoleOperation":
            post = (text(el, "PostShutdownAction") or "Stopped").casefold()
            status = "StoppedDeallocated" if post == "stoppeddeallocated" else "StoppedVM"
            self.start_async(rid, lambda: role.__setitem__("InstanceStatus", status))
            return 202
        if op_type == "StartRoleOperation":
            self.start_async(rid, lambda: role.__setitem__("InstanceStatus", "ReadyRole"))
            return 202
        raise ClassicError(400, "BadRequest", f"Unknown operation type {op_type!r}.")

    def _capture(
        self, kind: str, img: dict[str, Any], rid: str, remove_role: Callable[[], None] | None
    ) -> int:
        """Reserve the name, and on success add the image and (if asked) remove the role."""
        key = (kind, str(img["Name"]).casefold())
        self.store.pending.add(key)

        def effect() -> None:
            self.store.data[kind].append(img)
            if remove_role is not None:
                remove_role()

        self.start_async(rid, effect, on_done=lambda: self.store.pending.discard(key), name=str(img["Name"]))
        return 202

    def _capture_vm_image(
        self, svc: dict[str, Any], dep: dict[str, Any], role: dict[str, Any], el: ET.Element, rid: str
    ) -> int:
        name, label, os_state = text(el, "VMImageName"), text(el, "VMImageLabel"), text(el, "OSState")
        if not (name and label and os_state) or os_state.casefold() not in ("generalized", "specialized"):
            raise ClassicError(
                400, "BadRequest", "VMImageName, VMImageLabel and OSState (Generalized|Specialized) are required."
            )
        self.store.check_free("vm_images", name)
        generalized = os_state.casefold() == "generalized"
        os_disk, data = self.store.disks_for(name, role)
        os_disk["OSState"] = "Generalized" if generalized else "Specialized"
        now = iso(self.store.now())
        img: dict[str, Any] = {
            "Name": name, "Label": label, "Category": "User", "Description": text(el, "Description"),
            "OSDiskConfiguration": os_disk, "DataDiskConfigurations": data,
            "ServiceName": svc["ServiceName"], "DeploymentName": dep["Name"], "RoleName": role["RoleName"],
            "Location": svc.get("Location") or self.store.data["location"], "CreatedTime": now, "ModifiedTime": now,
            "Language": text(el, "Language"), "ImageFamily": text(el, "ImageFamily"),
            "RecommendedVMSize": text(el, "RecommendedVMSize"), "IsPremium": False,
            "VMImageState": "VMImageReadyForUse", "RoleStateOnCapture": role.get("InstanceStatus", "StoppedVM"),
            "RoleSizeOnCapture": role.get("RoleSize", "Small"),
        }
        return self._capture(
            "vm_images", img, rid, (lambda: self.store.remove_role(svc, dep, role)) if generalized else None
        )

    def _capture_role(
        self, svc: dict[str, Any], dep: dict[str, Any], role: dict[str, Any], el: ET.Element, rid: str
    ) -> int:
        name, label = text(el, "TargetImageName"), text(el, "TargetImageLabel")
        action = (text(el, "PostCaptureAction") or "").casefold()
        if not (name and label) or action not in ("delete", "reprovision"):
            raise ClassicError(
                400, "BadRequest",
                "TargetImageName, TargetImageLabel and PostCaptureAction (Delete|Reprovision) are required.",
            )
        self.store.check_free("os_images", name)
        os_disk, _ = self.store.disks_for(name, role)
        img: dict[str, Any] = {
            "Category": "User", "Label": label, "Location": svc.get("Location") or self.store.data["location"],
            "LogicalSizeInGB": os_disk["LogicalDiskSizeInGB"], "MediaLink": os_disk["MediaLink"], "Name": name,
            "OS": os_disk["OS"], "IsPremium": False, "OSState": "Generalized", "IOType": "Standard",
        }
        return self._capture(
            "os_images", img, rid, (lambda: self.store.remove_role(svc, dep, role)) if action == "delete" else None
        )
