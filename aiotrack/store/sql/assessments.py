"""Assessments of traces in the tracking database: MLflow 3.18's ``create_assessment``,
``get_assessment``, ``update_assessment`` and ``delete_assessment``, same rows and errors.

A new assessment copies its trace's ``experiment_id`` and ``timestamp_ms`` (read under a row
lock on PostgreSQL and MySQL, under the writer lock on SQLite); one that ``overrides`` another
of the same trace marks that one ``valid = false``, and deleting it marks that one valid again.
Everything runs as one synchronous function per request on ``Database.run_write`` /
``run_read`` (one thread hop on SQLite).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, literal_column, select, update
from sqlalchemy.engine import Connection

from aiotrack.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from aiotrack.store.assessment_base import ExpectationUpdate, FeedbackUpdate, updated_assessment
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.schema.traces import SqlAssessments, SqlTraceInfo
from aiotrack.tracing.assessments import (
    Assessment,
    AssessmentError,
    NewAssessment,
    aggregate,
    assessment_json,
    created_assessment,
    new_assessment_id,
    now_ms,
    stored_json,
)

__all__ = [
    "ExpectationUpdate",
    "FeedbackUpdate",
    "SqlAssessmentStore",
    "load_assessments",
    "new_assessment_id",
    "write_trace_assessments",
]

A = SqlAssessments
_CHUNK = 500


def _entity(row: Any) -> Assessment:
    """An ``Assessment`` of a row, as MLflow's ``SqlAssessments.to_mlflow_entity`` reads it:
    an expectation has no rationale and no error."""
    kind = row.assessment_type
    if kind not in ("feedback", "expectation", "issue"):
        raise ValueError(f"Unknown assessment type: {kind}")
    return Assessment(
        assessment_id=row.assessment_id,
        trace_id=row.trace_id,
        name=row.name,
        kind=kind,
        value=json.loads(row.value),
        source_type=row.source_type,
        source_id=row.source_id,
        created_ms=row.created_timestamp,
        updated_ms=row.last_updated_timestamp,
        error=(
            AssessmentError.from_stored(row.error)
            if kind == "feedback" and row.error is not None
            else None
        ),
        rationale=row.rationale if kind != "expectation" else None,
        metadata=json.loads(row.assessment_metadata) if row.assessment_metadata else None,
        span_id=row.span_id,
        run_id=row.run_id,
        overrides=row.overrides,
        valid=bool(row.valid),
    )


def _order(conn: Connection) -> list[Any]:
    # MLflow reads a trace's assessments without ORDER BY; SQLite walks them through the
    # (trace_id, created_timestamp) index, so rowid breaks ties there: the same order here.
    tie = literal_column("assessments.rowid") if conn.dialect.name == "sqlite" else A.assessment_id
    return [A.trace_id, A.created_timestamp, tie]


def load_assessments(conn: Connection, trace_ids: Sequence[str]) -> dict[str, list[Assessment]]:
    """The assessments of each of ``trace_ids`` that has any, oldest first; one query per 500
    ids. For use inside a caller's own ``run_read`` function."""
    ids = list(dict.fromkeys(trace_ids))
    out: dict[str, list[Assessment]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(select(A).where(A.trace_id.in_(chunk)).order_by(*_order(conn)))
        for row in rows:
            out.setdefault(row.trace_id, []).append(_entity(row))
    return out


def _entity_of(new: NewAssessment, trace_id: str, now: int) -> Assessment:
    return created_assessment(new, trace_id, now, client_ids=True)


def _row_values(a: Assessment, experiment_id: int, trace_timestamp_ms: int) -> dict[str, Any]:
    """The ``assessments`` row of a new assessment, as MLflow's ``from_mlflow_entity``."""
    aggregate_value, is_numeric = aggregate(a.value)
    return {
        "assessment_id": a.assessment_id,
        "trace_id": a.trace_id,
        "name": a.name,
        "assessment_type": a.kind,
        "value": stored_json(a.value),
        "error": a.error.stored() if a.error is not None else None,
        "created_timestamp": a.created_ms,
        "last_updated_timestamp": a.updated_ms,
        "source_type": a.source_type,
        "source_id": a.source_id,
        "run_id": a.run_id,
        "span_id": a.span_id,
        "rationale": a.rationale,
        "overrides": a.overrides,
        "valid": True,
        "assessment_metadata": json.dumps(a.metadata) if a.metadata else None,
        "experiment_id": experiment_id,
        "trace_timestamp_ms": trace_timestamp_ms,
        "aggregate_value": aggregate_value,
        "is_numeric_value": is_numeric,
    }


def write_trace_assessments(
    conn: Connection,
    trace_id: str,
    experiment_id: int,
    timestamp_ms: int,
    assessments: Sequence[NewAssessment],
) -> None:
    """``StartTraceV3``'s part: store the assessments a ``TraceInfo`` carries, as MLflow's
    ``start_trace`` does, inside the caller's write transaction (the trace row must exist).

    An assessment whose id is already stored on this trace is overwritten (MLflow merges by id);
    one whose id belongs to another trace is a 400. Every assessment of the trace then takes
    the trace's ``experiment_id`` and ``timestamp_ms``. ``overrides`` is stored unchecked."""
    now = now_ms()
    # A repeated id: the last one wins, as MLflow's merge of the same id twice.
    by_id = {e.assessment_id: e for e in (_entity_of(new, trace_id, now) for new in assessments)}
    entities = list(by_id.values())
    ids = list(by_id)
    if ids:
        foreign = conn.execute(
            select(A.assessment_id).where(A.assessment_id.in_(ids), A.trace_id != trace_id)
        ).first()
        if foreign is not None:
            raise InvalidParameter(
                f"Assessment with ID '{foreign.assessment_id}' belongs to another trace."
            )
        conn.execute(delete(A).where(A.trace_id == trace_id, A.assessment_id.in_(ids)))
        conn.execute(insert(A), [_row_values(a, experiment_id, timestamp_ms) for a in entities])
    conn.execute(
        update(A)
        .where(A.trace_id == trace_id)
        .values(experiment_id=experiment_id, trace_timestamp_ms=timestamp_ms)
    )


def _row(conn: Connection, trace_id: str, assessment_id: str) -> Any:
    """The assessment row, or MLflow's 404: the trace is named when it is the one missing."""
    row = conn.execute(
        select(A).where(A.trace_id == trace_id, A.assessment_id == assessment_id)
    ).first()
    if row is not None:
        return row
    trace = conn.execute(
        select(SqlTraceInfo.request_id).where(SqlTraceInfo.request_id == trace_id)
    ).first()
    if trace is None:
        raise ResourceNotFound(f"Trace with request_id '{trace_id}' not found")
    raise ResourceNotFound(f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'")


class SqlAssessmentStore:
    """Assessments over the tracking store's ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_assessment(self, trace_id: str, new: NewAssessment) -> Assessment:
        """Insert ``new`` on trace ``trace_id`` and answer it as stored.

        404 when the trace does not exist, or when ``overrides`` names no assessment of this
        trace; 400 ``RESOURCE_ALREADY_EXISTS`` when a client-chosen id is taken (MLflow answers
        500 there)."""
        dialect_locks = not self.db.is_sqlite

        def write(conn: Connection) -> Assessment:
            stmt = select(SqlTraceInfo.experiment_id, SqlTraceInfo.timestamp_ms).where(
                SqlTraceInfo.request_id == trace_id
            )
            # The row lock keeps a concurrent span batch from moving the trace's timestamp
            # between this read and the insert (MLflow reads it FOR UPDATE too).
            trace = conn.execute(stmt.with_for_update() if dialect_locks else stmt).first()
            if trace is None:
                raise ResourceNotFound(f"Trace with ID '{trace_id}' not found.")
            entity = _entity_of(new, trace_id, now_ms())
            if new.overrides:
                overridden = conn.execute(
                    select(A.assessment_id).where(
                        A.trace_id == trace_id, A.assessment_id == new.overrides
                    )
                ).first()
                if overridden is None:
                    raise ResourceNotFound(
                        f"Assessment with ID '{new.overrides}' not found for trace '{trace_id}'"
                    )
                conn.execute(
                    update(A)
                    .where(A.trace_id == trace_id, A.assessment_id == new.overrides)
                    .values(valid=False)
                )
            if new.assessment_id is not None:
                taken = conn.execute(
                    select(A.assessment_id).where(A.assessment_id == new.assessment_id)
                ).first()
                if taken is not None:
                    raise ResourceAlreadyExists(
                        f"Failed to create assessment for trace '{trace_id}' due to a "
                        f"constraint violation: assessment ID '{new.assessment_id}' is taken."
                    )
            conn.execute(
                insert(A).values(_row_values(entity, trace.experiment_id, trace.timestamp_ms))
            )
            return entity

        return await self.db.run_write(write)

    async def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """The assessment; 404 naming the trace or the assessment, whichever is missing."""
        return await self.db.run_read(lambda conn: _entity(_row(conn, trace_id, assessment_id)))

    async def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        *,
        name: str | None = None,
        expectation: ExpectationUpdate | None = None,
        feedback: FeedbackUpdate | None = None,
        rationale: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Assessment:
        """Change what is given (None keeps it) and stamp ``last_update_time``; answer the
        result.

        As MLflow: source, span, run, ``overrides`` and ``valid`` never change; ``metadata`` is
        merged into the stored map; a feedback value replaces the error too; an expectation
        keeps no rationale (updating one clears the stored column). 400 for both values at
        once, a value of the other kind, or any update of an issue reference (MLflow answers
        500 there); 404 as :meth:`get_assessment`."""

        def write(conn: Connection) -> Assessment:
            changed = updated_assessment(
                _entity(_row(conn, trace_id, assessment_id)),
                name=name,
                feedback=feedback,
                expectation=expectation,
                rationale=rationale,
                metadata=metadata,
            )
            aggregate_value, is_numeric = aggregate(changed.value)
            conn.execute(
                update(A)
                .where(A.trace_id == trace_id, A.assessment_id == assessment_id)
                .values(
                    name=changed.name,
                    value=stored_json(changed.value),
                    error=changed.error.stored() if changed.error is not None else None,
                    last_updated_timestamp=changed.updated_ms,
                    rationale=changed.rationale,
                    assessment_metadata=json.dumps(changed.metadata) if changed.metadata else None,
                    aggregate_value=aggregate_value,
                    is_numeric_value=is_numeric,
                )
            )
            return changed

        return await self.db.run_write(write)

    async def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete the assessment; the one it overrode (if any) becomes valid again. A missing
        assessment or trace is not an error (MLflow's delete is idempotent)."""

        def write(conn: Connection) -> None:
            row = conn.execute(
                select(A.overrides).where(A.trace_id == trace_id, A.assessment_id == assessment_id)
            ).first()
            if row is None:
                return
            if row.overrides:
                # MLflow restores it by id alone, whatever trace holds it.
                conn.execute(update(A).where(A.assessment_id == row.overrides).values(valid=True))
            conn.execute(delete(A).where(A.trace_id == trace_id, A.assessment_id == assessment_id))

        await self.db.run_write(write)

    async def assessments_for_traces(
        self, trace_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Per trace id (those with any), the wire JSON of its assessments in MLflow's order, for
        TraceInfo ``assessments``; one query per 500 ids."""

        def read(conn: Connection) -> dict[str, list[dict[str, Any]]]:
            return {
                tid: [assessment_json(a) for a in items]
                for tid, items in load_assessments(conn, trace_ids).items()
            }

        return await self.db.run_read(read)
