"""The async protocol of trace analytics: metrics over traces, spans and assessments, and the
correlation of two trace filters (the SQL store; a file store answers 501)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiotrack.tracing.correlation import FilterCorrelation
from aiotrack.tracing.metrics import MetricDataPoint, MetricsQuery

__all__ = ["TraceMetricsStore"]


class TraceMetricsStore(Protocol):
    """``QueryTraceMetrics`` and ``CalculateTraceFilterCorrelation``."""

    async def query_trace_metrics(
        self, experiment_ids: Sequence[str], query: MetricsQuery
    ) -> list[MetricDataPoint]:
        """The data points of ``query`` over the experiments' traces, ordered by time bucket
        then dimensions; ``InvalidParameter`` for what MLflow refuses."""
        ...

    async def calculate_trace_filter_correlation(
        self,
        experiment_ids: Sequence[str],
        filter_string1: str,
        filter_string2: str,
        base_filter: str | None = None,
    ) -> FilterCorrelation:
        """NPMI of the two trace search filters over the experiments' traces (those matching
        ``base_filter`` when given, which both filters are then ANDed with)."""
        ...
