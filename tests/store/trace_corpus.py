"""A varied corpus of traces for the trace search tests, inserted straight into the tables.

Experiments 1 and 2 are searched, 3 is not. Timestamps tie in places (so the ``request_id``
tie-breaker matters), and every filterable part of a trace varies: status, times, names, client
request ids, tags and metadata (missing, case variants), session, token usage and cost columns,
spans (name/type/status/attributes/content), assessments (numeric, boolean and string
feedback, expectations, invalid ones, session-scoped ones), issues, linked runs and prompts.
"""

from __future__ import annotations

import json
import random
from typing import Any

from sqlalchemy import Connection

from aiotrack.store.sql.schema import (
    SqlAssessments,
    SqlEntityAssociation,
    SqlExperiment,
    SqlSpan,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceTag,
)

__all__ = ["BASE_MS", "SEARCHED_EXPERIMENTS", "insert_corpus"]

BASE_MS = 1_700_000_000_000
SEARCHED_EXPERIMENTS = [1, 2]
N_TRACES = 48


def _content(name: str, attributes: dict[str, Any], text: str) -> str:
    # As MLflow stores a span: its dict as JSON, each attribute value JSON-encoded itself.
    return json.dumps(
        {
            "name": name,
            "attributes": {k: json.dumps(v) for k, v in attributes.items()},
            "events": [{"name": "note", "attributes": {"text": text}}],
        }
    )


def _rows(rng: random.Random) -> dict[Any, list[dict[str, Any]]]:
    infos, tags, metadata, spans, assessments, links = [], [], [], [], [], []
    statuses = ["OK", "ERROR", "IN_PROGRESS", "OK"]
    names = ["chat", "Chat", "retrieve", None, "chat-v2"]
    envs = ["prod", "Prod", "staging", None, "prod"]
    users = ["alice", "bob", None, "Alice"]
    sessions = ["s1", "s2", None, None]
    for i in range(N_TRACES):
        tid = f"tr-{(i * 7919) % 1000:04d}{i:02d}"
        experiment = [1, 2, 3][i % 3] if i % 5 else 1
        ts = BASE_MS + (i // 3) * 1000  # three traces per timestamp
        execution = None if i % 7 == 0 else rng.choice([50, 100, 500, 1500, 100])
        session = sessions[i % 4]
        tokens = i % 3 == 0
        infos.append(
            {
                "request_id": tid,
                "experiment_id": experiment,
                "timestamp_ms": ts,
                "execution_time_ms": execution,
                "status": statuses[i % 4],
                "client_request_id": None if i % 6 == 0 else f"c-{i % 9}",
                "request_preview": f"question {i}",
                "response_preview": f"answer {i}",
                "trace_name": names[i % 5],
                "session_id": session,
                "input_tokens": 10 if tokens or i % 6 == 1 else None,
                "output_tokens": 5 if tokens else None,
                "total_tokens": 15 if tokens else None,
                "input_cost": 0.5 if i % 4 == 1 else None,
                "output_cost": 0.25 if i % 4 == 1 else None,
                "total_cost": 0.75 if i % 4 == 1 else None,
            }
        )
        if envs[i % 5] is not None:
            tags.append({"request_id": tid, "key": "env", "value": envs[i % 5]})
        if i % 4 == 0:
            tags.append({"request_id": tid, "key": "team name", "value": "a b"})
        if i % 10 == 3:  # a key case variant, on traces without "env" (MySQL keys ignore case)
            tags.append({"request_id": tid, "key": "Env", "value": "prod"})
        tags.append({"request_id": tid, "key": "mlflow.user", "value": f"u{i % 3}"})
        if users[i % 4] is not None:
            metadata.append({"request_id": tid, "key": "user", "value": users[i % 4]})
        if i % 3 == 1:
            run = "run1" if i % 2 else "run3"
            metadata.append({"request_id": tid, "key": "mlflow.sourceRun", "value": run})
        if session is not None:
            metadata.append({"request_id": tid, "key": "mlflow.trace.session", "value": session})
        if i % 8 == 2:
            links.append(_link(tid, "run", "run2"))
        if i % 10 == 3:
            links.append(_link(tid, "prompt_version", "qa/1"))
        if i % 10 == 6:
            links.append(_link(tid, "prompt_version", "qa/2"))
        for j, (span_name, span_type) in enumerate(
            [("root", "CHAIN"), ("llm", "LLM"), ("retriever", "RETRIEVER")][: 1 + i % 3]
        ):
            model = ["gpt-4", "GPT-4o", "claude"][(i + j) % 3]
            start_ns = (ts + j * 10 - (20_000 if i % 11 == 5 else 0)) * 1_000_000
            spans.append(
                {
                    "trace_id": tid,
                    "experiment_id": experiment if i % 13 != 12 else 3,  # a misfiled span
                    "span_id": f"{i:04d}{j:04d}",
                    "parent_span_id": None if j == 0 else f"{i:04d}0000",
                    "name": span_name,
                    "type": span_type,
                    "status": "ERROR" if (i + j) % 5 == 0 else "OK",
                    "start_time_unix_nano": start_ns,
                    "end_time_unix_nano": start_ns + 5_000_000,
                    "content": _content(
                        span_name, {"model": model, "temperature": 0.1 * j}, f"hello {i}"
                    ),
                }
            )
        assessments.extend(_assessments(i, tid, experiment, ts, session))
    return {
        SqlTraceInfo: infos,
        SqlTraceTag: tags,
        SqlTraceMetadata: metadata,
        SqlSpan: spans,
        SqlAssessments: assessments,
        SqlEntityAssociation: links,
    }


def _link(trace_id: str, kind: str, destination: str) -> dict[str, Any]:
    return {
        "association_id": f"{trace_id}-{kind}-{destination}",
        "source_type": "trace",
        "source_id": trace_id,
        "destination_type": kind,
        "destination_id": destination,
        "created_time": BASE_MS,
    }


def _assessment(
    trace_id: str,
    n: int,
    experiment: int,
    ts: int,
    kind: str,
    name: str,
    value: Any,
    *,
    valid: bool = True,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    aggregate = (
        float(value)
        if numeric
        else 1.0
        if value is True or value == "yes"
        else 0.0
        if value is False or value == "no"
        else None
    )
    return {
        "assessment_id": f"a-{trace_id}-{n}",
        "trace_id": trace_id,
        "name": name,
        "assessment_type": kind,
        "value": json.dumps(value),
        "error": None,
        "created_timestamp": ts + n,
        "last_updated_timestamp": ts + n,
        "source_type": "HUMAN",
        "source_id": "reviewer",
        "run_id": None,
        "span_id": None,
        "rationale": None,
        "overrides": None,
        "valid": valid,
        "assessment_metadata": json.dumps(metadata) if metadata is not None else None,
        "experiment_id": experiment,
        "trace_timestamp_ms": ts,
        "aggregate_value": aggregate,
        "is_numeric_value": numeric,
    }


def _assessments(
    i: int, tid: str, experiment: int, ts: int, session: str | None
) -> list[dict[str, Any]]:
    out = []
    if i % 2 == 0:
        out.append(_assessment(tid, 0, experiment, ts, "feedback", "score", (i % 5) / 4))
    if i % 3 == 0:
        out.append(_assessment(tid, 1, experiment, ts, "feedback", "correct", i % 2 == 0))
    if i % 4 == 1:
        tone = ["polite", "Polite", "rude"][i % 3]
        out.append(_assessment(tid, 2, experiment, ts, "feedback", "tone", tone))
    if i % 5 == 2:
        out.append(_assessment(tid, 3, experiment, ts, "expectation", "expected", f"x{i % 2}"))
    if i % 6 == 5:  # superseded: never matches
        out.append(_assessment(tid, 4, experiment, ts, "feedback", "score", 1, valid=False))
    if i % 7 == 3:
        out.append(_assessment(tid, 5, experiment, ts, "issue", "iss-1", {"issue_name": "Slow"}))
    if session is not None and i % 8 in (0, 1):
        out.append(
            _assessment(
                tid,
                6,
                experiment,
                ts,
                "feedback",
                "session_rating",
                "good" if session == "s1" else "bad",
                metadata={"mlflow.trace.session": session},
            )
        )
    return out


def insert_corpus(conn: Connection, seed: int = 20260101) -> None:
    """Insert the experiments and the corpus (one transaction, the caller commits)."""
    conn.execute(
        SqlExperiment.__table__.insert(),
        [
            {
                "experiment_id": e,
                "name": f"traces-{e}",
                "artifact_location": f"/tmp/art/{e}",
                "lifecycle_stage": "active",
                "creation_time": BASE_MS,
                "last_update_time": BASE_MS,
            }
            for e in (1, 2, 3)
        ],
    )
    for model, rows in _rows(random.Random(seed)).items():
        if rows:
            conn.execute(model.__table__.insert(), rows)
