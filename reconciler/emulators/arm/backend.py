"""The ARM emulator's control plane: state, routing, auth, api-version, pagination, long-running operations.

Layer: emulator (no sockets here; ``server.py`` owns the HTTP glue on the shared loopback base).
``ArmBackend`` turns one request (method, path, query, headers, body bytes) into one ``Reply``. It
follows the copied specs (ComputeRP 2025-11-01, GalleryRP 2025-03-03) and
``shared/azure-rest/CONTRACT.md``; where those are silent the choice is written down in
docs/arm-emulator.md as "emulator behaviour".

What each operation does lives elsewhere: the plain list/get/delete of every resource type comes from
one table (``crud.py``); the types with real behaviour have their own module (``images.py``,
``vms.py``, ``gallery.py``). This module holds what they share.

Long-running operations advance only when observed (status polls, resource reads, any later request)
and by the injected clock, never by a timer thread, so tests are deterministic.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from . import crud, disks, gallery, images, marketplace, resourcegraph, tenants, vms
from .model import API_VERSIONS, ArmError, Call, Operation, Reply, norm_location, now_iso, type_of
from .schema import deep_copy, spec_schemas
from .store import ResourceStore

Handler = Callable[["ArmBackend", Call], Reply]

#: Operation status resources: Compute's ``/operations/{id}``, and GalleryRP's ``/capsOperations/{id}``
#: (BEHAVIOURS.md row 7; the 202 examples ``Gallery_Delete``, ``GalleryImage_Delete`` and
#: ``GalleryImageVersion_Delete`` in shared/azure-rest/2025-03-03/gallery/examples/galleryExamples).
_OPERATION_PATH = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)"
    r"/(?P<collection>operations|capsOperations)/(?P<op>[^/]+)",
    re.IGNORECASE,
)
#: Types whose operations GalleryRP runs (their status lives under ``capsOperations``).
_GALLERY_TYPE_PREFIX = "microsoft.compute/galleries"


def _jwt_exp(token: str) -> float | None:
    """The ``exp`` claim of a JWT (unverified), None for any other token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _arm_time(epoch: float) -> str:
    """ARM's (.NET's) UTC time in messages: ``6/15/2026 8:22:51 AM``."""
    t = datetime.fromtimestamp(epoch, UTC)
    half = "AM" if t.hour < 12 else "PM"
    return f"{t.month}/{t.day}/{t.year} {(t.hour % 12) or 12}:{t.minute:02d}:{t.second:02d} {half}"


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
        #: lower-cased id -> resource as GET returns it, with a sorted id index per type (``store.py``).
        self.resources: ResourceStore = ResourceStore()
        self.operations: dict[str, Operation] = {}
        self._pending: dict[str, Operation] = {}  # the operations still running, by id
        self._lro_polls, self._lro_seconds = lro_polls, lro_seconds
        self._retry_after, self._take_failure = retry_after, take_failure
        self.schemas = spec_schemas()
        #: operation id -> handler: the table-driven CRUD first, then the per-type behaviour.
        self.handlers: dict[str, Handler] = {**crud.handlers(), **images.HANDLERS, **vms.HANDLERS, **gallery.HANDLERS,
                                             **marketplace.HANDLERS, **resourcegraph.HANDLERS}
        #: Marketplace, community and shared galleries: the state's read-only ``public`` section.
        self.public = marketplace.PublicCatalog()
        self.handlers["VirtualMachines_List"] = vms.list_expand_switch(self.handlers["VirtualMachines_List"])
        #: ``vms.LIST_EXPAND_MODES``: how a VM list with ``$expand=instanceView`` and no ``$filter`` is
        #: answered (the server binds it to ``Faults.vm_list_expand``).
        self.vm_list_expand: Callable[[], str] = lambda: "ignore"
        #: Gallery version behaviours and faults (``gallery.py``), bound by the server to ``Faults``:
        #: regions whose next replication fails, what that leaves the version in, region removal.
        self.gallery_faults: Callable[[], Any] = lambda: None
        #: "allow" | "deny": GETs of ``/capsOperations/`` status (``Faults.caps_operations_read``).
        self.caps_operations_read: Callable[[], str] = lambda: "allow"
        #: ``resourcegraph.MODES``: whether Resource Graph answers (``Faults.resource_graph``).
        self.resource_graph: Callable[[], str] = lambda: "allow"
        #: Epoch seconds; a bearer token that is a JWT whose ``exp`` is past is refused (401).
        self.wall: Callable[[], float] = time.time
        #: Subscription (lower-case) -> its tenant: the state's ``tenants`` section (``tenants.py``).
        self.tenants: dict[str, str] = {}
        #: ``tenants.MODES``: the refusal of a write naming another tenant's resource without its
        #: auxiliary token (the server binds it to ``Faults.cross_tenant``).
        self.cross_tenant: Callable[[], str] = lambda: "linked"

    # ---- state -----------------------------------------------------------------------------------
    def load(self, state: Mapping[str, Any]) -> None:
        """Replace the state with ``{"resources": [...]}``; raises ValueError naming the bad item."""
        items = state.get("resources") if isinstance(state, Mapping) else None
        if not isinstance(items, list):
            raise ValueError('state must be an object {"resources": [...]}')
        public = marketplace.load(state.get("public"))
        owners = tenants.load(state.get("tenants"))
        loaded: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise ValueError(f"resources[{index}]: each resource needs a string 'id'")
            resource = deep_copy(item)
            try:
                resource.setdefault("type", type_of(resource["id"]))
            except (ValueError, IndexError) as exc:
                raise ValueError(f"resources[{index}]: {exc}") from exc
            resource.setdefault("name", resource["id"].rstrip("/").rsplit("/", 1)[-1])
            resource.setdefault("properties", {})
            loaded[resource["id"].lower()] = resource
        with self.lock:
            self.resources = ResourceStore(loaded.items())
            self.public = public
            self.tenants = owners
            self.operations = {}
            self._pending = {}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            self._tick()
            return {"resources": [deep_copy(r) for _, r in self.resources.sorted_items()], **self.public.dump(),
                    **tenants.dump(self.tenants)}

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
            tenants.check(self.tenants, method.upper(), path, headers, raw_body, self.wall(), self.cross_tenant)
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
        # Any token is taken (the emulator checks no signature), but a JWT past its ``exp`` is
        # refused as ARM refuses it: 401 ExpiredAuthenticationToken, "The access token expiry UTC
        # time '6/15/2026 8:22:51 AM' is earlier than current UTC time '6/15/2026 9:27:25 AM'."
        # (microsoft/foundry-dev-tools#461, microsoft/vscode-azureappservice#2483).
        exp = _jwt_exp(token.strip())
        now = self.wall()
        if exp is not None and exp <= now:
            raise ArmError(
                401,
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{_arm_time(exp)}' is earlier than current UTC time "
                f"'{_arm_time(now)}'.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token", '
                         'error_description="The access token has expired."'},
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
            collection = m.group("collection")
            self._check_api_version("operations", query, f"Microsoft.Compute/locations/{collection}")
            if collection.lower() == "capsoperations" and self.caps_operations_read() == "deny":
                # ARM's RBAC refusal wording (the "AuthorizationFailed" answer of every RP).
                raise ArmError(
                    403,
                    "AuthorizationFailed",
                    "The client 'emulator-client' with object id '00000000-0000-0000-0000-000000000000' does "
                    "not have authorization to perform action 'Microsoft.Compute/locations/capsOperations/read' "
                    f"over scope '/subscriptions/{m.group('sub')}' or the scope is invalid. If access was "
                    "recently granted, please refresh your credentials.",
                )
            return self._operation_status(m.group("op"), collection, query, base)
        disk = disks.PATH.fullmatch(path)
        if disk is not None:  # DiskRP: not in the packaged specs, routed by path (disks.py)
            self._check_api_version("disks", query, disks.TYPES[disk.group("collection").lower()])
            return disks.get(self, method, disk, query)
        matched = self.schemas.match(method, path, query)
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
        handler = self.handlers.get(op.operation_id)
        if handler is None:
            raise ArmError(501, "NotImplemented", f"The emulator does not implement operation '{op.operation_id}'.")
        return handler(self, Call(params, query, body, version, base))

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
    def rg_prefix(p: Mapping[str, str]) -> str:
        return (
            f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}/providers/Microsoft.Compute"
        )

    def resource_id(self, p: Mapping[str, str], *pairs: tuple[str, str]) -> str:
        return self.rg_prefix(p) + "".join(f"/{t}/{n}" for t, n in pairs)

    def get(self, resource_id: str) -> dict[str, Any] | None:
        return self.resources.get(resource_id.lower())

    def read(self, resource_id: str, p: Mapping[str, str]) -> dict[str, Any]:
        """A GET of one resource: it also counts as a poll of the resource's running operation."""
        op = self.in_flight(resource_id.lower())
        if op:
            self._observe(op)
        return self.require(resource_id, p)

    def require(self, resource_id: str, p: Mapping[str, str]) -> dict[str, Any]:
        resource = self.get(resource_id)
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

    def children(self, prefix_id: str, rtype: str, after: str | None = None) -> Iterator[dict[str, Any]]:
        """Resources of ``rtype`` below ``prefix_id``, in id order (lazy: O(log n) to the first one),
        only those whose lower-cased id sorts after ``after`` when given."""
        return self.resources.scan(rtype, prefix_id.lower() + "/", after)

    def in_flight(self, key: str) -> Operation | None:
        for op in self._pending.values():
            if op.resource_key == key and not op.done:
                return op
        return None

    # ---- pagination ------------------------------------------------------------------------------
    def page(
        self,
        items: Callable[[str | None], Iterable[dict[str, Any]]] | list[dict[str, Any]],
        query: Mapping[str, str],
        path: str,
        base: str,
        render: Callable[[dict[str, Any]], dict[str, Any]],
        definition: str,
    ) -> Reply:
        """One page of a list sorted by id. ``$skiptoken`` is the (encoded) last id of the previous page.

        ``items(after)`` yields the items whose lower-cased id sorts after ``after`` (None: from the
        first), lazily: a page costs O(page size) however many resources there are (issue 13). A
        plain sorted list is accepted too (filtered here, O(n))."""
        token = query.get("$skiptoken")
        after: str | None = None
        if token:
            try:
                after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
                if not after.startswith("/subscriptions/"):
                    raise ValueError(after)
            except ValueError as exc:
                raise ArmError(400, "InvalidParameter", "The $skiptoken is invalid.", target="$skiptoken") from exc
        if callable(items):
            source: Iterable[dict[str, Any]] = items(after)
        else:
            source = (r for r in items if after is None or r["id"].lower() > after)
        taken = list(islice(source, self.page_size + 1))
        page, rest = taken[: self.page_size], taken[self.page_size :]
        body: dict[str, Any] = {"value": [render(r) for r in page]}
        if rest:
            next_token = base64.urlsafe_b64encode(page[-1]["id"].lower().encode()).decode()
            keep = {k: v for k, v in query.items() if k != "$skiptoken"}
            keep["$skiptoken"] = next_token
            body["nextLink"] = f"{base}{path}?{urlencode(keep, safe='$/')}"
        return Reply(200, body, definition=definition)

    # ---- long-running operations -----------------------------------------------------------------
    def start(self, resource: dict[str, Any], kind: str, version: str, sub: str) -> Operation:
        op_id = f"{self.rng.getrandbits(128):032x}"
        op_id = f"{op_id[:8]}-{op_id[8:12]}-{op_id[12:16]}-{op_id[16:20]}-{op_id[20:]}"
        op = Operation(
            op_id=op_id,
            subscription=sub,
            location=norm_location(resource.get("location", "westus")),
            resource_key=resource["id"].lower(),
            resource_name=resource["name"],
            kind=kind,
            api_version=version,
            started=self.clock(),
            start_time=now_iso(),
            fail=self._take_failure(resource["name"]),
            collection="capsOperations" if str(resource.get("type", "")).lower().startswith(_GALLERY_TYPE_PREFIX)
            else "operations",
        )
        self.operations[op_id] = op
        self._pending[op_id] = op
        return op

    def lro_headers(self, op: Operation, base: str) -> dict[str, str]:
        url = (
            f"{base}/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/{op.location}"
            f"/{op.collection}/{op.op_id}?api-version={op.api_version}"
        )
        return {"Azure-AsyncOperation": url, "Location": url + "&monitor=true", "Retry-After": str(self._retry_after())}

    def _ready(self, op: Operation) -> bool:
        return op.answered >= self._lro_polls() and self.clock() - op.started >= self._lro_seconds()

    def _tick(self) -> None:
        """Finish every operation whose polls and duration are both used up."""
        for op in list(self._pending.values()):
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
        op.end_time = now_iso()
        self._pending.pop(op.op_id, None)
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
                    vms.set_power(resource, "running", "VM running")
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
            vms.set_power(resource, "deallocated", "VM deallocated")
        else:
            resource["properties"]["provisioningState"] = "Succeeded"

    def _operation_status(self, op_id: str, collection: str, query: Mapping[str, str], base: str) -> Reply:
        op = self.operations.get(op_id.lower()) or self.operations.get(op_id)
        if op is None or op.collection.lower() != collection.lower():
            # A gallery operation is not found under Compute's /operations/, nor the reverse.
            raise ArmError(404, "NotFound", f"The operation '{op_id}' was not found.")
        self._observe(op)
        monitor = query.get("monitor", "").lower() == "true"
        if not monitor:
            return Reply(200, op.status_body(), definition="arm.OperationStatus")
        # The Location URL: 202 while running, then the operation's final answer.
        if not op.done:
            headers = self.lro_headers(op, base)
            headers.pop("Azure-AsyncOperation")
            return Reply(202, None, headers)
        if op.status == "Failed":
            assert op.error is not None
            raise ArmError(400, op.error["code"], op.error["message"])
        resource = self.resources.get(op.resource_key)
        if op.kind in ("create", "update") and resource is not None:
            return Reply(200, self.render(resource, query={}), definition=self.definition(resource))
        if op.kind == "delete":
            return Reply(204)
        return Reply(200)

    # ---- rendering -------------------------------------------------------------------------------
    @staticmethod
    def definition(resource: dict[str, Any]) -> str:
        row = crud.row_for(resource.get("type", ""))
        return row.definition if row is not None else "arm.TrackedResource"

    def render(self, resource: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
        """The resource as a GET answers it: a copy, shaped by the type's render hook and ``$expand``."""
        out: dict[str, Any] = deep_copy(resource)
        row = crud.row_for(resource.get("type", ""))
        if row is not None and row.render is not None:
            row.render(out, query.get("$expand", "").lower())
        return out

    # ---- writes shared by the types --------------------------------------------------------------
    def new(self, resource_id: str, rtype: str, body: dict[str, Any], name: str) -> dict[str, Any]:
        resource: dict[str, Any] = {"id": resource_id, "name": name, "type": rtype, "location": body["location"]}
        if body.get("tags") is not None:
            resource["tags"] = dict(body["tags"])
        if body.get("extendedLocation"):
            resource["extendedLocation"] = deep_copy(body["extendedLocation"])
        resource["properties"] = {}
        return resource

    def check_location(self, existing: dict[str, Any], body: dict[str, Any], p: Mapping[str, str]) -> None:
        if norm_location(existing.get("location", "")) != norm_location(body.get("location", "")):
            raise ArmError(
                409,
                "InvalidResourceLocation",
                f"The resource '{existing['name']}' already exists in location "
                f"'{existing.get('location')}' in resource group '{p['resourceGroupName']}'. "
                "A resource with the same name cannot be created in location "
                f"'{body.get('location')}'. Please select a new resource name.",
            )

    @staticmethod
    def busy(existing: dict[str, Any]) -> None:
        if existing.get("properties", {}).get("provisioningState") == "Deleting":
            raise ArmError(
                409,
                "AnotherOperationInProgress",
                f"Another operation is in progress on resource '{existing['name']}': Deleting.",
            )

    def replaced(self, resource_id: str, call: Call) -> dict[str, Any] | None:
        """The resource a PUT overwrites (not being deleted, same location), or None: a create."""
        existing = self.get(resource_id)
        if existing is not None:
            self.busy(existing)
            self.check_location(existing, call.body, call.params)
        return existing

    def patched(self, resource_id: str, call: Call) -> dict[str, Any]:
        """The resource a PATCH changes: it must exist and not be being deleted."""
        existing = self.require(resource_id, call.params)
        self.busy(existing)
        return existing

    def accepted(self, status: int, resource: dict[str, Any], op: Operation | None, base: str) -> Reply:
        headers = self.lro_headers(op, base) if op else {}
        return Reply(status, self.render(resource, {}), headers, self.definition(resource))

    def created(self, resource: dict[str, Any], call: Call) -> Reply:
        """Store a new resource as Creating and answer 201 with its create operation."""
        resource["properties"]["provisioningState"] = "Creating"
        self.resources[resource["id"].lower()] = resource
        op = self.start(resource, "create", call.version, call.params["subscriptionId"])
        return self.accepted(201, resource, op, call.base)

    def updated(self, existing: dict[str, Any], call: Call) -> Reply:
        """Answer 200 for a changed resource: its running operation, or a new update operation."""
        op = self.in_flight(existing["id"].lower())
        if op is None:
            existing["properties"]["provisioningState"] = "Updating"
            op = self.start(existing, "update", call.version, call.params["subscriptionId"])
        return self.accepted(200, existing, op, call.base)

    def delete(self, resource_id: str, call: Call, child_type: str | None = None) -> Reply:
        resource = self.get(resource_id)
        if resource is None:
            return Reply(204)
        if child_type and next(iter(self.children(resource_id, child_type)), None) is not None:
            raise ArmError(409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted.")
        op = self.in_flight(resource_id.lower())
        if op is None or op.kind != "delete":
            resource["properties"]["provisioningState"] = "Deleting"
            op = self.start(resource, "delete", call.version, call.params["subscriptionId"])
        return Reply(202, None, self.lro_headers(op, call.base))
