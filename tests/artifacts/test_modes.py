"""``--no-serve-artifacts`` and ``--artifacts-only`` behave as in ``mlflow server``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from tests.servers import RunningServer, start_aiotrack

pytestmark = pytest.mark.compat

PROXY_ROUTES = [
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/0/a.txt"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/a.txt"),
    ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/a.txt"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0"),
    ("GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/0/a.txt"),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/create/0"),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/complete/0"),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/abort/0"),
    ("GET", "/api/2.0/mlflow-artifacts/presigned/0/a.txt"),
]


@pytest.fixture(scope="module")
def no_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("no-serve")
    server = start_aiotrack(f"sqlite:///{workdir / 'mlflow.db'}", workdir, "--no-serve-artifacts")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def artifacts_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("artifacts-only")
    # A backend nobody could open: artifacts-only mode must not need one.
    server = start_aiotrack(
        "postgresql://nobody@127.0.0.1:1/none",
        workdir,
        "--artifacts-only",
        "--artifacts-destination",
        str(workdir / "dest"),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(("method", "path"), PROXY_ROUTES)
def test_no_serve_artifacts_disables_proxy(no_serve: RunningServer, method: str, path: str) -> None:
    resp = requests.request(method, no_serve.url + path, data=b"x", timeout=30)
    assert resp.status_code == 503
    assert "disabled due to the mlflow server running with `--no-serve-artifacts`" in resp.text


def test_no_serve_artifacts_client_writes_directly(no_serve: RunningServer, tmp_path: Path) -> None:
    info = requests.get(f"{no_serve.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert info["artifact_serving_enabled"] is False
    client = MlflowClient(tracking_uri=no_serve.url)
    experiment = client.create_experiment(f"direct-{uuid.uuid4().hex}")
    run = client.create_run(experiment)
    # mlflow server's default root without proxying: ./mlruns (absolute, on the server).
    assert run.info.artifact_uri.endswith(f"/mlruns/{experiment}/{run.info.run_id}/artifacts")
    source = tmp_path / "f.txt"
    source.write_text("direct")
    client.log_artifact(run.info.run_id, str(source), "d")
    assert [f.path for f in client.list_artifacts(run.info.run_id, "d")] == ["d/f.txt"]
    resp = requests.get(
        f"{no_serve.url}/get-artifact",
        params={"run_id": run.info.run_id, "path": "d/f.txt"},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.text == "direct"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/2.0/mlflow/experiments/create"),
        ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0"),
        ("POST", "/api/2.0/mlflow/runs/create"),
        ("GET", "/api/2.0/mlflow/artifacts/list?run_id=x"),
        ("POST", "/ajax-api/2.0/mlflow/runs/search"),
        ("GET", "/get-artifact?run_id=x&path=y"),
        ("GET", "/model-versions/get-artifact?name=x&version=1&path=y"),
        ("POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=x&path=y"),
    ],
)
def test_artifacts_only_disables_tracking(
    artifacts_only: RunningServer, method: str, path: str
) -> None:
    resp = requests.request(method, artifacts_only.url + path, json={}, timeout=30)
    assert resp.status_code == 503
    assert "disabled due to the mlflow server running in `--artifacts-only` mode" in resp.text


def test_artifacts_only_serves_the_proxy(artifacts_only: RunningServer, tmp_path: Path) -> None:
    """The real client's HTTP artifact repository against an artifacts-only server."""
    repo = get_artifact_repository(
        f"{artifacts_only.url}/api/2.0/mlflow-artifacts/artifacts/shared/{uuid.uuid4().hex}"
    )
    (tmp_path / "src" / "d").mkdir(parents=True)
    (tmp_path / "src" / "a.txt").write_text("A")
    (tmp_path / "src" / "d" / "b.txt").write_text("B")
    repo.log_artifacts(str(tmp_path / "src"))
    assert [(f.path, f.is_dir) for f in repo.list_artifacts()] == [("a.txt", False), ("d", True)]
    (tmp_path / "out").mkdir()
    out = Path(repo.download_artifacts("d", str(tmp_path / "out")))
    assert (out / "b.txt").read_text() == "B"
    repo.delete_artifacts("d")
    assert [f.path for f in repo.list_artifacts()] == ["a.txt"]
    assert requests.get(f"{artifacts_only.url}/health", timeout=30).status_code == 200
