"""``POST /api/3.0/mlflow/traces/metrics`` and ``.../calculate-filter-correlation`` over HTTP on a
real ``aiotrack server``: the proto JSON of the answers, MLflow's own REST client reading them,
the refusals, and (with the reference ``mlflow server`` 3.18 on a copy of the database) the
same bodies.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import ensure_schema
from aiotrack.store.sql.urls import to_async_url
from tests.servers import RunningServer, reference18_bin, start_aiotrack, start_mlflow_reference
from tests.store.trace_data import BASE_MS, HOUR_MS, TraceData, insert_trace_data

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.utils.rest_utils import MlflowHostCreds

METRICS = "/api/3.0/mlflow/traces/metrics"
CORRELATION = "/api/3.0/mlflow/traces/calculate-filter-correlation"
HINT = " See the API docs for more information about request parameters."


@dataclass
class Served:
    server: RunningServer
    uri: str
    data: TraceData
    workdir: Path

    def post(self, path: str, body: Any, base: str | None = None) -> requests.Response:
        return requests.post(f"{base or self.server.url}{path}", json=body, timeout=30)

    def exp(self, label: str) -> str:
        return self.data.experiments[label]


async def _schema(uri: str) -> None:
    db = Database(to_async_url(uri))
    try:
        await ensure_schema(db.engine, uri=uri)
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("trace-metrics-http")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    # MLflow 3.17.2 (its store here, its server below) refuses a newer schema revision, so it
    # creates the schema (its own head, which aiotrack serves as it is) and aiotrack checks it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SqlAlchemyStore(uri, str(workdir / "art")).engine.dispose()
    asyncio.run(_schema(uri))
    data = insert_trace_data(uri)
    # The reference server gets its own copy: two servers on one SQLite file trip over each
    # other's WAL files (a start-up "database is locked", a read's "unable to open").
    (workdir / "reference").mkdir()
    shutil.copy(workdir / "mlflow.db", workdir / "reference" / "mlflow.db")
    with start_aiotrack(uri, workdir) as server:
        yield Served(server, uri, data, workdir)


def _query(served: Served, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiment_ids": [served.exp("a")],
        "view_type": "TRACES",
        "metric_name": "trace_count",
        "aggregations": [{"aggregation_type": "COUNT"}],
    }
    body.update(overrides)
    return body


def test_data_points_are_proto_json(served: Served) -> None:
    body = _query(
        served,
        dimensions=["trace_status"],
        time_interval_seconds=3600,
        start_time_ms=BASE_MS,
        end_time_ms=BASE_MS + 3 * HOUR_MS,
    )
    response = served.post(METRICS, body)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert list(answer) == ["data_points"]
    points = answer["data_points"]
    assert points[0] == {
        "metric_name": "trace_count",
        "dimensions": {"time_bucket": "2023-11-14T22:00:00+00:00", "trace_status": "ERROR"},
        "values": {"COUNT": points[0]["values"]["COUNT"]},
    }
    assert all(isinstance(p["values"]["COUNT"], float) for p in points)
    assert '"COUNT":' in response.text and ".0" in response.text  # doubles, as protobuf writes
    buckets = [p["dimensions"]["time_bucket"] for p in points]
    assert buckets == sorted(buckets)
    # The UI's prefix, enums by number and camelCase names answer the same.
    same = {
        "experimentIds": [served.exp("a")],
        "viewType": 1,
        "metricName": "trace_count",
        "aggregations": [{"aggregationType": 1}],
        "dimensions": ["trace_status"],
        "timeIntervalSeconds": "3600",
        "startTimeMs": str(BASE_MS),
        "endTimeMs": BASE_MS + 3 * HOUR_MS,
    }
    ajax = served.post(METRICS.replace("/api/", "/ajax-api/"), same)
    assert ajax.json() == answer


def test_no_points_is_an_empty_object(served: Served) -> None:
    body = _query(served, experiment_ids=[served.exp("empty")], dimensions=["trace_name"])
    response = served.post(METRICS, body)
    assert (response.status_code, response.text) == (200, "{}")
    # No experiment at all is allowed (MLflow checks the field is there, not that it has ids).
    response = served.post(METRICS, _query(served, experiment_ids=[]))
    assert response.json() == {
        "data_points": [{"metric_name": "trace_count", "values": {"COUNT": 0.0}}]
    }


def test_percentile_labels(served: Served) -> None:
    body = _query(
        served,
        metric_name="latency",
        aggregations=[
            {"aggregation_type": "PERCENTILE", "percentile_value": 50},
            {"aggregation_type": "PERCENTILE", "percentile_value": "99.9"},
            {"aggregation_type": "AVG"},
        ],
        experiment_ids=[served.exp("tied")],
    )
    [point] = served.post(METRICS, body).json()["data_points"]
    assert point["values"] == {"P50.0": 25.0, "P99.9": pytest.approx(99.58), "AVG": 35.0}


def test_correlation_is_proto_json(served: Served) -> None:
    response = served.post(
        CORRELATION,
        {
            "experiment_ids": [served.exp("a")],
            "filter_string1": "status = 'OK'",
            "filter_string2": "tag.env = 'prod'",
        },
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert list(answer) == [
        "npmi",
        "npmi_smoothed",
        "filter1_count",
        "filter2_count",
        "joint_count",
        "total_count",
    ]
    assert all(isinstance(answer[k], int) for k in list(answer)[2:])
    # An undefined NPMI (a filter matching nothing) is left out, not "NaN".
    response = served.post(
        CORRELATION,
        {
            "experiment_ids": [served.exp("a")],
            "filter_string1": "status = 'OK'",
            "filter_string2": "tag.env = 'staging'",
            "base_filter": "",
        },
    )
    assert response.json() == {
        "filter1_count": answer["filter1_count"],
        "filter2_count": 0,
        "joint_count": 0,
        "total_count": answer["total_count"],
    }


def _missing(field: str) -> str:
    return f"Missing value for required parameter '{field}'.{HINT}"


REFUSALS: list[tuple[str, str, dict[str, Any], str]] = [
    ("no-experiments", METRICS, {}, _missing("experiment_ids")),
    ("no-view", METRICS, {"experiment_ids": ["1"]}, _missing("view_type")),
    (
        "no-metric",
        METRICS,
        {"experiment_ids": ["1"], "view_type": "SPANS"},
        _missing("metric_name"),
    ),
    (
        "no-aggregations",
        METRICS,
        {"experiment_ids": ["1"], "view_type": "SPANS", "metric_name": "span_count"},
        _missing("aggregations"),
    ),
    (
        "filters-not-a-list",
        METRICS,
        {"experiment_ids": ["1"], "filters": "trace.status = 'OK'"},
        "Invalid value \"trace.status = 'OK'\" for parameter 'filters' supplied:  "
        f"Hint: Value was of type 'str'.{HINT}",
    ),
    (
        "unknown-metric",
        METRICS,
        {
            "experiment_ids": ["1"],
            "view_type": "ASSESSMENTS",
            "metric_name": "x",
            "aggregations": [{}],
        },
        "metric_name must be one of ['assessment_count', 'assessment_value'], got 'x'",
    ),
    (
        "count-by-default",
        METRICS,
        {
            "experiment_ids": ["1"],
            "view_type": "TRACES",
            "metric_name": "latency",
            "aggregations": [{}],
        },
        "Found invalid aggregation_type(s): ['COUNT']. "
        "Supported aggregation types: ['AVG', 'MAX', 'MIN', 'PERCENTILE']",
    ),
    (
        "percentile-without-value",
        METRICS,
        {
            "experiment_ids": ["1"],
            "view_type": "TRACES",
            "metric_name": "latency",
            "aggregations": [{"aggregation_type": "PERCENTILE"}],
        },
        "Percentile value is required for PERCENTILE aggregation",
    ),
    (
        "interval-without-bounds",
        METRICS,
        {
            "experiment_ids": ["1"],
            "view_type": "TRACES",
            "metric_name": "trace_count",
            "aggregations": [{"aggregation_type": "COUNT"}],
            "time_interval_seconds": 60,
        },
        "start_time_ms and end_time_ms are required if time_interval_seconds is set",
    ),
    (
        "bad-filter",
        METRICS,
        {
            "experiment_ids": ["1"],
            "view_type": "TRACES",
            "metric_name": "trace_count",
            "aggregations": [{"aggregation_type": "COUNT"}],
            "filters": ["span.name = 'llm'"],
        },
        "Filtering by span is only supported for SPANS view type, got TRACES",
    ),
    ("correlation-no-experiments", CORRELATION, {}, _missing("experiment_ids")),
    (
        "correlation-no-second-filter",
        CORRELATION,
        {"experiment_ids": [], "filter_string1": "status = 'OK'"},
        _missing("filter_string2"),
    ),
    (
        "correlation-bad-experiment",
        CORRELATION,
        {"experiment_ids": ["x"], "filter_string1": "a", "filter_string2": "b"},
        "Invalid experiment ID 'x'. Experiment ID must be a valid integer.",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "message"), [pytest.param(*r[1:], id=r[0]) for r in REFUSALS]
)
def test_refusals(served: Served, path: str, body: dict[str, Any], message: str) -> None:
    response = served.post(path, body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert response.json()["message"] == message


def test_what_mlflow_answers_500_or_ignores_is_a_400(served: Served) -> None:
    """An unknown enum name (MLflow reads it as the first value) and a percentile MLflow's
    entity refuses with a ValueError (its server's 500)."""
    bogus_view = served.post(METRICS, _query(served, view_type="BOGUS"))
    assert bogus_view.status_code == 400
    assert "'view_type'" in bogus_view.json()["message"]
    out_of_range = served.post(
        METRICS,
        _query(
            served,
            metric_name="latency",
            aggregations=[{"aggregation_type": "PERCENTILE", "percentile_value": 101}],
        ),
    )
    assert out_of_range.status_code == 400
    assert out_of_range.json()["message"] == "Percentile value must be between 0 and 100, got 101.0"


def test_mlflow_rest_client_reads_the_same_answers_as_its_own_store(served: Served) -> None:
    """MLflow's RestStore against aiotrack gives what MLflow's SqlAlchemyStore gives on the
    same database file."""
    rest = RestStore(lambda: MlflowHostCreds(served.server.url))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = SqlAlchemyStore(served.uri, str(served.workdir / "art"))
    try:
        kwargs: dict[str, Any] = {
            "experiment_ids": [served.exp("a"), served.exp("b")],
            "view_type": MetricViewType.SPANS,
            "metric_name": "total_cost",
            "aggregations": [
                MetricAggregation(AggregationType.SUM),
                MetricAggregation(AggregationType.PERCENTILE, 90.0),
            ],
            "dimensions": ["span_model_provider"],
            "filters": ["trace.status = 'OK'"],
            "time_interval_seconds": 1800,
            "start_time_ms": BASE_MS,
            "end_time_ms": BASE_MS + 12 * HOUR_MS,
        }
        ours, theirs = (
            list(rest.query_trace_metrics(**kwargs)),
            list(local.query_trace_metrics(**kwargs)),
        )
        assert len(ours) == len(theirs) > 3
        for mine, their in zip(ours, theirs, strict=True):
            assert (mine.metric_name, mine.dimensions) == (their.metric_name, their.dimensions)
            assert mine.values == pytest.approx(their.values, rel=1e-9)
        args = ([served.exp("a")], "tag.env = 'prod'", "tag.team = 'search'", "status = 'OK'")
        mine_c = rest.calculate_trace_filter_correlation(*args)
        their_c = local.calculate_trace_filter_correlation(*args)
        assert (mine_c.filter1_count, mine_c.filter2_count, mine_c.joint_count) == (
            their_c.filter1_count,
            their_c.filter2_count,
            their_c.joint_count,
        )
        assert mine_c.total_count == their_c.total_count
        assert mine_c.npmi == pytest.approx(their_c.npmi)
        assert mine_c.npmi_smoothed == pytest.approx(their_c.npmi_smoothed)
    finally:
        local.engine.dispose()


REFERENCE_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("count", METRICS, {"dimensions": ["trace_name", "trace_status"]}),
    (
        "spans-hourly",
        METRICS,
        {
            "view_type": "SPANS",
            "metric_name": "latency",
            "aggregations": [
                {"aggregation_type": "AVG"},
                {"aggregation_type": "PERCENTILE", "percentile_value": 50},
            ],
            "dimensions": ["span_name"],
            "time_interval_seconds": 3600,
            "start_time_ms": BASE_MS,
            "end_time_ms": BASE_MS + 3 * HOUR_MS,
        },
    ),
    (
        "assessments",
        METRICS,
        {
            "view_type": "ASSESSMENTS",
            "metric_name": "assessment_count",
            "dimensions": ["assessment_name", "assessment_value"],
            "filters": ["assessment.type = 'feedback'"],
        },
    ),
    ("empty", METRICS, {"experiment_ids": ["999"], "dimensions": ["trace_name"]}),
    ("no-experiments", METRICS, {"experiment_ids": []}),
    (
        "correlation",
        CORRELATION,
        {"filter_string1": "status = 'OK'", "filter_string2": "tag.env = 'prod'"},
    ),
    (
        "correlation-undefined",
        CORRELATION,
        {"filter_string1": "status = 'OK'", "filter_string2": "tag.env = 'nowhere'"},
    ),
    (
        "refused",
        METRICS,
        {"metric_name": "trace_count", "aggregations": [{"aggregation_type": "MAX"}]},
    ),
]


@pytest.fixture(scope="module")
def reference(served: Served) -> Iterator[RunningServer]:
    copy = served.workdir / "reference"
    uri = f"sqlite:///{copy / 'mlflow.db'}"
    with start_mlflow_reference(uri, copy, bindir=reference18_bin()) as server:
        yield server


@pytest.mark.reference
@pytest.mark.parametrize(
    ("path", "overrides"), [pytest.param(*b[1:], id=b[0]) for b in REFERENCE_BODIES]
)
def test_same_bodies_as_mlflow_server(
    served: Served, reference: RunningServer, path: str, overrides: dict[str, Any]
) -> None:
    body = _query(served) if path == METRICS else {"experiment_ids": [served.exp("a")]}
    body.update(overrides)
    ours, theirs = served.post(path, body), served.post(path, body, base=reference.url)
    assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
    if theirs.status_code != 200:
        assert ours.json()["message"] == theirs.json()["message"]
        return
    _assert_close(ours.json(), theirs.json())


def _assert_close(ours: Any, theirs: Any, *, is_map: bool = False) -> None:
    if isinstance(theirs, dict):
        # Message fields come in field order; proto map entries in no particular order.
        assert (sorted(ours) if is_map else list(ours)) == (
            sorted(theirs) if is_map else list(theirs)
        )
        for key in theirs:
            _assert_close(ours[key], theirs[key], is_map=key in ("dimensions", "values"))
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for mine, their in zip(ours, theirs, strict=True):
            _assert_close(mine, their)
    elif isinstance(theirs, float) and not math.isnan(theirs):
        assert type(ours) is float and ours == pytest.approx(theirs, rel=1e-9)
    else:
        assert ours == theirs


def test_file_store_answers_not_implemented(tmp_path: Path) -> None:
    with start_aiotrack(str(tmp_path / "mlruns"), tmp_path) as server:
        body = {
            "experiment_ids": ["0"],
            "view_type": "TRACES",
            "metric_name": "trace_count",
            "aggregations": [{"aggregation_type": "COUNT"}],
        }
        response = requests.post(f"{server.url}{METRICS}", json=body, timeout=30)
        assert response.status_code == 501
        assert response.json()["error_code"] == "NOT_IMPLEMENTED"
        assert response.json()["message"].startswith(
            "query_trace_metrics is not supported with FileStore"
        )
