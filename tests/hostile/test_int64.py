"""int64 overflow: every integer a client sends is range-checked before it reaches a database.

Before, page tokens with offsets >= 2**63 (and 2**63-1, whose ``offset + max_results``
overflows), ``max_results=2**63``, log-batch steps and timestamps of 2**63 and 30-digit
experiment ids reached SQLite as Python ints it cannot bind (500) or PostgreSQL as a driver
error. Each is now a 400 ``INVALID_PARAMETER_VALUE`` and stores nothing.
(MLflow 3.17.2 answers 500 ``INTERNAL_ERROR`` for the page tokens and the ids: the client
retries 5xx for minutes, so aiotrack answers the client error.)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.hostile.cases import Case, check
from tests.servers import RunningServer

API = "/api/2.0/mlflow/"
UI = "/api/aiotrack/"
BIG = 2**63
HUGE_ID = "1" * 30


def _token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


Ctx = dict[str, str]
CASES: list[Callable[[Ctx], Case]] = [
    lambda c: Case("exp-search-token-2^63", "POST", API + "experiments/search",
                   json={"max_results": 1, "page_token": _token(BIG)}),
    lambda c: Case("exp-search-token-2^63-1", "POST", API + "experiments/search",
                   json={"max_results": 1, "page_token": _token(BIG - 1)}),
    lambda c: Case("runs-search-token-2^63", "POST", API + "runs/search",
                   json={"experiment_ids": [c["exp"]], "page_token": _token(BIG)}),
    lambda c: Case("runs-search-token-2^63-1", "POST", API + "runs/search",
                   json={"experiment_ids": [c["exp"]], "page_token": _token(BIG - 1)}),
    lambda c: Case("history-token-2^63", "GET", API + "metrics/get-history",
                   params={"run_id": c["run"], "metric_key": "m", "page_token": _token(BIG),
                           "max_results": 10}),
    lambda c: Case("history-max-results-2^63", "GET", API + "metrics/get-history",
                   params={"run_id": c["run"], "metric_key": "m", "max_results": str(BIG)}),
    lambda c: Case("batch-step-2^63", "POST", API + "runs/log-batch",
                   json={"run_id": c["run"], "metrics": [
                       {"key": "over", "value": 1, "timestamp": 1, "step": BIG}]}),
    lambda c: Case("batch-step-minus-2^63-1", "POST", API + "runs/log-batch",
                   json={"run_id": c["run"], "metrics": [
                       {"key": "over", "value": 1, "timestamp": 1, "step": -BIG - 1}]}),
    lambda c: Case("batch-timestamp-2^63", "POST", API + "runs/log-batch",
                   json={"run_id": c["run"], "metrics": [
                       {"key": "over", "value": 1, "timestamp": BIG, "step": 0}]}),
    lambda c: Case("batch-timestamp-2^63-string", "POST", API + "runs/log-batch",
                   json={"run_id": c["run"], "metrics": [
                       {"key": "over", "value": 1, "timestamp": str(BIG), "step": 0}]}),
    lambda c: Case("log-metric-step-2^63", "POST", API + "runs/log-metric",
                   json={"run_id": c["run"], "key": "over", "value": 1, "timestamp": 1,
                         "step": BIG}),
    lambda c: Case("exp-get-30-digit-id", "GET", API + "experiments/get",
                   params={"experiment_id": HUGE_ID}),
    lambda c: Case("runs-create-30-digit-id", "POST", API + "runs/create",
                   json={"experiment_id": HUGE_ID}),
    lambda c: Case("runs-search-30-digit-id", "POST", API + "runs/search",
                   json={"experiment_ids": [HUGE_ID]}),
    lambda c: Case("sampled-end-step-2^63", "GET", UI + "metrics/sampled",
                   params={"run_ids": c["run"], "key": "m", "end_step": str(BIG)}),
    lambda c: Case("sampled-over-int64-extremes", "GET", UI + "metrics/sampled",
                   params={"run_ids": c["extreme_run"], "key": "m"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def ctx(server: RunningServer) -> Ctx:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = requests.post(server.url + API + path, json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    exp = post("experiments/create", {"name": "int64"})["experiment_id"]
    run = post("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    post("runs/log-metric", {"run_id": run, "key": "m", "value": 1, "timestamp": 1, "step": 0})
    extreme = post("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    metrics = [
        {"key": "m", "value": 1, "timestamp": 1, "step": -BIG},
        {"key": "m", "value": 2, "timestamp": 1, "step": BIG - 1},
    ]
    post("runs/log-batch", {"run_id": extreme, "metrics": metrics})  # the int64 extremes: legal
    return {"exp": exp, "run": run, "extreme_run": extreme}


@pytest.mark.parametrize(
    "make", CASES, ids=lambda make: make({"exp": "", "run": ""} | {"extreme_run": ""}).id
)
def test_out_of_int64_range_is_a_400(
    server: RunningServer, ctx: Ctx, make: Callable[[Ctx], Case]
) -> None:
    check(server, make(ctx))
    # Stored nothing: the metric the writes above tried to log does not exist.
    resp = requests.get(
        server.url + API + "metrics/get-history",
        params={"run_id": ctx["run"], "metric_key": "over"},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.json().get("metrics", []) == []


def test_the_int64_extremes_themselves_are_stored(server: RunningServer, ctx: Ctx) -> None:
    resp = requests.get(
        server.url + API + "metrics/get-history",
        params={"run_id": ctx["extreme_run"], "metric_key": "m"},
        timeout=30,
    )
    assert resp.status_code == 200
    assert sorted(m["step"] for m in resp.json()["metrics"]) == [-BIG, BIG - 1]
