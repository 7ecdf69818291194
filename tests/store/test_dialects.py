"""The backend-specific statements of ``aiotrack.store.sql.dialects``, run on each real backend.

The metric hot path's raw SQL (``metric_insert_sql``/``latest_metric_upsert_sql``), the
``insert_ignore``/``upsert`` helpers and the case-sensitive string comparison must behave the
same on SQLite, PostgreSQL and MariaDB; MySQL's versions are the subtle ones (assignments of
``ON DUPLICATE KEY UPDATE`` apply left to right; default collations ignore case).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from aiotrack.store.entities import Param
from aiotrack.store.sql.dialects import (
    insert_ignore,
    latest_metric_upsert_sql,
    metric_insert_sql,
    rows_as_columns,
    upsert,
)
from aiotrack.store.sql.logwriter import LogOp, _check_params, logged_params_query
from aiotrack.store.sql.schema import SqlExperiment, SqlLatestMetric, SqlMetric, SqlParam, SqlRun
from aiotrack.store.sql.schema import metadata as full_metadata
from aiotrack.store.sql.search import compare
from aiotrack.store.sql.urls import to_async_url
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import drop_postgres_database, new_postgres_database

TABLES = [t.__table__ for t in (SqlExperiment, SqlRun, SqlParam, SqlMetric, SqlLatestMetric)]
RUN = "r" * 32
T = TypeVar("T")


@dataclass
class Db:
    """A scratch database reached through aiotrack's async driver (the raw metric SQL uses its
    placeholders); ``run(fn)`` runs ``fn(sync_connection)`` in one transaction."""

    dialect: str
    url: str

    def run(self, fn: Callable[[Connection], T]) -> T:
        async def go() -> T:
            engine = create_async_engine(self.url, poolclass=NullPool)
            if self.dialect == "sqlite":
                # What aiotrack's Database sets on every SQLite connection.
                sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            try:
                async with engine.begin() as conn:
                    return await conn.run_sync(fn)
            finally:
                await engine.dispose()

        return asyncio.run(go())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA case_sensitive_like=true")
    cursor.close()


def _setup(conn: Connection) -> None:
    full_metadata.create_all(conn, tables=TABLES)
    conn.execute(
        sa.insert(SqlExperiment).values(
            experiment_id=1, name="e", lifecycle_stage="active", workspace="default"
        )
    )
    conn.execute(sa.insert(SqlRun).values(run_uuid=RUN, experiment_id=1, lifecycle_stage="active"))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    ]
)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """An empty database holding one experiment and one run."""
    backend: str = request.param
    uri = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'd.db'}"
    elif backend == "mariadb":
        uri = url = new_mariadb_database("dialects")
    else:
        uri = url = new_postgres_database("aiotrack_dialects")
    async_url = to_async_url(url)
    database = Db(make_url(async_url).get_backend_name(), async_url)
    try:
        database.run(_setup)
        yield database
    finally:
        if uri is not None and backend == "mariadb":
            drop_mariadb_database(uri)
        elif uri is not None:
            drop_postgres_database(uri)


def _points() -> list[tuple[int, int, float]]:
    """(step, timestamp, value) with many ties on step and on (step, timestamp)."""
    rng = random.Random(8)
    return [(rng.randint(0, 3), rng.randint(0, 3), rng.choice([0.5, 1.0, 2.0])) for _ in range(60)]


def test_latest_metric_keeps_the_greatest_step_timestamp_value(db: Db) -> None:
    points = _points()

    def go(conn: Connection) -> Any:
        for step, ts, value in points:  # one statement per point: each one meets a stored row
            rows = [("m", value, ts, step, False, RUN)]
            conn.exec_driver_sql(
                latest_metric_upsert_sql(db.dialect), rows_as_columns(db.dialect, rows)
            )
        return conn.execute(
            sa.select(SqlLatestMetric.step, SqlLatestMetric.timestamp, SqlLatestMetric.value)
        ).one()

    assert tuple(db.run(go)) == max(points)


def test_latest_metric_upsert_of_many_keys_at_once(db: Db) -> None:
    first = [(f"k{i}", 1.0, 10, 5, False, RUN) for i in range(6)]
    # k0: higher step; k1: lower step; k2: same step, later ts; k3: same step+ts, higher value;
    # k4: same step+ts, lower value; k5: identical.
    second = [
        ("k0", 0.0, 1, 6, True, RUN),
        ("k1", 9.0, 99, 4, False, RUN),
        ("k2", 0.5, 11, 5, False, RUN),
        ("k3", 2.0, 10, 5, False, RUN),
        ("k4", 0.5, 10, 5, True, RUN),
        ("k5", 1.0, 10, 5, False, RUN),
    ]

    def go(conn: Connection) -> list[tuple[Any, ...]]:
        sql = latest_metric_upsert_sql(db.dialect)
        conn.exec_driver_sql(sql, rows_as_columns(db.dialect, first))
        conn.exec_driver_sql(sql, rows_as_columns(db.dialect, second))
        rows = conn.execute(
            sa.select(
                SqlLatestMetric.key,
                SqlLatestMetric.step,
                SqlLatestMetric.timestamp,
                SqlLatestMetric.value,
                SqlLatestMetric.is_nan,
            ).order_by(SqlLatestMetric.key)
        )
        return [tuple(r) for r in rows]

    assert db.run(go) == [
        ("k0", 6, 1, 0.0, True),
        ("k1", 5, 10, 1.0, False),
        ("k2", 5, 11, 0.5, False),
        ("k3", 5, 10, 2.0, False),
        ("k4", 5, 10, 1.0, False),
        ("k5", 5, 10, 1.0, False),
    ]


def test_metric_insert_drops_exact_duplicates_only(db: Db) -> None:
    rows = [("m", 1.5, 7, RUN, s, False) for s in range(3)]
    rows += [("m", 1.5, 7, RUN, 0, False), ("m", 2.5, 7, RUN, 0, False)]

    def go(conn: Connection) -> Any:
        sql = metric_insert_sql(db.dialect)
        conn.exec_driver_sql(sql, rows_as_columns(db.dialect, rows))
        conn.exec_driver_sql(sql, rows_as_columns(db.dialect, rows[:2]))
        return conn.execute(sa.select(sa.func.count()).select_from(SqlMetric)).scalar()

    assert db.run(go) == 4


def test_insert_ignore_drops_duplicates_but_not_foreign_key_violations(db: Db) -> None:
    stmt = insert_ignore(db.dialect, SqlParam.__table__)

    def duplicate(conn: Connection) -> list[str]:
        conn.execute(stmt, [{"key": "p", "value": "1", "run_uuid": RUN}])
        conn.execute(stmt, [{"key": "p", "value": "2", "run_uuid": RUN}])
        return list(conn.execute(sa.select(SqlParam.value)).scalars())

    def orphan(conn: Connection) -> None:
        conn.execute(stmt, [{"key": "p", "value": "1", "run_uuid": "x" * 32}])

    assert db.run(duplicate) == ["1"]
    # MySQL's INSERT IGNORE would turn this into a warning and drop the row silently.
    with pytest.raises(sa.exc.IntegrityError):
        db.run(orphan)


def test_upsert_replaces_the_value(db: Db) -> None:
    stmt = upsert(db.dialect, SqlParam.__table__, ["key", "run_uuid"], ["value"])

    def go(conn: Connection) -> list[str]:
        conn.execute(stmt, [{"key": "p", "value": "1", "run_uuid": RUN}])
        conn.execute(stmt, [{"key": "p", "value": "2", "run_uuid": RUN}])
        return list(conn.execute(sa.select(SqlParam.value)).scalars())

    assert db.run(go) == ["2"]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("=", "Abc", {"Abc"}),
        ("=", "abc", {"abc"}),
        ("=", "ABC", set()),
        ("!=", "Abc", {"abc", "xyz"}),
        ("LIKE", "A%", {"Abc"}),
        ("LIKE", "a%", {"abc"}),
        ("ILIKE", "a%", {"Abc", "abc"}),
        ("IN", ("Abc", "XYZ"), {"Abc"}),
        ("NOT IN", ("abc",), {"Abc", "xyz"}),
    ],
)
def test_string_comparisons_are_case_sensitive(
    db: Db, op: str, value: object, expected: set[str]
) -> None:
    def go(conn: Connection) -> set[str]:
        for key, val in zip(["p1", "p2", "p3"], ["Abc", "abc", "xyz"], strict=True):
            conn.execute(sa.insert(SqlParam).values(key=key, value=val, run_uuid=RUN))
        got = conn.execute(sa.select(SqlParam.value).where(compare(op, SqlParam.value, value)))
        return set(got.scalars())

    assert db.run(go) == expected


def test_param_key_match_is_case_sensitive(db: Db) -> None:
    def go(conn: Connection) -> dict[str, int]:
        conn.execute(sa.insert(SqlParam).values(key="Model", value="cnn", run_uuid=RUN))
        hits = {}
        for key in ("Model", "model", "MODEL"):
            where = compare("=", SqlParam.key, key)
            count = sa.select(sa.func.count()).select_from(SqlParam).where(where)
            hits[key] = int(conn.execute(count).scalar_one())
        return hits

    assert db.run(go) == {"Model": 1, "model": 0, "MODEL": 0}


def test_case_sensitive_statements_are_cached_with_their_own_values(db: Db) -> None:
    """The comparison is a cacheable construct: the second execution must use its own value."""

    def go(conn: Connection) -> list[list[str]]:
        for key, val in zip(["a", "b"], ["one", "two"], strict=True):
            conn.execute(sa.insert(SqlParam).values(key=key, value=val, run_uuid=RUN))
        found = []
        for value, op in itertools.product(("one", "two"), ("=", "IN")):
            arg: object = (value,) if op == "IN" else value
            stmt = sa.select(SqlParam.key).where(compare(op, SqlParam.value, arg))
            found.append(list(conn.execute(stmt).scalars()))
        return found

    assert db.run(go) == [["a"], ["a"], ["b"], ["b"]]


def test_param_check_across_runs_of_one_group(db: Db) -> None:
    """One group, two runs: each op is checked against its own run's params only, although the
    check's query also returns the other run's rows for the same keys."""
    other = "o" * 32

    def go(conn: Connection) -> list[str | None]:
        conn.execute(
            sa.insert(SqlRun).values(run_uuid=other, experiment_id=1, lifecycle_stage="active")
        )
        conn.execute(
            sa.insert(SqlParam),
            [{"key": "k1", "value": "1", "run_uuid": RUN}, {"key": "k2", "value": "2",
              "run_uuid": other}],
        )  # fmt: skip
        group = [
            LogOp(RUN, params=[Param("k2", "new")]),  # k2 is the other run's: no conflict
            LogOp(other, params=[Param("k1", "new")]),  # likewise k1
            LogOp(RUN, params=[Param("k1", "changed")]),  # conflict
            LogOp(other, params=[Param("k2", "2")]),  # the same value again: fine
            LogOp(RUN, params=[Param("k2", "newer")]),  # conflicts with the first op's k2
        ]
        _check_params(conn, group)
        return [None if op.error is None else op.error.message for op in group]

    errors = db.run(go)
    assert errors[:2] == [None, None] and errors[3] is None
    assert errors[2] is not None and "key': 'k1', 'old_value': '1'" in errors[2]
    assert errors[4] is not None and "key': 'k2', 'old_value': 'new'" in errors[4]


def test_param_check_reads_the_index_not_the_table(tmp_path: Path) -> None:
    """SQLite planned the former row-value ``(run_uuid, key) IN (...)`` as a scan of all params,
    so each write cost O(every param ever logged); the check must search an index."""
    db = Db("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    db.run(_setup)
    query = logged_params_query([RUN, "o" * 32], ["lr", "batch_size"])
    sql = str(query.compile(dialect=sa.dialects.sqlite.dialect(),
                            compile_kwargs={"literal_binds": True}))  # fmt: skip

    def plan(conn: Connection) -> list[str]:
        return [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]

    steps = db.run(plan)
    assert steps and all(step.startswith("SEARCH params USING") for step in steps), steps
