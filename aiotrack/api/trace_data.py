"""Where a trace's spans are read from: the tracking database, or — for traces whose client
uploaded them (MLflow's fallback when a server cannot ingest spans, and older clients) — the
``traces.json`` artifact under the trace's artifact location."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from aiotrack.errors import AiotrackError
from aiotrack.keys import ARTIFACT_STORAGE, TRACE_STORE
from aiotrack.tracing.entities import (
    ARTIFACT_LOCATION_TAG,
    SPANS_IN_ARCHIVE,
    SPANS_IN_TRACKING_STORE,
    SPANS_LOCATION_TAG,
    TraceInfo,
)
from aiotrack.tracing.spans import archived_trace_contents
from aiotrack.tracing.wire import split_trace_data

__all__ = ["TRACE_DATA_FILE", "in_tracking_store", "span_contents"]

TRACE_DATA_FILE = "traces.json"
#: The OTLP ``TracesData`` MLflow's trace archival writes under the archive location.
ARCHIVE_FILE = "traces.pb"
ARCHIVE_LOCATION_TAG = "mlflow.trace.archiveLocation"
#: A ``traces.json`` larger than this is not loaded into an answer.
MAX_TRACE_DATA_BYTES = 256 * 1024 * 1024


def in_tracking_store(info: TraceInfo) -> bool:
    return info.tags.get(SPANS_LOCATION_TAG) == SPANS_IN_TRACKING_STORE


async def span_contents(request: web.Request, infos: Sequence[TraceInfo]) -> dict[str, list[str]]:
    """Each trace's spans as stored span JSON, from the database or its ``traces.json``."""
    store = request.app[TRACE_STORE]
    found = await store.get_span_contents([i.trace_id for i in infos if in_tracking_store(i)])
    for info in infos:
        if info.trace_id not in found and not in_tracking_store(info):
            spans = await _artifact_spans(request, info)
            if spans is not None:
                found[info.trace_id] = spans
    return found


async def _read(request: web.Request, location: str | None, name: str) -> bytes | None:
    if not location:
        return None
    try:
        repo = await request.app[ARTIFACT_STORAGE].for_artifact_uri(location)
        stream = await repo.open_read(name)
    except (AiotrackError, OSError):
        return None  # not uploaded (yet): the trace has no spans to show
    if stream.size > MAX_TRACE_DATA_BYTES:
        await stream.aclose()
        return None
    return b"".join([chunk async for chunk in stream.chunks])


async def _artifact_spans(request: web.Request, info: TraceInfo) -> list[str] | None:
    if info.tags.get(SPANS_LOCATION_TAG) == SPANS_IN_ARCHIVE:
        # MLflow's trace archival moved the spans to <archive location>/traces.pb; a missing
        # payload leaves the trace without spans, as MLflow answers it.
        data = await _read(request, info.tags.get(ARCHIVE_LOCATION_TAG), ARCHIVE_FILE)
        if data is None:
            return []
        try:
            return await asyncio.to_thread(archived_trace_contents, data)
        except ValueError:
            return []
    data = await _read(request, info.tags.get(ARTIFACT_LOCATION_TAG), TRACE_DATA_FILE)
    if data is None:
        return None
    return split_trace_data(data)
