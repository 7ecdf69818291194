"""Fixtures of the registry / logged-model suite: a live aiotrack per backend, the real client.

``registry_server`` is one aiotrack process per backend (SQLite file, fresh PostgreSQL or MariaDB
database)
for the session, started with ``--default-artifact-root file://<tmp>/artifacts`` so that the
client writes and reads model files directly; ``proxy_server`` is one with the default
``mlflow-artifacts:/`` root, so model files go through aiotrack's artifact proxy.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fail fast on a 5xx instead of retrying for minutes; no telemetry. Before mlflow is imported.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = os.environ.get("AIOTRACK_TEST_HTTP_TIMEOUT", "60")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
for _var in (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_RUN_ID",
):
    os.environ.pop(_var, None)

import mlflow  # noqa: E402  (after the env vars above)
from mlflow.tracking import MlflowClient  # noqa: E402

from tests.databases import backend_database  # noqa: E402
from tests.servers import RunningServer, start_aiotrack  # noqa: E402

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


def _server(backend: str, workdir: Path, *args: str) -> Iterator[RunningServer]:
    with (
        backend_database(backend, workdir, "registry") as uri,
        start_aiotrack(uri, workdir, *args) as server,
    ):
        yield server


@pytest.fixture(scope="session", params=BACKENDS)
def registry_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """aiotrack on one backend, artifacts in a local ``file://`` root."""
    workdir = tmp_path_factory.mktemp(f"registry-{request.param}")
    root = f"file://{workdir / 'artifacts'}"
    yield from _server(request.param, workdir, "--default-artifact-root", root)


@pytest.fixture(scope="session", params=BACKENDS)
def proxy_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """aiotrack on one backend with the default ``mlflow-artifacts:/`` root (proxied)."""
    workdir = tmp_path_factory.mktemp(f"registry-proxy-{request.param}")
    dest = workdir / "mlartifacts"
    yield from _server(request.param, workdir, "--artifacts-destination", str(dest))


@pytest.fixture
def client(registry_server: RunningServer) -> MlflowClient:
    return MlflowClient(tracking_uri=registry_server.url)


def _point_fluent(url: str) -> Iterator[str]:
    mlflow.set_tracking_uri(url)
    try:
        yield url
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.tracking.fluent._active_experiment_id = None
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture
def fluent(registry_server: RunningServer) -> Iterator[str]:
    """The fluent ``mlflow.*`` API pointed at ``registry_server``."""
    yield from _point_fluent(registry_server.url)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:50]
    return f"{base}-{uuid.uuid4().hex[:8]}"
