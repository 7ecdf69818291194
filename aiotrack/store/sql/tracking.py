"""The SQL tracking store: experiments, runs, params, metrics and tags in MLflow's schema.

One implementation for SQLite (aiosqlite) and PostgreSQL (asyncpg); statements whose SQL differs
live in ``dialects``. Every public write is one transaction through ``Database.write``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from aiotrack.errors import (
    InvalidParameter,
    InvalidState,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from aiotrack.names import random_run_name
from aiotrack.search import (
    OrderBy,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from aiotrack.search.limits import check_experiment_ids
from aiotrack.store.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    LifecycleStage,
    Metric,
    MetricWithRunId,
    ModelInput,
    ModelOutput,
    Page,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    Tag,
    ViewType,
)
from aiotrack.store.pagination import decode_offset, encode_offset
from aiotrack.store.sql import search
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.dialects import insert_ignore, upsert
from aiotrack.store.sql.inputs import (
    insert_dataset_inputs,
    insert_model_inputs,
    insert_model_outputs,
    search_dataset_summaries,
    validate_dataset_inputs,
)
from aiotrack.store.sql.loading import (
    EXPERIMENT_COLUMNS,
    RUN_COLUMNS,
    experiment_from_row,
    load_experiment_tags,
    load_runs,
    load_runs_by_id,
    metric_from_row,
    run_info_from_row,
)
from aiotrack.store.sql.logwriter import LogOp, LogWriter
from aiotrack.store.sql.schema.tracking import (
    SqlExperiment,
    SqlExperimentTag,
    SqlMetric,
    SqlRun,
    SqlTag,
)
from aiotrack.uris import append_path, resolve_if_local
from aiotrack.validation import (
    MAX_TAG_VALUE_LENGTH,
    checked_batch,
    checked_param,
    checked_tag,
    invalid_value,
    limit_length,
    parse_experiment_id,
    validate_experiment_name,
    validate_experiment_tag,
    validate_metric,
)

__all__ = ["SqlTrackingStore"]

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"
DEFAULT_WORKSPACE = "default"
RUN_NAME_TAG = "mlflow.runName"
LOGGED_MODELS_TAG = "mlflow.log-model.history"
MAX_SEARCH_RESULTS = 50000
#: Ids an experiment can have: ``experiment_id`` is a 32-bit INTEGER on PostgreSQL and MySQL,
#: but 64-bit on SQLite, where ``mlflow migrate-filestore`` keeps the file store's 18-digit ids.
_ID_RANGE = range(-(2**31), 2**31)
_SQLITE_ID_RANGE = range(-(2**63), 2**63)
#: Filters longer than this are parsed and compiled off the event loop (`search_runs`).
_INLINE_FILTER_CHARS = 2000

_RUN_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _now_ms() -> int:
    return int(time.time() * 1000)


class SqlTrackingStore:
    """MLflow's tracking store over SQLAlchemy asyncio.

    ``artifact_root`` is the default artifact root for new experiments (``mlflow-artifacts:/``
    by default); ``truncate_long_values`` mirrors ``MLFLOW_TRUNCATE_LONG_VALUES``.
    """

    streams_metric_history = True

    def __init__(
        self, db: Database, *, artifact_root: str, truncate_long_values: bool = True
    ) -> None:
        self.db = db
        self.artifact_root = resolve_if_local(artifact_root)
        self.truncate = truncate_long_values
        self._id_range = _SQLITE_ID_RANGE if db.is_sqlite else _ID_RANGE
        #: Group commit for metrics, params and tags (see ``logwriter``).
        self.writer = LogWriter(db)

    # ------------------------------------------------------------------ experiments

    async def ensure_default_experiment(self) -> None:
        """Create experiment 0, "Default", when the experiments table is empty."""
        async with self.db.write() as conn:
            count = (await conn.execute(select(func.count()).select_from(SqlExperiment))).scalar()
            if count:
                return
            now = _now_ms()
            await conn.execute(
                insert_ignore(self.db.dialect, SqlExperiment.__table__).values(
                    experiment_id=DEFAULT_EXPERIMENT_ID,
                    name=DEFAULT_EXPERIMENT_NAME,
                    artifact_location=append_path(self.artifact_root, "0"),
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    creation_time=now,
                    last_update_time=now,
                    workspace=DEFAULT_WORKSPACE,
                )
            )

    async def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[Tag]
    ) -> str:
        """Create an experiment; its name must be unique among all, deleted ones included."""
        validate_experiment_name(name)
        location = resolve_if_local(artifact_location) if artifact_location else None
        for tag in tags:
            validate_experiment_tag(tag.key, tag.value)
        now = _now_ms()
        async with self.db.write() as conn:
            try:
                result = await conn.execute(
                    insert(SqlExperiment).values(
                        name=name,
                        artifact_location=location,
                        lifecycle_stage=LifecycleStage.ACTIVE.value,
                        creation_time=now,
                        last_update_time=now,
                        workspace=DEFAULT_WORKSPACE,
                    )
                )
            except IntegrityError as exc:
                raise ResourceAlreadyExists(
                    f"Experiment(name={name}) already exists. Error: {exc.orig}"
                ) from exc
            experiment_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if location is None:
                await conn.execute(
                    update(SqlExperiment)
                    .where(SqlExperiment.experiment_id == experiment_id)
                    .values(artifact_location=append_path(self.artifact_root, str(experiment_id)))
                )
            if tags:
                await conn.execute(
                    upsert(
                        self.db.dialect,
                        SqlExperimentTag.__table__,
                        ["key", "experiment_id"],
                        ["value"],
                    ),
                    [
                        {"key": t.key, "value": t.value, "experiment_id": experiment_id}
                        for t in tags
                    ],
                )
        return str(experiment_id)

    async def _experiment_row(
        self, conn: AsyncConnection, experiment_id: str, *, lock: bool = False
    ) -> Any:
        """The experiment's row; ``lock`` takes its row lock until the transaction ends."""
        exp_id = parse_experiment_id(experiment_id)
        if exp_id not in self._id_range:  # cannot exist: out of the column's range
            raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
        stmt = select(*EXPERIMENT_COLUMNS).where(SqlExperiment.experiment_id == exp_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await conn.execute(stmt)).first()
        if row is None:
            raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
        return row

    async def _active_experiment_row(self, conn: AsyncConnection, experiment_id: str) -> Any:
        row = await self._experiment_row(conn, experiment_id)
        if row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameter(
                f"The experiment {row.experiment_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return row

    async def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment, deleted or not; unknown ids are a 404."""
        async with self.db.read() as conn:
            row = await self._experiment_row(conn, experiment_id)
            tags = await load_experiment_tags(conn, [row.experiment_id])
        return experiment_from_row(row, tags.get(row.experiment_id, []))

    async def get_experiment_by_name(self, name: str) -> Experiment:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(*EXPERIMENT_COLUMNS).where(SqlExperiment.name == name))
            ).first()
            if row is None:
                raise ResourceNotFound(f"Could not find experiment with name '{name}'")
            tags = await load_experiment_tags(conn, [row.experiment_id])
        return experiment_from_row(row, tags.get(row.experiment_id, []))

    async def _set_experiment_stage(
        self, experiment_id: str, expected: LifecycleStage, new: LifecycleStage
    ) -> None:
        now = _now_ms()
        async with self.db.write() as conn:
            # FOR UPDATE, against create_run's FOR SHARE: a run created concurrently either
            # commits first (and the UPDATE of runs below, a new snapshot, includes it) or
            # waits and then sees the new stage. SQLite's writes are serialised anyway.
            row = await self._experiment_row(conn, experiment_id, lock=True)
            if row.lifecycle_stage != expected:
                raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
            await conn.execute(
                update(SqlExperiment)
                .where(SqlExperiment.experiment_id == row.experiment_id)
                .values(lifecycle_stage=new.value, last_update_time=now)
            )
            await conn.execute(
                update(SqlRun)
                .where(SqlRun.experiment_id == row.experiment_id)
                .values(
                    lifecycle_stage=new.value,
                    deleted_time=now if new is LifecycleStage.DELETED else None,
                )
            )

    async def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an active experiment and all its runs."""
        await self._set_experiment_stage(
            experiment_id, LifecycleStage.ACTIVE, LifecycleStage.DELETED
        )

    async def restore_experiment(self, experiment_id: str) -> None:
        """Restore a deleted experiment and all its runs."""
        await self._set_experiment_stage(
            experiment_id, LifecycleStage.DELETED, LifecycleStage.ACTIVE
        )

    async def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validate_experiment_name(new_name)
        async with self.db.write() as conn:
            row = await self._experiment_row(conn, experiment_id)
            if row.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidState("Cannot rename a non-active experiment.")
            await conn.execute(
                update(SqlExperiment)
                .where(SqlExperiment.experiment_id == row.experiment_id)
                .values(name=new_name, last_update_time=_now_ms())
            )

    async def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        validate_experiment_tag(key, value)
        async with self.db.write() as conn:
            row = await self._active_experiment_row(conn, experiment_id)
            await conn.execute(
                upsert(
                    self.db.dialect, SqlExperimentTag.__table__, ["key", "experiment_id"], ["value"]
                ),
                {"key": key, "value": value, "experiment_id": row.experiment_id},
            )

    async def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        async with self.db.write() as conn:
            row = await self._active_experiment_row(conn, experiment_id)
            result = await conn.execute(
                delete(SqlExperimentTag).where(
                    SqlExperimentTag.experiment_id == row.experiment_id,
                    SqlExperimentTag.key == key,
                )
            )
            if result.rowcount == 0:
                raise ResourceNotFound(
                    f"No tag with name: {key} in experiment with id {experiment_id}"
                )

    async def search_experiments(
        self,
        *,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Experiment]:
        _check_max_results(max_results)
        filters = search.experiment_filter_clauses(parse_experiment_filter(filter_string))
        order = search.experiment_order_clauses(parse_experiment_order_by(order_by))
        offset = decode_offset(page_token)
        stmt = (
            select(*EXPERIMENT_COLUMNS)
            .where(SqlExperiment.lifecycle_stage.in_([s.value for s in view_type.stages()]))
            .where(*filters)
            .order_by(*order)
            .offset(offset)
            .limit(max_results + 1)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
            page = rows[:max_results]
            tags = await load_experiment_tags(conn, [r.experiment_id for r in page])
        items = [experiment_from_row(r, tags.get(r.experiment_id, [])) for r in page]
        token = encode_offset(offset + max_results) if len(rows) > max_results else None
        return Page(items, token)

    # ------------------------------------------------------------------ runs

    async def create_run(
        self,
        *,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str | None,
        tags: Sequence[Tag],
    ) -> Run:
        """Create a RUNNING run in an active experiment; keeps ``mlflow.runName`` in sync."""
        tag_list = list(tags)
        name_tag = next((t.value for t in tag_list if t.key == RUN_NAME_TAG), None)
        if run_name and name_tag and run_name != name_tag:
            raise InvalidParameter(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{name_tag}')."
            )
        name = run_name or name_tag or random_run_name()
        if not name_tag:
            tag_list.append(Tag(RUN_NAME_TAG, name))
        run_id = uuid.uuid4().hex
        exp_id = parse_experiment_id(experiment_id)

        def insert_run(conn: Connection) -> tuple[int, str]:
            # Synchronous: one hop to the SQLite writer thread (see Database.run_write).
            # FOR SHARE until commit: delete/restore_experiment (FOR UPDATE) cannot change the
            # stage between this check and the insert, so no run stays active in a deleted
            # experiment; concurrent create_runs do not block each other.
            exp = conn.execute(
                select(SqlExperiment.lifecycle_stage, SqlExperiment.artifact_location)
                .where(SqlExperiment.experiment_id == exp_id)
                .with_for_update(read=True)
            ).first()
            if exp is None or exp_id not in self._id_range:
                raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameter(
                    f"The experiment {exp_id} must be in the 'active' state. "
                    f"Current state is {exp.lifecycle_stage}."
                )
            uri = append_path(exp.artifact_location or "", run_id, "artifacts")
            conn.execute(
                insert(SqlRun),
                {
                    "run_uuid": run_id,
                    "name": name,
                    "source_type": "UNKNOWN",
                    "source_name": "",
                    "entry_point_name": "",
                    "user_id": user_id,
                    "status": "RUNNING",
                    "start_time": start_time,
                    "end_time": None,
                    "deleted_time": None,
                    "source_version": "",
                    "lifecycle_stage": LifecycleStage.ACTIVE.value,
                    "artifact_uri": uri,
                    "experiment_id": exp_id,
                },
            )
            conn.execute(
                insert(SqlTag),
                [{"key": t.key, "value": t.value, "run_uuid": run_id} for t in tag_list],
            )
            return exp_id, uri

        if exp_id not in self._id_range:
            raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
        exp_id, artifact_uri = await self.db.run_write(insert_run)
        info = RunInfo(
            run_id=run_id,
            run_name=name,
            experiment_id=str(exp_id),
            user_id=user_id,
            status="RUNNING",
            start_time=start_time,
            end_time=None,
            artifact_uri=artifact_uri,
            lifecycle_stage=LifecycleStage.ACTIVE.value,
        )
        return Run(info, RunData(tags=sorted(tag_list, key=lambda t: t.key)), RunInputs())

    async def _run_row(self, conn: AsyncConnection, run_id: str) -> Any:
        row = (await conn.execute(select(*RUN_COLUMNS).where(SqlRun.run_uuid == run_id))).first()
        if row is None:
            raise ResourceNotFound(f"Run with id={run_id} not found")
        return row

    async def _active_run_row(self, conn: AsyncConnection, run_id: str) -> Any:
        row = await self._run_row(conn, run_id)
        if row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameter(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return row

    async def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags and inputs; deleted runs too."""

        def load(conn: Connection) -> Run:
            row = conn.execute(select(*RUN_COLUMNS).where(SqlRun.run_uuid == run_id)).first()
            if row is None:
                raise ResourceNotFound(f"Run with id={run_id} not found")
            return load_runs(conn, [row])[0]

        return await self.db.run_read(load)

    async def update_run_info(
        self, run_id: str, *, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Change only the given fields of an active run."""
        async with self.db.write() as conn:
            await self._active_run_row(conn, run_id)
            values: dict[str, Any] = {}
            if status is not None:
                values["status"] = status
            if end_time is not None:
                values["end_time"] = end_time
            if run_name:
                values["name"] = run_name
                await self._upsert_tags(conn, run_id, [Tag(RUN_NAME_TAG, run_name)])
            if values:
                await conn.execute(update(SqlRun).where(SqlRun.run_uuid == run_id).values(**values))
            return run_info_from_row(await self._run_row(conn, run_id))

    async def _set_run_stage(self, run_id: str, stage: LifecycleStage) -> None:
        async with self.db.write() as conn:
            await self._run_row(conn, run_id)
            await conn.execute(
                update(SqlRun)
                .where(SqlRun.run_uuid == run_id)
                .values(
                    lifecycle_stage=stage.value,
                    deleted_time=_now_ms() if stage is LifecycleStage.DELETED else None,
                )
            )

    async def delete_run(self, run_id: str) -> None:
        await self._set_run_stage(run_id, LifecycleStage.DELETED)

    async def restore_run(self, run_id: str) -> None:
        await self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    # ------------------------------------------------------------------ logging

    async def log_metric(self, run_id: str, metric: Metric) -> None:
        validate_metric(metric.key, metric.value, metric.timestamp)
        await self.writer.submit(LogOp(run_id, metrics=[metric]))

    async def log_param(self, run_id: str, key: str, value: str) -> None:
        """Log a param; the same value again is a no-op, a different one a 400."""
        await self.writer.submit(
            LogOp(run_id, params=[checked_param(key, value, truncate=self.truncate)], style="param")
        )

    async def set_tag(self, run_id: str, key: str, value: str) -> None:
        """Upsert a run tag; ``mlflow.runName`` also renames the run."""
        await self.writer.submit(
            LogOp(run_id, tags=[checked_tag(key, value, truncate=self.truncate)])
        )

    async def delete_tag(self, run_id: str, key: str) -> None:
        async with self.db.write() as conn:
            await self._active_run_row(conn, run_id)
            result = await conn.execute(
                delete(SqlTag).where(SqlTag.run_uuid == run_id, SqlTag.key == key)
            )
            if result.rowcount == 0:
                raise ResourceNotFound(f"No tag with name: {key} in run with id {run_id}")

    async def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[Tag],
    ) -> None:
        """Params, metrics and tags of one run in ONE transaction: all land or nothing does."""
        if (
            not run_id
            or not run_id[0].isalnum()
            or len(run_id) > 256
            or not set(run_id) <= _RUN_ID_CHARS
        ):
            raise InvalidParameter(invalid_value("run_id", run_id))
        checked_params, checked_tags = checked_batch(metrics, params, tags, truncate=self.truncate)
        await self.writer.submit(
            LogOp(run_id, metrics=list(metrics), params=checked_params, tags=checked_tags)
        )

    async def _upsert_tags(self, conn: AsyncConnection, run_id: str, tags: Sequence[Tag]) -> None:
        last: dict[str, str] = {}
        for t in tags:
            last[t.key] = t.value
        await conn.execute(
            upsert(self.db.dialect, SqlTag.__table__, ["key", "run_uuid"], ["value"]),
            [{"key": k, "value": v, "run_uuid": run_id} for k, v in last.items()],
        )
        if RUN_NAME_TAG in last:
            await conn.execute(
                update(SqlRun).where(SqlRun.run_uuid == run_id).values(name=last[RUN_NAME_TAG])
            )

    # ------------------------------------------------------------------ reading

    async def search_runs(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Run]:
        """One page of runs matching MLflow's filter grammar, in MLflow's order."""
        _check_max_results(max_results)
        offset = decode_offset(page_token)
        check_experiment_ids(experiment_ids)

        def prepare() -> tuple[list[Any], list[OrderBy], list[int]]:
            filters = search.run_filter_clauses(parse_run_filter(filter_string))
            orders = parse_run_order_by(order_by)
            ids = [i for i in map(parse_experiment_id, experiment_ids) if i in self._id_range]
            return filters, orders, ids

        # A filter of hundreds of clauses or tens of thousands of ids takes tens of ms to parse
        # and build: off the event loop, so that other requests are not held up.
        if len(filter_string or "") > _INLINE_FILTER_CHARS or len(experiment_ids) > 1000:
            filters, orders, exp_ids = await asyncio.to_thread(prepare)
        else:
            filters, orders, exp_ids = prepare()
        if not exp_ids:
            return Page([])
        # SQLite sorts the page as bare ids, then loads those runs (``load_runs_by_id``).
        by_id = self.db.is_sqlite
        stmt = select(SqlRun.run_uuid) if by_id else select(*RUN_COLUMNS)
        stmt, terms = search.run_order_clauses(stmt, orders)
        stmt = stmt.where(
            search.ids_in(SqlRun.experiment_id, exp_ids, self.db.dialect),
            SqlRun.lifecycle_stage.in_([s.value for s in view_type.stages()]),
            *filters,
        ).order_by(*terms)
        if not by_id:
            stmt = stmt.offset(offset).limit(max_results + 1)

        def load(conn: Connection) -> tuple[int, list[Run]]:
            if not by_id:
                rows = conn.execute(stmt).all()
                return len(rows), load_runs(conn, rows[:max_results])
            # No LIMIT/OFFSET in the SQL: SQLite sorts with LIMIT through a slower path (sorting
            # 10k runs for the first 1000: ~6.5 ms, against ~2 ms to sort them all and read the
            # first rows). Skipped rows cost a tuple each.
            result = conn.execute(stmt)
            try:
                if offset:
                    result.fetchmany(offset)
                ids = [row[0] for row in result.fetchmany(max_results + 1)]
            finally:
                result.close()
            return len(ids), load_runs_by_id(conn, ids[:max_results])

        found, runs = await self.db.run_read(load)
        token = encode_offset(offset + max_results) if found > max_results else None
        return Page(runs, token)

    async def get_metric_history(
        self, run_id: str, key: str, *, max_results: int | None, page_token: str | None
    ) -> Page[Metric]:
        """Every point of a metric ordered by (timestamp, step, value); paged if asked.

        An unknown run has no history (MLflow answers ``{}``, not 404)."""
        offset = decode_offset(page_token)
        t = SqlMetric
        stmt = (
            select(t.key, t.value, t.timestamp, t.step, t.is_nan)
            .where(t.run_uuid == run_id, t.key == key)
            .order_by(t.timestamp, t.step, t.value)
            .offset(offset)
        )
        if max_results is not None:
            stmt = stmt.limit(max_results + 1)
        # Like MLflow, an unknown run simply has no history (no 404).
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        token = None
        if max_results is not None and len(rows) > max_results:
            rows = rows[:max_results]
            token = encode_offset(offset + max_results)
        return Page([metric_from_row(r) for r in rows], token)

    async def stream_metric_history(
        self, run_id: str, key: str, *, chunk_size: int = 20_000
    ) -> AsyncIterator[list[tuple[float, int, int, bool]]]:
        """The whole history as chunks of ``(value, timestamp, step, is_nan)`` rows, read with a
        server-side cursor, so a million points never sit in memory at once."""
        t = SqlMetric
        stmt = (
            select(t.value, t.timestamp, t.step, t.is_nan)
            .where(t.run_uuid == run_id, t.key == key)
            .order_by(t.timestamp, t.step, t.value)
        )
        async with self.db.read() as conn:
            result = await conn.stream(stmt)
            async for partition in result.partitions(chunk_size):
                yield [tuple(row) for row in partition]  # type: ignore[misc]

    async def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        key: str,
        *,
        max_results: int,
        start_step: int | None,
        end_step: int | None,
    ) -> list[MetricWithRunId]:
        """Per run (in ``run_ids`` order): at most ``max_results`` points sampled evenly by
        step in SQL, always keeping the first and last; ordered by (step, timestamp, value)."""
        t = SqlMetric
        out: list[MetricWithRunId] = []
        async with self.db.read() as conn:
            for run_id in run_ids:
                conds = [t.run_uuid == run_id, t.key == key]
                if start_step is not None and end_step is not None:
                    conds += [t.step >= start_step, t.step <= end_step]
                order = (t.step, t.timestamp, t.value)
                buckets = max(max_results - 1, 1)
                ranked = (
                    select(
                        t.key,
                        t.value,
                        t.timestamp,
                        t.step,
                        t.is_nan,
                        func.row_number().over(order_by=order).label("rn"),
                        func.count().over().label("n"),
                        func.ntile(buckets).over(order_by=order).label("bucket"),
                    )
                    .where(*conds)
                    .subquery()
                )
                firsts = select(
                    ranked,
                    func.row_number()
                    .over(partition_by=ranked.c.bucket, order_by=ranked.c.rn)
                    .label("pos"),
                ).subquery()
                keep = firsts.c.rn == firsts.c.n
                if max_results > 1:
                    keep = keep | (firsts.c.pos == 1)
                rows = (await conn.execute(select(firsts).where(keep).order_by(firsts.c.rn))).all()
                out.extend(
                    MetricWithRunId(
                        key=r.key,
                        value=math.nan if r.is_nan else r.value,
                        timestamp=r.timestamp,
                        step=r.step,
                        run_id=run_id,
                    )
                    for r in rows
                )
        return out

    # ------------------------------------------------------------------ inputs and outputs

    async def log_inputs(
        self, run_id: str, *, datasets: Sequence[DatasetInput], models: Sequence[ModelInput]
    ) -> None:
        validate_dataset_inputs(datasets)
        async with self.db.write() as conn:
            row = await self._active_run_row(conn, run_id)
            await insert_dataset_inputs(conn, row.experiment_id, run_id, datasets)
            await insert_model_inputs(conn, run_id, models)

    async def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None:
        async with self.db.write() as conn:
            await self._active_run_row(conn, run_id)
            await insert_model_outputs(conn, run_id, models)

    async def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        ids = [parse_experiment_id(e) for e in experiment_ids]
        async with self.db.read() as conn:
            return await search_dataset_summaries(conn, ids)

    async def record_logged_model(self, run_id: str, model: dict[str, Any]) -> None:
        """Append a (MLflow 2 style) model record to the ``mlflow.log-model.history`` tag."""
        entry = {
            k: v
            for k, v in model.items()
            if k in ("run_id", "artifact_path", "utc_time_created", "flavors", "model_uuid")
        }
        async with self.db.write() as conn:
            await self._active_run_row(conn, run_id)
            previous = (
                await conn.execute(
                    select(SqlTag.value).where(
                        SqlTag.run_uuid == run_id, SqlTag.key == LOGGED_MODELS_TAG
                    )
                )
            ).scalar_one_or_none()
            history = json.loads(previous) if previous else []
            history.append(entry)
            value = json.dumps(history)
            limit_length(LOGGED_MODELS_TAG, MAX_TAG_VALUE_LENGTH, value)
            await self._upsert_tags(conn, run_id, [Tag(LOGGED_MODELS_TAG, value)])


def _check_max_results(max_results: int) -> None:
    if max_results < 1:
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            "a positive integer"
        )
    if max_results > MAX_SEARCH_RESULTS:
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {MAX_SEARCH_RESULTS}"
        )
