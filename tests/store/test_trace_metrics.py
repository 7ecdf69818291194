"""Trace metrics and filter correlation (aiotrack.store.sql.trace_metrics) on SQLite, PostgreSQL
and MariaDB, checked against MLflow's own ``SqlAlchemyStore`` opened on the same database with
the same rows: the same data points, in the same order, with the same values (floats to a
tolerance), the same correlation counts and NPMI, and the same refusals.
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aiotrack.errors import InvalidParameter
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import ensure_schema
from aiotrack.store.sql.trace_metrics import SqlTraceMetrics
from aiotrack.store.sql.urls import to_async_url
from aiotrack.tracing.correlation import FilterCorrelation
from aiotrack.tracing.metrics import MetricAggregation, MetricDataPoint, MetricsQuery
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import drop_postgres_database, new_postgres_database
from tests.store.trace_data import (
    BASE_MS,
    FAR_MS,
    HOUR_MS,
    LINKED_RUN,
    TraceData,
    insert_trace_data,
)
from tests.store.trace_data import sync_uri as _sync_uri

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.entities.trace_metrics import AggregationType, MetricViewType
    from mlflow.entities.trace_metrics import MetricAggregation as MlflowAggregation
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore


@dataclass
class Loaded:
    """One backend's database with the data set, and MLflow's store on it."""

    backend: str
    uri: str
    data: TraceData
    mlflow: Any

    def exp(self, *labels: str) -> list[str]:
        return [self.data.experiments[label] for label in labels]


async def _schema(uri: str) -> None:
    db = Database(to_async_url(uri))
    try:
        await ensure_schema(db.engine, uri=uri)
    finally:
        await db.dispose()


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    backend: str = request.param
    workdir = tmp_path_factory.mktemp(f"metrics-{backend}")
    drop = None
    if backend == "sqlite":
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
    elif backend == "postgres":
        uri, drop = new_postgres_database("aiotrack_trace_metrics"), drop_postgres_database
    else:
        uri, drop = new_mariadb_database("trace_metrics"), drop_mariadb_database
    try:
        # MLflow 3.17.2 refuses a newer schema revision, so it creates the schema (its own head,
        # which aiotrack serves as it is) and aiotrack checks it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            store = SqlAlchemyStore(_sync_uri(uri), str(workdir / "artifacts"))
        asyncio.run(_schema(uri))
        data = insert_trace_data(uri)
        try:
            yield Loaded(backend, uri, data, store)
        finally:
            store.engine.dispose()
    finally:
        if drop is not None:
            drop(uri)


@pytest.fixture
async def metrics(loaded: Loaded) -> AsyncIterator[SqlTraceMetrics]:
    db = Database(to_async_url(loaded.uri))
    try:
        yield SqlTraceMetrics(db)
    finally:
        await db.dispose()


# -- the two implementations side by side ------------------------------------------------------


def _aggregations(names: list[str]) -> tuple[MetricAggregation, ...]:
    return tuple(
        MetricAggregation("PERCENTILE", float(n[1:])) if n.startswith("P") else MetricAggregation(n)
        for n in names
    )


def _mlflow_aggregations(names: list[str]) -> list[Any]:
    return [
        MlflowAggregation(AggregationType.PERCENTILE, float(n[1:]))
        if n.startswith("P")
        else MlflowAggregation(AggregationType(n))
        for n in names
    ]


async def _both(
    loaded: Loaded,
    metrics: SqlTraceMetrics,
    experiments: list[str],
    view: str,
    metric: str,
    aggregations: list[str],
    **options: Any,
) -> tuple[list[MetricDataPoint], list[Any]]:
    ours = await metrics.query_trace_metrics(
        loaded.exp(*experiments),
        MetricsQuery(
            view,
            metric,
            _aggregations(aggregations),
            dimensions=tuple(options.get("dimensions", ())),
            filters=tuple(options.get("filters", ())),
            time_interval_seconds=options.get("time_interval_seconds"),
            start_time_ms=options.get("start_time_ms"),
            end_time_ms=options.get("end_time_ms"),
            max_results=options.get("max_results", 1000),
        ),
    )
    theirs = await asyncio.to_thread(
        loaded.mlflow.query_trace_metrics,
        experiment_ids=loaded.exp(*experiments),
        view_type=MetricViewType(view),
        metric_name=metric,
        aggregations=_mlflow_aggregations(aggregations),
        dimensions=options.get("dimensions"),
        filters=options.get("filters"),
        time_interval_seconds=options.get("time_interval_seconds"),
        start_time_ms=options.get("start_time_ms"),
        end_time_ms=options.get("end_time_ms"),
        max_results=options.get("max_results", 1000),
    )
    return ours, list(theirs)


def _assert_same(loaded: Loaded, ours: list[MetricDataPoint], theirs: list[Any]) -> None:
    assert [(p.metric_name, p.dimensions) for p in ours] == [
        (p.metric_name, p.dimensions) for p in theirs
    ]
    for mine, their in zip(ours, theirs, strict=True):
        assert set(mine.values) == set(their.values), mine
        for label, value in mine.values.items():
            expected = float(their.values[label])
            # MySQL answers AVG of integers as DECIMAL with four places (we average doubles).
            tolerance = 1e-4 if loaded.backend == "mariadb" and label == "AVG" else 1e-9
            assert value == pytest.approx(expected, rel=tolerance, abs=tolerance), (label, mine)


START, END = BASE_MS + HOUR_MS // 2, BASE_MS + 2 * HOUR_MS + 1234

CASES: list[tuple[str, list[str], str, str, list[str], dict[str, Any]]] = [
    # id, experiments, view, metric, aggregations, options
    ("trace-count", ["a"], "TRACES", "trace_count", ["COUNT"], {}),
    ("trace-count-two-experiments", ["a", "b"], "TRACES", "trace_count", ["COUNT"], {}),
    ("trace-count-empty", ["empty"], "TRACES", "trace_count", ["COUNT"], {}),
    (
        "trace-count-by-status",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"dimensions": ["trace_status"]},
    ),
    (
        "trace-count-by-name-status",
        ["a", "b"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"dimensions": ["trace_name", "trace_status"]},
    ),
    (
        "trace-count-hourly",
        ["a", "b"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"time_interval_seconds": 3600, "start_time_ms": 0, "end_time_ms": BASE_MS + 99 * HOUR_MS},
    ),
    (
        "trace-count-10min-by-status-bounded",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {
            "time_interval_seconds": 600,
            "start_time_ms": START,
            "end_time_ms": END,
            "dimensions": ["trace_status"],
        },
    ),
    ("session-count", ["a"], "TRACES", "session_count", ["COUNT"], {}),
    (
        "session-count-hourly",
        ["a"],
        "TRACES",
        "session_count",
        ["COUNT"],
        {"time_interval_seconds": 3600, "start_time_ms": BASE_MS, "end_time_ms": END},
    ),
    (
        "latency-stats",
        ["a"],
        "TRACES",
        "latency",
        ["AVG", "MIN", "MAX", "P50", "P95", "P0", "P100"],
        {},
    ),
    (
        "latency-by-name",
        ["a", "b"],
        "TRACES",
        "latency",
        ["AVG", "P90"],
        {"dimensions": ["trace_name"]},
    ),
    (
        "input-tokens-hourly-by-name",
        ["a"],
        "TRACES",
        "input_tokens",
        ["SUM", "AVG", "MIN", "MAX", "P25"],
        {
            "dimensions": ["trace_name"],
            "time_interval_seconds": 3600,
            "start_time_ms": BASE_MS,
            "end_time_ms": BASE_MS + 3 * HOUR_MS,
        },
    ),
    (
        "total-tokens-ok",
        ["a"],
        "TRACES",
        "total_tokens",
        ["SUM"],
        {"filters": ["trace.status = 'OK'"]},
    ),
    ("cache-read-avg", ["a"], "TRACES", "cache_read_input_tokens", ["AVG", "P75"], {}),
    ("cache-creation-sum", ["a"], "TRACES", "cache_creation_input_tokens", ["SUM", "MAX"], {}),
    ("output-tokens-min", ["a"], "TRACES", "output_tokens", ["MIN"], {"start_time_ms": START}),
    (
        "trace-tag-filter",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"filters": ["trace.tag.env = 'prod'"]},
    ),
    (
        "two-filters",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {
            "filters": ["trace.tag.env = 'prod'", "trace.status = 'OK'"],
            "dimensions": ["trace_name"],
        },
    ),
    (
        "metadata-filter",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"filters": ["trace.metadata.user = 'alice'"]},
    ),
    (
        "source-run-filter",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"filters": [f"trace.metadata.mlflow.sourceRun = '{LINKED_RUN}'"]},
    ),
    (
        "session-filter",
        ["a"],
        "TRACES",
        "latency",
        ["AVG"],
        {"filters": ["trace.metadata.`mlflow.trace.session` = 's1'"]},
    ),
    (
        "trace-name-filter",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"filters": ["trace.tag.mlflow.traceName = 'chat'"], "dimensions": ["trace_status"]},
    ),
    (
        "max-results",
        ["a"],
        "TRACES",
        "trace_count",
        ["COUNT"],
        {"dimensions": ["trace_name"], "max_results": 2},
    ),
    ("max-results-zero", ["a"], "TRACES", "trace_count", ["COUNT"], {"max_results": 0}),
    ("span-count", ["a"], "SPANS", "span_count", ["COUNT"], {}),
    (
        "span-count-by-type-status",
        ["a", "b"],
        "SPANS",
        "span_count",
        ["COUNT"],
        {"dimensions": ["span_type", "span_status"]},
    ),
    (
        "span-count-by-model",
        ["a"],
        "SPANS",
        "span_count",
        ["COUNT"],
        {"dimensions": ["span_model_name", "span_model_provider"]},
    ),
    (
        "span-latency-by-name",
        ["a"],
        "SPANS",
        "latency",
        ["AVG", "MIN", "MAX", "P50", "P99"],
        {"dimensions": ["span_name"]},
    ),
    (
        "span-latency-hourly-bounded",
        ["a"],
        "SPANS",
        "latency",
        ["AVG", "P50"],
        {"time_interval_seconds": 3600, "start_time_ms": START, "end_time_ms": END},
    ),
    (
        "span-total-cost-by-model-hourly",
        ["a"],
        "SPANS",
        "total_cost",
        ["SUM", "AVG", "P50"],
        {
            "dimensions": ["span_model_name"],
            "time_interval_seconds": 3600,
            "start_time_ms": START,
            "end_time_ms": END,
        },
    ),
    (
        "span-input-cost-bounded",
        ["a"],
        "SPANS",
        "input_cost",
        ["SUM", "MIN", "MAX"],
        {"start_time_ms": START, "end_time_ms": END, "dimensions": ["span_model_provider"]},
    ),
    ("span-output-cost", ["a", "b"], "SPANS", "output_cost", ["AVG"], {}),
    (
        "span-cost-through-the-trace",
        ["a", "b"],
        "SPANS",
        "total_cost",
        ["SUM", "P50"],
        {
            "filters": ["trace.tag.env = 'prod'", "span.name = 'llm'"],
            "dimensions": ["span_model_provider"],
            "start_time_ms": START,
        },
    ),
    (
        "span-filters",
        ["a"],
        "SPANS",
        "span_count",
        ["COUNT"],
        {"filters": ["span.name = 'llm'", "span.status = 'OK'", "trace.status = 'OK'"]},
    ),
    (
        "span-type-and-trace-tag",
        ["a"],
        "SPANS",
        "latency",
        ["MAX"],
        {"filters": ["span.type = 'LLM'", "trace.tag.env = 'dev'"], "dimensions": ["span_status"]},
    ),
    ("assessment-count", ["a"], "ASSESSMENTS", "assessment_count", ["COUNT"], {}),
    (
        "assessment-count-by-name-value",
        ["a"],
        "ASSESSMENTS",
        "assessment_count",
        ["COUNT"],
        {"dimensions": ["assessment_name", "assessment_value"], "max_results": 25},
    ),
    (
        "assessment-value-by-name",
        ["a", "b"],
        "ASSESSMENTS",
        "assessment_value",
        ["AVG", "MIN", "MAX", "P50"],
        {"dimensions": ["assessment_name"]},
    ),
    (
        "assessment-value-hourly",
        ["a"],
        "ASSESSMENTS",
        "assessment_value",
        ["AVG", "P10"],
        {"time_interval_seconds": 1800, "start_time_ms": START, "end_time_ms": END},
    ),
    (
        "assessment-filters",
        ["a"],
        "ASSESSMENTS",
        "assessment_count",
        ["COUNT"],
        {
            "filters": [
                "assessment.name = 'relevance'",
                "assessment.type = 'feedback'",
                "trace.status = 'OK'",
            ]
        },
    ),
    (
        "assessment-trace-filters",
        ["a"],
        "ASSESSMENTS",
        "assessment_value",
        ["AVG"],
        {
            "filters": ["trace.tag.env = 'prod'", "trace.metadata.user = 'alice'"],
            "dimensions": ["assessment_name"],
        },
    ),
    (
        "assessment-session-filter",
        ["a"],
        "ASSESSMENTS",
        "assessment_count",
        ["COUNT"],
        {"filters": ["trace.metadata.mlflow.trace.session = 's2'"]},
    ),
]


@pytest.mark.parametrize(
    ("experiments", "view", "metric", "aggregations", "options"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_same_data_points_as_mlflow(
    loaded: Loaded,
    metrics: SqlTraceMetrics,
    experiments: list[str],
    view: str,
    metric: str,
    aggregations: list[str],
    options: dict[str, Any],
) -> None:
    ours, theirs = await _both(loaded, metrics, experiments, view, metric, aggregations, **options)
    assert ours or options.get("max_results") == 0  # every other case has points to compare
    _assert_same(loaded, ours, theirs)


async def test_points_match_the_rows(loaded: Loaded, metrics: SqlTraceMetrics) -> None:
    """Independently of MLflow: counts per status and the hourly buckets add up to the rows."""
    a = loaded.data.experiments["a"]
    traces = [t for t in loaded.data.traces if str(t["experiment_id"]) == a]
    by_status = await metrics.query_trace_metrics(
        [a], MetricsQuery("TRACES", "trace_count", _aggregations(["COUNT"]), ("trace_status",))
    )
    expected = {}
    for trace in traces:
        expected[trace["status"]] = expected.get(trace["status"], 0) + 1
    assert {p.dimensions["trace_status"]: p.values["COUNT"] for p in by_status} == expected
    hourly = await metrics.query_trace_metrics(
        [a],
        MetricsQuery(
            "TRACES",
            "trace_count",
            _aggregations(["COUNT"]),
            time_interval_seconds=3600,
            start_time_ms=BASE_MS,
            end_time_ms=BASE_MS + 3 * HOUR_MS,
        ),
    )
    assert [p.dimensions["time_bucket"] for p in hourly] == [
        "2023-11-14T22:00:00+00:00",
        "2023-11-14T23:00:00+00:00",
        "2023-11-15T00:00:00+00:00",
    ]
    assert sum(p.values["COUNT"] for p in hourly) == len(traces)


@pytest.mark.parametrize(
    ("percentile", "expected"),
    [(0.0, 10.0), (25.0, 20.0), (50.0, 25.0), (90.0, 58.0), (100.0, 100.0)],
)
async def test_percentiles_interpolate_linearly_with_ties(
    loaded: Loaded, metrics: SqlTraceMetrics, percentile: float, expected: float
) -> None:
    """numpy.quantile's default on 10, 20, 20, 20, 30, 40, 40, 100 on every backend (MLflow on
    MySQL interpolates between PERCENT_RANKs and answers otherwise when values repeat)."""
    query = MetricsQuery(
        "TRACES", "latency", (MetricAggregation("PERCENTILE", percentile), MetricAggregation("AVG"))
    )
    [point] = await metrics.query_trace_metrics(loaded.exp("tied"), query)
    assert point.values[f"P{percentile}"] == pytest.approx(expected)
    assert point.values["AVG"] == pytest.approx(35.0)


async def test_a_bucket_beyond_the_year_9999_is_left_out(
    loaded: Loaded, metrics: SqlTraceMetrics
) -> None:
    """MLflow answers a 500 (datetime cannot hold the year); the other buckets still come."""
    hourly = await metrics.query_trace_metrics(
        loaded.exp("far"),
        MetricsQuery(
            "TRACES",
            "trace_count",
            _aggregations(["COUNT"]),
            time_interval_seconds=3600,
            start_time_ms=0,
            end_time_ms=FAR_MS,
        ),
    )
    assert [(p.dimensions, p.values) for p in hourly] == [
        ({"time_bucket": "2023-11-14T22:00:00+00:00"}, {"COUNT": 1.0})
    ]
    [overall] = await metrics.query_trace_metrics(
        loaded.exp("far"), MetricsQuery("TRACES", "latency", _aggregations(["MAX"]))
    )
    assert overall.values == {"MAX": 7.0}


# -- correlation -------------------------------------------------------------------------------

CORRELATIONS: list[tuple[str, list[str], str, str, str | None]] = [
    ("status-vs-tag", ["a"], "status = 'OK'", "tag.env = 'prod'", None),
    ("never-together", ["a", "b"], "tag.env = 'prod'", "tag.env = 'dev'", None),
    ("always-together", ["a"], "tag.team = 'search'", "tag.team = 'search'", None),
    ("no-match", ["a"], "status = 'OK'", "tag.env = 'staging'", None),
    ("with-base", ["a"], "tag.env = 'prod'", "tag.team = 'search'", "status = 'OK'"),
    ("empty-experiment", ["empty"], "status = 'OK'", "status = 'ERROR'", None),
    (
        "time-window-and-spans",
        ["a", "b"],
        "span.type = 'LLM'",
        "tags.env = 'dev' and trace.status != 'ERROR'",
        f"timestamp_ms > {START} and timestamp_ms < {END}",
    ),
    (
        "assessments-and-metadata",
        ["a"],
        "feedback.relevance IS NOT NULL",
        "metadata.user = 'alice'",
        None,
    ),
]


@pytest.mark.parametrize(
    ("experiments", "first", "second", "base"),
    [pytest.param(*case[1:], id=case[0]) for case in CORRELATIONS],
)
async def test_same_correlation_as_mlflow(
    loaded: Loaded,
    metrics: SqlTraceMetrics,
    experiments: list[str],
    first: str,
    second: str,
    base: str | None,
) -> None:
    ours = await metrics.calculate_trace_filter_correlation(
        loaded.exp(*experiments), first, second, base
    )
    theirs = await asyncio.to_thread(
        loaded.mlflow.calculate_trace_filter_correlation,
        loaded.exp(*experiments),
        first,
        second,
        base,
    )
    assert (ours.filter1_count, ours.filter2_count, ours.joint_count, ours.total_count) == (
        theirs.filter1_count,
        theirs.filter2_count,
        theirs.joint_count,
        theirs.total_count,
    )
    _assert_same_float(ours.npmi, theirs.npmi)
    _assert_same_float(ours.npmi_smoothed, theirs.npmi_smoothed)


def _assert_same_float(ours: float, theirs: float | None) -> None:
    if theirs is None or math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12)


async def test_long_correlation_filters_are_compiled_off_the_loop(
    loaded: Loaded, metrics: SqlTraceMetrics
) -> None:
    """A filter of 120 clauses (past the inline bound) answers as its one distinct clause
    does (MLflow's store joins a tag table per clause and exceeds SQLite's 64-table join)."""
    long = " AND ".join(["tag.team = 'search'"] * 120)
    ours = await metrics.calculate_trace_filter_correlation(loaded.exp("a"), long, "status = 'OK'")
    short = await metrics.calculate_trace_filter_correlation(
        loaded.exp("a"), "tag.team = 'search'", "status = 'OK'"
    )
    assert ours == short
    assert short.filter1_count > 0


async def test_correlation_counts_match_the_rows(loaded: Loaded, metrics: SqlTraceMetrics) -> None:
    a = loaded.data.experiments["a"]
    ids = {t["request_id"] for t in loaded.data.traces if str(t["experiment_id"]) == a}
    ok = {t["request_id"] for t in loaded.data.traces if t["status"] == "OK"} & ids
    prod = {t["request_id"] for t in loaded.data.tags if t["key"] == "env" and t["value"] == "prod"}
    prod &= ids
    result = await metrics.calculate_trace_filter_correlation(
        [a], "status = 'OK'", "tag.env = 'prod'"
    )
    assert result == FilterCorrelation(
        npmi=result.npmi,
        npmi_smoothed=result.npmi_smoothed,
        filter1_count=len(ok),
        filter2_count=len(prod),
        joint_count=len(ok & prod),
        total_count=len(ids),
    )
    assert -1 <= result.npmi <= 1


# -- refusals ----------------------------------------------------------------------------------

REFUSED: list[tuple[str, str, str, list[str], dict[str, Any]]] = [
    ("unknown-metric", "TRACES", "tokens", ["COUNT"], {}),
    ("aggregation-not-allowed", "TRACES", "trace_count", ["SUM", "AVG"], {}),
    ("dimension-not-allowed", "TRACES", "latency", ["AVG"], {"dimensions": ["trace_status", "x"]}),
    ("span-dimension-on-traces", "TRACES", "trace_count", ["COUNT"], {"dimensions": ["span_name"]}),
    ("interval-without-bounds", "TRACES", "trace_count", ["COUNT"], {"time_interval_seconds": 60}),
    ("span-filter-on-traces", "TRACES", "trace_count", ["COUNT"], {"filters": ["span.name = 'x'"]}),
    (
        "assessment-filter-on-spans",
        "SPANS",
        "span_count",
        ["COUNT"],
        {"filters": ["assessment.name = 'x'"]},
    ),
    ("bad-filter", "TRACES", "trace_count", ["COUNT"], {"filters": ["trace.status != 'OK'"]}),
    (
        "two-clauses",
        "SPANS",
        "span_count",
        ["COUNT"],
        {"filters": ["span.name = 'a' AND span.type = 'b'"]},
    ),
    (
        "unquoted",
        "ASSESSMENTS",
        "assessment_count",
        ["COUNT"],
        {"filters": ["assessment.name = x"]},
    ),
    ("tag-without-key", "TRACES", "trace_count", ["COUNT"], {"filters": ["trace.tag = 'x'"]}),
]


@pytest.mark.parametrize(
    ("view", "metric", "aggregations", "options"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
async def test_same_refusals_as_mlflow(
    loaded: Loaded,
    metrics: SqlTraceMetrics,
    view: str,
    metric: str,
    aggregations: list[str],
    options: dict[str, Any],
) -> None:
    with pytest.raises(MlflowException) as theirs:
        await asyncio.to_thread(
            loaded.mlflow.query_trace_metrics,
            experiment_ids=loaded.exp("a"),
            view_type=MetricViewType(view),
            metric_name=metric,
            aggregations=_mlflow_aggregations(aggregations),
            dimensions=options.get("dimensions"),
            filters=options.get("filters"),
            time_interval_seconds=options.get("time_interval_seconds"),
        )
    query = MetricsQuery(
        view,
        metric,
        _aggregations(aggregations),
        dimensions=tuple(options.get("dimensions", ())),
        filters=tuple(options.get("filters", ())),
        time_interval_seconds=options.get("time_interval_seconds"),
    )
    with pytest.raises(InvalidParameter) as ours:
        await metrics.query_trace_metrics(loaded.exp("a"), query)
    assert ours.value.message == theirs.value.message


@pytest.mark.parametrize(
    ("kind", "percentile"),
    [("PERCENTILE", None), ("PERCENTILE", 100.5), ("PERCENTILE", -1.0), ("AVG", 50.0)],
)
def test_percentile_refusals_have_mlflows_words(kind: str, percentile: float | None) -> None:
    """MLflow raises these as ValueError (a 500 from its server); here they are 400s."""
    with pytest.raises(ValueError) as theirs:
        MlflowAggregation(AggregationType(kind), percentile)
    with pytest.raises(InvalidParameter) as ours:
        MetricAggregation(kind, percentile)
    assert ours.value.message == str(theirs.value)


def test_nan_percentile_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="between 0 and 100, got nan"):
        MetricAggregation("PERCENTILE", math.nan)


async def test_negative_bounds_of_our_own_are_refused(
    loaded: Loaded, metrics: SqlTraceMetrics
) -> None:
    count = _aggregations(["COUNT"])
    with pytest.raises(InvalidParameter, match="'max_results'"):
        await metrics.query_trace_metrics(
            loaded.exp("a"), MetricsQuery("TRACES", "trace_count", count, max_results=-1)
        )
    with pytest.raises(InvalidParameter, match="'time_interval_seconds'"):
        await metrics.query_trace_metrics(
            loaded.exp("a"),
            MetricsQuery(
                "TRACES",
                "trace_count",
                count,
                time_interval_seconds=-60,
                start_time_ms=0,
                end_time_ms=1,
            ),
        )


async def test_bad_experiment_id_is_refused(loaded: Loaded, metrics: SqlTraceMetrics) -> None:
    query = MetricsQuery("TRACES", "trace_count", _aggregations(["COUNT"]))
    with pytest.raises(InvalidParameter, match="Invalid experiment ID 'x'"):
        await metrics.query_trace_metrics(["x"], query)
    with pytest.raises(InvalidParameter, match="Invalid experiment ID 'x'"):
        await metrics.calculate_trace_filter_correlation(["x"], "status = 'OK'", "status = 'OK'")
