"""A deterministic set of traces, spans, tags, metadata and assessments, inserted straight into
MLflow's tables, for the trace metrics tests (store and HTTP).

Three hours of traces in experiment ``a``, a few in ``b``, none in ``empty``. Latencies, token
counts, span durations, costs and assessment values are all distinct, so that every
percentile is unambiguous (MLflow's MySQL percentile differs from linear interpolation only
when values repeat; ``tied`` experiment holds repeated values on purpose).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import Connection

from aiotrack.store.sql.schema import SqlExperiment
from aiotrack.store.sql.schema.logged_models import SqlEntityAssociation
from aiotrack.store.sql.schema.traces import (
    SqlAssessments,
    SqlSpan,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceTag,
)

__all__ = ["BASE_MS", "FAR_MS", "LINKED_RUN", "TraceData", "insert_trace_data", "sync_uri"]

#: 2023-11-14T22:00:00Z, an hour boundary.
BASE_MS = 1_699_999_200_000
HOUR_MS = 3_600_000
LINKED_RUN = "0123456789abcdef0123456789abcdef"
#: A trace timestamp in the year 287,000.
FAR_MS = 9_000_000_000_000_000_000 // 1000


@dataclass
class TraceData:
    """Experiment ids by label, and the rows inserted (for expected values computed here)."""

    experiments: dict[str, str] = field(default_factory=dict)
    traces: list[dict[str, Any]] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    assessments: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)


def sync_uri(uri: str) -> str:
    """``uri`` for a synchronous engine of this venv (psycopg2, pymysql, sqlite3)."""
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg2://" + uri.removeprefix("postgresql://")
    return uri


def insert_trace_data(uri: str) -> TraceData:
    """Insert the data set into the (already created) database at ``uri``."""
    engine = create_engine(sync_uri(uri))
    try:
        with engine.begin() as conn:
            return _insert(conn)
    finally:
        engine.dispose()


def _experiment(conn: Connection, name: str) -> int:
    conn.execute(
        insert(SqlExperiment).values(
            name=name,
            artifact_location=f"/tmp/{name}",
            lifecycle_stage="active",
            creation_time=BASE_MS,
            last_update_time=BASE_MS,
            workspace="default",
        )
    )
    return int(
        conn.execute(
            select(SqlExperiment.experiment_id).where(SqlExperiment.name == name)
        ).scalar_one()
    )


def _insert(conn: Connection) -> TraceData:
    rng = random.Random(20240611)
    data = TraceData()
    labels = ("a", "b", "empty", "tied", "far")
    ids = {label: _experiment(conn, f"metrics-{label}") for label in labels}
    data.experiments = {label: str(i) for label, i in ids.items()}
    latencies = iter(rng.sample(range(5, 100_000), 400))
    tokens = iter(rng.sample(range(1, 1_000_000), 2000))
    durations_ms = iter(rng.sample(range(0, 50_000), 2000))
    costs = iter(rng.sample(range(1, 10_000_000), 2000))
    scores = iter(rng.sample(range(0, 1_000_000), 2000))
    plan = [("a", i) for i in range(90)] + [("b", i) for i in range(12)]
    for label, i in plan:
        trace_id = f"tr-{label}-{i:03d}"
        timestamp = BASE_MS + rng.randrange(0, 3 * HOUR_MS) + (7 * HOUR_MS if label == "b" else 0)
        status = rng.choice(["OK", "OK", "OK", "ERROR", "IN_PROGRESS"])
        has_tokens = rng.random() < 0.8
        trace = {
            "request_id": trace_id,
            "experiment_id": ids[label],
            "timestamp_ms": timestamp,
            "execution_time_ms": None if status == "IN_PROGRESS" else next(latencies),
            "status": status,
            "trace_name": rng.choice(["chat", "search", "agent", None]),
            "session_id": rng.choice(["s1", "s2", "s3", "s4", None]),
            "input_tokens": next(tokens) if has_tokens else None,
            "output_tokens": next(tokens) if has_tokens else None,
            "total_tokens": next(tokens) if has_tokens else None,
            "cache_read_input_tokens": next(tokens) if rng.random() < 0.5 else None,
            "cache_creation_input_tokens": next(tokens) if rng.random() < 0.3 else None,
            "cache_creation_input_tokens_above_1hr": None,
            "input_cost": None,
            "output_cost": None,
            "total_cost": None,
        }
        data.traces.append(trace)
        env = rng.choice(["prod", "dev", None])
        if env is not None:
            data.tags.append({"request_id": trace_id, "key": "env", "value": env})
        if rng.random() < 0.3:
            data.tags.append({"request_id": trace_id, "key": "team", "value": "search"})
        if rng.random() < 0.4:
            data.metadata.append({"request_id": trace_id, "key": "user", "value": "alice"})
        if i % 7 == 0:
            data.metadata.append(
                {"request_id": trace_id, "key": "mlflow.sourceRun", "value": LINKED_RUN}
            )
        for s in range(rng.randrange(1, 5)):
            start_ns = timestamp * 1_000_000 + rng.randrange(0, 2_000_000_000)
            ended = rng.random() < 0.9
            priced = rng.random() < 0.6
            model = rng.choice([("gpt-4o", "openai"), ("claude", "anthropic"), (None, None)])
            data.spans.append(
                {
                    "trace_id": trace_id,
                    "experiment_id": ids[label],
                    "span_id": f"{trace_id}-s{s}",
                    "parent_span_id": None if s == 0 else f"{trace_id}-s0",
                    "name": rng.choice(["llm", "retrieve", "tool"]),
                    "type": rng.choice(["LLM", "RETRIEVER", "TOOL", None]),
                    "status": rng.choice(["OK", "OK", "ERROR"]),
                    "start_time_unix_nano": start_ns,
                    "end_time_unix_nano": start_ns
                    + next(durations_ms) * 1_000_000
                    + rng.randrange(0, 1_000_000)
                    if ended
                    else None,
                    "content": "{}",
                    "input_cost": next(costs) / 1e7 if priced else None,
                    "output_cost": next(costs) / 1e7 if priced else None,
                    "total_cost": next(costs) / 1e7 if priced else None,
                    "model_name": model[0],
                    "model_provider": model[1],
                }
            )
        for n in range(rng.randrange(0, 4)):
            numeric = rng.random() < 0.7
            value = next(scores) / 1e6 if numeric else None
            data.assessments.append(
                {
                    "assessment_id": f"a-{trace_id}-{n}",
                    "trace_id": trace_id,
                    "name": rng.choice(["relevance", "safety"]),
                    "assessment_type": rng.choice(["feedback", "expectation"]),
                    "value": json.dumps(value) if numeric else rng.choice(['"yes"', '"no"']),
                    "error": None,
                    "created_timestamp": timestamp + 1,
                    "last_updated_timestamp": timestamp + 1,
                    "source_type": "HUMAN",
                    "source_id": "me",
                    "run_id": None,
                    "span_id": None,
                    "rationale": None,
                    "overrides": None,
                    "valid": rng.random() < 0.85,
                    "assessment_metadata": None,
                    "experiment_id": ids[label],
                    "trace_timestamp_ms": timestamp,
                    "aggregate_value": value,
                    "is_numeric_value": numeric,
                }
            )
    _add_tied(data, ids["tied"])
    _add_far(data, ids["far"])
    conn.execute(insert(SqlTraceInfo), data.traces)
    conn.execute(insert(SqlTraceTag), data.tags)
    conn.execute(insert(SqlTraceMetadata), data.metadata)
    conn.execute(insert(SqlSpan), data.spans)
    conn.execute(insert(SqlAssessments), data.assessments)
    # An OTLP trace linked to the run afterwards: the link is an association, not metadata.
    conn.execute(
        insert(SqlEntityAssociation).values(
            association_id="assoc-1",
            source_type="trace",
            source_id="tr-a-001",
            destination_type="run",
            destination_id=LINKED_RUN,
            created_time=BASE_MS,
        )
    )
    return data


def _add_tied(data: TraceData, experiment_id: int) -> None:
    """Latencies with repeats: 10, 20, 20, 20, 30, 40, 40, 100 (and one trace without)."""
    for n, latency in enumerate([10, 20, 20, 20, 30, 40, 40, 100, None]):
        data.traces.append(_plain_trace(f"tr-tied-{n}", experiment_id, BASE_MS + n, latency))


def _add_far(data: TraceData, experiment_id: int) -> None:
    """One trace now and one stamped in the year 287,000 (no ISO 8601 form)."""
    data.traces.append(_plain_trace("tr-far-0", experiment_id, BASE_MS, 5))
    data.traces.append(_plain_trace("tr-far-1", experiment_id, FAR_MS, 7))


def _plain_trace(
    trace_id: str, experiment_id: int, timestamp_ms: int, latency: int | None
) -> dict[str, Any]:
    return {
        "request_id": trace_id,
        "experiment_id": experiment_id,
        "timestamp_ms": timestamp_ms,
        "execution_time_ms": latency,
        "status": "OK",
        "trace_name": "tied",
        "session_id": None,
        "input_tokens": None,
        "output_tokens": None,
        "total_tokens": None,
        "cache_read_input_tokens": None,
        "cache_creation_input_tokens": None,
        "cache_creation_input_tokens_above_1hr": None,
        "input_cost": None,
        "output_cost": None,
        "total_cost": None,
    }
