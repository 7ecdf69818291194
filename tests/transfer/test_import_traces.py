"""``aiotrack import ./mlruns DST`` brings the file store's traces along.

The real mlflow client writes traces into a file store (spans as ``traces.json``, tags, token
usage and session metadata, a failed trace, feedback and a serialised expectation, a trace in a
deleted experiment) and an MLflow 2.x trace is added by hand. After the import into SQLite,
PostgreSQL and MariaDB, aiotrack serving the destination answers the traces as aiotrack
serving the source does (spans read from the artifact store, where they stay, as MLflow's
``migrate-filestore`` leaves them). Against MLflow 3.18's own ``mlflow migrate-filestore``, the
``trace_info``, ``trace_tags`` and ``trace_request_metadata`` rows are the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import yaml

from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import (
    drop_postgres_database,
    new_postgres_database,
    reference18_bin,
    start_aiotrack,
)
from tests.transfer.test_import import count, run_import, sync_url, table_rows

#: Run by the mlflow client (a fresh process) against ``file://<root>``.
WRITER = r"""
import json, sys, mlflow
from mlflow.entities import AssessmentSource
mlflow.set_tracking_uri(sys.argv[1])
client = mlflow.MlflowClient()
one = mlflow.set_experiment("traces one").experiment_id

@mlflow.trace(span_type="AGENT")
def answer(question):
    mlflow.update_current_trace(
        client_request_id="req-" + question, tags={"team": "ml"},
        metadata={"mlflow.trace.session": "session-1"},
    )
    with mlflow.start_span("llm", span_type="LLM") as span:
        span.set_attribute("mlflow.chat.tokenUsage",
                           {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7})
    return question.upper()

@mlflow.trace
def fails():
    raise RuntimeError("no")

ids = []
for q in ("a", "b"):
    answer(q)
    ids.append(mlflow.get_last_active_trace_id())
try:
    fails()
except RuntimeError:
    pass
ids.append(mlflow.get_last_active_trace_id())
client.set_trace_tag(ids[0], "reviewed", "yes")
human = AssessmentSource(source_type="HUMAN", source_id="ann")
mlflow.log_feedback(trace_id=ids[0], name="good", value=True, rationale="fine", source=human)
mlflow.log_feedback(trace_id=ids[0], name="score", value=0.25, source=human,
                    metadata={"mlflow.assessment.sourceRunId": "0123456789abcdef0123456789abcdef"})
mlflow.log_expectation(trace_id=ids[1], name="want", value={"answer": ["B"]}, source=human)
gone = mlflow.set_experiment("traces gone").experiment_id
answer("c")
ids.append(mlflow.get_last_active_trace_id())
client.delete_experiment(gone)
print(json.dumps({"one": one, "gone": gone, "trace_ids": ids}))
"""

#: What MLflow 2.x's file store wrote for a trace (``TraceInfoV2.to_dict()``).
LEGACY = {
    "request_id": "0123456789abcdef0123456789abcdef",
    "execution_time_ms": 12,
    "status": "OK",
    "timestamp_ms": 1_700_000_000_000,
}


def _write_source(root: Path, workdir: Path) -> dict[str, Any]:
    script = workdir / "write_traces.py"
    script.write_text(WRITER)
    env = {**os.environ, "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, str(script), root.as_uri()],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    written: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    legacy = root / written["one"] / "traces" / LEGACY["request_id"]
    (legacy / "tags").mkdir(parents=True)
    (legacy / "request_metadata").mkdir()
    (legacy / "trace_info.yaml").write_text(
        yaml.safe_dump({**LEGACY, "experiment_id": written["one"]}, sort_keys=True)
    )
    (legacy / "tags" / "mlflow.traceName").write_text("legacy")
    (legacy / "request_metadata" / "mlflow.user").write_text("old")
    return written


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("traces-source")
    root = workdir / "mlruns"
    return root, _write_source(root, workdir)


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'imported.db'}"
    elif request.param == "postgres":
        uri = new_postgres_database("imp_traces")
        yield uri
        drop_postgres_database(uri)
    else:
        uri = new_mariadb_database("imp_traces")
        yield uri
        drop_mariadb_database(uri)


def _trace_answers(url: str) -> dict[str, Any]:
    """Every trace of every experiment (by name), with its spans, normalised where a database
    and the file store may differ without a client seeing it: the experiment id (renumbered),
    the key order of JSON metadata values, the order of assessments."""
    experiments = requests.post(
        f"{url}/api/2.0/mlflow/experiments/search",
        json={"max_results": 100, "view_type": "ALL"},
        timeout=30,
    ).json()["experiments"]
    out: dict[str, Any] = {}
    for e in experiments:
        found = requests.post(
            f"{url}/api/3.0/mlflow/traces/search",
            json={"locations": [{"type": "MLFLOW_EXPERIMENT",
                                 "mlflow_experiment": {"experiment_id": e["experiment_id"]}}],
                  "max_results": 500},
            timeout=30,
        )  # fmt: skip
        assert found.status_code == 200, found.text
        traces = []
        for info in found.json().get("traces", []):
            info["trace_location"]["mlflow_experiment"]["experiment_id"] = e["name"]
            metadata = info.get("trace_metadata", {})
            for key in ("mlflow.trace.tokenUsage", "mlflow.trace.cost"):
                if key in metadata:
                    metadata[key] = json.loads(metadata[key])
            info["assessments"] = sorted(
                info.get("assessments", []), key=lambda a: a["assessment_id"]
            )
            for a in info["assessments"]:
                if "expectation" in a:  # MLflow's file store leaves it out, its database not
                    a.pop("valid", None)
            spans = requests.get(
                f"{url}/ajax-api/2.0/mlflow/get-trace-artifact",
                params={"request_id": info["trace_id"]},
                timeout=30,
            )
            assert spans.status_code == 200, spans.text
            traces.append((info, json.loads(spans.content)))
        out[e["name"]] = traces
    return out


def test_file_store_traces_are_imported_and_served_alike(
    source: tuple[Path, dict[str, Any]], database: str, tmp_path: Path
) -> None:
    root, written = source
    result = run_import(str(root), database, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Done: everything was imported." in result.stderr
    assert count(database, "trace_info") == 5
    assert count(database, "assessments") == 3
    assert count(database, "spans") == 0  # spans stay where the client uploaded them

    src = start_aiotrack(str(root), tmp_path / "src")
    dst = start_aiotrack(database, tmp_path / "dst", "--allowed-artifact-roots", str(root))
    try:
        expected, got = _trace_answers(src.url), _trace_answers(dst.url)
        assert got == expected
        one = expected["traces one"]
        assert len(one) == 4 and len(expected["traces gone"]) == 1
        by_id = {info["trace_id"]: (info, spans) for info, spans in one}
        first, spans = by_id[written["trace_ids"][0]]
        assert [s["name"] for s in spans["spans"]] == ["answer", "llm"]
        assert first["trace_metadata"]["mlflow.trace.tokenUsage"]["total_tokens"] == 7
        assert first["trace_metadata"]["mlflow.trace.session"] == "session-1"
        assert {a["assessment_name"] for a in first["assessments"]} == {"good", "score"}
        assert by_id[LEGACY["request_id"]][0]["tags"] == {"mlflow.traceName": "legacy"}
        failed = by_id[written["trace_ids"][2]][0]
        assert failed["state"] == "ERROR"
        # The destination's rows are searchable as any database's (assessment filters).
        location = {"experiment_id": _experiment_id(dst.url, "traces one")}
        found = requests.post(
            f"{dst.url}/api/3.0/mlflow/traces/search",
            json={
                "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": location}],
                "filter": "feedback.good = 'true'",
            },
            timeout=30,
        ).json()
        assert [t["trace_id"] for t in found["traces"]] == [written["trace_ids"][0]]
    finally:
        src.stop()
        dst.stop()

    again = run_import(str(root), database, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    lines = [ln.split() for ln in again.stderr.splitlines() if ln.startswith("  ")]
    news = {ln[0]: ln[2] for ln in lines if len(ln) == 3 and ln[0] != "table"}
    assert news.get("trace_info") == "0" and set(news.values()) == {"0"}, again.stderr


def _experiment_id(url: str, name: str) -> str:
    found = requests.get(
        f"{url}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": name},
        timeout=30,
    ).json()
    return str(found["experiment"]["experiment_id"])


def _named_rows(uri: str, table: str) -> dict[str, dict[str, Any]]:
    engine = sa.create_engine(sync_url(uri))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).mappings()
            return {str(r["assessment_id"]): dict(r) for r in rows}
    finally:
        engine.dispose()


def test_trace_rows_are_mlflow_migrate_filestore_rows(
    source: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    mlflow_bin = reference18_bin() / "mlflow"
    root, _ = source
    theirs = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [str(mlflow_bin), "migrate-filestore", "--source", str(root),
         "--target", theirs, "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ours = f"sqlite:///{tmp_path / 'aiotrack.db'}"
    result = run_import(str(root), ours, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for table in ("trace_info", "trace_tags", "trace_request_metadata"):
        assert table_rows(ours, table) == table_rows(theirs, table), table
    # Assessments: the same rows but for what MLflow's tool gets wrong: every creation and
    # update time 0, an expectation stored serialised lost as null, the run id the
    # ``mlflow.assessment.sourceRunId`` metadata names left out.
    mine, theirs_rows = _named_rows(ours, "assessments"), _named_rows(theirs, "assessments")
    assert set(mine) == set(theirs_rows) and len(mine) == 3
    wrong = {"created_timestamp", "last_updated_timestamp", "run_id"}
    for assessment_id, row in theirs_rows.items():
        skip = set(wrong)
        if row["assessment_type"] == "expectation":
            assert row["value"] == "null" and mine[assessment_id]["value"] == '{"answer": ["B"]}'
            skip.add("value")
        assert {k: v for k, v in row.items() if k not in skip} == {
            k: v for k, v in mine[assessment_id].items() if k not in skip
        }
        assert mine[assessment_id]["created_timestamp"] > 0 == row["created_timestamp"]
    score = next(r for r in mine.values() if r["name"] == "score")
    assert score["run_id"] == "0123456789abcdef0123456789abcdef"
