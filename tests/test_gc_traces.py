"""``aiotrack gc`` deletes the traces of the experiments it deletes, on every backend.

Traces are logged through a real aiotrack server by the real mlflow client (spans through OTLP
on the databases, as ``traces.json`` artifacts on the file store; a feedback logged while each
trace was open), then their experiment is soft-deleted and collected by the real
``python -m aiotrack gc``. Every trace table (``trace_info``, ``trace_tags``,
``trace_request_metadata``, ``spans``, ``span_metrics``, ``trace_metrics``, ``assessments``,
``entity_associations``) and every trace artifact directory of the deleted experiment must be
empty, and those of the live experiment untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from aiotrack.store.sql.schema import metadata
from tests.gc_support import SqlInspector, run_gc
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import (
    RunningServer,
    drop_postgres_database,
    new_postgres_database,
    start_aiotrack,
)

#: Logs two traces into each of two experiments (a feedback logged inside each) and prints
#: ``{"keep": [...], "gone": [...], "ids": {"keep": exp, "gone": exp}}``.
LOGGER = r"""
import json, sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
out = {"ids": {}}
for name in ("keep", "gone"):
    exp = mlflow.set_experiment(f"gc-traces-{name}")
    out["ids"][name] = exp.experiment_id
    out[name] = []

    @mlflow.trace
    def work(x):
        with mlflow.start_span("inner") as span:
            span.set_attribute("x", x)
        mlflow.log_feedback(trace_id=mlflow.get_active_trace_id(), name="ok", value=True)
        return x

    for i in range(2):
        work(i)
        out[name].append(mlflow.get_last_active_trace_id())
print(json.dumps(out))
"""

#: Every table that holds rows of a trace, and the column naming the trace.
TRACE_TABLES = {
    "trace_info": "request_id",
    "trace_tags": "request_id",
    "trace_request_metadata": "request_id",
    "trace_metrics": "request_id",
    "spans": "trace_id",
    "span_metrics": "trace_id",
    "assessments": "trace_id",
}


@dataclass
class Backend:
    kind: str
    uri: str
    destination: Path
    workdir: Path
    server: RunningServer


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        "file",
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind: str = request.param
    if kind == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    elif kind == "postgres":
        uri = new_postgres_database("aiotrack_gc_traces")
    elif kind == "mariadb":
        uri = new_mariadb_database("gc_traces")
    else:
        uri = str(tmp_path / "mlruns")
    destination = tmp_path / "mlartifacts"
    server = start_aiotrack(uri, tmp_path / "server", "--artifacts-destination", str(destination))
    try:
        yield Backend(kind, uri, destination, tmp_path, server)
    finally:
        server.stop()
        if kind == "postgres":
            drop_postgres_database(uri)
        elif kind == "mariadb":
            drop_mariadb_database(uri)


def _log_traces(b: Backend) -> dict[str, object]:
    script = b.workdir / "log_traces.py"
    script.write_text(LOGGER)
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    env["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, str(script), b.server.url],
        cwd=b.workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _trace_dir(b: Backend, experiment_id: str, trace_id: str) -> Path:
    """Where the server keeps the trace's artifacts (its mlflow-artifacts location)."""
    return b.destination / experiment_id / "traces" / trace_id / "artifacts"


def _rows(store: SqlInspector, trace_ids: list[str]) -> dict[str, int]:
    """Rows per trace table for ``trace_ids`` (entity associations in either direction)."""
    params = {f"t{i}": t for i, t in enumerate(trace_ids)}
    names = ", ".join(f":{k}" for k in params)
    counts: dict[str, int] = {}
    with store.engine.connect() as conn:
        for table, column in TRACE_TABLES.items():
            sql = f"SELECT COUNT(*) FROM {table} WHERE {column} IN ({names})"
            counts[table] = int(conn.execute(text(sql), params).scalar() or 0)
        sql = (
            "SELECT COUNT(*) FROM entity_associations WHERE "
            f"(source_type = 'trace' AND source_id IN ({names})) OR "
            f"(destination_type = 'trace' AND destination_id IN ({names}))"
        )
        counts["entity_associations"] = int(conn.execute(text(sql), params).scalar() or 0)
    return counts


def _add_sql_extras(b: Backend, store: SqlInspector, traces: list[str], experiment_id: str) -> None:
    """Rows the client does not write here: trace and span metrics, a link to a run and one
    pointing at a trace, and an attachment in each trace's artifact directory."""
    run = requests.post(
        f"{b.server.url}/api/2.0/mlflow/runs/create",
        json={"experiment_id": experiment_id},
        timeout=30,
    ).json()["run"]["info"]["run_id"]
    linked = requests.post(
        f"{b.server.url}/api/2.0/mlflow/traces/link-to-run",
        json={"trace_ids": traces, "run_id": run},
        timeout=30,
    )
    assert linked.status_code == 200, linked.text
    tables = metadata.tables
    with store.engine.begin() as conn:
        for trace_id in traces:
            conn.execute(tables["trace_metrics"].insert(), {"request_id": trace_id, "key": "n"})
            span_id = conn.execute(
                text("SELECT span_id FROM spans WHERE trace_id = :t"), {"t": trace_id}
            ).first()
            assert span_id is not None, "the client's spans reached the spans table"
            conn.execute(
                tables["span_metrics"].insert(),
                {"trace_id": trace_id, "span_id": span_id[0], "key": "n", "value": 1.0},
            )
            conn.execute(
                tables["entity_associations"].insert(),
                {
                    "association_id": f"assoc-{trace_id[-20:]}",
                    "source_type": "evaluation_dataset",
                    "source_id": "d-1",
                    "destination_type": "trace",
                    "destination_id": trace_id,
                },
            )
    for trace_id in traces:
        directory = _trace_dir(b, experiment_id, trace_id)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "attachment.txt").write_text("an attachment")


def test_gc_deletes_the_traces_of_deleted_experiments(backend: Backend) -> None:
    b = backend
    logged = _log_traces(b)
    ids: dict[str, str] = logged["ids"]  # type: ignore[assignment]
    keep: list[str] = logged["keep"]  # type: ignore[assignment]
    gone: list[str] = logged["gone"]  # type: ignore[assignment]
    store = SqlInspector(b.uri) if b.kind != "file" else None
    try:
        if store is not None:
            for name, traces in (("keep", keep), ("gone", gone)):
                _add_sql_extras(b, store, traces, ids[name])
            before = _rows(store, gone)
            assert all(before.values()), before
            assert _rows(store, keep) == before
        for name, traces in (("keep", keep), ("gone", gone)):
            for trace_id in traces:
                assert any(_trace_dir(b, ids[name], trace_id).iterdir())
        deleted = requests.post(
            f"{b.server.url}/api/2.0/mlflow/experiments/delete",
            json={"experiment_id": ids["gone"]},
            timeout=30,
        )
        assert deleted.status_code == 200, deleted.text

        where = [] if b.kind == "file" else ["--backend-store-uri", b.uri]
        result = run_gc(*where, "--artifacts-destination", str(b.destination), cwd=b.workdir)
        assert result.returncode == 0, result.stderr
        assert result.deleted("Experiment") == {ids["gone"]}
        assert "1 experiment (with 2 traces)" in result.stderr

        for trace_id in gone:
            assert not _trace_dir(b, ids["gone"], trace_id).exists()
        for trace_id in keep:
            assert any(_trace_dir(b, ids["keep"], trace_id).iterdir())
        if store is not None:
            assert not any(_rows(store, gone).values()), _rows(store, gone)
            assert _rows(store, keep) == before
        else:
            assert not list(b.workdir.glob(f"mlruns/**/{gone[0]}"))
            for trace_id in keep:
                assert (b.workdir / "mlruns" / ids["keep"] / "traces" / trace_id).is_dir()
    finally:
        if store is not None:
            store.close()

    # The server still answers the traces that are left, and no longer the collected ones.
    found = requests.get(f"{b.server.url}/api/3.0/mlflow/traces/get", params={"trace_id": keep[0]})
    assert found.status_code == 200 and len(found.json()["trace"]["spans"]) == 2
    missing = requests.get(f"{b.server.url}/api/3.0/mlflow/traces/{gone[0]}", timeout=30)
    assert missing.status_code == 404
