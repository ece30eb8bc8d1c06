"""The suite-wide loopback guard of tests/conftest.py refuses what it must and lets loopback through."""

from __future__ import annotations

import socket

import pytest

from tests import conftest


def test_a_connection_beyond_loopback_is_refused_and_recorded():
    before = len(conftest._violations)
    with socket.socket() as s, pytest.raises(OSError, match="only connect to loopback"):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    assert conftest._violations[before:] == ["connect to ('192.0.2.1', 443)"]
    del conftest._violations[before:]  # this test tried on purpose


def test_names_beyond_loopback_do_not_resolve():
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("management.azure.com", 443)


def test_loopback_connections_and_names_work():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=5):
            pass
