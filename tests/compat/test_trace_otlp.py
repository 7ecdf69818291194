"""OTLP ingest at ``POST /v1/traces`` from the OpenTelemetry SDK's own HTTP exporter
(``opentelemetry-exporter-otlp-proto-http``), and from hand-written OTLP JSON: the spans land as
an MLflow trace in the experiment the ``x-mlflow-experiment-id`` header names, are searchable,
``x-mlflow-run-id`` links the trace to a run, and a request the server cannot take stores
nothing. As ``mlflow server`` 3.18 does (``AIOTRACK_TRACE_TESTS_SERVER=reference``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from mlflow.entities import Trace
from mlflow.tracking import MlflowClient
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.servers import RunningServer

pytestmark = [pytest.mark.compat]

TIMEOUT_S = 30
OTLP_PATH = "/v1/traces"


@pytest.fixture
def experiment_id(trace_server: RunningServer) -> str:
    return MlflowClient(trace_server.url).create_experiment(f"otlp-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A private tracer provider (not the global one mlflow uses) that keeps finished spans."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "otlp-compat-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        yield provider, memory
    finally:
        provider.shutdown()


def make_spans(provider: TracerProvider, memory: InMemorySpanExporter) -> list[ReadableSpan]:
    """One trace: a SERVER root with a failing CLIENT child that records an exception."""
    memory.clear()
    tracer = provider.get_tracer("compat")
    with tracer.start_as_current_span("otel-root", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/ask")
        root.set_attribute("retries", 2)
        root.set_attribute("ratio", 0.5)
        root.set_attribute("flags", [True, False])
        with tracer.start_as_current_span("otel-child", kind=SpanKind.CLIENT) as child:
            child.set_attribute("db.system", "postgresql")
            child.add_event("cache-miss", {"key": "k1"})
            child.record_exception(ValueError("child broke"))
            child.set_status(Status(StatusCode.ERROR, "child broke"))
    spans = list(memory.get_finished_spans())
    assert [s.name for s in spans] == ["otel-child", "otel-root"]
    return spans


def mlflow_trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"tr-{span.context.trace_id:032x}"


def exporter(url: str, **headers: str) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"{url}{OTLP_PATH}", headers=headers, timeout=TIMEOUT_S)


def by_name(trace: Trace) -> dict[str, Any]:
    return {s.name: s for s in trace.data.spans}


def test_sdk_exporter_spans_land(
    trace_server: RunningServer,
    experiment_id: str,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    spans = make_spans(*recorded)
    result = exporter(trace_server.url, **{"x-mlflow-experiment-id": experiment_id}).export(spans)
    assert result == SpanExportResult.SUCCESS
    client = MlflowClient(trace_server.url)
    trace_id = mlflow_trace_id(spans[0])
    (found,) = client.search_traces(locations=[experiment_id])
    assert found.info.trace_id == trace_id
    assert found.info.experiment_id == experiment_id
    trace = client.get_trace(trace_id)
    spans_of = by_name(trace)
    assert set(spans_of) == {"otel-root", "otel-child"}
    root, child = spans_of["otel-root"], spans_of["otel-child"]
    assert root.parent_id is None
    assert child.parent_id == root.span_id
    assert root.span_id == f"{spans[1].context.span_id:016x}"  # type: ignore[union-attr]
    assert root.start_time_ns == spans[1].start_time
    assert root.end_time_ns == spans[1].end_time
    assert root.get_attribute("http.route") == "/ask"
    assert root.get_attribute("retries") == 2
    assert root.get_attribute("ratio") == 0.5
    assert root.get_attribute("flags") == [True, False]
    assert child.get_attribute("db.system") == "postgresql"
    assert child.status.status_code.value == "ERROR"
    assert child.status.description == "child broke"
    assert root.status.status_code.value in ("OK", "UNSET")
    assert [e.name for e in child.events] == ["cache-miss", "exception"]
    assert child.events[0].attributes == {"key": "k1"}
    assert child.events[1].attributes["exception.type"] == "ValueError"
    assert trace.info.state.value == "OK"
    # Whole milliseconds of each end, as MLflow's SQL store keeps them.
    start_ms, end_ms = spans[1].start_time // 1_000_000, spans[1].end_time // 1_000_000  # type: ignore[operator]
    assert trace.info.request_time == start_ms
    assert trace.info.execution_duration == end_ms - start_ms
    # Searchable by span and state like any other trace (MLflow sets no trace-name tag on
    # OTLP-ingested traces, so trace.name does not find them).
    for filter_string in ("span.name = 'otel-child'", "trace.status = 'OK'"):
        hits = client.search_traces(locations=[experiment_id], filter_string=filter_string)
        assert [t.info.trace_id for t in hits] == [trace_id], filter_string


def test_gzip_export(
    trace_server: RunningServer,
    experiment_id: str,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    spans = make_spans(*recorded)
    gzip = OTLPSpanExporter(
        endpoint=f"{trace_server.url}{OTLP_PATH}",
        headers={"x-mlflow-experiment-id": experiment_id},
        compression=Compression.Gzip,
        timeout=TIMEOUT_S,
    )
    assert gzip.export(spans) == SpanExportResult.SUCCESS
    trace = MlflowClient(trace_server.url).get_trace(mlflow_trace_id(spans[0]))
    assert set(by_name(trace)) == {"otel-root", "otel-child"}


def test_run_header_links_trace_to_run(
    trace_server: RunningServer,
    experiment_id: str,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    client = MlflowClient(trace_server.url)
    run_id = client.create_run(experiment_id).info.run_id
    linked = make_spans(*recorded)
    headers = {"x-mlflow-experiment-id": experiment_id, "x-mlflow-run-id": run_id}
    assert exporter(trace_server.url, **headers).export(linked) == SpanExportResult.SUCCESS
    unlinked = make_spans(*recorded)
    headers = {"x-mlflow-experiment-id": experiment_id}
    assert exporter(trace_server.url, **headers).export(unlinked) == SpanExportResult.SUCCESS
    found = client.search_traces(locations=[experiment_id], run_id=run_id)
    assert [t.info.trace_id for t in found] == [mlflow_trace_id(linked[0])]
    assert len(client.search_traces(locations=[experiment_id])) == 2


def test_request_without_experiment_header_stores_nothing(
    trace_server: RunningServer,
    experiment_id: str,
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    spans = make_spans(*recorded)
    assert exporter(trace_server.url).export(spans) == SpanExportResult.FAILURE
    body = encode_spans(spans).SerializeToString()
    resp = requests.post(
        f"{trace_server.url}{OTLP_PATH}",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=TIMEOUT_S,
    )
    assert 400 <= resp.status_code < 500, resp.text
    trace_id = mlflow_trace_id(spans[0])
    resp = requests.get(f"{trace_server.url}/api/3.0/mlflow/traces/{trace_id}", timeout=TIMEOUT_S)
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"hello"),
        ("application/x-protobuf", b"\xff\xff\xff not protobuf"),
        ("application/x-protobuf", b""),  # no resource spans
        ("application/json", b"{not json"),
        ("application/json", b'{"resourceSpans": []}'),
    ],
    ids=["content-type", "garbage-protobuf", "empty-protobuf", "garbage-json", "no-spans-json"],
)
def test_unusable_bodies_are_400(
    trace_server: RunningServer, experiment_id: str, content_type: str, body: bytes
) -> None:
    resp = requests.post(
        f"{trace_server.url}{OTLP_PATH}",
        data=body,
        headers={"Content-Type": content_type, "x-mlflow-experiment-id": experiment_id},
        timeout=TIMEOUT_S,
    )
    assert resp.status_code == 400, resp.text
    assert not MlflowClient(trace_server.url).search_traces(locations=[experiment_id])


def otlp_json(trace_hex: str, root_hex: str, child_hex: str, start_ns: int) -> dict[str, Any]:
    """An OTLP/JSON request (hex ids, integers as strings) with a root and one child span."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "handwritten"},
                        "spans": [
                            {
                                "traceId": trace_hex,
                                "spanId": root_hex,
                                "name": "json-root",
                                "kind": 2,
                                "startTimeUnixNano": str(start_ns),
                                "endTimeUnixNano": str(start_ns + 250_000_000),
                                "attributes": [
                                    {"key": "answer", "value": {"intValue": "42"}},
                                    {"key": "who", "value": {"stringValue": "json"}},
                                ],
                                "status": {"code": 1},
                            },
                            {
                                "traceId": trace_hex,
                                "spanId": child_hex,
                                "parentSpanId": root_hex,
                                "name": "json-child",
                                "kind": 3,
                                "startTimeUnixNano": str(start_ns + 10_000_000),
                                "endTimeUnixNano": str(start_ns + 20_000_000),
                                "attributes": [
                                    {"key": "pi", "value": {"doubleValue": 3.5}},
                                ],
                                "status": {"code": 2, "message": "nope"},
                            },
                        ],
                    }
                ],
            }
        ]
    }


def test_json_body(trace_server: RunningServer, experiment_id: str) -> None:
    trace_hex, root_hex, child_hex = (
        secrets.token_hex(16),
        secrets.token_hex(8),
        secrets.token_hex(8),
    )
    start_ns = 1_760_000_000_000_000_000
    resp = requests.post(
        f"{trace_server.url}{OTLP_PATH}",
        json=otlp_json(trace_hex, root_hex, child_hex, start_ns),
        headers={"x-mlflow-experiment-id": experiment_id},
        timeout=TIMEOUT_S,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}  # the response speaks the request's encoding
    client = MlflowClient(trace_server.url)
    trace = client.get_trace(f"tr-{trace_hex}")
    spans = by_name(trace)
    assert spans["json-root"].span_id == root_hex
    assert spans["json-child"].parent_id == root_hex
    assert spans["json-root"].get_attribute("answer") == 42
    assert spans["json-root"].get_attribute("who") == "json"
    assert spans["json-child"].get_attribute("pi") == 3.5
    assert spans["json-child"].status.status_code.value == "ERROR"
    assert spans["json-root"].start_time_ns == start_ns
    assert trace.info.request_time == start_ns // 1_000_000
    assert trace.info.execution_duration == 250
    (found,) = client.search_traces(
        locations=[experiment_id], filter_string="span.name = 'json-child'"
    )
    assert found.info.trace_id == f"tr-{trace_hex}"
