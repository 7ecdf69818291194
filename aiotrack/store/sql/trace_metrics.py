"""Trace metrics and filter correlation over MLflow's trace tables, computed in SQL.

``query_trace_metrics`` answers what MLflow 3.18's ``SqlAlchemyStore.query_trace_metrics``
answers with its rollups disabled (the default): one grouped aggregate query over
``trace_info`` (``TRACES``), ``trace_info`` joined to ``spans`` (``SPANS``) or valid
``assessments`` (``ASSESSMENTS``). MLflow's optional daily rollup tables are only a faster way to
the same numbers and are not used. Points come ordered by time bucket then dimensions, at most
``max_results`` of them; rows whose dimensions are NULL are dropped before the limit.

Percentiles interpolate linearly between the two nearest values (``numpy.quantile``'s default,
PostgreSQL's ``percentile_cont``). PostgreSQL computes them itself. SQLite has no percentile
aggregate: the reader connection gets one written in Python, as MLflow registers one (measured
3x faster than ranking with window functions; it holds a group's values, 8 bytes each, until the
group ends). MySQL/MariaDB take no user aggregates and have only window forms, so there each
value's rank and its group's size come from window functions and an outer query interpolates.
(MLflow on MySQL interpolates between ``PERCENT_RANK``s instead, which differs from this when
values repeat.)

``calculate_trace_filter_correlation`` counts, in one statement, the traces matching each trace
search filter, both, and in all (``trace_search_query`` compiles each filter), then computes NPMI
(:mod:`aiotrack.tracing.correlation`).
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    distinct,
    false,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import Float

from aiotrack.search.trace_metrics import parse_metrics_filter
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.schema.traces import SqlAssessments, SqlSpan, SqlTraceInfo
from aiotrack.store.sql.trace_metric_filters import metric_filter_clause
from aiotrack.store.sql.trace_search import trace_search_query
from aiotrack.tracing.correlation import FilterCorrelation, correlation_from_counts
from aiotrack.tracing.metrics import (
    TIME_BUCKET,
    MetricAggregation,
    MetricDataPoint,
    MetricsQuery,
)
from aiotrack.validation import parse_experiment_id

__all__ = ["SqlTraceMetrics", "metrics_statement", "register_sqlite_percentile"]

TI, SP, AS = SqlTraceInfo, SqlSpan, SqlAssessments
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NS_PER_MS = 1_000_000
#: Correlation filters longer than this are compiled to SQL in a thread.
_INLINE_FILTER_CHARS = 2_000

#: The ``trace_info`` columns of the token metrics.
_TOKEN_METRICS = {
    name: getattr(TI, name)
    for name in (
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    )
}
_SPAN_COSTS = {
    "input_cost": SP.input_cost,
    "output_cost": SP.output_cost,
    "total_cost": SP.total_cost,
}
_DIMENSIONS: dict[str, dict[str, Any]] = {
    "TRACES": {"trace_name": TI.trace_name, "trace_status": TI.status},
    "SPANS": {
        "span_name": SP.name,
        "span_type": SP.type,
        "span_status": SP.status,
        "span_model_name": SP.model_name,
        "span_model_provider": SP.model_provider,
    },
    "ASSESSMENTS": {"assessment_name": AS.name, "assessment_value": AS.value},
}


@dataclass(frozen=True, slots=True)
class _Statement:
    """A metrics query ready to run: its SELECT, and which result column is what."""

    select: Select[Any]
    dimensions: tuple[str, ...]  # labels of the leading columns (time bucket first)
    values: tuple[str, ...]  # aggregation labels of the columns after them


class SqlTraceMetrics:
    """Trace analytics on the tracking database (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def query_trace_metrics(
        self, experiment_ids: Sequence[str], query: MetricsQuery
    ) -> list[MetricDataPoint]:
        """The data points of ``query`` (``InvalidParameter`` for what MLflow refuses)."""
        statement = metrics_statement(experiment_ids, query, self.db.dialect)

        def read(conn: Connection) -> Sequence[Any]:
            if self.db.is_sqlite:
                register_sqlite_percentile(conn)
            return conn.execute(statement.select).all()

        rows = await self.db.run_read(read)
        return _data_points(rows, statement, query.metric_name)

    async def calculate_trace_filter_correlation(
        self,
        experiment_ids: Sequence[str],
        filter_string1: str,
        filter_string2: str,
        base_filter: str | None = None,
    ) -> FilterCorrelation:
        """NPMI of the two filters over the experiments' traces, or over those matching
        ``base_filter`` (which both filters are then ANDed with, as MLflow does)."""
        exp_ids = [parse_experiment_id(e) for e in experiment_ids]
        dialect = self.db.dialect
        if base_filter:
            filter_string1 = f"{base_filter} AND {filter_string1}"
            filter_string2 = f"{base_filter} AND {filter_string2}"

        def build() -> Select[int, int, int, int]:
            return _correlation_counts(
                exp_ids, filter_string1, filter_string2, base_filter, dialect
            )

        longest = max(len(filter_string1), len(filter_string2))
        # Compiling a long filter is CPU work: off the event loop, as trace search does.
        stmt = await asyncio.to_thread(build) if longest > _INLINE_FILTER_CHARS else build()

        def read(conn: Connection) -> tuple[int, int, int, int]:
            row = conn.execute(stmt).one()
            # Some drivers answer COUNT as a Decimal.
            return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)

        total, count1, count2, joint = await self.db.run_read(read)
        return correlation_from_counts(joint, count1, count2, total)


def _correlation_counts(
    exp_ids: list[int], first: str, second: str, base_filter: str | None, dialect: str
) -> Select[int, int, int, int]:
    """One row: traces in the universe (the experiments', or those matching ``base_filter``),
    and how many of them match ``first``, ``second``, and both.

    MLflow LEFT JOINs the universe to each filter's ids. PostgreSQL plans that as nested loops
    when its statistics undercount the tables (minutes on 100,000 freshly loaded traces), so
    there each membership is an ``IN`` instead, which it hashes whatever the statistics (150 ms
    on those traces, 140 ms for the joins once analysed); SQLite and MariaDB run the joins
    faster than the ``IN`` form (625 ms against 955 ms, 880 against 990)."""
    universe: Any = TI.__table__
    trace_id: Any = TI.request_id
    scope: list[ColumnElement[bool]] = [TI.experiment_id.in_(exp_ids)]
    if base_filter:
        universe = _matching(exp_ids, base_filter, dialect).subquery()
        trace_id, scope = next(iter(universe.c)), []
    if dialect == "postgresql":
        # correlate(None): the filter's own trace_info is not the universe's.
        in_first = trace_id.in_(_matching(exp_ids, first, dialect).correlate(None))
        in_second = trace_id.in_(_matching(exp_ids, second, dialect).correlate(None))
        # Each membership is tested once per trace and the joint count reuses the flags;
        # OFFSET 0 keeps PostgreSQL from inlining the flags into the counts, which planned
        # four subplans instead of two (443 ms against 150 ms).
        flags = (
            select(
                trace_id.label("trace_id"),
                case((in_first, 1), else_=0).label("first"),
                case((in_second, 1), else_=0).label("second"),
            )
            .select_from(universe)
            .where(*scope)
            .offset(0)
            .subquery("flags")
        )
        return select(
            func.count(flags.c.trace_id),
            func.count(case((flags.c.first == 1, 1))),
            func.count(case((flags.c.second == 1, 1))),
            func.count(case((and_(flags.c.first == 1, flags.c.second == 1), 1))),
        )
    first_ids = _matching(exp_ids, first, dialect).subquery()
    second_ids = _matching(exp_ids, second, dialect).subquery()
    first_id, second_id = next(iter(first_ids.c)), next(iter(second_ids.c))
    both = and_(first_id.is_not(None), second_id.is_not(None))
    return (
        select(
            func.count(trace_id),
            func.count(first_id),
            func.count(second_id),
            func.count(case((both, trace_id))),
        )
        .select_from(
            universe.outerjoin(first_ids, trace_id == first_id).outerjoin(
                second_ids, trace_id == second_id
            )
        )
        .where(*scope)
    )


def _matching(exp_ids: list[int], filter_string: str, dialect: str) -> Select[Any]:
    """The ids of the experiments' traces matching a trace search filter."""
    return trace_search_query(exp_ids, filter_string, [], dialect=dialect).order_by(None)


# -- metrics -----------------------------------------------------------------------------------


def metrics_statement(
    experiment_ids: Sequence[str], query: MetricsQuery, dialect: str
) -> _Statement:
    """The SELECT answering ``query`` on ``dialect`` (``sqlite``, ``postgresql``, ``mysql``),
    after MLflow's validation in MLflow's order."""
    query.validate()
    exp_ids = [parse_experiment_id(e) for e in experiment_ids]
    view, metric = query.view_type, query.metric_name
    filters = [parse_metrics_filter(f) for f in query.filters]
    where: list[ColumnElement[bool]] = []
    source: FromClause
    if view == "ASSESSMENTS":
        source = AS.__table__
        where += [AS.experiment_id.in_(exp_ids), AS.valid == true()]
    elif view == "SPANS" and metric in _SPAN_COSTS and all(f.view == "span" for f in filters):
        # Nothing asks for the trace: cost, model, experiment and start time are all on the
        # span (as MLflow reads them on PostgreSQL; measured 270 ms against 1,060 ms through
        # trace_info for 300,000 spans).
        source = SP.__table__
        where.append(SP.experiment_id.in_(exp_ids))
    else:
        source = TI.__table__
        if view == "SPANS":
            source = source.join(SP.__table__, SP.trace_id == TI.request_id)
        where.append(TI.experiment_id.in_(exp_ids))
    where += [metric_filter_clause(f, view) for f in filters]
    where += _time_range(query)
    session_count = view == "TRACES" and metric == "session_count"
    value = _metric_value(view, metric)
    # Aggregates skip NULLs anyway; dropping them first keeps all-NULL groups from taking
    # result slots (MLflow does the same).
    where.append(TI.session_id.is_not(None) if session_count else value.is_not(None))

    dims: list[tuple[str, Any]] = []
    if query.time_interval_seconds:
        dims.append((TIME_BUCKET, _time_bucket(view, query.time_interval_seconds, dialect)))
    for name in query.dimensions:
        column = _DIMENSIONS[view][name]
        where.append(column.is_not(None))
        dims.append((name, column))
    # One column per distinct label: a repeated aggregation is one value of the data point.
    aggregations = list({a.label: a for a in query.aggregations}.values())
    percentile = any(a.type == "PERCENTILE" for a in aggregations)
    if percentile and dialect == "mysql":
        stmt = _ranked_statement(source, where, dims, value, aggregations, dialect)
    else:
        if session_count:
            value = distinct(TI.session_id)
        columns = [expr.label(f"d{i}") for i, (_, expr) in enumerate(dims)]
        columns += [
            _aggregate(a, value, dialect).label(f"v{i}") for i, a in enumerate(aggregations)
        ]
        stmt = select(*columns).select_from(source).where(*where)
        if dims:
            keys = [expr for _, expr in dims]
            stmt = stmt.group_by(*keys).order_by(*keys)
    return _Statement(
        stmt.limit(query.max_results),
        tuple(name for name, _ in dims),
        tuple(a.label for a in aggregations),
    )


def _metric_value(view: str, metric: str) -> Any:
    if view == "TRACES":
        if metric == "trace_count":
            return TI.request_id
        if metric == "session_count":
            return TI.session_id
        if metric == "latency":
            return TI.execution_time_ms
        return _TOKEN_METRICS[metric]
    if view == "SPANS":
        if metric == "span_count":
            return SP.span_id
        if metric == "latency":  # whole milliseconds, truncated as MLflow's integer division
            return (SP.end_time_unix_nano - SP.start_time_unix_nano) // _NS_PER_MS
        return _SPAN_COSTS[metric]
    return AS.assessment_id if metric == "assessment_count" else AS.aggregate_value


def _aggregate(aggregation: MetricAggregation, value: Any, dialect: str) -> Any:
    kind = aggregation.type
    if kind == "COUNT":
        return func.count(value)
    if kind == "SUM":
        return func.sum(value)
    if kind == "AVG":
        # MySQL averages integers as DECIMAL with four places; a double keeps full precision.
        return func.avg(_double(value, dialect))
    if kind == "MIN":
        return func.min(value)
    if kind == "MAX":
        return func.max(value)
    assert aggregation.percentile is not None  # PERCENTILE, on PostgreSQL or SQLite
    fraction = aggregation.percentile / 100
    if dialect == "sqlite":
        return getattr(func, _SQLITE_PERCENTILE)(value, literal(fraction, Float()))
    return func.percentile_cont(fraction).within_group(value)


def _double(value: Any, dialect: str) -> Any:
    """``value`` as a double precision float (SQLAlchemy cannot CAST to DOUBLE on MySQL, but
    adding the double ``0e0`` makes one)."""
    if dialect == "mysql":
        return value + literal_column("0e0")
    return value.cast(Float())


#: The name of the percentile aggregate registered on SQLite reader connections.
_SQLITE_PERCENTILE = "aiotrack_percentile"


class _SqlitePercentile:
    """``aiotrack_percentile(value, fraction)``: the linearly interpolated ``fraction``
    quantile (0 to 1) of a group's non-NULL values; NULL for none."""

    def __init__(self) -> None:
        self.values = array("d")
        self.fraction = 0.0

    def step(self, value: float | None, fraction: float) -> None:
        if value is not None:
            self.values.append(value)
            self.fraction = fraction

    def finalize(self) -> float | None:
        count = len(self.values)
        if not count:
            return None
        ordered = sorted(self.values)
        pos = self.fraction * (count - 1)
        low = math.floor(pos)
        high = min(low + 1, count - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def register_sqlite_percentile(conn: Connection) -> None:
    """Give the SQLite connection under ``conn`` the percentile aggregate (idempotent)."""
    raw: Any = conn.connection.driver_connection
    raw.create_aggregate(_SQLITE_PERCENTILE, 2, _SqlitePercentile)


def _ranked_statement(
    source: FromClause,
    where: list[ColumnElement[bool]],
    dims: list[tuple[str, Any]],
    value: Any,
    aggregations: list[MetricAggregation],
    dialect: str,
) -> Select[Any]:
    """Aggregations with percentiles on MySQL/MariaDB (no percentile aggregate): an inner
    query ranks each value within its group (``_rn``, 1-based) beside the group's size
    (``_n``); the outer query groups again and interpolates between the values at ranks
    ``floor(pos)`` and ``ceil(pos)``, ``pos = q * (n - 1)``, as ``percentile_cont`` does."""
    keys = [expr for _, expr in dims]
    inner = (
        select(
            *[expr.label(f"d{i}") for i, expr in enumerate(keys)],
            value.label("_value"),
            func.row_number().over(partition_by=keys or None, order_by=value).label("_rn"),
            func.count().over(partition_by=keys or None).label("_n"),
        )
        .select_from(source)
        .where(*where)
        .subquery("ranked")
    )
    number = _double(inner.c._value, dialect)
    rank = inner.c._rn - 1
    columns: list[Any] = [inner.c[f"d{i}"] for i in range(len(keys))]
    for i, aggregation in enumerate(aggregations):
        if aggregation.type != "PERCENTILE":
            columns.append(_aggregate(aggregation, inner.c._value, dialect).label(f"v{i}"))
            continue
        assert aggregation.percentile is not None
        pos = literal(aggregation.percentile / 100, Float()) * (inner.c._n - 1)
        at_floor = and_(rank <= pos, pos < rank + 1)
        at_ceil = and_(rank >= pos, rank - 1 < pos)
        low = func.max(case((at_floor, number)))
        high = func.max(case((at_ceil, number)))
        fraction = func.max(case((at_floor, pos - rank)))
        columns.append((low + (high - low) * fraction).label(f"v{i}"))
    stmt = select(*columns).select_from(inner)
    if keys:
        grouped = columns[: len(keys)]
        stmt = stmt.group_by(*grouped).order_by(*grouped)
    return stmt


def _time_bucket(view: str, interval_seconds: int, dialect: str) -> Any:
    """The start of each row's bucket, in ms: floor division by the bucket size in integer
    arithmetic (exact for nanoseconds; MLflow's float division can misplace a span within
    ~256 ns of a boundary). The sizes are rendered inline so that the expression in GROUP BY is
    the same text as in SELECT on every driver."""
    if view == "SPANS":
        size: Any = literal_column(str(interval_seconds * 1_000_000_000))
        nanos = SP.start_time_unix_nano
        start_ns = nanos - ((nanos % size) + size) % size
        if dialect == "mysql":  # an exact integer DIV: SQLAlchemy's // is FLOOR(DECIMAL /)
            return start_ns.self_group().op("DIV")(literal_column(str(_NS_PER_MS)))
        return start_ns // _NS_PER_MS
    size = literal_column(str(interval_seconds * 1000))
    millis = TI.timestamp_ms if view == "TRACES" else AS.trace_timestamp_ms
    return millis - ((millis % size) + size) % size


def _time_range(query: MetricsQuery) -> list[ColumnElement[bool]]:
    """The inclusive ``[start_time_ms, end_time_ms]`` bounds: on the trace's time, except for
    span costs, which MLflow bounds by the span's start (to the nanosecond). Bounds beyond the
    64-bit range are decided here instead of overflowing a parameter."""
    start, end = query.start_time_ms, query.end_time_ms
    clauses: list[ColumnElement[bool]] = []
    if query.view_type == "SPANS" and query.metric_name in _SPAN_COSTS:
        nanos = SP.start_time_unix_nano
        if start is not None:
            start_ns = start * _NS_PER_MS
            if start_ns > _INT64_MAX:
                clauses.append(false())
            elif start_ns > _INT64_MIN:
                clauses.append(nanos >= start_ns)
        if end is not None:
            end_ns = (end + 1) * _NS_PER_MS  # every nanosecond of the end millisecond
            if end_ns <= _INT64_MIN:
                clauses.append(false())
            elif end_ns <= _INT64_MAX:
                clauses.append(nanos < end_ns)
        return clauses
    millis = AS.trace_timestamp_ms if query.view_type == "ASSESSMENTS" else TI.timestamp_ms
    if start is not None and start > _INT64_MIN:
        clauses.append(millis >= start)
    if end is not None and end < _INT64_MAX:
        clauses.append(millis <= end)
    return clauses


def _data_points(
    rows: Sequence[Any], statement: _Statement, metric_name: str
) -> list[MetricDataPoint]:
    """MLflow's ``convert_results_to_metric_data_points``: rows with a NULL dimension or no
    value are left out; the time bucket becomes an ISO 8601 UTC timestamp (and a bucket
    beyond the year 9999 is left out too)."""
    width = len(statement.dimensions)
    points: list[MetricDataPoint] = []
    for row in rows:
        if any(row[i] is None for i in range(width)):
            continue
        dimensions = {
            name: _iso_time(raw) if name == TIME_BUCKET else str(raw)
            for name, raw in zip(statement.dimensions, row[:width], strict=True)
        }
        if dimensions.get(TIME_BUCKET) == "":
            continue
        values = {
            label: float(raw)
            for label, raw in zip(statement.values, row[width:], strict=True)
            if raw is not None
        }
        if values:
            points.append(MetricDataPoint(metric_name, dimensions, values))
    return points


def _iso_time(millis: Any) -> str:
    """A bucket start as ISO 8601 UTC, as MLflow writes it; ``""`` for one outside the years
    1 to 9999 (a trace stamped absurdly far away), which has no ISO form (MLflow fails with a
    500 there)."""
    try:
        return datetime.fromtimestamp(float(millis) / 1000.0, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return ""
