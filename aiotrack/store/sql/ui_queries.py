"""Read-only queries behind the web UI's own endpoints (``aiotrack.api.ui``).

Three shapes MLflow's REST API has no efficient answer for:

- :meth:`UiQueries.experiment_keys`: the distinct param, metric and tag keys over *all* runs of
  an experiment (autocomplete and the column chooser);
- :meth:`UiQueries.run_table`: one window (offset/limit) of an experiment's runs in MLflow's
  filter and sort semantics (the same compiler as ``runs/search``), projected to the columns the
  table shows, plus the total count for the scrollbar; optionally only the top-level runs, or
  only the children of one run (nested runs, through the ``mlflow.parentRunId`` tag);
- :meth:`UiQueries.sampled_history`: a metric's history over several runs, bucketed by step in
  SQL keeping each bucket's minimum and maximum, so a single-step spike in a million points
  survives downsampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, exists, false, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

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
    "PARENT_TAG",
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

#: The system tag naming a run's parent run (``mlflow.start_run(nested=True)``).
PARENT_TAG = "mlflow.parentRunId"
#: System tags every table row carries whether or not they are shown as columns.
SYSTEM_TAGS = (PARENT_TAG, "mlflow.source.name", "mlflow.user")
_CHUNK = 500
#: On SQLite, buckets at least this many steps wide are aggregated one index range at a time
#: (see ``_seek_buckets``); narrower ones, where a bucket holds a point or two, by GROUP BY.
_SEEK_MIN_WIDTH = 4
#: ``printf`` format of one SQLite bucket: 21 significant digits round-trip every double.
_SEEK_FORMAT = "%d %!.20e %!.20e"


@dataclass(frozen=True, slots=True)
class TableRun:
    """One row of the runs table; times in epoch ms; values only for the requested keys.

    ``child_count`` is the number of runs of the same experiments and view whose
    ``mlflow.parentRunId`` names this run; it is computed only for ``nested`` / ``parent_id``
    queries (0 otherwise).
    """

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
    child_count: int = 0


@dataclass(frozen=True, slots=True)
class SampledSeries:
    """One run's buckets, as columns of equal length, ordered by ``bucket``.

    ``bucket`` is the bucket index on the shared grid (first step ``lo + bucket * width``);
    ``min``/``max`` are the extreme values in it (NaN points are left out), ``count`` the number of
    points, ``ts_min``/``ts_max`` the earliest/latest timestamp (ms) in it, only when asked for.
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
        nested: bool = False,
        parent_id: str | None = None,
    ) -> tuple[int, int | None, list[TableRun]]:
        """``(total, all_total, rows)``: the runs matching ``filter_string`` (MLflow's grammar),
        in ``order_by`` order (MLflow's, ties by ``start_time DESC, run_id``), rows
        ``offset .. offset+limit``. A bad filter or order raises ``InvalidParameter``.

        ``nested`` keeps only top-level runs: those whose ``mlflow.parentRunId`` does not name
        another run of these experiments in this view (so a child whose parent was deleted shows
        at the top); ``all_total`` then counts the matching runs children included (else None).
        ``parent_id`` keeps only the runs whose ``mlflow.parentRunId`` is that run. Either one
        fills each row's ``child_count``. A parent cycle (A under B under A) hides both from the
        nested view; they still show in a flat one.
        """
        if not 1 <= limit <= MAX_TABLE_ROWS:
            raise InvalidParameter(f"limit must be between 1 and {MAX_TABLE_ROWS}, got {limit}")
        if offset < 0:
            raise InvalidParameter(f"offset must not be negative, got {offset}")
        if len(params) + len(metrics) + len(tags) > MAX_TABLE_COLUMNS:
            raise InvalidParameter(f"at most {MAX_TABLE_COLUMNS} param/metric/tag columns")
        filters = search.run_filter_clauses(parse_run_filter(filter_string))
        orders = parse_run_order_by(order_by)
        exp_ids = [parse_experiment_id(e) for e in experiment_ids]
        stages = [s.value for s in view_type.stages()]
        where: list[Any] = [
            SqlRun.experiment_id.in_(exp_ids),
            SqlRun.lifecycle_stage.in_(stages),
            *filters,
        ]
        tree = nested or parent_id is not None
        every = list(where)
        if nested:
            where.append(~_has_parent_in(exp_ids, stages))
        if parent_id is not None:
            pt = aliased(SqlTag, name="parent_tag")
            where.append(
                exists().where(
                    pt.run_uuid == SqlRun.run_uuid, pt.key == PARENT_TAG, pt.value == parent_id
                )
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
            all_total = None
            if nested:
                all_total = (
                    await conn.execute(select(func.count()).select_from(SqlRun).where(*every))
                ).scalar_one()
            rows = (await conn.execute(stmt)).all()
            ids = [r.run_uuid for r in rows]
            children: dict[str, int] = {}
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
                if tree:
                    children.update(await _child_counts(conn, chunk, exp_ids, stages))
        out = [by_id[i] for i in ids]
        if children:
            out = [_with_children(r, children.get(r.run_id, 0)) for r in out]
        return int(total), None if all_total is None else int(all_total), out

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

        The buckets tile ``[lo, hi]``: the step range of the runs' points (NaN points count for
        the range, not for the buckets), narrowed to ``start_step``/``end_step`` when given (a
        zoom). When the range holds no more steps than buckets, ``width`` is 1: every step is
        its own bucket (full resolution). ``with_times`` adds each bucket's earliest and latest
        timestamp (for wall-clock axes).

        Cost: two index probes per run for the range, then one pass over the points in range.
        On SQLite that pass walks ``index_metrics_run_uuid_key_step`` one bucket range at a
        time, so no point is ever sorted (a GROUP BY on a computed bucket would sort all of
        them in a temporary B-tree); elsewhere it is a hash GROUP BY.
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
        in_range: list[Any] = []
        if start_step is not None:
            in_range.append(m.step >= start_step)
        if end_step is not None:
            in_range.append(m.step <= end_step)
        ids = list(dict.fromkeys(run_ids))
        async with self.db.read() as conn:
            spans = await _step_spans(conn, ids, key, in_range)
            if not spans:
                return SampledHistory(key, None, None, 1, {})
            lo = min(a for a, _ in spans.values())
            hi = max(b for _, b in spans.values())
            width = max(1, -(-(hi - lo + 1) // (points // 2)))  # exact: no float rounding
            if hi - lo >= _INT64_LIMIT or hi + width >= _INT64_LIMIT:
                # The bucket arithmetic (``step - lo``, ``lo + (i + 1) * width``) runs in the
                # database's 64-bit integers: refuse what would overflow there.
                raise InvalidParameter(
                    f"Steps {lo}..{hi} of metric {key!r} span too wide a range to sample; "
                    "narrow it with start_step/end_step."
                )
            runs: dict[str, SampledSeries] = {}
            if self.db.is_sqlite and width >= _SEEK_MIN_WIDTH:
                for run_id, span in spans.items():
                    series = await _seek_buckets(
                        conn, run_id, key, lo, width, span, in_range, with_times
                    )
                    if series is not None:
                        runs[run_id] = series
            else:
                runs = await _group_buckets(
                    conn, list(spans), key, lo, hi, width, in_range, with_times
                )
        return SampledHistory(key, lo, hi, width, runs)


#: 2**63: the first integer a 64-bit column cannot hold.
_INT64_LIMIT = 2**63


def _has_parent_in(exp_ids: list[int], stages: list[str]) -> Any:
    """EXISTS: the outer run's ``mlflow.parentRunId`` names another run in this view."""
    pt = aliased(SqlTag, name="parent_tag")
    parent = aliased(SqlRun, name="parent_run")
    return exists().where(
        pt.run_uuid == SqlRun.run_uuid,
        pt.key == PARENT_TAG,
        parent.run_uuid == pt.value,
        parent.run_uuid != SqlRun.run_uuid,
        parent.experiment_id.in_(exp_ids),
        parent.lifecycle_stage.in_(stages),
    )


async def _child_counts(
    conn: AsyncConnection, ids: list[str], exp_ids: list[int], stages: list[str]
) -> dict[str, int]:
    """``{run_id: number of its children in this view}`` for the runs of ``ids`` that have any."""
    ct = aliased(SqlTag, name="child_tag")
    child = aliased(SqlRun, name="child_run")
    stmt = (
        select(ct.value, func.count())
        .where(
            ct.key == PARENT_TAG,
            ct.value.in_(ids),
            child.run_uuid == ct.run_uuid,
            child.run_uuid != ct.value,
            child.experiment_id.in_(exp_ids),
            child.lifecycle_stage.in_(stages),
        )
        .group_by(ct.value)
    )
    return {str(v): int(n) for v, n in await conn.execute(stmt)}


def _with_children(run: TableRun, n: int) -> TableRun:
    if not n:
        return run
    return TableRun(
        run.run_id,
        run.run_name,
        run.status,
        run.start_time,
        run.end_time,
        run.user_id,
        run.lifecycle_stage,
        run.params,
        run.metrics,
        run.tags,
        n,
    )


async def _step_spans(
    conn: AsyncConnection, run_ids: list[str], key: str, in_range: list[Any]
) -> dict[str, tuple[int, int]]:
    """``{run_id: (first step, last step)}`` of ``key`` within ``in_range``, for the runs that
    have a point there: two ``ORDER BY step LIMIT 1`` probes per run, which read one entry of
    ``index_metrics_run_uuid_key_step`` each (a ``min()``/``max()`` with a filter on a column
    outside the index would visit every point)."""
    m = SqlMetric
    probes = []
    for run_id in run_ids:
        base = select(m.step).where(m.run_uuid == run_id, m.key == key, *in_range)
        probes.append(base.order_by(m.step.asc()).limit(1).scalar_subquery())
        probes.append(base.order_by(m.step.desc()).limit(1).scalar_subquery())
    row = (await conn.execute(select(*probes))).one()
    spans: dict[str, tuple[int, int]] = {}
    for i, run_id in enumerate(run_ids):
        first, last = row[2 * i], row[2 * i + 1]
        if first is not None and last is not None:
            spans[run_id] = (int(first), int(last))
    return spans


async def _group_buckets(
    conn: AsyncConnection,
    run_ids: list[str],
    key: str,
    lo: int,
    hi: int,
    width: int,
    in_range: list[Any],
    with_times: bool,
) -> dict[str, SampledSeries]:
    """Every run's buckets in one ``GROUP BY run, (step - lo) / width``.

    The explicit ``lo <= step <= hi`` is what makes SQLite search
    ``index_metrics_run_uuid_key_step``; without a step range it scans the covering primary-key
    index over *every* run's points of ``key``."""
    m = SqlMetric
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
        .where(
            m.run_uuid.in_(run_ids),
            m.key == key,
            m.is_nan == false(),
            m.step >= lo,
            m.step <= hi,
            *in_range,
        )
        .group_by(m.run_uuid, bucket)
        .order_by(m.run_uuid, bucket)
    )
    runs: dict[str, SampledSeries] = {}
    for r in await conn.execute(stmt):
        s = runs.get(r.run_uuid)
        if s is None:
            s = runs[r.run_uuid] = _new_series(with_times)
        _append(s, int(r.bucket), float(r.vmin), float(r.vmax), int(r.n))
        if s.ts_min is not None and s.ts_max is not None:
            s.ts_min.append(int(r.ts_min))
            s.ts_max.append(int(r.ts_max))
    return runs


async def _seek_buckets(
    conn: AsyncConnection,
    run_id: str,
    key: str,
    lo: int,
    width: int,
    span: tuple[int, int],
    in_range: list[Any],
    with_times: bool,
) -> SampledSeries | None:
    """One run's buckets on SQLite, one index range per bucket (no sort of the points).

    A recursive CTE counts the run's buckets; for each, a correlated subquery aggregates the
    points of ``[lo + i*width, lo + (i+1)*width)`` through ``index_metrics_run_uuid_key_step``
    and packs count, min and max (and the timestamps) into one ``printf`` string, as a scalar
    subquery yields a single column; ``%.20e`` round-trips every double.
    """
    m = SqlMetric
    first, last = ((span[0] - lo) // width, (span[1] - lo) // width)
    seed: Select[Any] = select(literal(first).label("i"))
    b = seed.cte("b", recursive=True)
    b = b.union_all(select(b.c.i + 1).where(b.c.i < last))
    fmt = _SEEK_FORMAT + (" %d %d" if with_times else "")
    values = [func.count(), func.min(m.value), func.max(m.value)]
    if with_times:
        values += [func.min(m.timestamp), func.max(m.timestamp)]
    packed = (
        select(func.printf(fmt, *values))
        .where(
            m.run_uuid == run_id,
            m.key == key,
            m.is_nan == false(),
            m.step >= lo + b.c.i * width,
            m.step < lo + (b.c.i + 1) * width,
            *in_range,
        )
        .scalar_subquery()
    )
    s = _new_series(with_times)
    for i, text in await conn.execute(select(b.c.i, packed)):
        parts = text.split()
        n = int(parts[0])
        if not n:
            continue
        _append(s, int(i), float(parts[1]), float(parts[2]), n)
        if s.ts_min is not None and s.ts_max is not None:
            s.ts_min.append(int(parts[3]))
            s.ts_max.append(int(parts[4]))
    return s if s.bucket else None


def _new_series(with_times: bool) -> SampledSeries:
    if with_times:
        return SampledSeries([], [], [], [], [], [])
    return SampledSeries([], [], [], [])


def _append(s: SampledSeries, bucket: int, vmin: float, vmax: float, n: int) -> None:
    s.bucket.append(bucket)
    s.min.append(vmin)
    s.max.append(vmax)
    s.count.append(n)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
