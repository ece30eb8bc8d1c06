"""A loopback emulator of the classic Azure Service Management API (images, VM images, roles).

Layer: edge (emulators). A real HTTP(S) server (the shared loopback base, ``emulators/base.py``) for
tests and demos; it follows ``shared/azure-classic/CONTRACT.md`` and fills the gaps the way §11 there
says. Never prints: ``cli/commands/emulator.py`` calls ``serve()`` and prints what ``on_ready`` hands it.

This module is the HTTP glue: authentication, ``x-ms-version``, routing, the injected faults' XML
wording, TLS set-up. The state and its changes are in ``state.py``, asynchronous operations and
captures in ``operations.py``, the XML in ``wire.py``, the certificates in ``tls.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import random
import re
import ssl
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..base import DROP, Drop, LoopbackEmulator, LoopbackServer, Recorded, Request, Response, serve_with_state
from .faults import Faults
from .operations import Operations
from .state import OS_IMAGE_UPDATABLE, VM_IMAGE_UPDATABLE, Store, load_state, with_defaults
from .tls import CertificateAuthority, TLSFiles, thumbprint_of_der, thumbprint_of_pem, write_tls_files
from .wire import (
    XML_TYPE,
    ClassicError,
    deployment_xml,
    error_body,
    os_image_xml,
    parse,
    root,
    serialize,
    service_xml,
)

FORBIDDEN_MESSAGE = (
    "The server failed to authenticate the request. Verify that the certificate is valid and is "
    "associated with this subscription."
)

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RecordedRequest(Recorded):
    """One request as the emulator received it (headers with their original case, the raw body).

    ``status`` is 0 for a connection dropped by a fault; ``request_id`` is ``x-ms-request-id``.
    """

    client_thumbprint: str | None = None
    request_id: str = ""


class ClassicEmulator(LoopbackEmulator[RecordedRequest]):
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

    thread_name = "classic-emulator"

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
        super().__init__(host=host, port=port)
        self.state: dict[str, Any] = with_defaults(copy.deepcopy(state) if state else {})
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.client_thumbprints = {t.upper() for t in (client_thumbprints or set())}
        self.clock, self.sleep, self.now = clock, sleep, now
        self.faults: Faults = Faults(random.Random(seed + 1))
        self.tls_files: TLSFiles | None = None
        self._tls_dir = tls_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self.store = Store(self.state, now)
        self.operations = Operations(self.store, self.faults, clock, self._lock)
        self._ca: CertificateAuthority | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def on_bound(self, server: LoopbackServer) -> None:
        """With ``tls``: write the CA, server and client certificates and serve TLS."""
        self.port = server.server_address[1]
        if not self.tls:
            return
        if self._tls_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="classic-emulator-tls-")
            self._tls_dir = self._tmp.name
        hosts = tuple(dict.fromkeys([self.host, "127.0.0.1", "localhost"]))
        files, ca = write_tls_files(self._tls_dir, hosts=hosts, subscription=self.state["subscription"], url=self.url)
        self.tls_files, self._ca = files, ca
        self.client_thumbprints.add(files.client_thumbprint)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(files.server_cert, files.server_key)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=files.ca_cert)
        for pem in self.state.get("certificate_pems", []):
            ctx.load_verify_locations(cadata=pem)
        server.ssl_context = ctx

    def on_stopped(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

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

    def dump_state(self) -> dict[str, Any]:
        """A deep copy of the current state (what ``--state`` loads), captures in flight excluded."""
        with self._lock:
            return copy.deepcopy(self.state)

    def control_error(self, code: str, message: str) -> Any:
        return {"error": message}

    def settle(self) -> None:
        """Finish every operation in flight now (for tests that do not poll)."""
        self.operations.settle()

    # -- request dispatch ----------------------------------------------------------------------------

    def _new_request_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def exchange(self, request: Request) -> Response | Drop:
        """Faults first (queued or drawn), then ``handle``; every request is recorded."""
        method, path = request.method, request.path
        headers = dict(request.headers)
        query = parse_qs(request.query_string)
        thumb = thumbprint_of_der(request.peer_cert) if request.peer_cert else None
        if self.faults.take(("drop",), method, path):
            self.record(RecordedRequest(method, path, query, headers, request.body, 0, thumb))
            return DROP
        fault = self.faults.take(("throttle", "server_error"), method, path)
        if fault is not None:
            rid = self._new_request_id()
            if fault.kind == "throttle":
                status, hdrs = 429, {"Retry-After": str(fault.params["retry_after"])}
                out = error_body("TooManyRequests", "The request was throttled (injected).")
            else:
                status, hdrs = fault.params["status"], {}
                out = error_body(fault.params["code"], "The server is busy (injected).")
            hdrs.update({"x-ms-request-id": rid, "Content-Type": XML_TYPE})
        else:
            status, hdrs, out = self.handle(method, request.target, headers, request.body, thumb)
        self.record(RecordedRequest(
            method, path, query, headers, request.body, status, thumb, hdrs.get("x-ms-request-id", ""),
        ))
        if self.faults.latency_seconds:
            self.sleep(self.faults.latency_seconds)
        return Response(status, hdrs, out)

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
                raise ClassicError(
                    400, "MissingOrIncorrectVersionHeader",
                    "The versioning header is not specified or was specified incorrectly.",
                )
            if len(segs) >= 2 and segs[1] == "services" and segs[2:3] == ["vmimages"] and version < "2014-02-01":
                raise ClassicError(
                    400, "MissingOrIncorrectVersionHeader", "VM images need x-ms-version 2014-02-01 or later."
                )
            status, out = self._route(method, segs[1:], query, body, rid)
        except ClassicError as e:
            self.operations.record_sync(rid, e.status)
            hdrs["Content-Type"] = XML_TYPE
            return e.status, hdrs, error_body(e.code, e.message)
        if status != 202:
            self.operations.record_sync(rid, status)
        if out:
            hdrs["Content-Type"] = XML_TYPE
        return status, hdrs, out

    def _authenticate(self, segs: list[str], headers: dict[str, str], thumbprint: str | None) -> None:
        forbidden = ClassicError(403, "ForbiddenError", FORBIDDEN_MESSAGE)
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
        store, ops = self.store, self.operations
        with self._lock:
            match (method, segs):
                case ("GET", ["operations", op_id]):
                    return 200, ops.poll(op_id).xml()
                case ("GET", ["services", "images"]):
                    return 200, store.list_os_images()
                case ("POST", ["services", "images"]):
                    return 200, store.add_os_image(body)
                case ("GET", ["services", "images", name]):
                    return 200, serialize(os_image_xml(None, store.need("os_images", name)))
                case ("PUT", ["services", "images", name]):
                    img = store.need("os_images", name)
                    store.merge(img, parse(body, "OSImage"), OS_IMAGE_UPDATABLE)
                    return 200, serialize(os_image_xml(None, img))
                case ("DELETE", ["services", "images", name]):
                    store.delete_os_image(store.need("os_images", name), query)
                    return 200, b""
                case ("GET", ["services", "vmimages"]):
                    return 200, store.list_vm_images(query)
                case ("PUT", ["services", "vmimages", name]):
                    img = store.need("vm_images", name)
                    store.merge(img, parse(body, "VMImage"), VM_IMAGE_UPDATABLE)
                    return 200, b""
                case ("DELETE", ["services", "vmimages", name]):
                    img = store.need("vm_images", name)
                    store.check_user(img)
                    ops.start_async(rid, lambda: store.delete_vm_image(img, query), name=str(img["Name"]))
                    return 202, b""
                case ("GET", ["services", "hostedservices"]):
                    services = root("HostedServices")
                    for svc in self.state["hosted_services"]:
                        self._service_xml(services, svc, detail=False)
                    return 200, serialize(services)
                case ("POST", ["services", "hostedservices"]):
                    store.create_service(body)
                    return 201, b""
                case ("GET", ["services", "hostedservices", svc_name]):
                    svc = store.service(svc_name)
                    detail = (query.get("embed-detail") or ["false"])[0].lower() == "true"
                    return 200, serialize(self._service_xml(None, svc, detail=detail))
                case ("DELETE", ["services", "hostedservices", svc_name]):
                    store.delete_service(store.service(svc_name))
                    return 200, b""
                case ("GET", ["services", "hostedservices", svc_name, "deploymentslots", slot]):
                    dep = store.deployment(store.service(svc_name), slot=slot)
                    return 200, serialize(deployment_xml(None, dep))
                case ("GET", ["services", "hostedservices", svc_name, "deployments", dep_name]):
                    dep = store.deployment(store.service(svc_name), name=dep_name)
                    return 200, serialize(deployment_xml(None, dep))
                case ("POST", ["services", "hostedservices", svc, "deployments", dep, "roleinstances", role, op]) if (
                    op.casefold() == "operations"
                ):
                    return ops.role_operation(svc, dep, role, body, rid), b""
            raise ClassicError(404, "ResourceNotFound", f"The requested resource does not exist ({method}).")

    def _service_xml(self, parent: ET.Element | None, svc: dict[str, Any], *, detail: bool) -> ET.Element:
        url = f"{self.url}/{self.state['subscription']}/services/hostedservices/{svc['ServiceName']}"
        return service_xml(parent, svc, url=url, location=self.state["location"], detail=detail)


# --------------------------------------------------------------------------------------------------
# The blocking entry point for ``reconciler emulator classic``


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    *,
    tls: bool = False,
    tls_dir: str | None = None,
) -> ClassicEmulator:
    """Start the emulator for ``reconciler emulator classic`` and return it, already serving.

    Same shape as ``emulators.arm.serve``: the caller (``cli/commands/emulator.py``) prints ``listening on {emu.url}``
    and the lines of ``emu.banner()`` (with ``--tls``: where the CA, the client certificate and the
    ``.publishsettings`` were written), blocks, then calls ``emu.stop()``. With ``state_file`` the
    state is loaded from it when it exists and written back to it on ``stop()``. ``tls_dir``: keep
    the generated certificates there (else a temporary folder removed on stop).
    """

    def make(path: Path | None) -> ClassicEmulator:
        state = load_state(str(path)) if path is not None else None
        return ClassicEmulator(state, host=host, port=port, tls=tls, tls_dir=tls_dir)

    return serve_with_state(make, state_file)


def serve_forever(
    *,
    on_ready: Callable[[ClassicEmulator], None] | None = None,
    stop: threading.Event | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The blocking variant of ``serve`` (same options, by name): serve until ``stop`` is set or
    KeyboardInterrupt; returns the final state.

    ``on_ready(emulator)`` runs once it listens (the CLI prints the URL and ``banner()`` there).
    """
    em = serve(**options)
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
