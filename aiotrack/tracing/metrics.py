"""Trace metrics (``QueryTraceMetrics``): views, metric names, aggregations, dimensions and the
data points they answer, with MLflow 3.18's validation and messages.

A query reads one *view* (``TRACES``, ``SPANS`` or ``ASSESSMENTS``), one metric of that view,
one or more aggregations of it, grouped by optional dimensions and time buckets. Which
aggregations and dimensions each metric allows is the table :data:`VIEW_METRICS` (MLflow's
``VIEW_TYPE_CONFIGS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from aiotrack.errors import InvalidParameter

__all__ = [
    "AGGREGATION_TYPES",
    "DEFAULT_MAX_RESULTS",
    "TIME_BUCKET",
    "VIEW_METRICS",
    "VIEW_TYPES",
    "MetricAggregation",
    "MetricDataPoint",
    "MetricSpec",
    "MetricsQuery",
    "validate_metrics_query",
]

#: ``MetricViewType`` and ``AggregationType`` names by proto number.
VIEW_TYPES = {"TRACES": 1, "SPANS": 2, "ASSESSMENTS": 3}
AGGREGATION_TYPES = {"COUNT": 1, "SUM": 2, "AVG": 3, "PERCENTILE": 4, "MIN": 5, "MAX": 6}
#: ``max_results`` when the request names none (MLflow's ``MAX_RESULTS_QUERY_TRACE_METRICS``).
DEFAULT_MAX_RESULTS = 1000
#: The dimension a time-bucketed query adds: the bucket's start as ISO 8601 (UTC).
TIME_BUCKET = "time_bucket"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """What one metric allows: its aggregation types and the dimensions it groups by."""

    aggregations: frozenset[str]
    dimensions: frozenset[str]


_COUNT = frozenset({"COUNT"})
_STATS = frozenset({"AVG", "MIN", "MAX", "PERCENTILE"})
_SUMMABLE = _STATS | {"SUM"}
_TRACE_NAME = frozenset({"trace_name"})
_MODEL = frozenset({"span_model_name", "span_model_provider"})

#: Each view's metrics, in MLflow's order (error messages list them in this order).
VIEW_METRICS: dict[str, dict[str, MetricSpec]] = {
    "TRACES": {
        "trace_count": MetricSpec(_COUNT, frozenset({"trace_name", "trace_status"})),
        "session_count": MetricSpec(_COUNT, frozenset()),
        "latency": MetricSpec(_STATS, _TRACE_NAME),
        "input_tokens": MetricSpec(_SUMMABLE, _TRACE_NAME),
        "output_tokens": MetricSpec(_SUMMABLE, _TRACE_NAME),
        "total_tokens": MetricSpec(_SUMMABLE, _TRACE_NAME),
        "cache_read_input_tokens": MetricSpec(_SUMMABLE, _TRACE_NAME),
        "cache_creation_input_tokens": MetricSpec(_SUMMABLE, _TRACE_NAME),
    },
    "SPANS": {
        "span_count": MetricSpec(
            _COUNT,
            frozenset({"span_name", "span_type", "span_status"}) | _MODEL,
        ),
        "latency": MetricSpec(_STATS, frozenset({"span_name", "span_status"})),
        "input_cost": MetricSpec(_SUMMABLE, _MODEL),
        "output_cost": MetricSpec(_SUMMABLE, _MODEL),
        "total_cost": MetricSpec(_SUMMABLE, _MODEL),
    },
    "ASSESSMENTS": {
        "assessment_count": MetricSpec(_COUNT, frozenset({"assessment_name", "assessment_value"})),
        "assessment_value": MetricSpec(_STATS, frozenset({"assessment_name"})),
    },
}


@dataclass(frozen=True, slots=True)
class MetricAggregation:
    """One aggregation; ``percentile`` (0 to 100) is given with ``PERCENTILE`` and only then.

    Its :attr:`label` is the key of its value in a data point: ``AVG``, ``P50.0``, ...
    """

    type: str
    percentile: float | None = None

    def __post_init__(self) -> None:
        # MLflow raises these as ValueError (a 500 there); they are the client's mistake.
        if self.type == "PERCENTILE":
            if self.percentile is None:
                raise InvalidParameter("Percentile value is required for PERCENTILE aggregation")
            if math.isnan(self.percentile) or not 0 <= self.percentile <= 100:
                raise InvalidParameter(
                    f"Percentile value must be between 0 and 100, got {self.percentile}"
                )
        elif self.percentile is not None:
            raise InvalidParameter(
                f"Percentile value is only allowed for PERCENTILE aggregation type, got {self.type}"
            )

    @property
    def label(self) -> str:
        return f"P{self.percentile}" if self.type == "PERCENTILE" else self.type


@dataclass(frozen=True, slots=True)
class MetricDataPoint:
    """One row of an answer: the metric, its dimension values and its aggregated values."""

    metric_name: str
    dimensions: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The ``MetricDataPoint`` proto JSON (empty maps left out, as protobuf does)."""
        body: dict[str, object] = {"metric_name": self.metric_name}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        if self.values:
            body["values"] = self.values
        return body


def validate_metrics_query(
    view_type: str,
    metric_name: str,
    aggregations: list[MetricAggregation],
    dimensions: list[str],
) -> MetricSpec:
    """MLflow's ``validate_query_trace_metrics_params``: the metric's spec, or a 400 naming what
    the metric does not support."""
    metrics = VIEW_METRICS.get(view_type)
    if metrics is None:
        raise InvalidParameter(f"view_type must be one of {list(VIEW_METRICS)}, got '{view_type}'")
    spec = metrics.get(metric_name)
    if spec is None:
        raise InvalidParameter(f"metric_name must be one of {list(metrics)}, got '{metric_name}'")
    if invalid := {a.type for a in aggregations} - spec.aggregations:
        raise InvalidParameter(
            f"Found invalid aggregation_type(s): {sorted(invalid)}. "
            f"Supported aggregation types: {sorted(spec.aggregations)}"
        )
    if invalid := set(dimensions) - spec.dimensions:
        raise InvalidParameter(
            f"Found invalid dimension(s): {sorted(invalid)}. "
            f"Supported dimensions: {sorted(spec.dimensions)}"
        )
    return spec


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """One ``QueryTraceMetrics`` request, experiments aside.

    ``filters`` are metric filter strings (:mod:`aiotrack.search.trace_metrics`), ANDed.
    ``time_interval_seconds`` buckets the points by trace (span: start) time and then needs
    both bounds; ``start_time_ms``/``end_time_ms`` are inclusive, in milliseconds since the
    epoch. At most ``max_results`` points are answered (MLflow has no next page).
    """

    view_type: str
    metric_name: str
    aggregations: tuple[MetricAggregation, ...]
    dimensions: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    time_interval_seconds: int | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    max_results: int = DEFAULT_MAX_RESULTS

    def validate(self) -> MetricSpec:
        """The metric's spec, after MLflow's checks (in MLflow's order) and two of ours: a
        negative ``max_results`` or ``time_interval_seconds`` is a 400 here (MLflow passes
        them to the database, which fails or answers nonsense buckets)."""
        spec = validate_metrics_query(
            self.view_type, self.metric_name, list(self.aggregations), list(self.dimensions)
        )
        if self.time_interval_seconds and (self.start_time_ms is None or self.end_time_ms is None):
            raise InvalidParameter(
                "start_time_ms and end_time_ms are required if time_interval_seconds is set"
            )
        if self.time_interval_seconds is not None and self.time_interval_seconds < 0:
            raise InvalidParameter(
                f"Invalid value {self.time_interval_seconds} for parameter "
                "'time_interval_seconds' supplied. It must be a positive integer"
            )
        if self.max_results < 0:
            raise InvalidParameter(
                f"Invalid value {self.max_results} for parameter 'max_results' supplied. "
                "It must be a non-negative integer"
            )
        return spec
