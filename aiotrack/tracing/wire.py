"""MLflow's proto JSON for traces: trace infos (v3 and v2), and stored spans as OTel spans.

What ``message_to_json`` makes of MLflow's protos: ``Timestamp`` as RFC 3339 text,
``Duration`` as ``"1.500s"``, proto3 defaults left out, ``bytes`` ids in base64, int64 span
times as JSON numbers (MLflow converts them back from strings).
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from aiotrack.errors import InvalidParameter
from aiotrack.tracing.entities import (
    MAX_METADATA_CHARS,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    TraceInfo,
    v2_status,
)

__all__ = [
    "duration_json",
    "parse_duration",
    "parse_timestamp",
    "span_otel_json",
    "split_trace_data",
    "timestamp_json",
    "trace_info_json",
    "trace_info_v2_json",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_DURATION = re.compile(r"(-)?(\d+)(?:\.(\d{1,9}))?s")
_SPAN_KINDS = frozenset(
    {
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    }
)
_STATUS_CODES = {"OK": "STATUS_CODE_OK", "ERROR": "STATUS_CODE_ERROR"}


def timestamp_json(ms: int) -> str:
    """A ``google.protobuf.Timestamp`` of ``ms`` milliseconds since the epoch, as JSON text."""
    seconds, millis = divmod(ms, 1000)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if len(text) < 19:  # years before 1000: strftime does not pad them everywhere
        text = text.rjust(19, "0")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def duration_json(ms: int) -> str:
    """A ``google.protobuf.Duration`` of ``ms`` milliseconds, as JSON text."""
    sign = "-" if ms < 0 else ""
    seconds, millis = divmod(abs(ms), 1000)
    return f"{sign}{seconds}.{millis:03d}s" if millis else f"{sign}{seconds}s"


def parse_timestamp(value: Any, field: str) -> int:
    """Milliseconds since the epoch of a JSON ``Timestamp`` (RFC 3339 text), truncated as
    protobuf's ``ToMilliseconds`` does."""
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{field}' supplied.")
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError as exc:
        raise InvalidParameter(
            f"Invalid value {value!r} for parameter '{field}' supplied."
        ) from exc
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        moment = moment - offset if sign == "+" else moment + offset
    delta = moment - _EPOCH
    nanos = int((frac or "").ljust(9, "0") or 0)
    return (delta.days * 86400 + delta.seconds) * 1000 + nanos // 1_000_000


def parse_duration(value: Any, field: str) -> int:
    """Milliseconds of a JSON ``Duration`` (``"1.5s"``), truncated toward zero."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{field}' supplied.")
    negative, seconds, frac = match.groups()
    ms = int(seconds) * 1000 + int((frac or "").ljust(9, "0") or 0) // 1_000_000
    return -ms if negative else ms


def trace_info_json(info: TraceInfo) -> dict[str, Any]:
    """``TraceInfoV3`` as MLflow answers it (long metadata and tag values truncated)."""
    body: dict[str, Any] = {"trace_id": info.trace_id}
    if info.client_request_id is not None:
        body["client_request_id"] = info.client_request_id
    body["trace_location"] = {
        "type": "MLFLOW_EXPERIMENT",
        "mlflow_experiment": {"experiment_id": info.experiment_id},
    }
    if info.request_preview is not None:
        body["request_preview"] = info.request_preview
    if info.response_preview is not None:
        body["response_preview"] = info.response_preview
    body["request_time"] = timestamp_json(info.request_time)
    if info.execution_duration is not None:
        body["execution_duration"] = duration_json(info.execution_duration)
    body["state"] = info.state
    if info.metadata:
        body["trace_metadata"] = _truncated(info.metadata, MAX_METADATA_CHARS, MAX_METADATA_CHARS)
    if info.assessments:
        body["assessments"] = info.assessments
    if info.tags:
        body["tags"] = _truncated(info.tags, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS)
    return body


def trace_info_v2_json(info: TraceInfo) -> dict[str, Any]:
    """The legacy v2 ``TraceInfo`` of a trace (``TraceInfoV2.from_v3``)."""
    body: dict[str, Any] = {
        "request_id": info.trace_id,
        "experiment_id": info.experiment_id,
        "timestamp_ms": info.request_time,
        # proto2 fields MLflow always sets: a trace still running answers 0.
        "execution_time_ms": info.execution_duration or 0,
        "status": v2_status(info.state),
    }
    metadata = _truncated(info.metadata, MAX_METADATA_CHARS, MAX_METADATA_CHARS)
    if metadata:
        body["request_metadata"] = [{"key": k, "value": v} for k, v in metadata.items()]
    tags = _truncated(info.tags, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS)
    if tags:
        body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return body


def _truncated(values: dict[str, str], key_chars: int, value_chars: int) -> dict[str, str]:
    return {k[:key_chars]: str(v)[:value_chars] for k, v in values.items()}


# -- spans -----------------------------------------------------------------------------------


def split_trace_data(data: bytes) -> list[str] | None:
    """The spans of a ``traces.json`` (``{"spans": [...]}``, as the client uploads it), each as
    its own JSON text; None when it is not such a document."""
    try:
        spans = orjson.loads(data).get("spans") or []
        return [orjson.dumps(span).decode() for span in spans if isinstance(span, dict)]
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        pass
    try:  # NaN and Infinity in attribute values: Python's json reads and writes them
        spans = json.loads(data).get("spans") or []
    except (ValueError, AttributeError):
        return None
    return [json.dumps(span) for span in spans if isinstance(span, dict)]


def span_otel_json(content: str | bytes) -> dict[str, Any]:
    """The OTel proto ``Span`` JSON MLflow answers for a stored span (``spans.content``):
    ``Span.from_dict(content).to_otel_proto()`` through ``message_to_json``."""
    span = orjson.loads(content)
    attributes = span.get("attributes") or {}
    body: dict[str, Any] = {
        "trace_id": _b64_id(span.get("trace_id"), 16),
        "span_id": _b64_id(span.get("span_id"), 8),
    }
    parent = span.get("parent_span_id")
    if parent:
        body["parent_span_id"] = _b64_id(parent, 8)
    if span.get("name"):
        body["name"] = span["name"]
    # 3.18 keeps the span kind; spans stored before it (and unspecified ones) are INTERNAL.
    kind = span.get("kind")
    body["kind"] = kind if kind in _SPAN_KINDS else "SPAN_KIND_INTERNAL"
    start = int(span.get("start_time_unix_nano") or 0)
    if start:
        body["start_time_unix_nano"] = start
    end = span.get("end_time_unix_nano")
    if end:
        body["end_time_unix_nano"] = int(end)
    attrs = [_key_value(key, _loads_attribute(raw)) for key, raw in attributes.items()]
    if attrs:
        body["attributes"] = attrs
    events = [_event_json(event) for event in span.get("events") or []]
    if events:
        body["events"] = events
    links = [_link_json(link) for link in span.get("links") or []]
    links = [link for link in links if link is not None]
    if links:
        body["links"] = links
    status = span.get("status") or {}
    status_json: dict[str, Any] = {}
    if status.get("message"):
        status_json["message"] = status["message"]
    code = _status_code(status.get("code"))
    if code is not None:
        status_json["code"] = code
    body["status"] = status_json
    return body


def _status_code(code: Any) -> str | None:
    if code in ("STATUS_CODE_OK", "STATUS_CODE_ERROR"):
        return str(code)
    return _STATUS_CODES.get(code) if isinstance(code, str) else None


def _b64_id(value: Any, size: int) -> str:
    """Stored ids are base64 of the OTel bytes (MLflow 3.5.0 stored hex or ``tr-`` ids)."""
    if not isinstance(value, str) or not value:
        return ""
    text = value.removeprefix("tr-")
    if len(text) == size * 2 and all(c in "0123456789abcdefABCDEF" for c in text):
        return base64.b64encode(bytes.fromhex(text)).decode()
    return value


def _loads_attribute(raw: Any) -> Any:
    """Attribute values are stored JSON-dumped; MLflow decodes them (``get_all``), keeping a
    value that is not JSON as it is."""
    if not isinstance(raw, str):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # Python's json also reads NaN and Infinity, as MLflow's json.loads does
        return json.loads(raw)
    except ValueError:
        return raw


def _any_value(value: Any) -> dict[str, Any]:
    """``_set_otel_proto_anyvalue`` in proto JSON."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, str):
        return {"string_value": _sanitize(value)}
    if isinstance(value, int):
        return {"int_value": value}
    if isinstance(value, float):
        if math.isnan(value):
            return {"double_value": "NaN"}
        if math.isinf(value):
            return {"double_value": "Infinity" if value > 0 else "-Infinity"}
        return {"double_value": value}
    if isinstance(value, list):
        return {"array_value": _values([_any_value(item) for item in value])}
    if isinstance(value, dict):
        pairs = [_key_value(_sanitize(str(k)), v) for k, v in value.items()]
        return {"kvlist_value": _values(pairs)}
    return {"string_value": _sanitize(str(value))}


def _key_value(key: str, value: Any) -> dict[str, Any]:
    """A ``KeyValue``: a None value leaves the ``value`` message unset (so absent)."""
    if value is None:
        return {"key": key}
    return {"key": key, "value": _any_value(value)}


def _values(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"values": items} if items else {}


def _sanitize(text: str) -> str:
    # Lone surrogates cannot be encoded in a proto string; MLflow replaces them.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _event_json(event: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    time_ns = int(event.get("time_unix_nano") or 0)
    if time_ns:
        body["time_unix_nano"] = time_ns
    if event.get("name"):
        body["name"] = event["name"]
    attrs = [_key_value(key, value) for key, value in (event.get("attributes") or {}).items()]
    if attrs:
        body["attributes"] = attrs
    return body


def _link_json(link: dict[str, Any]) -> dict[str, Any] | None:
    trace_id = str(link.get("trace_id") or "").split("/")[-1].removeprefix("tr-")
    span_id = str(link.get("span_id") or "")
    try:
        trace_bytes = int(trace_id, 16).to_bytes(16, "big")
        span_bytes = int(span_id, 16).to_bytes(8, "big")
    except (ValueError, OverflowError):
        return None  # MLflow drops links whose ids do not fit OTLP's sizes
    body: dict[str, Any] = {
        "trace_id": base64.b64encode(trace_bytes).decode(),
        "span_id": base64.b64encode(span_bytes).decode(),
    }
    attrs = [_key_value(key, value) for key, value in (link.get("attributes") or {}).items()]
    if attrs:
        body["attributes"] = attrs
    return body
