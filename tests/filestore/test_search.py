"""The in-Python search evaluator against MLflow's own ``SearchUtils`` /
``SearchExperimentsUtils`` (the code MLflow's file store searches with), on the same entities:
same matches, same order, for filters and order_bys that hit NaN, infinities, missing keys,
``None`` attributes, LIKE/ILIKE wildcards and IN lists.
"""

from __future__ import annotations

import math

import pytest
from mlflow import entities as me
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils

from aiotrack.search import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from aiotrack.store.entities import Experiment, Metric, Run, RunData, RunInfo, RunInputs, Tag
from aiotrack.store.file.search import (
    RunView,
    filter_experiments,
    filter_runs,
    sort_experiments,
    sort_runs,
)

NAN = math.nan
# run id, name, status, start, end, metrics, params, tags
ROWS: list[tuple[str, str, str, int, int | None, dict[str, float], dict[str, str], dict[str, str]]]
ROWS = [
    ("a1", "alpha", "FINISHED", 100, 200, {"loss": 0.5, "acc": 0.9}, {"lr": "0.1"}, {"t": "x"}),
    ("b2", "beta", "RUNNING", 300, None, {"loss": NAN}, {"lr": "0.01", "opt": "Adam"}, {}),
    ("c3", "Gamma_1", "FAILED", 300, 400, {"loss": math.inf}, {}, {"t": "y"}),
    ("d4", "delta%", "FINISHED", 50, 60, {"loss": -math.inf, "acc": NAN}, {"opt": "sgd"}, {"t": ""}),
    ("e5", "eps", "KILLED", 500, 900, {}, {"lr": "0.1"}, {"t": "X", "u": "1"}),
    ("f6", "alpha", "FINISHED", 100, 250, {"loss": 0.5, "acc": 0.1}, {"lr": "1e-3"}, {}),
]  # fmt: skip


def _runs() -> tuple[list[me.Run], list[RunView]]:
    m_runs: list[me.Run] = []
    views: list[RunView] = []
    for rid, name, status, start, end, metrics, params, tags in ROWS:
        m_info = me.RunInfo(rid, "0", "u", status, start, end, "active", f"file:///a/{rid}", name)
        m_data = me.RunData(
            [me.Metric(k, v, 1, 0) for k, v in metrics.items()],
            [me.Param(k, v) for k, v in params.items()],
            [me.RunTag(k, v) for k, v in tags.items()],
        )
        m_runs.append(me.Run(m_info, m_data))
        info = RunInfo(rid, name, "0", "u", status, start, end, f"file:///a/{rid}", "active")
        data = RunData(
            [Metric(k, v, 1, 0) for k, v in metrics.items()],
            [Tag(k, v) for k, v in params.items()],
            [Tag(k, v) for k, v in tags.items()],
        )
        views.append(RunView.of(Run(info, data, RunInputs())))
    return m_runs, views


RUN_FILTERS = [
    "metrics.loss > 0",
    "metrics.loss != 0.5",
    "metrics.loss = 0.5",
    "metrics.loss <= 1e308",
    "metrics.acc < 0.5",
    "params.lr = '0.1'",
    "params.lr != '0.1'",
    "params.opt LIKE 'A%'",
    "params.opt ILIKE 'a%'",
    "params.lr IS NULL",
    "params.lr IS NOT NULL",
    "tags.t = ''",
    "tags.t ILIKE 'x'",
    "tags.t LIKE '_'",
    "tags.u IS NULL",
    "attributes.run_name LIKE '%a_1'",
    "attributes.run_name LIKE 'delta%'",
    "attributes.run_name ILIKE 'ALPHA'",
    "attributes.status = 'FINISHED' and metrics.acc > 0.5",
    "attributes.run_id IN ('a1', 'c3', 'zz')",
    "attributes.run_id NOT IN ('a1')",
    "attributes.start_time >= 300",
    "attributes.end_time < 300",
    "attributes.end_time != 200",
    "attributes.artifact_uri LIKE '%/e5'",
]


@pytest.mark.parametrize("flt", RUN_FILTERS)
def test_run_filter_matches_mlflow(flt: str) -> None:
    m_runs, views = _runs()
    expected = [r.info.run_id for r in SearchUtils.filter(m_runs, flt)]
    actual = [v.run.info.run_id for v in filter_runs(views, parse_run_filter(flt))]
    assert actual == expected


RUN_ORDERS = [
    [],
    ["metrics.loss ASC"],
    ["metrics.loss DESC"],
    ["metrics.acc"],
    ["metrics.acc DESC", "attributes.run_name"],
    ["params.lr"],
    ["params.lr DESC"],
    ["tags.t"],
    ["tags.t DESC", "metrics.loss"],
    ["attributes.end_time DESC"],
    ["attributes.end_time"],
    ["attributes.run_name DESC"],
    ["attributes.start_time", "params.opt DESC"],
    ["metrics.missing DESC"],
]


@pytest.mark.parametrize("order", RUN_ORDERS, ids=lambda o: ",".join(o) or "default")
def test_run_order_matches_mlflow(order: list[str]) -> None:
    m_runs, views = _runs()
    expected = [r.info.run_id for r in SearchUtils.sort(m_runs, order)]
    actual = [v.run.info.run_id for v in sort_runs(views, parse_run_order_by(order))]
    assert actual == expected


EXPERIMENTS = [
    ("11", "alpha", 100, 200, {"owner": "ann"}),
    ("2", "Beta", 300, None, {"owner": "bob", "x": ""}),
    ("300", "gamma_x", None, 100, {}),
    ("4", "alpha2", 300, 300, {"owner": "Ann"}),
]


def _experiments(*, with_none: bool = True) -> tuple[list[me.Experiment], list[Experiment]]:
    """The experiments; MLflow fails a numeric filter on a missing time (a TypeError, 500),
    so filters are compared on data without ``None`` times (aiotrack: no match)."""
    m_out, out = [], []
    for eid, name, created_, updated_, tags in EXPERIMENTS:
        created = created_ if with_none or created_ is not None else 1
        updated = updated_ if with_none or updated_ is not None else 1
        m_tags = [me.ExperimentTag(k, v) for k, v in tags.items()]
        m_out.append(me.Experiment(eid, name, "loc", "active", m_tags, created, updated))
        out.append(
            Experiment(
                eid, name, "loc", "active", created, updated, [Tag(k, v) for k, v in tags.items()]
            )
        )
    return m_out, out


@pytest.mark.parametrize(
    "flt",
    [
        "name LIKE 'alpha%'",
        "name ILIKE 'b%'",
        "name = 'gamma_x'",
        "name != 'alpha'",
        "creation_time > 150",
        "last_update_time <= 200",
        "tags.owner = 'ann'",
        "tags.owner ILIKE 'ann'",
        "tags.owner != 'ann'",
        "tags.x IS NULL",
        "tags.owner IS NOT NULL",
        "experiment_id IN ('2', '4')",
        "experiment_id = '300'",
    ],
)
def test_experiment_filter_matches_mlflow(flt: str) -> None:
    m_exps, exps = _experiments(with_none=False)
    expected = [e.experiment_id for e in SearchExperimentsUtils.filter(m_exps, flt)]
    actual = [e.experiment_id for e in filter_experiments(exps, parse_experiment_filter(flt))]
    assert actual == expected


def test_missing_experiment_time_does_not_match() -> None:
    _, exps = _experiments()
    flt = parse_experiment_filter("creation_time > 0")
    assert [e.experiment_id for e in filter_experiments(exps, flt)] == ["11", "2", "4"]


@pytest.mark.parametrize(
    "order",
    [
        [],
        ["name"],
        ["name DESC"],
        ["creation_time"],
        ["creation_time DESC"],
        ["last_update_time DESC"],
        ["experiment_id"],
        ["experiment_id DESC"],
        ["creation_time", "name DESC"],
    ],
    ids=lambda o: ",".join(o) or "default",
)
def test_experiment_order_matches_mlflow(order: list[str]) -> None:
    m_exps, exps = _experiments()
    expected = [
        e.experiment_id
        for e in SearchExperimentsUtils.sort(
            m_exps, order or ["creation_time DESC", "experiment_id ASC"]
        )
    ]
    actual = [e.experiment_id for e in sort_experiments(exps, parse_experiment_order_by(order))]
    assert actual == expected
