"""Traces built from several OTLP exports, and merged with ``StartTraceV3``: the same export
sequences are sent to aiotrack and to the reference ``mlflow server`` (3.18), and the trace
infos they answer must agree (time range, state, previews, token usage, cost, tags).

MLflow's client exports each span as it ends, so a trace's rows are written many times before
the client's ``StartTraceV3`` finalises them; rollup integrations put usage on a parent span as
well as on its children, which must not be counted twice when they arrive apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.databases import backend_database
from tests.servers import RunningServer, reference18_bin, start_aiotrack, start_mlflow_reference
from tests.tracing.otlp_builders import T0, body, new_span_id, new_trace_id, span

pytestmark = pytest.mark.timeout(300)

USAGE = "mlflow.chat.tokenUsage"
COST = "mlflow.llm.cost"


def _usage(inp: int, out: int) -> str:
    return json.dumps({"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out})


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer]]:
    backend = request.param
    ours_dir = tmp_path_factory.mktemp(f"merge-ours-{backend}")
    ref_dir = tmp_path_factory.mktemp(f"merge-ref-{backend}")
    with (
        backend_database(backend, ours_dir, "ingest_ours") as ours_uri,
        backend_database(backend, ref_dir, "ingest_ref") as ref_uri,
        start_aiotrack(ours_uri, ours_dir) as ours,
        start_mlflow_reference(ref_uri, ref_dir, bindir=reference18_bin()) as ref,
    ):
        yield ours, ref


def _experiment(server: RunningServer, name: str) -> str:
    resp = requests.post(
        f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=30
    )
    resp.raise_for_status()
    return str(resp.json()["experiment_id"])


def _export(server: RunningServer, experiment_id: str, payload: bytes) -> None:
    resp = requests.post(
        f"{server.url}/v1/traces",
        data=payload,
        headers={"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text


def _info(server: RunningServer, trace_id: str) -> dict[str, Any]:
    resp = requests.get(f"{server.url}/api/3.0/mlflow/traces/{trace_id}", timeout=30)
    assert resp.status_code == 200, resp.text
    info: dict[str, Any] = resp.json()["trace"]["trace_info"]
    # Ids, locations and the experiment differ between the two servers by construction.
    info.pop("trace_location")
    info.get("tags", {}).pop("mlflow.artifactLocation", None)
    return info


def _both(
    servers: tuple[RunningServer, RunningServer], name: str, exports: list[bytes]
) -> tuple[dict[str, Any], dict[str, Any]]:
    answers = []
    for server in servers:
        experiment_id = _experiment(server, name)
        for payload in exports:
            _export(server, experiment_id, payload)
        answers.append(experiment_id)
    return answers[0], answers[1]


def _trace_id(raw: bytes) -> str:
    return "tr-" + raw.hex()


def test_spans_one_by_one_then_root(servers: tuple[RunningServer, RunningServer]) -> None:
    tid, root, child, leaf = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    exports = [
        body(span(tid, leaf, child, name="leaf", start=T0 + 3_000_000, end=T0 + 4_000_000,
                  attributes={USAGE: _usage(3, 4), "mlflow.spanType": '"LLM"'})),
        body(span(tid, child, root, name="child", start=T0 + 2_000_000, end=T0 + 9_000_000,
                  status=(2, "bad"))),
        body(span(tid, root, name="root", start=T0 + 1_000_000, end=T0 + 12_000_000,
                  attributes={"mlflow.spanInputs": '{"q": "hi"}',
                              "mlflow.spanOutputs": '"there"',
                              "mlflow.traceTag.team": "search"})),
    ]  # fmt: skip
    _both(servers, "one-by-one", exports)
    ours, ref = (_info(s, _trace_id(tid)) for s in servers)
    assert ours == ref


def test_rollup_parent_after_children_is_not_counted_twice(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    tid, root, parent, a, b = (new_trace_id(), *(new_span_id() for _ in range(4)))
    exports = [
        body(
            span(tid, a, parent, name="a", attributes={USAGE: _usage(1, 2)}),
            span(tid, b, parent, name="b", attributes={USAGE: _usage(10, 20)}),
        ),
        # The rollup parent carries the sum of its children: the trace total stays 11 + 22.
        body(span(tid, parent, root, name="agent", attributes={USAGE: _usage(11, 22)})),
        body(span(tid, root, name="root")),
    ]
    _both(servers, "rollup", exports)
    ours, ref = (_info(s, _trace_id(tid)) for s in servers)
    assert ours == ref
    assert json.loads(ours["trace_metadata"]["mlflow.trace.tokenUsage"])["input_tokens"] == 11


def test_cost_and_usage_in_one_export(servers: tuple[RunningServer, RunningServer]) -> None:
    tid, root, llm = new_trace_id(), new_span_id(), new_span_id()
    cost = json.dumps({"input_cost": 0.5, "output_cost": 0.25, "total_cost": 0.75})
    exports = [
        body(
            span(tid, root, name="root", start=T0, end=T0 + 50_000_000),
            span(tid, llm, root, name="llm", attributes={USAGE: _usage(5, 6), COST: cost}),
        )
    ]
    _both(servers, "cost", exports)
    ours, ref = (_info(s, _trace_id(tid)) for s in servers)
    assert ours == ref


def test_start_trace_after_spans_wins(
    servers: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    tid, root = new_trace_id(), new_span_id()
    exports = [body(span(tid, root, name="root", attributes={USAGE: _usage(2, 2)}))]
    ids = _both(servers, "finalised", exports)
    for server, experiment_id in zip(servers, ids, strict=True):
        start = {
            "trace": {
                "trace_info": {
                    "trace_id": _trace_id(tid),
                    "trace_location": {
                        "type": "MLFLOW_EXPERIMENT",
                        "mlflow_experiment": {"experiment_id": experiment_id},
                    },
                    "request_time": "2026-09-21T10:00:00.500Z",
                    "execution_duration": "0.250s",
                    "state": "OK",
                    "request_preview": "client preview",
                    "trace_metadata": {
                        "mlflow.trace.tokenUsage": _usage(7, 8),
                        "mlflow.user": "alice",
                    },
                    "tags": {"mlflow.traceName": "named", "k": "v"},
                }
            }
        }
        resp = requests.post(f"{server.url}/api/3.0/mlflow/traces", json=start, timeout=30)
        assert resp.status_code == 200, resp.text
    # A late span of the finalised trace changes neither its time range nor its usage.
    late = body(span(tid, new_span_id(), root, name="late",
                     start=T0 - 5_000_000_000, attributes={USAGE: _usage(100, 100)}))  # fmt: skip
    for server, experiment_id in zip(servers, ids, strict=True):
        _export(server, experiment_id, late)
    ours, ref = (_info(s, _trace_id(tid)) for s in servers)
    assert ours == ref
