"""Fixtures for the artifact suite: aiotrack servers proxying to a local disk and to S3.

S3 is moto's standalone server (``moto[server]``), started here as a subprocess on 127.0.0.1
over HTTP; aiotrack and the mlflow client reach it through ``MLFLOW_S3_ENDPOINT_URL`` and the
standard AWS environment variables, exactly as they would reach MinIO or AWS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.servers import RunningServer, free_port, start_aiotrack

# As in tests/compat: fail fast on a 5xx, never phone home. Set before mlflow is imported.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = os.environ.get("AIOTRACK_TEST_HTTP_TIMEOUT", "60")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
for _name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
    os.environ.pop(_name, None)

BUCKET = "aiotrack-test"

_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "path",
}


@dataclass
class Moto:
    """A running moto S3 server: ``endpoint`` is ``http://127.0.0.1:<port>``."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    """moto's S3 server on a free port, with bucket `BUCKET`; sets the S3 environment."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"moto server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            requests.get(endpoint, timeout=2)
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto server did not start within 60 s")
            time.sleep(0.2)
    saved = {k: os.environ.get(k) for k in [*_S3_ENV, "MLFLOW_S3_ENDPOINT_URL"]}
    os.environ.update(_S3_ENV)
    os.environ["MLFLOW_S3_ENDPOINT_URL"] = endpoint
    moto = Moto(endpoint, proc)
    moto.client().create_bucket(Bucket=BUCKET)
    try:
        yield moto
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class ArtifactServer:
    """An aiotrack server plus where its proxied artifacts land."""

    server: RunningServer
    kind: str  # "local" or "s3"
    destination: str  # a directory path or s3://bucket/prefix
    workdir: Path

    @property
    def url(self) -> str:
        return self.server.url


def _start(workdir: Path, destination: str, *extra: str) -> RunningServer:
    return start_aiotrack(
        f"sqlite:///{workdir / 'mlflow.db'}",
        workdir,
        "--artifacts-destination",
        destination,
        *extra,
    )


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtifactServer]:
    workdir = tmp_path_factory.mktemp("art-local")
    destination = str(workdir / "dest")
    server = _start(workdir, destination)
    try:
        yield ArtifactServer(server, "local", destination, workdir)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(moto_s3: Moto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtifactServer]:
    workdir = tmp_path_factory.mktemp("art-s3")
    destination = f"s3://{BUCKET}/proxied-{uuid.uuid4().hex[:8]}"
    server = _start(workdir, destination)
    try:
        yield ArtifactServer(server, "s3", destination, workdir)
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def artifact_server(request: pytest.FixtureRequest) -> ArtifactServer:
    """Each test runs against the local-disk and the S3 destination."""
    fixture = "local_server" if request.param == "local" else "s3_server"
    server: ArtifactServer = request.getfixturevalue(fixture)
    return server
