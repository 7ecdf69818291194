"""``--static-prefix``: every route moves under the prefix and the real client works through it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from tests.production.conftest import spawn_aiotrack
from tests.servers import RunningServer

PREFIX = "/mlflow"


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("prefix")
    server = spawn_aiotrack(
        f"sqlite:///{workdir / 'mlflow.db'}",
        workdir,
        "--static-prefix", PREFIX,
        "--expose-prometheus", str(workdir / "prom"),
        health_path=f"{PREFIX}/health",
    )  # fmt: skip
    yield server
    server.stop()


def test_client_logs_and_searches_through_the_prefix(prefixed: RunningServer) -> None:
    client = MlflowClient(tracking_uri=prefixed.url + PREFIX)
    experiment_id = client.create_experiment(f"prefixed-{time.time_ns()}")
    run = client.create_run(experiment_id, tags={"team": "a"})
    run_id = run.info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_metric(run_id, "loss", 0.5, step=1)
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 0.25, now, 2), Metric("acc", 0.9, now, 2)],
        params=[Param("layers", "3")],
        tags=[RunTag("stage", "dev")],
    )
    client.set_terminated(run_id)
    other = client.create_run(experiment_id).info.run_id
    client.log_metric(other, "loss", 0.9, step=1)

    found = client.search_runs(
        [experiment_id], filter_string="metrics.loss < 0.5 and params.lr = '0.1'"
    )
    assert [r.info.run_id for r in found] == [run_id]
    assert found[0].data.params == {"lr": "0.1", "layers": "3"}
    assert found[0].data.tags["stage"] == "dev"
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25)]
    assert client.get_experiment_by_name(client.get_experiment(experiment_id).name)
    assert {e.experiment_id for e in client.search_experiments()} >= {"0", experiment_id}


@pytest.mark.parametrize(
    "path", ["/health", "/version", "/api/2.0/mlflow/experiments/get?experiment_id=0", "/metrics",
             "/api/3.0/mlflow/server-info"],
)  # fmt: skip
def test_routes_live_only_under_the_prefix(prefixed: RunningServer, path: str) -> None:
    assert requests.get(prefixed.url + PREFIX + path, timeout=10).status_code == 200
    assert requests.get(prefixed.url + path, timeout=10).status_code == 404


def test_probes_under_the_prefix_are_exempt_from_the_host_check(prefixed: RunningServer) -> None:
    resp = requests.get(f"{prefixed.url}{PREFIX}/health", headers={"Host": "x.example"}, timeout=10)
    assert resp.status_code == 200
    api = requests.get(
        f"{prefixed.url}{PREFIX}/api/2.0/mlflow/experiments/get?experiment_id=0",
        headers={"Host": "x.example"},
        timeout=10,
    )
    assert api.status_code == 403


def test_cross_origin_block_and_cors_under_the_prefix(prefixed: RunningServer) -> None:
    url = f"{prefixed.url}{PREFIX}/api/2.0/mlflow/experiments/create"
    blocked = requests.post(
        url,
        json={"name": f"x-{time.time_ns()}"},
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert blocked.status_code == 403
    pre = requests.options(
        url,
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert pre.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_unknown_api_path_under_the_prefix_is_a_json_404(prefixed: RunningServer) -> None:
    resp = requests.get(f"{prefixed.url}{PREFIX}/api/2.0/mlflow/nope", timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_metrics_use_route_templates_with_the_prefix(prefixed: RunningServer) -> None:
    requests.get(
        f"{prefixed.url}{PREFIX}/api/2.0/mlflow/experiments/get?experiment_id=0", timeout=10
    )
    text = requests.get(f"{prefixed.url}{PREFIX}/metrics", timeout=10).text
    assert f'route="{PREFIX}/api/2.0/mlflow/experiments/get"' in text
