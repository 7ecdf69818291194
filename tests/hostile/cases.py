"""Table-driven hostile requests: a ``Case`` says what is sent and what must come back.

Every answer is checked the same way: the expected status, MLflow's JSON error shape with the
expected ``error_code`` (and a fragment of the message, when given) for 4xx, and never a 5xx
for a client mistake (the MLflow client retries 5xx for minutes). ``raw_request`` sends bytes
exactly as given, for what ``requests`` would refuse or repair (request lines, headers).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.servers import RunningServer

__all__ = ["Case", "check", "raw_request"]


@dataclass(frozen=True)
class Case:
    """One hostile request and the answer it must get."""

    id: str
    method: str
    path: str  # from the server root, e.g. "/api/2.0/mlflow/runs/search"
    json: Any = None
    data: bytes | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 400
    error_code: str | None = "INVALID_PARAMETER_VALUE"
    message: str | None = None  # a fragment the error message must contain
    timeout: float = 30.0


def check(server: RunningServer, case: Case) -> requests.Response:
    """Send ``case`` to ``server`` and assert its answer; returns the response."""
    resp = requests.request(
        case.method,
        server.url + case.path,
        json=case.json,
        data=case.data,
        params=case.params,
        headers=case.headers,
        timeout=case.timeout,
    )
    detail = f"{case.id}: {resp.status_code} {resp.text[:500]!r}"
    assert resp.status_code < 500 or case.status >= 500, detail
    assert resp.status_code == case.status, detail
    if case.error_code is not None and resp.status_code >= 400:
        body = resp.json()
        assert body.get("error_code") == case.error_code, detail
        assert isinstance(body.get("message"), str) and body["message"], detail
        if case.message is not None:
            assert case.message in body["message"], detail
    assert server.process.poll() is None, f"{case.id}: the server process died"
    return resp


def raw_request(server: RunningServer, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` as it is on a fresh connection; return everything read until close/timeout."""
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except TimeoutError:
            pass
    return b"".join(chunks)


def _complete(buf: bytes) -> bool:
    head, _, body = buf.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False
