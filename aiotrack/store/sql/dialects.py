"""The few statements whose SQL differs between backends, behind one function each."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "insert_ignore",
    "latest_metric_upsert_sql",
    "metric_insert_sql",
    "rows_as_columns",
    "upsert",
]


def _insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert support for the {dialect} dialect yet")


def insert_ignore(dialect: str, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` (duplicate rows are dropped silently)."""
    return _insert(dialect, table).on_conflict_do_nothing()


def upsert(
    dialect: str,
    table: Any,
    keys: list[str],
    update: list[str],
    where: Any = None,
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET col = excluded.col [WHERE ...]``.

    ``where`` is a callable ``(table, excluded) -> clause`` limiting which conflicts update.
    """
    stmt = _insert(dialect, table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={col: excluded[col] for col in update},
        where=where(table, excluded) if where is not None else None,
    )


# The two statements of the metric hot path are plain driver SQL run with executemany: per row
# they skip SQLAlchemy's parameter processing, which dominated the cost of a 1000-metric batch.
_METRIC_COLUMNS = "key, value, timestamp, run_uuid, step, is_nan"
_LATEST_COLUMNS = "key, value, timestamp, step, is_nan, run_uuid"


def _placeholders(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return ", ".join(f"${i}" for i in range(1, n + 1))
    return ", ".join("?" * n)


#: PostgreSQL takes the rows as six arrays in ONE statement (``unnest``), which its executor
#: handles far faster than a pipeline of one-row executions.
_PG_METRIC_ROWS = (
    "SELECT * FROM unnest($1::varchar[], $2::float8[], $3::bigint[], $4::varchar[], "
    "$5::bigint[], $6::boolean[])"
)
_PG_LATEST_ROWS = (
    "SELECT * FROM unnest($1::varchar[], $2::float8[], $3::bigint[], $4::bigint[], "
    "$5::boolean[], $6::varchar[])"
)


def rows_as_columns(dialect: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The parameters for ``metric_insert_sql``/``latest_metric_upsert_sql``: the rows as they
    are (executemany) on SQLite, one tuple of column lists on PostgreSQL."""
    if dialect == "postgresql":
        return [tuple(list(column) for column in zip(*rows, strict=True))]
    return rows


def metric_insert_sql(dialect: str) -> str:
    """Rows ``(key, value, timestamp, run_uuid, step, is_nan)``; exact duplicates are dropped."""
    source = _PG_METRIC_ROWS if dialect == "postgresql" else f"VALUES ({_placeholders(dialect, 6)})"
    return f"INSERT INTO metrics ({_METRIC_COLUMNS}) {source} ON CONFLICT DO NOTHING"


def latest_metric_upsert_sql(dialect: str) -> str:
    """Rows ``(key, value, timestamp, step, is_nan, run_uuid)``: a point replaces the stored
    latest one only when its ``(step, timestamp, value)`` is strictly greater."""
    source = _PG_LATEST_ROWS if dialect == "postgresql" else f"VALUES ({_placeholders(dialect, 6)})"
    return (
        f"INSERT INTO latest_metrics ({_LATEST_COLUMNS}) {source} "
        "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value, "
        "timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan "
        "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
        "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
    )
