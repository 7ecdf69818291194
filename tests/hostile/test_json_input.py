"""Malformed JSON input: answered 400 (or 413) in the parse step, never a 500.

Before: a lone surrogate escape (``"\\ud800"``) passed Python's JSON parser and failed in the
database driver (SQLite: 500), JSON nested 1,000 deep crashed the error message's formatting
(500), and a JSON request declaring a 1 GB ``Content-Length`` was held open waiting for it.

MLflow 3.17.2 itself answers the deep body with Flask's HTML 500 and silently drops lone
surrogates (protobuf); a 400 ``INVALID_PARAMETER_VALUE`` is the client error these are.

A metric value ``true``: MLflow 3.17.2's server (run against it: ``log-metric`` with
``{"value": true}`` on SQLite) answers 200 and stores 1.0 (protobuf reads a JSON boolean as a
double). aiotrack does exactly the same, which ``test_metric_value_true_is_stored_as_one``
pins down.

NUL (``\\u0000``): PostgreSQL cannot store it in text (SQLSTATE 22021); that is a 400, not a 500.
SQLite and MariaDB store it, as MLflow on SQLite does.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.hostile.cases import Case, check, raw_request
from tests.servers import RunningServer

API = "/api/2.0/mlflow/"
JSON_CT = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def run_id(server: RunningServer) -> str:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = requests.post(server.url + API + path, json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    exp = post("experiments/create", {"name": "json-input"})["experiment_id"]
    return str(post("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"])


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def cases(run: str) -> list[Case]:
    r = run.encode()
    return [
        Case("surrogate-in-param-value", "POST", API + "runs/log-parameter", headers=JSON_CT,
             data=b'{"run_id": "%s", "key": "s", "value": "\\ud800"}' % r,
             message="lone surrogate"),
        Case("surrogate-in-experiment-name", "POST", API + "experiments/create",
             headers=JSON_CT, data=b'{"name": "a\\udfff"}', message="lone surrogate"),
        Case("surrogate-in-tag-key", "POST", API + "runs/set-tag", headers=JSON_CT,
             data=b'{"run_id": "%s", "key": "\\ud800x", "value": "v"}' % r),
        Case("surrogate-with-nan-literal", "POST", API + "runs/log-batch", headers=JSON_CT,
             data=b'{"run_id": "%s", "metrics": [{"key": "\\ud800", "value": NaN, '
                  b'"timestamp": 1}]}' % r),
        Case("deep-1000-in-string-field", "POST", API + "runs/log-parameter", headers=JSON_CT,
             data=b'{"run_id": "%s", "key": "d", "value": %s}' % (r, _deep(1000))),
        Case("deep-1000-in-message-list", "POST", API + "runs/log-batch", headers=JSON_CT,
             data=b'{"run_id": "%s", "params": %s}' % (r, _deep(1000))),
        Case("deep-5000-body", "POST", API + "runs/log-batch", headers=JSON_CT,
             data=b'{"run_id": "%s", "params": %s}' % (r, _deep(5000))),
        Case("deep-5000-with-nan", "POST", API + "runs/log-batch", headers=JSON_CT,
             data=b'{"run_id": "%s", "x": NaN, "params": %s}' % (r, _deep(5000))),
    ]  # fmt: skip


CASE_IDS = [c.id for c in cases("r")]


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_malformed_json_is_a_400(server: RunningServer, run_id: str, index: int) -> None:
    check(server, cases(run_id)[index])
    run = requests.get(server.url + API + "runs/get", params={"run_id": run_id}, timeout=30)
    data = run.json()["run"]["data"]
    assert "params" not in data and "metrics" not in data  # stored nothing


def test_metric_value_true_is_stored_as_one(server: RunningServer, run_id: str) -> None:
    body = {"run_id": run_id, "key": "flag", "value": True, "timestamp": 5, "step": 0}
    resp = requests.post(server.url + API + "runs/log-metric", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    hist = requests.get(
        server.url + API + "metrics/get-history",
        params={"run_id": run_id, "metric_key": "flag"},
        timeout=30,
    ).json()
    assert [m["value"] for m in hist["metrics"]] == [1.0]


def test_nul_in_text_is_never_a_500(server: RunningServer, run_id: str) -> None:
    body = {"name": "nul\u0000name"}
    resp = requests.post(server.url + API + "experiments/create", json=body, timeout=30)
    if "postgresql" in server.backend_uri:
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")
    else:
        assert resp.status_code in (200, 400), resp.text


def test_declared_oversized_json_body_is_a_413_at_once(server: RunningServer) -> None:
    """1 GB declared, nothing sent: the answer comes from the header alone."""
    start = time.monotonic()
    answer = raw_request(
        server,
        b"POST /api/2.0/mlflow/runs/log-batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
        timeout=20,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"INVALID_PARAMETER_VALUE" in answer
    assert time.monotonic() - start < 10
