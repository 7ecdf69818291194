"""One OTLP span (and its resource) becomes the ``spans`` row MLflow 3.18's server stores.

MLflow's path for a span received on ``POST /v1/traces`` is ``Span.from_otel_proto`` (every
attribute decoded and JSON-encoded, ``mlflow.traceRequestId`` derived from the OTel trace id),
``strip_otlp_double_encoding`` (a string attribute that already holds JSON text for a string,
object or array is kept as that text), the root-span edits of ``otel_api.export_traces``
(``service.name`` of a known client, no system trace tags), then, in the store,
``translate_span_when_storing`` and ``json.dumps(span.to_dict(), cls=TraceJSONEncoder,
ensure_ascii=False)``. ``span_record`` does all of it in one pass over the protobuf message,
without building OTel SDK objects; the ``content`` text is byte-identical to MLflow's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from aiotrack.errors import AiotrackError, BadRequest
from aiotrack.tracing.analytics import finite_float
from aiotrack.tracing.jsonvalues import dump_attribute, dumps_content, encode_string, loads
from aiotrack.tracing.pricing import PriceCatalog
from aiotrack.tracing.records import SpanRecord
from aiotrack.tracing.translation import (
    CHAT_USAGE,
    LLM_COST,
    MODEL,
    MODEL_PROVIDER,
    SPAN_TYPE,
    translate_attributes,
)

__all__ = [
    "KNOWN_SERVICE_NAMES",
    "REQUEST_ID",
    "ResourceInfo",
    "SpanConversionError",
    "SpanStorageError",
    "resource_info",
    "span_record",
]

REQUEST_ID = "mlflow.traceRequestId"
TRACE_TAG_PREFIX = "mlflow.traceTag."

# otel_api._KNOWN_SERVICE_NAMES: the OTel clients whose service.name is put on root spans.
KNOWN_SERVICE_NAMES = frozenset(
    {
        "claude-code",
        "codex_cli_rs",
        "codex_vscode",
        "gemini-cli",
        "qwen-code",
    }
)

# handlers._HANDLER_BLOCKED_TRACE_TAGS: system tags a root span's mlflow.traceTag.* must not set
# (3.18 drops these attributes; 3.17.2 kept them).
_BLOCKED_TRACE_TAG_ATTRIBUTES = tuple(
    TRACE_TAG_PREFIX + key
    for key in (
        "mlflow.artifactLocation",
        "mlflow.trace.spansLocation",
        "mlflow.trace.archiveLocation",
        "mlflow.trace.archivalFailure",
    )
)

# OTLP span kinds are the SDK's plus one; 0 (unspecified) and unknown values are INTERNAL.
_KIND_NAMES = {
    1: "SPAN_KIND_INTERNAL",
    2: "SPAN_KIND_SERVER",
    3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER",
    5: "SPAN_KIND_CONSUMER",
}
_STATUS = {1: ("OK", "STATUS_CODE_OK"), 2: ("ERROR", "STATUS_CODE_ERROR")}
_UNSET = ("UNSET", "STATUS_CODE_UNSET")
_MODEL_DIMENSION_MAX_LENGTH = 500  # trace_analytics.MODEL_DIMENSION_MAX_LENGTH


class SpanConversionError(Exception):
    """The span cannot become an MLflow span (MLflow: 422 "Cannot convert ... to MLflow span")."""


class SpanStorageError(Exception):
    """MLflow's store would fail on this span: 422 "Failed to log OpenTelemetry spans", or
    ``answer`` when MLflow answers otherwise (its database refusing a value: 400)."""

    def __init__(self, message: str, answer: AiotrackError | None = None) -> None:
        super().__init__(message)
        self.answer = answer


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """What a ``ResourceSpans`` block's resource contributes to its spans.

    ``attributes`` are the resource attributes as the OTel SDK ``Resource`` MLflow builds holds
    them (empty keys dropped, arrays as lists); ``service_name`` is the ``service.name`` when it
    names a known client (``KNOWN_SERVICE_NAMES``), else None.
    """

    attributes: Mapping[str, Any] = field(default_factory=dict)
    service_name: str | None = None


def resource_info(resource: Resource) -> ResourceInfo:
    """The ``ResourceInfo`` of one OTLP resource."""
    service_name = None
    for kv in resource.attributes:
        # otel_api looks at the first service.name only, and keeps it if str() of it is known.
        if kv.key == "service.name":
            value = any_value(kv.value)
            if value is not None and str(value) in KNOWN_SERVICE_NAMES:
                service_name = str(value)
            break
    attributes = {kv.key: any_value(kv.value) for kv in resource.attributes if kv.key}
    return ResourceInfo(attributes, service_name)


def any_value(value: AnyValue) -> Any:
    """MLflow's ``_decode_otel_proto_anyvalue``: an OTLP ``AnyValue`` as a Python value."""
    kind = value.WhichOneof("value")
    # The common kinds first: this runs for every value inside every key-value list.
    if kind == "string_value":
        return value.string_value
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "int_value":
        return value.int_value
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    return getattr(value, kind)


def _json_text_kind(text: str) -> bool:
    """Whether ``json.loads(text)`` is a str, dict or list (else the value is JSON-encoded)."""
    first = text.lstrip(" \t\n\r")[:1]
    if first not in ('"', "{", "["):
        return False  # a number, true/false/null, NaN or not JSON: never a str, dict or list
    try:
        return isinstance(loads(text), (str, dict, list))
    except json.JSONDecodeError:
        return False


def _float_json(number: float) -> str:
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    return float.__repr__(number)


def _attribute_json(value: AnyValue) -> str:
    """The stored JSON text of one span attribute: ``dump_span_attribute_value`` of the decoded
    value, then ``strip_otlp_double_encoding`` (which only ever changes string values; 3.18
    strips at ingest, so the ``type`` column reads the stripped value; 3.17.2 stripped later,
    inside the translation)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        return text if _json_text_kind(text) else encode_string(text)
    if kind is None:
        return "null"
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return _float_json(value.double_value)
    if kind == "bytes_value":
        return encode_string(str(value.bytes_value))
    return dump_attribute(any_value(value))


def _hex_id(raw: bytes, width: int) -> str:
    """``format(int, "0{width}x")`` of the big-endian id, as MLflow's encode_*_id write it."""
    if len(raw) * 2 == width:
        return raw.hex()
    return format(int.from_bytes(raw, "big"), f"0{width}x")


def _b64_id(raw: bytes, size: int) -> str:
    """``base64(int.to_bytes(size))`` of the id, as ``Span.to_dict`` writes it."""
    if len(raw) != size:
        number = int.from_bytes(raw, "big")
        if number.bit_length() > size * 8:
            # Span.to_dict's int.to_bytes overflows: MLflow's store fails the batch.
            raise SpanStorageError(f"id of {len(raw)} bytes does not fit in {size}")
        raw = number.to_bytes(size, "big")
    return base64.b64encode(raw).decode("ascii")


def _link(link: Span.Link) -> dict[str, Any]:
    attributes = {}
    for kv in link.attributes:
        item = any_value(kv.value)
        attributes[kv.key] = (
            base64.b64encode(item).decode("ascii") if isinstance(item, bytes) else item
        )
    return {
        "trace_id": "tr-" + _hex_id(link.trace_id, 32),
        "span_id": _hex_id(link.span_id, 16),
        "attributes": attributes or None,
    }


def _try_parse_json_string(value: Any) -> Any:
    """The sqlalchemy store's helper: the decoded str if ``value`` is JSON for a str."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value
    return parsed if isinstance(parsed, str) else value


def _bounded(value: Any) -> str | None:
    return value[:_MODEL_DIMENSION_MAX_LENGTH] if isinstance(value, str) else None


def _node_data(value: Any) -> dict[str, Any] | None:
    """``_span_aggregation_node``'s data: the attribute's JSON object, else None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            pass
    return value if isinstance(value, dict) else None


def span_record(
    span: Span, resource: ResourceInfo, prices: PriceCatalog | None = None
) -> SpanRecord:
    """The ``SpanRecord`` MLflow 3.18 stores for ``span``.

    Raises ``SpanConversionError`` where MLflow's ``otel_api`` answers 422 "Cannot convert
    OpenTelemetry span to MLflow span" (an empty trace or span id), and ``SpanStorageError``
    where its store fails the batch (422 "Failed to log OpenTelemetry spans": an id too long
    for its field, a span kind attribute that is a JSON object, ...).
    """
    # Each read of a bytes field builds a new object: read each once.
    raw_trace_id, raw_span_id, raw_parent_id = span.trace_id, span.span_id, span.parent_span_id
    if not raw_trace_id:
        raise SpanConversionError("trace_id is required but was empty")
    if not raw_span_id:
        raise SpanConversionError("span_id is required but was empty")
    try:
        span_hex = _hex_id(raw_span_id, 16)
        # An all-zero parent id means no parent (from_otel_proto tests the number).
        parent_hex = _hex_id(raw_parent_id, 16) if int.from_bytes(raw_parent_id, "big") else None
        trace_id = "tr-" + _hex_id(raw_trace_id, 32)

        attributes: dict[str, Any] = {}
        for kv in span.attributes:
            attributes[kv.key] = _attribute_json(kv.value)
        attributes[REQUEST_ID] = encode_string(trace_id)
        if parent_hex is None:
            if resource.service_name:
                attributes["service.name"] = encode_string(resource.service_name)
            for key in _BLOCKED_TRACE_TAG_ATTRIBUTES:
                attributes.pop(key, None)

        events = [
            {
                "name": event.name,
                "time_unix_nano": event.time_unix_nano,
                "attributes": {kv.key: any_value(kv.value) for kv in event.attributes},
            }
            for event in span.events
        ]
        links = [_link(link) for link in span.links]
    except Exception as exc:  # e.g. an attribute nested too deep to decode or encode
        raise SpanConversionError(f"{type(exc).__name__}: {exc}") from exc

    proto_status = span.status
    status, status_name = _STATUS.get(proto_status.code, _UNSET)
    # The OTel SDK keeps a status description only for ERROR.
    message = proto_status.message if status == "ERROR" else ""

    # Span.span_type (the "type" column) reads the attribute before translation.
    raw_type = attributes.get(SPAN_TYPE)
    span_type: Any = None
    if raw_type:
        try:
            span_type = json.loads(raw_type)
        except Exception:
            span_type = raw_type
        if isinstance(span_type, (dict, list)):
            # MLflow hands the decoded object to its database driver, which refuses it.
            raise SpanStorageError(
                "span type is a JSON object or array",
                BadRequest(f"The span type of span {span_hex} is not a string: {raw_type}"),
            )
        if not isinstance(span_type, str) and span_type is not None:
            span_type = raw_type  # a number or boolean: the database stores its text

    name, start, end = span.name, span.start_time_unix_nano, span.end_time_unix_nano
    try:
        # Span.to_dict copies the attributes; translation edits that copy.
        stored = dict(attributes)
        translate_attributes(stored, events, prices)
        content = dumps_content(
            {
                "trace_id": _b64_id(raw_trace_id, 16),
                "span_id": _b64_id(raw_span_id, 8),
                "parent_span_id": _b64_id(raw_parent_id, 8) if parent_hex else None,
                "name": name,
                # 3.18 stores the kind (3.17.2's Span.to_dict had no "kind").
                "kind": _KIND_NAMES.get(span.kind, "SPAN_KIND_INTERNAL"),
                "start_time_unix_nano": start,
                "end_time_unix_nano": end,
                "events": events,
                "status": {"code": status_name, "message": message},
                "attributes": stored,
                "links": links,
            }
        )
        cost_values: Any = {}
        if cost_text := stored.get(LLM_COST):
            try:
                cost_values = json.loads(cost_text)
            except (TypeError, ValueError):
                cost_values = {}
        input_cost = finite_float(cost_values.get("input_cost"))
        output_cost = finite_float(cost_values.get("output_cost"))
        total_cost = finite_float(cost_values.get("total_cost"))
    except SpanStorageError:
        raise
    except Exception as exc:
        raise SpanStorageError(f"{type(exc).__name__}: {exc}") from exc

    return SpanRecord(
        trace_id=trace_id,
        span_id=span_hex,
        parent_span_id=parent_hex,
        name=name,
        type=span_type,
        status=status,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        content=content,
        input_cost=input_cost,
        output_cost=output_cost,
        total_cost=total_cost,
        model_name=_bounded(_try_parse_json_string(stored.get(MODEL))),
        model_provider=_bounded(_try_parse_json_string(stored.get(MODEL_PROVIDER))),
        attributes=stored,
        resource_attributes=resource.attributes,
        usage_data=_node_data(stored.get(CHAT_USAGE)),
        cost_data=_node_data(stored.get(LLM_COST)),
    )


def _plain_attribute_json(value: AnyValue) -> str:
    """``dump_span_attribute_value`` of the decoded value (no double-encoding strip)."""
    if value.WhichOneof("value") == "string_value":
        return encode_string(value.string_value)
    return _attribute_json(value)


def archived_span_content(span: Span) -> str:
    """The span JSON of a span MLflow archived (``traces.pb``): ``Span.from_otel_proto(span,
    preserve_request_id=True).to_dict()`` — stored as it was, without translation."""
    raw_trace_id, raw_span_id, raw_parent_id = span.trace_id, span.span_id, span.parent_span_id
    has_parent = bool(raw_parent_id) and bool(int.from_bytes(raw_parent_id, "big"))
    # Not stripped of double encoding: MLflow's archive reader dumps every decoded value.
    attributes: dict[str, Any] = {kv.key: _plain_attribute_json(kv.value) for kv in span.attributes}
    if REQUEST_ID not in attributes:
        attributes[REQUEST_ID] = encode_string("tr-" + _hex_id(raw_trace_id, 32))
    status, status_name = _STATUS.get(span.status.code, _UNSET)
    return dumps_content(
        {
            "trace_id": _b64_id(raw_trace_id, 16),
            "span_id": _b64_id(raw_span_id, 8),
            "parent_span_id": _b64_id(raw_parent_id, 8) if has_parent else None,
            "name": span.name,
            "kind": _KIND_NAMES.get(span.kind, "SPAN_KIND_INTERNAL"),
            "start_time_unix_nano": span.start_time_unix_nano,
            "end_time_unix_nano": span.end_time_unix_nano,
            "events": [
                {
                    "name": event.name,
                    "time_unix_nano": event.time_unix_nano,
                    "attributes": {kv.key: any_value(kv.value) for kv in event.attributes},
                }
                for event in span.events
            ],
            "status": {
                "code": status_name,
                "message": span.status.message if status == "ERROR" else "",
            },
            "attributes": attributes,
            "links": [_link(link) for link in span.links],
        }
    )


def archived_trace_contents(data: bytes) -> list[str]:
    """The spans of an archived ``traces.pb`` (OTLP ``TracesData``), root spans first, then
    by start time and span id, as MLflow answers them; ``ValueError`` when it is not one."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    traces = TracesData()
    try:
        traces.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError("not an OTLP TracesData protobuf") from exc
    spans = [s for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans]
    spans.sort(
        key=lambda s: (
            1 if s.parent_span_id and int.from_bytes(s.parent_span_id, "big") else 0,
            s.start_time_unix_nano,
            s.span_id.hex(),
        )
    )
    return [archived_span_content(span) for span in spans]
