"""Alembic environment: runs migrations on a caller-supplied connection, or on an async engine.

``aiotrack.store.sql.migrate`` calls alembic inside ``AsyncConnection.run_sync`` and passes the sync
``Connection`` as ``config.attributes["connection"]``, so the migration shares its transaction (and
its locks). Without one (e.g. the ``alembic`` CLI), an async engine is created from
``sqlalchemy.url``, mapped through ``to_async_url``, and driven with ``connection.run_sync``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from aiotrack.store.sql.schema import metadata
from aiotrack.store.sql.urls import to_async_url

config = context.config


def _run_migrations(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things, so revisions use batch (copy-and-move)
    # operations there, as MLflow's do.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    shared = config.attributes.get("connection")
    if isinstance(shared, Connection):
        _run_migrations(shared)
    else:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
        asyncio.run(_run_async(url))
