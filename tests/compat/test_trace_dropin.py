"""Drop-in for traces, both directions, on SQLite and PostgreSQL: traces written by
``mlflow server`` 3.18 are served by aiotrack with the same answers, and traces written through
aiotrack are served by ``mlflow server`` 3.18 with the same answers.

1. The *writer* starts on an empty database; the real client logs a fixed trace set into it
   (:func:`populate`: nested spans with a failing leaf, attributes, inputs/outputs, tags and
   metadata, a trace in a run, token usage, a client request id, an OTLP-ingested trace, a
   linked prompt, a deleted trace, a tag set and a tag deleted).
2. The writer answers a fixed set of reads (:func:`read_plan`: v3 ``traces/get`` and
   ``traces/{id}`` for every trace, v3 search with filters and orders, the v2 search and
   ``/{id}/info``, ``get-trace-artifact``); the JSON answers are recorded and the writer stops.
3. The *reader* starts on the **same** database (and working directory, so a trace whose spans
   went to ``./mlartifacts`` is found too) and must give the same answers.

With ``AIOTRACK_TRACE_TESTS_SERVER=reference`` the reference plays both parts, which proves the
plan is deterministic. Only what legitimately varies is normalised: lists MLflow does not order
(span attributes, v2 key/value lists) and page tokens, which are opaque and followed per server.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests
from mlflow.entities import SpanType
from mlflow.tracing.constant import SpanAttributeKey
from mlflow.tracking import MlflowClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.compat.conftest import TRACE_TARGET, point_tracing_at
from tests.databases import backend_database
from tests.servers import RunningServer, reference18_bin, start_aiotrack, start_mlflow_reference

pytestmark = [pytest.mark.compat, pytest.mark.reference]

TIMEOUT_S = 60
API3 = "/api/3.0/mlflow"

# Lines in the reference server's log that mean it did not take the database as it was.
MIGRATION_MARKERS = (
    "Creating initial MLflow database tables",
    "Updating database tables",
    "Running upgrade",
    "out-of-date database schema",
    "Can't locate revision",
    "mlflow db upgrade",
)

Starter = Callable[[str, Path], RunningServer]


def start_reference(uri: str, workdir: Path) -> RunningServer:
    return start_mlflow_reference(uri, workdir, bindir=reference18_bin())


def start_subject(uri: str, workdir: Path) -> RunningServer:
    """aiotrack, or the reference itself when the suite targets it."""
    if TRACE_TARGET == "reference":
        return start_reference(uri, workdir)
    return start_aiotrack(uri, workdir)


# --------------------------------------------------------------------------------------------
# The trace set


def populate(url: str) -> list[str]:
    """Log the trace set through the real client; returns the experiment ids."""
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    point_tracing_at(url)
    client = MlflowClient(url)
    try:
        main = client.create_experiment("dropin-traces-main")
        other = client.create_experiment("dropin-traces-other")
        mlflow.set_experiment(experiment_id=main)

        @mlflow.trace(span_type=SpanType.TOOL)
        def leaf(x: int) -> int:
            if x < 0:
                raise ValueError("negative")
            return x

        @mlflow.trace(span_type=SpanType.AGENT)
        def agent(x: int) -> int:
            mlflow.update_current_trace(
                tags={"team": "red" if x % 2 else "blue"},
                metadata={"env": "prod" if x > 1 else "dev"},
                client_request_id=f"req-{x}",
            )
            with mlflow.start_span("prepare", span_type=SpanType.CHAIN) as span:
                span.set_inputs({"x": x, "nested": {"list": [1, 2.5, None, "s"]}})
                span.set_attribute("weight", 0.75)
                span.set_outputs([x, x])
            with mlflow.start_span("llm", span_type=SpanType.CHAT_MODEL) as llm:
                llm.set_attribute(
                    SpanAttributeKey.CHAT_USAGE,
                    {"input_tokens": x, "output_tokens": 2 * x, "total_tokens": 3 * x},
                )
                llm.set_outputs("text")
            try:
                leaf(-x)
            except ValueError:
                pass
            return leaf(x)

        for x in range(1, 5):
            agent(x)
        with mlflow.start_run(experiment_id=main):
            agent(10)
        try:
            with mlflow.start_span("fails", span_type=SpanType.RETRIEVER):
                raise RuntimeError("whole trace fails")
        except RuntimeError:
            pass
        ids = [t.info.trace_id for t in client.search_traces(locations=[main])]
        client.set_trace_tag(ids[0], "reviewed", "yes")
        client.delete_trace_tag(ids[1], "team")
        client.delete_traces(main, trace_ids=[ids[2]])
        resp = requests.post(
            f"{url}/api/2.0/mlflow/traces/link-prompts",
            json={"trace_id": ids[3], "prompt_versions": [{"name": "qa", "version": "3"}]},
            timeout=TIMEOUT_S,
        )
        assert resp.status_code == 200, resp.text
    finally:
        point_tracing_at(None)
        os.environ.pop("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", None)

    # A trace that came in over OTLP, in the other experiment.
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("dropin")
    with tracer.start_as_current_span("otlp-root") as root:
        root.set_attribute("source", "otel")
        with tracer.start_as_current_span("otlp-child") as child:
            child.add_event("tick", {"n": 1})
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"x-mlflow-experiment-id": other}, timeout=TIMEOUT_S
    )
    assert exporter.export(list(memory.get_finished_spans())) == SpanExportResult.SUCCESS
    provider.shutdown()
    return [main, other]


# --------------------------------------------------------------------------------------------
# The reads


def locations(experiment_ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": e}}
        for e in experiment_ids
    ]


SEARCHES: list[dict[str, Any]] = [
    {},
    {"order_by": ["timestamp_ms ASC"]},
    {"order_by": ["execution_time DESC", "timestamp_ms ASC"]},
    {"filter": "trace.status = 'ERROR'"},
    {"filter": "span.type = 'TOOL' AND tags.team = 'red'"},
    {"filter": "metadata.env = 'prod'"},
    {"filter": "span.name = 'otlp-child'"},
    {"filter": "prompt = 'qa/3'"},
    {"filter": "tags.reviewed = 'yes'"},
    {"filter": "trace.client_request_id = 'req-4'"},
    {"max_results": 2},  # pages followed to the end
]


def _by_key(items: list[Any]) -> list[Any]:
    if all(isinstance(i, dict) and "key" in i for i in items):
        return sorted(items, key=lambda i: str(i["key"]))
    return items


def normalise(value: Any) -> Any:
    """Sort the lists MLflow does not order; drop page tokens (opaque, followed per server)."""
    if isinstance(value, dict):
        return {
            k: normalise(_by_key(v) if isinstance(v, list) else v)
            for k, v in value.items()
            if k != "next_page_token"
        }
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def _search_all(url: str, experiment_ids: list[str], body: dict[str, Any]) -> list[Any]:
    """``[status, [page bodies]]``: the first non-200 status (or 200), every page followed."""
    pages = []
    token = None
    for _ in range(20):
        request = {"locations": locations(experiment_ids), **body}
        if token:
            request["page_token"] = token
        resp = requests.post(f"{url}{API3}/traces/search", json=request, timeout=TIMEOUT_S)
        pages.append(resp.json())
        if resp.status_code != 200:
            return [resp.status_code, pages]
        token = resp.json().get("next_page_token")
        if not token:
            return [200, pages]
    raise AssertionError("search pages never ended")


def read_plan(url: str, experiment_ids: list[str]) -> dict[str, Any]:
    """Every read, keyed by a readable name: JSON answers with their status codes."""
    answers: dict[str, Any] = {}
    for body in SEARCHES:
        answers[f"search {json.dumps(body)}"] = _search_all(url, experiment_ids, body)
    trace_ids = [t["trace_id"] for page in answers["search {}"][1] for t in page.get("traces", [])]
    assert len(trace_ids) == 6, trace_ids  # 5 agents + 1 failed - 1 deleted + 1 OTLP
    for trace_id in trace_ids:
        for name, path, params in (
            ("get", f"{API3}/traces/get", {"trace_id": trace_id}),
            ("info", f"{API3}/traces/{trace_id}", {}),
            ("v2 info", f"/api/2.0/mlflow/traces/{trace_id}/info", {}),
            ("artifact", "/ajax-api/2.0/mlflow/get-trace-artifact", {"request_id": trace_id}),
        ):
            resp = requests.get(f"{url}{path}", params=params, timeout=TIMEOUT_S)
            body = resp.json() if name != "artifact" else json.loads(resp.content)
            answers[f"{name} {trace_id}"] = [resp.status_code, body]
    resp = requests.get(
        f"{url}/api/2.0/mlflow/traces",
        params=[("experiment_ids", e) for e in experiment_ids] + [("max_results", "100")],
        timeout=TIMEOUT_S,
    )
    answers["v2 search"] = [resp.status_code, resp.json()]
    resp = requests.post(
        f"{url}{API3}/traces/batchGetInfos", json={"trace_ids": trace_ids}, timeout=TIMEOUT_S
    )
    answers["batchGetInfos"] = [resp.status_code, resp.json()]
    return normalise(answers)  # type: ignore[no-any-return]


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """The JSON path of the first place ``a`` and ``b`` differ, with both values there."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: {a.get(key, '<absent>')!r} != {b.get(key, '<absent>')!r}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def assert_same(writer: str, before: dict[str, Any], reader: str, after: dict[str, Any]) -> None:
    for name, answer in before.items():
        assert answer[0] == 200, f"{writer}: {name} answered {json.dumps(answer)[:1500]}"
    differing = {
        name: first_difference(before[name], after.get(name))
        for name in before
        if before[name] != after.get(name)
    }
    assert not differing, (
        f"{len(differing)} of {len(before)} answers differ ({writer} != {reader}):\n"
        + "\n".join(f"  {name}: {where}" for name, where in differing.items())
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_database(request.param, tmp_path, f"tracedropin_{uuid.uuid4().hex[:6]}") as uri:
        yield uri


def _write_then_read(
    uri: str, workdir: Path, writer: Starter, reader: Starter, names: tuple[str, str]
) -> None:
    with writer(uri, workdir) as server:
        experiment_ids = populate(server.url)
        before = read_plan(server.url, experiment_ids)
    with reader(uri, workdir) as server:
        health = requests.get(f"{server.url}/health", timeout=TIMEOUT_S)
        assert health.status_code == 200, health.text
        if reader is start_reference:
            log = server.log_path.read_text(errors="replace")
            markers = [m for m in MIGRATION_MARKERS if m in log]
            assert not markers, (
                f"mlflow server did not take the database as is ({markers}):\n{server.log_tail(80)}"
            )
        after = read_plan(server.url, experiment_ids)
        # The client reads the spans back the same way too.
        client = MlflowClient(server.url)
        for key, answer in after.items():
            if key.startswith("get "):
                trace = client.get_trace(key.removeprefix("get "))
                assert len(trace.data.spans) == len(answer[1]["trace"]["spans"])
    assert_same(names[0], before, names[1], after)


def test_reference_traces_served_by_subject(database: str, tmp_path: Path) -> None:
    """mlflow server 3.18 writes the traces, aiotrack reads them: identical answers."""
    _write_then_read(
        database, tmp_path, start_reference, start_subject, ("mlflow server", TRACE_TARGET)
    )


def test_subject_traces_served_by_reference(database: str, tmp_path: Path) -> None:
    """aiotrack creates the database and writes the traces, mlflow server 3.18 reads them."""
    _write_then_read(
        database, tmp_path, start_subject, start_reference, (TRACE_TARGET, "mlflow server")
    )
