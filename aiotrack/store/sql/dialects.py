"""The few statements whose SQL differs between backends, behind one function each."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert_ignore", "upsert"]


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
