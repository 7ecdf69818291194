"""Spans MLflow's trace archival wrote to ``traces.pb`` (OTLP ``TracesData``), read back as
MLflow reads them (``traces_data_pb_to_spans``, then ``Span.to_dict``); MLflow's library in the
venv is the oracle."""

from __future__ import annotations

import json

import pytest
from mlflow.tracing.otel.otel_archival import traces_data_pb_to_spans
from mlflow.tracing.utils import TraceJSONEncoder
from opentelemetry.proto.trace.v1.trace_pb2 import Status, TracesData

from aiotrack.tracing.spans import archived_trace_contents
from tests.tracing.otlp_builders import T0, new_span_id, new_trace_id, request, span


def _archive() -> bytes:
    tid, root, child, other = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    message = request(
        (
            {"service.name": "svc"},
            [
                span(tid, child, root, name="child", start=T0 + 5, attributes={"n": 3},
                     events=[("ev", T0 + 6, {"k": "v"})], status=(Status.STATUS_CODE_ERROR, "x")),
                span(tid, root, name="root", start=T0,
                     attributes={"mlflow.traceRequestId": '"tr-kept"', "mlflow.spanInputs": '{"q": 1}'}),
                span(tid, other, root, name="same start", start=T0 + 5),
            ],
        )
    )  # fmt: skip
    data = TracesData()
    data.resource_spans.extend(message.resource_spans)
    return data.SerializeToString()


def test_archived_spans_read_as_mlflow_reads_them() -> None:
    data = _archive()
    ours = [json.loads(c) for c in archived_trace_contents(data)]
    spans = traces_data_pb_to_spans(data)
    spans.sort(key=lambda s: (0 if s.parent_id is None else 1, s.start_time_ns, s.span_id))
    theirs = [json.loads(json.dumps(s.to_dict(), cls=TraceJSONEncoder)) for s in spans]
    for span_dict in ours:
        assert span_dict.pop("kind") == "SPAN_KIND_INTERNAL"  # 3.18 keeps it; 3.17.2 has none
    assert ours == theirs


def test_a_payload_that_is_not_traces_data_is_refused() -> None:
    with pytest.raises(ValueError):
        archived_trace_contents(b"\xff\xff not protobuf")
