"""Where a trace's spans are read from: the tracking database, or — for traces whose client
uploaded them (MLflow's fallback when a server cannot ingest spans, and older clients) — the
``traces.json`` artifact under the trace's artifact location."""

from __future__ import annotations

import json
from collections.abc import Sequence

import orjson
from aiohttp import web

from aiotrack.errors import AiotrackError
from aiotrack.keys import ARTIFACT_STORAGE, TRACE_STORE
from aiotrack.tracing.entities import (
    ARTIFACT_LOCATION_TAG,
    SPANS_IN_TRACKING_STORE,
    SPANS_LOCATION_TAG,
    TraceInfo,
)

__all__ = ["TRACE_DATA_FILE", "in_tracking_store", "span_contents"]

TRACE_DATA_FILE = "traces.json"
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


async def _artifact_spans(request: web.Request, info: TraceInfo) -> list[str] | None:
    location = info.tags.get(ARTIFACT_LOCATION_TAG)
    if not location:
        return None
    try:
        repo = await request.app[ARTIFACT_STORAGE].for_artifact_uri(location)
        stream = await repo.open_read(TRACE_DATA_FILE)
    except (AiotrackError, OSError):
        return None  # not uploaded (yet): the trace has no spans to show
    if stream.size > MAX_TRACE_DATA_BYTES:
        await stream.aclose()
        return None
    data = b"".join([chunk async for chunk in stream.chunks])
    try:
        spans = orjson.loads(data).get("spans") or []
        return [orjson.dumps(span).decode() for span in spans if isinstance(span, dict)]
    except (orjson.JSONDecodeError, AttributeError):
        pass
    try:  # NaN and Infinity in attribute values: Python's json reads and writes them
        spans = json.loads(data).get("spans") or []
    except (ValueError, AttributeError):
        return None
    return [json.dumps(span) for span in spans if isinstance(span, dict)]
