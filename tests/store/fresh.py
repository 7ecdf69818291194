"""A `Database` on a fresh, empty server database with aiotrack's schema, dropped afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import ensure_schema
from aiotrack.store.sql.urls import to_async_url


@contextlib.asynccontextmanager
async def fresh_database(
    uri: str, drop: Callable[[str], None], *, pool_size: int
) -> AsyncIterator[Database]:
    """``uri`` names a database just created; ``drop(uri)`` removes it when the block ends."""
    database = Database(to_async_url(uri), pool_size=pool_size)
    try:
        await ensure_schema(database.engine)
        yield database
    finally:
        await database.dispose()
        drop(uri)
