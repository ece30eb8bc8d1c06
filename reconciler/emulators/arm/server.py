"""ARM emulator: a real HTTP server on loopback that serves the Azure Resource Manager operations the
``azure`` provider uses (managed images, VMs, Compute Gallery), for tests, benchmarks and demos.

Layer: emulator. It may import ``requests``-free stdlib HTTP only; it never prints (``cli.py`` prints
``listening on ...``) and never reads the environment. The resource logic lives in ``arm_backend.py``;
this module owns the socket, fault injection, request recording and state files.

Usage::

    with ArmEmulator(state, faults=Faults(throttle=0.2)) as emu:
        requests.get(emu.url + "/subscriptions/.../images?api-version=2025-11-01", headers=auth)
        emu.requests   # every request seen, with the status it got (0 = connection dropped)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.emulators.arm_backend import API_VERSIONS, ArmBackend, Reply

__all__ = ["API_VERSIONS", "ArmEmulator", "Faults", "Recorded", "serve"]

CONTROL_PREFIX = "/_emulator/"
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

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["fail_operations"] = sorted(self.fail_operations)
        return data

    def update(self, data: dict[str, Any]) -> None:
        """Set the given fields (unknown names or wrong types raise ValueError, nothing changes then)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        staged: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(known)}")
            if key == "fail_operations":
                if not isinstance(value, list | set | tuple) or not all(isinstance(v, str) for v in value):
                    raise ValueError("fail_operations must be a list of resource names")
                staged[key] = {str(v) for v in value}
            elif key in ("lro_polls", "retry_after"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
                staged[key] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{key} must be a non-negative number")
                if key in ("throttle", "server_error", "drop") and value > 1:
                    raise ValueError(f"{key} is a probability between 0 and 1")
                staged[key] = float(value)
        for key, value in staged.items():
            setattr(self, key, value)


@dataclass(frozen=True)
class Recorded:
    """One request the emulator received; ``status`` 0 means the connection was dropped (fault)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any | None
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive clients must not block stop(); open sockets are shut instead

    def __init__(self, address: tuple[str, int], emulator: ArmEmulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms each.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the stdlib's stderr access log: the emulator records requests instead."""

    def _serve(self) -> None:
        self.server.emulator._dispatch(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = do_HEAD = _serve


class ArmEmulator:
    """A stateful ARM endpoint on ``http://host:port`` served from a daemon thread.

    :param state: ``{"resources": [...]}``, each resource as ARM's GET returns it (see docs).
    :param page_size: items per list page; further pages are reached by ``nextLink``.
    :param faults: fault injection settings (a fresh ``Faults()`` when None).
    :param clock: monotonic seconds, injected so tests drive operation durations without sleeping.
    :param seed: seeds fault draws and operation ids, so a run with faults is reproducible.
    """

    def __init__(
        self, state: dict[str, Any] | None = None, *, host: str = "127.0.0.1", port: int = 0,
        page_size: int = 100, faults: Faults | None = None, clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.host, self.port = host, port
        self.faults = faults if faults is not None else Faults()
        self.requests: list[Recorded] = []
        self.state_file: Path | None = None  # set by serve(): the state is saved back there on stop()
        #: Called with (method, path, query, status, body) for every ARM answer sent; tests use it to
        #: check each body against the spec. It runs in the server thread: it must not raise.
        self.response_hook: Callable[[str, str, dict[str, str], int, Any], None] | None = None
        self._rng = random.Random(seed ^ 0x5EED)
        self._rng_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._url: str | None = None
        self.backend = ArmBackend(
            page_size=page_size, clock=clock, seed=seed,
            lro_polls=lambda: self.faults.lro_polls, lro_seconds=lambda: self.faults.lro_seconds,
            retry_after=lambda: self.faults.retry_after, take_failure=self._take_failure,
        )
        self.backend.load(state or {"resources": []})

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._server is not None:
            return self.url
        self._server = _Server((self.host, self.port), self)
        host, port = self._server.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self._url = f"http://{shown}:{port}"
        self._stopped.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"arm-emulator-{port}", daemon=True)
        self._thread.start()
        return self._url

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the emulator is not started: call start() or use it as a context manager")
        return self._url

    def stop(self) -> None:
        """Stop serving, close every socket, and save the state to ``state_file`` when one is set."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            with server.sockets_lock:
                sockets = list(server.open_sockets)
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self.state_file is not None:
                self.save(self.state_file)
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``stop()`` (from another thread or a signal handler); True if it stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> ArmEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- state -----------------------------------------------------------------------------------
    def dump_state(self) -> dict[str, Any]:
        """A deep copy of the state in the ``--state`` file format."""
        return self.backend.dump()

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace all resources (running operations are forgotten). Raises ValueError on a bad shape."""
        self.backend.load(state)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state file atomically (a temporary file renamed over the target)."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.dump_state(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(target)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> ArmEmulator:
        """An emulator seeded from a state file. Raises ValueError naming the file when it is not valid."""
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(state, **kwargs)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    # ---- faults ----------------------------------------------------------------------------------
    def _draw(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _take_failure(self, name: str) -> bool:
        wanted = {n.lower() for n in self.faults.fail_operations}
        if name.lower() not in wanted:
            return False
        self.faults.fail_operations = {n for n in self.faults.fail_operations if n.lower() != name.lower()}
        return True

    def _fault_reply(self) -> Reply | str | None:
        """A fault for this request: a Reply (429/5xx), "drop-before"/"drop-after", or None."""
        f = self.faults
        if f.drop and self._draw() < f.drop:
            return "drop-before" if self._draw() < 0.5 else "drop-after"
        if f.throttle and self._draw() < f.throttle:
            return Reply(429, {"error": {
                "code": "OperationNotAllowed",
                "message": "The server rejected the request because too many requests have been received "
                           "for this subscription.",
                "details": [{"code": "TooManyRequests", "target": "HighCostGet30Min",
                             "message": json.dumps({"operationGroup": "HighCostGet30Min",
                                                    "allowedRequestCount": 800,
                                                    "measuredRequestCount": 1238})}],
            }}, {"Retry-After": str(f.retry_after),
                 "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/HighCostGet30Min;0"},
                "common.CloudError")
        if f.server_error and self._draw() < f.server_error:
            if self._draw() < 0.5:
                return Reply(500, {"error": {"code": "InternalServerError",
                                             "message": "Encountered internal server error."}},
                             definition="common.CloudError")
            return Reply(503, {"error": {"code": "ServiceUnavailable",
                                         "message": "The service is temporarily unavailable."}},
                         {"Retry-After": str(f.retry_after)}, "common.CloudError")
        return None

    # ---- request handling ------------------------------------------------------------------------
    def _dispatch(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        method = handler.command
        if path.startswith(CONTROL_PREFIX):
            self._send(handler, self._control(method, path, raw), method)
            return
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if self.faults.latency:
            time.sleep(self.faults.latency)
        fault = self._fault_reply()
        if fault == "drop-before" or (fault == "drop-after" and method not in _WRITE_METHODS):
            self._record(method, path, query, headers, body, 0)
            self._drop(handler)
            return
        if isinstance(fault, Reply):
            reply = fault
        else:
            base = f"http://{headers['host']}" if headers.get("host") else self.url
            reply = self.backend.handle(method, path, query, headers, raw, base)
        if fault == "drop-after":
            self._record(method, path, query, headers, body, 0)
            self._drop(handler)
            return
        reply.headers.setdefault("x-ms-request-id", str(uuid.UUID(int=self._rng_bits())))
        reply.headers["x-ms-correlation-request-id"] = headers.get(
            "x-ms-correlation-request-id") or str(uuid.UUID(int=self._rng_bits()))
        if "x-ms-client-request-id" in headers:
            reply.headers["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
        kind = "reads" if method == "GET" else "writes"
        reply.headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = "11999" if kind == "reads" else "1199"
        self._record(method, path, query, headers, body, reply.status)
        if self.response_hook is not None:
            self.response_hook(method, path, query, reply.status, reply.body)
        self._send(handler, reply, method)

    def _rng_bits(self) -> int:
        with self._rng_lock:
            return self._rng.getrandbits(128)

    def _record(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                body: Any, status: int) -> None:
        self.requests.append(Recorded(method, path, query, headers, body, status))

    @staticmethod
    def _drop(handler: _Handler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _send(handler: _Handler, reply: Reply, method: str) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            if reply.body is not None:
                handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(payload)
        except OSError:
            handler.close_connection = True

    def _control(self, method: str, path: str, raw: bytes) -> Reply:
        """``/_emulator/faults`` (GET, POST a partial JSON object) and ``/_emulator/state`` (GET)."""
        if path.rstrip("/") == "/_emulator/faults":
            if method == "POST":
                try:
                    data = json.loads(raw or b"{}")
                    if not isinstance(data, dict):
                        raise ValueError("the body must be a JSON object of fault fields")
                    self.faults.update(data)
                except ValueError as exc:
                    return Reply(400, {"error": {"code": "InvalidRequestContent", "message": str(exc)}})
            elif method != "GET":
                return Reply(405, {"error": {"code": "MethodNotAllowed", "message": "use GET or POST"}})
            return Reply(200, self.faults.to_json())
        if path.rstrip("/") == "/_emulator/state" and method == "GET":
            return Reply(200, self.dump_state())
        return Reply(404, {"error": {"code": "NotFound", "message": f"no control endpoint {path}"}})


def serve(host: str = "127.0.0.1", port: int = 0, state_file: str | os.PathLike[str] | None = None,
          page_size: int = 100) -> ArmEmulator:
    """Start the emulator for ``reconciler emulator arm`` and return it, already serving.

    The caller (cli.py) prints ``listening on {emu.url}``, then blocks in ``emu.wait()`` and calls
    ``emu.stop()`` on Ctrl-C/SIGTERM. When ``state_file`` is given the state is loaded from it (if the
    file exists) and written back to it on ``stop()``.
    """
    if state_file is not None and Path(state_file).exists():
        emu = ArmEmulator.from_file(state_file, host=host, port=port, page_size=page_size)
    else:
        emu = ArmEmulator(host=host, port=port, page_size=page_size)
    if state_file is not None:
        emu.state_file = Path(state_file)
    emu.start()
    return emu
