"""Handlers for trace analytics (``/api/3.0/mlflow/traces/metrics`` and
``/api/3.0/mlflow/traces/calculate-filter-correlation``): parse, call the trace metrics store,
answer MLflow's proto JSON.

``page_token`` is accepted and ignored and no ``next_page_token`` is ever answered, as in
MLflow 3.18 (whose store has paging as a TODO): a query answers at most ``max_results`` points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from aiotrack.api.codec import json_response
from aiotrack.api.disconnect import cancel_on_disconnect
from aiotrack.api.messages import (
    Message,
    double,
    enum,
    int64,
    read_json_body,
    repeated_message,
    repeated_string,
    string,
)
from aiotrack.errors import InvalidParameter, NotImplementedFeature
from aiotrack.keys import TRACE_METRICS
from aiotrack.store.trace_metrics_base import TraceMetricsStore
from aiotrack.tracing.metrics import (
    AGGREGATION_TYPES,
    DEFAULT_MAX_RESULTS,
    VIEW_TYPES,
    MetricAggregation,
    MetricsQuery,
)
from aiotrack.validation import missing_value

__all__ = ["routes"]

_VIEW_NAMES = {number: name for name, number in VIEW_TYPES.items()}
_AGGREGATION_NAMES = {number: name for name, number in AGGREGATION_TYPES.items()}
_HINT = " See the API docs for more information about request parameters."
M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class Aggregation(Message):
    # Unset is the enum's first value, COUNT, as protobuf reads it.
    aggregation_type: int = enum(AGGREGATION_TYPES, default=AGGREGATION_TYPES["COUNT"])
    percentile_value: float | None = double()


@dataclass(frozen=True, slots=True)
class QueryTraceMetrics(Message):
    experiment_ids: list[str] = repeated_string()  # required, but may be empty (see _parse)
    view_type: int = enum(VIEW_TYPES, required=True)
    metric_name: str = string(required=True)
    aggregations: list[Aggregation] = repeated_message(Aggregation, required=True)
    dimensions: list[str] = repeated_string()
    filters: list[str] = repeated_string()
    time_interval_seconds: int | None = int64()
    start_time_ms: int | None = int64()
    end_time_ms: int | None = int64()
    max_results: int = int64(default=DEFAULT_MAX_RESULTS)
    page_token: str | None = string()


@dataclass(frozen=True, slots=True)
class CalculateTraceFilterCorrelation(Message):
    experiment_ids: list[str] = repeated_string()  # required, but may be empty (see _parse)
    filter_string1: str = string(required=True)
    filter_string2: str = string(required=True)
    base_filter: str | None = string()


routes = web.RouteTableDef()


@routes.post("/mlflow/traces/metrics")
@cancel_on_disconnect
async def query_trace_metrics(request: web.Request) -> web.Response:
    msg = await _parse(QueryTraceMetrics, request)
    query = MetricsQuery(
        view_type=_VIEW_NAMES[msg.view_type],
        metric_name=msg.metric_name,
        aggregations=tuple(
            MetricAggregation(_AGGREGATION_NAMES[a.aggregation_type], a.percentile_value)
            for a in msg.aggregations
        ),
        dimensions=tuple(msg.dimensions),
        filters=tuple(msg.filters),
        time_interval_seconds=msg.time_interval_seconds,
        start_time_ms=msg.start_time_ms,
        end_time_ms=msg.end_time_ms,
        max_results=msg.max_results,
    )
    points = await _store(request, "query_trace_metrics").query_trace_metrics(
        msg.experiment_ids, query
    )
    return json_response({"data_points": [p.to_json() for p in points]} if points else {})


@routes.post("/mlflow/traces/calculate-filter-correlation")
@cancel_on_disconnect
async def calculate_trace_filter_correlation(request: web.Request) -> web.Response:
    msg = await _parse(CalculateTraceFilterCorrelation, request)
    result = await _store(
        request, "calculate_trace_filter_correlation"
    ).calculate_trace_filter_correlation(
        msg.experiment_ids, msg.filter_string1, msg.filter_string2, msg.base_filter
    )
    return json_response(result.to_json())


async def _parse(cls: type[M], request: web.Request) -> M:
    """``cls`` from the JSON body, with ``experiment_ids`` required as MLflow requires it:
    present, but possibly ``[]`` (which the message layer counts as missing). It is the first
    field, so its absence is the first missing value; a type error anywhere still wins."""
    body: dict[str, Any] = await read_json_body(request)
    absent = body.get("experiment_ids", body.get("experimentIds")) in (None, "")
    try:
        msg = cls.from_json(body)
    except InvalidParameter as exc:
        if absent and exc.message.startswith("Missing value"):
            raise InvalidParameter(missing_value("experiment_ids") + _HINT) from None
        raise
    if absent:
        raise InvalidParameter(missing_value("experiment_ids") + _HINT)
    return msg


def _store(request: web.Request, operation: str) -> TraceMetricsStore:
    store = request.app.get(TRACE_METRICS)
    if store is None:  # a file-store backend: MLflow's FileStore refuses these the same way
        raise NotImplementedFeature(
            f"{operation} is not supported with FileStore. This feature requires a SQL-based "
            "tracking backend (e.g., SQLite, PostgreSQL, MySQL). Please configure MLflow with a "
            "SQL backend using --backend-store-uri. For SQLite setup instructions, see: "
            "https://mlflow.org/docs/latest/self-hosting/architecture/tracking-server/"
            "#configure-server"
        )
    return store
