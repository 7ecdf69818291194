"""Raw-HTTP checks of the wire rules (REST doc §2-3) that the client would hide."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.compat.conftest import TARGET
from tests.servers import RunningServer

pytestmark = pytest.mark.compat


class Api:
    """Tiny JSON helper over ``/api/2.0/mlflow``; returns (status, parsed body)."""

    def __init__(self, url: str) -> None:
        self.base = f"{url}/api/2.0/mlflow"
        self.http = requests.Session()

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        resp = self.http.post(f"{self.base}/{path}", json=body, timeout=30)
        return resp.status_code, _json(resp)

    def get(self, path: str, params: Any) -> tuple[int, Any]:
        resp = self.http.get(f"{self.base}/{path}", params=params, timeout=30)
        return resp.status_code, _json(resp)

    def ok_post(self, path: str, body: dict[str, Any]) -> Any:
        status, data = self.post(path, body)
        assert status == 200, data
        return data

    def ok_get(self, path: str, params: Any) -> Any:
        status, data = self.get(path, params)
        assert status == 200, data
        return data


def _json(resp: requests.Response) -> Any:
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (
        resp.status_code,
        resp.headers.get("Content-Type"),
        resp.text[:300],
    )
    return resp.json()


@pytest.fixture
def api(tracking_server: RunningServer) -> Iterator[Api]:
    a = Api(tracking_server.url)
    yield a
    a.http.close()


@pytest.fixture
def exp(api: Api) -> str:
    return str(
        api.ok_post("experiments/create", {"name": f"wire-{uuid.uuid4().hex}"})["experiment_id"]
    )


def _new_run(api: Api, exp: str, **fields: Any) -> dict[str, Any]:
    return api.ok_post("runs/create", {"experiment_id": exp, **fields})["run"]  # type: ignore[no-any-return]


def test_create_run_response_shape(api: Api, exp: str) -> None:
    run = _new_run(api, exp, start_time=1000)
    info = run["info"]
    assert info["run_uuid"] == info["run_id"]
    assert len(info["run_id"]) == 32
    assert info["experiment_id"] == exp and isinstance(info["experiment_id"], str)
    assert info["start_time"] == 1000 and type(info["start_time"]) is int  # int64 as a number
    assert info["status"] == "RUNNING"  # enum by name
    assert info["lifecycle_stage"] == "active"
    assert "end_time" not in info  # unset -> omitted, not null
    assert info["user_id"] == ""  # raw REST without user_id: present and empty
    # empty repeated fields are omitted; the runName tag is always there
    assert "params" not in run["data"] and "metrics" not in run["data"]
    assert run["data"]["tags"] == [{"key": "mlflow.runName", "value": info["run_name"]}]
    assert all(v is not None for v in info.values())


def test_legacy_run_uuid_accepted(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    api.ok_post("runs/log-parameter", {"run_uuid": rid, "key": "p", "value": "v"})
    api.ok_post("runs/set-tag", {"run_uuid": rid, "key": "t", "value": "v"})
    api.ok_post("runs/log-metric", {"run_uuid": rid, "key": "m", "value": 1, "timestamp": 5})
    run = api.ok_get("runs/get", {"run_uuid": rid})["run"]
    assert run["info"]["run_id"] == rid
    assert run["data"]["params"] == [{"key": "p", "value": "v"}]
    assert run["data"]["metrics"] == [{"key": "m", "value": 1.0, "timestamp": 5, "step": 0}]


def test_non_finite_and_string_numbers(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    api.ok_post("runs/log-metric", {"run_id": rid, "key": "n", "value": "NaN", "timestamp": 5})
    api.ok_post(
        "runs/log-metric",
        {"run_id": rid, "key": "i", "value": "Infinity", "timestamp": 5, "step": 3},
    )
    api.ok_post(
        "runs/log-metric", {"run_id": rid, "key": "ni", "value": "-Infinity", "timestamp": 5}
    )
    api.ok_post("runs/log-metric", {"run_id": rid, "key": "s", "value": "1.5", "timestamp": "7"})
    metrics = {
        m["key"]: m for m in api.ok_get("runs/get", {"run_id": rid})["run"]["data"]["metrics"]
    }
    assert metrics["n"] == {"key": "n", "value": "NaN", "timestamp": 5, "step": 0}
    assert metrics["i"]["value"] in (1.7976931348623157e308, "Infinity")
    assert metrics["i"]["step"] == 3
    assert metrics["ni"]["value"] in (-1.7976931348623157e308, "-Infinity")
    assert metrics["s"] == {"key": "s", "value": 1.5, "timestamp": 7, "step": 0}
    assert type(metrics["s"]["timestamp"]) is int
    hist = api.ok_get("metrics/get-history", {"run_id": rid, "metric_key": "n"})
    assert hist == {"metrics": [{"key": "n", "value": "NaN", "timestamp": 5, "step": 0}]}


def test_empty_results_are_empty_objects(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    assert api.ok_get("metrics/get-history", {"run_id": rid, "metric_key": "zzz"}) == {}
    assert api.ok_post("runs/search", {"experiment_ids": [exp], "filter": "metrics.zz > 1"}) == {}
    assert api.ok_post("runs/log-batch", {"run_id": rid}) == {}
    assert api.ok_post("runs/log-parameter", {"run_id": rid, "key": "p", "value": ""}) == {}


def test_update_run_response(api: Api, exp: str) -> None:
    rid = _new_run(api, exp, start_time=1000)["info"]["run_id"]
    body = api.ok_post(
        "runs/update",
        {"run_id": rid, "status": "FINISHED", "end_time": 2000, "run_name": "renamed"},
    )
    info = body["run_info"]
    assert (info["status"], info["start_time"], info["end_time"], info["run_name"]) == (
        "FINISHED", 1000, 2000, "renamed"
    )  # fmt: skip
    assert info["run_uuid"] == info["run_id"] == rid


def test_search_runs_int64_and_page_token(api: Api, exp: str) -> None:
    for i in range(3):
        _new_run(api, exp, start_time=10_000 + i)
    page = api.ok_post("runs/search", {"experiment_ids": [exp], "max_results": 2})
    assert [r["info"]["start_time"] for r in page["runs"]] == [10_002, 10_001]
    assert isinstance(page["next_page_token"], str) and page["next_page_token"]
    rest = api.ok_post(
        "runs/search",
        {"experiment_ids": [exp], "max_results": 2, "page_token": page["next_page_token"]},
    )
    assert [r["info"]["start_time"] for r in rest["runs"]] == [10_000]
    assert "next_page_token" not in rest


def test_get_experiments_search_query_parsing(api: Api) -> None:
    prefix = f"wireq-{uuid.uuid4().hex[:12]}"
    ids = [
        api.ok_post("experiments/create", {"name": f"{prefix}-{i}"})["experiment_id"]
        for i in range(3)
    ]
    api.ok_post("experiments/delete", {"experiment_id": ids[1]})
    # numbers as strings, enum by name, repeated order_by keys
    params = [
        ("max_results", "10"),
        ("view_type", "ALL"),
        ("filter", f"name LIKE '{prefix}-%'"),
        ("order_by", "name DESC"),
        ("order_by", "experiment_id ASC"),
    ]
    body = api.ok_get("experiments/search", params)
    assert [e["name"] for e in body["experiments"]] == [f"{prefix}-{i}" for i in (2, 1, 0)]
    assert body["experiments"][1]["lifecycle_stage"] == "deleted"
    assert all(type(e["creation_time"]) is int for e in body["experiments"])
    active = api.ok_get(
        "experiments/search", {"max_results": "10", "filter": f"name LIKE '{prefix}-%'"}
    )
    assert sorted(e["name"] for e in active["experiments"]) == [f"{prefix}-0", f"{prefix}-2"]
    paged = api.ok_get(
        "experiments/search",
        [("max_results", "1"), ("filter", f"name LIKE '{prefix}-%'"), ("order_by", "name ASC")],
    )
    assert [e["name"] for e in paged["experiments"]] == [f"{prefix}-0"]
    assert paged["next_page_token"]


def test_get_repeated_run_ids(api: Api, exp: str) -> None:
    r1 = _new_run(api, exp)["info"]["run_id"]
    r2 = _new_run(api, exp)["info"]["run_id"]
    for rid, base in ((r1, 0.0), (r2, 100.0)):
        api.ok_post(
            "runs/log-batch",
            {
                "run_id": rid,
                "metrics": [
                    {"key": "m", "value": base + s, "timestamp": 10 + s, "step": s}
                    for s in range(3)
                ],
            },
        )
    body = api.ok_get(
        "metrics/get-history-bulk-interval",
        [("run_ids", r1), ("run_ids", r2), ("metric_key", "m"), ("max_results", "10")],
    )
    got = sorted((m["run_id"], m["step"], m["value"]) for m in body["metrics"])
    assert got == sorted(
        [(r1, s, float(s)) for s in range(3)] + [(r2, s, 100.0 + s) for s in range(3)]
    )


def test_get_experiment_by_id_and_name(api: Api) -> None:
    name = f"wire-get-{uuid.uuid4().hex}"
    eid = api.ok_post("experiments/create", {"name": name, "tags": [{"key": "a", "value": "b"}]})[
        "experiment_id"
    ]
    by_id = api.ok_get("experiments/get", {"experiment_id": eid})["experiment"]
    by_name = api.ok_get("experiments/get-by-name", {"experiment_name": name})["experiment"]
    assert by_id == by_name
    assert by_id["tags"] == [{"key": "a", "value": "b"}]
    assert type(by_id["creation_time"]) is int and type(by_id["last_update_time"]) is int


# --- errors -----------------------------------------------------------------------------------


def _assert_error(status: int, body: Any, http: int, code: str, fragment: str = "") -> None:
    assert status == http, body
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str)
    assert fragment in body["message"], body["message"]


def test_error_bodies(api: Api, exp: str) -> None:
    _assert_error(
        *api.get("experiments/get", {"experiment_id": "987654321"}),
        404, "RESOURCE_DOES_NOT_EXIST", "987654321",
    )  # fmt: skip
    _assert_error(
        *api.get("experiments/get", {"experiment_id": "abc"}), 400, "INVALID_PARAMETER_VALUE", "abc"
    )
    _assert_error(
        *api.get("runs/get", {"run_id": "0" * 32}), 404, "RESOURCE_DOES_NOT_EXIST", "0" * 32
    )
    _assert_error(
        *api.get("experiments/get-by-name", {"experiment_name": "no-such-exp-xyz"}),
        404, "RESOURCE_DOES_NOT_EXIST",
    )  # fmt: skip
    _assert_error(
        *api.post("experiments/create", {"name": ""}), 400, "INVALID_PARAMETER_VALUE", "name"
    )


def test_missing_required_field(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    _assert_error(
        *api.post("runs/log-parameter", {"run_id": rid, "value": "v"}),
        400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'key'",
    )  # fmt: skip
    _assert_error(
        *api.post("runs/log-metric", {"run_id": rid, "key": "m", "timestamp": 1}),
        400, "INVALID_PARAMETER_VALUE", "'value'",
    )  # fmt: skip


def test_write_conflicts_and_state_errors(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    api.ok_post("runs/log-parameter", {"run_id": rid, "key": "p", "value": "a"})
    _assert_error(
        *api.post("runs/log-parameter", {"run_id": rid, "key": "p", "value": "b"}),
        400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed",
    )  # fmt: skip
    _assert_error(
        *api.post("runs/delete-tag", {"run_id": rid, "key": "nope"}),
        404, "RESOURCE_DOES_NOT_EXIST", "nope",
    )  # fmt: skip
    api.ok_post("runs/delete", {"run_id": rid})
    _assert_error(
        *api.post("runs/log-metric", {"run_id": rid, "key": "m", "value": 1, "timestamp": 1}),
        400, "INVALID_PARAMETER_VALUE", "active",
    )  # fmt: skip


def test_log_batch_limits(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    metrics = [{"key": f"m{i}", "value": 1, "timestamp": 1, "step": 0} for i in range(1001)]
    _assert_error(
        *api.post("runs/log-batch", {"run_id": rid, "metrics": metrics}),
        400, "INVALID_PARAMETER_VALUE", "1000",
    )  # fmt: skip
    params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    _assert_error(
        *api.post("runs/log-batch", {"run_id": rid, "params": params}),
        400, "INVALID_PARAMETER_VALUE", "100",
    )  # fmt: skip
    tags = [{"key": f"t{i}", "value": "v"} for i in range(101)]
    _assert_error(
        *api.post("runs/log-batch", {"run_id": rid, "tags": tags}),
        400, "INVALID_PARAMETER_VALUE", "100",
    )  # fmt: skip
    # exactly at the limits is fine, and nothing of the rejected batches was written
    api.ok_post("runs/log-batch", {"run_id": rid, "metrics": metrics[:900], "params": params[:100]})
    data = api.ok_get("runs/get", {"run_id": rid})["run"]["data"]
    assert len(data["metrics"]) == 900 and len(data["params"]) == 100
    assert {t["key"] for t in data["tags"]} == {"mlflow.runName"}


def test_bad_page_token_and_filter(api: Api, exp: str) -> None:
    _assert_error(
        *api.post("runs/search", {"experiment_ids": [exp], "page_token": "!!!"}),
        400, "INVALID_PARAMETER_VALUE",
    )  # fmt: skip
    _assert_error(
        *api.post(
            "runs/search", {"experiment_ids": [exp], "filter": "metrics.m > 1 or params.a = 'b'"}
        ),
        400, "INVALID_PARAMETER_VALUE",
    )  # fmt: skip


def test_rename_deleted_experiment_is_invalid_state(api: Api) -> None:
    eid = api.ok_post("experiments/create", {"name": f"wire-del-{uuid.uuid4().hex}"})[
        "experiment_id"
    ]
    api.ok_post("experiments/delete", {"experiment_id": eid})
    # The reference answers INVALID_STATE, which MLflow maps to HTTP 500.
    _assert_error(
        *api.post("experiments/update", {"experiment_id": eid, "new_name": f"x-{uuid.uuid4().hex}"}),
        500, "INVALID_STATE",
    )  # fmt: skip


def test_content_type_required(tracking_server: RunningServer) -> None:
    resp = requests.post(
        f"{tracking_server.url}/api/2.0/mlflow/experiments/create",
        data='{"name": "no-content-type"}',
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_unknown_path_and_wrong_method(tracking_server: RunningServer) -> None:
    resp = requests.get(f"{tracking_server.url}/api/2.0/mlflow/nope", timeout=30)
    assert resp.status_code == 404
    resp = requests.get(f"{tracking_server.url}/api/2.0/mlflow/runs/create", timeout=30)
    assert resp.status_code == 405


def test_health(tracking_server: RunningServer) -> None:
    resp = requests.get(f"{tracking_server.url}/health", timeout=30)
    assert resp.status_code == 200
    assert resp.text == "OK"


def test_metric_history_pages_with_max_results(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    points = [{"key": "m", "value": float(s), "timestamp": 100 + s, "step": s} for s in range(5)]
    api.ok_post("runs/log-batch", {"run_id": rid, "metrics": points})
    full = api.ok_get("metrics/get-history", {"run_id": rid, "metric_key": "m"})
    assert [m["step"] for m in full["metrics"]] == [0, 1, 2, 3, 4]
    assert "next_page_token" not in full
    steps: list[int] = []
    token = None
    for _ in range(5):
        params = {"run_id": rid, "metric_key": "m", "max_results": "2"}
        if token:
            params["page_token"] = token
        page = api.ok_get("metrics/get-history", params)
        assert len(page["metrics"]) <= 2
        steps.extend(m["step"] for m in page["metrics"])
        token = page.get("next_page_token")
        if not token:
            break
    assert steps == [0, 1, 2, 3, 4]


def test_log_batch_duplicate_param_keys_rejected(api: Api, exp: str) -> None:
    rid = _new_run(api, exp)["info"]["run_id"]
    params = [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]
    _assert_error(
        *api.post("runs/log-batch", {"run_id": rid, "params": params}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "params" not in api.ok_get("runs/get", {"run_id": rid})["run"]["data"]


def test_search_runs_max_results_bounds(api: Api, exp: str) -> None:
    _assert_error(
        *api.post("runs/search", {"experiment_ids": [exp], "max_results": 50001}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert api.ok_post("runs/search", {"experiment_ids": [exp], "max_results": 50000}) == {}


def test_search_tags_and_params_keep_every_character(
    api: Api, exp: str, tracking_server: RunningServer
) -> None:
    """Search answers carry tags and params as the database serialised them (SQLite builds the
    JSON arrays itself): quotes, backslashes, control characters, non-ASCII text and empty
    values must come out exactly as runs/get gives them."""
    run = api.ok_post("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    odd = ['say "hi"', "back\\slash", "tab\tnew\nline\r", "\x01\x1f", "é 中文 🚀", "", "</script>"]
    api.ok_post(
        "runs/log-batch",
        {
            "run_id": run,
            "params": [{"key": f"p{i}", "value": v} for i, v in enumerate(odd)],
            "tags": [{"key": f"t{i}", "value": v} for i, v in enumerate(odd)],
        },
    )
    got = api.ok_get("runs/get", {"run_id": run})["run"]["data"]
    found = api.ok_post("runs/search", {"experiment_ids": [exp]})["runs"]
    assert len(found) == 1
    data = found[0]["data"]
    assert data["params"] == got["params"]
    assert data["tags"] == got["tags"]
    by_key = sorted(data["params"], key=lambda p: p["key"])
    assert by_key == [{"key": f"p{i}", "value": v} for i, v in enumerate(odd)]
    user_tags = sorted((t for t in data["tags"] if t["key"][0] == "t"), key=lambda t: t["key"])
    assert user_tags == [{"key": f"t{i}", "value": v} for i, v in enumerate(odd)]


def test_search_and_get_list_params_tags_and_metrics_in_one_order(
    api: Api, exp: str, tracking_server: RunningServer
) -> None:
    """runs/get and runs/search list a run's params, tags and latest metrics in the same
    order. On SQLite it is the order they were logged in, as MLflow's SQLite store answers
    (its loads have no ORDER BY); a tag overwritten or a metric logged again later keeps its
    place. On PostgreSQL and MySQL MLflow's order is the storage engine's (logged order on
    PostgreSQL until rows move, key order on InnoDB); aiotrack sorts by key there."""
    run = api.ok_post("runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    keys = ["zeta", "alpha", "mid", "beta"]
    api.ok_post(
        "runs/log-batch",
        {
            "run_id": run,
            "params": [{"key": k, "value": "1"} for k in keys],
            "tags": [{"key": k, "value": "1"} for k in keys],
            "metrics": [{"key": k, "value": 1.0, "timestamp": 1, "step": 0} for k in keys],
        },
    )
    api.ok_post("runs/set-tag", {"run_id": run, "key": "zeta", "value": "2"})
    api.ok_post(
        "runs/log-metric",
        {"run_id": run, "key": "zeta", "value": 2.0, "timestamp": 2, "step": 1},
    )
    got = api.ok_get("runs/get", {"run_id": run})["run"]["data"]
    found = api.ok_post("runs/search", {"experiment_ids": [exp]})["runs"][0]["data"]
    assert found["params"] == got["params"]
    assert found["tags"] == got["tags"]
    assert found["metrics"] == got["metrics"]
    params = [p["key"] for p in got["params"]]
    user_tags = [t["key"] for t in got["tags"] if not t["key"].startswith("mlflow.")]
    metrics = [m["key"] for m in got["metrics"]]
    assert {t["key"]: t["value"] for t in got["tags"]}["zeta"] == "2"
    assert {m["key"]: m["value"] for m in got["metrics"]}["zeta"] == 2.0
    uri = tracking_server.backend_uri
    if uri.startswith("sqlite"):
        assert params == keys
        assert user_tags == keys
        assert metrics == keys
    elif TARGET == "aiotrack" and "://" in uri and not uri.startswith("file"):
        assert params == sorted(keys)
        assert user_tags == sorted(keys)
        assert metrics == sorted(keys)
