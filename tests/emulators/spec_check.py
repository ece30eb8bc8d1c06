"""Test helper: check every body the ARM emulator answers against the published spec's schema.

The expected definition is derived from the request (method + path -> swagger operation -> declared
response for that status), never from what the emulator claims, so a wrong status or shape fails.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from reconciler.emulators.arm.schema import spec_schemas

_OPERATION = re.compile(
    r"/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/[^/]+/(?:operations|capsOperations)/[^/]+",
    re.IGNORECASE)
_BY_TYPE = {
    "microsoft.compute/images": "compute.Image",
    "microsoft.compute/virtualmachines": "compute.VirtualMachine",
    "microsoft.compute/galleries": "gallery.Gallery",
    "microsoft.compute/galleries/images": "gallery.GalleryImage",
    "microsoft.compute/galleries/images/versions": "gallery.GalleryImageVersion",
}


class SpecChecker:
    """Collects every spec violation seen in emulator answers (the hook runs in server threads)."""

    def __init__(self) -> None:
        self.schemas = spec_schemas()
        self.problems: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, query: dict[str, str], status: int, body: Any) -> None:
        try:
            found = self.check(method, path, query, status, body)
        except Exception as exc:  # noqa: BLE001 - the hook must never kill the server thread
            found = [f"checker crashed: {exc!r}"]
        with self._lock:
            self.checked += 1
            self.problems.extend(f"{method} {path} -> {status}: {p}" for p in found)

    def check(self, method: str, path: str, query: dict[str, str], status: int, body: Any) -> list[str]:
        """Problems with one answer (empty when it follows the spec)."""
        if status >= 400:
            if body is None:
                return ["an error answer must carry a CloudError body"]
            return self.schemas.response_errors("common.CloudError", body)
        if _OPERATION.fullmatch(path):
            if query.get("monitor") == "true":
                if status in (202, 204) or body is None:
                    return [] if body is None else ["a running/finished Location poll has no body"]
                definition = _BY_TYPE.get(str(body.get("type", "")).lower())
                if definition is None:
                    return [f"final Location body has unknown type {body.get('type')!r}"]
                return self.schemas.response_errors(definition, body)
            return self.schemas.response_errors("arm.OperationStatus", body)
        matched = self.schemas.match(method, path, query)
        if matched is None:
            return [f"no spec operation for {method} {path}"]
        op, _ = matched
        if str(status) not in op.responses:
            return [f"status {status} is not declared by {op.operation_id} ({sorted(op.responses)})"]
        definition = op.responses[str(status)]
        if definition is None:
            return [] if body is None else [f"{op.operation_id} {status} declares no body"]
        if body is None:
            return [f"{op.operation_id} {status} must have a {definition} body"]
        if op.operation_id == "VirtualMachineImages_ListWithProperties" and isinstance(body, dict):
            # The emulator's ``page`` shape, as the operation's only example answers (the swagger
            # says array; emulators/arm/marketplace.py): each item must still be a VirtualMachineImage.
            extra = sorted(set(body) - {"value", "nextLink"})
            return [f"page keys {extra}"] if extra else self.schemas.response_errors(definition, body["value"])
        return self.schemas.response_errors(definition, body)
