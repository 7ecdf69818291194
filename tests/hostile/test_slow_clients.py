"""Slow clients: idle and header-trickling connections are closed after --timeout-keep-alive.

Before, aiohttp's keep-alive timeout was left at its default (an hour), so a client could hold
a connection open forever by sending nothing, or by sending a request's headers one byte at a
time (slowloris). ``--timeout-keep-alive`` (default 5 s, uvicorn's and therefore ``mlflow
server``'s) now bounds both. The 413 for a declared over-limit JSON body is in
``test_json_input``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.hostile.conftest import backend_server
from tests.servers import RunningServer

TIMEOUT = 1  # --timeout-keep-alive of the server under test
CLOSED_WITHIN = 6.0  # generous: the check is "closed", not "closed on the dot"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("slow-clients")
    with backend_server("sqlite", workdir, "--timeout-keep-alive", str(TIMEOUT)) as running:
        yield running


def _connect(server: RunningServer) -> socket.socket:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=CLOSED_WITHIN + 5)


def _closed_after(sock: socket.socket, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``sock`` while ``trickle`` is sent a byte at a time."""
    start = time.monotonic()
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() - start < CLOSED_WITHIN + 5:
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent : sent + 1])
            except OSError:
                return time.monotonic() - start
            sent += 1
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
        if not data:
            return time.monotonic() - start
    return float("inf")


def test_idle_connection_is_closed(server: RunningServer) -> None:
    with _connect(server) as sock:
        assert _closed_after(sock) < CLOSED_WITHIN


def test_header_trickle_is_closed(server: RunningServer) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    with _connect(server) as sock:
        assert _closed_after(sock, request) < CLOSED_WITHIN


def test_idle_keep_alive_connection_is_closed(server: RunningServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert _closed_after(sock) < CLOSED_WITHIN


def test_active_clients_are_served(server: RunningServer) -> None:
    """The timeout is idle time: a connection used more often than that keeps working."""
    with _connect(server) as sock:
        for _ in range(4):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT / 3)
