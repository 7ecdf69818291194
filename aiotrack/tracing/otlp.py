"""``POST /v1/traces`` bodies: an OTLP ``ExportTraceServiceRequest`` becomes span rows and
per-trace summaries, with the answers MLflow 3.18's ``otel_api.export_traces`` gives.

``decode_export_request(body, media_type)`` parses protobuf (``application/x-protobuf``) or
OTLP JSON (``application/json``: trace and span ids in hex, as the OTLP spec has them), turns
every span into a ``SpanRecord`` (``aiotrack.tracing.spans``) and summarizes each trace
(``aiotrack.tracing.summary``). It is CPU-only and synchronous: the caller decides whether a
large body is decoded off the event loop. The body must already be decompressed.

Errors: ``OtlpError(status, detail)`` where MLflow raises an ``HTTPException`` (FastAPI answers
``{"detail": detail}``); ``aiotrack.errors.InvalidParameter`` where MLflow's store raises an
``MlflowException`` (answered as ``{"error_code", "message"}``, 400).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
from google.protobuf.json_format import ParseDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from aiotrack.errors import AiotrackError
from aiotrack.tracing.otlp_json import fast_request
from aiotrack.tracing.pricing import PriceCatalog
from aiotrack.tracing.records import SpanRecord, TraceSummary
from aiotrack.tracing.spans import (
    SpanConversionError,
    SpanStorageError,
    resource_info,
    span_record,
)
from aiotrack.tracing.summary import summarize

__all__ = [
    "JSON",
    "PROTOBUF",
    "OtlpError",
    "decode_export_request",
    "media_type_of",
    "parse_export_request",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

INVALID_FORMAT = "Invalid OpenTelemetry format"
NO_SPANS = "Invalid OpenTelemetry format - no spans found"
CANNOT_CONVERT = "Cannot convert OpenTelemetry span to MLflow span"
FAILED_TO_LOG = "Failed to log OpenTelemetry spans"

_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpError(Exception):
    """An OTLP request MLflow answers with ``HTTPException(status, detail)``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def media_type_of(content_type: str | None) -> str:
    """The OTLP encoding a ``Content-Type`` names (parameters dropped), or ``OtlpError(400)``."""
    media_type = content_type.split(";")[0].strip() if content_type else None
    if media_type not in (PROTOBUF, JSON):
        raise OtlpError(
            400,
            f"Invalid Content-Type: {content_type}. "
            "Expected: application/x-protobuf or application/json",
        )
    return media_type


def _json_request(body: bytes) -> ExportTraceServiceRequest:
    """OTLP JSON, parsed as MLflow parses it; the usual body is built directly instead
    (``otlp_json.fast_request``: the same message, several times faster)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None  # NaN, lone surrogates, huge nesting...: the standard library decides
    if data is not None and (request := fast_request(data)) is not None:
        return request
    # orjson reads integers beyond 64 bits as floats: decode again for MLflow's way.
    return json_request_like_mlflow(json.loads(body))


def json_request_like_mlflow(data: Any) -> ExportTraceServiceRequest:
    """Decoded OTLP JSON with hex ids turned into the base64 protobuf's JSON mapping expects,
    then parsed by ``json_format`` (raises what those raise on a malformed body).

    MLflow converts the ids of spans and links in ``resourceSpans[].scopeSpans[].spans[]``
    only (``_convert_otlp_json_ids_to_base64``); where its conversion trips over a body of the
    wrong shape (a list, an id that is not a string) it answers 500, the caller answers 400.
    """
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for item in [span, *(span.get("links") or [])]:
                    for name in _HEX_ID_FIELDS:
                        if hex_value := item.get(name):
                            item[name] = base64.b64encode(bytes.fromhex(hex_value)).decode()
    request = ExportTraceServiceRequest()
    # ParseDict on the converted dict is what MLflow's dumps-then-Parse amounts to.
    ParseDict(data, request, ignore_unknown_fields=True)
    return request


def parse_export_request(body: bytes, media_type: str) -> ExportTraceServiceRequest:
    """The ``ExportTraceServiceRequest`` in ``body``; ``OtlpError(400)`` if it is not one or
    has no ``resourceSpans``."""
    try:
        if media_type == JSON:
            request = _json_request(body)
        else:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
    except (DecodeError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise OtlpError(400, INVALID_FORMAT) from exc
    except Exception as exc:  # json_format.ParseError and its kin
        raise OtlpError(400, INVALID_FORMAT) from exc
    if not request.resource_spans:
        raise OtlpError(400, NO_SPANS)
    return request


def decode_export_request(
    body: bytes, media_type: str, *, prices: PriceCatalog | None = None
) -> list[TraceSummary]:
    """Decode an OTLP export request into one ``TraceSummary`` per trace (its ``spans`` are the
    trace's ``SpanRecord``s), in order of each trace's first span.

    ``media_type`` is ``PROTOBUF`` or ``JSON`` (see ``media_type_of``); ``prices`` prices LLM
    spans (no cost without it). Errors, in MLflow's order: 400 ``INVALID_FORMAT``/``NO_SPANS``
    for the body; 422 ``CANNOT_CONVERT`` for any span without a trace or span id; then what
    MLflow's store would fail the batch on: 422 ``FAILED_TO_LOG`` (ids too long for their
    fields, values its translation or aggregation trips over), ``InvalidParameter`` (a
    session id or trace name too long) or ``BadRequest`` (a span type its database refuses). A request whose resources hold no span decodes to [].
    """
    request = parse_export_request(body, media_type)
    records: list[SpanRecord] = []
    storage_error: SpanStorageError | None = None
    for resource_spans in request.resource_spans:
        resource = resource_info(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    records.append(span_record(span, resource, prices))
                except SpanConversionError as exc:
                    # MLflow converts every span before it stores any.
                    raise OtlpError(422, CANNOT_CONVERT) from exc
                except SpanStorageError as exc:
                    storage_error = storage_error or exc
    if storage_error is not None:
        if storage_error.answer is not None:
            raise storage_error.answer from storage_error
        raise OtlpError(422, FAILED_TO_LOG) from storage_error
    try:
        return list(summarize(records).values())
    except AiotrackError:
        raise
    except Exception as exc:
        raise OtlpError(422, FAILED_TO_LOG) from exc
