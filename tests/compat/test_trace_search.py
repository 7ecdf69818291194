"""``search_traces`` through the real client: every filter field MLflow 3.18 documents, both
orders and several order keys, and page tokens that neither skip nor repeat a trace.

A small corpus with known timestamps, durations, names, tags, metadata, a run, a client request
id, span names/types/attributes and a linked prompt is logged once per server; each filter case
names the traces it must return. The expected sets hold on ``mlflow server`` 3.18
(``AIOTRACK_TRACE_TESTS_SERVER=reference``).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
import pytest
import requests
from mlflow.entities import SpanType
from mlflow.tracking import MlflowClient

from tests.compat.conftest import point_tracing_at
from tests.servers import RunningServer

pytestmark = [pytest.mark.compat]

PAGED_TRACES = 57
PAGE_SIZE = 10


@dataclass(frozen=True)
class Corpus:
    """The logged corpus: trace ids by label, and what the filters are built from."""

    experiment_id: str
    ids: dict[str, str]
    run_id: str
    t0_ms: int

    def labels(self, trace_ids: list[str]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id.get(t, t) for t in trace_ids]


def _span_tree(
    experiment_id: str,
    name: str,
    start_ms: int,
    duration_ms: int,
    *,
    child: tuple[str, str, dict[str, object]],
    tags: dict[str, str],
    metadata: dict[str, str] | None = None,
    status: str = "OK",
) -> str:
    """A root span with one child, at fixed times; returns the trace id."""
    root = mlflow.start_span_no_context(
        name,
        experiment_id=experiment_id,
        inputs={"name": name},
        tags=tags,
        metadata=metadata,
        start_time_ns=start_ms * 1_000_000,
    )
    child_name, child_type, child_attributes = child
    span = mlflow.start_span_no_context(
        child_name,
        span_type=child_type,
        parent_span=root,
        attributes=child_attributes,  # type: ignore[arg-type]
        start_time_ns=(start_ms + 1) * 1_000_000,
    )
    span.end(end_time_ns=(start_ms + 2) * 1_000_000)
    root.end(
        outputs=f"{name} done", status=status, end_time_ns=(start_ms + duration_ms) * 1_000_000
    )
    return root.trace_id


@pytest.fixture(scope="module")
def corpus(trace_server: RunningServer) -> Iterator[Corpus]:
    """Four traces, oldest first: alpha, beta (ERROR), gamma (in a run), delta (now)."""
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    point_tracing_at(trace_server.url)
    client = MlflowClient(trace_server.url)
    exp = client.create_experiment(f"trace-search-{uuid.uuid4().hex[:10]}")
    t0 = int(time.time() * 1000) - 3_600_000
    try:
        ids = {
            "alpha": _span_tree(
                exp, "alpha", t0, 100,
                child=("retrieve", SpanType.RETRIEVER, {"db": "vec", "k": 5}),
                tags={"team": "red", "color": "Blue Sky"},
                metadata={"env": "prod"},
            ),
            "beta": _span_tree(
                exp, "beta", t0 + 1000, 2500,
                child=("generate", SpanType.CHAT_MODEL, {"model": "gpt-x"}),
                tags={"team": "blue"},
                metadata={"env": "dev"},
                status="ERROR",
            ),
        }  # fmt: skip
        run = client.create_run(exp)
        mlflow.start_run(run_id=run.info.run_id)
        try:
            ids["gamma"] = _span_tree(
                exp, "gamma", t0 + 2000, 40,
                child=("tool_call", SpanType.TOOL, {"tool": "calc"}),
                tags={"team": "red"},
            )  # fmt: skip
        finally:
            mlflow.end_run()
        mlflow.set_experiment(experiment_id=exp)
        with mlflow.start_span("delta", span_type=SpanType.AGENT) as span:
            span.set_inputs({"name": "delta"})
            mlflow.update_current_trace(client_request_id="req-delta-1")
            span.set_outputs("delta done")
        ids["delta"] = span.trace_id
        # Prompt versions are linked by name/version; the prompt itself need not exist.
        resp = requests.post(
            f"{trace_server.url}/api/2.0/mlflow/traces/link-prompts",
            json={
                "trace_id": ids["delta"],
                "prompt_versions": [{"name": "qa-prompt", "version": "2"}],
            },
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
    finally:
        point_tracing_at(None)
        os.environ.pop("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", None)
    yield Corpus(experiment_id=exp, ids=ids, run_id=run.info.run_id, t0_ms=t0)


def search_labels(client: MlflowClient, corpus: Corpus, **kwargs: object) -> list[str]:
    found = client.search_traces(locations=[corpus.experiment_id], max_results=100, **kwargs)  # type: ignore[arg-type]
    return corpus.labels([t.info.trace_id for t in found])


# (filter, the traces it returns). ``{t0}``, ``{run_id}`` and ``{<label>}`` are filled in.
FILTERS: list[tuple[str, set[str]]] = [
    ("trace.status = 'OK'", {"alpha", "gamma", "delta"}),
    ("trace.status = 'ERROR'", {"beta"}),
    ("attributes.status != 'OK'", {"beta"}),
    ("status IN ('ERROR', 'IN_PROGRESS')", {"beta"}),
    ("trace.timestamp_ms >= {t0_1000}", {"beta", "gamma", "delta"}),
    ("trace.timestamp_ms < {t0_1000}", {"alpha"}),
    ("timestamp > {t0} AND timestamp <= {t0_2000}", {"beta", "gamma"}),
    ("trace.execution_time_ms > 500", {"beta"}),
    ("trace.end_time_ms = {t0_100}", {"alpha"}),
    ("end_time > {t0_3000} AND end_time < {t0_4000}", {"beta"}),
    ("execution_time = 100", {"alpha"}),
    ("trace.name = 'alpha'", {"alpha"}),
    ("trace.name != 'alpha'", {"beta", "gamma", "delta"}),
    ("trace.name LIKE 'ga%'", {"gamma"}),
    ("trace.name ILIKE 'BET%'", {"beta"}),
    ("tags.team = 'red'", {"alpha", "gamma"}),
    ("tags.team != 'red'", {"beta"}),
    ("tags.color LIKE '%Sky'", {"alpha"}),
    ("tags.color ILIKE '%sky'", {"alpha"}),
    ("tags.team IS NULL", {"delta"}),
    ("tags.team RLIKE '^re'", {"alpha", "gamma"}),
    ("metadata.env RLIKE 'pr.d$'", {"alpha"}),
    ("metadata.env ILIKE 'DE%'", {"beta"}),
    ("tags.`mlflow.traceName` = 'beta'", {"beta"}),
    ("metadata.env = 'prod'", {"alpha"}),
    ("request_metadata.env = 'dev'", {"beta"}),
    ("metadata.env IS NOT NULL", {"alpha", "beta"}),
    ("trace.run_id = '{run_id}'", {"gamma"}),
    ("trace.client_request_id = 'req-delta-1'", {"delta"}),
    ("trace.request_id = '{beta}'", {"beta"}),
    ("request_id IN ('{alpha}', '{delta}')", {"alpha", "delta"}),
    ("span.name = 'retrieve'", {"alpha"}),
    ("span.name LIKE 'gen%'", {"beta"}),
    ("span.type = 'TOOL'", {"gamma"}),
    ("span.type IN ('TOOL', 'RETRIEVER')", {"alpha", "gamma"}),
    ("span.status = 'ERROR'", {"beta"}),
    # Span attributes are matched in the span's JSON (LIKE: after the quoted key; RLIKE:
    # within the JSON-encoded value), as MLflow's SQL store does.
    ("span.attributes.model LIKE '%gpt%'", {"beta"}),
    ("span.attributes.model ILIKE '%GPT-X%'", {"beta"}),
    ("span.attributes.model RLIKE '^gpt-x$'", {"beta"}),
    ("span.attributes.model RLIKE 'pt-'", {"beta"}),
    ("span.attributes.model RLIKE '^pt'", set()),
    ("span.attributes.tool LIKE '%cal%'", {"gamma"}),
    ("prompt = 'qa-prompt/2'", {"delta"}),
    ("prompt = 'qa-prompt/1'", set()),
    ("tags.team = 'red' AND trace.status = 'OK' AND span.type = 'TOOL'", {"gamma"}),
    ("trace.name = 'nothing'", set()),
]


def _fill(template: str, corpus: Corpus) -> str:
    return template.format(
        t0=corpus.t0_ms,
        t0_100=corpus.t0_ms + 100,
        t0_1000=corpus.t0_ms + 1000,
        t0_2000=corpus.t0_ms + 2000,
        t0_3000=corpus.t0_ms + 3000,
        t0_4000=corpus.t0_ms + 4000,
        run_id=corpus.run_id,
        **corpus.ids,
    )


@pytest.mark.parametrize(("template", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filter(
    trace_server: RunningServer, corpus: Corpus, template: str, expected: set[str]
) -> None:
    client = MlflowClient(trace_server.url)
    found = search_labels(client, corpus, filter_string=_fill(template, corpus))
    assert sorted(found) == sorted(expected)


def test_search_by_run_id_argument(trace_server: RunningServer, corpus: Corpus) -> None:
    client = MlflowClient(trace_server.url)
    assert search_labels(client, corpus, run_id=corpus.run_id) == ["gamma"]


ORDERS: list[tuple[list[str] | None, str | None, list[str]]] = [
    (None, None, ["delta", "gamma", "beta", "alpha"]),  # newest first by default
    (["timestamp_ms DESC"], None, ["delta", "gamma", "beta", "alpha"]),
    (["timestamp_ms ASC"], None, ["alpha", "beta", "gamma", "delta"]),
    (["timestamp"], None, ["alpha", "beta", "gamma", "delta"]),
    (["execution_time DESC"], "tags.team IS NOT NULL", ["beta", "alpha", "gamma"]),
    (["execution_time_ms ASC"], "tags.team IS NOT NULL", ["gamma", "alpha", "beta"]),
    (["name ASC"], None, ["alpha", "beta", "delta", "gamma"]),
    (["name DESC"], None, ["gamma", "delta", "beta", "alpha"]),
    (["status ASC", "timestamp_ms DESC"], None, ["beta", "delta", "gamma", "alpha"]),
    (["status DESC", "timestamp_ms ASC"], None, ["alpha", "gamma", "delta", "beta"]),
]


@pytest.mark.parametrize(
    ("order_by", "filter_string", "expected"),
    ORDERS,
    ids=[f"{o}-{f}" for o, f, _ in ORDERS],
)
def test_order(
    trace_server: RunningServer,
    corpus: Corpus,
    order_by: list[str] | None,
    filter_string: str | None,
    expected: list[str],
) -> None:
    client = MlflowClient(trace_server.url)
    found = search_labels(client, corpus, order_by=order_by, filter_string=filter_string)
    assert found == expected


# --------------------------------------------------------------------------------------------
# Pagination


@pytest.fixture(scope="module")
def paged(trace_server: RunningServer) -> tuple[str, list[str]]:
    """57 traces in an experiment of their own, three to a millisecond (ties the page token must
    break), every fifth one ERROR; returns (experiment id, ids oldest first)."""
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    point_tracing_at(trace_server.url)
    exp = MlflowClient(trace_server.url).create_experiment(f"paged-{uuid.uuid4().hex[:10]}")
    start = int(time.time() * 1000) - 7_200_000
    ids = []
    try:
        for i in range(PAGED_TRACES):
            ms = start + (i // 3) * 10
            span = mlflow.start_span_no_context(
                f"p{i:02d}", experiment_id=exp, start_time_ns=ms * 1_000_000
            )
            span.end(status="ERROR" if i % 5 == 0 else "OK", end_time_ns=(ms + 1 + i) * 1_000_000)
            ids.append(span.trace_id)
    finally:
        point_tracing_at(None)
        os.environ.pop("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", None)
    return exp, ids


def _all_pages(
    client: MlflowClient, experiment_id: str, page_size: int = PAGE_SIZE, **kwargs: object
) -> tuple[list[str], list[int]]:
    ids: list[str] = []
    sizes: list[int] = []
    token = None
    for _ in range(50):
        page = client.search_traces(
            locations=[experiment_id],
            max_results=page_size,
            page_token=token,
            include_spans=False,
            **kwargs,  # type: ignore[arg-type]
        )
        ids.extend(t.info.trace_id for t in page)
        sizes.append(len(page))
        token = page.token
        if not token:
            return ids, sizes
    raise AssertionError("page tokens never ran out")


@pytest.mark.parametrize("order_by", [None, ["timestamp_ms ASC"], ["timestamp_ms DESC"]])
def test_pages_without_gaps_or_duplicates(
    trace_server: RunningServer, paged: tuple[str, list[str]], order_by: list[str] | None
) -> None:
    exp, expected = paged
    client = MlflowClient(trace_server.url)
    ids, sizes = _all_pages(client, exp, order_by=order_by)
    assert len(ids) == len(set(ids)) == PAGED_TRACES
    assert set(ids) == set(expected)
    assert sizes == [10, 10, 10, 10, 10, 7]
    # Timestamps are monotone in the requested direction (ties in either order).
    position = {trace_id: i for i, trace_id in enumerate(expected)}
    groups = [position[t] // 3 for t in ids]
    ascending = order_by == ["timestamp_ms ASC"]
    assert groups == sorted(groups, reverse=not ascending)


def test_last_full_page_has_no_token(
    trace_server: RunningServer, paged: tuple[str, list[str]]
) -> None:
    """57 = 3 x 19: the third page is full and is the last; it carries no page token."""
    exp, expected = paged
    ids, sizes = _all_pages(MlflowClient(trace_server.url), exp, page_size=19)
    assert sizes == [19, 19, 19]
    assert sorted(ids) == sorted(expected)


def test_filtered_pages(trace_server: RunningServer, paged: tuple[str, list[str]]) -> None:
    exp, expected = paged
    client = MlflowClient(trace_server.url)
    ids, sizes = _all_pages(client, exp, filter_string="trace.status = 'OK'")
    ok = {t for i, t in enumerate(expected) if i % 5 != 0}
    assert len(ids) == len(set(ids)) == len(ok) == 45
    assert set(ids) == ok
    assert sizes == [10, 10, 10, 10, 5]


def test_fluent_search_max_results_spans_pages(
    trace_server: RunningServer, paged: tuple[str, list[str]]
) -> None:
    """``mlflow.search_traces(max_results=...)`` pages through the server on its own."""
    exp, expected = paged
    mlflow.set_tracking_uri(trace_server.url)
    try:
        frame = mlflow.search_traces(locations=[exp], max_results=PAGED_TRACES, include_spans=False)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    assert len(frame) == PAGED_TRACES
    assert set(frame["trace_id"]) == set(expected)
