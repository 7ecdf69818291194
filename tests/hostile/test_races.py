"""Races between clients, on PostgreSQL and MariaDB with ``--workers 4`` (real processes, real
connections, real concurrency: threads released together by a barrier).

* Acknowledged writes lost: two different values for one param key sent at once were both
  answered 200 and one was silently dropped (each writer checked, found nothing, and inserted
  with ``ON CONFLICT DO NOTHING``). Now exactly one value wins and every other writer gets
  MLflow's 400 ``INVALID_PARAMETER_VALUE`` "Changing param values is not allowed...".
* Runs left active in a deleted experiment: a ``runs/create`` racing ``experiments/delete``
  could commit its run after the delete had updated the experiment's runs. Now every run is
  either deleted with its experiment or refused.

Each race is repeated until it has been won and lost many times: on the old code the first
test failed within a few rounds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.hostile.conftest import backend_server
from tests.servers import RunningServer

API = "/api/2.0/mlflow/"
ROUNDS = 40
WRITERS = 4
CHANGING = "Changing param values is not allowed"


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp(f"races-{request.param}")
    with backend_server(request.param, workdir, "--workers", "4") as running:
        yield running


def _post(server: RunningServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(server.url + API + path, json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _together(
    calls: list[Callable[[requests.Session], requests.Response]],
) -> list[requests.Response]:
    """Run ``calls`` at the same moment, each on its own connection (warmed up first)."""
    barrier = threading.Barrier(len(calls))
    sessions = [requests.Session() for _ in calls]

    def run(i: int) -> requests.Response:
        barrier.wait()
        return calls[i](sessions[i])

    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(run, range(len(calls))))
    finally:
        for s in sessions:
            s.close()


def _param_call(
    server: RunningServer, run_id: str, key: str, value: str, batch: bool
) -> Callable[[requests.Session], requests.Response]:
    if batch:
        path = "runs/log-batch"
        body: dict[str, Any] = {"run_id": run_id, "params": [{"key": key, "value": value}]}
    else:
        path = "runs/log-parameter"
        body = {"run_id": run_id, "key": key, "value": value}
    return lambda s: s.post(server.url + API + path, json=body, timeout=30)


def test_concurrent_different_param_values_one_wins(server: RunningServer) -> None:
    exp = _post(server, "experiments/create", {"name": "param-race"})["experiment_id"]
    for round_ in range(ROUNDS):
        run_id = _post(server, "runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
        values = [f"v{i}" for i in range(WRITERS)]
        calls = [
            _param_call(server, run_id, "k", v, batch=(i + round_) % 2 == 0)
            for i, v in enumerate(values)
        ]
        answers = _together(calls)
        ok = [v for v, r in zip(values, answers, strict=True) if r.status_code == 200]
        detail = f"round {round_}: {[(r.status_code, r.text[:200]) for r in answers]}"
        assert len(ok) == 1, detail
        for r in answers:
            if r.status_code != 200:
                assert r.status_code == 400, detail
                assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", detail
                assert CHANGING in r.json()["message"], detail
        run = requests.get(server.url + API + "runs/get", params={"run_id": run_id}, timeout=30)
        params = {p["key"]: p["value"] for p in run.json()["run"]["data"]["params"]}
        assert params == {"k": ok[0]}, detail


def test_concurrent_same_param_value_all_succeed(server: RunningServer) -> None:
    exp = _post(server, "experiments/create", {"name": "param-resend"})["experiment_id"]
    for round_ in range(ROUNDS // 4):
        run_id = _post(server, "runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
        calls = [_param_call(server, run_id, "k", "same", batch=i % 2 == 0) for i in range(WRITERS)]
        answers = _together(calls)
        assert [r.status_code for r in answers] == [200] * WRITERS, (
            f"round {round_}: {[r.text[:200] for r in answers]}"
        )


def test_create_run_racing_delete_experiment_leaves_no_active_run(server: RunningServer) -> None:
    for round_ in range(ROUNDS):
        exp = _post(server, "experiments/create", {"name": f"delete-race-{round_}"})[
            "experiment_id"
        ]

        def create(s: requests.Session, exp: str = exp) -> requests.Response:
            return s.post(server.url + API + "runs/create", json={"experiment_id": exp}, timeout=30)

        def delete(s: requests.Session, exp: str = exp) -> requests.Response:
            body = {"experiment_id": exp}
            return s.post(server.url + API + "experiments/delete", json=body, timeout=30)

        answers = _together([create, create, delete, create])
        detail = f"round {round_}: {[(r.status_code, r.text[:200]) for r in answers]}"
        assert answers[2].status_code == 200, detail
        for r in (answers[0], answers[1], answers[3]):
            assert r.status_code in (200, 400), detail
            if r.status_code == 400:
                assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", detail
        found = _post(server, "runs/search", {"experiment_ids": [exp], "run_view_type": "ALL"}).get(
            "runs", []
        )
        created = sum(r.status_code == 200 for r in answers) - 1
        assert len(found) == created, detail
        stages = [run["info"]["lifecycle_stage"] for run in found]
        assert all(stage == "deleted" for stage in stages), f"{detail}; stages {stages}"
