"""The destination of an import: a SQL database written in idempotent, committed chunks.

Rows are buffered per table and flushed in one transaction, parents before children (the
schema's foreign-key order), with ``INSERT ... ON CONFLICT DO NOTHING``: a row whose key is
already there is skipped, so an interrupted import simply runs again. Nothing is ever updated
or deleted in the destination.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aiotrack.store.sql.dialects import insert_ignore, metric_insert_sql, rows_as_columns
from aiotrack.store.sql.schema import metadata

__all__ = ["METRICS", "TABLE_ORDER", "Row", "SqlSink", "count_rows", "fix_sequences"]

#: A row: a mapping of column names, except for ``metrics`` (see `METRICS`).
Row = Any
#: ``metrics`` rows are tuples ``(key, value, timestamp, run_uuid, step, is_nan)`` and go through
#: the metric hot-path statement (``unnest`` arrays on PostgreSQL), as the server writes them.
METRICS = "metrics"
#: Runtime coordination rows of MLflow's job runner: meaningless in another database.
SKIPPED_TABLES = frozenset({"job_locks", "scheduler_leases"})
#: Every copied table, parents before children.
TABLE_ORDER: tuple[str, ...] = tuple(
    t.name for t in metadata.sorted_tables if t.name not in SKIPPED_TABLES
)
_RANK = {name: i for i, name in enumerate(TABLE_ORDER)}


class SqlSink:
    """Buffers rows per table; `flush` writes them all in one transaction."""

    def __init__(self, engine: AsyncEngine, *, chunk_rows: int = 20_000) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.chunk_rows = chunk_rows
        self._buffers: dict[str, list[Row]] = {}
        self._buffered = 0
        #: Rows handed to the database per table (new or already there).
        self.written: dict[str, int] = {}

    async def add(self, table: str, rows: Sequence[Row]) -> None:
        """Queue ``rows`` of ``table``; flushes once enough rows are buffered."""
        if not rows:
            return
        self._buffers.setdefault(table, []).extend(rows)
        self._buffered += len(rows)
        if self._buffered >= self.chunk_rows:
            await self.flush()

    async def flush(self) -> None:
        """Write every buffered row in one transaction, in foreign-key order."""
        if not self._buffered:
            return
        buffers, self._buffers, self._buffered = self._buffers, {}, 0
        async with self.engine.begin() as conn:
            for name in sorted(buffers, key=_RANK.__getitem__):
                await self._insert(conn, name, buffers[name])
                self.written[name] = self.written.get(name, 0) + len(buffers[name])

    async def _insert(self, conn: AsyncConnection, name: str, rows: list[Row]) -> None:
        if name == METRICS:
            await conn.exec_driver_sql(
                metric_insert_sql(self.dialect), rows_as_columns(self.dialect, rows)
            )
        else:
            await conn.execute(insert_ignore(self.dialect, metadata.tables[name]), rows)


async def count_rows(conn: AsyncConnection, tables: Sequence[str]) -> dict[str, int]:
    """``SELECT count(*)`` of each of ``tables``."""
    counts: dict[str, int] = {}
    for name in tables:
        table: Table = metadata.tables[name]
        counts[name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    return counts


async def fix_sequences(conn: AsyncConnection) -> None:
    """Move PostgreSQL's id sequences past the ids the import inserted explicitly.

    SQLite and MySQL advance their autoincrement counters on an explicit insert; PostgreSQL's
    sequences do not, and the next ``experiments/create`` would collide with an imported id.
    """
    if conn.dialect.name != "postgresql":
        return
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not True and not (
                column.autoincrement == "auto" and len(table.primary_key.columns) == 1
            ):
                continue
            sequence = await conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            )
            if sequence:
                await conn.execute(
                    text(
                        f'SELECT setval(:s, coalesce(max("{column.name}"), 1), '
                        f'max("{column.name}") IS NOT NULL) FROM "{table.name}"'
                    ),
                    {"s": sequence},
                )
