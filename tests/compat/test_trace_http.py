"""The trace endpoints over raw HTTP: v3 ``traces/{id}``, ``traces/get``, ``batchGet``,
``batchGetInfos``, the v2 legacy search and ``/{id}/info``, ``get-trace-artifact``, and the error
answers (status, ``error_code`` and, where MLflow's text is stable, the message) exactly as
``mlflow server`` 3.18 gives them (``AIOTRACK_TRACE_TESTS_SERVER=reference``).

Bodies are read back into MLflow's own entities and protobuf messages, so a field renamed,
mistyped or dropped fails here even when the client would paper over it.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

import mlflow
import pytest
import requests
from google.protobuf.json_format import ParseDict
from mlflow.entities import SpanType, Trace, TraceInfo
from mlflow.protos.service_pb2 import BatchGetTraces, GetTrace
from mlflow.protos.service_pb2 import TraceInfoV3 as ProtoTraceInfoV3
from mlflow.tracking import MlflowClient

from tests.compat.conftest import point_tracing_at
from tests.servers import RunningServer

pytestmark = [pytest.mark.compat]

TIMEOUT_S = 30
MISSING = "tr-" + "0" * 32


@dataclass(frozen=True)
class Logged:
    url: str
    experiment_id: str
    trace_ids: list[str]  # oldest first
    traces: dict[str, Trace]  # as the client reads them back


@pytest.fixture(scope="module")
def logged(trace_server: RunningServer) -> Logged:
    """Three two-span traces in an experiment of their own (the last one failed)."""
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    point_tracing_at(trace_server.url)
    client = MlflowClient(trace_server.url)
    exp = client.create_experiment(f"trace-http-{uuid.uuid4().hex[:10]}")
    ids = []
    try:
        mlflow.set_experiment(experiment_id=exp)
        for i in range(3):
            try:
                with mlflow.start_span(f"root{i}", span_type=SpanType.CHAIN) as root:
                    root.set_inputs({"i": i})
                    with mlflow.start_span("child", span_type=SpanType.LLM) as child:
                        child.set_attribute("n", i)
                        child.set_outputs(["out", i])
                    if i == 2:
                        raise RuntimeError("third fails")
                    root.set_outputs({"ok": True})
            except RuntimeError:
                pass
            ids.append(root.trace_id)
    finally:
        point_tracing_at(None)
        os.environ.pop("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", None)
    traces = {t: client.get_trace(t) for t in ids}
    return Logged(url=trace_server.url, experiment_id=exp, trace_ids=ids, traces=traces)


def get(url: str, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{url}{path}", params=params, timeout=TIMEOUT_S)


def post(url: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}{path}", json=body, timeout=TIMEOUT_S)


def locations(experiment_id: str) -> list[dict[str, Any]]:
    return [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}]


def info_from_json(data: dict[str, Any]) -> TraceInfo:
    """A v3 ``TraceInfo`` from its protobuf JSON (rejects unknown or mistyped fields)."""
    return TraceInfo.from_proto(ParseDict(data, ProtoTraceInfoV3()))


def span_dicts(trace: Trace) -> list[dict[str, Any]]:
    return sorted((s.to_dict() for s in trace.data.spans), key=lambda d: d["span_id"])


# --------------------------------------------------------------------------------------------
# v3


@pytest.mark.parametrize("prefix", ["/api/3.0", "/ajax-api/3.0"])
def test_v3_get_trace_info(logged: Logged, prefix: str) -> None:
    trace_id = logged.trace_ids[0]
    resp = get(logged.url, f"{prefix}/mlflow/traces/{trace_id}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body) == ["trace"]
    assert list(body["trace"]) == ["trace_info"]
    info = body["trace"]["trace_info"]
    assert info["trace_id"] == trace_id
    assert info["trace_location"] == locations(logged.experiment_id)[0]
    assert info["state"] == "OK"
    # Protobuf JSON: a Timestamp is an RFC 3339 string, a Duration is "<seconds>s".
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", info["request_time"])
    assert re.fullmatch(r"\d+(\.\d+)?s", info["execution_duration"])
    assert isinstance(info["trace_metadata"], dict) and isinstance(info["tags"], dict)
    assert info["request_preview"] == '{"i": 0}'
    assert info["response_preview"] == '{"ok": true}'
    assert info_from_json(info) == logged.traces[trace_id].info


def test_v3_get_trace_with_spans(logged: Logged) -> None:
    for trace_id in logged.trace_ids:
        resp = get(logged.url, "/api/3.0/mlflow/traces/get", trace_id=trace_id)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body["trace"]) == {"trace_info", "spans"}
        trace = Trace.from_proto(ParseDict(body, GetTrace.Response()).trace)
        expected = logged.traces[trace_id]
        assert trace.info == expected.info
        assert span_dicts(trace) == span_dicts(expected)
        assert {s["name"] for s in body["trace"]["spans"]} == {
            f"root{logged.trace_ids.index(trace_id)}",
            "child",
        }
        for span in body["trace"]["spans"]:
            # The OTLP span message as MLflow's SQL store rebuilds it (Span.to_otel_proto).
            assert set(span) - {"parent_span_id", "events"} == {
                "trace_id", "span_id", "name", "kind", "start_time_unix_nano",
                "end_time_unix_nano", "attributes", "status",
            }  # fmt: skip
            assert span["kind"] == "SPAN_KIND_INTERNAL"
            assert isinstance(span["start_time_unix_nano"], int)
    failed = logged.traces[logged.trace_ids[2]]
    assert failed.info.state.value == "ERROR"


def test_v3_batch_get(logged: Logged) -> None:
    wanted = [logged.trace_ids[2], MISSING, logged.trace_ids[0]]
    resp = requests.get(
        f"{logged.url}/api/3.0/mlflow/traces/batchGet",
        params=[("trace_ids", t) for t in wanted],
        timeout=TIMEOUT_S,
    )
    assert resp.status_code == 200, resp.text
    traces = [Trace.from_proto(t) for t in ParseDict(resp.json(), BatchGetTraces.Response()).traces]
    # A missing id is simply absent.
    assert sorted(t.info.trace_id for t in traces) == sorted(wanted[::2])
    for trace in traces:
        assert span_dicts(trace) == span_dicts(logged.traces[trace.info.trace_id])
        assert trace.info == logged.traces[trace.info.trace_id].info


def test_v3_batch_get_infos(logged: Logged) -> None:
    resp = post(
        logged.url,
        "/api/3.0/mlflow/traces/batchGetInfos",
        {"trace_ids": [*logged.trace_ids, MISSING]},
    )
    assert resp.status_code == 200, resp.text
    infos = [info_from_json(d) for d in resp.json()["trace_infos"]]
    assert sorted(i.trace_id for i in infos) == sorted(logged.trace_ids)
    for info in infos:
        assert info == logged.traces[info.trace_id].info
    resp = post(logged.url, "/api/3.0/mlflow/traces/batchGetInfos", {"trace_ids": [MISSING]})
    assert resp.status_code == 200 and resp.json() == {}


def test_v3_search(logged: Logged) -> None:
    resp = post(
        logged.url,
        "/api/3.0/mlflow/traces/search",
        {"locations": locations(logged.experiment_id), "max_results": 2},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"traces", "next_page_token"}
    first = [info_from_json(d) for d in body["traces"]]
    resp = post(
        logged.url,
        "/api/3.0/mlflow/traces/search",
        {
            "locations": locations(logged.experiment_id),
            "max_results": 2,
            "page_token": body["next_page_token"],
        },
    )
    assert resp.status_code == 200, resp.text
    assert "next_page_token" not in resp.json()
    second = [info_from_json(d) for d in resp.json()["traces"]]
    assert [i.trace_id for i in first + second] == logged.trace_ids[::-1]
    for info in first + second:
        assert info == logged.traces[info.trace_id].info
    # An experiment without traces (or without existence) answers an empty object.
    resp = post(logged.url, "/api/3.0/mlflow/traces/search", {"locations": locations("987654")})
    assert resp.status_code == 200 and resp.json() == {}
    resp = post(
        logged.url,
        "/api/3.0/mlflow/traces/search",
        {"locations": locations(logged.experiment_id), "max_results": 500},
    )
    assert resp.status_code == 200 and len(resp.json()["traces"]) == 3


# --------------------------------------------------------------------------------------------
# v2 (legacy) and the UI's artifact route


def test_v2_search_and_info(logged: Logged) -> None:
    resp = get(logged.url, "/api/2.0/mlflow/traces", experiment_ids=logged.experiment_id)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert list(body) == ["traces"]
    assert [t["request_id"] for t in body["traces"]] == logged.trace_ids[::-1]
    for item in body["traces"]:
        expected = logged.traces[item["request_id"]].info
        assert item["experiment_id"] == logged.experiment_id
        assert item["timestamp_ms"] == expected.request_time
        assert item["execution_time_ms"] == expected.execution_duration
        assert item["status"] == expected.state.value
        assert {m["key"]: m["value"] for m in item["request_metadata"]} == expected.trace_metadata
        assert {m["key"]: m["value"] for m in item["tags"]} == expected.tags
        resp = get(logged.url, f"/api/2.0/mlflow/traces/{item['request_id']}/info")
        assert resp.status_code == 200, resp.text
        info = resp.json()["trace_info"]
        assert info["request_id"] == item["request_id"]
        assert {m["key"]: m["value"] for m in info["request_metadata"]} == expected.trace_metadata
        assert info["timestamp_ms"] == item["timestamp_ms"]
        assert info["status"] == item["status"]
    # Pages, and a filter in the v2 dialect.
    resp = get(
        logged.url, "/api/2.0/mlflow/traces", experiment_ids=logged.experiment_id, max_results=2
    )
    page = resp.json()
    assert len(page["traces"]) == 2 and page["next_page_token"]
    resp = get(
        logged.url,
        "/api/2.0/mlflow/traces",
        experiment_ids=logged.experiment_id,
        max_results=2,
        page_token=page["next_page_token"],
    )
    assert [t["request_id"] for t in resp.json()["traces"]] == logged.trace_ids[:1]
    resp = get(
        logged.url,
        "/api/2.0/mlflow/traces",
        experiment_ids=logged.experiment_id,
        filter="trace.status = 'ERROR'",
    )
    assert [t["request_id"] for t in resp.json()["traces"]] == logged.trace_ids[2:]


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_get_trace_artifact(logged: Logged, version: str) -> None:
    for trace_id in logged.trace_ids:
        resp = get(
            logged.url, f"/ajax-api/{version}/mlflow/get-trace-artifact", request_id=trace_id
        )
        assert resp.status_code == 200, resp.text
        data = json.loads(resp.content)
        assert list(data) == ["spans"]
        spans = sorted(data["spans"], key=lambda d: d["span_id"])
        assert [(s["name"], s["span_id"]) for s in spans] == [
            (d["name"], d["span_id"]) for d in span_dicts(logged.traces[trace_id])
        ]


# --------------------------------------------------------------------------------------------
# Errors, as mlflow server 3.18 answers them

MISSING_TRACE = f"Trace with ID '{MISSING}' not found."
MISSING_TRACE_GET = f"Trace with ID {MISSING} is not found."
REQUIRED = (
    "Missing value for required parameter '{}'. "
    "See the API docs for more information about request parameters."
)

# (name, method, path, query, json body, status, error_code, message or None when MLflow's
# text is not stable, e.g. it prints a Python set). ``{exp}`` is the experiment id.
ERRORS: list[tuple[str, str, str, dict[str, Any] | None, Any, int, str, str | None]] = [
    ("v3 info of a missing trace", "GET", f"/api/3.0/mlflow/traces/{MISSING}", None, None,
     404, "RESOURCE_DOES_NOT_EXIST", MISSING_TRACE),
    ("v3 get of a missing trace", "GET", "/api/3.0/mlflow/traces/get", {"trace_id": MISSING},
     None, 404, "RESOURCE_DOES_NOT_EXIST", MISSING_TRACE_GET),
    ("v3 get without trace_id", "GET", "/api/3.0/mlflow/traces/get", {}, None,
     400, "INVALID_PARAMETER_VALUE", REQUIRED.format("trace_id")),
    ("batchGet without ids", "GET", "/api/3.0/mlflow/traces/batchGet", {}, None,
     400, "INVALID_PARAMETER_VALUE", REQUIRED.format("trace_ids")),
    ("batchGetInfos without ids", "POST", "/api/3.0/mlflow/traces/batchGetInfos", None, {},
     400, "INVALID_PARAMETER_VALUE", REQUIRED.format("trace_ids")),
    ("v2 info of a missing trace", "GET", f"/api/2.0/mlflow/traces/{MISSING}/info", None, None,
     404, "RESOURCE_DOES_NOT_EXIST", MISSING_TRACE),
    ("artifact of a missing trace", "GET", "/ajax-api/2.0/mlflow/get-trace-artifact",
     {"request_id": MISSING}, None, 404, "RESOURCE_DOES_NOT_EXIST", MISSING_TRACE_GET),
    ("artifact without request_id", "GET", "/ajax-api/2.0/mlflow/get-trace-artifact", {}, None,
     400, "BAD_REQUEST", 'Request must include the "request_id" query parameter.'),
    ("search without locations", "POST", "/api/3.0/mlflow/traces/search", None, {},
     400, "INVALID_PARAMETER_VALUE", REQUIRED.format("locations")),
    ("search, unknown attribute", "POST", "/api/3.0/mlflow/traces/search", None,
     {"filter": "trace.foo = 'x'"}, 400, "INVALID_PARAMETER_VALUE", None),
    ("search, unknown entity", "POST", "/api/3.0/mlflow/traces/search", None,
     {"filter": "nope.x = 'a'"}, 400, "INVALID_PARAMETER_VALUE", None),
    ("search, IN on a tag-backed name", "POST", "/api/3.0/mlflow/traces/search", None,
     {"filter": "trace.name IN ('a', 'b')"}, 400, "INVALID_PARAMETER_VALUE", None),
    ("search, clause without value", "POST", "/api/3.0/mlflow/traces/search", None,
     {"filter": "trace.status = "}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid clause(s) in filter string: 'trace.status', '='"),
    ("search, prompt with LIKE", "POST", "/api/3.0/mlflow/traces/search", None,
     {"filter": "prompt LIKE 'a/%'"}, 400, "INVALID_PARAMETER_VALUE", None),
    ("search, max_results 501", "POST", "/api/3.0/mlflow/traces/search", None,
     {"max_results": 501}, 400, "INVALID_PARAMETER_VALUE",
     "Invalid value 501 for parameter 'max_results' supplied:  Hint: Value was of type 'int'. "
     "See the API docs for more information about request parameters."),
    ("search, unknown order key", "POST", "/api/3.0/mlflow/traces/search", None,
     {"order_by": ["foo DESC"]}, 400, "INVALID_PARAMETER_VALUE", None),
    ("search, bad page token", "POST", "/api/3.0/mlflow/traces/search", None,
     {"page_token": "garbage"}, 400, "INVALID_PARAMETER_VALUE", None),
    ("v2 search without experiments", "GET", "/api/2.0/mlflow/traces", {}, None,
     400, "INVALID_PARAMETER_VALUE", REQUIRED.format("experiment_ids")),
    ("v2 search, max_results 501", "GET", "/api/2.0/mlflow/traces",
     {"experiment_ids": "{exp}", "max_results": "501"}, None, 400, "INVALID_PARAMETER_VALUE",
     "Invalid value \"501\" for parameter 'max_results' supplied:  Hint: Value was of type "
     "'str'. See the API docs for more information about request parameters."),
    ("v2 search, bad filter", "GET", "/api/2.0/mlflow/traces",
     {"experiment_ids": "{exp}", "filter": "trace.foo = 'x'"}, None,
     400, "INVALID_PARAMETER_VALUE", None),
    ("delete without criteria", "POST", "/api/3.0/mlflow/traces/delete-traces", None,
     {"experiment_id": "{exp}"}, 400, "INVALID_PARAMETER_VALUE",
     "Either `max_timestamp_millis` or `trace_ids` must be specified."),
    ("delete with both criteria", "POST", "/api/3.0/mlflow/traces/delete-traces", None,
     {"experiment_id": "{exp}", "max_timestamp_millis": 1, "request_ids": ["tr-a"]},
     400, "INVALID_PARAMETER_VALUE",
     "Only one of `max_timestamp_millis` and `trace_ids` can be specified."),
    ("delete ids with max_traces", "POST", "/api/3.0/mlflow/traces/delete-traces", None,
     {"experiment_id": "{exp}", "max_traces": 3, "request_ids": ["tr-a"]},
     400, "INVALID_PARAMETER_VALUE",
     "`max_traces` can't be specified if `trace_ids` is specified."),
    ("delete without experiment", "POST", "/api/3.0/mlflow/traces/delete-traces", None,
     {"max_timestamp_millis": 1}, 400, "INVALID_PARAMETER_VALUE",
     REQUIRED.format("experiment_id")),
    ("delete a missing tag", "DELETE", f"/api/3.0/mlflow/traces/{MISSING}/tags", None,
     {"key": "k"}, 404, "RESOURCE_DOES_NOT_EXIST",
     f"No trace tag with key 'k' for trace with ID '{MISSING}'"),
    ("set an immutable tag", "PATCH", "/api/3.0/mlflow/traces/{trace}/tags", None,
     {"key": "mlflow.artifactLocation", "value": "x"}, 400, "INVALID_PARAMETER_VALUE",
     "Tag 'mlflow.artifactLocation' is immutable and cannot be set on a trace."),
    ("link prompts to a missing trace", "POST", "/api/2.0/mlflow/traces/link-prompts", None,
     {"trace_id": MISSING, "prompt_versions": [{"name": "p", "version": "1"}]},
     404, "RESOURCE_DOES_NOT_EXIST", MISSING_TRACE),
]  # fmt: skip


def _fill(value: Any, logged: Logged) -> Any:
    if isinstance(value, str):
        return value.replace("{exp}", logged.experiment_id).replace("{trace}", logged.trace_ids[0])
    if isinstance(value, dict):
        return {k: _fill(v, logged) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, logged) for v in value]
    return value


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "status", "error_code", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_error_answers(
    logged: Logged,
    method: str,
    path: str,
    query: dict[str, Any] | None,
    body: Any,
    status: int,
    error_code: str,
    message: str | None,
) -> None:
    body = _fill(body, logged)
    if path == "/api/3.0/mlflow/traces/search" and body and "locations" not in body:
        body = {"locations": locations(logged.experiment_id), **body}
    resp = requests.request(
        method,
        f"{logged.url}{_fill(path, logged)}",
        params=_fill(query, logged),
        json=body,
        timeout=TIMEOUT_S,
    )
    assert resp.status_code == status, resp.text
    answer = resp.json()
    assert answer["error_code"] == error_code
    if message is not None:
        assert answer["message"] == message
    else:
        assert isinstance(answer["message"], str) and answer["message"]


#: MLflow 3.18 adds ``sqlstate`` and ``error_class`` to every error body (3.17.2 sent only
#: ``error_code`` and ``message``): the class by error code, as 3.18 answers the cases above.
ERROR_CLASS = {
    "RESOURCE_DOES_NOT_EXIST": "RESOURCE_NOT_FOUND",
    "INVALID_PARAMETER_VALUE": "INVALID_PARAMETER_VALUE",
    "BAD_REQUEST": "INVALID_PARAMETER_VALUE",
}


def test_error_bodies_carry_318_fields(logged: Logged) -> None:
    wrong = []
    for name, method, path, query, body, _, error_code, _ in ERRORS:
        body = _fill(body, logged)
        if path == "/api/3.0/mlflow/traces/search" and body and "locations" not in body:
            body = {"locations": locations(logged.experiment_id), **body}
        answer = requests.request(
            method,
            f"{logged.url}{_fill(path, logged)}",
            params=_fill(query, logged),
            json=body,
            timeout=TIMEOUT_S,
        ).json()
        expected = {"sqlstate": "KAM00", "error_class": ERROR_CLASS[error_code]}
        got = {k: answer.get(k) for k in expected}
        if set(answer) != {"error_code", "message", *expected} or got != expected:
            wrong.append(f"{name}: {sorted(answer)} {got}")
    assert not wrong, "\n".join(wrong)


def test_nothing_deleted_by_missing_ids(logged: Logged) -> None:
    resp = post(
        logged.url,
        "/api/3.0/mlflow/traces/delete-traces",
        {"experiment_id": logged.experiment_id, "request_ids": [MISSING]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"traces_deleted": 0}
