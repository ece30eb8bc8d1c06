"""A loopback emulator of the classic Azure Service Management API (images, VM images, roles).

Layer: edge (emulators). A real HTTP(S) server (stdlib ``ThreadingHTTPServer``) for tests and
demos; it follows ``shared/azure-classic/CONTRACT.md`` and fills the gaps the way §11 there says.
Never prints: ``cli.py`` calls ``serve()`` and prints what ``on_ready`` hands it.

State is plain JSON-able data (see ``ClassicEmulator`` for its shape). Image records hold the wire
element names of the real service (``Name``, ``Label``, ``OSDiskConfiguration``...), so what a test
seeds is what the list responses return, in the fixtures' element order.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import random
import re
import socket
import ssl
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .classic_tls import TLSFiles, thumbprint_of_der, thumbprint_of_pem, write_tls_files

NS = "http://schemas.microsoft.com/windowsazure"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_Q = "{" + NS + "}"

FORBIDDEN_MESSAGE = (
    "The server failed to authenticate the request. Verify that the certificate is valid and is "
    "associated with this subscription."
)
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"

# Element order of list responses, as the fixtures show them (CONTRACT §6.1, §6.2).
VM_IMAGE_ORDER = (
    "Name", "Label", "Category", "Description", "OSDiskConfiguration", "DataDiskConfigurations",
    "ServiceName", "DeploymentName", "RoleName", "AffinityGroup", "Location", "CreatedTime",
    "ModifiedTime", "Language", "ImageFamily", "RecommendedVMSize", "IsPremium", "Eula", "IconUri",
    "SmallIconUri", "PrivacyUri", "PublisherName", "PublishedDate", "ShowInGui", "PricingDetailLink",
    "VMImageState", "RoleStateOnCapture", "RoleSizeOnCapture",
)
OS_DISK_ORDER = ("Name", "HostCaching", "OSState", "OS", "MediaLink", "LogicalDiskSizeInGB", "IOType")
DATA_DISK_ORDER = ("Name", "HostCaching", "Lun", "MediaLink", "LogicalDiskSizeInGB", "IOType")
OS_IMAGE_ORDER = (
    "AffinityGroup", "Category", "Label", "Location", "LogicalSizeInGB", "MediaLink", "Name", "OS",
    "Eula", "Description", "ImageFamily", "ShowInGui", "PublishedDate", "IsPremium", "IconUri",
    "PrivacyUri", "RecommendedVMSize", "PublisherName", "PricingDetailLink", "SmallIconUri",
    "Language", "OSState", "IOType",
)
# What Update VM Image / Update OS Image may change (merge: absent or empty means unchanged).
VM_IMAGE_UPDATABLE = (
    "Label", "Description", "Language", "ImageFamily", "RecommendedVMSize", "Eula", "IconUri",
    "SmallIconUri", "PrivacyUri", "PublishedDate", "ShowInGui",
)
OS_IMAGE_UPDATABLE = VM_IMAGE_UPDATABLE + ("IsPremium",)

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Role instance status -> PowerState element, for Get Deployment.
_POWER = {
    "ReadyRole": "Started", "StoppedVM": "Stopped", "StoppedDeallocated": "Stopped",
    "StartingVM": "Starting", "StoppingVM": "Stopping", "StoppingRole": "Stopping",
    "Provisioning": "Starting", "CreatingVM": "Starting", "RoleStateUnknown": "Unknown",
}


class _HTTPError(Exception):
    """An error answer: status, ``<Error><Code>``, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --------------------------------------------------------------------------------------------------
# Faults


@dataclass
class _Fault:
    kind: str
    remaining: int
    method: str | None
    path: str | None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path or re.search(self.path, path) is not None


class Faults:
    """Fault injection, shaped like the ARM emulator's. ``path`` is a regex searched in the URL path.

    ``op_polls``: an async operation answers InProgress until its ``op_polls``-th poll (default 2:
    §11.2, complete on the second poll). ``op_seconds``: and at least that long on the emulator's
    clock. Every injected fault counts down and disappears after ``n`` uses.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Fault] = []
        self._rng = rng or random.Random(0)
        self.op_polls = 2
        self.op_seconds = 0.0
        self.latency_seconds = 0.0
        #: Per-request probabilities (the ARM emulator's model), drawn from the seeded generator.
        self.rates: dict[str, float] = {"throttle": 0.0, "server_error": 0.0, "drop": 0.0}
        self.retry_after = 1
        #: Image names (casefolded) whose next asynchronous operation ends Failed.
        self.fail_names: set[str] = set()

    def update(self, data: dict[str, Any]) -> None:
        """Set faults from a JSON object with the ARM emulator's names (``POST /_emulator/faults``).

        ``throttle``/``server_error``/``drop``: probabilities; ``latency``: seconds; ``lro_polls``:
        polls answered InProgress (``op_polls`` is the poll that completes, so ``lro_polls + 1``);
        ``lro_seconds``/``op_seconds``; ``retry_after``; ``fail_operations``: image names. Unknown
        names or wrong types raise ValueError and change nothing.
        """
        staged: dict[str, Any] = {}
        for key, value in data.items():
            if key == "fail_operations":
                if not isinstance(value, list | set | tuple) or not all(isinstance(v, str) for v in value):
                    raise ValueError("fail_operations must be a list of image names")
                staged[key] = {v.casefold() for v in value}
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
            if key in ("throttle", "server_error", "drop"):
                if value > 1:
                    raise ValueError(f"{key} is a probability between 0 and 1")
            elif key not in ("latency", "lro_polls", "op_polls", "lro_seconds", "op_seconds", "retry_after"):
                raise ValueError(f"unknown fault {key!r}")
            staged[key] = value
        for key, value in staged.items():
            if key in self.rates:
                self.rates[key] = float(value)
            elif key == "latency":
                self.latency_seconds = float(value)
            elif key == "lro_polls":
                self.op_polls = int(value) + 1
            elif key == "op_polls":
                self.op_polls = int(value)
            elif key in ("lro_seconds", "op_seconds"):
                self.op_seconds = float(value)
            elif key == "retry_after":
                self.retry_after = int(value)
            else:
                self.fail_names = set(value)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.rates, "latency": self.latency_seconds, "lro_polls": max(self.op_polls - 1, 0),
            "op_polls": self.op_polls, "lro_seconds": self.op_seconds, "retry_after": self.retry_after,
            "fail_operations": sorted(self.fail_names),
            "queued": [{"kind": r.kind, "remaining": r.remaining, "method": r.method, "path": r.path}
                       for r in self._rules],
        }

    def _add(self, kind: str, n: int, method: str | None, path: str | None, **params: Any) -> None:
        with self._lock:
            self._rules.append(_Fault(kind, n, method, path, params))

    def throttle(self, n: int = 1, *, retry_after: int = 1, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests get 429 with ``Retry-After``."""
        self._add("throttle", n, method, path, retry_after=retry_after)

    def server_error(
        self, n: int = 1, *, status: int = 503, code: str = "ServerBusy", method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` matching requests get a 5xx ``<Error>`` (503 ServerBusy by default)."""
        self._add("server_error", n, method, path, status=status, code=code)

    def drop(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests are read, then the connection is closed unanswered."""
        self._add("drop", n, method, path)

    def fail_operations(
        self, n: int = 1, *, code: str = "InternalError", message: str = "The operation failed (injected).",
        status: int = 500,
    ) -> None:
        """The next ``n`` asynchronous operations end ``Failed`` with this error (no effect applied)."""
        self._add("fail_operation", n, None, None, code=code, message=message, status=status)

    def latency(self, seconds: float) -> None:
        """Every response waits ``seconds`` (with the emulator's ``sleep``) before it is sent."""
        self.latency_seconds = seconds

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        self.op_polls, self.op_seconds, self.latency_seconds = 2, 0.0, 0.0

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> _Fault | None:
        """The first matching queued fault of one of ``kinds`` (consumed once), else a random one."""
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule
            for kind in kinds:
                rate = self.rates.get(kind, 0.0)
                if rate and self._rng.random() < rate:
                    params: dict[str, Any] = {"retry_after": self.retry_after, "status": 503, "code": "ServerBusy"}
                    return _Fault(kind, 1, None, None, params)
        return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it (headers with their original case)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_thumbprint: str | None
    status: int = 0
    request_id: str = ""


@dataclass
class _Operation:
    id: str
    status: str = "Succeeded"
    http_status: int = 200
    error: tuple[str, str] | None = None
    polls: int = 0
    started: float = 0.0
    effect: Callable[[], None] | None = None
    fail: _Fault | None = None
    on_done: Callable[[], None] | None = None


# --------------------------------------------------------------------------------------------------
# XML helpers


def _el(tag: str) -> str:
    return _Q + tag


def _root(tag: str) -> ET.Element:
    root = ET.Element(tag, {"xmlns": NS, "xmlns:i": XSI})
    return root


def _add(parent: ET.Element, tag: str, value: Any) -> None:
    if value is None or value == "":
        return  # §6.3: null values are left out, never emitted empty
    if isinstance(value, bool):
        value = "true" if value else "false"
    ET.SubElement(parent, tag).text = str(value)


def _serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _text(el: ET.Element, tag: str) -> str | None:
    """Text of a direct child by local name, in the namespace or not; None when absent or empty."""
    for child in el:
        if child.tag in (_el(tag), tag):
            t = (child.text or "").strip()
            return t or None
    return None


def _child(el: ET.Element, tag: str) -> ET.Element | None:
    for child in el:
        if child.tag in (_el(tag), tag):
            return child
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def vm_image_xml(parent: ET.Element, img: dict[str, Any]) -> None:
    """Append one ``<VMImage>`` for a stored record."""
    el = ET.SubElement(parent, "VMImage")
    for key in VM_IMAGE_ORDER:
        if key == "OSDiskConfiguration":
            osd = ET.SubElement(el, key)
            for k in OS_DISK_ORDER:
                _add(osd, k, (img.get(key) or {}).get(k))
        elif key == "DataDiskConfigurations":
            dds = ET.SubElement(el, key)
            for disk in img.get(key) or []:
                dd = ET.SubElement(dds, "DataDiskConfiguration")
                for k in DATA_DISK_ORDER:
                    _add(dd, k, disk.get(k))
        else:
            _add(el, key, img.get(key))


def os_image_xml(parent: ET.Element | None, img: dict[str, Any]) -> ET.Element:
    """One ``<OSImage>`` (a root when ``parent`` is None)."""
    el = _root("OSImage") if parent is None else ET.SubElement(parent, "OSImage")
    for key in OS_IMAGE_ORDER:
        _add(el, key, img.get(key))
    return el


def _error_body(code: str, message: str) -> bytes:
    root = _root("Error")
    _add(root, "Code", code)
    _add(root, "Message", message)
    return _serialize(root)


def _dashed(rid: str) -> str:
    return str(uuid.UUID(hex=rid))


def _iso(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------------
# The emulator


class ClassicEmulator:
    """A stateful classic Service Management endpoint on loopback.

    ``state`` (JSON-able; deep-copied)::

        {"subscription": "<guid>",                # path prefix; other subscriptions get 403
         "certificates": ["<SHA-1 thumbprint>"],  # management certificates (TLS); empty: any
         "tokens": ["<bearer token>"],            # accepted ``Authorization: Bearer``; empty: none checked
         "location": "West US",
         "os_images": [{"Name":..., "Label":..., "Category": "User", "OS": "Linux", ...}],
         "vm_images": [{"Name":..., "OSDiskConfiguration": {...}, "DataDiskConfigurations": [...], ...}],
         "hosted_services": [{"ServiceName": "svc", "Label": "", "Description": "", "Location": "West US",
                              "deployments": [{"Name": "svc", "DeploymentSlot": "Production",
                                 "roles": [{"RoleName": "vm1", "InstanceStatus": "StoppedVM",
                                            "RoleSize": "Small", "OS": "Linux",
                                            "OSDisk": {"DiskName":..., "MediaLink":..., "LogicalDiskSizeInGB": 30},
                                            "DataDisks": [{"DiskName":..., "Lun": 0, "MediaLink":...,
                                                           "LogicalDiskSizeInGB": 100}]}]}]}]}

    Authentication: with ``tls`` the client certificate's thumbprint must be in ``certificates`` or
    ``client_thumbprints`` (or a configured bearer token must be sent) once any is configured;
    ``start()`` with ``tls`` generates a CA, a server certificate and one accepted client
    certificate (``tls_files``). Without TLS only bearer tokens can be checked.
    """

    def __init__(
        self,
        state: dict[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        client_thumbprints: set[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        tls_dir: str | None = None,
    ) -> None:
        self.state: dict[str, Any] = copy.deepcopy(state) if state else {}
        self.state.setdefault("subscription", DEFAULT_SUBSCRIPTION)
        for key in ("certificates", "tokens", "os_images", "vm_images", "hosted_services"):
            self.state.setdefault(key, [])
        self.state.setdefault("location", "West US")
        self.host, self.port, self.tls = host, port, tls
        self.client_thumbprints = {t.upper() for t in (client_thumbprints or set())}
        self.clock, self.sleep, self.now = clock, sleep, now
        self.faults = Faults(random.Random(seed + 1))
        self.requests: list[RecordedRequest] = []
        self.tls_files: TLSFiles | None = None
        #: Written with the final state on ``stop()`` when set (``--state``).
        self.state_file: Path | None = None
        self._tls_dir = tls_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._ops: dict[str, _Operation] = {}
        self._pending: set[tuple[str, str]] = set()  # (kind, casefolded name) of captures in flight
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ca = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Bind, start serving in a background thread and return the base URL."""
        self._bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="classic-emulator", daemon=True
        )
        self._thread.start()
        return self.url

    def _bind(self) -> None:
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        server = _Server((self.host, self.port), Handler)
        self._server = server
        self.port = server.server_address[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        if self.tls:
            if self._tls_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="classic-emulator-tls-")
                self._tls_dir = self._tmp.name
            hosts = tuple(dict.fromkeys([self.host, "127.0.0.1", "localhost"]))
            files, ca = write_tls_files(
                self._tls_dir, hosts=hosts, subscription=self.state["subscription"], url=self.url
            )
            self.tls_files, self._ca = files, ca
            self.client_thumbprints.add(files.client_thumbprint)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(files.server_cert, files.server_key)
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cafile=files.ca_cert)
            for pem in self.state.get("certificate_pems", []):
                ctx.load_verify_locations(cadata=pem)
            server.ssl_context = ctx

    def issue_client_certificate(self, path: str, *, accepted: bool = True) -> str:
        """Write a new client certificate+key PEM signed by the emulator CA; returns its thumbprint.

        ``accepted=False`` makes a certificate the TLS handshake accepts but the subscription does
        not know: requests with it get 403 ``ForbiddenError``.
        """
        if self._ca is None:
            raise RuntimeError("start the emulator with tls=True first")
        cert, key, thumb = self._ca.issue("reconciler test client")
        Path(path).write_bytes(cert + key)
        if accepted:
            self.client_thumbprints.add(thumb)
        return thumb

    def banner(self) -> list[str]:
        """Lines for the CLI to print after ``listening on URL``: the subscription and TLS files."""
        lines = [f"subscription {self.state['subscription']}"]
        if self.tls_files is not None:
            f = self.tls_files
            lines += [
                f"CA certificate (trust it, e.g. settings.ca_bundle): {f.ca_cert}",
                f"management client certificate (settings.certificate): {f.client_pem}",
                f"publish settings (settings.publish_settings): {f.publishsettings}",
            ]
        return lines

    def stop(self) -> None:
        if self.state_file is not None and self._server is not None:
            self.state_file.write_text(json.dumps(self.dump_state(), indent=2, sort_keys=True), encoding="utf-8")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ClassicEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dump_state(self) -> dict[str, Any]:
        """A deep copy of the current state (what ``--state`` loads), captures in flight excluded."""
        with self._lock:
            return copy.deepcopy(self.state)

    # -- state lookups -----------------------------------------------------------------------------

    def _new_request_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _find_image(self, kind: str, name: str) -> dict[str, Any] | None:
        key = name.casefold()
        for img in self.state[kind]:
            if str(img.get("Name", "")).casefold() == key:
                return img  # type: ignore[no-any-return]
        return None

    def _service(self, name: str) -> dict[str, Any]:
        for svc in self.state["hosted_services"]:
            if svc["ServiceName"].casefold() == name.casefold():
                return svc  # type: ignore[no-any-return]
        raise _HTTPError(404, "ResourceNotFound", "The hosted service does not exist.")

    def _deployment(self, svc: dict[str, Any], *, name: str | None = None, slot: str | None = None) -> dict[str, Any]:
        for dep in svc.get("deployments", []):
            if name is not None and dep["Name"].casefold() == name.casefold():
                return dep  # type: ignore[no-any-return]
            if slot is not None and dep.get("DeploymentSlot", "Production").casefold() == slot.casefold():
                return dep  # type: ignore[no-any-return]
        raise _HTTPError(404, "ResourceNotFound", "No deployments were found.")

    def _role(self, dep: dict[str, Any], name: str) -> dict[str, Any]:
        for role in dep.get("roles", []):
            if role["RoleName"].casefold() == name.casefold():
                return role  # type: ignore[no-any-return]
        raise _HTTPError(404, "ResourceNotFound", "The role does not exist.")

    # -- operations --------------------------------------------------------------------------------

    def _record_sync(self, rid: str, status: int) -> None:
        with self._lock:
            self._ops[rid] = _Operation(rid, "Succeeded" if status < 400 else "Failed", status)

    def _start_async(
        self, rid: str, effect: Callable[[], None], on_done: Callable[[], None] | None = None, name: str = ""
    ) -> None:
        fail = self.faults.take(("fail_operation",), "*", "*")
        if fail is None and name and name.casefold() in self.faults.fail_names:
            self.faults.fail_names.discard(name.casefold())
            fail = _Fault("fail_operation", 1, None, None,
                          {"status": 500, "code": "InternalError", "message": f"The operation on {name} failed."})
        with self._lock:
            self._ops[rid] = _Operation(
                rid, "InProgress", 0, started=self.clock(), effect=effect, fail=fail, on_done=on_done
            )

    def _poll(self, rid: str) -> _Operation:
        with self._lock:
            op = self._ops.get(rid.replace("-", "").lower())
            if op is None:
                raise _HTTPError(404, "ResourceNotFound", "The operation request ID was not found.")
            if op.status == "InProgress":
                op.polls += 1
                if op.polls >= self.faults.op_polls and self.clock() - op.started >= self.faults.op_seconds:
                    self._finish(op)
            return op

    def _finish(self, op: _Operation) -> None:
        try:
            if op.fail is not None:
                p = op.fail.params
                op.status, op.http_status, op.error = "Failed", p["status"], (p["code"], p["message"])
                return
            try:
                assert op.effect is not None
                op.effect()
                op.status, op.http_status = "Succeeded", 200
            except _HTTPError as e:
                op.status, op.http_status, op.error = "Failed", e.status, (e.code, e.message)
        finally:
            if op.on_done is not None:
                op.on_done()

    def settle(self) -> None:
        """Finish every operation in flight now (for tests that do not poll)."""
        with self._lock:
            for op in self._ops.values():
                if op.status == "InProgress":
                    self._finish(op)

    # -- request dispatch ----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, thumbprint: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body). Pure over the state (no socket)."""
        parts = urlsplit(raw_path)
        path = parts.path
        query = parse_qs(parts.query)
        rid = self._new_request_id()
        hdrs = {"x-ms-request-id": rid, "Cache-Control": "no-cache", "x-ms-servedbyregion": "emulator"}
        try:
            segs = [unquote(s) for s in path.strip("/").split("/")]
            version = next((v for k, v in headers.items() if k.lower() == "x-ms-version"), "")
            self._authenticate(segs, headers, thumbprint)
            if not _VERSION.match(version):
                raise _HTTPError(
                    400, "MissingOrIncorrectVersionHeader",
                    "The versioning header is not specified or was specified incorrectly.",
                )
            if len(segs) >= 2 and segs[1] == "services" and segs[2:3] == ["vmimages"] and version < "2014-02-01":
                raise _HTTPError(
                    400, "MissingOrIncorrectVersionHeader", "VM images need x-ms-version 2014-02-01 or later."
                )
            status, out = self._route(method, segs[1:], query, body, rid)
        except _HTTPError as e:
            self._record_sync(rid, e.status)
            hdrs["Content-Type"] = "application/xml; charset=utf-8"
            return e.status, hdrs, _error_body(e.code, e.message)
        if status != 202:
            self._record_sync(rid, status)
        if out:
            hdrs["Content-Type"] = "application/xml; charset=utf-8"
        return status, hdrs, out

    def _authenticate(self, segs: list[str], headers: dict[str, str], thumbprint: str | None) -> None:
        forbidden = _HTTPError(403, "ForbiddenError", FORBIDDEN_MESSAGE)
        if not segs or segs[0].casefold() != str(self.state["subscription"]).casefold():
            raise forbidden
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        tokens = set(self.state.get("tokens") or [])
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or (tokens and token not in tokens):
                raise forbidden
            return
        allowed = self.client_thumbprints | {t.upper() for t in self.state.get("certificates") or []}
        allowed |= {thumbprint_of_pem(p) for p in self.state.get("certificate_pems") or []}
        if self.tls and allowed and (thumbprint is None or thumbprint.upper() not in allowed):
            raise forbidden
        if not self.tls and tokens:
            raise forbidden

    def _route(
        self, method: str, segs: list[str], query: dict[str, list[str]], body: bytes, rid: str
    ) -> tuple[int, bytes]:
        with self._lock:
            match (method, segs):
                case ("GET", ["operations", op_id]):
                    return 200, self._operation_xml(self._poll(op_id))
                case ("GET", ["services", "images"]):
                    root = _root("Images")
                    for img in self.state["os_images"]:
                        os_image_xml(root, img)
                    return 200, _serialize(root)
                case ("POST", ["services", "images"]):
                    return 200, self._add_os_image(body)
                case ("GET", ["services", "images", name]):
                    img = self._need("os_images", name)
                    return 200, _serialize(os_image_xml(None, img))
                case ("PUT", ["services", "images", name]):
                    img = self._need("os_images", name)
                    self._merge(img, _parse(body, "OSImage"), OS_IMAGE_UPDATABLE)
                    return 200, _serialize(os_image_xml(None, img))
                case ("DELETE", ["services", "images", name]):
                    img = self._need("os_images", name)
                    self._check_user(img)
                    self.state["os_images"].remove(img)
                    self._delete_media(query, [img.get("MediaLink")])
                    return 200, b""
                case ("GET", ["services", "vmimages"]):
                    return 200, self._list_vm_images(query)
                case ("PUT", ["services", "vmimages", name]):
                    img = self._need("vm_images", name)
                    self._merge(img, _parse(body, "VMImage"), VM_IMAGE_UPDATABLE)
                    return 200, b""
                case ("DELETE", ["services", "vmimages", name]):
                    img = self._need("vm_images", name)
                    self._check_user(img)
                    self._start_async(rid, lambda: self._delete_vm_image(img, query), name=str(img["Name"]))
                    return 202, b""
                case ("GET", ["services", "hostedservices"]):
                    root = _root("HostedServices")
                    for svc in self.state["hosted_services"]:
                        self._service_xml(root, svc, detail=False)
                    return 200, _serialize(root)
                case ("POST", ["services", "hostedservices"]):
                    self._create_service(body)
                    return 201, b""
                case ("GET", ["services", "hostedservices", svc_name]):
                    svc = self._service(svc_name)
                    detail = (query.get("embed-detail") or ["false"])[0].lower() == "true"
                    return 200, _serialize(self._service_xml(None, svc, detail=detail))
                case ("DELETE", ["services", "hostedservices", svc_name]):
                    svc = self._service(svc_name)
                    if svc.get("deployments"):
                        raise _HTTPError(409, "ConflictError", "The hosted service has deployments; delete them first.")
                    self.state["hosted_services"].remove(svc)
                    return 200, b""
                case ("GET", ["services", "hostedservices", svc_name, "deploymentslots", slot]):
                    dep = self._deployment(self._service(svc_name), slot=slot)
                    return 200, _serialize(self._deployment_xml(None, dep))
                case ("GET", ["services", "hostedservices", svc_name, "deployments", dep_name]):
                    dep = self._deployment(self._service(svc_name), name=dep_name)
                    return 200, _serialize(self._deployment_xml(None, dep))
                case ("POST", ["services", "hostedservices", svc, "deployments", dep, "roleinstances", role, op]) if (
                    op.casefold() == "operations"
                ):
                    return self._role_operation(svc, dep, role, body, rid), b""
            raise _HTTPError(404, "ResourceNotFound", f"The requested resource does not exist ({method}).")

    # -- handlers ----------------------------------------------------------------------------------

    def _need(self, kind: str, name: str) -> dict[str, Any]:
        img = self._find_image(kind, name)
        if img is None:
            raise _HTTPError(404, "ResourceNotFound", "The image with the specified name does not exist.")
        return img

    @staticmethod
    def _check_user(img: dict[str, Any]) -> None:
        if str(img.get("Category", "")).casefold() != "user":
            raise _HTTPError(400, "BadRequest", "Only images of category User can be changed or deleted.")

    def _merge(self, img: dict[str, Any], body: ET.Element, fields: tuple[str, ...]) -> None:
        """§11.6: merge; absent or empty elements leave the value unchanged."""
        self._check_user(img)
        for key in fields:
            value = _text(body, key)
            if value is not None:
                img[key] = value
        osd = _child(body, "OSDiskConfiguration")
        if osd is not None and _text(osd, "HostCaching") and "OSDiskConfiguration" in img:
            img["OSDiskConfiguration"]["HostCaching"] = _text(osd, "HostCaching")
        dds = _child(body, "DataDiskConfigurations")
        for dd in list(dds) if dds is not None else []:
            name = (_text(dd, "Name") or "").casefold()
            for disk in img.get("DataDiskConfigurations") or []:
                if str(disk.get("Name", "")).casefold() == name and _text(dd, "HostCaching"):
                    disk["HostCaching"] = _text(dd, "HostCaching")
        if "ModifiedTime" in img or "CreatedTime" in img:
            img["ModifiedTime"] = _iso(self.now())

    def _delete_media(self, query: dict[str, list[str]], links: list[Any]) -> None:
        """§11.7: ``comp=media`` marks the blobs deleted (the emulator keeps a list of them)."""
        if "media" in (query.get("comp") or []):
            self.state.setdefault("deleted_blobs", []).extend(str(x) for x in links if x)

    def _delete_vm_image(self, img: dict[str, Any], query: dict[str, list[str]]) -> None:
        if img in self.state["vm_images"]:
            self.state["vm_images"].remove(img)
        links = [(img.get("OSDiskConfiguration") or {}).get("MediaLink")]
        links += [d.get("MediaLink") for d in img.get("DataDiskConfigurations") or []]
        self._delete_media(query, links)

    def _list_vm_images(self, query: dict[str, list[str]]) -> bytes:
        root = _root("VMImages")
        loc = (query.get("location") or [""])[0].casefold()
        pub = (query.get("publisher") or [""])[0].casefold()
        cat = (query.get("category") or [""])[0].casefold()
        for img in self.state["vm_images"]:
            if loc and loc not in [x.strip().casefold() for x in str(img.get("Location", "")).split(";")]:
                continue
            if pub and str(img.get("PublisherName", "")).casefold() != pub:
                continue
            if cat and str(img.get("Category", "")).casefold() != cat:
                continue
            vm_image_xml(root, img)
        return _serialize(root)

    def _add_os_image(self, body: bytes) -> bytes:
        el = _parse(body, "OSImage")
        name, label, link, os_name = (_text(el, k) for k in ("Name", "Label", "MediaLink", "OS"))
        if not (name and label and link and os_name):
            raise _HTTPError(400, "BadRequest", "Name, Label, MediaLink and OS are required.")
        self._check_free("os_images", name)
        img: dict[str, Any] = {
            "Category": "User", "Label": label, "Location": self.state["location"], "LogicalSizeInGB": 30,
            "MediaLink": link, "Name": name, "OS": os_name, "IsPremium": False, "OSState": "Generalized",
            "IOType": "Standard",
        }
        for key in OS_IMAGE_UPDATABLE:
            if _text(el, key) is not None and key not in img:
                img[key] = _text(el, key)
        self.state["os_images"].append(img)
        return _serialize(os_image_xml(None, img))

    def _check_free(self, kind: str, name: str) -> None:
        """§11.3: names are unique per kind, case-insensitively; captures in flight count."""
        if self._find_image(kind, name) is not None or (kind, name.casefold()) in self._pending:
            raise _HTTPError(409, "ConflictError", f"An image named {name} already exists.")

    def _create_service(self, body: bytes) -> None:
        el = _parse(body, "CreateHostedService")
        name = _text(el, "ServiceName")
        if not name:
            raise _HTTPError(400, "BadRequest", "ServiceName is required.")
        if any(s["ServiceName"].casefold() == name.casefold() for s in self.state["hosted_services"]):
            raise _HTTPError(409, "ConflictError", "The specified DNS name is already taken.")
        self.state["hosted_services"].append({
            "ServiceName": name, "Label": _text(el, "Label") or "", "Description": _text(el, "Description") or "",
            "Location": _text(el, "Location") or self.state["location"], "deployments": [],
        })

    def _role_operation(self, svc_name: str, dep_name: str, role_name: str, body: bytes, rid: str) -> int:
        el = _parse(body, None)
        op_type = (_text(el, "OperationType") or _local(el.tag)).strip()
        svc = self._service(svc_name)
        dep = self._deployment(svc, name=dep_name)
        role = self._role(dep, role_name)
        if op_type == "CaptureRoleAsVMImageOperation":
            return self._capture_vm_image(svc, dep, role, el, rid)
        if op_type == "CaptureRoleOperation":
            return self._capture_role(svc, dep, role, el, rid)
        if op_type == "ShutdownRoleOperation":
            post = (_text(el, "PostShutdownAction") or "Stopped").casefold()
            status = "StoppedDeallocated" if post == "stoppeddeallocated" else "StoppedVM"
            self._start_async(rid, lambda: role.__setitem__("InstanceStatus", status))
            return 202
        if op_type == "StartRoleOperation":
            self._start_async(rid, lambda: role.__setitem__("InstanceStatus", "ReadyRole"))
            return 202
        raise _HTTPError(400, "BadRequest", f"Unknown operation type {op_type!r}.")

    def _disks_for(self, name: str, role: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        date = self.now().strftime("%Y-%m-%d")
        osd = role.get("OSDisk") or {}
        base = str(osd.get("MediaLink") or f"https://emulatorstore.blob.core.windows.net/vhds/{role['RoleName']}.vhd")
        container = base.rsplit("/", 1)[0]
        os_disk = {
            "Name": f"{name}-os-{date}", "HostCaching": "ReadWrite", "OSState": None, "OS": role.get("OS", "Linux"),
            "MediaLink": f"{container}/{name}-os-{date}.vhd",
            "LogicalDiskSizeInGB": int(osd.get("LogicalDiskSizeInGB") or 30), "IOType": "Standard",
        }
        data = []
        for i, disk in enumerate(role.get("DataDisks") or []):
            data.append({
                "Name": f"{name}-datadisk-{i}-{date}", "HostCaching": disk.get("HostCaching", "None"),
                "Lun": int(disk.get("Lun", i)), "MediaLink": f"{container}/{name}-datadisk-{i}-{date}.vhd",
                "LogicalDiskSizeInGB": int(disk.get("LogicalDiskSizeInGB") or 1023), "IOType": "Standard",
            })
        return os_disk, data

    def _remove_role(self, svc: dict[str, Any], dep: dict[str, Any], role: dict[str, Any]) -> None:
        """§11.4: the role goes; a deployment left without roles goes too."""
        if role in dep.get("roles", []):
            dep["roles"].remove(role)
        if not dep.get("roles") and dep in svc.get("deployments", []):
            svc["deployments"].remove(dep)

    def _capture_vm_image(
        self, svc: dict[str, Any], dep: dict[str, Any], role: dict[str, Any], el: ET.Element, rid: str
    ) -> int:
        name, label, os_state = _text(el, "VMImageName"), _text(el, "VMImageLabel"), _text(el, "OSState")
        if not (name and label and os_state) or os_state.casefold() not in ("generalized", "specialized"):
            raise _HTTPError(
                400, "BadRequest", "VMImageName, VMImageLabel and OSState (Generalized|Specialized) are required."
            )
        self._check_free("vm_images", name)
        generalized = os_state.casefold() == "generalized"
        os_disk, data = self._disks_for(name, role)
        os_disk["OSState"] = "Generalized" if generalized else "Specialized"
        now = _iso(self.now())
        img: dict[str, Any] = {
            "Name": name, "Label": label, "Category": "User", "Description": _text(el, "Description"),
            "OSDiskConfiguration": os_disk, "DataDiskConfigurations": data,
            "ServiceName": svc["ServiceName"], "DeploymentName": dep["Name"], "RoleName": role["RoleName"],
            "Location": svc.get("Location") or self.state["location"], "CreatedTime": now, "ModifiedTime": now,
            "Language": _text(el, "Language"), "ImageFamily": _text(el, "ImageFamily"),
            "RecommendedVMSize": _text(el, "RecommendedVMSize"), "IsPremium": False,
            "VMImageState": "VMImageReadyForUse", "RoleStateOnCapture": role.get("InstanceStatus", "StoppedVM"),
            "RoleSizeOnCapture": role.get("RoleSize", "Small"),
        }
        key = ("vm_images", name.casefold())
        self._pending.add(key)

        def effect() -> None:
            self.state["vm_images"].append(img)
            if generalized:
                self._remove_role(svc, dep, role)

        self._start_async(rid, effect, on_done=lambda: self._pending.discard(key), name=name)
        return 202

    def _capture_role(
        self, svc: dict[str, Any], dep: dict[str, Any], role: dict[str, Any], el: ET.Element, rid: str
    ) -> int:
        name, label = _text(el, "TargetImageName"), _text(el, "TargetImageLabel")
        action = (_text(el, "PostCaptureAction") or "").casefold()
        if not (name and label) or action not in ("delete", "reprovision"):
            raise _HTTPError(
                400, "BadRequest",
                "TargetImageName, TargetImageLabel and PostCaptureAction (Delete|Reprovision) are required.",
            )
        self._check_free("os_images", name)
        os_disk, _ = self._disks_for(name, role)
        img: dict[str, Any] = {
            "Category": "User", "Label": label, "Location": svc.get("Location") or self.state["location"],
            "LogicalSizeInGB": os_disk["LogicalDiskSizeInGB"], "MediaLink": os_disk["MediaLink"], "Name": name,
            "OS": os_disk["OS"], "IsPremium": False, "OSState": "Generalized", "IOType": "Standard",
        }
        key = ("os_images", name.casefold())
        self._pending.add(key)

        def effect() -> None:
            self.state["os_images"].append(img)
            if action == "delete":
                self._remove_role(svc, dep, role)

        self._start_async(rid, effect, on_done=lambda: self._pending.discard(key), name=name)
        return 202

    # -- XML of services and deployments ------------------------------------------------------------

    def _operation_xml(self, op: _Operation) -> bytes:
        root = _root("Operation")
        _add(root, "ID", _dashed(op.id))
        _add(root, "Status", op.status)
        if op.status != "InProgress":
            _add(root, "HttpStatusCode", op.http_status)
        if op.error is not None:
            err = ET.SubElement(root, "Error")
            _add(err, "Code", op.error[0])
            _add(err, "Message", op.error[1])
        return _serialize(root)

    def _service_xml(self, parent: ET.Element | None, svc: dict[str, Any], *, detail: bool) -> ET.Element:
        el = _root("HostedService") if parent is None else ET.SubElement(parent, "HostedService")
        _add(el, "Url", f"{self.url}/{self.state['subscription']}/services/hostedservices/{svc['ServiceName']}")
        _add(el, "ServiceName", svc["ServiceName"])
        props = ET.SubElement(el, "HostedServiceProperties")
        _add(props, "Description", svc.get("Description"))
        _add(props, "Location", svc.get("Location") or self.state["location"])
        _add(props, "Label", svc.get("Label"))
        _add(props, "Status", "Created")
        if detail:
            deps = ET.SubElement(el, "Deployments")
            for dep in svc.get("deployments", []):
                self._deployment_xml(deps, dep)
        return el

    def _deployment_xml(self, parent: ET.Element | None, dep: dict[str, Any]) -> ET.Element:
        el = _root("Deployment") if parent is None else ET.SubElement(parent, "Deployment")
        _add(el, "Name", dep["Name"])
        _add(el, "DeploymentSlot", dep.get("DeploymentSlot", "Production"))
        _add(el, "Status", "Running")
        instances = ET.SubElement(el, "RoleInstanceList")
        for role in dep.get("roles", []):
            ri = ET.SubElement(instances, "RoleInstance")
            status = role.get("InstanceStatus", "ReadyRole")
            _add(ri, "RoleName", role["RoleName"])
            _add(ri, "InstanceName", role["RoleName"])
            _add(ri, "InstanceStatus", status)
            _add(ri, "InstanceSize", role.get("RoleSize", "Small"))
            _add(ri, "PowerState", _POWER.get(status, "Unknown"))
        roles = ET.SubElement(el, "RoleList")
        for role in dep.get("roles", []):
            r = ET.SubElement(roles, "Role", {f"{{{XSI}}}type": "PersistentVMRole"})
            _add(r, "RoleName", role["RoleName"])
            _add(r, "RoleType", "PersistentVMRole")
            dds = ET.SubElement(r, "DataVirtualHardDisks")
            for i, disk in enumerate(role.get("DataDisks") or []):
                d = ET.SubElement(dds, "DataVirtualHardDisk")
                _add(d, "DiskName", disk.get("DiskName"))
                _add(d, "Lun", int(disk.get("Lun", i)))
                _add(d, "LogicalDiskSizeInGB", disk.get("LogicalDiskSizeInGB"))
                _add(d, "MediaLink", disk.get("MediaLink"))
            osd = role.get("OSDisk") or {}
            o = ET.SubElement(r, "OSVirtualHardDisk")
            _add(o, "DiskName", osd.get("DiskName"))
            _add(o, "MediaLink", osd.get("MediaLink"))
            _add(o, "OS", role.get("OS", "Linux"))
            _add(r, "RoleSize", role.get("RoleSize", "Small"))
        return el


def _parse(body: bytes, expected_root: str | None) -> ET.Element:
    """Parse a request body with a real XML parser; §11.4 errors for bad XML or the wrong root."""
    try:
        el = ET.fromstring(body)
    except ET.ParseError as e:
        raise _HTTPError(400, "InvalidXmlRequest", f"The request body's XML was invalid: {e}.") from e
    if expected_root is not None and _local(el.tag) != expected_root:
        raise _HTTPError(400, "InvalidXmlRequest", f"Expected a {expected_root} element, got {_local(el.tag)}.")
    return el


# --------------------------------------------------------------------------------------------------
# HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    ssl_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshakes run on the handler thread so a stuck client cannot block ``accept``."""
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        # wrap_socket detaches the plain socket, so closing that one later would leak this one.
        try:
            super().finish_request(wrapped, client_address)
        finally:
            self.shutdown_request(wrapped)

    def shutdown_request(self, request: Any) -> None:
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients that vanish mid-request are part of the fault model, not news


class _Handler(BaseHTTPRequestHandler):
    emulator: ClassicEmulator
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add 40 ms each.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None

    def _thumbprint(self) -> str | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        if getpeercert is None:
            return None
        der = getpeercert(binary_form=True)
        return thumbprint_of_der(der) if der else None

    def _serve(self) -> None:
        em = self.emulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        thumb = self._thumbprint()
        path = urlsplit(self.path).path
        if path.startswith("/_emulator/"):
            self._reply(*self._control(path, body))
            return
        if em.faults.take(("drop",), self.command, path):
            self.close_connection = True
            query = parse_qs(urlsplit(self.path).query)
            em.requests.append(RecordedRequest(self.command, path, query, headers, body, thumb))
            return
        fault = em.faults.take(("throttle", "server_error"), self.command, path)
        if fault is not None:
            rid = em._new_request_id()
            if fault.kind == "throttle":
                status, hdrs = 429, {"Retry-After": str(fault.params["retry_after"])}
                out = _error_body("TooManyRequests", "The request was throttled (injected).")
            else:
                status, hdrs = fault.params["status"], {}
                out = _error_body(fault.params["code"], "The server is busy (injected).")
            hdrs.update({"x-ms-request-id": rid, "Content-Type": "application/xml; charset=utf-8"})
        else:
            status, hdrs, out = em.handle(self.command, self.path, headers, body, thumb)
        em.requests.append(
            RecordedRequest(
                self.command, path, parse_qs(urlsplit(self.path).query), headers, body, thumb, status,
                hdrs.get("x-ms-request-id", ""),
            )
        )
        if em.faults.latency_seconds:
            em.sleep(em.faults.latency_seconds)
        self._reply(status, hdrs, out)

    def _control(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """``/_emulator/faults`` (GET; POST a partial JSON object) and ``/_emulator/state`` (GET), as the
        ARM emulator has them: for demos driven from another process."""
        em = self.emulator
        json_type = {"Content-Type": "application/json"}
        if path.rstrip("/") == "/_emulator/faults" and self.command in ("GET", "POST"):
            if self.command == "POST":
                try:
                    data = json.loads(body or b"{}")
                    if not isinstance(data, dict):
                        raise ValueError("the body must be a JSON object of fault fields")
                    em.faults.update(data)
                except ValueError as e:
                    return 400, json_type, json.dumps({"error": str(e)}).encode()
            return 200, json_type, json.dumps(em.faults.to_json()).encode()
        if path.rstrip("/") == "/_emulator/state" and self.command == "GET":
            return 200, json_type, json.dumps(em.dump_state()).encode()
        return 404, json_type, json.dumps({"error": f"no control endpoint {path}"}).encode()

    def _reply(self, status: int, hdrs: dict[str, str], out: bytes) -> None:
        self.send_response(status)
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if out and self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve  # noqa: N815 - stdlib naming


# --------------------------------------------------------------------------------------------------
# The blocking entry point for ``reconciler emulator classic``


def load_state(path: str) -> dict[str, Any]:
    """Read a ``--state`` file (JSON, or YAML when PyYAML parses it)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the emulator state must be a mapping")
    return data


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    *,
    tls: bool = False,
    tls_dir: str | None = None,
) -> ClassicEmulator:
    """Start the emulator for ``reconciler emulator classic`` and return it, already serving.

    Same shape as ``emulators.arm.serve``: the caller (cli.py) prints ``listening on {emu.url}``
    and the lines of ``emu.banner()`` (with ``--tls``: where the CA, the client certificate and the
    ``.publishsettings`` were written), blocks, then calls ``emu.stop()``. With ``state_file`` the
    state is loaded from it when it exists and written back to it on ``stop()``. ``tls_dir``: keep
    the generated certificates there (else a temporary folder removed on stop).
    """
    state = load_state(str(state_file)) if state_file is not None and Path(state_file).exists() else None
    em = ClassicEmulator(state, host=host, port=port, tls=tls, tls_dir=tls_dir)
    if state_file is not None:
        em.state_file = Path(state_file)
    em.start()
    return em


def serve_forever(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    tls: bool = False,
    tls_dir: str | None = None,
    on_ready: Callable[[ClassicEmulator], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """The blocking variant: serve until ``stop`` is set or KeyboardInterrupt; returns the final state.

    ``on_ready(emulator)`` runs once it listens (the CLI prints the URL and ``banner()`` there).
    """
    em = serve(host, port, state_file, tls=tls, tls_dir=tls_dir)
    try:
        if on_ready is not None:
            on_ready(em)
        waiter = stop or threading.Event()
        while not waiter.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        em.stop()
    return em.dump_state()


def iter_roles(state: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(service, deployment, role) of every role in a state, for tests and seeding."""
    for svc in state.get("hosted_services", []):
        for dep in svc.get("deployments", []):
            for role in dep.get("roles", []):
                yield svc["ServiceName"], dep["Name"], role


__all__ = [
    "ClassicEmulator", "Faults", "RecordedRequest", "TLSFiles", "iter_roles", "load_state", "serve", "serve_forever",
]
