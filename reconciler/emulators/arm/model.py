"""The ARM emulator's vocabulary: resource types, the answer and error types, operations, id helpers.

Layer: emulator (pure data and functions; no sockets, no state). Shared by ``backend.py``, the generic
CRUD table (``crud.py``) and the per-type modules (``images.py``, ``vms.py``, ``gallery.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

COMPUTE_API_VERSIONS = ("2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01", "2025-11-01", "2026-04-01")
GALLERY_API_VERSIONS = ("2024-03-03", "2025-03-03", "2026-03-03")
#: Documented allow-list per resource-type family; the newest of each is what azure-mgmt-compute 39 sends.
API_VERSIONS: dict[str, tuple[str, ...]] = {
    "compute": COMPUTE_API_VERSIONS,
    "gallery": GALLERY_API_VERSIONS,
    "marketplace": COMPUTE_API_VERSIONS,  # ComputeRP's Marketplace paths (issue 14)
    "operations": tuple(sorted(set(COMPUTE_API_VERSIONS + GALLERY_API_VERSIONS))),
    "vmlistall": COMPUTE_API_VERSIONS,
    # DiskRP (Disks_Get / Snapshots_Get, disks.py): not in the packaged specs; its stable versions
    # around 2024-03-02 (learn.microsoft.com REST reference, "Disks - Get").
    "disks": ("2023-04-02", "2023-10-02", "2024-03-02", "2025-01-02"),
    # Microsoft.ResourceGraph/resources: 2022-10-01 is the copied spec; 2021-03-01 and 2024-04-01 are
    # the neighbouring stable versions (shared/azure-rest/CONTRACT.md "newer stable 2024-04-01 exists").
    "resourcegraph": ("2021-03-01", "2022-10-01", "2024-04-01"),
}

TYPE_IMAGE = "Microsoft.Compute/images"
TYPE_VM = "Microsoft.Compute/virtualMachines"
TYPE_GALLERY = "Microsoft.Compute/galleries"
TYPE_GALLERY_IMAGE = "Microsoft.Compute/galleries/images"
TYPE_VERSION = "Microsoft.Compute/galleries/images/versions"
TYPE_VMSS = "Microsoft.Compute/virtualMachineScaleSets"


@dataclass
class Reply:
    """One HTTP answer. ``body`` is JSON-ready data, or None for an empty body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    definition: str | None = None  # the spec definition the body claims to be (for test checks)


@dataclass(frozen=True)
class Call:
    """One routed ARM request as a handler sees it: the path parameters named by the spec."""

    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any  # the parsed JSON body (validated against the operation's definition), or None
    version: str  # the api-version, already checked against the allow-list
    base: str  # scheme://host:port, for absolute links (nextLink, Azure-AsyncOperation)


class ArmError(Exception):
    """An ARM error answer: raised inside handlers, turned into a ``CloudError`` body once."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target
        self.details = details
        self.headers = headers or {}

    def reply(self) -> Reply:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return Reply(self.status, {"error": error}, dict(self.headers), "common.CloudError")


@dataclass
class Operation:
    """A long-running operation: the status resource plus what happens to the resource when it ends."""

    op_id: str
    subscription: str
    location: str
    resource_key: str
    resource_name: str
    kind: str  # create | update | delete | deallocate
    api_version: str
    started: float
    start_time: str
    fail: bool
    status: str = "InProgress"
    answered: int = 0
    end_time: str | None = None
    error: dict[str, str] | None = None
    #: Where its status resource lives: ``operations`` (ComputeRP) or ``capsOperations`` (GalleryRP).
    collection: str = "operations"

    @property
    def done(self) -> bool:
        return self.status != "InProgress"

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.op_id, "status": self.status, "startTime": self.start_time}
        if self.end_time:
            body["endTime"] = self.end_time
        if self.error:
            body["error"] = dict(self.error)
        return body


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def norm_location(location: str) -> str:
    """ARM compares regions without case or spaces: ``West US`` == ``westus``."""
    return location.replace(" ", "").lower()


def type_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        raise ValueError(f"not a resource id: {resource_id!r}")
    i = lowered.index("providers")
    rest = parts[i + 1 :]
    namespace, pairs = rest[0], rest[1:]
    types = [pairs[k] for k in range(0, len(pairs), 2)]
    canonical = {t.lower(): t for t in ("virtualMachines", "images", "galleries", "versions")}
    return "/".join(
        [namespace.replace("microsoft.compute", "Microsoft.Compute"), *[canonical.get(t.lower(), t) for t in types]]
    )


def is_type(resource: Mapping[str, Any] | None, rtype: str) -> bool:
    return resource is not None and str(resource.get("type", "")).lower() == rtype.lower()


def subset(wanted: Any, have: Any) -> bool:
    """True if every value given in ``wanted`` is present and equal in ``have`` (ids without case)."""
    if isinstance(wanted, dict):
        return isinstance(have, dict) and all(subset(v, have.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(have, list)
            and len(wanted) == len(have)
            and all(subset(w, h) for w, h in zip(wanted, have, strict=True))
        )
    if isinstance(wanted, str) and isinstance(have, str):
        return wanted.lower() == have.lower() if wanted.startswith("/") else wanted == have
    return bool(wanted == have)


def first_difference(wanted: Any, have: Any, path: str) -> str | None:
    if isinstance(wanted, dict) and isinstance(have, dict):
        for key, value in wanted.items():
            found = first_difference(value, have.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if subset(wanted, have) else path


def immutable(target: str) -> ArmError:
    return ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{target}' is not allowed.", target=target)


def invalid_expand(expand: str) -> ArmError:
    message = f"The value '{expand}' of parameter '$expand' is invalid."
    return ArmError(400, "InvalidParameter", message, target="$expand")


def not_allowed(message: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed", message)


def parent_not_found(name: str) -> ArmError:
    return ArmError(
        404,
        "ParentResourceNotFound",
        f"Can not perform requested operation on nested resource. Parent resource '{name}' not found.",
    )
