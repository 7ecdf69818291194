"""search_runs through the real mlflow client: every filter operator on metrics, params, tags and
attributes; multi-key ordering; view types; paging through more than 1000 runs."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
import pytest
import requests
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.servers import RunningServer

pytestmark = pytest.mark.compat


@dataclass
class Corpus:
    experiment_id: str
    ids: dict[str, str]  # run name -> run id

    def names(self, runs: list) -> set[str]:  # type: ignore[type-arg]
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[r.info.run_id] for r in runs}

    def ordered(self, runs: list) -> list[str]:  # type: ignore[type-arg]
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r.info.run_id] for r in runs]


# name: (start_time, status, metric points [(key, value, ts, step)], params, tags)
CORPUS = {
    "alpha": (1000, "FINISHED", [("acc", 0.9, 1, 0), ("loss", 0.1, 1, 0), ("score", 1.0, 1, 0)],
              {"model": "cnn", "lr": "0.1"}, {"team": "vision", "env": "Prod"}),
    # acc history 0.95 @ step 0 then 0.7 @ step 1: the latest (0.7) is what search sees
    "beta": (2000, "RUNNING", [("acc", 0.95, 1, 0), ("acc", 0.7, 2, 1), ("loss", 0.3, 1, 0),
                                ("score", math.nan, 1, 0)],
             {"model": "rnn", "lr": "0.01"}, {"team": "nlp", "my key": "spaced"}),
    "gamma": (3000, "FAILED", [("acc", 0.7, 1, 0), ("score", 2.0, 1, 0), ("val loss", 0.2, 1, 0)],
              {"model": "CNN-big"}, {"team": "vision", "env": "dev"}),
    "delta": (4000, "KILLED", [], {}, {}),
    "Alpha-2": (5000, "FINISHED", [("acc", 0.5, 1, 0)],
                {"model": "transformer", "lr": "0.1"}, {}),
    "deleted-one": (6000, "FINISHED", [("acc", 0.99, 1, 0)], {"model": "cnn"}, {"team": "vision"}),
}  # fmt: skip
LIVE = {"alpha", "beta", "gamma", "delta", "Alpha-2"}


@pytest.fixture(scope="module")
def corpus(tracking_server: RunningServer) -> Corpus:
    client = MlflowClient(tracking_server.url)
    exp_id = client.create_experiment(f"search-corpus-{uuid.uuid4().hex}")
    ids = {}
    for name, (start, status, metrics, params, tags) in CORPUS.items():
        run = client.create_run(exp_id, run_name=name, start_time=start)
        rid = run.info.run_id
        ids[name] = rid
        client.log_batch(
            rid,
            metrics=[Metric(k, v, ts, step) for k, v, ts, step in metrics],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status != "RUNNING":
            client.set_terminated(rid, status=status, end_time=start + 500)
    client.delete_run(ids["deleted-one"])
    return Corpus(exp_id, ids)


FILTERS: list[tuple[str, set[str]]] = [
    # metrics (latest value; runs without the key never match)
    ("metrics.acc = 0.7", {"beta", "gamma"}),
    ("metrics.acc != 0.7", {"alpha", "Alpha-2"}),
    ("metrics.acc < 0.7", {"Alpha-2"}),
    ("metrics.acc <= 0.7", {"beta", "gamma", "Alpha-2"}),
    ("metrics.acc > 0.7", {"alpha"}),
    ("metrics.acc >= 0.7", {"alpha", "beta", "gamma"}),
    ("metrics.acc > 0.9", set()),  # beta's 0.95 is not its latest value
    ("metrics.loss < 1", {"alpha", "beta"}),
    ("metric.loss >= 0.3", {"beta"}),
    # NaN fails every comparison except !=
    ("metrics.score > 0", {"alpha", "gamma"}),
    ("metrics.score != 1", {"beta", "gamma"}),
    ("metrics.score = 1", {"alpha"}),
    ("metrics.nope > 0", set()),
    ("metrics.`val loss` < 0.5", {"gamma"}),
    ('metrics."val loss" = 0.2', {"gamma"}),
    # params
    ("params.model = 'cnn'", {"alpha"}),
    ("params.model != 'cnn'", {"beta", "gamma", "Alpha-2"}),
    ("params.model LIKE 'cnn%'", {"alpha"}),
    ("params.model LIKE '%N%'", {"gamma"}),
    ("params.model ILIKE 'cnn%'", {"alpha", "gamma"}),
    ("params.model LIKE '_nn'", {"alpha", "beta"}),
    ("params.lr IS NULL", {"gamma", "delta"}),
    ("params.lr IS NOT NULL", {"alpha", "beta", "Alpha-2"}),
    ("param.lr = '0.1'", {"alpha", "Alpha-2"}),
    ('params."lr" = "0.01"', {"beta"}),
    # tags
    ("tags.team = 'vision'", {"alpha", "gamma"}),
    ("tags.team != 'vision'", {"beta"}),
    # case-sensitive keys and values on every backend (MySQL's collations ignore case)
    ("tags.team = 'VISION'", set()),
    ("tags.TEAM = 'vision'", set()),
    ("params.MODEL LIKE '%'", set()),
    ("tags.env LIKE 'P%'", {"alpha"}),
    ("tags.env ILIKE 'p%'", {"alpha"}),
    ("tags.env ILIKE '%'", {"alpha", "gamma"}),
    ("tags.env IS NULL", {"beta", "delta", "Alpha-2"}),
    ("tags.env IS NOT NULL", {"alpha", "gamma"}),
    ("tags.`my key` = 'spaced'", {"beta"}),
    ("tags.`mlflow.runName` = 'gamma'", {"gamma"}),
    # attributes
    ("attributes.run_name = 'alpha'", {"alpha"}),
    ("attributes.run_name != 'alpha'", {"beta", "gamma", "delta", "Alpha-2"}),
    ("attributes.run_name LIKE 'alpha%'", {"alpha"}),
    ("attributes.run_name ILIKE 'alpha%'", {"alpha", "Alpha-2"}),
    ("run_name = 'delta'", {"delta"}),
    ("attributes.status = 'FINISHED'", {"alpha", "Alpha-2"}),
    ("attributes.status != 'FINISHED'", {"beta", "gamma", "delta"}),
    ("attributes.status LIKE '%ED'", {"alpha", "gamma", "delta", "Alpha-2"}),
    ("attributes.start_time = 3000", {"gamma"}),
    ("attributes.start_time != 3000", {"alpha", "beta", "delta", "Alpha-2"}),
    ("attributes.start_time > 3000", {"delta", "Alpha-2"}),
    ("attributes.start_time >= 3000", {"gamma", "delta", "Alpha-2"}),
    ("attributes.start_time < 2000", {"alpha"}),
    ("attributes.start_time <= 2000", {"alpha", "beta"}),
    ("attributes.created >= 4000", {"delta", "Alpha-2"}),
    ("attributes.end_time > 4000", {"delta", "Alpha-2"}),
    # combinations (AND only)
    ("metrics.acc >= 0.7 AND params.model != 'rnn' AND tags.team = 'vision'", {"alpha", "gamma"}),
    ("attributes.status = 'FINISHED' AND params.lr = '0.1' and metrics.acc < 0.6", {"Alpha-2"}),
]


@pytest.mark.parametrize(("filter_string", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_search_runs_filter(
    corpus: Corpus, client: MlflowClient, filter_string: str, expected: set[str]
) -> None:
    runs = client.search_runs([corpus.experiment_id], filter_string)
    assert corpus.names(runs) == expected


def test_filter_run_id_in_and_not_in(corpus: Corpus, client: MlflowClient) -> None:
    a, g = corpus.ids["alpha"], corpus.ids["gamma"]
    runs = client.search_runs([corpus.experiment_id], f"attributes.run_id IN ('{a}', '{g}')")
    assert corpus.names(runs) == {"alpha", "gamma"}
    runs = client.search_runs([corpus.experiment_id], f"attributes.run_id NOT IN ('{a}', '{g}')")
    assert corpus.names(runs) == {"beta", "delta", "Alpha-2"}
    runs = client.search_runs([corpus.experiment_id], f"attributes.run_id = '{a}'")
    assert corpus.names(runs) == {"alpha"}


def test_filter_user_id(client: MlflowClient, experiment_id: str) -> None:
    rid = client.create_run(experiment_id, tags={"mlflow.user": "zed-the-user"}).info.run_id
    client.create_run(experiment_id, tags={"mlflow.user": "someone-else"})
    runs = client.search_runs([experiment_id], "attributes.user_id = 'zed-the-user'")
    assert [r.info.run_id for r in runs] == [rid]


ORDERS: list[tuple[list[str], list[str]]] = [
    # default: start_time DESC
    ([], ["Alpha-2", "delta", "gamma", "beta", "alpha"]),
    (["attributes.start_time ASC"], ["alpha", "beta", "gamma", "delta", "Alpha-2"]),
    (["start_time"], ["alpha", "beta", "gamma", "delta", "Alpha-2"]),
    # missing keys sort last; ties fall back to start_time DESC
    (["metrics.loss ASC"], ["alpha", "beta", "Alpha-2", "delta", "gamma"]),
    (["metrics.loss DESC"], ["beta", "alpha", "Alpha-2", "delta", "gamma"]),
    (["metrics.acc DESC", "params.model ASC"], ["alpha", "gamma", "beta", "Alpha-2", "delta"]),
    (["metrics.acc ASC", "params.model DESC"], ["Alpha-2", "beta", "gamma", "alpha", "delta"]),
    # NaN after real values, missing after NaN, in both directions
    (["metrics.score ASC"], ["alpha", "gamma", "beta", "Alpha-2", "delta"]),
    (["metrics.score DESC"], ["gamma", "alpha", "beta", "Alpha-2", "delta"]),
    (["tags.team DESC"], ["gamma", "alpha", "beta", "Alpha-2", "delta"]),
    (
        ["params.lr ASC", "attributes.start_time DESC"],
        ["beta", "Alpha-2", "alpha", "delta", "gamma"],
    ),
    (
        ["params.lr DESC", "attributes.start_time ASC"],
        ["alpha", "Alpha-2", "beta", "gamma", "delta"],
    ),
    (["attributes.status ASC", "start_time ASC"], ["gamma", "alpha", "Alpha-2", "delta", "beta"]),
]


@pytest.mark.parametrize(
    ("order_by", "expected"), ORDERS, ids=[",".join(o) or "default" for o, _ in ORDERS]
)
def test_search_runs_order_by(
    corpus: Corpus, client: MlflowClient, order_by: list[str], expected: list[str]
) -> None:
    runs = client.search_runs([corpus.experiment_id], order_by=order_by)
    assert corpus.ordered(runs) == expected


def test_search_runs_view_type(corpus: Corpus, client: MlflowClient) -> None:
    exp = [corpus.experiment_id]
    assert corpus.names(client.search_runs(exp, run_view_type=ViewType.ACTIVE_ONLY)) == LIVE
    assert corpus.names(client.search_runs(exp, run_view_type=ViewType.DELETED_ONLY)) == {
        "deleted-one"
    }
    assert corpus.names(client.search_runs(exp, run_view_type=ViewType.ALL)) == LIVE | {
        "deleted-one"
    }
    deleted_vision = client.search_runs(exp, "tags.team = 'vision'", ViewType.DELETED_ONLY)
    assert corpus.names(deleted_vision) == {"deleted-one"}


def test_search_runs_returns_full_run_data(corpus: Corpus, client: MlflowClient) -> None:
    (run,) = client.search_runs([corpus.experiment_id], "attributes.run_name = 'beta'")
    assert run.data.params == {"model": "rnn", "lr": "0.01"}
    assert run.data.metrics["acc"] == 0.7
    assert run.data.metrics["loss"] == 0.3
    assert math.isnan(run.data.metrics["score"])
    assert run.data.tags["team"] == "nlp"
    assert run.data.tags["mlflow.runName"] == "beta"
    assert run.info.start_time == 2000
    assert run.info.status == "RUNNING"


def test_search_runs_several_experiments(
    corpus: Corpus, client: MlflowClient, experiment_id: str
) -> None:
    other = client.create_run(experiment_id, run_name="elsewhere").info.run_id
    runs = client.search_runs([corpus.experiment_id, experiment_id, "987654321"])
    assert {r.info.run_id for r in runs} == {corpus.ids[n] for n in LIVE} | {other}


def test_search_runs_small_pages(corpus: Corpus, client: MlflowClient) -> None:
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = client.search_runs(
            [corpus.experiment_id], max_results=2, order_by=["start_time ASC"], page_token=token
        )
        seen.extend(corpus.ordered(page))
        token = page.token
        if not token:
            break
    assert seen == ["alpha", "beta", "gamma", "delta", "Alpha-2"]


def test_fluent_search_runs(corpus: Corpus, fluent: str) -> None:
    runs = mlflow.search_runs(
        experiment_ids=[corpus.experiment_id],
        filter_string="params.model ILIKE '%n%'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    assert corpus.ordered(runs) == ["Alpha-2", "gamma", "beta", "alpha"]


# --- paging through more than 1000 runs -------------------------------------------------------

N_BIG = 1150


@dataclass
class BigExperiment:
    experiment_id: str
    expected_order: list[str]  # run ids in the default order (start_time DESC, run_id ASC)


@pytest.fixture(scope="module")
def big_experiment(tracking_server: RunningServer) -> Iterator[BigExperiment]:
    """An experiment with N_BIG runs created with raw REST (fast); start_time = i // 3 so that
    many runs tie on start_time and the run_id tie-breaker matters."""
    base = f"{tracking_server.url}/api/2.0/mlflow"
    with requests.Session() as http:
        resp = http.post(
            f"{base}/experiments/create", json={"name": f"big-{uuid.uuid4().hex}"}, timeout=30
        )
        resp.raise_for_status()
        exp_id = resp.json()["experiment_id"]
        runs: list[tuple[int, str]] = []
        for i in range(N_BIG):
            start = 1_000 + i // 3
            resp = http.post(
                f"{base}/runs/create",
                json={"experiment_id": exp_id, "start_time": start, "run_name": f"r{i}"},
                timeout=30,
            )
            assert resp.status_code == 200, resp.text
            runs.append((start, resp.json()["run"]["info"]["run_id"]))
    expected = [rid for _, rid in sorted(runs, key=lambda sr: (-sr[0], sr[1]))]
    yield BigExperiment(exp_id, expected)


def test_page_through_more_than_1000_runs(
    big_experiment: BigExperiment, client: MlflowClient
) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs([big_experiment.experiment_id], max_results=100, page_token=token)
        pages += 1
        assert len(page) == 100 or not page.token
        seen.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
        assert pages <= N_BIG // 100 + 1
    assert pages == math.ceil(N_BIG / 100)
    assert len(seen) == len(set(seen)) == N_BIG
    assert seen == big_experiment.expected_order


def test_default_page_is_1000_runs(big_experiment: BigExperiment, client: MlflowClient) -> None:
    first = client.search_runs([big_experiment.experiment_id])
    assert len(first) == 1000
    assert first.token
    rest = client.search_runs([big_experiment.experiment_id], page_token=first.token)
    assert len(rest) == N_BIG - 1000
    assert not rest.token
    ids = [r.info.run_id for r in first] + [r.info.run_id for r in rest]
    assert ids == big_experiment.expected_order


def test_fluent_search_runs_auto_paginates(big_experiment: BigExperiment, fluent: str) -> None:
    runs = mlflow.search_runs(experiment_ids=[big_experiment.experiment_id], output_format="list")
    assert [r.info.run_id for r in runs] == big_experiment.expected_order
    # and with a filter + order over the large set
    subset = mlflow.search_runs(
        experiment_ids=[big_experiment.experiment_id],
        filter_string="attributes.start_time < 1010",
        order_by=["attributes.start_time ASC"],
        output_format="list",
    )
    assert len(subset) == 30
    assert [r.info.start_time for r in subset] == sorted(1_000 + i // 3 for i in range(30))


def test_page_beyond_last_page(big_experiment: BigExperiment, client: MlflowClient) -> None:
    page = client.search_runs([big_experiment.experiment_id], max_results=N_BIG + 10)
    assert len(page) == N_BIG
    assert not page.token


def test_bad_page_token(corpus: Corpus, client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as exc:
        client.search_runs([corpus.experiment_id], page_token="!!!not-a-token")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
