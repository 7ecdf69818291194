"""Compressed bodies: artifacts stored as sent, JSON inflated only up to the request limit.

A 298 KB gzip artifact PUT used to be stored inflated (300 MB): aiohttp decompressed it. The
server now stores artifact bytes exactly as sent (as MLflow does), and JSON endpoints inflate
``gzip``/``deflate`` bodies themselves, bounded by ``--max-request-size`` (413 past it).
"""

from __future__ import annotations

import gzip
import uuid
import zlib
from pathlib import Path

import pytest
import requests

from tests.hostile.cases import Case, check
from tests.hostile.conftest import backend_server
from tests.servers import RunningServer

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MIB = 1024 * 1024


def _bomb(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


def test_a_gzip_artifact_is_stored_as_sent(server: RunningServer) -> None:
    bomb = _bomb(300 * MIB)
    assert len(bomb) < 400_000
    path = f"gz-{uuid.uuid4().hex}/bomb.gz"
    resp = requests.put(
        f"{server.url}{ARTIFACTS}/{path}",
        data=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    got = requests.get(f"{server.url}{ARTIFACTS}/{path}", timeout=60)
    assert got.status_code == 200
    assert got.content == bomb
    stored = Path(server.log_path).parent / "mlartifacts" / path
    assert stored.stat().st_size == len(bomb)
    assert stored.read_bytes() == bomb


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("x-gzip", gzip.compress)],
)
def test_compressed_json_is_inflated(
    server: RunningServer, encoding: str, compress: object
) -> None:
    name = f"gz-{uuid.uuid4().hex}"
    body = compress(f'{{"name": "{name}"}}'.encode())  # type: ignore[operator]
    resp = requests.post(
        f"{server.url}{API}/experiments/create",
        data=body,
        headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
    got = requests.get(
        f"{server.url}{API}/experiments/get-by-name", params={"experiment_name": name}
    )
    assert got.status_code == 200, got.text


def test_a_json_bomb_is_refused_and_nothing_is_stored(server: RunningServer) -> None:
    # 100 MiB of spaces after a valid object: inflated, it is over the 64 MiB JSON limit.
    name = f"bomb-{uuid.uuid4().hex}"
    payload = f'{{"name": "{name}"}}'.encode() + b" " * (100 * MIB)
    check(
        server,
        Case(
            id="gzip json bomb",
            method="POST",
            path=f"{API}/experiments/create",
            data=gzip.compress(payload, compresslevel=9),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            status=413,
            message="--max-request-size",
            timeout=60,
        ),
    )
    got = requests.get(
        f"{server.url}{API}/experiments/get-by-name", params={"experiment_name": name}
    )
    assert got.status_code == 404


@pytest.mark.parametrize(
    ("encoding", "data", "message"),
    [
        ("br", b"\x0b\x02\x80{}\x03", "Unsupported Content-Encoding 'br'"),
        ("compress", b"{}", "Unsupported Content-Encoding"),
        ("gzip", b"not gzip at all", "cannot be inflated"),
        ("gzip", gzip.compress(b'{"name": "x"}')[:-12], None),  # truncated stream
    ],
    ids=["br", "compress", "corrupt", "truncated"],
)
def test_bad_encodings_are_400(
    server: RunningServer, encoding: str, data: bytes, message: str | None
) -> None:
    resp = check(
        server,
        Case(
            id=f"encoding {encoding}",
            method="POST",
            path=f"{API}/experiments/create",
            data=data,
            headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
            message=message,
        ),
    )
    assert resp.status_code == 400


def test_a_declared_length_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    """413 at once, on the declared length: the client does not get to send 1 GB first."""
    from tests.hostile.cases import raw_request

    with backend_server("sqlite", tmp_path, "--max-request-size", "1048576") as server:
        host = server.url.split("//", 1)[1]
        head = (
            f"POST {API}/experiments/create HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n"
        ).encode()
        answer = raw_request(server, head + b'{"name": "x"', timeout=10)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"--max-request-size" in answer
