"""The legacy v2 trace routes (``/api/2.0/mlflow/traces*``), links, and the UI's
``get-trace-artifact``.

MLflow 2.x clients start and end traces here; MLflow 3 clients still use ``link-to-run``,
``link-prompts`` and the v2 tag routes. Answers carry the v2 ``TraceInfo`` shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from aiotrack.api import traces
from aiotrack.api.codec import json_response
from aiotrack.api.disconnect import cancel_on_disconnect
from aiotrack.api.experiments import KeyValue
from aiotrack.api.messages import (
    Message,
    enum,
    int64,
    repeated_message,
    repeated_string,
    string,
)
from aiotrack.api.trace_data import span_contents
from aiotrack.api.traces import (
    check_max_results,
    without_blocked_tags,
)
from aiotrack.errors import BadRequest, InvalidParameter
from aiotrack.keys import TRACE_STORE
from aiotrack.store.trace_base import TraceNotFound
from aiotrack.tracing.entities import TraceInfo
from aiotrack.tracing.wire import trace_info_v2_json
from aiotrack.validation import missing_value

__all__ = ["add_ui_routes", "routes"]

#: v2 ``TraceStatus`` by name and number; stored as the v3 state of the same name.
_STATUSES = {"TRACE_STATUS_UNSPECIFIED": 0, "OK": 1, "ERROR": 2, "IN_PROGRESS": 3}
_STATE_OF = {0: "STATE_UNSPECIFIED", 1: "OK", 2: "ERROR", 3: "IN_PROGRESS"}


@dataclass(frozen=True, slots=True)
class StartTraceV2(Message):
    experiment_id: str | None = string()
    timestamp_ms: int = int64(default=0)
    request_metadata: list[KeyValue] = repeated_message(KeyValue)
    tags: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class EndTraceV2(Message):
    timestamp_ms: int = int64(default=0)
    status: int = enum(_STATUSES, default=0)
    request_metadata: list[KeyValue] = repeated_message(KeyValue)
    tags: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class SearchTracesV2(Message):
    experiment_ids: list[str] = repeated_string(required=True)
    filter: str | None = string()
    max_results: int = int64(default=100)
    order_by: list[str] = repeated_string()
    page_token: str | None = string()


@dataclass(frozen=True, slots=True)
class LinkTracesToRun(Message):
    trace_ids: list[str] = repeated_string(required=True)
    run_id: str = string(required=True)


@dataclass(frozen=True, slots=True)
class PromptVersionRef(Message):
    name: str | None = string()
    version: str | None = string()


@dataclass(frozen=True, slots=True)
class LinkPromptsToTrace(Message):
    trace_id: str = string(required=True)
    prompt_versions: list[PromptVersionRef] = repeated_message(PromptVersionRef, required=True)


routes = web.RouteTableDef()


def _pairs(items: list[KeyValue], field: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for i, item in enumerate(items):
        if item.key is None:
            raise InvalidParameter(missing_value(f"{field}[{i}].key"))
        pairs[item.key] = item.value or ""
    return pairs


def _info(info: TraceInfo) -> dict[str, Any]:
    return {"trace_info": trace_info_v2_json(info)}


@routes.post("/mlflow/traces")
async def start_trace(request: web.Request) -> web.Response:
    msg = await StartTraceV2.from_request(request)
    info = await request.app[TRACE_STORE].start_trace_v2(
        msg.experiment_id or "",
        msg.timestamp_ms,
        _pairs(msg.request_metadata, "request_metadata"),
        without_blocked_tags(_pairs(msg.tags, "tags")),
    )
    return json_response(_info(info))


@routes.get("/mlflow/traces")
@cancel_on_disconnect
async def search_traces(request: web.Request) -> web.Response:
    msg = await SearchTracesV2.from_request(request)
    check_max_results(msg.max_results, request.query.get("max_results", msg.max_results))
    infos, token = await request.app[TRACE_STORE].search_traces(
        msg.experiment_ids,
        filter_string=msg.filter,
        max_results=msg.max_results,
        order_by=msg.order_by,
        page_token=msg.page_token,
    )
    body: dict[str, Any] = {}
    if infos:
        body["traces"] = [trace_info_v2_json(i) for i in infos]
    if token:
        body["next_page_token"] = token
    return json_response(body)


# Same request and answer in v2 and v3.
routes.post("/mlflow/traces/delete-traces")(traces.delete_traces)


@routes.post("/mlflow/traces/link-to-run")
async def link_traces_to_run(request: web.Request) -> web.Response:
    msg = await LinkTracesToRun.from_request(request)
    await request.app[TRACE_STORE].link_traces_to_run(msg.trace_ids, msg.run_id)
    return json_response({})


@routes.post("/mlflow/traces/link-prompts")
async def link_prompts_to_trace(request: web.Request) -> web.Response:
    msg = await LinkPromptsToTrace.from_request(request)
    prompts: list[tuple[str, int]] = []
    for ref in msg.prompt_versions:
        try:
            prompts.append((ref.name or "", int(ref.version or "")))
        except ValueError:
            raise InvalidParameter(
                f"Invalid prompt version {ref.version!r} for prompt '{ref.name}'."
            ) from None
    await request.app[TRACE_STORE].link_prompts_to_trace(msg.trace_id, prompts)
    return json_response({})


@routes.patch("/mlflow/traces/{request_id}")
async def end_trace(request: web.Request) -> web.Response:
    msg = await EndTraceV2.from_request(request)
    info = await request.app[TRACE_STORE].end_trace_v2(
        request.match_info["request_id"],
        msg.timestamp_ms,
        _STATE_OF[msg.status],
        _pairs(msg.request_metadata, "request_metadata"),
        without_blocked_tags(_pairs(msg.tags, "tags")),
    )
    return json_response(_info(info))


@routes.get("/mlflow/traces/{request_id}/info")
async def get_trace_info(request: web.Request) -> web.Response:
    info = await request.app[TRACE_STORE].get_trace_info(request.match_info["request_id"])
    return json_response(_info(info))


# The v2 path names the trace ``request_id``; the handlers read either name.
routes.patch("/mlflow/traces/{request_id}/tags")(traces.set_trace_tag)
routes.delete("/mlflow/traces/{request_id}/tags")(traces.delete_trace_tag)


async def get_trace_artifact(request: web.Request) -> web.Response:
    """The UI's trace data: ``{"spans": [...]}`` as MLflow's ``traces.json`` holds it, built
    from the stored span JSON without re-encoding it."""
    request_id = request.query.get("request_id")
    if not request_id:
        raise BadRequest('Request must include the "request_id" query parameter.')
    try:
        info = await request.app[TRACE_STORE].get_trace_info(request_id)
    except TraceNotFound:
        raise TraceNotFound(f"Trace with ID {request_id} is not found.") from None
    spans = (await span_contents(request, [info])).get(request_id, [])
    body = b'{"spans": [' + ", ".join(spans).encode() + b"]}"
    return web.Response(
        body=body,
        content_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="traces.json"'},
    )


def add_ui_routes(router: web.UrlDispatcher, prefix: str) -> None:
    for version in ("2.0", "3.0"):
        router.add_get(f"{prefix}/ajax-api/{version}/mlflow/get-trace-artifact", get_trace_artifact)
