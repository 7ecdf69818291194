"""Traces on the ``./mlruns`` file store, served by aiotrack as MLflow 3.18 serves them.

1. The real mlflow client logs traces (``@mlflow.trace``) through an aiotrack server on an mlruns
   directory: get, search (filters, order, pages), tags, deletes, the v2 routes, errors; the
   files are MLflow's layout.
2. Drop-in, both ways: traces the MLflow 3.18 client wrote into a file store directly, and
   traces logged through the reference ``mlflow server`` 3.18 on an mlruns directory, are read
   by aiotrack with the reference server's own answers (raw JSON, errors included); traces
   aiotrack wrote are read by the reference server with aiotrack's answers.

Where aiotrack answers more than MLflow's file store (MLflow: 501 for ``traces/get``,
``batchGet`` and ``batchGetInfos``; 500 for ``end_time`` filters and deletes in an experiment
without traces), the answer is checked on its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.servers import (
    RunningServer,
    reference18_bin,
    start_aiotrack,
    start_mlflow_reference,
)

pytestmark = [pytest.mark.compat]

os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"

import mlflow  # noqa: E402  (after the variables the client reads at import)
from mlflow.tracking import MlflowClient  # noqa: E402

V3 = "/api/3.0/mlflow/traces"
V2 = "/api/2.0/mlflow/traces"
TIMEOUT_S = 60


def _start_reference(root: Path, workdir: Path, artifacts: Path) -> RunningServer:
    """The reference ``mlflow server`` 3.18 on the mlruns ``root``."""
    return start_mlflow_reference(
        str(root), workdir, "--artifacts-destination", str(artifacts), bindir=reference18_bin()
    )


def _ask(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """``(status, JSON answer or text)`` of one request (GET parameters in the query)."""
    if method == "GET":
        resp = requests.get(base + path, params=body, timeout=TIMEOUT_S)
    else:
        resp = requests.request(method, base + path, json=body, timeout=TIMEOUT_S)
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def _loc(experiment_id: str) -> list[dict[str, Any]]:
    return [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}]


def _search(experiment_id: str, **fields: Any) -> tuple[str, str, dict[str, Any]]:
    return ("POST", f"{V3}/search", {"locations": _loc(experiment_id), **fields})


# ------------------------------------------------------------------------------------ writers

#: Run by the MLflow 3.18 client (its own virtualenv) against ``file://<root>``: five traces
#: (one failed, one with a client request id and metadata), tags, a feedback (with a
#: rationale) and an expectation (a dict: stored serialised), NaN in a span attribute.
WRITER = r"""
import json, sys, mlflow
from mlflow.entities import AssessmentSource
mlflow.set_tracking_uri(sys.argv[1])
exp = mlflow.set_experiment("file-traces")
ids = []

@mlflow.trace
def double(x):
    with mlflow.start_span("child") as span:
        span.set_attribute("ratio", float("nan"))
    return x * 2

@mlflow.trace(name="fails")
def fails():
    raise ValueError("boom")

for i in range(3):
    double(i)
    ids.append(mlflow.get_last_active_trace_id())
try:
    fails()
except ValueError:
    pass
ids.append(mlflow.get_last_active_trace_id())

@mlflow.trace(name="tagged")
def tagged():
    mlflow.update_current_trace(
        client_request_id="req-1", tags={"team": "ml"}, metadata={"origin": "writer"}
    )
    return "ok"

tagged()
ids.append(mlflow.get_last_active_trace_id())
client = mlflow.MlflowClient()
client.set_trace_tag(ids[0], "t1", "v1")
mlflow.log_feedback(trace_id=ids[0], name="good", value=True, rationale="fine",
                    source=AssessmentSource(source_type="HUMAN", source_id="me"))
mlflow.log_expectation(trace_id=ids[0], name="want", value={"a": 1})
print(json.dumps({"experiment_id": exp.experiment_id, "trace_ids": ids}))
"""


def _write_with_reference_client(uri: str, workdir: Path) -> dict[str, Any]:
    return _run_client(str(reference18_bin() / "python"), WRITER, workdir, uri)


#: Run by the 3.17.2 client (this virtualenv, a fresh process: the tracer's exporter keeps the
#: server it was first set up with) against a server: four traces, one tagged, one with a
#: feedback logged while it was open.
LOGGER = r"""
import json, sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
exp = mlflow.set_experiment(sys.argv[2])

@mlflow.trace
def square(x):
    with mlflow.start_span("inner") as span:
        span.set_attribute("x", x)
    if x == 0:  # logged while the trace is open: StartTraceV3 carries it
        mlflow.log_feedback(trace_id=mlflow.get_active_trace_id(), name="inside", value=0.5,
                            rationale="why")
    return x * x

ids = []
for i in range(4):
    square(i)
    ids.append(mlflow.get_last_active_trace_id())
mlflow.MlflowClient().set_trace_tag(ids[1], "kind", "odd")
print(json.dumps({"experiment_id": exp.experiment_id, "trace_ids": ids}))
"""


def _run_client(python: str, script: str, workdir: Path, *args: str) -> dict[str, Any]:
    path = workdir / "client_script.py"
    path.write_text(script)
    # Synchronous export whatever other tests left in os.environ: the script reads each trace
    # back right after logging it.
    env = {
        **os.environ,
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [python, str(path), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _log_with_client(url: str, name: str, workdir: Path) -> dict[str, Any]:
    """The 3.17.2 client logs four traces through the server at ``url``."""
    workdir.mkdir(parents=True, exist_ok=True)
    return _run_client(sys.executable, LOGGER, workdir, url, name)


# ------------------------------------------------------------------------------------ plans


def _reads(experiment_id: str, trace_ids: list[str]) -> list[tuple[str, str, Any]]:
    """Requests whose answers must be the reference server's own (for a store that holds
    ``trace_ids``, ``trace_ids[0]`` tagged ``t1``)."""
    first = trace_ids[0]
    return [
        ("GET", f"{V3}/{first}", None),
        ("GET", f"{V3}/{trace_ids[-1]}", None),
        ("GET", f"{V2}/{first}/info", None),
        ("GET", V2, {"experiment_ids": [experiment_id]}),
        _search(experiment_id),
        _search(experiment_id, max_results=2),
        _search(experiment_id, max_results=2, page_token="eyJvZmZzZXQiOiAyfQ=="),
        _search(experiment_id, filter="status = 'OK'"),
        _search(experiment_id, filter="trace.status != 'OK'"),
        _search(experiment_id, filter="status IN ('ERROR', 'IN_PROGRESS')"),
        _search(experiment_id, filter="tag.t1 = 'v1'"),
        _search(experiment_id, filter="tags.t1 IS NULL"),
        _search(experiment_id, filter="tag.t1 IS NOT NULL"),
        _search(experiment_id, filter="name = 'double'"),
        _search(experiment_id, filter="name LIKE 'd%'"),
        _search(experiment_id, filter="name ILIKE '%AIL%'"),
        _search(experiment_id, filter="timestamp_ms > 0 AND execution_time_ms >= 0"),
        _search(experiment_id, filter="timestamp < 1"),
        _search(experiment_id, filter="metadata.`mlflow.trace_schema.version` = '3'"),
        _search(experiment_id, filter="request_metadata.nope IS NULL"),
        _search(experiment_id, filter="run_id = 'nope'"),
        _search(experiment_id, filter=f"request_id = '{first}'"),
        _search(experiment_id, filter="client_request_id = 'req-1'"),
        _search(experiment_id, filter="span.name = 'child'"),
        _search(experiment_id, filter="feedback.good = 'true'"),
        _search(experiment_id, filter="tag.t1 = 'none' AND span.name = 'child'"),
        _search(experiment_id, filter="nope.x = 'a'"),
        _search(experiment_id, filter="status = 'OK' OR status = 'ERROR'"),
        _search(experiment_id, order_by=["timestamp_ms ASC"]),
        _search(experiment_id, order_by=["execution_time_ms DESC", "request_id"]),
        _search(experiment_id, order_by=["status"]),
        _search(experiment_id, order_by=["request_id DESC"]),
        _search(experiment_id, order_by=["experiment_id", "timestamp ASC"]),
        _search(experiment_id, order_by=["name"]),
        _search(experiment_id, order_by=["tag.t1"]),
        _search(experiment_id, page_token="garbage"),
        _search("12345"),
        ("GET", f"{V3}/tr-nope", None),
        ("GET", f"{V2}/tr-nope/info", None),
        ("PATCH", f"{V2}/tr-nope/tags", {"key": "a", "value": "b"}),
        ("PATCH", f"{V2}/{first}/tags", {"key": "../a", "value": "b"}),
        ("DELETE", f"{V2}/{first}/tags", {"key": "nope"}),
        ("POST", f"{V3}/delete-traces", {"experiment_id": "12345", "max_timestamp_millis": 1}),
        ("POST", f"{V3}/delete-traces", {"experiment_id": experiment_id, "request_ids": [".."]}),
        ("POST", f"{V3}/delete-traces", {"experiment_id": experiment_id}),
        ("POST", f"{V2}/link-to-run", {"trace_ids": [first], "run_id": "abc"}),
        ("GET", "/ajax-api/2.0/mlflow/get-trace-artifact", {"request_id": first}),
    ]


def _answers(server: RunningServer, plan: list[tuple[str, str, Any]]) -> list[Any]:
    return [_ask(server.url, method, path, body) for method, path, body in plan]


def _assert_same(plan: list[tuple[str, str, Any]], want: list[Any], got: list[Any]) -> None:
    different = [
        f"{method} {path} {json.dumps(body)[:200]}\n  mlflow:   {json.dumps(a)[:600]}\n"
        f"  aiotrack: {json.dumps(b)[:600]}"
        for (method, path, body), a, b in zip(plan, want, got, strict=True)
        if _sets_sorted(a) != _sets_sorted(b)
    ]
    assert not different, "\n".join(different)


_PY_SET = re.compile(r"\{'[^']*'(?:, '[^']*')*\}")


def _sets_sorted(answer: Any) -> Any:
    """MLflow prints Python sets in some messages, in hash order (which changes between
    processes): compare them sorted."""
    status, body = answer
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return answer

    def ordered(m: re.Match[str]) -> str:
        return "{" + ", ".join(sorted(m.group()[1:-1].split(", "))) + "}"

    return status, {**body, "message": _PY_SET.sub(ordered, body["message"])}


def _check_extras(server: RunningServer, experiment_id: str, trace_ids: list[str]) -> None:
    """What aiotrack answers where MLflow's file store answers 501/500."""
    status, body = _ask(server.url, "GET", f"{V3}/get", {"trace_id": trace_ids[0]})
    assert status == 200, body
    assert len(body["trace"]["spans"]) == 2
    status, body = _ask(server.url, "GET", f"{V3}/batchGet", {"trace_ids": trace_ids[:2]})
    assert status == 200, body
    assert [t["trace_info"]["trace_id"] for t in body["traces"]] == trace_ids[:2]
    status, body = _ask(
        server.url, "POST", f"{V3}/batchGetInfos", {"trace_ids": ["tr-nope", trace_ids[1]]}
    )
    assert status == 200, body
    assert [t["trace_id"] for t in body["trace_infos"]] == [trace_ids[1]]
    status, body = _ask(server.url, *_search(experiment_id, filter="end_time_ms > 0"))
    assert status == 200 and len(body["traces"]) == len(trace_ids), body
    status, body = _ask(
        server.url, "POST", f"{V3}/delete-traces", {"experiment_id": "0", "max_timestamp_millis": 1}
    )
    assert (status, body) == (200, {"traces_deleted": 0})


# ------------------------------------------------------------------------------------ tests


def _client(url: str) -> MlflowClient:
    """A client of ``url``; the fluent tracking URI too, which resolves the client's
    ``mlflow-artifacts:`` downloads (spans)."""
    mlflow.set_tracking_uri(url)
    return MlflowClient(url)


@pytest.fixture
def client_reset() -> Iterator[None]:
    yield
    mlflow.set_tracking_uri("")


def test_traces_written_by_mlflow_client_are_served_as_mlflow_serves_them(
    tmp_path: Path, client_reset: None
) -> None:
    root = tmp_path / "mlruns"
    written = _write_with_reference_client(root.as_uri(), tmp_path)
    experiment_id, trace_ids = written["experiment_id"], written["trace_ids"]
    plan = _reads(experiment_id, trace_ids)
    with _start_reference(root, tmp_path / "ref", tmp_path / "mlartifacts") as ref:
        want = _answers(ref, plan)
    with start_aiotrack(str(root), tmp_path / "aio") as aio:
        got = _answers(aio, plan)
        _assert_same(plan, want, got)
        _check_extras(aio, experiment_id, trace_ids)
        info = want[0][1]["trace"]["trace_info"]
        assert {a["assessment_name"] for a in info["assessments"]} == {"good", "want"}
        # The 3.17.2 client reads the spans from the file:// artifact location the writer used.
        trace = _client(aio.url).get_trace(trace_ids[0])
        assert [s.name for s in trace.data.spans] == ["double", "child"]
        assert trace.info.tags["t1"] == "v1"


def test_client_logs_searches_tags_and_deletes_traces(tmp_path: Path, client_reset: None) -> None:
    root = tmp_path / "mlruns"
    with start_aiotrack(str(root), tmp_path) as aio:
        logged = _log_with_client(aio.url, "client-traces", tmp_path / "client")
        experiment_id, ids = logged["experiment_id"], logged["trace_ids"]
        client = _client(aio.url)

        trace = client.get_trace(ids[0])
        assert [s.name for s in trace.data.spans] == ["square", "inner"]
        (carried,) = trace.info.assessments
        assert (carried.name, carried.value, carried.rationale) == ("inside", 0.5, "why")
        assert carried.assessment_id.startswith("a-") and carried.valid
        location = trace.info.tags["mlflow.artifactLocation"]
        assert location == f"mlflow-artifacts:/{experiment_id}/traces/{ids[0]}/artifacts"
        trace_dir = root / experiment_id / "traces" / ids[0]
        assert (trace_dir / "trace_info.yaml").is_file()
        assert (trace_dir / "tags" / "mlflow.traceName").read_text() == "square"
        assert (trace_dir / "request_metadata" / "mlflow.trace_schema.version").read_text() == "3"
        spans_file = tmp_path / "mlartifacts" / experiment_id / "traces" / ids[0] / "artifacts"
        assert (spans_file / "traces.json").is_file()

        found = mlflow.search_traces(
            locations=[experiment_id], filter_string="tag.kind = 'odd'", return_type="list"
        )
        assert [t.info.trace_id for t in found] == [ids[1]]
        assert [s.name for s in found[0].data.spans] == ["square", "inner"]
        page = client.search_traces(locations=[experiment_id], max_results=3)
        rest = client.search_traces(locations=[experiment_id], max_results=3, page_token=page.token)
        assert [t.info.trace_id for t in page] + [t.info.trace_id for t in rest] == ids[::-1]
        assert rest.token is None
        oldest = client.search_traces(locations=[experiment_id], order_by=["timestamp_ms ASC"])
        assert [t.info.trace_id for t in oldest] == ids

        client.set_trace_tag(ids[2], "k", "v")
        assert client.get_trace(ids[2]).info.tags["k"] == "v"
        client.delete_trace_tag(ids[2], "k")
        assert "k" not in client.get_trace(ids[2]).info.tags
        status, body = _ask(aio.url, "DELETE", f"{V3}/{ids[2]}/tags", {"key": "k"})
        assert (status, body["message"]) == (
            404,
            f"No tag with name: k in trace with ID {ids[2]}.",
        )

        assert client.delete_traces(experiment_id, trace_ids=[ids[3], "tr-nope"]) == 1
        assert not (root / experiment_id / "traces" / ids[3]).exists()
        assert client.delete_traces(experiment_id, max_timestamp_millis=2**62, max_traces=2) == 2
        left = client.search_traces(locations=[experiment_id])
        assert [t.info.trace_id for t in left] == [ids[2]]  # the two oldest went

        status, body = _ask(aio.url, "GET", f"{V3}/{ids[0]}")
        assert (status, body["message"]) == (404, f"Trace with ID '{ids[0]}' not found")
        _check_errors(aio, experiment_id)

        # The reference server reads what aiotrack wrote with aiotrack's answers.
        plan = [("GET", f"{V3}/{ids[2]}", None), ("GET", f"{V2}/{ids[2]}/info", None),
                _search(experiment_id), ("GET", V2, {"experiment_ids": [experiment_id]})]  # fmt: skip
        got = _answers(aio, plan)
    with _start_reference(root, tmp_path / "ref", tmp_path / "mlartifacts") as ref:
        _assert_same(plan, _answers(ref, plan), got)


def _check_errors(aio: RunningServer, experiment_id: str) -> None:
    start = {
        "trace": {
            "trace_info": {
                "trace_id": "tr-new",
                "trace_location": {
                    "type": "MLFLOW_EXPERIMENT",
                    "mlflow_experiment": {"experiment_id": "777"},
                },
                "request_time": "2026-01-01T00:00:00Z",
                "state": "OK",
            }
        }
    }
    assert _ask(aio.url, "POST", V3, start) == (
        404,
        {
            "error_code": "RESOURCE_DOES_NOT_EXIST",
            "message": "Experiment 777 does not exist.",
            "sqlstate": "KAM00",
            "error_class": "RESOURCE_NOT_FOUND",
        },
    )
    info = start["trace"]["trace_info"]
    info["trace_location"]["mlflow_experiment"]["experiment_id"] = experiment_id  # type: ignore[index]
    assert _ask(aio.url, "POST", V3, start)[0] == 200
    status, body = _ask(aio.url, "POST", V3, start)
    assert (status, body["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    info["trace_id"] = "a/b"
    status, body = _ask(aio.url, "POST", V3, start)
    assert (status, body["message"]) == (
        400,
        "Invalid value \"a/b\" for parameter 'trace_id' supplied: must be a single path component",
    )
    status, body = _ask(aio.url, "POST", f"{V2}/link-prompts",
                        {"trace_id": "tr-new", "prompt_versions": [{"name": "p", "version": "1"}]})  # fmt: skip
    assert (status, body["message"]) == (
        400,
        "Linking prompts to traces is not supported in FileStore. Please use a "
        "database-backed store (e.g., SQLAlchemy store) for this feature.",
    )

    # The deprecated v2 start and end.
    status, body = _ask(aio.url, "POST", V2, {
        "experiment_id": experiment_id, "timestamp_ms": 1000,
        "request_metadata": [{"key": "m", "value": "1"}], "tags": [{"key": "t", "value": "2"}],
    })  # fmt: skip
    assert status == 200, body
    started = body["trace_info"]
    assert started["status"] == "IN_PROGRESS" and len(started["request_id"]) == 32
    status, body = _ask(aio.url, "PATCH", f"{V2}/{started['request_id']}", {
        "timestamp_ms": 1500, "status": "OK", "tags": [{"key": "u", "value": "3"}],
    })  # fmt: skip
    assert status == 200, body
    ended = body["trace_info"]
    assert (ended["execution_time_ms"], ended["status"]) == (500, "OK")
    assert {t["key"] for t in ended["tags"]} == {"t", "u", "mlflow.artifactLocation"}


def test_traces_logged_through_reference_server_are_read_by_aiotrack(
    tmp_path: Path, client_reset: None
) -> None:
    root = tmp_path / "mlruns"
    artifacts = tmp_path / "mlartifacts"
    with _start_reference(root, tmp_path / "ref", artifacts) as ref:
        logged = _log_with_client(ref.url, "reference-traces", tmp_path / "client")
        plan = _reads(logged["experiment_id"], logged["trace_ids"])
        want = _answers(ref, plan)
    with start_aiotrack(
        str(root), tmp_path / "aio", "--artifacts-destination", str(artifacts)
    ) as aio:
        _assert_same(plan, want, _answers(aio, plan))
        trace = _client(aio.url).get_trace(logged["trace_ids"][1])
        assert [s.name for s in trace.data.spans] == ["square", "inner"]
        assert trace.info.tags["kind"] == "odd"
