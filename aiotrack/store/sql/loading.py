"""Row-to-entity conversion and bulk loading of what hangs off a page of runs.

Loading a page costs one query per kind (params, latest metrics, tags, dataset inputs), never
one per run. ``load_runs`` is synchronous: it runs inside ``Database.run_read`` (one thread hop on
SQLite for the whole page).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from aiotrack.store.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    JsonTags,
    Metric,
    MetricRows,
    ModelInput,
    ModelOutput,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    Tag,
)
from aiotrack.store.sql.dialects import (
    SQLITE_LATEST_METRICS_BY_ID,
    SQLITE_RUNS_BY_ID,
    driver_rows,
    key_values_json_sql,
    placeholders,
)
from aiotrack.store.sql.inputs import load_model_io
from aiotrack.store.sql.schema.tracking import (
    SqlDataset,
    SqlExperiment,
    SqlExperimentTag,
    SqlInput,
    SqlInputTag,
    SqlParam,
    SqlRun,
    SqlTag,
)

__all__ = [
    "RUN_COLUMNS",
    "experiment_from_row",
    "load_experiment_tags",
    "load_runs",
    "load_runs_by_id",
    "metric_from_row",
    "run_info_from_row",
]

#: The ``runs`` columns an entity needs, in a fixed order for ``select(*RUN_COLUMNS)``.
RUN_COLUMNS = (
    SqlRun.run_uuid,
    SqlRun.name,
    SqlRun.experiment_id,
    SqlRun.user_id,
    SqlRun.status,
    SqlRun.start_time,
    SqlRun.end_time,
    SqlRun.artifact_uri,
    SqlRun.lifecycle_stage,
)

_CHUNK = 500  # bound the number of bind parameters per IN list


def run_info_from_row(row: Any) -> RunInfo:
    """The ``RunInfo`` of a row whose first columns are ``RUN_COLUMNS``, in that order (a
    SQLAlchemy row or a driver tuple)."""
    return RunInfo(
        run_id=row[0],
        run_name=row[1],
        experiment_id=str(row[2]),
        user_id=row[3],
        status=row[4],
        start_time=row[5],
        end_time=row[6],
        artifact_uri=row[7],
        lifecycle_stage=row[8],
    )


def metric_from_row(row: Any) -> Metric:
    return Metric(
        key=row.key,
        value=math.nan if row.is_nan else row.value,
        timestamp=row.timestamp,
        step=row.step,
    )


def experiment_from_row(row: Any, tags: list[Tag]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        lifecycle_stage=row.lifecycle_stage,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        tags=tags,
        workspace=row.workspace,
    )


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


async def load_experiment_tags(
    conn: AsyncConnection, experiment_ids: Sequence[int]
) -> dict[int, list[Tag]]:
    tags: dict[int, list[Tag]] = defaultdict(list)
    for chunk in _chunks(experiment_ids):
        rows = await conn.execute(
            select(SqlExperimentTag.experiment_id, SqlExperimentTag.key, SqlExperimentTag.value)
            .where(SqlExperimentTag.experiment_id.in_(chunk))
            .order_by(SqlExperimentTag.experiment_id, SqlExperimentTag.key)
        )
        for row in rows.all():
            tags[row.experiment_id].append(Tag(row.key, row.value or ""))
    return tags


def _key_values(
    conn: Connection, table: Any, run_ids: Sequence[str]
) -> Mapping[str, Sequence[Tag]]:
    """Each run's params or tags: by key on PostgreSQL and MySQL; on SQLite in storage order,
    as MLflow's SQLite store answers them. Where the database can build JSON (SQLite,
    PostgreSQL), each run's list comes back as one JSON array, left unparsed: see
    :class:`JsonTags`. On a page of 1000 runs that is several times cheaper than a row and a
    tuple per tag."""
    dialect = conn.dialect.name
    if dialect != "mysql":  # MySQL's JSON_ARRAYAGG cannot order its items
        json_out: dict[str, JsonTags] = {}
        for chunk in _chunks(run_ids):
            sql = key_values_json_sql(dialect, table.__tablename__, len(chunk))
            for run_uuid, text in driver_rows(conn, sql, tuple(chunk)):
                if text != "[]":
                    json_out[run_uuid] = JsonTags(text)
        return json_out
    out: dict[str, list[Tag]] = defaultdict(list)
    for chunk in _chunks(run_ids):
        rows = conn.execute(
            select(table.run_uuid, table.key, table.value)
            .where(table.run_uuid.in_(chunk))
            .order_by(table.run_uuid, table.key)
        )
        for run_uuid, key, value in rows.all():
            out[run_uuid].append(Tag(key, value if value is not None else ""))
    return out


def _latest_metrics(conn: Connection, run_ids: Sequence[str]) -> dict[str, MetricRows]:
    """Each run's latest metrics as the driver's rows (see :class:`MetricRows`): by key on
    PostgreSQL and MySQL, in storage order on SQLite (as for params and tags)."""
    if conn.dialect.name == "sqlite":  # all ids as one JSON parameter
        batches = [driver_rows(conn, SQLITE_LATEST_METRICS_BY_ID, (_json_ids(run_ids),))]
    else:
        batches = []
        for chunk in _chunks(run_ids):
            # Driver SQL: compiling an expanding IN of 500 ids cost more than running the query.
            sql = (
                "SELECT m.run_uuid, m.key, m.value, m.timestamp, m.step, m.is_nan "
                "FROM latest_metrics AS m "  # qualified: KEY is a reserved word in MySQL
                f"WHERE m.run_uuid IN ({placeholders(conn.dialect.name, len(chunk))}) "
                "ORDER BY m.run_uuid, m.key"
            )
            batches.append(driver_rows(conn, sql, tuple(chunk)))
    # Each batch comes run by run and covers whole runs: one group per run.
    return {
        run_uuid: MetricRows(list(rows))
        for batch in batches
        for run_uuid, rows in groupby(batch, itemgetter(0))
    }


def _json_ids(run_ids: Sequence[str]) -> str:
    return orjson.dumps(list(run_ids)).decode()


def _dataset_inputs(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[DatasetInput]]:
    out: dict[str, list[DatasetInput]] = defaultdict(list)
    for chunk in _chunks(run_ids):
        rows = (
            conn.execute(
                select(
                    SqlInput.destination_id,
                    SqlInput.input_uuid,
                    SqlDataset.name,
                    SqlDataset.digest,
                    SqlDataset.dataset_source_type,
                    SqlDataset.dataset_source,
                    SqlDataset.dataset_schema,
                    SqlDataset.dataset_profile,
                )
                .join(SqlDataset, SqlDataset.dataset_uuid == SqlInput.source_id)
                .where(
                    SqlInput.source_type == "DATASET",
                    SqlInput.destination_type == "RUN",
                    SqlInput.destination_id.in_(chunk),
                )
                .order_by(SqlInput.destination_id, SqlDataset.name, SqlInput.input_uuid)
            )
        ).all()
        if not rows:
            continue
        tags: dict[str, list[InputTag]] = defaultdict(list)
        input_ids = [r.input_uuid for r in rows]
        for ids in _chunks(input_ids):
            for t in conn.execute(
                select(SqlInputTag.input_uuid, SqlInputTag.name, SqlInputTag.value)
                .where(SqlInputTag.input_uuid.in_(ids))
                .order_by(SqlInputTag.input_uuid, SqlInputTag.name)
            ):
                tags[t.input_uuid].append(InputTag(t.name, t.value))
        for r in rows:
            dataset = Dataset(
                name=r.name,
                digest=r.digest,
                source_type=r.dataset_source_type,
                source=r.dataset_source,
                schema=r.dataset_schema,
                profile=r.dataset_profile,
            )
            out[r.destination_id].append(DatasetInput(dataset, tags.get(r.input_uuid, [])))
    return out


def load_runs(conn: Connection, rows: Sequence[Any], *, with_outputs: bool = True) -> list[Run]:
    """Full ``Run`` entities for ``rows`` (selected with ``RUN_COLUMNS``), in the same order."""
    run_ids = [r.run_uuid for r in rows]
    if not run_ids:
        return []
    model_inputs, model_outputs = load_model_io(conn, run_ids)
    return _assemble(
        rows,
        params=_key_values(conn, SqlParam, run_ids),
        tags=_key_values(conn, SqlTag, run_ids),
        metrics=_latest_metrics(conn, run_ids),
        datasets=_dataset_inputs(conn, run_ids),
        model_inputs=model_inputs,
        model_outputs=model_outputs if with_outputs else None,
    )


def load_runs_by_id(conn: Connection, run_ids: Sequence[str]) -> list[Run]:
    """SQLite: full ``Run`` entities of ``run_ids``, in that order, with ``outputs``.

    A page's runs cost two statements (runs with their params and tags as JSON, then latest
    metrics), plus one per kind of inputs only when a run of the page has some. Selecting the
    page by id first lets SQLite sort the narrow ``(sort keys, run_uuid)`` rows only. Ids that
    no longer exist (deleted in between) are left out.
    """
    if not run_ids:
        return []
    by_id = {row[0]: row for row in driver_rows(conn, SQLITE_RUNS_BY_ID, (_json_ids(run_ids),))}
    rows = [by_id[run_id] for run_id in run_ids if run_id in by_id]
    with_datasets = [row[0] for row in rows if row[11]]
    with_models = [row[0] for row in rows if row[12]]
    model_inputs, model_outputs = load_model_io(conn, with_models) if with_models else ({}, {})
    return _assemble(
        rows,
        params={row[0]: JsonTags(row[9]) for row in rows if row[9] != "[]"},
        tags={row[0]: JsonTags(row[10]) for row in rows if row[10] != "[]"},
        metrics=_latest_metrics(conn, run_ids),
        datasets=_dataset_inputs(conn, with_datasets) if with_datasets else {},
        model_inputs=model_inputs,
        model_outputs=model_outputs,
    )


def _assemble(
    rows: Sequence[Any],
    *,
    params: Mapping[str, Sequence[Tag]],
    tags: Mapping[str, Sequence[Tag]],
    metrics: Mapping[str, Sequence[Metric]],
    datasets: Mapping[str, list[DatasetInput]],
    model_inputs: Mapping[str, list[ModelInput]],
    model_outputs: Mapping[str, list[ModelOutput]] | None,
) -> list[Run]:
    """``Run`` entities of ``rows`` (``RUN_COLUMNS`` first) from what hangs off them, by run
    id; ``model_outputs`` None leaves ``outputs`` unset."""
    runs: list[Run] = []
    for row in rows:
        run_id = row[0]
        runs.append(
            Run(
                info=run_info_from_row(row),
                data=RunData(
                    metrics=metrics.get(run_id, []),
                    params=params.get(run_id, []),
                    tags=tags.get(run_id, []),
                ),
                inputs=RunInputs(
                    dataset_inputs=datasets.get(run_id, []),
                    model_inputs=model_inputs.get(run_id, []),
                ),
                outputs=None
                if model_outputs is None
                else RunOutputs(model_outputs.get(run_id, [])),
            )
        )
    return runs


EXPERIMENT_COLUMNS = (
    SqlExperiment.experiment_id,
    SqlExperiment.name,
    SqlExperiment.artifact_location,
    SqlExperiment.lifecycle_stage,
    SqlExperiment.creation_time,
    SqlExperiment.last_update_time,
    SqlExperiment.workspace,
)
