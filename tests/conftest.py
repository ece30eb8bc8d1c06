"""Suite-wide guard: no test reaches the network beyond loopback (house style, design §8).

Every ``socket.connect``/``connect_ex`` to an address that is not loopback (or a Unix socket) is
refused with ``OSError`` and recorded, and the test that tried it fails at teardown, even if the code
under test swallowed the error. Name lookups of anything but loopback names answer as an offline
machine does (``socket.gaierror``), so a DNS-failure path can be tested without sending a query.
Subprocesses started by a test are not covered: they get loopback URLs from the test itself.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_violations: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback_host(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").split("%", 1)[0]
    if host.lower() in _LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _allowed(sock: socket.socket, address: Any) -> bool:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True  # Unix sockets and the like never leave the machine
    host = address[0] if isinstance(address, tuple) and address else address
    return _is_loopback_host(host)


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _allowed(self, address):
        _violations.append(f"connect to {address!r}")
        raise OSError(f"tests may only connect to loopback, not {address!r}")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _allowed(self, address):
        _violations.append(f"connect_ex to {address!r}")
        raise OSError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is None or _is_loopback_host(host):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, f"tests resolve loopback names only, not {host!r}")


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    patches = {"connect": _guarded_connect, "connect_ex": _guarded_connect_ex}
    saved = {name: getattr(socket.socket, name) for name in patches}
    for name, fn in patches.items():
        setattr(socket.socket, name, fn)
    socket.getaddrinfo = _guarded_getaddrinfo
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(socket.socket, name, fn)
        socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def _no_network_attempt() -> Iterator[None]:
    start = len(_violations)
    yield
    tried = _violations[start:]
    if tried:
        pytest.fail(f"the test tried to reach the network beyond loopback: {', '.join(tried)}")
