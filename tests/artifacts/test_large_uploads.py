"""Large uploads to a local destination take the zero-copy path (``aiotrack.artifacts.splice``).

Bodies of 8 MiB and more with a ``Content-Length`` are moved from the socket into the file by
the kernel; these tests pin what must not change with that path: the bytes, the atomic
appearance of the file, the connection handling around it, and the fallbacks.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import requests
from mlflow import MlflowClient

from tests.artifacts.conftest import ArtifactServer

MIB = 1024 * 1024


def _payload(size: int) -> bytes:
    block = os.urandom(MIB)
    return b"".join(i.to_bytes(8, "little") + block[8:] for i in range(size // MIB))


def _url(server: ArtifactServer, path: str) -> str:
    return f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{path}"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_large_put_arrives_whole_and_the_server_keeps_serving(
    local_server: ArtifactServer,
) -> None:
    data = _payload(24 * MIB)
    name = f"big-{uuid.uuid4().hex}/model.bin"
    with requests.Session() as session:
        put = session.put(_url(local_server, name), data=data, timeout=60)
        assert put.status_code == 200, put.text
        assert put.json() == {}
        assert put.headers.get("Connection", "").lower() == "close"
        # The session reconnects by itself for the next request.
        got = session.get(_url(local_server, name), timeout=60)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert (Path(local_server.destination) / name).stat().st_size == len(data)


def test_a_chunked_large_put_takes_the_streamed_path(local_server: ArtifactServer) -> None:
    data = _payload(16 * MIB)

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for i in range(0, len(data), MIB):
            yield data[i : i + MIB]

    name = f"chunked-{uuid.uuid4().hex}.bin"
    put = requests.put(_url(local_server, name), data=chunks(), timeout=60)
    assert put.status_code == 200, put.text
    assert put.headers.get("Connection", "").lower() != "close"
    assert (Path(local_server.destination) / name).read_bytes() == data


def test_a_client_that_hangs_up_mid_upload_leaves_nothing_behind(
    local_server: ArtifactServer,
) -> None:
    directory = f"broken-{uuid.uuid4().hex}"
    declared, sent = 64 * MIB, 20 * MIB
    host, port = local_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"PUT /api/2.0/mlflow-artifacts/artifacts/{directory}/x.bin HTTP/1.1\r\n"
            f"Host: {host}\r\nContent-Length: {declared}\r\n\r\n".encode()
        )
        sock.sendall(_payload(sent))
        target = Path(local_server.destination) / directory
        # Hang up only once the server is writing (its temporary file holds bytes) and waiting
        # for the rest.
        deadline = time.monotonic() + 30
        while not (target.exists() and any(f.stat().st_size for f in _files(target))):
            assert time.monotonic() < deadline, "the upload never started writing"
            time.sleep(0.02)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and target.exists() and any(target.iterdir()):
        time.sleep(0.1)
    assert not target.exists() or _files(target) == []  # neither the file nor its temp file
    assert requests.get(f"{local_server.url}/health", timeout=10).status_code == 200


def test_the_mlflow_client_logs_and_downloads_a_large_artifact(
    local_server: ArtifactServer, tmp_path: Path
) -> None:
    data = _payload(12 * MIB)
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    client = MlflowClient(local_server.url)
    experiment = client.create_experiment(f"large-{uuid.uuid4().hex}")
    run = client.create_run(experiment)
    client.log_artifact(run.info.run_id, str(source), artifact_path="model")
    client.log_artifact(run.info.run_id, str(source), artifact_path="again")  # same client
    client.set_terminated(run.info.run_id)
    for folder in ("model", "again"):
        out = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path=f"{folder}/weights.bin",
            dst_path=str(tmp_path / folder),
            tracking_uri=local_server.url,
        )
        assert Path(out).read_bytes() == data
