"""`GcStore` over an MLflow SQL database (SQLite, PostgreSQL, MySQL/MariaDB).

Follows MLflow 3.17.2's ``SqlAlchemyStore``:

* ``_hard_delete_run`` bulk-deletes the run's ``metrics``, ``latest_metrics``, ``params`` and
  ``tags``, then the ``runs`` row; the database's own ``ON DELETE`` rules do the rest
  (``logged_model_metrics`` of the run are deleted, ``issues.source_run_id`` is set to NULL).
  ``inputs``/``input_tags`` are kept, as MLflow keeps them.
* ``_hard_delete_experiment`` is ``session.delete(experiment)``: the ORM cascades to the runs
  (with their rows), experiment tags, traces (tags, request metadata, metrics, assessments,
  spans and span metrics), logged models (tags, params, metrics) and scorers (versions, online
  configs); the rollup tables, which have no foreign key, are cleared explicitly; the database
  cascades to datasets, issues, label schemas and review queues. Here the same rows are
  deleted with bulk statements, children first, in one transaction (SQLite enforces no
  foreign key here), and also the ``entity_associations`` of the traces, which MLflow leaves.
* ``_hard_delete_logged_model`` deletes the model with its tags, params and metrics.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, select, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from aiotrack.gc.stores import DELETED, ExperimentRecord, GcError, ModelRecord, RunRecord
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import SchemaError, ensure_schema
from aiotrack.store.sql.schema import (
    SqlAssessmentDailyRollup,
    SqlAssessments,
    SqlEntityAssociation,
    SqlExperiment,
    SqlExperimentTag,
    SqlIssue,
    SqlJob,
    SqlJobLock,
    SqlLatestMetric,
    SqlLoggedModel,
    SqlLoggedModelMetric,
    SqlLoggedModelParam,
    SqlLoggedModelTag,
    SqlMetric,
    SqlOnlineScoringConfig,
    SqlParam,
    SqlRun,
    SqlScorer,
    SqlScorerVersion,
    SqlSpan,
    SqlSpanCostDailyRollup,
    SqlSpanMetrics,
    SqlTag,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceMetricDailyRollup,
    SqlTraceMetrics,
    SqlTraceRollupRebuild,
    SqlTraceTag,
)
from aiotrack.store.sql.urls import redact, to_async_url
from aiotrack.tracing.entities import ARTIFACT_LOCATION_TAG

__all__ = ["SqlGcStore"]

#: What ``_hard_delete_run`` bulk-deletes before the ``runs`` row (MLflow's
#: ``_RUN_DELETE_CASCADE_MODELS``).
_RUN_CHILDREN = (SqlMetric, SqlLatestMetric, SqlParam, SqlTag)
_MODEL_CHILDREN = (SqlLoggedModelTag, SqlLoggedModelParam, SqlLoggedModelMetric)
_ROLLUPS = (
    SqlTraceRollupRebuild,
    SqlTraceMetricDailyRollup,
    SqlSpanCostDailyRollup,
    SqlAssessmentDailyRollup,
)
#: Ids per ``IN (...)`` lookup: well under every dialect's bound-parameter limit.
_LOOKUP_CHUNK = 500
#: ``JobStatus`` SUCCEEDED, FAILED, TIMEOUT, CANCELED: the finished jobs ``delete_jobs`` removes.
_FINISHED_JOB_STATUSES = (2, 3, 4, 5)


def _experiment_key(experiment_id: str) -> int:
    try:
        return int(experiment_id)
    except ValueError:
        raise GcError(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        ) from None


class SqlGcStore:
    """gc's view of one database; open it with `SqlGcStore.open`."""

    has_jobs = True

    def __init__(self, db: Database, description: str) -> None:
        self._db = db
        self.description = description

    @classmethod
    async def open(cls, uri: str) -> SqlGcStore:
        """Connect to ``uri`` and check that it holds MLflow's schema at a revision aiotrack
        serves (an empty database gets the schema, as ``mlflow gc`` creates it). A SQLite file
        that does not exist is an error rather than a new empty database."""
        url = to_async_url(uri)
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database or ""
            if path and path != ":memory:" and not await asyncio.to_thread(os.path.exists, path):
                raise GcError(f"The SQLite database {path} does not exist")
        db = Database(url, pool_size=2)
        try:
            await ensure_schema(db.engine, uri=uri)
        except SchemaError as exc:
            await db.dispose()
            raise GcError(str(exc)) from None
        except (SQLAlchemyError, OSError) as exc:
            await db.dispose()
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            raise GcError(f"cannot open the database {redact(uri)}: {reason}") from None
        except BaseException:
            await db.dispose()
            raise
        return cls(db, redact(uri))

    async def close(self) -> None:
        await self._db.dispose()

    async def _scalars(self, stmt: Select[Any]) -> list[Any]:
        async with self._db.read() as conn:
            return list((await conn.execute(stmt)).scalars().all())

    # --- selection -------------------------------------------------------------------------

    async def deleted_run_ids(self, older_than_ms: int, now_ms: int) -> list[str]:
        # A NULL deleted_time never qualifies, as in MLflow.
        return await self._scalars(
            select(SqlRun.run_uuid)
            .where(
                SqlRun.lifecycle_stage == DELETED,
                SqlRun.deleted_time <= now_ms - older_than_ms,
            )
            .order_by(SqlRun.deleted_time, SqlRun.run_uuid)
        )

    async def deleted_model_ids(self, older_than_ms: int, now_ms: int) -> list[str]:
        return await self._scalars(
            select(SqlLoggedModel.model_id)
            .where(
                SqlLoggedModel.lifecycle_stage == DELETED,
                SqlLoggedModel.last_updated_timestamp_ms <= now_ms - older_than_ms,
            )
            .order_by(SqlLoggedModel.last_updated_timestamp_ms, SqlLoggedModel.model_id)
        )

    async def deleted_experiment_ids(self, updated_before_ms: int | None) -> list[str]:
        conditions: list[ColumnElement[bool]] = [SqlExperiment.lifecycle_stage == DELETED]
        if updated_before_ms is not None:
            conditions.append(SqlExperiment.last_update_time < updated_before_ms)
        ids = await self._scalars(
            select(SqlExperiment.experiment_id)
            .where(*conditions)
            .order_by(SqlExperiment.experiment_id)
        )
        return [str(i) for i in ids]

    async def deleted_runs_of(self, experiment_ids: Sequence[str]) -> list[str]:
        keys = [_experiment_key(e) for e in experiment_ids]
        return await self._scalars(
            select(SqlRun.run_uuid)
            .where(SqlRun.experiment_id.in_(keys), SqlRun.lifecycle_stage == DELETED)
            .order_by(SqlRun.experiment_id, SqlRun.run_uuid)
        )

    # --- lookups ---------------------------------------------------------------------------

    async def get_runs(self, run_ids: Sequence[str]) -> list[RunRecord]:
        found: dict[str, RunRecord] = {}
        async with self._db.read() as conn:
            for start in range(0, len(run_ids), _LOOKUP_CHUNK):
                chunk = list(run_ids[start : start + _LOOKUP_CHUNK])
                rows = await conn.execute(
                    select(
                        SqlRun.run_uuid,
                        SqlRun.experiment_id,
                        SqlRun.lifecycle_stage,
                        SqlRun.artifact_uri,
                    ).where(SqlRun.run_uuid.in_(chunk))
                )
                for row in rows:
                    found[row.run_uuid] = RunRecord(
                        row.run_uuid,
                        str(row.experiment_id),
                        row.lifecycle_stage or "",
                        row.artifact_uri,
                    )
        for run_id in run_ids:
            if run_id not in found:
                raise GcError(f"Run with id={run_id} not found")
        return [found[run_id] for run_id in run_ids]

    async def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        key = _experiment_key(experiment_id)
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(SqlExperiment.lifecycle_stage, SqlExperiment.last_update_time).where(
                        SqlExperiment.experiment_id == key
                    )
                )
            ).first()
        if row is None:
            raise GcError(f"No Experiment with id={experiment_id} exists")
        return ExperimentRecord(str(key), row.lifecycle_stage or "", row.last_update_time)

    async def get_model(self, model_id: str) -> ModelRecord:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        SqlLoggedModel.experiment_id,
                        SqlLoggedModel.lifecycle_stage,
                        SqlLoggedModel.artifact_location,
                    ).where(SqlLoggedModel.model_id == model_id)
                )
            ).first()
        if row is None:
            raise GcError(f"Logged model with ID '{model_id}' not found.")
        return ModelRecord(
            model_id, str(row.experiment_id), row.lifecycle_stage or "", row.artifact_location
        )

    # --- deletion --------------------------------------------------------------------------

    # Each deletion is one transaction through `Database.run_write`: on SQLite it starts with
    # BEGIN IMMEDIATE, so a server writing to the same file meanwhile cannot make it fail halfway.

    async def trace_artifact_roots(self, experiment_id: str) -> list[tuple[str, str]]:
        key = _experiment_key(experiment_id)
        traces = select(SqlTraceInfo.request_id).where(SqlTraceInfo.experiment_id == key)
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(SqlTraceTag.request_id, SqlTraceTag.value)
                .where(SqlTraceTag.key == ARTIFACT_LOCATION_TAG)
                .where(SqlTraceTag.request_id.in_(traces.scalar_subquery()))
                .order_by(SqlTraceTag.request_id)
            )
            return [(str(trace_id), str(uri)) for trace_id, uri in rows if uri]

    async def hard_delete_run(self, run_id: str) -> None:
        await self._db.run_write(lambda conn: _hard_delete_run(conn, run_id))

    async def hard_delete_model(self, model_id: str) -> None:
        await self._db.run_write(lambda conn: _hard_delete_model(conn, model_id))

    async def hard_delete_experiment(self, experiment_id: str) -> None:
        key = _experiment_key(experiment_id)
        await self._db.run_write(lambda conn: _hard_delete_experiment(conn, key, experiment_id))

    async def delete_jobs(
        self, older_than_ms: int, now_ms: int, job_ids: Sequence[str] | None
    ) -> list[str]:
        conditions: list[ColumnElement[bool]] = [SqlJob.status.in_(_FINISHED_JOB_STATUSES)]
        if job_ids:
            conditions.append(SqlJob.id.in_(list(job_ids)))
        if older_than_ms > 0:
            conditions.append(SqlJob.creation_time < now_ms - older_than_ms)

        def delete_jobs(conn: Connection) -> list[str]:
            ids = list(
                conn.execute(select(SqlJob.id).where(*conditions).order_by(SqlJob.id))
                .scalars()
                .all()
            )
            if ids:
                conn.execute(delete(SqlJobLock).where(SqlJobLock.job_id.in_(ids)))
                conn.execute(delete(SqlJob).where(SqlJob.id.in_(ids)))
            return ids

        return await self._db.run_write(delete_jobs)


def _hard_delete_run(conn: Connection, run_id: str) -> None:
    stage = conn.scalar(select(SqlRun.lifecycle_stage).where(SqlRun.run_uuid == run_id))
    if stage is None:
        raise GcError(f"Run with id={run_id} not found")
    if stage != DELETED:  # restored since it was selected
        raise GcError(f"Run {run_id} is no longer in the `deleted` lifecycle stage")
    for table in _RUN_CHILDREN:
        conn.execute(delete(table).where(table.run_uuid == run_id))
    conn.execute(delete(SqlRun).where(SqlRun.run_uuid == run_id))


def _hard_delete_model(conn: Connection, model_id: str) -> None:
    found = conn.scalar(select(SqlLoggedModel.model_id).where(SqlLoggedModel.model_id == model_id))
    if found is None:
        raise GcError(f"Logged model with ID '{model_id}' not found.")
    _delete_models(conn, SqlLoggedModel.model_id == model_id)


def _hard_delete_experiment(conn: Connection, key: int, experiment_id: str) -> None:
    stage = conn.scalar(
        select(SqlExperiment.lifecycle_stage).where(SqlExperiment.experiment_id == key)
    )
    if stage != DELETED:
        raise GcError(f"No Experiment with id={experiment_id} exists")
    for rollup in _ROLLUPS:
        conn.execute(delete(rollup).where(rollup.experiment_id == key))
    runs = select(SqlRun.run_uuid).where(SqlRun.experiment_id == key).scalar_subquery()
    for table in _RUN_CHILDREN:
        conn.execute(delete(table).where(table.run_uuid.in_(runs)))
    # The ORM unlinks issues (of any experiment) that name one of these runs.
    conn.execute(
        update(SqlIssue).where(SqlIssue.source_run_id.in_(runs)).values(source_run_id=None)
    )
    conn.execute(delete(SqlRun).where(SqlRun.experiment_id == key))
    conn.execute(delete(SqlExperimentTag).where(SqlExperimentTag.experiment_id == key))
    traces = (
        select(SqlTraceInfo.request_id).where(SqlTraceInfo.experiment_id == key).scalar_subquery()
    )
    for trace_child in (SqlTraceTag, SqlTraceMetadata, SqlTraceMetrics):
        conn.execute(delete(trace_child).where(trace_child.request_id.in_(traces)))
    conn.execute(delete(SqlAssessments).where(SqlAssessments.trace_id.in_(traces)))
    conn.execute(delete(SqlSpanMetrics).where(SqlSpanMetrics.trace_id.in_(traces)))
    conn.execute(delete(SqlSpan).where(SqlSpan.trace_id.in_(traces)))
    # Links of these traces (to runs, prompt versions...): they have no foreign key, so
    # MLflow's cascade leaves them; nothing could ever read them again.
    EA = SqlEntityAssociation
    conn.execute(delete(EA).where(EA.source_type == "trace", EA.source_id.in_(traces)))
    conn.execute(delete(EA).where(EA.destination_type == "trace", EA.destination_id.in_(traces)))
    conn.execute(delete(SqlTraceInfo).where(SqlTraceInfo.experiment_id == key))
    _delete_models(conn, SqlLoggedModel.experiment_id == key)
    scorers = select(SqlScorer.scorer_id).where(SqlScorer.experiment_id == key).scalar_subquery()
    for scorer_child in (SqlOnlineScoringConfig, SqlScorerVersion):
        conn.execute(delete(scorer_child).where(scorer_child.scorer_id.in_(scorers)))
    conn.execute(delete(SqlScorer).where(SqlScorer.experiment_id == key))
    # Datasets, issues, label schemas and review queues go with the row (ON DELETE CASCADE),
    # as in MLflow.
    conn.execute(delete(SqlExperiment).where(SqlExperiment.experiment_id == key))


def _delete_models(conn: Connection, which: ColumnElement[bool]) -> None:
    """Delete the logged models matching ``which`` with their tags, params and metrics."""
    models = select(SqlLoggedModel.model_id).where(which).scalar_subquery()
    for table in _MODEL_CHILDREN:
        conn.execute(delete(table).where(table.model_id.in_(models)))
    conn.execute(delete(SqlLoggedModel).where(which))
