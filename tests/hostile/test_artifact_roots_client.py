"""The roots confinement does not get in the way of the real mlflow client.

On default flags (artifacts through the proxy) and with ``--no-serve-artifacts
--default-artifact-root <dir>`` (the client writes the files itself, the server reads them for
the UI), logging, downloading, registering and loading a model all keep working.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient

from tests.hostile.conftest import backend_server
from tests.servers import RunningServer


class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context, model_input):  # type: ignore[no-untyped-def]
        return model_input * 2


@pytest.fixture(params=["default-flags", "default-artifact-root"])
def client_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    args: tuple[str, ...] = ()
    if request.param == "default-artifact-root":
        args = ("--no-serve-artifacts", "--default-artifact-root", str(tmp_path / "artifacts"))
    with backend_server("sqlite", tmp_path / "server", *args) as server:
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(server.url)
        try:
            yield server
        finally:
            mlflow.set_tracking_uri(previous)


def test_log_download_register_load(client_server: RunningServer, tmp_path: Path) -> None:
    server = client_server
    local = tmp_path / "notes.txt"
    local.write_text("hello")
    mlflow.set_experiment("roots-e2e")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(local), artifact_path="docs")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Doubler(), registered_model_name="roots-e2e",
            pip_requirements=["mlflow"],
        )  # fmt: skip
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="docs/notes.txt", dst_path=str(tmp_path / "dl")
    )
    assert Path(downloaded).read_text() == "hello"
    loaded = mlflow.pyfunc.load_model("models:/roots-e2e/1")
    assert loaded.predict(pd.DataFrame({"x": [21.0]}))["x"].tolist() == [42.0]
    assert MlflowClient().get_model_version("roots-e2e", "1").source == f"models:/{info.model_id}"
    # The server itself reads the same files for the UI.
    got = requests.get(
        f"{server.url}/get-artifact",
        params={"run_id": run.info.run_id, "path": "docs/notes.txt"},
        timeout=30,
    )
    assert got.status_code == 200 and got.content == b"hello", got.text
    got = requests.get(
        f"{server.url}/model-versions/get-artifact",
        params={"name": "roots-e2e", "version": "1", "path": "MLmodel"},
        timeout=30,
    )
    assert got.status_code == 200 and b"python_function" in got.content, got.text
    listed = requests.get(
        f"{server.url}/api/2.0/mlflow/artifacts/list",
        params={"run_id": run.info.run_id, "path": "docs"},
        timeout=30,
    )
    assert listed.json()["files"] == [{"path": "docs/notes.txt", "is_dir": False, "file_size": 5}]
