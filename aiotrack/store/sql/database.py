"""One database: the async engine, the write path and the translation of driver errors.

Reads run on pooled connections. Writes go through :meth:`Database.write`, one transaction per
call; on SQLite they are serialised by an ``asyncio.Lock`` around the single writer (WAL mode lets
readers carry on meanwhile), on PostgreSQL and MySQL/MariaDB they run concurrently on the pool.
Every request's writes happen inside one ``write()`` block, so a request lands whole or not at
all. The speed work will put group commit behind this same method.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from aiotrack.errors import AiotrackError, BadRequest, InvalidParameter, TemporarilyUnavailable
from aiotrack.store.sql.checkpoint import WAL_AUTOCHECKPOINT, WalCheckpointer
from aiotrack.store.sql.dialects import sqlite_regexp

__all__ = ["CONNECT_TIMEOUT", "Database"]

T = TypeVar("T")

#: Seconds to wait for a new database connection before answering 503.
CONNECT_TIMEOUT = 5
#: SQLSTATEs that mean "try again later": connection exceptions (08), insufficient resources
#: (53), operator intervention such as "the database system is shutting down" (57), and
#: serialization failures / deadlocks (40001, 40P01).
_RETRYABLE_SQLSTATE_CLASSES = ("08", "53", "57")
_RETRYABLE_SQLSTATES = ("40001", "40P01")
#: MySQL/MariaDB error numbers that mean "try again later": connection refused/lost/killed
#: (client 2002/2003/2006/2013/2014/2045/2055, server 1927/4031), too many connections (1040),
#: server shutting down (1053), lock wait timeout (1205), deadlock (1213), access denied or unknown
#: database (1044/1045/1049: a deployment problem, not the client's).
_MYSQL_UNAVAILABLE = frozenset(
    {1040, 1044, 1045, 1049, 1053, 1205, 1213, 1927, 4031}
    | {2002, 2003, 2006, 2013, 2014, 2045, 2055}
)
_UNAVAILABLE_HINT = (
    "aiotrack reconnects by itself; check that the database server is running and reachable"
)


#: SQLite reader threads (`Database.run_read`): two cores, and reads are short.
READER_THREADS = 2


class Database:
    """An async engine plus the rules for reading and writing through it."""

    def __init__(self, url: str, *, pool_size: int = 10, statement_timeout: float = 0) -> None:
        """``statement_timeout``: seconds a read statement may run before the database stops it
        and the request is answered 400 (`statement_timeout_error`); 0 = no limit."""
        self.url = url
        self.statement_timeout = statement_timeout
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self.is_sqlite = self.dialect == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            if url.rstrip("/").endswith(":memory:") or url in ("sqlite+aiosqlite://",):
                raise ValueError("an in-memory SQLite database cannot be shared; use a file")
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
            if self.dialect == "postgresql":
                # Fail fast (503) instead of hanging for asyncpg's 60 s when the host is down.
                kwargs["connect_args"] = {"timeout": CONNECT_TIMEOUT}
            elif self.dialect == "mysql":
                # READ COMMITTED as on PostgreSQL: a write's checks see the latest commits and
                # InnoDB takes no gap locks (fewer deadlocks between concurrent writers). Recycle
                # connections before the server's wait_timeout drops them.
                kwargs.update(isolation_level="READ COMMITTED", pool_recycle=3600)
                kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        elif self.dialect == "mysql":
            event.listen(self.engine.sync_engine, "connect", _mysql_on_connect)
            if statement_timeout > 0:
                event.listen(
                    self.engine.sync_engine,
                    "before_cursor_execute",
                    functools.partial(_mysql_bound_select, statement_timeout),
                    retval=True,
                )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._executor: ThreadPoolExecutor | None = None
        self._sync_engine: Engine | None = None
        self._sync_conn: Connection | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._read_engine: Engine | None = None
        self._checkpointer: WalCheckpointer | None = None
        if self.is_sqlite:
            self._checkpointer = WalCheckpointer(make_url(url).set(drivername="sqlite+pysqlite"))

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (no transaction is committed), bounded by the statement
        timeout on every backend.

        On PostgreSQL each of its statements is planned for its values (`_plan_afresh`)."""
        with _translate_errors(self.statement_timeout):
            async with self.engine.connect() as conn:
                await _prepare_read(conn, self.statement_timeout)
                if not (self.is_sqlite and self.statement_timeout > 0):
                    yield conn
                    return
                # aiosqlite: the same progress handler as the reader threads' (`_sync_read`),
                # for every statement of this read; removed before the connection is pooled.
                raw: Any = (await conn.get_raw_connection()).driver_connection
                deadline = time.monotonic() + self.statement_timeout
                await raw.set_progress_handler(
                    lambda: 1 if time.monotonic() > deadline else 0, _SQLITE_PROGRESS_STEPS
                )
                try:
                    yield conn
                finally:
                    await raw.set_progress_handler(None, 0)

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
                self._wrote()

    async def run_read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(connection)`` — synchronous reads — and return its result.

        On SQLite the whole of ``fn`` runs in one hop to a reader thread on plain ``sqlite3``
        connections (WAL lets them read while the writer writes); through aiosqlite every
        statement and fetch was a hop of its own, which dominated loading a page of runs. On
        PostgreSQL and MySQL it is ``run_sync`` on a pooled connection.
        """
        with _translate_errors(self.statement_timeout):
            if not self.is_sqlite:
                async with self.engine.connect() as conn:
                    await _prepare_read(conn, self.statement_timeout)
                    return await conn.run_sync(fn)
            loop = asyncio.get_running_loop()
            stop = threading.Event()
            try:
                return await loop.run_in_executor(self._reader_threads(), self._sync_read, fn, stop)
            except asyncio.CancelledError:
                stop.set()  # the client went away: interrupt the statement in the thread
                raise

    def _reader_threads(self) -> ThreadPoolExecutor:
        if self._readers is None:
            self._readers = ThreadPoolExecutor(
                READER_THREADS, thread_name_prefix="aiotrack-sqlite-reader"
            )
            sync_url = make_url(self.url).set(drivername="sqlite+pysqlite")
            self._read_engine = create_engine(
                sync_url,
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=READER_THREADS,
            )
            event.listen(self._read_engine, "connect", _sqlite_on_connect_reader)
        return self._readers

    def _sync_read(self, fn: Callable[[Connection], T], stop: threading.Event) -> T:
        assert self._read_engine is not None
        with self._read_engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            limit = self.statement_timeout
            deadline = time.monotonic() + limit if limit > 0 else math.inf

            def interrupt() -> int:
                # Non-zero makes SQLite abandon the statement with "interrupted".
                return 1 if stop.is_set() or time.monotonic() > deadline else 0

            raw.set_progress_handler(interrupt, _SQLITE_PROGRESS_STEPS)
            try:
                return fn(conn)
            finally:
                raw.set_progress_handler(None, 0)

    async def run_write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(connection)`` — synchronous code — as one transaction; return its result.

        On SQLite this is one hop to the dedicated writer thread, which runs the whole
        transaction on its own ``sqlite3`` connection (``BEGIN IMMEDIATE``) while holding the
        same lock as :meth:`write`; on PostgreSQL and MySQL it is ``run_sync`` on a pooled
        connection.
        Used by the group-commit log writer, whose transactions must cost one thread hop, not
        one per statement.
        """
        with _translate_errors():
            if self._write_lock is None:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn)
            async with self._write_lock:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._writer_thread(), self._sync_tx, fn)

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="aiotrack-sqlite-writer")
            sync_url = make_url(self.url).set(drivername="sqlite+pysqlite")
            self._sync_engine = create_engine(sync_url, connect_args={"timeout": 30})
            event.listen(self._sync_engine, "connect", _sqlite_on_connect_immediate)
            event.listen(self._sync_engine, "begin", _sqlite_begin_immediate)
        return self._executor

    def _sync_tx(self, fn: Callable[[Connection], T]) -> T:
        # The writer thread keeps one connection: checking one out of the pool and building
        # a Connection per transaction was a tenth of a small write's cost.
        assert self._sync_engine is not None
        conn = self._sync_conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._sync_conn = self._sync_engine.connect()
        try:
            with conn.begin():
                result = fn(conn)
            self._wrote()
            return result
        except BaseException:
            if conn.invalidated:
                self._sync_conn = None
                conn.close()
            raise

    def _wrote(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.wrote()

    def _close_sync(self) -> None:
        if self._sync_conn is not None:
            self._sync_conn.close()
            self._sync_conn = None
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await asyncio.get_running_loop().run_in_executor(None, checkpointer.stop)
        if self._readers is not None:
            readers, self._readers = self._readers, None
            if self._read_engine is not None:  # closes the files off the event loop
                await asyncio.get_running_loop().run_in_executor(readers, self._read_engine.dispose)
            readers.shutdown(wait=True)
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
            executor.shutdown(wait=True)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers proceed during a write; NORMAL sync keeps every commit across a process
    # crash (only an OS crash can lose the last commits). Foreign keys on and a case-sensitive
    # LIKE, as MLflow sets them on every session (ILIKE compiles to lower() LIKE lower()).
    # Checkpoints are the WalCheckpointer's; commits checkpoint only past a bound.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA case_sensitive_like=true")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
    cursor.close()
    # RLIKE in trace searches: MLflow's regexp (a NULL or a bad pattern does not match).
    dbapi_conn.create_function("regexp", 2, sqlite_regexp, deterministic=True)


def _mysql_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Experiment 0 ("Default") is inserted with an explicit id into an AUTO_INCREMENT column,
    # which MySQL turns into the next id unless NO_AUTO_VALUE_ON_ZERO is set (MLflow sets it
    # around that insert; aiotrack never inserts 0 otherwise). asyncmy talks utf8mb4 by default.
    cursor = dbapi_conn.cursor()
    cursor.execute(
        "SET SESSION sql_mode = "
        "TRIM(BOTH ',' FROM CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO'))"
    )
    cursor.close()


async def _prepare_read(conn: AsyncConnection, statement_timeout: float) -> None:
    """On PostgreSQL, set this read transaction's statement timeout and, on 12+, plan each of
    its statements for its values, in one round trip.

    asyncpg keeps every statement prepared for the connection's life, and after five runs
    PostgreSQL may switch one to a generic plan, made for the table sizes of that moment and kept
    until its tables are next analyzed (never, where autovacuum is off). A runs/search filtered
    on a metric and a param, first planned while the experiment had 1,000 runs, took 3.2 s at
    10,000 (0.12 s planned afresh). Reads only: for the writer's 1000-row inserts a plan of
    their own each time cost a quarter of log-batch's rate.
    """
    if conn.dialect.name != "postgresql":
        return
    settings = []
    if (conn.dialect.server_version_info or (0,)) >= (12,):
        settings.append("set_config('plan_cache_mode', 'force_custom_plan', true)")
    if statement_timeout > 0:
        millis = max(1, round(statement_timeout * 1000))
        settings.append(f"set_config('statement_timeout', '{millis}', true)")
    if settings:
        await conn.exec_driver_sql(f"SELECT {', '.join(settings)}")


#: SQLite VM steps between two checks of a read's deadline (a check costs ~0.1 µs).
_SQLITE_PROGRESS_STEPS = 10_000


def _mysql_bound_select(
    timeout: float,
    _conn: Connection,
    _cursor: Any,
    statement: str,
    parameters: Any,
    _context: Any,
    _executemany: bool,
) -> tuple[str, Any]:
    """Bound every SELECT by the statement timeout, in the statement itself (no round trip):
    MariaDB's ``SET STATEMENT max_statement_time=S FOR``, MySQL's ``MAX_EXECUTION_TIME`` hint.
    Writes are not bounded: stopping one half-way would only make the client retry it."""
    if statement[:6].upper() != "SELECT":
        return statement, parameters
    if _conn.dialect.is_mariadb:  # type: ignore[attr-defined]
        return f"SET STATEMENT max_statement_time={timeout:g} FOR {statement}", parameters
    millis = max(1, round(timeout * 1000))
    return f"SELECT /*+ MAX_EXECUTION_TIME({millis}) */{statement[6:]}", parameters


def statement_timeout_error(timeout: float) -> InvalidParameter:
    """The answer to a read the database stopped at the statement timeout (400, never 5xx:
    MLflow's client retries a 5xx for minutes, re-running the same costly query)."""
    return InvalidParameter(
        f"The search was too expensive: the database stopped it after the server's statement "
        f"timeout of {timeout:g} s. Narrow it (fewer filter clauses or experiments, a smaller "
        "max_results) or ask the operator to raise --db-statement-timeout."
    )


def _timed_out(exc: DBAPIError) -> bool:
    """Whether the driver error is a statement stopped by the statement timeout (PostgreSQL
    57014 "statement timeout", MariaDB 1969, MySQL 3024) or interrupted (SQLite)."""
    if _mysql_code(exc) in (1969, 3024):
        return True
    text = str(exc.orig)
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if state == "57014":
        return "statement timeout" in text
    return type(exc.orig).__module__ == "sqlite3" and text == "interrupted"


#: Page cache of each SQLite reader connection, KiB. SQLite's default (2 MiB) holds a small
#: part of a 10k-run experiment's runs, params, tags and latest metrics, and every miss is a
#: read(2) (1000 of 10k runs: p50 ~140 -> ~125 ms); pages are only allocated as they are used.
READER_CACHE_KIB = 65536


def _sqlite_on_connect_reader(dbapi_conn: Any, record: Any) -> None:
    _sqlite_on_connect(dbapi_conn, record)
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
    cursor.close()


def _sqlite_on_connect_immediate(dbapi_conn: Any, record: Any) -> None:
    _sqlite_on_connect(dbapi_conn, record)
    # Let SQLAlchemy's "begin" event emit the BEGIN (pysqlite's own would be deferred).
    dbapi_conn.isolation_level = None


def _sqlite_begin_immediate(conn: Connection) -> None:
    # Take the write lock at BEGIN: checks and writes of a group see one consistent state
    # even when another process (a second server, mlflow) writes to the same file.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextlib.contextmanager
def _translate_errors(statement_timeout: float = 0) -> Any:
    """Map driver errors the store did not handle itself as MLflow's SQL store does (§3); a
    read stopped by the statement timeout is a 400 (`statement_timeout_error`)."""
    try:
        yield
    except AiotrackError:
        raise
    except OperationalError as exc:
        if _timed_out(exc):
            raise statement_timeout_error(statement_timeout) from exc
        code = _mysql_code(exc)
        if code is not None and code not in _MYSQL_UNAVAILABLE and not _retryable(exc):
            # MySQL reports most server-side refusals (a failed CHECK, a SIGNAL) as
            # OperationalError; only the codes above mean "try again".
            raise BadRequest(f"{exc.orig}") from exc
        raise TemporarilyUnavailable(
            f"Database is temporarily unavailable: {exc.orig}; {_UNAVAILABLE_HINT}"
        ) from exc
    except IntegrityError as exc:
        raise BadRequest(f"{exc.orig}") from exc
    except DBAPIError as exc:
        if _timed_out(exc):
            raise statement_timeout_error(statement_timeout) from exc
        # asyncpg reports connection loss and server shutdown as plain DBAPI errors.
        if exc.connection_invalidated or isinstance(exc, InterfaceError) or _retryable(exc):
            raise TemporarilyUnavailable(
                f"Lost the database connection: {exc.orig}; {_UNAVAILABLE_HINT}"
            ) from exc
        raise BadRequest(f"{exc.orig}") from exc
    except PoolTimeout as exc:
        raise TemporarilyUnavailable(
            "Every database connection is busy; retry shortly (or raise the pool size)"
        ) from exc
    except SQLAlchemyError as exc:
        raise BadRequest(str(exc)) from exc
    except (OSError, ConnectionError) as exc:
        raise TemporarilyUnavailable(
            f"Cannot reach the database: {exc}; {_UNAVAILABLE_HINT}"
        ) from exc


def _mysql_code(exc: DBAPIError) -> int | None:
    """The MySQL/MariaDB error number of a driver error, None for other drivers."""
    args: tuple[Any, ...] = tuple(getattr(exc.orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return args[0]
    return None


def _retryable(exc: DBAPIError) -> bool:
    """Whether the driver error's SQLSTATE (or MySQL error number) says "try again later"
    rather than "bad request"."""
    if _mysql_code(exc) in _MYSQL_UNAVAILABLE:
        return True
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if not isinstance(state, str):
        return False
    return state[:2] in _RETRYABLE_SQLSTATE_CLASSES or state in _RETRYABLE_SQLSTATES
