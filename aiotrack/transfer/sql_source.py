"""Read a whole MLflow SQL database, table by table, in foreign-key order.

The tables are copied as they are — every column, every id — so a SQL-to-SQL import keeps
experiments, runs, datasets, logged models, the registry and traces exactly. Rows stream from a
server-side cursor in chunks; memory does not grow with the table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from aiotrack.store.sql.migrate import read_schema_state
from aiotrack.store.sql.schema import metadata
from aiotrack.store.sql.schema.tracking import SqlMetric
from aiotrack.transfer.sink import METRICS, TABLE_ORDER, Row, count_rows

__all__ = ["SqlSource"]

_METRIC_COLUMNS = (
    SqlMetric.key,
    SqlMetric.value,
    SqlMetric.timestamp,
    SqlMetric.run_uuid,
    SqlMetric.step,
    SqlMetric.is_nan,
)


def _column_names(conn: Connection, tables: tuple[str, ...]) -> dict[str, frozenset[str]]:
    inspector = inspect(conn)
    return {t: frozenset(c["name"] for c in inspector.get_columns(t)) for t in tables}


class SqlSource:
    """The tables of a SQL database at aiotrack's schema revision."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.tables: tuple[str, ...] = ()
        self.columns: dict[str, frozenset[str]] = {}

    async def open(self) -> dict[str, int]:
        """Find the tables and columns to copy; return their row counts (the import's total).

        A source at an older revision aiotrack serves (MLflow 3.17.2's head) lacks the tables and
        columns MLflow 3.18.0 added: only what it has is read.
        """
        async with self.engine.connect() as conn:
            state = await conn.run_sync(read_schema_state)
            self.tables = tuple(t for t in TABLE_ORDER if t in state.tables)
            self.columns = await conn.run_sync(_column_names, self.tables)
            return await count_rows(conn, self.tables)

    async def experiments(self) -> list[tuple[int, str, str]]:
        """``(experiment_id, workspace, name)`` of every experiment, deleted ones included."""
        table = metadata.tables["experiments"]
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(table.c.experiment_id, table.c.workspace, table.c.name)
            )
            return [(int(i), str(w), str(n)) for i, w, n in result]

    async def batches(self, chunk_rows: int) -> AsyncIterator[tuple[str, list[Row]]]:
        """``(table, rows)`` chunks of every table, parents before children."""
        for name in self.tables:
            table = metadata.tables[name]
            present = self.columns[name]
            query = (
                select(*_METRIC_COLUMNS)
                if name == METRICS
                else select(*(c for c in table.columns if c.name in present))
            )
            async with self.engine.connect() as conn:
                result = await conn.stream(query.execution_options(yield_per=chunk_rows))
                async for part in result.partitions(chunk_rows):
                    if name == METRICS:
                        yield name, [tuple(r) for r in part]
                    else:
                        yield name, [dict(r._mapping) for r in part]
