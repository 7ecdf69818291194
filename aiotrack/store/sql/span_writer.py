"""Group commit for span ingest: OTLP export requests share transactions.

Each ``POST /v1/traces`` becomes a :class:`SpanBatch` (its spans already converted and
summarised per trace on the event loop). One flusher takes every batch queued and writes them
in ONE transaction, as MLflow's ``log_spans`` would have written them one by one: traces that
do not exist yet are created from their spans, existing ones get their time range, state,
previews, token usage, cost and session merged, and the spans are upserted. A request is
answered once its group has committed; while a group is written the next accumulates, so 64
exporters share a commit instead of queueing for the write lock. Should a group fail, its
batches are retried one per transaction so that only the offending request fails.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from aiotrack.errors import AiotrackError, ResourceNotFound
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.dialects import insert_ignore, upsert
from aiotrack.store.sql.schema.traces import (
    SqlAssessments,
    SqlSpan,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceTag,
)
from aiotrack.store.sql.schema.tracking import SqlExperiment
from aiotrack.store.sql.traces import trace_artifact_location
from aiotrack.tracing.analytics import (
    COST_COLUMNS,
    FINALIZED_KEY,
    TOKEN_COLUMNS,
    finite_float,
    token_count,
)
from aiotrack.tracing.entities import (
    ARTIFACT_LOCATION_TAG,
    SPANS_IN_TRACKING_STORE,
    SPANS_LOCATION_TAG,
    TRACE_NAME_TAG,
)
from aiotrack.tracing.records import SpanRecord, TraceSummary
from aiotrack.tracing.summary import Node, aggregate_cost, aggregate_usage, node_data

__all__ = ["SpanBatch", "SpanWriter"]

log = logging.getLogger(__name__)

TI, TT, TM, SP = SqlTraceInfo, SqlTraceTag, SqlTraceMetadata, SqlSpan
USER_KEY = "mlflow.trace.user"
#: Span attributes holding a span's token usage and cost (JSON objects).
CHAT_USAGE_KEY = "mlflow.chat.tokenUsage"
COST_ATTRIBUTE_KEY = "mlflow.llm.cost"
#: Most batches per group, and most spans: bound one transaction and its last member's wait.
MAX_GROUP_BATCHES = 256
MAX_GROUP_SPANS = 20_000
_OPEN_STATES = ("IN_PROGRESS", "STATE_UNSPECIFIED")
_SPAN_COLUMNS = [
    "experiment_id",
    "parent_span_id",
    "name",
    "type",
    "status",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "content",
    "input_cost",
    "output_cost",
    "total_cost",
    "model_name",
    "model_provider",
]
_STATE_COLUMNS = (
    TI.request_id,
    TI.experiment_id,
    TI.timestamp_ms,
    TI.execution_time_ms,
    TI.status,
    TI.request_preview,
    TI.response_preview,
    TI.session_id,
    *(getattr(TI, c) for c in TOKEN_COLUMNS.values()),
    *(getattr(TI, c) for c in COST_COLUMNS.values()),
)


@dataclass(eq=False)
class SpanBatch:
    """One export request's spans for one experiment, summarised per trace."""

    experiment_id: int
    traces: Sequence[TraceSummary]
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    error: AiotrackError | None = None

    @property
    def size(self) -> int:
        return sum(len(t.spans) for t in self.traces) or 1


class SpanWriter:
    """The group-commit writer of ingested spans (one per database)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[SpanBatch] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, experiment_id: int, traces: Sequence[TraceSummary]) -> None:
        """Store ``traces``' spans in experiment ``experiment_id``; returns once committed."""
        if not traces:
            return
        batch = SpanBatch(experiment_id, traces)
        self._pending.append(batch)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await asyncio.shield(batch.future)

    async def _flush(self) -> None:
        while self._pending:
            group: list[SpanBatch] = []
            spans = 0
            while self._pending and len(group) < MAX_GROUP_BATCHES and spans < MAX_GROUP_SPANS:
                batch = self._pending.pop(0)
                group.append(batch)
                spans += batch.size
            try:
                await self.db.run_write(functools.partial(_write_group, db=self.db, group=group))
            except Exception as exc:
                if len(group) == 1:
                    _settle(group[0], exc)
                    continue
                log.debug("span group failed (%s); retrying its batches one by one", exc)
                for batch in group:
                    batch.error = None
                    try:
                        await self.db.run_write(
                            functools.partial(_write_group, db=self.db, group=[batch])
                        )
                    except Exception as one:
                        _settle(batch, one)
                    else:
                        _settle(batch, None)
                continue
            for batch in group:
                _settle(batch, None)


def _settle(batch: SpanBatch, exc: BaseException | None) -> None:
    if batch.future.done():
        return
    error = batch.error or exc
    if error is None:
        batch.future.set_result(None)
    else:
        batch.future.set_exception(error)


def _write_group(conn: Connection, db: Database, group: list[SpanBatch]) -> None:
    """Write every batch of ``group`` in this transaction (batches whose experiment does not
    exist get their error and are left out)."""
    exp_ids = sorted({b.experiment_id for b in group})
    experiments = {
        row.experiment_id: row.artifact_location or ""
        for row in conn.execute(
            select(SqlExperiment.experiment_id, SqlExperiment.artifact_location).where(
                SqlExperiment.experiment_id.in_(exp_ids)
            )
        )
    }
    live: list[SpanBatch] = []
    for batch in group:
        if batch.experiment_id in experiments:
            live.append(batch)
        else:
            batch.error = ResourceNotFound(f"No Experiment with id={batch.experiment_id} exists")
    if not live:
        return
    trace_ids = sorted({t.trace_id for b in live for t in b.traces})
    lock = select(*_STATE_COLUMNS).where(TI.request_id.in_(trace_ids)).order_by(TI.request_id)
    if not db.is_sqlite:
        lock = lock.with_for_update()
    state: dict[str, dict[str, Any]] = {
        row.request_id: dict(row._mapping) for row in conn.execute(lock)
    }
    finalized = set(
        conn.execute(
            select(TM.request_id).where(TM.request_id.in_(trace_ids), TM.key == FINALIZED_KEY)
        ).scalars()
    )
    users = set(
        conn.execute(
            select(TM.request_id).where(TM.request_id.in_(trace_ids), TM.key == USER_KEY)
        ).scalars()
    )
    totals = _full_tree_totals(conn, live)
    span_rows: list[dict[str, Any]] = []
    tags: dict[tuple[str, str], str] = {}
    metadata: dict[tuple[str, str], str] = {}
    for batch in live:
        for summary in batch.traces:
            tid = summary.trace_id
            row = state.get(tid)
            if row is None:
                row = _create_trace(
                    conn, db, batch.experiment_id, summary, experiments, totals.get(tid)
                )
                if row is None:  # another process created it: lock it and merge below
                    again = select(*_STATE_COLUMNS).where(TI.request_id == tid)
                    row = dict(
                        conn.execute(again if db.is_sqlite else again.with_for_update())
                        .one()
                        ._mapping
                    )
                    _merge_trace(conn, row, summary, tid in finalized, totals.get(tid))
                state[tid] = row
            else:
                _merge_trace(conn, row, summary, tid in finalized, totals.get(tid))
            experiment_id = row["experiment_id"]
            span_rows += [span.row(experiment_id) for span in summary.spans]
            tags[(tid, SPANS_LOCATION_TAG)] = SPANS_IN_TRACKING_STORE
            for key, value in summary.tags.items():
                if key != TRACE_NAME_TAG:
                    tags[(tid, key)] = value
            if summary.user_id and tid not in users:
                metadata[(tid, USER_KEY)] = summary.user_id
                users.add(tid)
    if span_rows:
        conn.execute(
            upsert(db.dialect, SP.__table__, ["trace_id", "span_id"], _SPAN_COLUMNS), span_rows
        )
    for table, pairs in ((TT, tags), (TM, metadata)):
        if pairs:
            rows = [{"request_id": t, "key": k, "value": v} for (t, k), v in sorted(pairs.items())]
            conn.execute(
                upsert(db.dialect, table.__table__, ["key", "request_id"], ["value"]), rows
            )


def _usage_columns(summary: TraceSummary) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for key, col in TOKEN_COLUMNS.items():
        if (count := token_count(summary.token_usage.get(key))) is not None:
            columns[col] = count
    for key, col in COST_COLUMNS.items():
        if (value := finite_float(summary.cost.get(key))) is not None:
            columns[col] = value
    return columns


def _create_trace(
    conn: Connection,
    db: Database,
    experiment_id: int,
    summary: TraceSummary,
    experiments: dict[int, str],
    totals: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Insert the trace its first spans imply; None when another writer inserted it first."""
    values: dict[str, Any] = {
        "request_id": summary.trace_id,
        "experiment_id": experiment_id,
        "timestamp_ms": summary.min_start_ms,
        "execution_time_ms": (
            summary.max_end_ms - summary.min_start_ms if summary.max_end_ms else None
        ),
        "status": summary.status or "IN_PROGRESS",
        "client_request_id": None,
        "request_preview": summary.request_preview,
        "response_preview": summary.response_preview,
        "session_id": summary.session_id,
        "trace_name": summary.trace_name,
        **(totals if totals is not None else _usage_columns(summary)),
    }
    inserted = conn.execute(insert_ignore(db.dialect, TI.__table__).values(**values)).rowcount
    if not inserted:
        return None
    location = trace_artifact_location(experiments[experiment_id], summary.trace_id)
    conn.execute(
        insert_ignore(db.dialect, TT.__table__).values(
            request_id=summary.trace_id, key=ARTIFACT_LOCATION_TAG, value=location
        )
    )
    state = {col.key: values.get(col.key) for col in _STATE_COLUMNS}
    return state


def _full_tree_totals(conn: Connection, live: list[SpanBatch]) -> dict[str, dict[str, Any]]:
    """Token usage and cost columns of the group's traces whose new spans carry usage or cost,
    aggregated over the whole span tree (spans already stored and the group's), as MLflow
    recomputes them: a rollup parent and its children may arrive in different batches, and
    adding per-batch sums would count them twice."""
    batch_nodes: dict[str, dict[str, SpanRecord]] = {}
    for batch in live:
        for summary in batch.traces:
            if summary.token_usage or summary.cost:
                nodes = batch_nodes.setdefault(summary.trace_id, {})
                nodes.update({span.span_id: span for span in summary.spans})
    if not batch_nodes:
        return {}
    usage: dict[str, list[Node]] = {tid: [] for tid in batch_nodes}
    cost: dict[str, list[Node]] = {tid: [] for tid in batch_nodes}
    for tid, span_id, parent_id, content in conn.execute(
        select(SP.trace_id, SP.span_id, SP.parent_span_id, SP.content).where(
            SP.trace_id.in_(sorted(batch_nodes))
        )
    ):
        if span_id in batch_nodes[tid]:
            continue  # re-sent in this group: counted once, from the batch
        try:
            attributes = orjson.loads(content).get("attributes") or {}
        except (orjson.JSONDecodeError, AttributeError):
            continue
        usage[tid].append((span_id, parent_id, node_data(attributes.get(CHAT_USAGE_KEY))))
        cost[tid].append((span_id, parent_id, node_data(attributes.get(COST_ATTRIBUTE_KEY))))
    totals: dict[str, dict[str, Any]] = {}
    for tid, spans in batch_nodes.items():
        for span in spans.values():
            usage[tid].append((span.span_id, span.parent_span_id, span.usage_data))
            cost[tid].append((span.span_id, span.parent_span_id, span.cost_data))
        summary = TraceSummary(tid, 0, None)
        summary.token_usage = aggregate_usage(usage[tid]) or {}
        summary.cost = aggregate_cost(cost[tid]) or {}
        totals[tid] = _usage_columns(summary)
    return totals


def _merge_trace(
    conn: Connection,
    row: dict[str, Any],
    summary: TraceSummary,
    finalized: bool,
    totals: dict[str, Any] | None,
) -> None:
    """What a later batch of spans changes in an existing trace (``row`` is updated too)."""
    changes: dict[str, Any] = {}
    if not finalized:
        start, old_start = summary.min_start_ms, row["timestamp_ms"]
        new_start = min(start, old_start)
        if new_start != old_start:
            changes["timestamp_ms"] = new_start
        if summary.max_end_ms is not None:
            old_exec = row["execution_time_ms"]
            old_end = old_start + old_exec if old_exec is not None else None
            end = (
                old_end
                if old_end is not None and old_end > summary.max_end_ms
                else summary.max_end_ms
            )
            if end - new_start != old_exec:
                changes["execution_time_ms"] = end - new_start
    if row["status"] in _OPEN_STATES and summary.status:
        changes["status"] = summary.status
    if row["request_preview"] is None and summary.request_preview is not None:
        changes["request_preview"] = summary.request_preview
    if row["response_preview"] is None and summary.response_preview is not None:
        changes["response_preview"] = summary.response_preview
    if summary.trace_name is not None:
        changes["trace_name"] = summary.trace_name
    if summary.session_id and row["session_id"] is None:
        changes["session_id"] = summary.session_id
    # start_trace's values are authoritative once it has run (and set some); otherwise the
    # whole tree's totals replace what earlier batches stored.
    usage = totals if totals is not None else _usage_columns(summary)
    for cols in (list(TOKEN_COLUMNS.values()), list(COST_COLUMNS.values())):
        if finalized and any(row[c] is not None for c in cols):
            continue
        for col in cols:
            if col in usage and usage[col] != row[col]:
                changes[col] = usage[col]
    if not changes:
        return
    conn.execute(update(TI).where(TI.request_id == summary.trace_id).values(**changes))
    if "timestamp_ms" in changes:
        conn.execute(
            update(SqlAssessments)
            .where(SqlAssessments.trace_id == summary.trace_id)
            .values(trace_timestamp_ms=changes["timestamp_ms"])
        )
    row.update(changes)
