"""Malformed requests: one table, checked against the reference ``mlflow server`` and aiotrack.

Every row of ``ROWS`` is one raw HTTP request (sent with ``requests``, never the mlflow client,
so nothing is retried or "fixed up" on the way) plus the answer MLflow gives: HTTP status and
``error_code`` (or, for non-JSON answers, the status and whether the body is JSON), and for a
handful of rows the exact ``message`` where the text is part of the contract (Appendix A of
``mlflow-rest-api.md``). Rows that need state (a deleted run, a deleted experiment, a foreign
page token, ...) get it from a setup step made of valid REST calls.

The module is parametrized over targets:

* ``reference``: ``mlflow server`` 3.17.2 on a temporary SQLite file. Its results prove the
  table *is* MLflow's behaviour; rerun ``pytest -k reference`` whenever a row changes.
* ``aiotrack-sqlite`` / ``aiotrack-postgres`` / ``aiotrack-mariadb``: aiotrack on a temporary
  SQLite file and on a fresh PostgreSQL or MariaDB database. On top of the row's expectation, aiotrack must

  - never answer 5xx unless MLflow answers 5xx for that row, and
  - write nothing when it rejects a request: the experiments (all view types), the runs of the
    row's experiments (params, tags, latest metrics, info) and the metric histories of the runs'
    metrics are snapshotted before and compared after every rejected request. (The same check
    runs against the reference, which shows that MLflow itself writes nothing on these rows.)

Where aiotrack deliberately differs from the reference (the row's ``aiotrack=`` expectation,
always with a ``why``):

* **Client errors that MLflow answers with 5xx** -- a JSON body that is not an object (a list, a
  number, or a double-encoded string that does not decode: Flask's HTML 500), an object where a
  double is expected (HTML 500), a duplicate ``order_by`` key (JSON 500 ``INTERNAL_ERROR``), a
  page token that decodes to a JSON list (JSON 500 ``INTERNAL_ERROR``), and an experiment id too
  large for a 64-bit integer (JSON 500 from SQLite). The MLflow client retries 5xx answers with
  backoff for minutes (reference §3, "Retry trap"), so aiotrack answers them as the client error
  they are: 400 ``INVALID_PARAMETER_VALUE`` (or 404 ``RESOURCE_DOES_NOT_EXIST`` for the
  out-of-range experiment id, which cannot exist). The one 5xx aiotrack keeps is renaming a
  deleted experiment (500 ``INVALID_STATE``), because MLflow's code and status are the contract
  there and the client's behaviour on it is well known.
* **Unknown paths and wrong methods** -- MLflow answers Flask's HTML 404 / 405. aiotrack may
  answer JSON instead (``ENDPOINT_NOT_FOUND`` 404 is the most compatible choice: the client's
  endpoint fallback only triggers on that JSON code). These rows assert the status only for
  aiotrack (plus ``ENDPOINT_NOT_FOUND`` if the 404 body is JSON), since the client maps any
  non-JSON 404/405 body to the same exception.
* **A foreign page token** (a token that experiments/search issued, replayed to runs/search) is
  accepted by MLflow because all its tokens are ``base64({"offset": n})``. aiotrack's tokens are
  opaque, so it may either accept it (200) or reject it as 400 ``INVALID_PARAMETER_VALUE``;
  it must not fail with 5xx.

* **MLflow 3.18.0 vs 3.17.2** -- the contract is MLflow 3.18.0, but the runnable reference is
  3.17.2 (3.18.0's ``mlflow-skinny`` is not on PyPI). Where the 3.18.0 source (read from its
  wheel: ``mlflow/utils/validation.py``) answers differently, the row's ``expect`` is what
  3.17.2 answers and the ``aiotrack`` expectation is 3.18.0's answer: a whitespace-only
  experiment name is rejected (``not name.strip()``), and a key with a trailing newline is
  rejected (names are checked with ``re.fullmatch`` instead of ``re.match``).

Rows where MLflow *accepts* something one might expect it to reject are kept with their 200
expectation (a drop-in replacement must accept them too): a JSON ``true`` as a metric value
(protobuf turns it into 1.0), a missing ``value`` in log-parameter / set-tag (stored as ``""``),
and metric history of an unknown run (``{}``, not 404). All of these hold in 3.18.0 too.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import (
    RunningServer,
    drop_postgres_database,
    new_postgres_database,
    start_aiotrack,
    start_mlflow_reference,
)

pytestmark = pytest.mark.compat

IPV = "INVALID_PARAMETER_VALUE"
RDNE = "RESOURCE_DOES_NOT_EXIST"
RAE = "RESOURCE_ALREADY_EXISTS"
API = "/api/2.0/mlflow/"
TIMEOUT_S = 30


def MISSING(name: str) -> str:
    return (
        f"Missing value for required parameter '{name}'. "
        "See the API docs for more information about request parameters."
    )


# --------------------------------------------------------------------------------------------
# Targets


TARGETS = [
    pytest.param("reference", marks=pytest.mark.reference, id="reference"),
    pytest.param("aiotrack-sqlite", id="aiotrack-sqlite"),
    pytest.param("aiotrack-postgres", marks=pytest.mark.postgres, id="aiotrack-postgres"),
    pytest.param("aiotrack-mariadb", marks=pytest.mark.mariadb, id="aiotrack-mariadb"),
]


@dataclass
class Target:
    name: str
    server: RunningServer

    @property
    def is_reference(self) -> bool:
        return self.name == "reference"


@pytest.fixture(scope="module", params=TARGETS)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One server per target for the whole module (reference start-up costs 5-10 s)."""
    name: str = request.param
    workdir: Path = tmp_path_factory.mktemp(f"errors-{name}")
    pg_uri = my_uri = None
    if name.endswith("postgres"):
        pg_uri = backend_uri = new_postgres_database("aiotrack_errors")
    elif name.endswith("mariadb"):
        my_uri = backend_uri = new_mariadb_database("errors")
    else:
        backend_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    try:
        start = start_mlflow_reference if name == "reference" else start_aiotrack
        server = start(backend_uri, workdir)
        try:
            yield Target(name, server)
        finally:
            server.stop()
    finally:
        if pg_uri is not None:
            drop_postgres_database(pg_uri)
        if my_uri is not None:
            drop_mariadb_database(my_uri)


# --------------------------------------------------------------------------------------------
# Per-row state, built with valid REST calls


@dataclass
class Ctx:
    """What a row's request may refer to. ``run_id`` has param p=a, tag t=a, metric m (2 steps)."""

    exp_id: str
    exp_name: str
    run_id: str
    deleted_run_id: str = ""
    deleted_exp_id: str = ""
    deleted_exp_name: str = ""
    token: str = ""  # a next_page_token issued by experiments/search


class Api:
    """Tiny helper for the valid calls made by setups and checks (errors here are test bugs)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.s = requests.Session()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.s.post(self.base + API + path, json=body, timeout=TIMEOUT_S)
        assert resp.status_code == 200, (
            f"setup POST {path} {body}: {resp.status_code} {resp.text[:500]}"
        )
        return resp.json()  # type: ignore[no-any-return]

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        resp = self.s.get(self.base + API + path, params=params, timeout=TIMEOUT_S)
        assert resp.status_code == 200, (
            f"setup GET {path} {params}: {resp.status_code} {resp.text[:500]}"
        )
        return resp.json()  # type: ignore[no-any-return]

    def new_experiment(self, prefix: str) -> tuple[str, str]:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        body = {"name": name, "tags": [{"key": "kind", "value": prefix}]}
        return self.post("experiments/create", body)["experiment_id"], name

    def new_run(self, exp_id: str) -> str:
        run = self.post("runs/create", {"experiment_id": exp_id, "start_time": 1000})
        run_id: str = run["run"]["info"]["run_id"]
        self.post("runs/log-batch", {
            "run_id": run_id,
            "params": [{"key": "p", "value": "a"}],
            "tags": [{"key": "t", "value": "a"}],
            "metrics": [
                {"key": "m", "value": 1.0, "timestamp": 1000, "step": 0},
                {"key": "m", "value": 2.0, "timestamp": 1001, "step": 1},
            ],
        })  # fmt: skip
        return run_id


def build_ctx(api: Api, needs: tuple[str, ...]) -> Ctx:
    exp_id, exp_name = api.new_experiment("errs")
    ctx = Ctx(exp_id=exp_id, exp_name=exp_name, run_id=api.new_run(exp_id))
    if "deleted_run" in needs:
        ctx.deleted_run_id = api.new_run(exp_id)
        api.post("runs/delete", {"run_id": ctx.deleted_run_id})
    if "deleted_experiment" in needs:
        ctx.deleted_exp_id, ctx.deleted_exp_name = api.new_experiment("errs-gone")
        api.new_run(ctx.deleted_exp_id)
        api.post("experiments/delete", {"experiment_id": ctx.deleted_exp_id})
    if "token" in needs:
        api.new_experiment("errs-extra")  # guarantees >= 2 experiments, hence a token
        ctx.token = api.post("experiments/search", {"max_results": 1})["next_page_token"]
    return ctx


def _sorted_by_key(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: json.dumps(d, sort_keys=True))


def snapshot(api: Api, ctx: Ctx) -> dict[str, Any]:
    """Everything a rejected request could have written, in a comparable form."""
    exps = api.post("experiments/search", {"max_results": 50000, "view_type": "ALL"})
    experiments = sorted(exps.get("experiments", []), key=lambda e: e["experiment_id"])
    for exp in experiments:
        exp["tags"] = _sorted_by_key(exp.get("tags", []))
    exp_ids = [ctx.exp_id] + ([ctx.deleted_exp_id] if ctx.deleted_exp_id else [])
    found = api.post(
        "runs/search", {"experiment_ids": exp_ids, "run_view_type": "ALL", "max_results": 50000}
    )
    runs = sorted(found.get("runs", []), key=lambda r: r["info"]["run_id"])
    histories: dict[str, Any] = {}
    for run in runs:
        data = run.setdefault("data", {})
        for part in ("metrics", "params", "tags"):
            data[part] = _sorted_by_key(data.get(part, []))
        for metric in data["metrics"]:
            # A write to an existing key may leave the latest value alone (lower step): compare
            # the whole history. A write to a new key would show up in data.metrics above.
            hist = api.get(
                "metrics/get-history",
                {"run_id": run["info"]["run_id"], "metric_key": metric["key"]},
            )
            histories[f"{run['info']['run_id']}/{metric['key']}"] = _sorted_by_key(
                hist.get("metrics", [])
            )
    return {"experiments": experiments, "runs": runs, "histories": histories}


# --------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class Expect:
    """An acceptable answer. ``json_body``: True = JSON object, False = not JSON, None = any."""

    status: int
    error_code: str | None = None
    json_body: bool | None = True
    message: str | Callable[[Ctx], str] | None = None  # exact text
    message_prefix: str | Callable[[Ctx], str] | None = None


Body = Any  # a JSON value, or a callable ``(Ctx) -> JSON value``


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str  # relative to /api/2.0/mlflow/ unless it starts with "/"
    expect: Expect
    json: Body = None  # sent as the JSON body (with Content-Type: application/json) if not None
    data: bytes | Callable[[Ctx], bytes] | None = None  # raw body, sent as is
    params: dict[str, str] | Callable[[Ctx], dict[str, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    setup: tuple[str, ...] = ()
    aiotrack: tuple[Expect, ...] = ()  # deliberate differences (any of these), see the docstring
    why: str = ""
    verify: Callable[[Api, Ctx, Any], None] | None = None  # extra checks for accepted rows


def E(status: int, code: str | None = None, **kw: Any) -> Expect:
    return Expect(status, code, **kw)


JSON_CT = {"Content-Type": "application/json"}
NOT_AN_OBJECT = "a body that is not a JSON object is a client error (MLflow: Flask HTML 500)"
V318 = "MLflow 3.18.0 (the contract) changed this; 3.17.2 (the runnable reference) differs"
NON_JSON_ROUTING = "MLflow answers Flask HTML; aiotrack may answer JSON: status only"


def _metric(key: str, value: Any = 1.0, ts: Any = 1000, step: int = 0) -> dict[str, Any]:
    return {"key": key, "value": value, "timestamp": ts, "step": step}


def _check_metric_value(key: str, expected: float) -> Callable[[Api, Ctx, Any], None]:
    def check(api: Api, ctx: Ctx, body: Any) -> None:
        hist = api.get("metrics/get-history", {"run_id": ctx.run_id, "metric_key": key})
        assert [m["value"] for m in hist.get("metrics", [])] == [expected]

    return check


def _check_param(key: str, expected: str) -> Callable[[Api, Ctx, Any], None]:
    def check(api: Api, ctx: Ctx, body: Any) -> None:
        run = api.get("runs/get", {"run_id": ctx.run_id})["run"]
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        assert params.get(key) == expected

    return check


def _check_tag(key: str, expected: str) -> Callable[[Api, Ctx, Any], None]:
    def check(api: Api, ctx: Ctx, body: Any) -> None:
        run = api.get("runs/get", {"run_id": ctx.run_id})["run"]
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        assert tags.get(key) == expected

    return check


def _check_created(name: str) -> Callable[[Api, Ctx, Any], None]:
    def check(api: Api, ctx: Ctx, body: Any) -> None:
        exp = api.get("experiments/get", {"experiment_id": body["experiment_id"]})["experiment"]
        assert exp["name"] == name

    return check


def _check_empty(api: Api, ctx: Ctx, body: Any) -> None:
    assert body == {}


def _check_one_experiment(api: Api, ctx: Ctx, body: Any) -> None:
    assert len(body["experiments"]) == 1 and "next_page_token" in body


_UNIQUE = uuid.uuid4().hex[:8]  # names created by accepted rows; the DB is fresh per module
WS_NAME = " \t "  # whitespace only: MLflow does not strip experiment names


INT64 = "an integer beyond int64 is a client error, refused before the database (MLflow: 500/200)"


def _offset_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _search(ctx: Ctx, **kw: Any) -> dict[str, Any]:
    return {"experiment_ids": [ctx.exp_id], **kw}


ROWS: list[Row] = [
    # --- missing required fields -------------------------------------------------------------
    Row("log-metric-no-run_id", "POST", "runs/log-metric", E(400, IPV, message=MISSING("run_id")),
        json={"key": "m", "value": 1, "timestamp": 1}),
    Row("log-metric-no-key", "POST", "runs/log-metric", E(400, IPV, message=MISSING("key")),
        json=lambda c: {"run_id": c.run_id, "value": 1, "timestamp": 1}),
    Row("log-metric-no-value", "POST", "runs/log-metric", E(400, IPV, message=MISSING("value")),
        json=lambda c: {"run_id": c.run_id, "key": "m", "timestamp": 1}),
    Row("log-metric-null-value", "POST", "runs/log-metric", E(400, IPV, message=MISSING("value")),
        json=lambda c: {"run_id": c.run_id, "key": "m", "value": None, "timestamp": 1}),
    Row("log-metric-no-timestamp", "POST", "runs/log-metric",
        E(400, IPV, message=MISSING("timestamp")),
        json=lambda c: {"run_id": c.run_id, "key": "m", "value": 1}),
    Row("log-param-no-key", "POST", "runs/log-parameter", E(400, IPV, message=MISSING("key")),
        json=lambda c: {"run_id": c.run_id, "value": "v"}),
    Row("log-param-no-value-accepted", "POST", "runs/log-parameter", E(200),
        json=lambda c: {"run_id": c.run_id, "key": "novalue"}, verify=_check_param("novalue", "")),
    Row("set-tag-no-value-accepted", "POST", "runs/set-tag", E(200),
        json=lambda c: {"run_id": c.run_id, "key": "novalue"}, verify=_check_tag("novalue", "")),
    Row("delete-tag-no-key", "POST", "runs/delete-tag", E(400, IPV, message=MISSING("key")),
        json=lambda c: {"run_id": c.run_id}),
    Row("exp-create-no-name", "POST", "experiments/create", E(400, IPV, message=MISSING("name")),
        json={}),
    Row("exp-create-empty-name", "POST", "experiments/create", E(400, IPV, message=MISSING("name")),
        json={"name": ""}),
    Row("runs-get-no-run_id", "GET", "runs/get", E(400, IPV, message=MISSING("run_id"))),
    Row("runs-get-unrelated-query", "GET", "runs/get", E(400, IPV, message=MISSING("run_id")),
        params={"foo": "bar"}),
    Row("history-no-metric_key", "GET", "metrics/get-history",
        E(400, IPV, message=MISSING("metric_key")), params=lambda c: {"run_id": c.run_id}),
    Row("history-no-run_id", "GET", "metrics/get-history", E(400, IPV, message=MISSING("run_id")),
        params={"metric_key": "m"}),
    Row("exp-get-no-id", "GET", "experiments/get", E(400, IPV, message=MISSING("experiment_id"))),
    Row("runs-update-no-run_id", "POST", "runs/update", E(400, IPV, message=MISSING("run_id")),
        json={"status": "FINISHED"}),
    Row("runs-delete-no-run_id", "POST", "runs/delete", E(400, IPV, message=MISSING("run_id")),
        json={}),
    Row("set-exp-tag-no-key", "POST", "experiments/set-experiment-tag", E(400, IPV),
        json=lambda c: {"experiment_id": c.exp_id, "value": "v"}),
    Row("exp-update-no-new_name", "POST", "experiments/update",
        E(400, IPV, message=MISSING("new_name")), json=lambda c: {"experiment_id": c.exp_id}),
    Row("log-batch-no-run_id", "POST", "runs/log-batch", E(400, IPV, message=MISSING("run_id")),
        json={"params": [{"key": "a", "value": "1"}]}),
    Row("log-batch-param-no-key", "POST", "runs/log-batch",
        E(400, IPV, message=MISSING("params[0].key")),
        json=lambda c: {"run_id": c.run_id, "params": [{"value": "1"}],
                        "metrics": [_metric("m", 9.0, 5000, 7)]}),
    Row("log-batch-tag-no-key", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "tags": [{"value": "1"}],
                        "params": [{"key": "fresh", "value": "1"}]}),
    Row("log-batch-metric-no-timestamp", "POST", "runs/log-batch",
        E(400, IPV, message=MISSING("metrics[0].timestamp")),
        json=lambda c: {"run_id": c.run_id, "metrics": [{"key": "m", "value": 3.0, "step": 9}],
                        "tags": [{"key": "fresh", "value": "1"}]}),
    # --- wrong types ---------------------------------------------------------------------------
    Row("exp-create-number-for-string", "POST", "experiments/create",
        E(400, IPV, message="Invalid value 123 for parameter 'name' supplied:  Hint: Value was of "
          "type 'int'. See the API docs for more information about request parameters."),
        json={"name": 123}),
    Row("exp-create-list-for-string", "POST", "experiments/create", E(400, IPV),
        json={"name": ["a"]}),
    Row("exp-create-tags-string-for-list", "POST", "experiments/create", E(400, IPV),
        json={"name": f"tags-{_UNIQUE}", "tags": "x"}),
    Row("set-tag-number-for-string", "POST", "runs/set-tag", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "t", "value": 5}),
    Row("log-metric-string-for-int64", "POST", "runs/log-metric", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "m", "value": 1, "timestamp": "foo"}),
    Row("log-metric-string-for-step", "POST", "runs/log-metric", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "m", "value": 1, "timestamp": 1, "step": "x"}),
    Row("log-metric-value-abc", "POST", "runs/log-metric", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "m", "value": "abc", "timestamp": 1}),
    Row("log-metric-bool-for-double-accepted", "POST", "runs/log-metric", E(200),
        json=lambda c: {"run_id": c.run_id, "key": "mbool", "value": True, "timestamp": 1},
        verify=_check_metric_value("mbool", 1.0)),
    Row("log-metric-object-for-double", "POST", "runs/log-metric", E(500, json_body=False),
        json=lambda c: {"run_id": c.run_id, "key": "m", "value": {}, "timestamp": 1, "step": 3},
        aiotrack=(E(400, IPV),), why="an object for a double is a client error (MLflow: HTML 500)"),
    Row("runs-update-string-for-int64", "POST", "runs/update", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "end_time": "abc"}),
    Row("runs-search-number-for-filter", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter=5)),
    Row("runs-search-string-for-list", "POST", "runs/search", E(400, IPV),
        json=lambda c: {"experiment_ids": c.exp_id}),
    Row("runs-search-string-for-max_results", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, max_results="abc")),
    Row("log-batch-object-for-list", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "metrics": _metric("m", 5.0, 1, 4)}),
    Row("both-spellings-of-a-field", "POST", "runs/log-parameter", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "runId": c.run_id, "key": "k2", "value": "v"}),
    # --- body encoding and Content-Type ----------------------------------------------------------
    Row("invalid-json", "POST", "experiments/create", E(400, IPV), data=b"{not json",
        headers=JSON_CT),
    Row("json-null-is-empty", "POST", "experiments/create", E(400, IPV, message=MISSING("name")),
        data=b"null", headers=JSON_CT),
    Row("empty-body-is-empty", "POST", "experiments/create", E(400, IPV, message=MISSING("name")),
        data=b"", headers=JSON_CT),
    Row("json-list-body", "POST", "experiments/create", E(500, json_body=False),
        data=b'[{"name": "x"}]', headers=JSON_CT, aiotrack=(E(400, IPV),), why=NOT_AN_OBJECT),
    Row("json-number-body", "POST", "experiments/create", E(500, json_body=False), data=b"5",
        headers=JSON_CT, aiotrack=(E(400, IPV),), why=NOT_AN_OBJECT),
    Row("json-string-not-json-inside", "POST", "experiments/create", E(500, json_body=False),
        data=b'"abc"', headers=JSON_CT, aiotrack=(E(400, IPV),), why=NOT_AN_OBJECT),
    Row("double-encoded-valid", "POST", "experiments/create", E(200),
        data=json.dumps(json.dumps({"name": f"double-{_UNIQUE}"})).encode(), headers=JSON_CT,
        verify=_check_created(f"double-{_UNIQUE}")),
    Row("double-encoded-valid-search", "POST", "experiments/search", E(200),
        data=json.dumps(json.dumps({"max_results": 1})).encode(), headers=JSON_CT,
        setup=("token",), verify=_check_one_experiment),
    Row("double-encoded-missing-name", "POST", "experiments/create",
        E(400, IPV, message=MISSING("name")), data=json.dumps(json.dumps({})).encode(),
        headers=JSON_CT),
    Row("no-content-type", "POST", "experiments/create",
        E(400, IPV, message="Bad Request. Content-Type header is missing."),
        data=json.dumps({"name": f"noct-{_UNIQUE}"}).encode()),
    Row("text-plain-content-type", "POST", "experiments/create",
        E(400, IPV, message="Bad Request. Content-Type must be one of ['application/json']."),
        data=json.dumps({"name": f"plain-{_UNIQUE}"}).encode(),
        headers={"Content-Type": "text/plain"}),
    Row("content-type-with-charset-accepted", "POST", "experiments/create", E(200),
        data=json.dumps({"name": f"charset-{_UNIQUE}"}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        verify=_check_created(f"charset-{_UNIQUE}")),
    # --- filters -------------------------------------------------------------------------------
    Row("filter-or", "POST", "runs/search",
        E(400, IPV, message="Invalid clause(s) in filter string: 'OR'"),
        json=lambda c: _search(c, filter="metrics.m > 1 OR params.p = 'a'")),
    Row("filter-parentheses", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="(metrics.m > 1)")),
    Row("filter-unknown-attribute", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="attributes.foo = 'x'")),
    Row("filter-unknown-entity", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="foo.bar = 'x'")),
    Row("filter-like-on-metric", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="metrics.m LIKE 'x'")),
    Row("filter-gt-on-param", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="params.p > 'x'")),
    Row("filter-string-for-numeric-attribute", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="attributes.start_time > 'x'")),
    Row("filter-unquoted-string", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="params.p = abc")),
    Row("filter-bad-number", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, filter="metrics.m > 1.2.3")),
    Row("exp-filter-unknown-attribute", "POST", "experiments/search", E(400, IPV),
        json={"max_results": 5, "filter": "foo = 'x'"}),
    Row("exp-filter-or", "POST", "experiments/search", E(400, IPV),
        json={"max_results": 5, "filter": "name = 'x' OR name = 'y'"}),
    # --- order_by ------------------------------------------------------------------------------
    Row("order-by-unknown-entity", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, order_by=["foo.bar"])),
    Row("order-by-unknown-attribute", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, order_by=["attributes.nope"])),
    Row("order-by-bad-direction", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, order_by=["metrics.m SIDEWAYS"])),
    Row("order-by-duplicate", "POST", "runs/search", E(500, "INTERNAL_ERROR"),
        json=lambda c: _search(c, order_by=["metrics.m", "metrics.m DESC"]),
        aiotrack=(E(400, IPV),), why="a duplicate order_by key is a client error (MLflow: 500)"),
    Row("exp-order-by-unknown", "POST", "experiments/search", E(400, IPV),
        json={"max_results": 5, "order_by": ["foo"]}),
    # --- page tokens ---------------------------------------------------------------------------
    Row("token-not-base64", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, page_token="!!!")),
    Row("token-base64-not-json", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, page_token="Zm9v")),
    Row("token-json-without-offset", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, page_token="eyJmb28iOiAxfQ==")),  # {"foo": 1}
    Row("token-json-list", "POST", "runs/search", E(500, "INTERNAL_ERROR"),
        json=lambda c: _search(c, page_token="WzFd"),  # [1]
        aiotrack=(E(400, IPV),), why="a malformed token is a client error (MLflow: 500)"),
    Row("token-offset-2^63", "POST", "runs/search", E(500, "INTERNAL_ERROR"),
        json=lambda c: _search(c, page_token=_offset_token(2**63)),
        aiotrack=(E(400, IPV),), why=INT64),
    Row("exp-token-offset-2^63-1", "POST", "experiments/search", E(200),
        json={"max_results": 5, "page_token": _offset_token(2**63 - 1)},
        aiotrack=(E(400, IPV),), why=INT64),
    # --- int64 ranges and malformed JSON text ----------------------------------------------------
    Row("history-max-results-2^63", "GET", "metrics/get-history", E(200),
        params=lambda c: {"run_id": c.run_id, "metric_key": "m", "max_results": str(2**63)},
        aiotrack=(E(400, IPV),), why=INT64),
    Row("batch-step-2^63", "POST", "runs/log-batch", E(200),
        json=lambda c: {"run_id": c.run_id, "metrics": [_metric("big", 1.0, 1000, 2**63)]},
        aiotrack=(E(400, IPV),), why=INT64),
    Row("batch-timestamp-2^63", "POST", "runs/log-batch", E(200),
        json=lambda c: {"run_id": c.run_id, "metrics": [_metric("big", 1.0, 2**63)]},
        aiotrack=(E(400, IPV),), why=INT64),
    Row("runs-create-30-digit-experiment", "POST", "runs/create", E(500, "INTERNAL_ERROR"),
        json={"experiment_id": "1" * 30}, aiotrack=(E(400, IPV),), why=INT64),
    Row("lone-surrogate-experiment-name", "POST", "experiments/create", E(400, IPV),
        data=b'{"name": "a\\ud800"}', headers=JSON_CT),
    Row("lone-surrogate-param-value", "POST", "runs/log-parameter", E(200),
        data=lambda c: b'{"run_id": "%s", "key": "sur", "value": "\\ud800"}' % c.run_id.encode(),
        headers=JSON_CT, aiotrack=(E(400, IPV),),
        why="MLflow silently drops the lone surrogate (protobuf); no database can store it"),
    Row("json-nested-1000-deep", "POST", "runs/log-parameter", E(500, json_body=False),
        data=lambda c: b'{"run_id": "%s", "key": "d", "value": %s}'
        % (c.run_id.encode(), b"[" * 1000 + b"]" * 1000),
        headers=JSON_CT, aiotrack=(E(400, IPV),), why="nesting is a client error (MLflow: HTML 500)"),
    Row("token-foreign", "POST", "runs/search", E(200), setup=("token",),
        json=lambda c: _search(c, page_token=c.token),
        aiotrack=(E(200), E(400, IPV)),
        why="MLflow tokens are all base64 offsets; aiotrack's are opaque, it may reject them"),
    Row("exp-token-not-base64", "POST", "experiments/search", E(400, IPV),
        json={"max_results": 5, "page_token": "!!!"}),
    Row("history-token-bad", "GET", "metrics/get-history", E(400, IPV),
        params=lambda c: {"run_id": c.run_id, "metric_key": "m", "max_results": "5",
                          "page_token": "!!!"}),
    # --- max_results ---------------------------------------------------------------------------
    Row("runs-max-results-0", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, max_results=0)),
    Row("runs-max-results-negative", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, max_results=-1)),
    Row("runs-max-results-over-cap", "POST", "runs/search", E(400, IPV),
        json=lambda c: _search(c, max_results=50001)),
    Row("exp-max-results-0", "POST", "experiments/search", E(400, IPV), json={"max_results": 0}),
    Row("exp-max-results-negative", "POST", "experiments/search", E(400, IPV),
        json={"max_results": -5}),
    Row("exp-max-results-over-cap", "POST", "experiments/search", E(400, IPV),
        json={"max_results": 50001}),
    Row("exp-search-without-max-results", "POST", "experiments/search",
        E(400, IPV, message="Invalid value 0 for parameter 'max_results' supplied. "
          "It must be a positive integer"), json={}),
    Row("exp-search-get-without-max-results", "GET", "experiments/search", E(400, IPV),
        params={"view_type": "ACTIVE_ONLY"}),
    Row("history-max-results-0", "GET", "metrics/get-history", E(400, IPV),
        params=lambda c: {"run_id": c.run_id, "metric_key": "m", "max_results": "0"}),
    # --- log-batch limits and conflicts ----------------------------------------------------------
    Row("log-batch-1001-metrics", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "metrics": [_metric("m", 7.0, 2000, 5)]
                        + [_metric(f"m{i}") for i in range(1000)]}),
    Row("log-batch-101-params", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}),
    Row("log-batch-101-tags", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]}),
    Row("log-batch-over-1000-total", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "metrics": [_metric("m", 7.0, 2000, 5)]
                        + [_metric(f"m{i}") for i in range(899)],
                        "params": [{"key": f"p{i}", "value": "v"} for i in range(100)],
                        "tags": [{"key": "t1", "value": "v"}]}),
    Row("log-batch-duplicate-param-keys", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "params": [{"key": "q", "value": "1"}, {"key": "q", "value": "1"}],
                        "metrics": [_metric("m", 7.0, 2000, 5)]}),
    Row("log-batch-duplicate-param-keys-differing", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "params": [{"key": "q", "value": "1"}, {"key": "q", "value": "2"}]}),
    Row("log-batch-param-value-change", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "params": [{"key": "fresh", "value": "1"}, {"key": "p", "value": "b"}],
                        "metrics": [_metric("m", 7.0, 2000, 5), _metric("fresh")],
                        "tags": [{"key": "t", "value": "changed"}]}),
    Row("log-batch-bad-key", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id,
                        "params": [{"key": "fresh", "value": "1"}, {"key": "a/../b", "value": "1"}],
                        "metrics": [_metric("m", 7.0, 2000, 5)]}),
    Row("log-batch-negative-timestamp", "POST", "runs/log-batch", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "metrics": [_metric("m", 7.0, 2000, 5),
                                                         _metric("m", 8.0, -5, 6)],
                        "params": [{"key": "fresh", "value": "1"}]}),
    # --- params and key names --------------------------------------------------------------------
    Row("log-param-value-change", "POST", "runs/log-parameter",
        E(400, IPV, message=lambda c: (
            "Changing param values is not allowed. Param with key='p' was already logged with "
            f"value='a' for run ID='{c.run_id}'. Attempted logging new value 'zz'.")),
        json=lambda c: {"run_id": c.run_id, "key": "p", "value": "zz"}),
    Row("key-dotdot", "POST", "runs/log-parameter",
        E(400, IPV, message="Invalid value \"a/../b\" for parameter 'key' supplied: Names may be "
          "treated as files in certain cases, and must not resolve to other names when treated "
          "as such. This name would resolve to 'b'"),
        json=lambda c: {"run_id": c.run_id, "key": "a/../b", "value": "v"}),
    Row("key-absolute", "POST", "runs/log-parameter", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "/x", "value": "v"}),
    Row("key-double-slash", "POST", "runs/log-parameter", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "a//b", "value": "v"}),
    Row("key-bad-characters", "POST", "runs/log-parameter", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "a$b", "value": "v"}),
    Row("key-251-chars", "POST", "runs/log-parameter", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "k" * 251, "value": "v"}),
    Row("metric-key-251-chars", "POST", "runs/log-metric", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "k" * 251, "value": 1, "timestamp": 1}),
    Row("metric-key-bad-characters", "POST", "runs/log-metric", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "a*b", "value": 1, "timestamp": 1}),
    Row("key-trailing-newline", "POST", "runs/log-parameter", E(200),
        json=lambda c: {"run_id": c.run_id, "key": "nl\n", "value": "v"},
        verify=_check_param("nl\n", "v"), aiotrack=(E(400, IPV),), why=V318),
    Row("tag-key-dotdot", "POST", "runs/set-tag", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "a/../b", "value": "v"}),
    Row("exp-tag-key-dotdot-on-create", "POST", "experiments/create", E(400, IPV),
        json={"name": f"badtag-{_UNIQUE}", "tags": [{"key": "a/../b", "value": "x"}]}),
    Row("log-metric-negative-timestamp", "POST", "runs/log-metric", E(400, IPV),
        json=lambda c: {"run_id": c.run_id, "key": "m", "value": 1, "timestamp": -1, "step": 4}),
    # --- ids -----------------------------------------------------------------------------------
    Row("exp-get-non-integer-id", "GET", "experiments/get",
        E(400, IPV, message="Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
        params={"experiment_id": "abc"}),
    Row("exp-get-decimal-id", "GET", "experiments/get", E(400, IPV),
        params={"experiment_id": "1.5"}),
    Row("exp-get-unknown-id", "GET", "experiments/get",
        E(404, RDNE, message="No Experiment with id=987654 exists"),
        params={"experiment_id": "987654"}),
    Row("exp-get-id-over-int64", "GET", "experiments/get", E(500, "INTERNAL_ERROR"),
        params={"experiment_id": "99999999999999999999"},
        aiotrack=(E(404, RDNE), E(400, IPV)),
        why="an id that cannot exist is not a server fault (MLflow: SQLite overflow, 500)"),
    Row("exp-get-by-name-unknown", "GET", "experiments/get-by-name",
        E(404, RDNE, message="Could not find experiment with name 'no-such-experiment'"),
        params={"experiment_name": "no-such-experiment"}),
    Row("runs-create-non-integer-experiment", "POST", "runs/create", E(400, IPV),
        json={"experiment_id": "abc"}),
    Row("runs-create-unknown-experiment", "POST", "runs/create", E(404, RDNE),
        json={"experiment_id": "987654"}),
    Row("runs-search-non-integer-experiment", "POST", "runs/search", E(400, IPV),
        json={"experiment_ids": ["abc"]}),
    Row("exp-delete-non-integer-id", "POST", "experiments/delete", E(400, IPV),
        json={"experiment_id": "abc"}),
    Row("exp-delete-unknown-id", "POST", "experiments/delete", E(404, RDNE),
        json={"experiment_id": "987654"}),
    Row("runs-get-unknown", "GET", "runs/get",
        E(404, RDNE, message=f"Run with id={'f' * 32} not found"), params={"run_id": "f" * 32}),
    Row("log-metric-unknown-run", "POST", "runs/log-metric", E(404, RDNE),
        json={"run_id": "0" * 32, "key": "m", "value": 1, "timestamp": 1}),
    Row("log-param-unknown-run", "POST", "runs/log-parameter", E(404, RDNE),
        json={"run_id": "0" * 32, "key": "k", "value": "v"}),
    Row("log-batch-unknown-run", "POST", "runs/log-batch", E(404, RDNE),
        json={"run_id": "0" * 32, "params": [{"key": "k", "value": "v"}]}),
    Row("runs-update-unknown-run", "POST", "runs/update", E(404, RDNE),
        json={"run_id": "0" * 32, "status": "FINISHED"}),
    Row("runs-delete-unknown-run", "POST", "runs/delete", E(404, RDNE), json={"run_id": "0" * 32}),
    Row("history-unknown-run-is-empty", "GET", "metrics/get-history", E(200),
        params={"run_id": "0" * 32, "metric_key": "m"}, verify=_check_empty),
    # --- deleted runs and experiments --------------------------------------------------------------
    Row("log-metric-deleted-run", "POST", "runs/log-metric",
        E(400, IPV, message=lambda c: f"The run {c.deleted_run_id} must be in the 'active' state. "
          "Current state is deleted."), setup=("deleted_run",),
        json=lambda c: {"run_id": c.deleted_run_id, "key": "m", "value": 5, "timestamp": 9,
                        "step": 0}),
    Row("log-param-deleted-run", "POST", "runs/log-parameter", E(400, IPV),
        setup=("deleted_run",), json=lambda c: {"run_id": c.deleted_run_id, "key": "k", "value": "v"}),
    Row("set-tag-deleted-run", "POST", "runs/set-tag", E(400, IPV), setup=("deleted_run",),
        json=lambda c: {"run_id": c.deleted_run_id, "key": "t", "value": "new"}),
    Row("delete-tag-deleted-run", "POST", "runs/delete-tag", E(400, IPV), setup=("deleted_run",),
        json=lambda c: {"run_id": c.deleted_run_id, "key": "t"}),
    Row("update-deleted-run", "POST", "runs/update", E(400, IPV), setup=("deleted_run",),
        json=lambda c: {"run_id": c.deleted_run_id, "status": "FINISHED", "end_time": 5,
                        "run_name": "renamed"}),
    Row("log-batch-deleted-run", "POST", "runs/log-batch", E(400, IPV), setup=("deleted_run",),
        json=lambda c: {"run_id": c.deleted_run_id, "params": [{"key": "k", "value": "v"}],
                        "metrics": [_metric("m", 3.0, 5000, 9)], "tags": [{"key": "x", "value": "y"}]}),
    Row("create-run-in-deleted-experiment", "POST", "runs/create",
        E(400, IPV, message=lambda c: f"The experiment {c.deleted_exp_id} must be in the 'active' "
          "state. Current state is deleted."), setup=("deleted_experiment",),
        json=lambda c: {"experiment_id": c.deleted_exp_id}),
    Row("set-exp-tag-deleted-experiment", "POST", "experiments/set-experiment-tag", E(400, IPV),
        setup=("deleted_experiment",),
        json=lambda c: {"experiment_id": c.deleted_exp_id, "key": "k", "value": "v"}),
    Row("delete-tag-missing", "POST", "runs/delete-tag",
        E(404, RDNE, message=lambda c: f"No tag with name: nope in run with id {c.run_id}"),
        json=lambda c: {"run_id": c.run_id, "key": "nope"}),
    Row("delete-exp-tag-missing", "POST", "experiments/delete-experiment-tag", E(404, RDNE),
        json=lambda c: {"experiment_id": c.exp_id, "key": "nope"}),
    # --- experiments -----------------------------------------------------------------------------
    Row("exp-create-duplicate", "POST", "experiments/create",
        E(400, RAE, message_prefix=lambda c: f"Experiment(name={c.exp_name}) already exists."),
        json=lambda c: {"name": c.exp_name}),
    Row("exp-create-duplicate-of-deleted", "POST", "experiments/create", E(400, RAE),
        setup=("deleted_experiment",), json=lambda c: {"name": c.deleted_exp_name}),
    Row("exp-create-501-chars", "POST", "experiments/create", E(400, IPV),
        json={"name": "n" * 501}),
    Row("exp-create-whitespace-name", "POST", "experiments/create", E(200),
        json={"name": WS_NAME}, verify=_check_created(WS_NAME),
        aiotrack=(E(400, IPV, message=f"Invalid experiment name: '{WS_NAME}'"),), why=V318),
    Row("exp-rename-deleted", "POST", "experiments/update",
        E(500, "INVALID_STATE", message="Cannot rename a non-active experiment."),
        setup=("deleted_experiment",),
        json=lambda c: {"experiment_id": c.deleted_exp_id, "new_name": f"renamed-{c.exp_name}"}),
    Row("exp-rename-onto-existing", "POST", "experiments/update", E(400, "BAD_REQUEST"),
        setup=("deleted_experiment",),
        json=lambda c: {"experiment_id": c.exp_id, "new_name": c.deleted_exp_name}),
    Row("exp-rename-unknown", "POST", "experiments/update", E(404, RDNE),
        json=lambda c: {"experiment_id": "987654", "new_name": f"renamed-{c.exp_name}"}),
    # --- routing -------------------------------------------------------------------------------
    Row("unknown-path-get", "GET", "nope", E(404, json_body=False),
        aiotrack=(E(404, json_body=None),), why=NON_JSON_ROUTING),
    Row("unknown-path-post", "POST", "runs/nope", E(404, json_body=False), json={},
        aiotrack=(E(404, json_body=None),), why=NON_JSON_ROUTING),
    Row("unknown-path-v3", "GET", "/api/3.0/mlflow/nope", E(404, json_body=False),
        aiotrack=(E(404, json_body=None),), why=NON_JSON_ROUTING),
    Row("get-on-post-only-route", "GET", "runs/create", E(405, json_body=False),
        aiotrack=(E(405, json_body=None),), why=NON_JSON_ROUTING),
    Row("post-on-get-only-route", "POST", "runs/get", E(405, json_body=False),
        json=lambda c: {"run_id": c.run_id},
        aiotrack=(E(405, json_body=None),), why=NON_JSON_ROUTING),
]  # fmt: skip


# --------------------------------------------------------------------------------------------
# The test


def _resolve(value: Any, ctx: Ctx) -> Any:
    return value(ctx) if callable(value) else value


def _send(base: str, row: Row, ctx: Ctx) -> requests.Response:
    url = base + (row.path if row.path.startswith("/") else API + row.path)
    headers = dict(row.headers)
    data = _resolve(row.data, ctx)
    if row.json is not None:
        data = json.dumps(_resolve(row.json, ctx)).encode()
        headers.setdefault("Content-Type", "application/json")
    return requests.request(
        row.method, url, data=data, params=_resolve(row.params, ctx), headers=headers,
        timeout=TIMEOUT_S,
    )  # fmt: skip


def _parse(resp: requests.Response) -> tuple[bool, Any]:
    try:
        return True, json.loads(resp.text)
    except ValueError:
        return False, None


def _mismatch(exp: Expect, resp: requests.Response, ctx: Ctx) -> str | None:
    """Why ``resp`` is not ``exp`` (None if it is)."""
    is_json, body = _parse(resp)
    if resp.status_code != exp.status:
        return f"status {resp.status_code}, expected {exp.status}"
    if exp.json_body is False:
        return "body is JSON, expected a non-JSON (HTML) body" if is_json else None
    if exp.json_body is None:
        if is_json and resp.status_code == 404 and isinstance(body, dict) and "error_code" in body:
            if body["error_code"] != "ENDPOINT_NOT_FOUND":
                return f"JSON 404 for an unknown path must be ENDPOINT_NOT_FOUND, got {body}"
        return None
    if not is_json or not isinstance(body, dict):
        return "body is not a JSON object"
    if exp.error_code is not None:
        if body.get("error_code") != exp.error_code:
            return f"error_code {body.get('error_code')!r}, expected {exp.error_code!r}"
        if not isinstance(body.get("message"), str):
            return "error body has no string 'message'"
    message = _resolve(exp.message, ctx)
    if message is not None and body.get("message") != message:
        return f"message {body.get('message')!r}, expected {message!r}"
    prefix = _resolve(exp.message_prefix, ctx)
    if prefix is not None and not str(body.get("message", "")).startswith(prefix):
        return f"message {body.get('message')!r} does not start with {prefix!r}"
    return None


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_malformed_request(target: Target, row: Row) -> None:
    """The row's answer (status, error_code, message) and, when rejected, no write at all."""
    base = target.server.url
    api = Api(base)
    ctx = build_ctx(api, row.setup)
    rejected = row.expect.status >= 400
    before = snapshot(api, ctx) if rejected else None

    resp = _send(base, row, ctx)
    what = f"{row.method} {row.path} -> {resp.status_code} {resp.text[:600]!r}"

    if target.is_reference:
        expectations: tuple[Expect, ...] = (row.expect,)
    else:
        expectations = row.aiotrack or (row.expect,)
        if resp.status_code >= 500:
            assert row.expect.status >= 500 and any(e.status >= 500 for e in expectations), (
                f"aiotrack answered 5xx to a client error (MLflow: {row.expect.status}): {what}"
                f"\n--- server log ---\n{target.server.log_tail(40)}"
            )
    problems = [p for p in (_mismatch(e, resp, ctx) for e in expectations) if p is not None]
    assert len(problems) < len(expectations), f"{what}\n" + "\n".join(problems)

    if rejected and resp.status_code >= 400:
        after = snapshot(api, ctx)
        assert after == before, f"the rejected request wrote something: {what}"
    if row.verify is not None and resp.status_code == 200:
        row.verify(api, ctx, _parse(resp)[1])


def test_table_is_big_enough() -> None:
    """The brief asks for >= 40 malformed requests; ids must be unique (they name the tests)."""
    assert len(ROWS) >= 40
    assert len({r.id for r in ROWS}) == len(ROWS)
    assert all(r.why for r in ROWS if r.aiotrack), "every deliberate difference needs a why"
