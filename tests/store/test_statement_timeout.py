"""``--db-statement-timeout``: the database stops a read that runs too long, the request is
answered 400 INVALID_PARAMETER_VALUE (never a 5xx, which MLflow's client retries for minutes),
and the connection it ran on keeps working. Writes are not bounded.

Each backend runs a statement that provably outlasts a short timeout: PostgreSQL
``pg_sleep``, MariaDB a 10^10-row join of its sequence engine, SQLite a recursive count to
10^9.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from aiotrack.errors import InvalidParameter
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.urls import to_async_url
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import drop_postgres_database, new_postgres_database

TIMEOUT = 0.3
_COUNT = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) "
    "SELECT count(*) FROM c"
)
SLOW = {
    "postgres": "SELECT pg_sleep(20)",
    "mariadb": "SELECT count(*) FROM seq_1_to_100000 a JOIN seq_1_to_100000 b"
    " ON (a.seq * b.seq) % 7 = 3",
    "sqlite": _COUNT,
}


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    ]
)
async def db(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[Database]:
    backend: str = request.param
    if backend == "sqlite":
        uri, drop = f"sqlite:///{tmp_path}/t.db", None
    elif backend == "postgres":
        uri, drop = new_postgres_database("timeout"), drop_postgres_database
    else:
        uri, drop = new_mariadb_database("timeout"), drop_mariadb_database
    database = Database(to_async_url(uri), pool_size=1, statement_timeout=TIMEOUT)
    database.backend = backend  # type: ignore[attr-defined]
    try:
        yield database
    finally:
        await database.dispose()
        if drop is not None:
            drop(uri)


def _slow(sql: str):  # type: ignore[no-untyped-def]
    def run(conn: Connection) -> object:
        return conn.execute(text(sql)).scalar()

    return run


async def test_a_slow_read_is_stopped_and_answered_400(db: Database) -> None:
    sql = SLOW[db.backend]  # type: ignore[attr-defined]
    started = time.monotonic()
    with pytest.raises(InvalidParameter) as info:
        await db.run_read(_slow(sql))
    elapsed = time.monotonic() - started
    assert info.value.status == 400
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "too expensive" in info.value.message
    assert "--db-statement-timeout" in info.value.message
    assert elapsed < 10, elapsed  # stopped near TIMEOUT, not after the statement's natural end
    # The same (only) pooled connection answers the next read.
    assert await db.run_read(lambda conn: conn.execute(text("SELECT 1")).scalar()) == 1


async def test_the_async_read_path_is_bounded_too(db: Database) -> None:
    with pytest.raises(InvalidParameter, match="too expensive"):
        async with db.read() as conn:
            await conn.execute(text(SLOW[db.backend]))  # type: ignore[attr-defined]
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


async def test_zero_means_no_limit(tmp_path: object) -> None:
    database = Database(to_async_url(f"sqlite:///{tmp_path}/t.db"), statement_timeout=0)
    try:
        sql = _COUNT.replace("1000000000", "3000000")  # ~1 s in SQLite, above TIMEOUT
        assert await database.run_read(_slow(sql)) == 3000000
    finally:
        await database.dispose()
