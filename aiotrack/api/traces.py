"""Handlers for MLflow 3's traces (``/api/3.0/mlflow/traces*``): start, get, batch get,
search, delete and tags. Assessments live in ``aiotrack.api.assessments``; the legacy v2
routes in ``aiotrack.api.traces_v2``; OTLP span ingest in ``aiotrack.api.otlp``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from aiotrack.api.assessments import parse_assessment
from aiotrack.api.codec import json_response
from aiotrack.api.disconnect import cancel_on_disconnect
from aiotrack.api.messages import (
    Message,
    boolean,
    int64,
    message,
    read_json_body,
    repeated_message,
    repeated_string,
    string,
)
from aiotrack.api.trace_data import span_contents
from aiotrack.errors import InvalidParameter
from aiotrack.keys import ASSESSMENT_STORE, TRACE_STORE
from aiotrack.store.trace_base import TraceNotFound
from aiotrack.tracing.entities import TRACE_STATES, TraceInfo
from aiotrack.tracing.wire import (
    parse_duration,
    parse_timestamp,
    span_otel_json,
    trace_info_json,
)
from aiotrack.validation import invalid_value, missing_value

__all__ = ["MAX_SEARCH_TRACES", "routes", "trace_tag_key"]

#: Answers with more spans than this are built in a thread (about 50 us a span).
_INLINE_SPANS = 100
#: ``max_results`` above this is a 400 (MLflow's handler schema).
MAX_SEARCH_TRACES = 500
_HINT = " See the API docs for more information about request parameters."


@dataclass(frozen=True, slots=True)
class ExperimentLocation(Message):
    experiment_id: str | None = string()


@dataclass(frozen=True, slots=True)
class TraceLocation(Message):
    type: str | None = string()
    mlflow_experiment: ExperimentLocation | None = message(ExperimentLocation)


@dataclass(frozen=True, slots=True)
class SearchTracesV3(Message):
    locations: list[TraceLocation] = repeated_message(TraceLocation, required=True)
    filter: str | None = string()
    max_results: int = int64(default=100)
    order_by: list[str] = repeated_string()
    page_token: str | None = string()


@dataclass(frozen=True, slots=True)
class GetTrace(Message):
    trace_id: str = string(required=True)
    allow_partial: bool = boolean(default=False)


@dataclass(frozen=True, slots=True)
class BatchGet(Message):
    trace_ids: list[str] = repeated_string(required=True)
    experiment_ids: list[str] = repeated_string()


@dataclass(frozen=True, slots=True)
class DeleteTraces(Message):
    experiment_id: str = string(required=True)
    max_timestamp_millis: int | None = int64()
    max_traces: int | None = int64()
    request_ids: list[str] = repeated_string()


@dataclass(frozen=True, slots=True)
class SetTraceTag(Message):
    key: str = string(required=True)
    value: str | None = string()


@dataclass(frozen=True, slots=True)
class DeleteTraceTag(Message):
    key: str = string(required=True)


routes = web.RouteTableDef()


#: Tags MLflow manages itself: the tag routes may not set them (the archival failure may be
#: deleted, which is how a failed archival is retried).
_BLOCKED_TAGS = frozenset(
    {
        "mlflow.artifactLocation",
        "mlflow.trace.spansLocation",
        "mlflow.trace.archiveLocation",
        "mlflow.trace.archivalFailure",
    }
)


def without_blocked_tags(tags: dict[str, str]) -> dict[str, str]:
    """A client's trace tags without those MLflow manages (its start/end trace handlers drop
    them silently)."""
    return {key: value for key, value in tags.items() if key not in _BLOCKED_TAGS}


def trace_tag_key(key: str, operation: str) -> str:
    """``key``, unless it is a tag the tag routes may not change."""
    if key in _BLOCKED_TAGS and not (
        operation == "deleted" and key == "mlflow.trace.archivalFailure"
    ):
        raise InvalidParameter(f"Tag '{key}' is immutable and cannot be {operation} on a trace.")
    return key


@routes.post("/mlflow/traces")
async def start_trace(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    info = parse_start_trace(body)
    info.tags = without_blocked_tags(info.tags)
    raw = ((body.get("trace") or {}).get("trace_info") or {}).get("assessments") or []
    if not isinstance(raw, list):
        raise InvalidParameter(f"Invalid value {raw!r} for parameter 'assessments' supplied.")
    news = [parse_assessment(_object(a, "assessments")) for a in raw]
    stored = await request.app[TRACE_STORE].start_trace(info, news)
    await _attach_assessments(request, [stored])
    return json_response({"trace": {"trace_info": trace_info_json(stored)}})


@routes.get("/mlflow/traces/get")
async def get_trace(request: web.Request) -> web.Response:
    msg = await GetTrace.from_request(request)
    store = request.app[TRACE_STORE]
    try:
        info = await store.get_trace_info(msg.trace_id)
    except TraceNotFound:
        raise TraceNotFound(f"Trace with ID {msg.trace_id} is not found.") from None
    spans = await span_contents(request, [info])
    await _attach_assessments(request, [info])
    return await _traces_response("trace", [info], spans)


@routes.get("/mlflow/traces/batchGet")
async def batch_get_traces(request: web.Request) -> web.Response:
    msg = await BatchGet.from_request(request)
    store = request.app[TRACE_STORE]
    experiment_ids = (
        msg.experiment_ids if "experiment_ids" in request.query or msg.experiment_ids else None
    )
    infos = await store.batch_get_trace_infos(msg.trace_ids, experiment_ids)
    spans = await span_contents(request, infos)
    await _attach_assessments(request, infos)
    return await _traces_response("traces", infos, spans)


@routes.post("/mlflow/traces/batchGetInfos")
async def batch_get_trace_infos(request: web.Request) -> web.Response:
    msg = await BatchGet.from_request(request)
    infos = await request.app[TRACE_STORE].batch_get_trace_infos(
        msg.trace_ids, msg.experiment_ids or None
    )
    await _attach_assessments(request, infos)
    return json_response({"trace_infos": [trace_info_json(i) for i in infos]} if infos else {})


@routes.post("/mlflow/traces/search")
@cancel_on_disconnect
async def search_traces(request: web.Request) -> web.Response:
    msg = await SearchTracesV3.from_request(request)
    check_max_results(msg.max_results, msg.max_results)
    experiment_ids = [
        loc.mlflow_experiment.experiment_id or ""
        for loc in msg.locations
        if loc.mlflow_experiment is not None
    ]
    infos, token = await request.app[TRACE_STORE].search_traces(
        experiment_ids,
        filter_string=msg.filter,
        max_results=msg.max_results,
        order_by=msg.order_by,
        page_token=msg.page_token,
    )
    await _attach_assessments(request, infos)
    body: dict[str, Any] = {}
    if infos:
        body["traces"] = [trace_info_json(i) for i in infos]
    if token:
        body["next_page_token"] = token
    return json_response(body)


@routes.post("/mlflow/traces/delete-traces")
async def delete_traces(request: web.Request) -> web.Response:
    msg = await DeleteTraces.from_request(request)
    deleted = await request.app[TRACE_STORE].delete_traces(
        msg.experiment_id,
        max_timestamp_millis=msg.max_timestamp_millis,
        max_traces=msg.max_traces,
        trace_ids=msg.request_ids,
    )
    return json_response({"traces_deleted": deleted})


@routes.get("/mlflow/traces/{trace_id}")
async def get_trace_info(request: web.Request) -> web.Response:
    store = request.app[TRACE_STORE]
    info = await store.get_trace_info(request.match_info["trace_id"])
    await _attach_assessments(request, [info])
    return json_response({"trace": {"trace_info": trace_info_json(info)}})


@routes.patch("/mlflow/traces/{trace_id}/tags")
async def set_trace_tag(request: web.Request) -> web.Response:
    msg = await SetTraceTag.from_request(request)
    await request.app[TRACE_STORE].set_trace_tag(
        _trace_id(request), trace_tag_key(msg.key, "set"), msg.value or ""
    )
    return json_response({})


@routes.delete("/mlflow/traces/{trace_id}/tags")
async def delete_trace_tag(request: web.Request) -> web.Response:
    msg = await DeleteTraceTag.from_request(request)
    await request.app[TRACE_STORE].delete_trace_tag(
        _trace_id(request), trace_tag_key(msg.key, "deleted")
    )
    return json_response({})


def _trace_id(request: web.Request) -> str:
    """The trace id of the path (``trace_id`` in v3 routes, ``request_id`` in v2's)."""
    info = request.match_info
    return info["trace_id"] if "trace_id" in info else info["request_id"]


async def _traces_response(
    key: str, infos: list[TraceInfo], spans: dict[str, list[str]]
) -> web.Response:
    """``{"trace": {...}}`` (one) or ``{"traces": [...]}``: the spans of a large trace are
    converted and serialised in a thread, so the event loop stays free meanwhile."""

    def encode() -> bytes:
        traces = [
            {
                "trace_info": trace_info_json(info),
                "spans": [span_otel_json(s) for s in spans.get(info.trace_id, [])],
            }
            for info in infos
        ]
        if key == "trace":
            return orjson.dumps({"trace": traces[0]})
        return orjson.dumps({"traces": traces} if traces else {})

    count = sum(len(v) for v in spans.values())
    body = await asyncio.to_thread(encode) if count > _INLINE_SPANS else encode()
    return web.Response(body=body, headers={"Content-Type": "application/json"})


def check_max_results(max_results: int, raw: Any) -> None:
    """MLflow's handler schema: at most 500 (``raw`` is the value as sent, for the message)."""
    if max_results > MAX_SEARCH_TRACES:
        hint = f" Hint: Value was of type '{type(raw).__name__}'."
        raise InvalidParameter(invalid_value("max_results", raw, hint) + _HINT)


async def _attach_assessments(request: web.Request, infos: list[TraceInfo]) -> None:
    """Embed each trace's assessments (when the assessment store is wired)."""
    store = request.app.get(ASSESSMENT_STORE)
    if store is None or not infos:
        return
    found = await store.assessments_for_traces([i.trace_id for i in infos])
    for info in infos:
        info.assessments = found.get(info.trace_id, [])


# -- StartTraceV3 ------------------------------------------------------------------------------


def parse_start_trace(body: Mapping[str, Any]) -> TraceInfo:
    """The ``TraceInfo`` of a ``StartTraceV3`` body, checked as protobuf's parser and MLflow's
    handler check it."""
    trace = body.get("trace")
    if not trace:
        raise InvalidParameter(missing_value("trace"))
    info = _object(trace, "trace").get("trace_info") or {}
    info = _object(info, "trace.trace_info")
    location = _object(info.get("trace_location") or {}, "trace_location")
    experiment = _object(location.get("mlflow_experiment") or {}, "mlflow_experiment")
    experiment_id = experiment.get("experiment_id")
    trace_id = info.get("trace_id")
    if not isinstance(trace_id, str) or not trace_id:
        raise InvalidParameter(missing_value("trace_id"))
    if not isinstance(experiment_id, str) or not experiment_id:
        raise InvalidParameter(missing_value("trace_location.mlflow_experiment.experiment_id"))
    state = info.get("state", "STATE_UNSPECIFIED")
    if isinstance(state, int) and state in TRACE_STATES:
        state = TRACE_STATES[state]
    if state not in TRACE_STATES.values():
        raise InvalidParameter(f"Invalid value {state!r} for parameter 'state' supplied.")
    duration = info.get("execution_duration")
    return TraceInfo(
        trace_id=trace_id,
        experiment_id=experiment_id,
        request_time=parse_timestamp(
            info.get("request_time", "1970-01-01T00:00:00Z"), "request_time"
        ),
        execution_duration=None
        if duration is None
        else parse_duration(duration, "execution_duration"),
        state=state,
        client_request_id=_optional_string(info, "client_request_id"),
        request_preview=_optional_string(info, "request_preview"),
        response_preview=_optional_string(info, "response_preview"),
        tags=_string_map(info.get("tags"), "tags"),
        metadata=_string_map(info.get("trace_metadata"), "trace_metadata"),
    )


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameter(
            f"Invalid value {orjson.dumps(value).decode()} for parameter '{field}' supplied."
        )
    return value


def _optional_string(info: Mapping[str, Any], field: str) -> str | None:
    value = info.get(field)
    if value is None or isinstance(value, str):
        return value
    raise InvalidParameter(f"Invalid value {value!r} for parameter '{field}' supplied.")


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    mapping = _object(value, field)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise InvalidParameter(
                f"Invalid value {orjson.dumps(item).decode()} for parameter '{field}.{key}' "
                "supplied."
            )
    return dict(mapping)
