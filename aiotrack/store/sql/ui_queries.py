"""Read-only queries behind the web UI's own endpoints (``aiotrack.api.ui``).

Three shapes MLflow's REST API has no efficient answer for:

- :meth:`UiQueries.experiment_keys`: the distinct param, metric and tag keys over *all* runs of
  an experiment (autocomplete and the column chooser);
- :meth:`UiQueries.run_table`: one window (offset/limit) of an experiment's runs in MLflow's
  filter and sort semantics (the same compiler as ``runs/search``), projected to the columns the
  table shows, plus the total count for the scrollbar;
- :meth:`UiQueries.sampled_history`: a metric's history over several runs, bucketed by step in
  SQL (``GROUP BY run, (step - lo) // width``) keeping each bucket's minimum and maximum, so a
  single-step spike in a million points survives downsampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import false, func, select

from aiotrack.errors import InvalidParameter
from aiotrack.search import parse_run_filter, parse_run_order_by
from aiotrack.store.entities import ViewType
from aiotrack.store.sql import search
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.schema.tracking import (
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from aiotrack.validation import parse_experiment_id

__all__ = [
    "MAX_KEYS",
    "MAX_SAMPLED_POINTS",
    "MAX_SAMPLED_RUNS",
    "MAX_TABLE_COLUMNS",
    "MAX_TABLE_ROWS",
    "SampledHistory",
    "SampledSeries",
    "TableRun",
    "UiQueries",
]

#: Most keys of each kind ``experiment_keys`` returns (alphabetically first).
MAX_KEYS = 5000
#: Most rows one ``run_table`` window returns.
MAX_TABLE_ROWS = 1000
#: Most param + metric + tag columns one ``run_table`` call projects.
MAX_TABLE_COLUMNS = 200
#: Most runs one ``sampled_history`` call covers.
MAX_SAMPLED_RUNS = 100
#: Most values per run ``sampled_history`` returns (two per bucket: its min and its max).
MAX_SAMPLED_POINTS = 10000

#: System tags every table row carries whether or not they are shown as columns.
SYSTEM_TAGS = ("mlflow.parentRunId", "mlflow.source.name", "mlflow.user")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class TableRun:
    """One row of the runs table; times in epoch ms; values only for the requested keys."""

    run_id: str
    run_name: str | None
    status: str | None
    start_time: int | None
    end_time: int | None
    user_id: str | None
    lifecycle_stage: str | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SampledSeries:
    """One run's buckets, as columns of equal length, ordered by ``bucket``.

    ``bucket`` is the bucket index on the shared grid (first step ``lo + bucket * width``);
    ``min``/``max`` are the extreme values in it (NaN points are left out), ``count`` the number of
    points, ``ts_min``/``ts_max`` the earliest/latest timestamp (ms) in it, only when asked for
    (they double the cost of the query on SQLite: the sort carries them).
    """

    bucket: list[int]
    min: list[float]
    max: list[float]
    count: list[int]
    ts_min: list[int] | None = None
    ts_max: list[int] | None = None


@dataclass(frozen=True, slots=True)
class SampledHistory:
    """Bucketed history of one metric key; ``lo``/``hi`` is the step range covered (None when
    no run has a point there) and ``width`` the steps per bucket (1 = full resolution)."""

    key: str
    lo: int | None
    hi: int | None
    width: int
    runs: dict[str, SampledSeries]


class UiQueries:
    """The UI's read queries over one :class:`Database` (never writes)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def experiment_keys(self, experiment_id: str) -> dict[str, list[str]]:
        """``{"params": [...], "metrics": [...], "tags": [...]}``: distinct keys over the active
        and deleted runs of the experiment, sorted, at most :data:`MAX_KEYS` of each."""
        exp_id = parse_experiment_id(experiment_id)
        runs = select(SqlRun.run_uuid).where(SqlRun.experiment_id == exp_id)
        out: dict[str, list[str]] = {}
        async with self.db.read() as conn:
            for name, table in (
                ("params", SqlParam),
                ("metrics", SqlLatestMetric),
                ("tags", SqlTag),
            ):
                stmt = (
                    select(table.key)
                    .where(table.run_uuid.in_(runs))
                    .distinct()
                    .order_by(table.key)
                    .limit(MAX_KEYS)
                )
                out[name] = list((await conn.execute(stmt)).scalars())
        return out

    async def run_table(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        order_by: Sequence[str],
        view_type: ViewType,
        offset: int,
        limit: int,
        params: Sequence[str] = (),
        metrics: Sequence[str] = (),
        tags: Sequence[str] = (),
    ) -> tuple[int, list[TableRun]]:
        """``(total, rows)``: the runs matching ``filter_string`` (MLflow's grammar), in
        ``order_by`` order (MLflow's, ties by ``start_time DESC, run_id``), rows
        ``offset .. offset+limit``. A bad filter or order raises ``InvalidParameter``."""
        if not 1 <= limit <= MAX_TABLE_ROWS:
            raise InvalidParameter(f"limit must be between 1 and {MAX_TABLE_ROWS}, got {limit}")
        if offset < 0:
            raise InvalidParameter(f"offset must not be negative, got {offset}")
        if len(params) + len(metrics) + len(tags) > MAX_TABLE_COLUMNS:
            raise InvalidParameter(f"at most {MAX_TABLE_COLUMNS} param/metric/tag columns")
        filters = search.run_filter_clauses(parse_run_filter(filter_string))
        orders = parse_run_order_by(order_by)
        exp_ids = [parse_experiment_id(e) for e in experiment_ids]
        where = (
            SqlRun.experiment_id.in_(exp_ids),
            SqlRun.lifecycle_stage.in_([s.value for s in view_type.stages()]),
            *filters,
        )
        columns = (
            SqlRun.run_uuid,
            SqlRun.name,
            SqlRun.status,
            SqlRun.start_time,
            SqlRun.end_time,
            SqlRun.user_id,
            SqlRun.lifecycle_stage,
        )
        stmt, terms = search.run_order_clauses(select(*columns), orders)
        stmt = stmt.where(*where).order_by(*terms).offset(offset).limit(limit)
        async with self.db.read() as conn:
            total = (
                await conn.execute(select(func.count()).select_from(SqlRun).where(*where))
            ).scalar_one()
            rows = (await conn.execute(stmt)).all()
            ids = [r.run_uuid for r in rows]
            by_id = {
                r.run_uuid: TableRun(
                    run_id=r.run_uuid,
                    run_name=r.name,
                    status=r.status,
                    start_time=r.start_time,
                    end_time=r.end_time,
                    user_id=r.user_id,
                    lifecycle_stage=r.lifecycle_stage,
                )
                for r in rows
            }
            for chunk in _chunks(ids):
                if params:
                    pq = select(SqlParam.run_uuid, SqlParam.key, SqlParam.value).where(
                        SqlParam.run_uuid.in_(chunk), SqlParam.key.in_(list(params))
                    )
                    for p in await conn.execute(pq):
                        by_id[p.run_uuid].params[p.key] = p.value
                if metrics:
                    m = SqlLatestMetric
                    mq = select(m.run_uuid, m.key, m.value, m.is_nan).where(
                        m.run_uuid.in_(chunk), m.key.in_(list(metrics))
                    )
                    for r in await conn.execute(mq):
                        # JSON has no NaN: a NaN latest value is sent as null.
                        by_id[r.run_uuid].metrics[r.key] = None if r.is_nan else r.value
                q = select(SqlTag.run_uuid, SqlTag.key, SqlTag.value).where(
                    SqlTag.run_uuid.in_(chunk), SqlTag.key.in_([*SYSTEM_TAGS, *tags])
                )
                for t in await conn.execute(q):
                    by_id[t.run_uuid].tags[t.key] = t.value
        return int(total), [by_id[i] for i in ids]

    async def sampled_history(
        self,
        run_ids: Sequence[str],
        key: str,
        *,
        points: int,
        start_step: int | None = None,
        end_step: int | None = None,
        with_times: bool = False,
    ) -> SampledHistory:
        """Metric ``key`` of ``run_ids`` in ``points // 2`` step buckets shared by every run.

        The buckets tile ``[lo, hi]``: the step range of the runs' points, narrowed to
        ``start_step``/``end_step`` when given (a zoom). When the range holds no more steps than
        buckets, ``width`` is 1: every step is its own bucket (full resolution). ``with_times``
        adds each bucket's earliest and latest timestamp (for wall-clock axes).
        """
        if not run_ids:
            raise InvalidParameter("at least one run_id is required")
        if len(run_ids) > MAX_SAMPLED_RUNS:
            raise InvalidParameter(f"at most {MAX_SAMPLED_RUNS} runs per request")
        if not 2 <= points <= MAX_SAMPLED_POINTS:
            raise InvalidParameter(f"points must be between 2 and {MAX_SAMPLED_POINTS}")
        if start_step is not None and end_step is not None and start_step > end_step:
            raise InvalidParameter("start_step must not be greater than end_step")
        m = SqlMetric
        conds: list[Any] = [m.run_uuid.in_(list(run_ids)), m.key == key, m.is_nan == false()]
        if start_step is not None:
            conds.append(m.step >= start_step)
        if end_step is not None:
            conds.append(m.step <= end_step)
        async with self.db.read() as conn:
            lo, hi = (
                await conn.execute(select(func.min(m.step), func.max(m.step)).where(*conds))
            ).one()
            if lo is None:
                return SampledHistory(key, None, None, 1, {})
            lo, hi = int(lo), int(hi)
            buckets = points // 2
            width = max(1, math.ceil((hi - lo + 1) / buckets))
            bucket = ((m.step - lo) // width).label("bucket")
            aggregates = [
                func.min(m.value).label("vmin"),
                func.max(m.value).label("vmax"),
                func.count().label("n"),
            ]
            if with_times:
                aggregates += [
                    func.min(m.timestamp).label("ts_min"),
                    func.max(m.timestamp).label("ts_max"),
                ]
            stmt = (
                select(m.run_uuid, bucket, *aggregates)
                .where(*conds)
                .group_by(m.run_uuid, bucket)
                .order_by(m.run_uuid, bucket)
            )
            rows = (await conn.execute(stmt)).all()
        runs: dict[str, SampledSeries] = {}
        for r in rows:
            s = runs.get(r.run_uuid)
            if s is None:
                times: tuple[list[int], list[int]] | tuple[None, None] = (
                    ([], []) if with_times else (None, None)
                )
                s = runs[r.run_uuid] = SampledSeries([], [], [], [], *times)
            s.bucket.append(int(r.bucket))
            s.min.append(float(r.vmin))
            s.max.append(float(r.vmax))
            s.count.append(int(r.n))
            if s.ts_min is not None and s.ts_max is not None:
                s.ts_min.append(int(r.ts_min))
                s.ts_max.append(int(r.ts_max))
        return SampledHistory(key, lo, hi, width, runs)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
