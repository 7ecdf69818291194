"""MLflow 3.18 as the oracle for OTLP ingest: run under the reference venv's Python, not pytest.

Reads one JSON command per line on stdin and answers one JSON line on stdout:

- ``{"op": "ingest", "body_b64", "content_type"}``: MLflow's own ``otel_api.export_traces``
  handles the body against a ``SqlAlchemyStore`` on a private SQLite file, in a new
  experiment; the answer is the HTTP outcome and what the store wrote: the ``spans`` rows, and
  per trace its ``trace_info`` columns, tags and metadata.
- ``{"op": "client", "scenario"}``: runs a scenario with the MLflow tracing client (a second
  SQLite store, so nothing reaches the ingest store), captures the spans its exporter logs,
  and answers the OTLP protobuf body ``RestStore.log_spans`` would POST for them.
- ``{"op": "call", "function", "args"}``: one of MLflow's helpers (see ``FUNCTIONS``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import tempfile
import uuid
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
# No network: the bundled model catalog prices spans, as on an offline server.
os.environ["MLFLOW_MODEL_CATALOG_URI"] = ""

import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from fastapi import HTTPException  # noqa: E402
from mlflow.server import handlers, otel_api  # noqa: E402
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: E402
from mlflow.tracing.utils.otlp import resource_to_otel_proto  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)

WORKDIR = tempfile.mkdtemp(prefix="mlflow-oracle-")
SERVER_URI = f"sqlite:///{WORKDIR}/server.db"
CLIENT_URI = f"sqlite:///{WORKDIR}/client.db"


class _Request:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def body(self) -> bytes:
        return self._body


def _store() -> SqlAlchemyStore:
    if handlers._tracking_store is None:
        handlers._tracking_store = SqlAlchemyStore(SERVER_URI, f"{WORKDIR}/artifacts")
    return handlers._tracking_store  # type: ignore[no-any-return]


def _rows(conn: sa.Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(sa.text(sql), params)]


def ingest(body: bytes, content_type: str) -> dict[str, Any]:
    store = _store()
    experiment_id = store.create_experiment(f"oracle-{uuid.uuid4().hex}")
    try:
        response = asyncio.run(
            otel_api.export_traces(
                request=_Request(body),  # type: ignore[arg-type]
                x_mlflow_experiment_id=experiment_id,
                x_mlflow_run_id=None,
                content_type=content_type,
                content_encoding=None,
                user_agent=None,
                x_mlflow_workspace=None,
            )
        )
        status = response.status_code
        answer: Any = response.body.decode("utf-8", "replace")
        if status != 200:
            answer = json.loads(answer)
    except HTTPException as exc:
        return {"status": exc.status_code, "body": {"detail": exc.detail}}
    with store.engine.connect() as conn:
        spans = _rows(
            conn,
            "SELECT trace_id, span_id, parent_span_id, name, type, status, start_time_unix_nano,"
            " end_time_unix_nano, content, input_cost, output_cost, total_cost, model_name,"
            " model_provider FROM spans WHERE experiment_id = :e",
            e=int(experiment_id),
        )
        traces = {}
        for info in _rows(
            conn, "SELECT * FROM trace_info WHERE experiment_id = :e", e=int(experiment_id)
        ):
            trace_id = info["request_id"]
            tags = _rows(
                conn, "SELECT key, value FROM trace_tags WHERE request_id = :t", t=trace_id
            )
            metadata = _rows(
                conn,
                "SELECT key, value FROM trace_request_metadata WHERE request_id = :t",
                t=trace_id,
            )
            traces[trace_id] = {
                "info": info,
                "tags": {row["key"]: row["value"] for row in tags},
                "metadata": {row["key"]: row["value"] for row in metadata},
            }
    return {"status": status, "body": answer, "spans": spans, "traces": traces}


def _scenario_chat() -> None:
    @mlflow.trace(span_type="AGENT")
    def agent(question: str) -> str:
        mlflow.update_current_trace(
            tags={"team": "ml", "note": "ünïcode ✓"}, metadata={"mlflow.trace.session": "s-1"}
        )
        with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": question})
            span.set_outputs([{"page_content": "doc 1", "metadata": {"id": 1}}])
        with mlflow.start_span("llm", span_type="CHAT_MODEL") as span:
            span.set_inputs(
                {
                    "model": "gpt-4o-mini",
                    "messages": [
                        {"role": "system", "content": "be brief"},
                        {"role": "user", "content": question},
                    ],
                }
            )
            span.set_attribute(
                "mlflow.chat.tokenUsage",
                {
                    "input_tokens": 12,
                    "output_tokens": 5,
                    "total_tokens": 17,
                },
            )
            span.set_outputs(
                {
                    "choices": [{"message": {"role": "assistant", "content": "Paris ☀"}}],
                    "model": "gpt-4o-mini",
                }
            )
        return "Paris ☀"

    agent("Capital of France? «café»")


def _scenario_error() -> None:
    @mlflow.trace
    def failing(x: int) -> int:
        with mlflow.start_span("child") as span:
            span.add_event(mlflow.entities.SpanEvent("checkpoint", attributes={"k": "v", "n": 3}))
        raise ValueError(f"bad value {x}")

    try:
        failing(3)
    except ValueError:
        pass


def _scenario_wide() -> None:
    @mlflow.trace(name="root op")
    def root() -> dict[str, Any]:
        for i in range(19):
            with mlflow.start_span(f"step {i}", span_type="TOOL") as span:
                span.set_inputs({"i": i, "payload": "x" * 200, "nested": {"a": [1, 2.5, None]}})
                span.set_outputs({"ok": True, "i": i})
        return {"done": True}

    root()


SCENARIOS = {"chat": _scenario_chat, "error": _scenario_error, "wide": _scenario_wide}


def _sdk_request(spans: list[Any]) -> ExportTraceServiceRequest:
    """What an OTLP exporter sends for OTel SDK spans: their raw attribute values (MLflow's
    JSON text), as ``opentelemetry-exporter-otlp-proto-common`` encodes them."""
    from mlflow.tracing.utils.otlp import _set_otel_proto_anyvalue
    from opentelemetry.trace import StatusCode

    def attributes(target: Any, values: Any) -> None:
        for key, value in (values or {}).items():
            kv = target.add()
            kv.key = key
            _set_otel_proto_anyvalue(kv.value, value)

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attributes(resource_spans.resource.attributes, spans[0].resource.attributes)
    scope_spans = resource_spans.scope_spans.add()
    codes = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
    for sdk_span in spans:
        message = scope_spans.spans.add()
        message.trace_id = sdk_span.context.trace_id.to_bytes(16, "big")
        message.span_id = sdk_span.context.span_id.to_bytes(8, "big")
        if sdk_span.parent is not None:
            message.parent_span_id = sdk_span.parent.span_id.to_bytes(8, "big")
        message.name = sdk_span.name
        message.kind = sdk_span.kind.value + 1
        message.start_time_unix_nano = sdk_span.start_time
        message.end_time_unix_nano = sdk_span.end_time
        attributes(message.attributes, sdk_span.attributes)
        for event in sdk_span.events:
            proto_event = message.events.add(name=event.name, time_unix_nano=event.timestamp)
            attributes(proto_event.attributes, event.attributes)
        message.status.code = codes[sdk_span.status.status_code]
        if sdk_span.status.description:
            message.status.message = sdk_span.status.description
    return request


def _otel_processor_body(scenario: str) -> dict[str, Any]:
    """The scenario traced through MLflow's OtelSpanProcessor (its OTLP export path)."""
    from mlflow.tracing import provider
    from mlflow.tracing.processor.otel import OtelSpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Capture(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[Any] = []

        def export(self, spans: Any) -> SpanExportResult:
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

    capture = Capture()
    processor = OtelSpanProcessor(span_exporter=capture, export_metrics=False)
    original = provider._get_span_processors
    provider._get_span_processors = lambda disabled=False: [] if disabled else [processor]  # type: ignore[assignment]
    provider.reset()
    try:
        SCENARIOS[scenario]()
        processor.force_flush()
    finally:
        provider._get_span_processors = original  # type: ignore[assignment]
        provider.reset()
    request = _sdk_request(capture.spans)
    return {"body_b64": base64.b64encode(request.SerializeToString()).decode()}


def client(scenario: str) -> dict[str, Any]:
    if scenario.startswith("otel-"):
        return _otel_processor_body(scenario.removeprefix("otel-"))
    captured: list[Any] = []
    original = SqlAlchemyStore.log_spans

    def capture(self: Any, location: str, spans: list[Any], tracking_uri: Any = None) -> Any:
        captured.extend(spans)
        return spans

    mlflow.set_tracking_uri(CLIENT_URI)
    mlflow.set_experiment("oracle-client")
    SqlAlchemyStore.log_spans = capture  # type: ignore[method-assign]
    try:
        SCENARIOS[scenario]()
        mlflow.flush_trace_async_logging()
    finally:
        SqlAlchemyStore.log_spans = original  # type: ignore[method-assign]
    # What RestStore.log_spans POSTs for a batch of spans.
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.CopyFrom(
        resource_to_otel_proto(getattr(captured[0]._span, "resource", None))
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.spans.extend(span.to_otel_proto() for span in captured)
    return {"body_b64": base64.b64encode(request.SerializeToString()).decode()}


def _call(function: str, args: list[Any]) -> Any:
    from mlflow.tracing.utils.truncation import _get_truncated_preview
    from mlflow.utils.providers import _catalog_pkg

    functions = {
        "truncated_preview": _get_truncated_preview,
        "catalog_dir": lambda: str(_catalog_pkg()),
    }
    return functions[function](*args)


def main() -> None:
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["op"] == "ingest":
                result = ingest(base64.b64decode(command["body_b64"]), command["content_type"])
            elif command["op"] == "client":
                result = client(command["scenario"])
            else:
                result = {"value": _call(command["function"], command["args"])}
        except Exception as exc:  # the test shows it
            result = {"oracle_error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(result, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
