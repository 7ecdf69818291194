"""``Database`` on MySQL/MariaDB: driver errors become MLflow's answers (503 "try again" vs 400).

MySQL reports most server-side refusals (a failed CHECK, a SIGNAL) as ``OperationalError``, the
class that means "database unavailable" on the other drivers; only its connection, lock-wait and
deadlock error numbers may become 503, since a client retries a 5xx for minutes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, text

from aiotrack.errors import BadRequest, TemporarilyUnavailable
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.schema import SqlExperiment
from aiotrack.store.sql.urls import to_async_url
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.store.fresh import fresh_database

pytestmark = pytest.mark.mariadb


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with fresh_database(
        new_mariadb_database("database"), drop_mariadb_database, pool_size=2
    ) as database:
        yield database


async def test_unreachable_server_is_temporarily_unavailable() -> None:
    database = Database(to_async_url("mysql://root@127.0.0.1:1/nothing"))
    try:
        with pytest.raises(TemporarilyUnavailable, match="Can't connect"):
            async with database.read() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await database.dispose()


async def test_failed_check_constraint_is_a_bad_request(db: Database) -> None:
    with pytest.raises(BadRequest, match="experiments_lifecycle_stage"):
        async with db.write() as conn:
            await conn.execute(
                insert(SqlExperiment).values(name="x", lifecycle_stage="bogus", workspace="default")
            )


async def test_lock_wait_timeout_is_temporarily_unavailable(db: Database) -> None:
    async with db.write() as holder:
        await holder.execute(
            insert(SqlExperiment).values(name="held", lifecycle_stage="active", workspace="default")
        )
        with pytest.raises(TemporarilyUnavailable, match="1205"):
            async with db.write() as waiter:
                await waiter.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
                await waiter.execute(
                    insert(SqlExperiment).values(
                        name="held", lifecycle_stage="active", workspace="default"
                    )
                )


async def test_experiment_zero_keeps_its_id(db: Database) -> None:
    """NO_AUTO_VALUE_ON_ZERO is set on every connection: id 0 is not replaced by the next id."""
    async with db.write() as conn:
        await conn.execute(
            insert(SqlExperiment).values(
                experiment_id=0, name="Default", lifecycle_stage="active", workspace="default"
            )
        )
        await conn.execute(
            insert(SqlExperiment).values(name="next", lifecycle_stage="active", workspace="default")
        )
    async with db.read() as conn:
        rows = (await conn.execute(text("SELECT experiment_id, name FROM experiments"))).all()
    assert sorted(tuple(r) for r in rows) == [(0, "Default"), (1, "next")]
