"""The loopback HTTP server both emulators stand on: socket, threads, recording, faults, state files.

Layer: emulator. Each emulator (``arm``, ``classic``) subclasses ``LoopbackEmulator`` and supplies
``exchange`` (one request in, one ``Response`` or ``DROP`` out), ``dump_state`` and its own fault
settings; this module owns what they have in common:

* a ``ThreadingHTTPServer`` on ``127.0.0.1:0`` served from a daemon thread, ``start``/``stop``/``wait``
  and the context manager, ``url``; optionally TLS (the handshake runs on the handler thread);
* the request log (``requests``: ``Recorded`` entries, ``status`` 0 = the connection was dropped);
* the shared part of fault injection: per-request probabilities (throttle, 5xx, drop) drawn from one
  seeded generator (``FaultDice``) and the checks of the values a client may set; each emulator words
  the injected errors in its own API's format (JSON ``CloudError`` for ARM, XML ``<Error>`` classic);
* the ``/_emulator/faults`` (GET, POST a partial JSON object) and ``/_emulator/state`` (GET) control
  endpoints, for demos driven from another process;
* the ``--state`` file: read before start, written back atomically on ``stop()``.

Emulators never print and never read the environment: the CLI prints what they hand it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "CONTROL_PREFIX", "DROP", "Drop", "FaultDice", "LoopbackEmulator", "LoopbackServer", "Recorded", "Request",
    "Response", "names_value", "rate_value", "read_state_file", "serve_with_state",
]

CONTROL_PREFIX = "/_emulator/"
#: The probabilistic faults both emulators draw per request, in the order they are drawn.
RATE_KINDS = ("drop", "throttle", "server_error")
PROBABILITIES = ("throttle", "server_error", "drop")


@dataclass(frozen=True)
class Recorded:
    """One request the emulator received; ``status`` 0 means the connection was dropped (fault).

    ``query`` and ``body`` are in the emulator's own terms (ARM: one value per name and the parsed
    JSON body; classic: value lists and the raw bytes, as the XML API is byte-exact).
    """

    method: str
    path: str
    query: Mapping[str, Any]
    headers: dict[str, str]
    body: Any
    status: int


@dataclass(frozen=True)
class Request:
    """One HTTP request as read off the socket, before any emulator logic."""

    method: str
    target: str  # the raw request target (path and query string)
    headers: list[tuple[str, str]]  # as sent, names in their original case
    body: bytes
    peer_cert: bytes | None  # DER of the TLS client certificate, if one was presented

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query_string(self) -> str:
        return urlsplit(self.target).query


@dataclass
class Response:
    """One HTTP answer; ``headers`` carry the Content-Type when there is a body."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


class Drop:
    """The answer that is none: close the connection without a response (fault)."""


DROP = Drop()


class FaultSettings(Protocol):
    """What the control endpoint needs of an emulator's fault settings."""

    def update(self, data: dict[str, Any]) -> None: ...

    def to_json(self) -> dict[str, Any]: ...


class FaultDice:
    """Per-request fault draws from one seeded generator, so a run with faults is reproducible."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._lock = threading.Lock()

    def draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def bits(self, n: int) -> int:
        with self._lock:
            return self._rng.getrandbits(n)

    def hit(self, rate: float) -> bool:
        """True with probability ``rate``; draws nothing when the rate is 0."""
        return bool(rate) and self.draw() < rate

    def first(self, rates: Mapping[str, float], kinds: Sequence[str] = RATE_KINDS) -> str | None:
        """The first of ``kinds`` whose rate hits, drawing in that order, or None."""
        for kind in kinds:
            if self.hit(rates.get(kind, 0.0)):
                return kind
        return None


def rate_value(key: str, value: Any) -> float:
    """A fault number a client set: non-negative, and at most 1 for a probability."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a non-negative number")
    if key in PROBABILITIES and value > 1:
        raise ValueError(f"{key} is a probability between 0 and 1")
    return float(value)


def names_value(value: Any, what: str) -> set[str]:
    """``fail_operations``: a list of names."""
    if not isinstance(value, list | set | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"fail_operations must be a list of {what} names")
    return {str(v) for v in value}


def read_state_file(path: str | os.PathLike[str], *, yaml: bool = False) -> Any:
    """The parsed ``--state`` file: JSON, or (``yaml``) YAML when it is not JSON."""
    text = Path(path).read_text(encoding="utf-8")
    if not yaml:
        return json.loads(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        import yaml as pyyaml

        return pyyaml.safe_load(text)


E = TypeVar("E", bound="LoopbackEmulator[Any]")
R = TypeVar("R", bound=Recorded)


def serve_with_state(make: Callable[[Path | None], E], state_file: str | os.PathLike[str] | None) -> E:
    """Start an emulator for ``reconciler emulator ...`` and return it, already serving.

    ``make(path)`` builds it from the state file when that exists (``make(None)``: a fresh state).
    With ``state_file`` the state is written back there on ``stop()``.
    """
    path = Path(state_file) if state_file is not None else None
    emu = make(path if path is not None and path.exists() else None)
    emu.state_file = path
    emu.start()
    return emu


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive clients must not block stop(); open sockets are shut instead

    def __init__(self, address: tuple[str, int], emulator: LoopbackEmulator[Any]) -> None:
        self.emulator = emulator
        self.ssl_context: ssl.SSLContext | None = None
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

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

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients that vanish mid-request are part of the fault model, not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackServer

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

    def _peer_cert(self) -> bytes | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        if getpeercert is None:
            return None
        der = getpeercert(binary_form=True)
        return bytes(der) if der else None

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(self.command, self.path, list(self.headers.items()), body, self._peer_cert())
        emulator = self.server.emulator
        if request.path.startswith(CONTROL_PREFIX):
            answer: Response | Drop = emulator.control(request)
        else:
            answer = emulator.exchange(request)
        if isinstance(answer, Drop):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.body and self.command != "HEAD":
                self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = do_HEAD = _serve  # noqa: N815 - stdlib naming


def json_response(status: int, body: Any) -> Response:
    return Response(status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode("utf-8"))


class LoopbackEmulator(Generic[R]):
    """A stateful endpoint on ``http://host:port`` served from a daemon thread (see the module doc).

    Subclasses set ``faults`` (with ``update``/``to_json``) and implement ``exchange``, ``dump_state``
    and ``control_error``; ``on_bound`` and ``on_stopped`` are hooks (TLS set-up and clean-up).
    """

    scheme = "http"
    thread_name = "emulator"
    faults: FaultSettings

    def __init__(self, *, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.requests: list[R] = []
        self.state_file: Path | None = None  # set by serve(): the state is saved back there on stop()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._url: str | None = None

    # ---- what an emulator supplies ---------------------------------------------------------------
    def exchange(self, request: Request) -> Response | Drop:
        """Answer one API request (not a control request): a Response, or ``DROP``."""
        raise NotImplementedError

    def dump_state(self) -> dict[str, Any]:
        """A deep copy of the state in the ``--state`` file format."""
        raise NotImplementedError

    def control_error(self, code: str, message: str) -> Any:
        """The JSON body of a control endpoint's error, in the emulator's own style."""
        return {"error": {"code": code, "message": message}}

    def on_bound(self, server: LoopbackServer) -> None:
        """Called once the socket is bound and ``url`` is known, before serving starts."""

    def on_stopped(self) -> None:
        """Called at the end of ``stop()``."""

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> str:
        """Bind and serve in a daemon thread; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._server is not None:
            return self.url
        server = LoopbackServer((self.host, self.port), self)
        host, port = server.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        self._url = f"{self.scheme}://{shown}:{port}"
        self._server = server
        self.on_bound(server)
        self._stopped.clear()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.thread_name}-{port}", daemon=True)
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
                self._thread = None
            if self.state_file is not None:
                self.save(self.state_file)
        self.on_stopped()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``stop()`` (from another thread or a signal handler); True if it stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self: E) -> E:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- state file and request log ---------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state file atomically (a temporary file renamed over the target)."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.dump_state(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(target)

    def record(self, entry: R) -> None:
        self.requests.append(entry)

    # ---- control endpoints -------------------------------------------------------------------------
    def control(self, request: Request) -> Response:
        """``/_emulator/faults`` (GET, POST a partial JSON object) and ``/_emulator/state`` (GET)."""
        path, method = request.path.rstrip("/"), request.method
        if path == "/_emulator/faults":
            if method == "POST":
                try:
                    data = json.loads(request.body or b"{}")
                    if not isinstance(data, dict):
                        raise ValueError("the body must be a JSON object of fault fields")
                    self.faults.update(data)
                except ValueError as exc:
                    return json_response(400, self.control_error("InvalidRequestContent", str(exc)))
            elif method != "GET":
                return json_response(405, self.control_error("MethodNotAllowed", "use GET or POST"))
            return json_response(200, self.faults.to_json())
        if path == "/_emulator/state" and method == "GET":
            return json_response(200, self.dump_state())
        return json_response(404, self.control_error("NotFound", f"no control endpoint {request.path}"))
