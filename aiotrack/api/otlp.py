"""``POST /v1/traces``: OTLP/HTTP span ingest, as MLflow's OpenTelemetry endpoint serves it.

The body is an ``ExportTraceServiceRequest`` in protobuf or OTLP JSON, optionally gzip or
deflate encoded; the experiment comes from the ``x-mlflow-experiment-id`` header (a request
without it is a 422 and stores nothing), and ``x-mlflow-run-id`` links the traces whose root
span arrived to that run. Errors of the request itself are answered as MLflow's FastAPI route
answers them (``{"detail": ...}``); store errors in MLflow's JSON error shape. The answer is an
empty ``ExportTraceServiceResponse`` in protobuf.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from aiohttp import web

from aiotrack.api.bodies import read_json_bytes
from aiotrack.errors import AiotrackError, InvalidParameter
from aiotrack.keys import PRICE_CATALOG, SPAN_WRITER, TRACE_STORE
from aiotrack.tracing.otlp import JSON, OtlpError, decode_export_request, media_type_of
from aiotrack.validation import parse_experiment_id

__all__ = ["EXPERIMENT_HEADER", "RUN_HEADER", "export_traces"]

log = logging.getLogger(__name__)

EXPERIMENT_HEADER = "x-mlflow-experiment-id"
RUN_HEADER = "x-mlflow-run-id"
#: Requests whose conversion is bigger than this run off the event loop.
_INLINE_BYTES = 64 * 1024  # about 5 ms of conversion


def _detail(status: int, detail: Any) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


async def export_traces(request: web.Request) -> web.Response:
    experiment = request.headers.get(EXPERIMENT_HEADER)
    if experiment is None:
        return _detail(
            422,
            [
                {
                    "type": "missing",
                    "loc": ["header", EXPERIMENT_HEADER],
                    "msg": "Field required",
                    "input": None,
                }
            ],
        )
    try:
        media_type = media_type_of(request.headers.get("Content-Type"))
    except OtlpError as exc:
        return _detail(exc.status, exc.detail)
    try:
        body = await read_json_bytes(request)
    except InvalidParameter as exc:
        return _detail(400, exc.message)
    decode = functools.partial(
        decode_export_request, body, media_type, prices=request.app.get(PRICE_CATALOG)
    )
    try:
        traces = await asyncio.to_thread(decode) if len(body) > _INLINE_BYTES else decode()
    except OtlpError as exc:
        return _detail(exc.status, exc.detail)
    if traces:
        writer = request.app.get(SPAN_WRITER)
        if writer is None:  # the ./mlruns file store keeps spans only as trace artifacts
            return _detail(501, "REST OTLP span logging is not supported by FileStore")
        experiment_id = parse_experiment_id(experiment)
        await writer.write(experiment_id, traces)
        run_id = request.headers.get(RUN_HEADER)
        completed = [t.trace_id for t in traces if t.status is not None]
        if run_id and completed:
            try:
                await request.app[TRACE_STORE].link_traces_to_run(completed, run_id)
            except AiotrackError:
                # MLflow logs and ignores a link that fails: the spans are stored.
                log.exception("Failed to link OpenTelemetry traces to MLflow run")
    # The answer uses the request's encoding (OTLP/HTTP): an empty response either way.
    if media_type == JSON:
        return web.json_response({})
    return web.Response(body=b"", content_type="application/x-protobuf")
