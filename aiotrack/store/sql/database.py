"""One database: the async engine, the write path and the translation of driver errors.

Reads run on pooled connections. Writes go through :meth:`Database.write`, one transaction per
call; on SQLite they are serialised by an ``asyncio.Lock`` around the single writer (WAL mode lets
readers carry on meanwhile), on PostgreSQL they run concurrently on the pool. Every request's
writes happen inside one ``write()`` block, so a request lands whole or not at all. The speed
work will put group commit behind this same method.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from aiotrack.errors import AiotrackError, BadRequest, TemporarilyUnavailable

__all__ = ["Database"]


class Database:
    """An async engine plus the rules for reading and writing through it."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self.is_sqlite = self.dialect == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            if url.rstrip("/").endswith(":memory:") or url in ("sqlite+aiosqlite://",):
                raise ValueError("an in-memory SQLite database cannot be shared; use a file")
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (no transaction is committed)."""
        with _translate_errors():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed when the block exits without an exception."""
        with _translate_errors():
            if self._write_lock is None:
                async with self.engine.begin() as conn:
                    yield conn
            else:
                async with self._write_lock, self.engine.begin() as conn:
                    yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers proceed during a write; NORMAL sync keeps every commit across a process
    # crash (only an OS crash can lose the last commits). Foreign keys on and a case-sensitive
    # LIKE, as MLflow sets them on every session (ILIKE compiles to lower() LIKE lower()).
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA case_sensitive_like=true")
    cursor.close()


@contextlib.contextmanager
def _translate_errors() -> Any:
    """Map driver errors the store did not handle itself as MLflow's SQL store does (§3)."""
    try:
        yield
    except AiotrackError:
        raise
    except OperationalError as exc:
        raise TemporarilyUnavailable(f"Database is temporarily unavailable: {exc.orig}") from exc
    except IntegrityError as exc:
        raise BadRequest(f"{exc.orig}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise TemporarilyUnavailable(f"Lost the database connection: {exc.orig}") from exc
        raise BadRequest(f"{exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise BadRequest(str(exc)) from exc
    except (OSError, ConnectionError) as exc:
        raise TemporarilyUnavailable(f"Cannot reach the database: {exc}") from exc
