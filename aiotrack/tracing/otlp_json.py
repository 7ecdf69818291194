"""OTLP JSON into an ``ExportTraceServiceRequest`` without protobuf's generic JSON parser.

MLflow parses OTLP JSON with ``google.protobuf.json_format`` after turning hex ids into base64;
that pure-Python reflection is most of the cost of a JSON body. ``fast_request`` builds the same
message directly for bodies in the shape OTLP exporters send: camelCase field names, values of
their canonical JSON types. Anything else (snake_case names, unknown fields, integers in odd
spellings, nulls, ``bytesValue``, lone surrogates, ...) answers None, and the caller parses the
body MLflow's way, so the accepted bodies and the errors stay exactly MLflow's.
"""

from __future__ import annotations

import math
import re
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = ["fast_request"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_KINDS = dict(Span.SpanKind.items())
_STATUS_CODES = dict(Status.StatusCode.items())
_UINT32, _UINT64 = 2**32, 2**64
_INT64 = 2**63


class _Unusual(Exception):
    """The body is not in the common shape: parse it the general way."""


def _str(value: Any) -> str:
    if type(value) is not str or (not value.isascii() and _SURROGATE.search(value)):
        raise _Unusual
    return value


def _unsigned(value: Any, bound: int) -> int:
    if type(value) is str and value.isascii() and value.isdigit():
        number = int(value)
    elif type(value) is int:
        number = value
    else:
        raise _Unusual
    if not 0 <= number < bound:
        raise _Unusual
    return number


def _int64(value: Any) -> int:
    if type(value) is str and value.isascii():
        digits = value[1:] if value.startswith("-") else value
        if not digits.isdigit():
            raise _Unusual
        number = int(value)
    elif type(value) is int:
        number = value
    else:
        raise _Unusual
    if not -_INT64 <= number < _INT64:
        raise _Unusual
    return number


def _enum(value: Any, names: dict[str, int]) -> int:
    if type(value) is str and value in names:
        return names[value]
    if type(value) is int and -(2**31) <= value < 2**31:
        return value
    raise _Unusual


def _list(value: Any) -> list[Any]:
    if type(value) is not list or None in value:
        raise _Unusual
    return value


def _dict(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Unusual
    return value


def _hex_id(value: Any) -> bytes:
    # MLflow converts a non-empty hex id; "" stays "" (no bytes).
    if type(value) is not str:
        raise _Unusual
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _Unusual from None


def _any_value(target: Any, data: Any) -> None:
    if len(_dict(data)) > 1:
        raise _Unusual
    target.SetInParent()
    for key, value in data.items():
        if key == "stringValue":
            target.string_value = _str(value)
        elif key == "intValue":
            target.int_value = _int64(value)
        elif key == "boolValue":
            if type(value) is not bool:
                raise _Unusual
            target.bool_value = value
        elif key == "doubleValue":
            if type(value) is int and -_INT64 <= value < _INT64:
                value = float(value)
            if type(value) is not float or not math.isfinite(value):
                raise _Unusual
            target.double_value = value
        elif key == "arrayValue":
            array = target.array_value
            array.SetInParent()
            for name, items in _dict(value).items():
                if name != "values":
                    raise _Unusual
                for item in _list(items):
                    _any_value(array.values.add(), item)
        elif key == "kvlistValue":
            kvlist = target.kvlist_value
            kvlist.SetInParent()
            for name, items in _dict(value).items():
                if name != "values":
                    raise _Unusual
                _attributes(kvlist.values, items)
        else:
            raise _Unusual


def _attributes(target: Any, items: Any) -> None:
    for item in _list(items):
        kv = target.add()
        for key, value in _dict(item).items():
            if key == "key":
                kv.key = _str(value)
            elif key == "value":
                _any_value(kv.value, value)
            else:
                raise _Unusual


def _common(message: Any, key: str, value: Any) -> None:
    """The fields resources, scopes, events and links share."""
    if key == "attributes":
        _attributes(message.attributes, value)
    elif key == "droppedAttributesCount":
        message.dropped_attributes_count = _unsigned(value, _UINT32)
    else:
        raise _Unusual


def _span(message: Any, data: Any) -> None:
    for key, value in _dict(data).items():
        if key == "traceId":
            message.trace_id = _hex_id(value)
        elif key == "spanId":
            message.span_id = _hex_id(value)
        elif key == "parentSpanId":
            message.parent_span_id = _hex_id(value)
        elif key == "name":
            message.name = _str(value)
        elif key == "kind":
            message.kind = _enum(value, _KINDS)
        elif key == "startTimeUnixNano":
            message.start_time_unix_nano = _unsigned(value, _UINT64)
        elif key == "endTimeUnixNano":
            message.end_time_unix_nano = _unsigned(value, _UINT64)
        elif key == "traceState":
            message.trace_state = _str(value)
        elif key == "flags":
            message.flags = _unsigned(value, _UINT32)
        elif key == "status":
            status = message.status
            status.SetInParent()
            for name, item in _dict(value).items():
                if name == "message":
                    status.message = _str(item)
                elif name == "code":
                    status.code = _enum(item, _STATUS_CODES)
                else:
                    raise _Unusual
        elif key == "events":
            for item in _list(value):
                event = message.events.add()
                for name, field in _dict(item).items():
                    if name == "timeUnixNano":
                        event.time_unix_nano = _unsigned(field, _UINT64)
                    elif name == "name":
                        event.name = _str(field)
                    else:
                        _common(event, name, field)
        elif key == "links":
            for item in _list(value):
                link = message.links.add()
                for name, field in _dict(item).items():
                    if name == "traceId":
                        link.trace_id = _hex_id(field)
                    elif name == "spanId":
                        link.span_id = _hex_id(field)
                    elif name == "traceState":
                        link.trace_state = _str(field)
                    elif name == "flags":
                        link.flags = _unsigned(field, _UINT32)
                    else:
                        _common(link, name, field)
        elif key in ("droppedEventsCount", "droppedLinksCount"):
            setattr(
                message,
                "dropped_events_count" if key == "droppedEventsCount" else "dropped_links_count",
                _unsigned(value, _UINT32),
            )
        else:
            _common(message, key, value)


def _scope_spans(message: Any, data: Any) -> None:
    for key, value in _dict(data).items():
        if key == "spans":
            for item in _list(value):
                _span(message.spans.add(), item)
        elif key == "scope":
            scope = message.scope
            scope.SetInParent()
            for name, field in _dict(value).items():
                if name == "name":
                    scope.name = _str(field)
                elif name == "version":
                    scope.version = _str(field)
                else:
                    _common(scope, name, field)
        elif key == "schemaUrl":
            message.schema_url = _str(value)
        else:
            raise _Unusual


def fast_request(data: Any) -> ExportTraceServiceRequest | None:
    """The request ``data`` (decoded OTLP JSON, hex ids) holds, or None if it is unusual."""
    request = ExportTraceServiceRequest()
    try:
        for key, value in _dict(data).items():
            if key != "resourceSpans":
                raise _Unusual
            for item in _list(value):
                resource_spans = request.resource_spans.add()
                for name, field in _dict(item).items():
                    if name == "resource":
                        resource = resource_spans.resource
                        resource.SetInParent()
                        for part, content in _dict(field).items():
                            _common(resource, part, content)
                    elif name == "scopeSpans":
                        for scope_item in _list(field):
                            _scope_spans(resource_spans.scope_spans.add(), scope_item)
                    elif name == "schemaUrl":
                        resource_spans.schema_url = _str(field)
                    else:
                        raise _Unusual
    except _Unusual:
        return None
    return request
