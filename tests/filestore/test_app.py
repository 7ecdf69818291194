"""The app on a file-store backend, in-process: routes work, what is missing says so (501),
and the store's own rules (ids, messages, param immutability, moves to .trash) hold."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from aiotrack.app import create_app
from aiotrack.config import Config

API = "/api/2.0/mlflow/"


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    config = Config(
        backend_store_uri=str(tmp_path / "mlruns"), artifacts_destination=str(tmp_path / "art")
    )
    return await aiohttp_client(create_app(config))  # type: ignore[no-any-return]


async def call(client: TestClient[Any, Any], path: str, body: dict[str, Any] | None = None,
               *, status: int = 200, **query: Any) -> dict[str, Any]:  # fmt: skip
    if body is None:
        resp = await client.get(API + path, params=query)
    else:
        resp = await client.post(API + path, json=body)
    data: dict[str, Any] = await resp.json()
    assert resp.status == status, data
    return data


async def test_default_experiment_and_layout(client: TestClient[Any, Any], tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    assert (root / "0" / "meta.yaml").is_file() and (root / ".trash").is_dir()
    exps = (await call(client, "experiments/search", {"max_results": 10}))["experiments"]
    assert [(e["experiment_id"], e["name"]) for e in exps] == [("0", "Default")]
    assert exps[0]["artifact_location"] == "mlflow-artifacts:/0"
    assert exps[0]["workspace"] == "default"

    exp_id = (await call(client, "experiments/create", {"name": "e1"}))["experiment_id"]
    assert len(exp_id) == 18 and exp_id.isdigit()
    run = (await call(client, "runs/create", {"experiment_id": exp_id, "start_time": 5}))["run"]
    run_id = run["info"]["run_id"]
    run_dir = root / exp_id / run_id
    assert {p.name for p in run_dir.iterdir()} == {"meta.yaml", "metrics", "params", "tags",
                                                   "artifacts"}  # fmt: skip
    await call(client, "runs/log-metric",
               {"run_id": run_id, "key": "a/b", "value": 1.5, "timestamp": 7, "step": 2})  # fmt: skip
    assert (run_dir / "metrics" / "a" / "b").read_text() == "7 1.5 2\n"
    await call(client, "experiments/delete", {"experiment_id": exp_id})
    assert (root / ".trash" / exp_id / run_id / "meta.yaml").is_file()
    got = (await call(client, "runs/get", run_id=run_id))["run"]
    assert got["info"]["lifecycle_stage"] == "deleted"
    await call(client, "experiments/restore", {"experiment_id": exp_id})
    got = (await call(client, "runs/get", run_id=run_id))["run"]
    assert got["info"]["lifecycle_stage"] == "active"


async def test_file_store_rules(client: TestClient[Any, Any]) -> None:
    exp_id = (await call(client, "experiments/create", {"name": "e1"}))["experiment_id"]
    err = await call(client, "experiments/create", {"name": "e1"}, status=400)
    assert err["message"] == "Experiment 'e1' already exists."
    err = await call(client, "experiments/get", experiment_id="../x", status=400)
    assert err["message"] == "Invalid experiment ID: '../x'"
    err = await call(client, "experiments/get", experiment_id="42", status=404)
    assert err["message"] == "Could not find experiment with ID 42"
    err = await call(client, "experiments/delete", {"experiment_id": "0"}, status=400)
    assert "Cannot delete the default experiment '0'" in err["message"]

    run_id = (await call(client, "runs/create", {"experiment_id": exp_id}))["run"]["info"]["run_id"]
    await call(client, "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    err = await call(client, "runs/log-batch",
                     {"run_id": run_id, "params": [{"key": "q", "value": "x"},
                                                   {"key": "p", "value": "2"}]},
                     status=400)  # fmt: skip
    assert "Changing param values is not allowed" in err["message"]
    run = (await call(client, "runs/get", run_id=run_id))["run"]
    assert run["data"]["params"] == [{"key": "p", "value": "1"}]  # nothing of the batch landed
    err = await call(client, "metrics/get-history", run_id="f" * 32, metric_key="m", status=404)
    assert err["message"] == f"Run '{'f' * 32}' not found"

    # Concurrent logging through the write lock: every point lands, lines stay whole.
    await asyncio.gather(*(
        call(client, "runs/log-metric",
             {"run_id": run_id, "key": "m", "value": float(i), "timestamp": i, "step": i})
        for i in range(50)
    ))  # fmt: skip
    history = await call(client, "metrics/get-history", run_id=run_id, metric_key="m")
    assert sorted(m["step"] for m in history["metrics"]) == list(range(50))
    assert all(m["run_id"] == run_id for m in history["metrics"])

    await call(client, "runs/delete", {"run_id": run_id})
    err = await call(client, "runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"},
                     status=400)  # fmt: skip
    assert err["message"] == f"The run {run_id} must be in 'active' lifecycle_stage."


async def test_registry_answers_501(client: TestClient[Any, Any]) -> None:
    err = await call(client, "registered-models/create", {"name": "m"}, status=501)
    assert err["error_code"] == "NOT_IMPLEMENTED"
    assert "file-store backend" in err["message"]


async def test_logged_models(client: TestClient[Any, Any], tmp_path: Path) -> None:
    exp_id = (await call(client, "experiments/create", {"name": "lm"}))["experiment_id"]
    run_id = (await call(client, "runs/create", {"experiment_id": exp_id}))["run"]["info"]["run_id"]
    created = await call(client, "logged-models",
                         {"experiment_id": exp_id, "name": "net", "source_run_id": run_id,
                          "params": [{"key": "p", "value": "1"}],
                          "tags": [{"key": "t", "value": "x"}]})  # fmt: skip
    info = created["model"]["info"]
    model_id = info["model_id"]
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/models/{model_id}/artifacts"
    model_dir = tmp_path / "mlruns" / exp_id / "models" / model_id
    assert (model_dir / "params" / "p").read_text() == "1"
    await call(client, "runs/log-metric",
               {"run_id": run_id, "key": "acc", "value": 0.5, "timestamp": 3, "step": 1,
                "model_id": model_id})  # fmt: skip
    assert (model_dir / "metrics" / "acc").read_text() == f"3 0.5 1 {run_id}\n"
    resp = await client.patch(
        API + f"logged-models/{model_id}", json={"status": "LOGGED_MODEL_READY"}
    )
    assert resp.status == 200, await resp.text()
    got = (await call(client, f"logged-models/{model_id}"))["model"]
    assert got["info"]["status"] == "LOGGED_MODEL_READY"
    assert got["data"]["metrics"][0]["value"] == 0.5
    found = await call(client, "logged-models/search",
                       {"experiment_ids": [exp_id], "filter": "metrics.acc > 0.1"})  # fmt: skip
    assert [m["info"]["model_id"] for m in found["models"]] == [model_id]
    resp = await client.delete(API + f"logged-models/{model_id}")
    assert resp.status == 200
    await call(client, f"logged-models/{model_id}", status=404)


def test_file_store_runs_one_process(tmp_path: Path) -> None:
    from aiotrack.server import effective_workers

    assert effective_workers(Config(backend_store_uri=str(tmp_path), workers=4)) == 1
    assert effective_workers(Config(backend_store_uri="postgresql://h/db", workers=4)) == 4


async def test_prepare_database_creates_the_root(tmp_path: Path) -> None:
    from aiotrack.server import prepare_database

    root = tmp_path / "new" / "mlruns"
    await prepare_database(Config(backend_store_uri=root.as_uri()))
    assert (root / "0" / "meta.yaml").is_file()
    assert "name: Default" in (root / "0" / "meta.yaml").read_text()
