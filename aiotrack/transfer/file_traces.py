"""Read the traces of an ``./mlruns`` experiment as rows of MLflow's trace tables.

As ``mlflow migrate-filestore`` (MLflow 3.18, ``mlflow.store.fs2db``) does: each
``traces/<id>/`` becomes a ``trace_info`` row (the trace name and the promoted session, token
usage and cost metadata as its columns), ``trace_tags`` and ``trace_request_metadata`` rows,
and ``assessments`` rows. Spans stay where the client uploaded them (``traces.json`` in the
trace's artifact location, kept in the ``mlflow.artifactLocation`` tag): MLflow's tool does not
move them into ``spans``, and a server reads them from there for a trace whose spans are not
in the database.

Where MLflow's tool writes what its own store would not (a creation time of 0 for every
assessment, a null value for expectations stored serialised, the v2 ``TRACE_STATUS_UNSPECIFIED``
as a status), the rows here are the ones MLflow's SQL store writes for the same trace. Values
too long for their column are cut as MLflow's store cuts them (trace name, session id,
previews, tag values); a trace whose id or client request id cannot fit is reported and left
out.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

from aiotrack.errors import AiotrackError
from aiotrack.store.file.layout import MalformedError, list_subdirs, read_yaml_file
from aiotrack.store.file.trace_layout import ASSESSMENTS, TRACES, assessment_json, read_trace
from aiotrack.tracing.analytics import (
    COST_COLUMNS,
    MAX_SESSION_ID,
    MAX_TRACE_NAME,
    MAX_TRACE_TAG_VALUE,
    PROMOTED_METADATA_KEYS,
    SESSION_KEY,
    TOKEN_COLUMNS,
    analytics_columns,
)
from aiotrack.tracing.assessments import (
    AssessmentError,
    aggregate,
    expectation_value,
    new_assessment,
    parse_timestamp,
    proto_value,
    stored_json,
)
from aiotrack.tracing.entities import TRACE_NAME_TAG, TraceInfo

__all__ = ["TraceProblem", "trace_batches"]

log = logging.getLogger(__name__)

Row = dict[str, Any]
Batch = tuple[str, list[Row]]
#: Column widths of MLflow's trace tables.
_MAX_ID = 50
_MAX_KEY = 250
_MAX_PREVIEW = 1000
_ANALYTICS_COLUMNS = ("session_id", *TOKEN_COLUMNS.values(), *COST_COLUMNS.values())


class TraceProblem(Exception):
    """A trace (or one of its assessments) that cannot be imported, and why."""


def trace_batches(
    exp_dir: str, experiment_id: int, problems: list[tuple[str, str]]
) -> Iterator[Batch]:
    """Rows of every trace of the experiment in ``exp_dir`` (its SQL id ``experiment_id``);
    what cannot be read is appended to ``problems`` as ``(what, why)`` and skipped."""
    traces_dir = os.path.join(exp_dir, TRACES)
    for name in sorted(list_subdirs(traces_dir)):
        trace_dir = os.path.join(traces_dir, name)
        if not os.path.isfile(os.path.join(trace_dir, "trace_info.yaml")):
            continue
        try:
            yield from _trace_rows(trace_dir, experiment_id, problems)
        except (MalformedError, TraceProblem, OSError) as exc:
            problems.append((f"trace {name}", str(exc)))
            log.debug("cannot read trace %s", trace_dir, exc_info=True)


def _trace_rows(trace_dir: str, experiment_id: int, problems: list[tuple[str, str]]) -> list[Batch]:
    info = read_trace(trace_dir, assessments=False)
    trace_id = info.trace_id
    if len(trace_id) > _MAX_ID:
        raise TraceProblem(f"the trace id is longer than {_MAX_ID} characters")
    if info.client_request_id is not None and len(info.client_request_id) > _MAX_ID:
        raise TraceProblem(f"the client request id is longer than {_MAX_ID} characters")
    tags = dict(info.tags)
    trace_name = tags.pop(TRACE_NAME_TAG, None)
    metadata = dict(info.metadata)
    if metadata.get(SESSION_KEY) is not None:
        metadata[SESSION_KEY] = metadata[SESSION_KEY][:MAX_SESSION_ID]
    try:
        columns = analytics_columns(metadata)
    except AiotrackError as exc:
        raise TraceProblem(exc.message) from None
    for key in PROMOTED_METADATA_KEYS:
        metadata.pop(key, None)
    row: Row = {
        "request_id": trace_id,
        "experiment_id": experiment_id,
        "timestamp_ms": info.request_time,
        "execution_time_ms": info.execution_duration,
        "status": info.state,
        "client_request_id": info.client_request_id,
        "request_preview": _cut(info.request_preview, _MAX_PREVIEW),
        "response_preview": _cut(info.response_preview, _MAX_PREVIEW),
        "trace_name": _cut(trace_name, MAX_TRACE_NAME),
        # Every row names every column: an executemany takes its columns from the first row.
        **dict.fromkeys(_ANALYTICS_COLUMNS),
        **columns,
    }
    return [
        ("trace_info", [row]),
        ("trace_tags", _pairs(tags, trace_id, trace_dir, problems)),
        ("trace_request_metadata", _pairs(metadata, trace_id, trace_dir, problems)),
        ("assessments", _assessments(trace_dir, info, experiment_id, problems)),
    ]


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def _pairs(
    pairs: dict[str, str], trace_id: str, trace_dir: str, problems: list[tuple[str, str]]
) -> list[Row]:
    rows: list[Row] = []
    for key, value in pairs.items():
        if len(key) > _MAX_KEY:
            problems.append((f"trace {trace_id}", f"key {key[:40]!r}... is too long: skipped"))
            continue
        rows.append({"key": key, "value": value[:MAX_TRACE_TAG_VALUE], "request_id": trace_id})
    return rows


def _assessments(
    trace_dir: str, info: TraceInfo, experiment_id: int, problems: list[tuple[str, str]]
) -> list[Row]:
    directory = os.path.join(trace_dir, ASSESSMENTS)
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    rows: list[Row] = []
    for name in names:
        if not name.endswith(".yaml"):
            continue
        try:
            rows.append(
                assessment_row(
                    read_yaml_file(os.path.join(directory, name)),
                    name.removesuffix(".yaml"),
                    info,
                    experiment_id,
                )
            )
        except (MalformedError, TraceProblem, OSError) as exc:
            problems.append((f"assessment {name} of trace {info.trace_id}", str(exc)))
    return rows


def assessment_row(stored: Any, file_id: str, info: TraceInfo, experiment_id: int) -> Row:
    """The ``assessments`` row MLflow's SQL store holds for an assessment file (read as the
    file store answers it: MLflow's ``from_dictionary``)."""
    data = assessment_json(stored)
    kind = next(k for k in ("feedback", "expectation", "issue") if k in data)
    body = data[kind]
    try:
        if kind == "feedback":
            value = proto_value(body.get("value"), "feedback.value")
            raw_error = body.get("error")
            error = (
                AssessmentError(
                    str(raw_error.get("error_code") or ""),
                    raw_error.get("error_message"),
                    raw_error.get("stack_trace"),
                )
                if isinstance(raw_error, dict)
                else None
            )
        elif kind == "expectation":
            serialized = body.get("serialized_value")
            value = expectation_value(
                body.get("value"),
                None
                if not isinstance(serialized, dict)
                else (serialized.get("serialization_format"), serialized.get("value")),
                "expectation",
            )
            error = None
        else:
            value = {"issue_name": str(body.get("issue_name") or "")}
            error = None
        source = data["source"]
        new = new_assessment(
            kind,
            name=data["assessment_name"],
            value=value,
            source_type=str(source.get("source_type") or "SOURCE_TYPE_UNSPECIFIED"),
            source_id=source.get("source_id"),
            error=error,
            rationale=data.get("rationale"),
            metadata=data.get("metadata"),
            span_id=data.get("span_id"),
            overrides=data.get("overrides"),
        )
        created = parse_timestamp(data["create_time"], "create_time")
        updated = parse_timestamp(data["last_update_time"], "last_update_time")
    except AiotrackError as exc:
        raise TraceProblem(exc.message) from None
    aggregate_value, is_numeric = aggregate(new.value)
    assessment_id = data.get("assessment_id") or file_id
    if len(assessment_id) > _MAX_ID:
        raise TraceProblem(f"the assessment id is longer than {_MAX_ID} characters")
    return {
        "assessment_id": assessment_id,
        "trace_id": info.trace_id,
        "name": new.name,
        "assessment_type": kind,
        "value": stored_json(new.value),
        "error": new.error.stored() if new.error is not None else None,
        "created_timestamp": created,
        "last_updated_timestamp": updated,
        "source_type": new.source_type,
        "source_id": new.source_id,
        "run_id": new.run_id,
        "span_id": new.span_id,
        "rationale": new.rationale,
        "overrides": new.overrides,
        "valid": bool(data.get("valid", True)),
        "assessment_metadata": json.dumps(new.metadata) if new.metadata else None,
        "experiment_id": experiment_id,
        "trace_timestamp_ms": info.request_time,
        "aggregate_value": aggregate_value,
        "is_numeric_value": is_numeric,
    }
