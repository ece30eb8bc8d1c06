"""The ARM emulator's resource logic: state, routing, validation, long-running operations.

Layer: emulator (no sockets here; ``arm.py`` owns the HTTP server, faults and recording). ``ArmBackend``
turns one request (method, path, query, headers, body bytes) into one ``Reply``. It follows the copied
specs (ComputeRP 2025-11-01, GalleryRP 2025-03-03) and ``shared/azure-rest/CONTRACT.md``; where those
are silent the choice is written down in docs/arm-emulator.md as "emulator behaviour".

Long-running operations advance only when observed (status polls, resource reads, any later request)
and by the injected clock, never by a timer thread, so tests are deterministic.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from reconciler.emulators.arm_schema import deep_copy, spec_schemas

COMPUTE_API_VERSIONS = ("2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01", "2025-11-01", "2026-04-01")
GALLERY_API_VERSIONS = ("2024-03-03", "2025-03-03", "2026-03-03")
#: Documented allow-list per resource-type family; the newest of each is what azure-mgmt-compute 39 sends.
API_VERSIONS: dict[str, tuple[str, ...]] = {
    "compute": COMPUTE_API_VERSIONS,
    "gallery": GALLERY_API_VERSIONS,
    "operations": tuple(sorted(set(COMPUTE_API_VERSIONS + GALLERY_API_VERSIONS))),
}

TYPE_IMAGE = "Microsoft.Compute/images"
TYPE_VM = "Microsoft.Compute/virtualMachines"
TYPE_GALLERY = "Microsoft.Compute/galleries"
TYPE_GALLERY_IMAGE = "Microsoft.Compute/galleries/images"
TYPE_VERSION = "Microsoft.Compute/galleries/images/versions"

_VERSION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_OPERATION_PATH = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)"
    r"/operations/(?P<op>[^/]+)",
    re.IGNORECASE,
)
_FILTER_VMSS = re.compile(r"^\s*'?virtualMachineScaleSet/id'?\s+eq\s+'(?P<id>[^']+)'\s*$", re.IGNORECASE)
_INT32_MAX = 2**31 - 1


@dataclass
class Reply:
    """One HTTP answer. ``body`` is JSON-ready data, or None for an empty body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    definition: str | None = None  # the spec definition the body claims to be (for test checks)


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


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _norm_location(location: str) -> str:
    """ARM compares regions without case or spaces: ``West US`` == ``westus``."""
    return location.replace(" ", "").lower()


def _type_of(resource_id: str) -> str:
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


def _statuses(vm: dict[str, Any]) -> list[dict[str, Any]]:
    view = vm.setdefault("properties", {}).setdefault("instanceView", {})
    return view.setdefault("statuses", _default_statuses())


def _default_statuses() -> list[dict[str, Any]]:
    """A VM seeded without an instance view is a running, provisioned VM (emulator behaviour)."""
    return [
        {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
        {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
    ]


def _codes(vm: dict[str, Any]) -> set[str]:
    view = vm.get("properties", {}).get("instanceView")
    statuses = view.get("statuses", []) if isinstance(view, dict) else _default_statuses()
    return {str(s.get("code", "")).lower() for s in statuses}


def _power_state(vm: dict[str, Any]) -> str:
    for code in _codes(vm):
        if code.startswith("powerstate/"):
            return code.split("/", 1)[1]
    return "running"


def _is_generalized(vm: dict[str, Any]) -> bool:
    return "osstate/generalized" in _codes(vm)


def _set_power(vm: dict[str, Any], state: str, display: str) -> None:
    statuses = [s for s in _statuses(vm) if not str(s.get("code", "")).lower().startswith("powerstate/")]
    statuses.append({"code": f"PowerState/{state}", "level": "Info", "displayStatus": display})
    vm["properties"]["instanceView"]["statuses"] = statuses


def _subset(wanted: Any, have: Any) -> bool:
    """True if every value given in ``wanted`` is present and equal in ``have`` (ids without case)."""
    if isinstance(wanted, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(have, list)
            and len(wanted) == len(have)
            and all(_subset(w, h) for w, h in zip(wanted, have, strict=True))
        )
    if isinstance(wanted, str) and isinstance(have, str):
        return wanted.lower() == have.lower() if wanted.startswith("/") else wanted == have
    return bool(wanted == have)


def _first_difference(wanted: Any, have: Any, path: str) -> str | None:
    if isinstance(wanted, dict) and isinstance(have, dict):
        for key, value in wanted.items():
            found = _first_difference(value, have.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if _subset(wanted, have) else path


class ArmBackend:
    """The emulated control plane. Thread-safe: one lock around every request's state work."""

    def __init__(
        self,
        *,
        page_size: int = 100,
        clock: Callable[[], float],
        seed: int = 0,
        lro_polls: Callable[[], int],
        lro_seconds: Callable[[], float],
        retry_after: Callable[[], int],
        take_failure: Callable[[str], bool],
    ) -> None:
        self.page_size = page_size
        self.clock = clock
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}  # lower-cased id -> resource as GET returns it
        self.operations: dict[str, Operation] = {}
        self._lro_polls, self._lro_seconds = lro_polls, lro_seconds
        self._retry_after, self._take_failure = retry_after, take_failure
        self.schemas = spec_schemas()

    # ---- state -----------------------------------------------------------------------------------
    def load(self, state: Mapping[str, Any]) -> None:
        """Replace the state with ``{"resources": [...]}``; raises ValueError naming the bad item."""
        items = state.get("resources") if isinstance(state, Mapping) else None
        if not isinstance(items, list):
            raise ValueError('state must be an object {"resources": [...]}')
        loaded: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ValueError(f"resources[{index}]: each resource needs a string 'id'")
            resource = deep_copy(item)
            try:
                resource.setdefault("type", _type_of(resource["id"]))
            except (ValueError, IndexError) as exc:
                raise ValueError(f"resources[{index}]: {exc}") from exc
            resource.setdefault("name", resource["id"].rstrip("/").rsplit("/", 1)[-1])
            resource.setdefault("properties", {})
            loaded[resource["id"].lower()] = resource
        with self.lock:
            self.resources = loaded
            self.operations = {}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            self._tick()
            return {"resources": [deep_copy(r) for _, r in sorted(self.resources.items())]}

    # ---- entry point -----------------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw_body: bytes,
        base_url: str,
    ) -> Reply:
        """Answer one ARM request. ``headers`` keys are lower-case; ``base_url`` builds absolute links."""
        try:
            self._check_auth(headers)
            with self.lock:
                self._tick()
                return self._route(method.upper(), path.rstrip("/") or "/", query, raw_body, base_url)
        except ArmError as exc:
            return exc.reply()

    def _check_auth(self, headers: Mapping[str, str]) -> None:
        auth = headers.get("authorization")
        if not auth:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    'error_description="The authentication failed because of missing '
                    "'Authorization' header.\""
                },
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    def _check_api_version(self, family: str, query: Mapping[str, str], resource_type: str) -> str:
        version = query.get("api-version")
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        allowed = API_VERSIONS[family]
        if version not in allowed:
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are "
                f"'{','.join(reversed(allowed))}'. (resource type '{resource_type}')",
            )
        return version

    def _route(self, method: str, path: str, query: Mapping[str, str], raw: bytes, base: str) -> Reply:
        m = _OPERATION_PATH.fullmatch(path)
        if m:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"The HTTP method '{method}' is not supported.")
            self._check_api_version("operations", query, "Microsoft.Compute/locations/operations")
            return self._operation_status(m.group("op"), query, base)
        matched = self.schemas.match(method, path)
        if matched is None:
            if self.schemas.path_exists(path):
                raise ArmError(
                    405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'."
                )
            raise ArmError(
                404,
                "InvalidResourceType",
                f"The resource type could not be found in the namespace 'Microsoft.Compute' for path '{path}'.",
            )
        op, params = matched
        version = self._check_api_version(op.spec, query, op.operation_id)
        body = None
        if op.body_definition:
            body = self._parse_body(raw)
            problem = self.schemas.request_problem(op.body_definition, body)
            if problem:
                raise ArmError(400, "InvalidParameter", problem.message, target=problem.target)
        handler = getattr(self, f"_op_{op.operation_id}", None)
        if handler is None:
            raise ArmError(501, "NotImplemented", f"The emulator does not implement operation '{op.operation_id}'.")
        reply: Reply = handler(params=params, query=query, body=body, version=version, base=base, op=op)
        return reply

    @staticmethod
    def _parse_body(raw: bytes) -> Any:
        if not raw.strip():
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'The request body is empty.'",
            )
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(
                400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: '{exc}'."
            ) from exc

    # ---- ids and lookups -------------------------------------------------------------------------
    @staticmethod
    def _rg_prefix(p: Mapping[str, str]) -> str:
        return (
            f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}/providers/Microsoft.Compute"
        )

    def _id(self, p: Mapping[str, str], *pairs: tuple[str, str]) -> str:
        return self._rg_prefix(p) + "".join(f"/{t}/{n}" for t, n in pairs)

    def _get(self, resource_id: str) -> dict[str, Any] | None:
        return self.resources.get(resource_id.lower())

    def _read(self, resource_id: str, p: Mapping[str, str]) -> dict[str, Any]:
        """A GET of one resource: it also counts as a poll of the resource's running operation."""
        op = self._in_flight(resource_id.lower())
        if op:
            self._observe(op)
        return self._require(resource_id, p)

    def _require(self, resource_id: str, p: Mapping[str, str]) -> dict[str, Any]:
        resource = self._get(resource_id)
        if resource is None:
            raise self._not_found(resource_id, p)
        return resource

    @staticmethod
    def _not_found(resource_id: str, p: Mapping[str, str]) -> ArmError:
        rel = resource_id.split("/providers/", 1)[1]
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{rel}' under resource group '{p['resourceGroupName']}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )

    def _children(self, prefix_id: str, rtype: str) -> list[dict[str, Any]]:
        prefix = prefix_id.lower() + "/"
        return [
            r
            for k, r in sorted(self.resources.items())
            if k.startswith(prefix) and r.get("type", "").lower() == rtype.lower()
        ]

    def _in_flight(self, key: str) -> Operation | None:
        for op in self.operations.values():
            if op.resource_key == key and not op.done:
                return op
        return None

    # ---- pagination ------------------------------------------------------------------------------
    def _page(
        self,
        items: list[dict[str, Any]],
        query: Mapping[str, str],
        path: str,
        base: str,
        render: Callable[[dict[str, Any]], dict[str, Any]],
        definition: str,
    ) -> Reply:
        """One page of ``items`` (sorted by id). ``$skiptoken`` is the last id of the previous page."""
        token = query.get("$skiptoken")
        if token:
            try:
                after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
                if not after.startswith("/subscriptions/"):
                    raise ValueError(after)
            except ValueError as exc:
                raise ArmError(400, "InvalidParameter", "The $skiptoken is invalid.", target="$skiptoken") from exc
            items = [r for r in items if r["id"].lower() > after]
        page, rest = items[: self.page_size], items[self.page_size :]
        body: dict[str, Any] = {"value": [render(r) for r in page]}
        if rest:
            next_token = base64.urlsafe_b64encode(page[-1]["id"].lower().encode()).decode()
            keep = {k: v for k, v in query.items() if k != "$skiptoken"}
            keep["$skiptoken"] = next_token
            body["nextLink"] = f"{base}{path}?{urlencode(keep, safe='$/')}"
        return Reply(200, body, definition=definition)

    # ---- long-running operations -----------------------------------------------------------------
    def _start(self, resource: dict[str, Any], kind: str, version: str, sub: str) -> Operation:
        op_id = f"{self.rng.getrandbits(128):032x}"
        op_id = f"{op_id[:8]}-{op_id[8:12]}-{op_id[12:16]}-{op_id[16:20]}-{op_id[20:]}"
        op = Operation(
            op_id=op_id,
            subscription=sub,
            location=_norm_location(resource.get("location", "westus")),
            resource_key=resource["id"].lower(),
            resource_name=resource["name"],
            kind=kind,
            api_version=version,
            started=self.clock(),
            start_time=_now_iso(),
            fail=self._take_failure(resource["name"]),
        )
        self.operations[op_id] = op
        return op

    def _lro_headers(self, op: Operation, base: str) -> dict[str, str]:
        url = (
            f"{base}/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/{op.location}"
            f"/operations/{op.op_id}?api-version={op.api_version}"
        )
        return {"Azure-AsyncOperation": url, "Location": url + "&monitor=true", "Retry-After": str(self._retry_after())}

    def _ready(self, op: Operation) -> bool:
        return op.answered >= self._lro_polls() and self.clock() - op.started >= self._lro_seconds()

    def _tick(self) -> None:
        """Finish every operation whose polls and duration are both used up."""
        for op in list(self.operations.values()):
            if not op.done and self._ready(op):
                self._finish(op)

    def _observe(self, op: Operation) -> None:
        """A poll of ``op`` (status URL, Location URL or a GET of its resource)."""
        if op.done:
            return
        if self._ready(op):
            self._finish(op)
        else:
            op.answered += 1

    def _finish(self, op: Operation) -> None:
        op.end_time = _now_iso()
        resource = self.resources.get(op.resource_key)
        if op.fail:
            op.status = "Failed"
            op.error = {
                "code": "InternalExecutionError",
                "message": f"The '{op.kind}' operation on '{op.resource_name}' failed "
                "(fault injected by the emulator).",
            }
            if resource is not None:
                if op.kind == "deallocate":
                    resource["properties"]["provisioningState"] = "Failed"
                    _set_power(resource, "running", "VM running")
                else:
                    resource["properties"]["provisioningState"] = "Failed"
            return
        op.status = "Succeeded"
        if resource is None:
            return
        if op.kind == "delete":
            del self.resources[op.resource_key]
        elif op.kind == "deallocate":
            resource["properties"]["provisioningState"] = "Succeeded"
            _set_power(resource, "deallocated", "VM deallocated")
        else:
            resource["properties"]["provisioningState"] = "Succeeded"

    def _operation_status(self, op_id: str, query: Mapping[str, str], base: str) -> Reply:
        op = self.operations.get(op_id.lower()) or self.operations.get(op_id)
        if op is None:
            raise ArmError(404, "NotFound", f"The operation '{op_id}' was not found.")
        self._observe(op)
        monitor = query.get("monitor", "").lower() == "true"
        if not monitor:
            return Reply(200, op.status_body(), definition="arm.OperationStatus")
        # The Location URL: 202 while running, then the operation's final answer.
        if not op.done:
            headers = self._lro_headers(op, base)
            headers.pop("Azure-AsyncOperation")
            return Reply(202, None, headers)
        if op.status == "Failed":
            assert op.error is not None
            raise ArmError(400, op.error["code"], op.error["message"])
        resource = self.resources.get(op.resource_key)
        if op.kind in ("create", "update") and resource is not None:
            return Reply(200, self._render(resource, query={}), definition=self._definition(resource))
        if op.kind == "delete":
            return Reply(204)
        return Reply(200)

    # ---- rendering -------------------------------------------------------------------------------
    @staticmethod
    def _definition(resource: dict[str, Any]) -> str:
        return {
            TYPE_IMAGE.lower(): "compute.Image",
            TYPE_VM.lower(): "compute.VirtualMachine",
            TYPE_GALLERY.lower(): "gallery.Gallery",
            TYPE_GALLERY_IMAGE.lower(): "gallery.GalleryImage",
            TYPE_VERSION.lower(): "gallery.GalleryImageVersion",
        }.get(resource.get("type", "").lower(), "arm.TrackedResource")

    def _render(self, resource: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
        out = deep_copy(resource)
        rtype = resource.get("type", "").lower()
        expand = query.get("$expand", "").lower()
        if rtype == TYPE_VM.lower():
            if expand == "instanceview":
                props = out.setdefault("properties", {})
                props.setdefault("instanceView", {}).setdefault("statuses", _default_statuses())
            else:
                out.get("properties", {}).pop("instanceView", None)
        if rtype == TYPE_VERSION.lower() and expand == "replicationstatus":
            done = out["properties"].get("provisioningState") == "Succeeded"
            regions = [
                t.get("name") for t in out["properties"].get("publishingProfile", {}).get("targetRegions", [])
            ] or [out.get("location")]
            out["properties"]["replicationStatus"] = {
                "aggregatedState": "Completed" if done else "InProgress",
                "summary": [
                    {
                        "region": r,
                        "state": "Completed" if done else "Replicating",
                        "details": "",
                        "progress": 100 if done else 0,
                    }
                    for r in regions
                ],
            }
        return out

    def _new(self, resource_id: str, rtype: str, body: dict[str, Any], name: str) -> dict[str, Any]:
        resource: dict[str, Any] = {"id": resource_id, "name": name, "type": rtype, "location": body["location"]}
        if body.get("tags") is not None:
            resource["tags"] = dict(body["tags"])
        if body.get("extendedLocation"):
            resource["extendedLocation"] = deep_copy(body["extendedLocation"])
        resource["properties"] = {}
        return resource

    def _check_location(self, existing: dict[str, Any], body: dict[str, Any], p: Mapping[str, str]) -> None:
        if _norm_location(existing.get("location", "")) != _norm_location(body.get("location", "")):
            raise ArmError(
                409,
                "InvalidResourceLocation",
                f"The resource '{existing['name']}' already exists in location "
                f"'{existing.get('location')}' in resource group '{p['resourceGroupName']}'. "
                "A resource with the same name cannot be created in location "
                f"'{body.get('location')}'. Please select a new resource name.",
            )

    @staticmethod
    def _busy(existing: dict[str, Any]) -> None:
        if existing.get("properties", {}).get("provisioningState") == "Deleting":
            raise ArmError(
                409,
                "AnotherOperationInProgress",
                f"Another operation is in progress on resource '{existing['name']}': Deleting.",
            )

    @staticmethod
    def _immutable(target: str) -> ArmError:
        return ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{target}' is not allowed.", target=target)

    def _accepted(self, status: int, resource: dict[str, Any], op: Operation | None, base: str) -> Reply:
        headers = self._lro_headers(op, base) if op else {}
        return Reply(status, self._render(resource, {}), headers, self._definition(resource))

    def _delete(
        self, resource_id: str, version: str, p: Mapping[str, str], base: str, child_type: str | None = None
    ) -> Reply:
        resource = self._get(resource_id)
        if resource is None:
            return Reply(204)
        if child_type and self._children(resource_id, child_type):
            raise ArmError(409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted.")
        op = self._in_flight(resource_id.lower())
        if op is None or op.kind != "delete":
            resource["properties"]["provisioningState"] = "Deleting"
            op = self._start(resource, "delete", version, p["subscriptionId"])
        return Reply(202, None, self._lro_headers(op, base))

    # ---- managed images --------------------------------------------------------------------------
    def _op_Images_List(self, *, params, query, base, **_: Any) -> Reply:
        prefix = f"/subscriptions/{params['subscriptionId']}/".lower()
        items = [
            r
            for k, r in sorted(self.resources.items())
            if k.startswith(prefix) and r.get("type", "").lower() == TYPE_IMAGE.lower()
        ]
        path = f"/subscriptions/{params['subscriptionId']}/providers/Microsoft.Compute/images"
        return self._page(items, query, path, base, lambda r: self._render(r, {}), "compute.ImageListResult")

    def _op_Images_ListByResourceGroup(self, *, params, query, base, **_: Any) -> Reply:
        rg = f"/subscriptions/{params['subscriptionId']}/resourceGroups/{params['resourceGroupName']}"
        items = self._children(rg + "/providers/Microsoft.Compute/images", TYPE_IMAGE)
        return self._page(
            items,
            query,
            rg + "/providers/Microsoft.Compute/images",
            base,
            lambda r: self._render(r, {}),
            "compute.ImageListResult",
        )

    def _op_Images_Get(self, *, params, query, **_: Any) -> Reply:
        resource = self._read(self._id(params, ("images", params["imageName"])), params)
        return Reply(200, self._render(resource, query), definition="compute.Image")

    def _op_Images_CreateOrUpdate(self, *, params, body, version, base, **_: Any) -> Reply:
        image_id = self._id(params, ("images", params["imageName"]))
        props = body.get("properties") or {}
        existing = self._get(image_id)
        if existing is not None:
            self._busy(existing)
            self._check_location(existing, body, params)
            have = existing["properties"]
            for key in ("sourceVirtualMachine", "storageProfile", "hyperVGeneration"):
                if key in props and props[key] is not None:
                    diff = _first_difference(props[key], have.get(key), key)
                    if diff:
                        raise self._immutable(f"properties.{diff}")
            op = self._in_flight(image_id.lower())
            if "tags" in body and (body.get("tags") or {}) != (existing.get("tags") or {}):
                existing["tags"] = dict(body.get("tags") or {})
                if op is None:
                    have["provisioningState"] = "Updating"
                    op = self._start(existing, "update", version, params["subscriptionId"])
            return self._accepted(200, existing, op, base)
        image = self._new(image_id, TYPE_IMAGE, body, params["imageName"])
        out = image["properties"]
        source_vm = (props.get("sourceVirtualMachine") or {}).get("id")
        if source_vm:
            vm = self._get(source_vm)
            if vm is None or vm.get("type", "").lower() != TYPE_VM.lower():
                raise ArmError(
                    404,
                    "NotFound",
                    f"The Virtual Machine '{source_vm}' was not found.",
                    target="properties.sourceVirtualMachine.id",
                )
            if not _is_generalized(vm):
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The operation 'Create Image' requires the Virtual Machine '{vm['name']}' to be Generalized.",
                )
            if _power_state(vm) not in ("deallocated", "stopped"):
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The operation 'Create Image' requires the "
                    f"Virtual Machine '{vm['name']}' to be deallocated or stopped.",
                )
            out["sourceVirtualMachine"] = {"id": vm["id"]}
            out["storageProfile"] = self._profile_from_vm(vm)
            view = vm.get("properties", {}).get("instanceView") or {}
            out["hyperVGeneration"] = props.get("hyperVGeneration") or view.get("hyperVGeneration") or "V1"
        elif (props.get("storageProfile") or {}).get("osDisk"):
            profile = deep_copy(props["storageProfile"])
            profile.setdefault("dataDisks", [])
            profile.setdefault("zoneResilient", False)
            out["storageProfile"] = profile
            out["hyperVGeneration"] = props.get("hyperVGeneration") or "V1"
        else:
            raise ArmError(
                400,
                "InvalidParameter",
                "Either 'sourceVirtualMachine' or 'storageProfile.osDisk' must be specified.",
                target="properties.storageProfile",
            )
        out["provisioningState"] = "Creating"
        self.resources[image_id.lower()] = image
        op = self._start(image, "create", version, params["subscriptionId"])
        return self._accepted(201, image, op, base)

    @staticmethod
    def _profile_from_vm(vm: dict[str, Any]) -> dict[str, Any]:
        storage = vm.get("properties", {}).get("storageProfile", {})
        os_disk = storage.get("osDisk", {})
        disk: dict[str, Any] = {
            "osType": os_disk.get("osType", "Linux"),
            "osState": "Generalized",
            "caching": os_disk.get("caching", "ReadWrite"),
        }
        managed = os_disk.get("managedDisk") or {}
        if managed.get("id"):
            disk["managedDisk"] = {"id": managed["id"]}
        if managed.get("storageAccountType"):
            disk["storageAccountType"] = managed["storageAccountType"]
        if os_disk.get("diskSizeGB"):
            disk["diskSizeGB"] = os_disk["diskSizeGB"]
        data_disks = []
        for dd in storage.get("dataDisks", []):
            item: dict[str, Any] = {"lun": dd["lun"], "caching": dd.get("caching", "None")}
            dm = dd.get("managedDisk") or {}
            if dm.get("id"):
                item["managedDisk"] = {"id": dm["id"]}
            if dm.get("storageAccountType"):
                item["storageAccountType"] = dm["storageAccountType"]
            if dd.get("diskSizeGB"):
                item["diskSizeGB"] = dd["diskSizeGB"]
            data_disks.append(item)
        return {"osDisk": disk, "dataDisks": data_disks, "zoneResilient": False}

    def _op_Images_Update(self, *, params, body, version, base, **_: Any) -> Reply:
        image_id = self._id(params, ("images", params["imageName"]))
        existing = self._require(image_id, params)
        self._busy(existing)
        # "Only tags may be updated": echoing unchanged properties is allowed (the spec example does).
        diff = _first_difference(body.get("properties") or {}, existing["properties"], "")
        if diff:
            raise self._immutable(f"properties.{diff}")
        op = self._in_flight(image_id.lower())
        if "tags" in body:
            existing["tags"] = dict(body.get("tags") or {})
        if op is None:
            existing["properties"]["provisioningState"] = "Updating"
            op = self._start(existing, "update", version, params["subscriptionId"])
        return self._accepted(200, existing, op, base)

    def _op_Images_Delete(self, *, params, version, base, **_: Any) -> Reply:
        return self._delete(self._id(params, ("images", params["imageName"])), version, params, base)

    # ---- virtual machines ------------------------------------------------------------------------
    def _op_VirtualMachines_List(self, *, params, query, base, **_: Any) -> Reply:
        rg = f"/subscriptions/{params['subscriptionId']}/resourceGroups/{params['resourceGroupName']}"
        items = self._children(rg + "/providers/Microsoft.Compute/virtualMachines", TYPE_VM)
        expand = query.get("$expand")
        if expand is not None and expand.lower() != "instanceview":
            raise ArmError(
                400, "InvalidParameter", f"The value '{expand}' of parameter '$expand' is invalid.", target="$expand"
            )
        flt = query.get("$filter")
        if flt:
            m = _FILTER_VMSS.match(flt)
            if not m:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"The $filter '{flt}' is not supported. Allowed is "
                    "'virtualMachineScaleSet/id' eq '<scale set id>'.",
                    target="$filter",
                )
            want = m.group("id").lower()
            items = [
                v
                for v in items
                if str(v.get("properties", {}).get("virtualMachineScaleSet", {}).get("id", "")).lower() == want
            ]
        render_query = {"$expand": expand or ""}
        return self._page(
            items,
            query,
            rg + "/providers/Microsoft.Compute/virtualMachines",
            base,
            lambda r: self._render(r, render_query),
            "compute.VirtualMachineListResult",
        )

    def _vm(self, params: Mapping[str, str]) -> dict[str, Any]:
        return self._require(self._id(params, ("virtualMachines", params["vmName"])), params)

    def _op_VirtualMachines_Get(self, *, params, query, **_: Any) -> Reply:
        expand = query.get("$expand")
        if expand is not None and expand not in ("instanceView", "userData", "resiliencyView"):
            raise ArmError(
                400, "InvalidParameter", f"The value '{expand}' of parameter '$expand' is invalid.", target="$expand"
            )
        vm = self._read(self._id(params, ("virtualMachines", params["vmName"])), params)
        return Reply(200, self._render(vm, query), definition="compute.VirtualMachine")

    def _op_VirtualMachines_InstanceView(self, *, params, **_: Any) -> Reply:
        vm = self._vm(params)
        rendered = self._render(vm, {"$expand": "instanceView"})
        return Reply(200, rendered["properties"]["instanceView"], definition="compute.VirtualMachineInstanceView")

    def _op_VirtualMachines_Deallocate(self, *, params, version, base, **_: Any) -> Reply:
        vm = self._vm(params)
        op = self._in_flight(vm["id"].lower())
        if op is not None:
            if op.kind == "deallocate":
                return Reply(202, None, self._lro_headers(op, base))
            raise ArmError(
                409, "OperationNotAllowed", f"Another operation ({op.kind}) is in progress on VM '{vm['name']}'."
            )
        if _power_state(vm) == "deallocated":
            return Reply(200)
        _set_power(vm, "deallocating", "VM deallocating")
        vm["properties"]["provisioningState"] = "Updating"
        op = self._start(vm, "deallocate", version, params["subscriptionId"])
        return Reply(202, None, self._lro_headers(op, base))

    def _op_VirtualMachines_Generalize(self, *, params, **_: Any) -> Reply:
        vm = self._vm(params)
        if _power_state(vm) not in ("deallocated", "stopped"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'generalize' is not allowed on VM '{vm['name']}' since the VM is "
                f"{_power_state(vm)}. Please deallocate or stop the VM and retry.",
            )
        if not _is_generalized(vm):
            _statuses(vm).append({"code": "OSState/generalized", "level": "Info", "displayStatus": "VM generalized"})
        return Reply(200)

    def _op_VirtualMachines_Delete(self, *, params, version, base, **_: Any) -> Reply:
        return self._delete(self._id(params, ("virtualMachines", params["vmName"])), version, params, base)

    # ---- galleries -------------------------------------------------------------------------------
    def _op_Galleries_ListByResourceGroup(self, *, params, query, base, **_: Any) -> Reply:
        rg = f"/subscriptions/{params['subscriptionId']}/resourceGroups/{params['resourceGroupName']}"
        items = self._children(rg + "/providers/Microsoft.Compute/galleries", TYPE_GALLERY)
        return self._page(
            items,
            query,
            rg + "/providers/Microsoft.Compute/galleries",
            base,
            lambda r: self._render(r, {}),
            "gallery.GalleryList",
        )

    def _op_Galleries_Get(self, *, params, query, **_: Any) -> Reply:
        gallery = self._read(self._id(params, ("galleries", params["galleryName"])), params)
        return Reply(200, self._render(gallery, {}), definition="gallery.Gallery")

    def _op_Galleries_CreateOrUpdate(self, *, params, body, version, base, **_: Any) -> Reply:
        gallery_id = self._id(params, ("galleries", params["galleryName"]))
        props = body.get("properties") or {}
        existing = self._get(gallery_id)
        if existing is not None:
            self._busy(existing)
            self._check_location(existing, body, params)
            if "description" in props:
                existing["properties"]["description"] = props["description"]
            if "tags" in body:
                existing["tags"] = dict(body.get("tags") or {})
            op = self._in_flight(gallery_id.lower())
            if op is None:
                existing["properties"]["provisioningState"] = "Updating"
                op = self._start(existing, "update", version, params["subscriptionId"])
            return self._accepted(200, existing, op, base)
        gallery = self._new(gallery_id, TYPE_GALLERY, body, params["galleryName"])
        out = gallery["properties"]
        if "description" in props:
            out["description"] = props["description"]
        out["identifier"] = {"uniqueName": f"{params['subscriptionId']}-{params['galleryName'].upper()}"}
        for key in ("sharingProfile", "softDeletePolicy"):
            if key in props:
                out[key] = deep_copy(props[key])
        out["provisioningState"] = "Creating"
        self.resources[gallery_id.lower()] = gallery
        op = self._start(gallery, "create", version, params["subscriptionId"])
        return self._accepted(201, gallery, op, base)

    def _op_Galleries_Delete(self, *, params, version, base, **_: Any) -> Reply:
        return self._delete(
            self._id(params, ("galleries", params["galleryName"])), version, params, base, child_type=TYPE_GALLERY_IMAGE
        )

    # ---- gallery image definitions ---------------------------------------------------------------
    def _op_GalleryImages_ListByGallery(self, *, params, query, base, **_: Any) -> Reply:
        gallery_id = self._id(params, ("galleries", params["galleryName"]))
        self._require(gallery_id, params)
        items = self._children(gallery_id + "/images", TYPE_GALLERY_IMAGE)
        return self._page(
            items, query, gallery_id + "/images", base, lambda r: self._render(r, {}), "gallery.GalleryImageList"
        )

    def _definition_id(self, params: Mapping[str, str]) -> str:
        return self._id(params, ("galleries", params["galleryName"]), ("images", params["galleryImageName"]))

    def _op_GalleryImages_Get(self, *, params, **_: Any) -> Reply:
        image = self._read(self._definition_id(params), params)
        return Reply(200, self._render(image, {}), definition="gallery.GalleryImage")

    _DEFINITION_IMMUTABLE = ("osType", "osState", "identifier", "hyperVGeneration", "architecture")
    _DEFINITION_MUTABLE = (
        "description",
        "eula",
        "privacyStatementUri",
        "releaseNoteUri",
        "endOfLifeDate",
        "recommended",
        "disallowed",
        "purchasePlan",
        "features",
        "allowUpdateImage",
    )

    def _op_GalleryImages_CreateOrUpdate(self, *, params, body, version, base, **_: Any) -> Reply:
        gallery_id = self._id(params, ("galleries", params["galleryName"]))
        if self._get(gallery_id) is None:
            raise ArmError(
                404,
                "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource "
                f"'{params['galleryName']}' not found.",
            )
        image_id = self._definition_id(params)
        props = body.get("properties") or {}
        existing = self._get(image_id)
        if existing is not None:
            self._busy(existing)
            self._check_location(existing, body, params)
            return self._update_definition(existing, image_id, body, version, params, base)
        image = self._new(image_id, TYPE_GALLERY_IMAGE, body, params["galleryImageName"])
        out = image["properties"]
        for key in (*self._DEFINITION_IMMUTABLE, *self._DEFINITION_MUTABLE):
            if key in props:
                out[key] = deep_copy(props[key])
        out.setdefault("hyperVGeneration", "V1")
        out.setdefault("architecture", "x64")
        out["provisioningState"] = "Creating"
        self.resources[image_id.lower()] = image
        op = self._start(image, "create", version, params["subscriptionId"])
        return self._accepted(201, image, op, base)

    def _op_GalleryImages_Update(self, *, params, body, version, base, **_: Any) -> Reply:
        image_id = self._definition_id(params)
        existing = self._require(image_id, params)
        self._busy(existing)
        return self._update_definition(existing, image_id, body, version, params, base)

    def _update_definition(self, existing: dict[str, Any], image_id: str, body: dict[str, Any], version: str,
                           params: dict[str, str], base: str) -> Reply:
        """An image definition PUT on an existing one, or a PATCH: immutable fields must not change."""
        props = body.get("properties") or {}
        for key in self._DEFINITION_IMMUTABLE:
            if key in props:
                diff = _first_difference(props[key], existing["properties"].get(key), key)
                if diff:
                    raise self._immutable(f"properties.{diff}")
        for key in self._DEFINITION_MUTABLE:
            if key in props:
                existing["properties"][key] = deep_copy(props[key])
        if "tags" in body:
            existing["tags"] = dict(body.get("tags") or {})
        op = self._in_flight(image_id.lower())
        if op is None:
            existing["properties"]["provisioningState"] = "Updating"
            op = self._start(existing, "update", version, params["subscriptionId"])
        return self._accepted(200, existing, op, base)

    def _op_GalleryImages_Delete(self, *, params, version, base, **_: Any) -> Reply:
        return self._delete(self._definition_id(params), version, params, base, child_type=TYPE_VERSION)

    # ---- gallery image versions ------------------------------------------------------------------
    def _op_GalleryImageVersions_ListByGalleryImage(self, *, params, query, base, **_: Any) -> Reply:
        definition_id = self._definition_id(params)
        self._require(definition_id, params)
        items = self._children(definition_id + "/versions", TYPE_VERSION)
        return self._page(
            items,
            query,
            definition_id + "/versions",
            base,
            lambda r: self._render(r, {}),
            "gallery.GalleryImageVersionList",
        )

    def _version_id(self, params: Mapping[str, str]) -> str:
        return self._definition_id(params) + f"/versions/{params['galleryImageVersionName']}"

    def _op_GalleryImageVersions_Get(self, *, params, query, **_: Any) -> Reply:
        expand = query.get("$expand")
        if expand is not None and expand.lower() not in ("replicationstatus", "uefisettings"):
            raise ArmError(
                400, "InvalidParameter", f"The value '{expand}' of parameter '$expand' is invalid.", target="$expand"
            )
        version = self._read(self._version_id(params), params)
        return Reply(200, self._render(version, query), definition="gallery.GalleryImageVersion")

    def _op_GalleryImageVersions_CreateOrUpdate(self, *, params, body, version, base, **_: Any) -> Reply:
        name = params["galleryImageVersionName"]
        m = _VERSION_NAME.match(name)
        if not m or any(int(g) > _INT32_MAX for g in m.groups()):
            raise ArmError(
                400,
                "InvalidParameter",
                f"The gallery image version name '{name}' is invalid. It must follow the format "
                "<MajorVersion>.<MinorVersion>.<Patch>, each a 32-bit integer.",
                target="galleryImageVersionName",
            )
        definition = self._get(self._definition_id(params))
        if definition is None:
            raise ArmError(
                404,
                "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource "
                f"'{params['galleryName']}/{params['galleryImageName']}' not found.",
            )
        version_id = self._version_id(params)
        props = body.get("properties") or {}
        existing = self._get(version_id)
        if existing is not None:
            self._busy(existing)
            self._check_location(existing, body, params)
            wanted_source = (props.get("storageProfile") or {}).get("source")
            if wanted_source:
                diff = _first_difference(
                    wanted_source, existing["properties"]["storageProfile"].get("source"), "storageProfile.source"
                )
                if diff:
                    raise self._immutable(f"properties.{diff}")
            self._apply_version_changes(existing, body)
            op = self._in_flight(version_id.lower())
            if op is None:
                existing["properties"]["provisioningState"] = "Updating"
                op = self._start(existing, "update", version, params["subscriptionId"])
            return self._accepted(200, existing, op, base)
        storage, os_state = self._version_source(props.get("storageProfile") or {}, params)
        want_state = definition["properties"].get("osState", "Generalized")
        if os_state.lower() != str(want_state).lower():
            source_id = (
                storage.get("source", {}).get("virtualMachineId")
                or storage.get("source", {}).get("id")
                or storage.get("osDiskImage", {}).get("source", {}).get("uri", "")
            )
            raise ArmError(
                400,
                "BadRequest",
                f"The resource with id '{source_id}' has a different OS state ['{os_state}'] than "
                f"the parent gallery image OS state ['{want_state}'].",
            )
        resource = self._new(version_id, TYPE_VERSION, body, name)
        out = resource["properties"]
        publishing = deep_copy(props.get("publishingProfile") or {})
        replica_count = publishing.setdefault("replicaCount", 1)
        publishing.setdefault("excludeFromLatest", False)
        publishing.setdefault("storageAccountType", "Standard_LRS")
        publishing["publishedDate"] = _now_iso()
        regions = publishing.get("targetRegions") or [{"name": body["location"]}]
        for region in regions:
            region.setdefault("regionalReplicaCount", replica_count)
            region.setdefault("storageAccountType", publishing["storageAccountType"])
            region.setdefault("excludeFromLatest", False)
        publishing["targetRegions"] = regions
        out["publishingProfile"] = publishing
        out["storageProfile"] = storage
        safety = deep_copy(props.get("safetyProfile") or {})
        safety.setdefault("allowDeletionOfReplicatedLocations", True)
        safety.setdefault("reportedForPolicyViolation", False)
        out["safetyProfile"] = safety
        out["provisioningState"] = "Creating"
        self.resources[version_id.lower()] = resource
        op = self._start(resource, "create", version, params["subscriptionId"])
        return self._accepted(201, resource, op, base)

    def _version_source(self, storage_in: dict[str, Any], params: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        """The stored storage profile and the OS state of the source (VM, managed image or VHD)."""
        source = storage_in.get("source") or {}
        if source.get("virtualMachineId"):
            vm = self._get(source["virtualMachineId"])
            if vm is None or vm.get("type", "").lower() != TYPE_VM.lower():
                raise ArmError(
                    404,
                    "NotFound",
                    f"The Virtual Machine '{source['virtualMachineId']}' was not found.",
                    target="properties.storageProfile.source.virtualMachineId",
                )
            profile = self._profile_from_vm(vm)
            storage = {
                "source": {"virtualMachineId": vm["id"]},
                "osDiskImage": {
                    "hostCaching": profile["osDisk"]["caching"],
                    **({"sizeInGB": profile["osDisk"]["diskSizeGB"]} if "diskSizeGB" in profile["osDisk"] else {}),
                },
                "dataDiskImages": [
                    {
                        "lun": d["lun"],
                        "hostCaching": d["caching"],
                        **({"sizeInGB": d["diskSizeGB"]} if "diskSizeGB" in d else {}),
                    }
                    for d in profile["dataDisks"]
                ],
            }
            return storage, "Generalized" if _is_generalized(vm) else "Specialized"
        if source.get("id"):
            image = self._get(source["id"])
            if image is None:
                raise ArmError(
                    404,
                    "NotFound",
                    f"The source '{source['id']}' was not found.",
                    target="properties.storageProfile.source.id",
                )
            os_disk = image.get("properties", {}).get("storageProfile", {}).get("osDisk", {})
            storage = {
                "source": {"id": image["id"]},
                "osDiskImage": {"hostCaching": os_disk.get("caching", "ReadWrite")},
                "dataDiskImages": [
                    {"lun": d["lun"], "hostCaching": d.get("caching", "None")}
                    for d in image.get("properties", {}).get("storageProfile", {}).get("dataDisks", [])
                ],
            }
            return storage, os_disk.get("osState", "Generalized")
        os_image = storage_in.get("osDiskImage") or {}
        vhd = os_image.get("source") or {}
        if vhd.get("uri"):
            if not vhd.get("storageAccountId"):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    "Required parameter 'storageAccountId' is missing (null).",
                    target="properties.storageProfile.osDiskImage.source.storageAccountId",
                )
            storage = deep_copy(storage_in)
            storage["osDiskImage"].setdefault("hostCaching", "ReadWrite")
            storage.setdefault("dataDiskImages", [])
            # A VHD carries no OS state of its own: it takes the definition's (emulator behaviour).
            definition = self._get(self._definition_id(params)) or {}
            return storage, str(definition.get("properties", {}).get("osState", "Generalized"))
        if vhd.get("id"):
            # GalleryDiskImageSource.id: a managed disk (or snapshot). The emulator knows disks only
            # as the OS disks of its VMs; like a VHD, a disk takes the definition's OS state.
            disk_id = str(vhd["id"]).lower()
            known = any(
                str(((r.get("properties", {}).get("storageProfile", {}).get("osDisk") or {}).get("managedDisk")
                     or {}).get("id", "")).lower() == disk_id
                for r in self.resources.values()
                if r.get("type", "").lower() == TYPE_VM.lower()
            )
            if not known:
                raise ArmError(
                    404,
                    "NotFound",
                    f"The source '{vhd['id']}' was not found.",
                    target="properties.storageProfile.osDiskImage.source.id",
                )
            storage = deep_copy(storage_in)
            storage["osDiskImage"].setdefault("hostCaching", "ReadWrite")
            storage.setdefault("dataDiskImages", [])
            definition = self._get(self._definition_id(params)) or {}
            return storage, str(definition.get("properties", {}).get("osState", "Generalized"))
        raise ArmError(
            400,
            "InvalidParameter",
            "The source of the gallery image version is missing: give "
            "storageProfile.source.virtualMachineId, source.id or osDiskImage.source.uri.",
            target="properties.storageProfile.source",
        )

    _VERSION_UPDATABLE = (
        "targetRegions",
        "replicaCount",
        "endOfLifeDate",
        "excludeFromLatest",
        "targetExtendedLocations",
    )

    def _apply_version_changes(self, existing: dict[str, Any], body: dict[str, Any]) -> None:
        """PATCH (and PUT on an existing version) may change tags and these publishing fields only."""
        props = body.get("properties") or {}
        for key, value in props.items():
            if key == "publishingProfile":
                continue
            if key in ("provisioningState", "replicationStatus", "validationsProfile"):
                continue
            diff = _first_difference(value, existing["properties"].get(key), key)
            if diff:
                raise self._immutable(f"properties.{diff}")
        publishing = props.get("publishingProfile") or {}
        have = existing["properties"].setdefault("publishingProfile", {})
        for key, value in publishing.items():
            if key == "publishedDate":
                continue
            if key in self._VERSION_UPDATABLE:
                continue
            diff = _first_difference(value, have.get(key), key)
            if diff:
                raise self._immutable(f"properties.publishingProfile.{diff}")
        for key in self._VERSION_UPDATABLE:
            if key in publishing:
                value = deep_copy(publishing[key])
                if key == "targetRegions":
                    for region in value:
                        region.setdefault("regionalReplicaCount", have.get("replicaCount", 1))
                        region.setdefault("storageAccountType", have.get("storageAccountType", "Standard_LRS"))
                        region.setdefault("excludeFromLatest", False)
                have[key] = value
        if "tags" in body:
            existing["tags"] = dict(body.get("tags") or {})

    def _op_GalleryImageVersions_Update(self, *, params, body, version, base, **_: Any) -> Reply:
        version_id = self._version_id(params)
        existing = self._require(version_id, params)
        self._busy(existing)
        self._apply_version_changes(existing, body)
        op = self._in_flight(version_id.lower())
        if op is None:
            existing["properties"]["provisioningState"] = "Updating"
            op = self._start(existing, "update", version, params["subscriptionId"])
        return self._accepted(200, existing, op, base)

    def _op_GalleryImageVersions_Delete(self, *, params, version, base, **_: Any) -> Reply:
        return self._delete(self._version_id(params), version, params, base)

