"""Small builders for OTLP export requests in tests (protobuf messages, and OTLP JSON)."""

from __future__ import annotations

import base64
import os
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T0 = 1_790_000_000_000_000_000  # a start time in ns


def any_value(target: AnyValue, value: Any) -> None:
    """Set ``target`` to ``value`` (str, bool, int, float, bytes, list, dict or None)."""
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            any_value(target.array_value.values.add(), item)
    else:
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            kv = target.kvlist_value.values.add()
            kv.key = key
            any_value(kv.value, item)


def _attributes(repeated: Any, attributes: dict[str, Any] | list[tuple[str, Any]]) -> None:
    items = attributes.items() if isinstance(attributes, dict) else attributes
    for key, value in items:
        kv = repeated.add()
        kv.key = key
        any_value(kv.value, value)


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def span(
    trace_id: bytes,
    span_id: bytes | None = None,
    parent: bytes | None = None,
    *,
    name: str = "span",
    attributes: dict[str, Any] | list[tuple[str, Any]] | None = None,
    events: list[tuple[str, int, dict[str, Any]]] = (),  # type: ignore[assignment]
    links: list[tuple[bytes, bytes, dict[str, Any]]] = (),  # type: ignore[assignment]
    status: tuple[int, str] = (Status.STATUS_CODE_UNSET, ""),
    kind: int = Span.SPAN_KIND_INTERNAL,
    start: int = T0,
    end: int | None = T0 + 5_000_000,
) -> Span:
    message = Span(
        trace_id=trace_id,
        span_id=new_span_id() if span_id is None else span_id,
        name=name,
        kind=kind,
    )  # type: ignore[arg-type]
    if parent is not None:
        message.parent_span_id = parent
    message.start_time_unix_nano = start
    if end is not None:
        message.end_time_unix_nano = end
    _attributes(message.attributes, attributes or {})
    for event_name, time_ns, event_attributes in events:
        event = message.events.add(name=event_name, time_unix_nano=time_ns)
        _attributes(event.attributes, event_attributes)
    for link_trace, link_span, link_attributes in links:
        link = message.links.add(trace_id=link_trace, span_id=link_span)
        _attributes(link.attributes, link_attributes)
    message.status.code = status[0]  # type: ignore[assignment]
    message.status.message = status[1]
    return message


def request(
    *blocks: tuple[dict[str, Any] | list[tuple[str, Any]], list[Span]],
) -> ExportTraceServiceRequest:
    """An export request with one ``ResourceSpans`` per (resource attributes, spans) block."""
    message = ExportTraceServiceRequest()
    for resource_attributes, spans in blocks:
        resource_spans = message.resource_spans.add()
        _attributes(resource_spans.resource.attributes, resource_attributes)
        resource_spans.scope_spans.add().spans.extend(spans)
    return message


def body(*spans: Span, resource: dict[str, Any] | None = None) -> bytes:
    """The protobuf body of a request with ``spans`` under one resource."""
    return request((resource or {}, list(spans))).SerializeToString()


def otlp_json(message: ExportTraceServiceRequest) -> dict[str, Any]:
    """``message`` in OTLP JSON: protobuf's JSON mapping with hex trace and span ids."""
    data: dict[str, Any] = MessageToDict(message)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for item in scope_spans.get("spans", []):
                for target in [item, *item.get("links", [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in target:
                            target[key] = base64.b64decode(target[key]).hex()
    return data
