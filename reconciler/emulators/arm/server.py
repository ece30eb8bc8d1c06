"""ARM emulator: a real HTTP server on loopback that serves the Azure Resource Manager operations the
``azure`` provider uses (managed images, VMs, Compute Gallery), for tests, benchmarks and demos.

Layer: emulator. It may import ``requests``-free stdlib HTTP only; it never prints (the cli prints
``listening on ...``) and never reads the environment. The socket, request recording, control
endpoints and state files are the shared loopback base's (``emulators/base.py``); the resource logic
lives in ``backend.py``. This module is the glue: ARM's fault settings and wording, and the
headers every ARM answer carries.

Usage::

    with ArmEmulator(state, faults=Faults(throttle=0.2)) as emu:
        requests.get(emu.url + "/subscriptions/.../images?api-version=2025-11-01", headers=auth)
        emu.requests   # every request seen, with the status it got (0 = connection dropped)
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ..base import (
    DROP,
    Drop,
    FaultDice,
    LoopbackEmulator,
    Recorded,
    Request,
    Response,
    names_value,
    rate_value,
    read_state_file,
    serve_with_state,
)
from .backend import ArmBackend
from .model import API_VERSIONS, Reply
from .vms import LIST_EXPAND_MODES

__all__ = ["API_VERSIONS", "ArmEmulator", "Faults", "Recorded", "serve"]

_WRITE_METHODS = frozenset({"PUT", "PATCH", "DELETE", "POST"})


@dataclass
class Faults:
    """Fault injection, mutable while the emulator runs (also through ``POST /_emulator/faults``).

    Probabilities are per request and drawn from the emulator's seeded random generator.
    """

    throttle: float = 0.0  # answer 429 OperationNotAllowed/TooManyRequests with Retry-After
    server_error: float = 0.0  # answer 500 InternalServerError or 503 ServiceUnavailable
    drop: float = 0.0  # close the connection without answering; writes may be performed first
    latency: float = 0.0  # seconds slept in the server thread before answering
    lro_polls: int = 1  # polls answered InProgress before an operation may end
    lro_seconds: float = 0.0  # minimum operation duration on the injected clock
    fail_operations: set[str] = field(default_factory=set)  # names whose next operation ends Failed
    retry_after: int = 1  # Retry-After seconds on 429 and on long-running-operation answers
    #: The next N API requests answer 429 with ``Retry-After: retry_after`` (Compute's throttling
    #: asks for up to 1200 s, BEHAVIOURS.md row 13), whatever ``throttle`` draws; counts down.
    throttle_next: int = 0
    throttle_only: str = ""  # with throttle_next: only requests of this HTTP method ("": any) count
    throttle_path: str = ""  # with throttle_next: only requests whose path ends with this ("": any) count
    #: GETs of gallery operation status (``/capsOperations/``): "allow", or "deny" (403
    #: ``AuthorizationFailed``, as for an identity whose role lacks
    #: ``Microsoft.Compute/locations/capsOperations/read``, BEHAVIOURS.md row 7).
    caps_operations_read: str = "allow"
    #: VM list with $expand=instanceView and no $filter: "ignore" (200 without instance views) or
    #: "reject" (400); Azure's answer is unverified (BEHAVIOURS.md row 9, ``vms.LIST_EXPAND_MODES``).
    vm_list_expand: str = "ignore"
    #: Regions (canonical names) whose next gallery-version replication ends Failed (issue 10 §3).
    fail_replication: set[str] = field(default_factory=set)
    #: What a failed region replication leaves the version in: "Succeeded" (the version stays
    #: Succeeded, the region Failed: Azure/AgentBaker#8373 saw Succeeded before regions completed)
    #: or "Failed" (its operation fails too). Azure's answer is not documented: both are offered.
    replication_failure: str = "Succeeded"
    #: Removing a target region from a version whose safetyProfile.allowDeletionOfReplicatedLocations
    #: is false: "refuse" (409) or "allow"; the refusal is unverified (BEHAVIOURS.md row 8).
    region_removal: str = "refuse"
    #: A promotion (a version whose ``storageProfile.source.id`` is another gallery's version, issue
    #: 11 §1) from a source not replicated (``Completed``) to the new version's location: "refuse"
    #: (400) or "allow" (copied anyway). Whether Azure refuses it is unverified: no public source
    #: states it either way (docs/arm-emulator.md "Promotion"), so both are offered.
    promotion_region: str = "refuse"
    #: Azure Resource Graph (issue 11 §4): "allow"; "deny" (403 ``AuthorizationFailed``: no
    #: ``Microsoft.ResourceGraph/resources/read``); "absent" (404: a cloud without Resource Graph).
    #: The provider falls back to VM and scale-set lists on either (``resourcegraph.MODES``).
    resource_graph: str = "allow"
    #: A write naming a resource of another tenant's subscription (a promotion across tenants, issue
    #: 11 §1; the state's ``tenants``) without a valid auxiliary token for that tenant: "linked" (403
    #: ``LinkedAuthorizationFailed``) or "tenant" (401 ``InvalidAuthenticationTokenTenant``); which
    #: one Azure answers a gallery version PUT is not certain: both are offered (``tenants.py``).
    cross_tenant: str = "linked"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["fail_operations"] = sorted(self.fail_operations)
        data["fail_replication"] = sorted(self.fail_replication)
        return data

    def update(self, data: dict[str, Any]) -> None:
        """Set the given fields (unknown names or wrong types raise ValueError, nothing changes then)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        staged: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(known)}")
            if key == "fail_operations":
                staged[key] = names_value(value, "resource")
            elif key == "fail_replication":
                staged[key] = {str(n).replace(" ", "").lower() for n in names_value(value, "region")}
            elif key in _CHOICES:
                if value not in _CHOICES[key]:
                    raise ValueError(f"{key} must be one of {', '.join(_CHOICES[key])}")
                staged[key] = value
            elif key == "throttle_path":
                if not isinstance(value, str):
                    raise ValueError("throttle_path must be a string (the end of the paths that count)")
                staged[key] = value
            elif key == "vm_list_expand":
                if value not in LIST_EXPAND_MODES:
                    raise ValueError(f"vm_list_expand must be one of {', '.join(LIST_EXPAND_MODES)}")
                staged[key] = value
            elif key in ("lro_polls", "retry_after", "throttle_next"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
                staged[key] = value
            else:
                staged[key] = rate_value(key, value)
        for key, value in staged.items():
            setattr(self, key, value)

    def rates(self) -> dict[str, float]:
        return {"drop": self.drop, "throttle": self.throttle, "server_error": self.server_error}


#: The switches that take one of a few words.
_CHOICES: dict[str, tuple[str, ...]] = {
    "replication_failure": ("Succeeded", "Failed"),
    "region_removal": ("refuse", "allow"),
    "promotion_region": ("refuse", "allow"),
    "caps_operations_read": ("allow", "deny"),
    "resource_graph": ("allow", "deny", "absent"),
    "cross_tenant": ("linked", "tenant"),
    "throttle_only": ("", "GET", "PUT", "PATCH", "DELETE", "POST"),
}


def _throttled(retry_after: int) -> Reply:
    return Reply(429, {"error": {
        "code": "OperationNotAllowed",
        "message": "The server rejected the request because too many requests have been received "
                   "for this subscription.",
        "details": [{"code": "TooManyRequests", "target": "HighCostGet30Min",
                     "message": json.dumps({"operationGroup": "HighCostGet30Min",
                                            "allowedRequestCount": 800,
                                            "measuredRequestCount": 1238})}],
    }}, {"Retry-After": str(retry_after),
         "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/HighCostGet30Min;0"},
        "common.CloudError")


class ArmEmulator(LoopbackEmulator[Recorded]):
    """A stateful ARM endpoint on ``http://host:port`` served from a daemon thread.

    :param state: ``{"resources": [...]}``, each resource as ARM's GET returns it (see docs).
    :param page_size: items per list page; further pages are reached by ``nextLink``.
    :param faults: fault injection settings (a fresh ``Faults()`` when None).
    :param clock: monotonic seconds, injected so tests drive operation durations without sleeping.
    :param seed: seeds fault draws and operation ids, so a run with faults is reproducible.
    :param sleep: how ``Faults.latency`` waits (injected like the clock).
    :param wall: epoch seconds, against which a bearer token's JWT ``exp`` is checked (injected).
    """

    thread_name = "arm-emulator"

    def __init__(
        self, state: dict[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0,
        page_size: int = 100, faults: Faults | None = None, clock: Callable[[], float] = time.monotonic,
        seed: int = 0, sleep: Callable[[float], None] = time.sleep, wall: Callable[[], float] = time.time,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        super().__init__(host=host, port=port)
        self.faults: Faults = faults if faults is not None else Faults()
        self.sleep = sleep
        #: Called with (method, path, query, status, body) for every ARM answer sent; tests use it to
        #: check each body against the spec. It runs in the server thread: it must not raise.
        self.response_hook: Callable[[str, str, dict[str, str], int, Any], None] | None = None
        self._dice = FaultDice(random.Random(seed ^ 0x5EED))
        self.backend = ArmBackend(
            page_size=page_size, clock=clock, seed=seed,
            lro_polls=lambda: self.faults.lro_polls, lro_seconds=lambda: self.faults.lro_seconds,
            retry_after=lambda: self.faults.retry_after, take_failure=self._take_failure,
        )
        self.backend.vm_list_expand = lambda: self.faults.vm_list_expand
        self.backend.caps_operations_read = lambda: self.faults.caps_operations_read
        self.backend.resource_graph = lambda: self.faults.resource_graph
        self.backend.cross_tenant = lambda: self.faults.cross_tenant
        self.backend.wall = wall
        self.backend.gallery_faults = lambda: self.faults
        self.backend.load(state or {"resources": []})

    # ---- state -----------------------------------------------------------------------------------
    def dump_state(self) -> dict[str, Any]:
        """A deep copy of the state in the ``--state`` file format."""
        return self.backend.dump()

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace all resources (running operations are forgotten). Raises ValueError on a bad shape."""
        self.backend.load(state)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> ArmEmulator:
        """An emulator seeded from a state file. Raises ValueError naming the file when it is not valid."""
        try:
            return cls(read_state_file(path), **kwargs)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    # ---- faults ----------------------------------------------------------------------------------
    def _take_failure(self, name: str) -> bool:
        wanted = {n.lower() for n in self.faults.fail_operations}
        if name.lower() not in wanted:
            return False
        self.faults.fail_operations = {n for n in self.faults.fail_operations if n.lower() != name.lower()}
        return True

    def _fault_reply(self, method: str, path: str = "") -> Reply | str | None:
        """A fault for this request: a Reply (429/5xx), "drop-before"/"drop-after", or None."""
        if self.faults.throttle_next > 0 and self.faults.throttle_only in ("", method) and \
                path.lower().endswith(self.faults.throttle_path.lower()):
            self.faults.throttle_next -= 1
            return _throttled(self.faults.retry_after)
        kind = self._dice.first(self.faults.rates())
        if kind == "drop":
            return "drop-before" if self._dice.draw() < 0.5 else "drop-after"
        if kind == "throttle":
            return _throttled(self.faults.retry_after)
        if kind == "server_error":
            if self._dice.draw() < 0.5:
                return Reply(500, {"error": {"code": "InternalServerError",
                                             "message": "Encountered internal server error."}},
                             definition="common.CloudError")
            return Reply(503, {"error": {"code": "ServiceUnavailable",
                                         "message": "The service is temporarily unavailable."}},
                         {"Retry-After": str(self.faults.retry_after)}, "common.CloudError")
        return None

    # ---- request handling ------------------------------------------------------------------------
    def exchange(self, request: Request) -> Response | Drop:
        method, path = request.method, request.path
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers}
        raw = request.body
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if self.faults.latency:
            self.sleep(self.faults.latency)
        fault = self._fault_reply(method, path)
        if fault == "drop-before" or (fault == "drop-after" and method not in _WRITE_METHODS):
            self.record(Recorded(method, path, query, headers, body, 0))
            return DROP
        if isinstance(fault, Reply):
            reply = fault
        else:
            base = f"http://{headers['host']}" if headers.get("host") else self.url
            reply = self.backend.handle(method, path, query, headers, raw, base)
        if fault == "drop-after":
            self.record(Recorded(method, path, query, headers, body, 0))
            return DROP
        reply.headers.setdefault("x-ms-request-id", str(uuid.UUID(int=self._dice.bits(128))))
        reply.headers["x-ms-correlation-request-id"] = headers.get(
            "x-ms-correlation-request-id") or str(uuid.UUID(int=self._dice.bits(128)))
        if "x-ms-client-request-id" in headers:
            reply.headers["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        kind = "reads" if method == "GET" else "writes"
        reply.headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = "11999" if kind == "reads" else "1199"
        self.record(Recorded(method, path, query, headers, body, reply.status))
        if self.response_hook is not None:
            self.response_hook(method, path, query, reply.status, reply.body)
        return _wire(reply)


def _wire(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.body is None:
        return Response(reply.status, headers)
    headers["Content-Type"] = "application/json; charset=utf-8"
    return Response(reply.status, headers, json.dumps(reply.body).encode("utf-8"))


def serve(host: str = "127.0.0.1", port: int = 0, state_file: str | os.PathLike[str] | None = None,
          page_size: int = 100) -> ArmEmulator:
    """Start the emulator for ``reconciler emulator arm`` and return it, already serving.

    The caller (the cli) prints ``listening on {emu.url}``, then blocks in ``emu.wait()`` and calls
    ``emu.stop()`` on Ctrl-C/SIGTERM. When ``state_file`` is given the state is loaded from it (if the
    file exists) and written back to it on ``stop()``.
    """

    def make(path: Path | None) -> ArmEmulator:
        if path is None:
            return ArmEmulator(host=host, port=port, page_size=page_size)
        return ArmEmulator.from_file(path, host=host, port=port, page_size=page_size)

    return serve_with_state(make, state_file)
