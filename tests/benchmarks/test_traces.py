"""The tracing benchmark's request bodies and database helpers (bench/traces.py, tracedb.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.tracedb import spans_ceiling
from bench.traces import build_trace, renew


def _parse(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


def test_trace_body_is_one_trace_of_twenty_spans_root_last() -> None:
    template = build_trace(20)
    spans = list(_parse(template.body()).resource_spans[0].scope_spans[0].spans)
    assert len(spans) == 20
    assert {s.trace_id for s in spans} == {template.trace_id}
    assert [s.parent_span_id for s in spans].count(b"") == 1
    assert spans[-1].parent_span_id == b""  # the root ends last, as the exporter sends it
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in spans[:-1])
    attrs = {kv.key: kv.value for kv in spans[0].attributes}
    assert attrs["mlflow.traceRequestId"].string_value == "tr-" + template.trace_id.hex()
    assert "mlflow.chat.tokenUsage" in {kv.key for s in spans for kv in s.attributes}


def test_renew_gives_every_span_the_new_trace_id() -> None:
    template = build_trace(20)
    new_id = bytes(range(16))
    body = renew(template.body(), template.trace_id, new_id)
    spans = _parse(body).resource_spans[0].scope_spans[0].spans
    assert len(body) == len(template.body())
    for span in spans:
        assert span.trace_id == new_id
        attrs = {kv.key: kv.value.string_value for kv in span.attributes}
        assert attrs["mlflow.traceRequestId"] == "tr-" + new_id.hex()


def test_spans_ceiling_writes_whole_traces(tmp_path: Path) -> None:
    db = tmp_path / "ceiling.db"
    rate = spans_ceiling(f"sqlite:///{db}", traces=128, per_commit=64)
    assert rate > 0
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM trace_info").fetchone()[0] == 128
        assert con.execute("SELECT count(*) FROM spans").fetchone()[0] == 128 * 20
    finally:
        con.close()
