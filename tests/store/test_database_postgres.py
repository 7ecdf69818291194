"""``Database`` on PostgreSQL: reads are planned for their values, every time.

asyncpg keeps every statement prepared for the connection's life, and after five runs
PostgreSQL may switch such a statement to a generic plan made for the table sizes of that
moment; a search first planned on a small experiment then ran 25x slower once it had grown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from aiotrack.store.sql.database import Database
from aiotrack.store.sql.schema import SqlExperiment
from tests.servers import drop_postgres_database, new_postgres_database
from tests.store.fresh import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with fresh_database(
        new_postgres_database("database"), drop_postgres_database, pool_size=1
    ) as database:
        yield database


async def test_a_repeated_statement_never_gets_a_generic_plan(db: Database) -> None:
    stmt = select(func.count()).where(SqlExperiment.experiment_id > 5)
    async with db.read() as conn:
        for _ in range(12):
            assert (await conn.execute(stmt)).scalar_one() == 0
        plans = (
            await conn.exec_driver_sql(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%FROM experiments%experiment_id >%'"
                " AND statement NOT LIKE '%pg_prepared_statements%'"
            )
        ).all()
    # One prepared statement (asyncpg's cache), planned anew for each of the 12 runs.
    assert [tuple(p) for p in plans] == [(0, 12)]


async def test_reads_plan_afresh_and_writes_keep_their_plans(db: Database) -> None:
    # The writer's 1000-row inserts are planned once per connection: planning them every time
    # cost a quarter of log-batch's rate. The setting ends with the read's transaction.
    for _ in range(2):
        async with db.read() as conn:
            mode = (await conn.exec_driver_sql("SHOW plan_cache_mode")).scalar_one()
            assert mode == "force_custom_plan"
        async with db.write() as conn:
            mode = (await conn.exec_driver_sql("SHOW plan_cache_mode")).scalar_one()
            assert mode == "auto"
    assert (
        await db.run_read(lambda conn: conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one())
        == "force_custom_plan"
    )
