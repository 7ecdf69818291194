"""Handlers for metric histories: ``metrics/get-history`` and the UI's bulk variants."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

from aiotrack.api.codec import (
    double,
    json_response,
    metric_json,
    metric_with_run_id_json,
    page_json,
)
from aiotrack.api.messages import Message, int64, repeated_string, run_id_field, string
from aiotrack.errors import InvalidParameter
from aiotrack.keys import TRACKING_STORE
from aiotrack.store.base import TrackingStore

__all__ = ["routes"]

MAX_RUNS_PER_BULK_REQUEST = 100
MAX_BULK_INTERVAL_RESULTS = 2500
MAX_BULK_HISTORY_RESULTS = 25000


@dataclass(frozen=True, slots=True)
class GetMetricHistory(Message):
    run_id: str = run_id_field()
    metric_key: str = string(required=True)
    page_token: str | None = string()
    max_results: int | None = int64()


@dataclass(frozen=True, slots=True)
class GetMetricHistoryBulkInterval(Message):
    run_ids: list[str] = repeated_string(required=True)
    metric_key: str = string(required=True)
    start_step: int | None = int64()
    end_step: int | None = int64()
    max_results: int | None = int64()


routes = web.RouteTableDef()


@routes.get("/mlflow/metrics/get-history")
async def get_metric_history(request: web.Request) -> web.StreamResponse:
    msg = await GetMetricHistory.from_request(request)
    if msg.max_results is not None and msg.max_results <= 0:
        raise InvalidParameter(
            f"Invalid value {msg.max_results} for parameter 'max_results' supplied. "
            "It must be a positive integer."
        )
    store = request.app[TRACKING_STORE]
    # The file store's points carry run_id/dataset fields that the streamed shape leaves out.
    streams = store.streams_metric_history
    if msg.max_results is None and not msg.page_token and streams:
        return await _stream_history(request, store, msg.run_id, msg.metric_key)
    page = await store.get_metric_history(
        msg.run_id, msg.metric_key, max_results=msg.max_results, page_token=msg.page_token
    )
    return json_response(page_json(page, "metrics", metric_json))


_DOUBLE_MAX = 1.7976931348623157e308


async def _stream_history(
    request: web.Request, store: TrackingStore, run_id: str, key: str
) -> web.StreamResponse:
    """The full history, written chunk by chunk as it is read (``{}`` when there is none)."""
    chunks = store.stream_metric_history(run_id, key)
    first = await anext(chunks, None)
    if not first:
        return json_response({})
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    opened = False
    chunk: list[tuple[float, int, int, bool]] | None = first
    while chunk:
        # orjson serialises the chunk's points as dicts 5x faster than formatting them here.
        body = orjson.dumps(
            [
                {"key": key, "value": _wire_double(v, nan), "timestamp": ts, "step": st}
                for v, ts, st, nan in chunk
            ]
        )
        await response.write((b'{"metrics":[' if not opened else b",") + body[1:-1])
        opened = True
        chunk = await anext(chunks, None)
    await response.write(b"]}")
    await response.write_eof()
    return response


def _wire_double(value: float, is_nan: bool) -> float | str:
    """A stored metric value as MLflow's JSON carries it ("NaN", "Infinity" as strings)."""
    if is_nan:
        return "NaN"
    if -_DOUBLE_MAX <= value <= _DOUBLE_MAX:
        return value
    return double(value)


@routes.get("/mlflow/metrics/get-history-bulk-interval")
async def get_metric_history_bulk_interval(request: web.Request) -> web.Response:
    msg = await GetMetricHistoryBulkInterval.from_request(request)
    if len(msg.run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise InvalidParameter(
            "GetMetricHistoryBulkInterval request must specify at most "
            f"{MAX_RUNS_PER_BULK_REQUEST} run_ids. Received {len(msg.run_ids)} run_ids."
        )
    max_results = MAX_BULK_INTERVAL_RESULTS if msg.max_results is None else msg.max_results
    if not 1 <= max_results <= MAX_BULK_INTERVAL_RESULTS:
        raise InvalidParameter(f"max_results must be between 1 and {MAX_BULK_INTERVAL_RESULTS}.")
    if (msg.start_step is None) != (msg.end_step is None):
        raise InvalidParameter(
            "If either start step or end step are specified, both must be specified."
        )
    if msg.start_step is not None and msg.end_step is not None and msg.start_step > msg.end_step:
        raise InvalidParameter(
            "end_step must be greater than start_step. "
            f"Found start_step={msg.start_step} and end_step={msg.end_step}."
        )
    points = await request.app[TRACKING_STORE].get_metric_history_bulk_interval(
        msg.run_ids,
        msg.metric_key,
        max_results=max_results,
        start_step=msg.start_step,
        end_step=msg.end_step,
    )
    body: dict[str, object] = {}
    if points:
        body["metrics"] = [metric_with_run_id_json(p) for p in points]
    return json_response(body)


async def get_metric_history_bulk(request: web.Request) -> web.Response:
    """UI-only ``/ajax-api/2.0/mlflow/metrics/get-history-bulk`` (plain JSON, run_id repeated)."""
    run_ids = request.query.getall("run_id", [])
    if not run_ids:
        raise InvalidParameter("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
        raise InvalidParameter(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_PER_BULK_REQUEST}"
            f" run_ids. Received {len(run_ids)} run_ids."
        )
    metric_key = request.query.get("metric_key")
    if metric_key is None:
        raise InvalidParameter("GetMetricHistoryBulk request must specify a metric_key.")
    try:
        max_results = int(request.query.get("max_results", MAX_BULK_HISTORY_RESULTS))
    except ValueError:
        raise InvalidParameter("max_results must be an integer.") from None
    max_results = min(max_results, MAX_BULK_HISTORY_RESULTS)
    store = request.app[TRACKING_STORE]
    out: list[dict[str, object]] = []
    for run_id in sorted(run_ids):
        page = await store.get_metric_history(
            run_id, metric_key, max_results=max_results, page_token=None
        )
        out.extend({**metric_json(m), "run_id": run_id} for m in page.items)
    return json_response({"metrics": out[:max_results]})
