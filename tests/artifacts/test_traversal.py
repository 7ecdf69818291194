"""Path tricks against every artifact route: nothing outside the root is read, written, listed or
deleted, and every answer is a 400 ``INVALID_PARAMETER_VALUE`` (or a 404), never a 5xx.

Requests go over raw sockets so that the payload reaches the server exactly as written (an HTTP
library would normalise ``..``, re-encode ``%`` or refuse control characters).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.servers import RunningServer, start_aiotrack

pytestmark = pytest.mark.compat

SECRET = f"CANARY-{uuid.uuid4().hex}"
DEPTH = 12  # more ".." than the root is deep, from any anchor


@dataclass
class Target:
    server: RunningServer
    base: Path  # holds the canaries and, inside it, the artifact root
    root: Path
    run_id: str
    canary: Path

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Everything under ``base`` except the artifact root: path -> (size, sha256)."""
        state: dict[str, tuple[int, str]] = {}
        for dirpath, dirnames, filenames in os.walk(self.base, followlinks=False):
            current = Path(dirpath)
            if current == self.root or self.root in current.parents:
                dirnames[:] = []
                continue
            for name in [*filenames, *dirnames]:
                path = current / name
                if path == self.root:
                    continue
                if path.is_symlink() or path.is_dir():
                    state[str(path)] = (-1, "")
                else:
                    data = path.read_bytes()
                    state[str(path)] = (len(data), hashlib.sha256(data).hexdigest())
        return state


def _make_symlinks(directory: Path, base: Path, canary: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "escape").symlink_to(base, target_is_directory=True)
    (directory / "escape_file").symlink_to(canary)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("traversal") / "base"
    root = base / "root"
    root.mkdir(parents=True)
    canary = base / "canary.txt"
    canary.write_text(SECRET)
    (base / "secret_dir").mkdir()
    (base / "secret_dir" / "inner.txt").write_text(SECRET)
    workdir = tmp_path_factory.mktemp("traversal-server")
    server = start_aiotrack(
        f"sqlite:///{workdir / 'mlflow.db'}", workdir, "--artifacts-destination", str(root)
    )
    try:
        resp = requests.post(
            f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}, timeout=30
        )
        run_id = resp.json()["run"]["info"]["run_id"]
        ok = requests.put(
            f"{server.url}/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/ok.txt",
            data=b"ok",
            timeout=30,
        )
        assert ok.status_code == 200
        _make_symlinks(root, base, canary)
        _make_symlinks(root / "0" / run_id / "artifacts", base, canary)
        # A registered model version whose files are the run's artifacts.
        now = int(time.time() * 1000)
        with sqlite3.connect(workdir / "mlflow.db") as db:
            db.execute(
                "INSERT INTO registered_models (name, creation_time, last_updated_time, workspace)"
                " VALUES ('m', ?, ?, 'default')",
                (now, now),
            )
            db.execute(
                "INSERT INTO model_versions (name, version, creation_time, last_updated_time, "
                "current_stage, source, run_id, status, storage_location, workspace) VALUES "
                "('m', 1, ?, ?, 'None', ?, ?, 'READY', ?, 'default')",
                (
                    now,
                    now,
                    f"mlflow-artifacts:/0/{run_id}/artifacts",
                    run_id,
                    f"mlflow-artifacts:/0/{run_id}/artifacts",
                ),
            )
        yield Target(server, base, root, run_id, canary)
    finally:
        server.stop()


def _payloads(canary: Path) -> list[str]:
    abs_canary = str(canary)
    rel = abs_canary.lstrip("/")
    up = "../" * DEPTH
    return [
        up + rel,
        "..%2f" * DEPTH + rel,
        "%2e%2e/" * DEPTH + rel,
        "%2E%2E%2F" * DEPTH + rel,
        "%252e%252e%252f" * DEPTH + rel,
        "%25252e%25252e/" * DEPTH + rel,
        ".%2e/" * DEPTH + rel,
        "%2e./" * DEPTH + rel,
        "..%252f" * DEPTH + rel,
        "%%32%65%%32%65/" * DEPTH + rel,
        "a/b/../../" + up + rel,
        "./" + up + rel,
        "..;/" * DEPTH + rel,
        "a/..;/..;/" + "..;/" * DEPTH + rel,
        "..%3b/" * DEPTH + rel,
        "....//" * DEPTH + rel,
        "..%20/" * DEPTH + rel,
        "..%09/" * DEPTH + rel,
        "..%00/" * DEPTH + rel,
        "ok.txt%00/" + up + rel,
        "..%5c" * DEPTH + rel.replace("/", "%5c"),
        "..\\" * DEPTH + rel.replace("/", "\\"),
        "%5c" + rel.replace("/", "%5c"),
        abs_canary,
        "%2f" + rel,
        "%252f" + rel,
        "file://" + abs_canary,
        "file:" + abs_canary,
        "file:%2f%2f%2f" + rel,
        "file://localhost" + abs_canary,
        "FILE:///" + rel,
        "C:%5cWindows%5cwin.ini",
        "C:/Windows/win.ini",
        "%5c%5cserver%5cshare%5c" + rel,
        "%23/" + up + rel,
        "ok.txt%23/" + up + rel,
        "%3f/" + up + rel,
        "a%3f/../" + up + rel,
        "s3://bucket/key",
        "mlflow-artifacts:/" + up + rel,
        "http://127.0.0.1:1/" + rel,
        "escape/canary.txt",
        "escape/secret_dir/inner.txt",
        "escape/secret_dir",
        "escape/new-file.txt",
        "escape",
        "escape_file",
        "escape%2fcanary.txt",
        "escape/../escape/canary.txt",
        # encoded 11 times: more rounds than the server decodes, refused as such
        ("%" + "25" * 11 + "2e") * 2 + "/" + rel,
    ]


def _http(server: RunningServer, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """One raw HTTP/1.1 exchange; the request target is sent byte for byte."""
    host, port = server.url.removeprefix("http://").split(":")
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if body.startswith(b"{"):
        head += "Content-Type: application/json\r\n"
    raw = head.encode("latin-1") + b"\r\n" + body
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    status_line, _, rest = response.partition(b"\r\n")
    status = int(status_line.split()[1])
    return status, rest.partition(b"\r\n\r\n")[2]


def _routes(run_id: str, payload: str) -> list[tuple[str, str, bytes]]:
    """(method, request target, body) for every artifact route, ``payload`` as the path."""
    proxy = "/api/2.0/mlflow-artifacts"
    mpu_body = json.dumps({"path": "x.bin", "num_parts": 1}).encode()
    done_body = json.dumps(
        {"path": "x.bin", "upload_id": "u", "parts": [{"part_number": 1, "etag": "e"}]}
    ).encode()
    return [
        ("GET", f"{proxy}/artifacts/{payload}", b""),
        ("PUT", f"{proxy}/artifacts/{payload}", b"PWNED"),
        ("DELETE", f"{proxy}/artifacts/{payload}", b""),
        ("GET", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{payload}", b""),
        ("PUT", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{payload}", b"PWNED"),
        ("GET", f"{proxy}/artifacts?path={payload}", b""),
        ("POST", f"{proxy}/mpu/create/{payload}", mpu_body),
        ("POST", f"{proxy}/mpu/complete/{payload}", done_body),
        (
            "POST",
            f"{proxy}/mpu/abort/{payload}",
            json.dumps({"path": "x", "upload_id": "u"}).encode(),
        ),
        ("GET", f"{proxy}/presigned/{payload}", b""),
        ("GET", f"/api/2.0/mlflow/artifacts/list?run_id={run_id}&path={payload}", b""),
        ("GET", f"/ajax-api/2.0/mlflow/artifacts/list?run_id={run_id}&path={payload}", b""),
        ("GET", f"/get-artifact?run_id={run_id}&path={payload}", b""),
        ("GET", f"/model-versions/get-artifact?name=m&version=1&path={payload}", b""),
        (
            "POST",
            f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run_id}&path={payload}",
            b"PWNED",
        ),
    ]


def test_enough_payloads(tmp_path: Path) -> None:
    assert len(set(_payloads(tmp_path / "c"))) >= 40


def test_valid_paths_still_work(target: Target) -> None:
    """The same routes answer 200 for a legitimate path (the table below is not vacuous)."""
    for method, url, body in _routes(target.run_id, "ok.txt"):
        if "/mpu/" in url or "/presigned/" in url:
            continue  # a local destination answers these 501, as MLflow does
        if "mlflow-artifacts/artifacts" in url:
            url = url.replace("artifacts/ok.txt", f"artifacts/0/{target.run_id}/artifacts/ok.txt")
            url = url.replace("path=ok.txt", f"path=0/{target.run_id}/artifacts")
        if method == "DELETE":
            continue
        status, _ = _http(target.server, method, url, body)
        assert status == 200, (method, url)


@pytest.mark.parametrize("index", range(50))
def test_payload_against_every_route(target: Target, index: int) -> None:
    payloads = _payloads(target.canary)
    assert index < len(payloads), "the payload table is shorter than the parametrisation"
    payload = payloads[index]
    before = target.snapshot()
    failures = []
    for method, url, body in _routes(target.run_id, payload):
        status, data = _http(target.server, method, url, body)
        if SECRET.encode() in data:
            failures.append(f"{method} {url}: leaked the canary")
        if status == 400:
            if data.startswith(b"{"):
                code = json.loads(data).get("error_code")
                if code != "INVALID_PARAMETER_VALUE":
                    failures.append(f"{method} {url}: 400 {code}")
        elif status != 404:
            failures.append(f"{method} {url}: HTTP {status} {data[:200]!r}")
    after = target.snapshot()
    assert target.canary.read_text() == SECRET
    assert (target.base / "secret_dir" / "inner.txt").read_text() == SECRET
    assert after == before, "something outside the artifact root changed"
    assert not failures, "\n".join(failures)
