"""Check, create and upgrade the MLflow schema of a database.

``ensure_schema`` runs at server start: it creates the schema in an empty database and refuses to
touch one at another revision. ``upgrade`` backs ``aiotrack db upgrade URI``. Neither creates the
default experiment; the store does that.

The schema is identified, as in MLflow, by the single row of ``alembic_version``::

    no tables at all                  -> create everything at MLFLOW_HEAD_REVISION, stamp it
    MLFLOW_HEAD_REVISION              -> nothing to do
    SERVABLE_OLDER_REVISIONS          -> served as it is; ``aiotrack db upgrade`` brings it to head
    an older MLflow revision          -> SchemaOutOfDate (run ``aiotrack db upgrade``)
    any other revision                -> UnknownSchemaRevision (newer MLflow, or not MLflow)
    tables but no alembic_version row -> SchemaError (not an MLflow database)

Creation and upgrades take a lock first (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite, the named lock ``GET_LOCK`` on MySQL/MariaDB, released by ``_unlock``) and
run in one transaction, so several workers starting on an empty database create the schema once.
(MySQL commits each DDL statement by itself; the named lock alone keeps the workers apart.)
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import (
    Column,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from aiotrack.store.sql.migrations import SCRIPT_LOCATION
from aiotrack.store.sql.mlflow_migrations import (
    INSTALL_HINT,
    mlflow_migrations_available,
    upgrade_with_mlflow,
)
from aiotrack.store.sql.schema import MLFLOW_HEAD_REVISION, SqlWorkspace, metadata
from aiotrack.store.sql.urls import redact, to_async_url

if TYPE_CHECKING:
    # Alembic (with Mako and Pygments, ~11 MB) is imported only to create or migrate a schema,
    # never by a server whose database is already at head.
    from alembic.config import Config

__all__ = [
    "MLFLOW_HEAD_REVISION",
    "MLFLOW_REVISIONS",
    "SERVABLE_OLDER_REVISIONS",
    "NotAnMlflowDatabase",
    "SchemaError",
    "SchemaOutOfDate",
    "SchemaState",
    "UnknownSchemaRevision",
    "alembic_config",
    "check_schema_state",
    "create_schema",
    "ensure_schema",
    "read_schema_state",
    "upgrade",
]

#: MLflow's alembic revisions up to aiotrack's head, oldest first (3.17.2's, then the three
#: 3.18.0 adds); the last one is ``MLFLOW_HEAD_REVISION``.
MLFLOW_REVISIONS: tuple[str, ...] = (
    "451aebb31d03", "90e64c465722", "181f10493468", "df50e92ffc5e", "7ac759974ad8",
    "89d4b8295536", "2b4d017a5e9b", "cfd24bdc0731", "0a8213491aaa", "728d730b5ebd",
    "27a6a02d2cf1", "84291f40a231", "a8c4a736bde6", "39d1c3be5f05", "c48cb773bb87",
    "bd07f7e963c5", "0c779009ac13", "cc1f77228345", "97727af70f4d", "3500859a5d39",
    "7f2a7d5fae7d", "2d6e25af4d3e", "acf3f17fdcc7", "867495a8f9d4", "5b0e9adcef9c",
    "4465047574b1", "f5a4f2784254", "0584bdc529eb", "400f98739977", "6953534de441",
    "bda7b8c39065", "cbc13b556ace", "770bee3ae1dd", "a1b2c3d4e5f6", "de4033877273",
    "1a0cddfcaa16", "534353b11cbc", "71994744cf8e", "3da73c924c2f", "bf29a5ff90ea",
    "1bd49d398cd23", "b7c8d9e0f1a2", "5d2d30f0abce", "c9d4e5f6a7b8", "2c33131f4dae",
    "d3e4f5a6b7c8", "d0e1f2a3b4c5", "c8d9e0f1a2b3", "1b5f0d9ad7c1", "e1f2a3b4c5d6",
    "76601a5f987d", "c3d6457b6d8a", "a5b4c3d2e1f0", "ae8bbe7743c9", "7d34483879f0",
    "da6fb0208061", "89d3d66ed43f", "b7e4c1a90f23", "a8b9c0d1e2f3", "c1d2e3f4a5b6",
    "c3d9e7f1a2b4", "6f8d9c3b2a1e", "1971f2d9a75b", "17e22815139b", "b7e2c1a4d9f3",
    "75868b020152", "dc11669786a5",
    # MLflow 3.18.0:
    "e7d1f4b2a9c6", "8b6ad64cb8f5", "f4a9b2c7d1e6",
)  # fmt: skip
assert MLFLOW_REVISIONS[-1] == MLFLOW_HEAD_REVISION

#: Older revisions a server still opens as they are, because the revisions after them touch only
#: tables aiotrack does not read or write: MLflow 3.17.2's head, which 3.18.0 extends with the
#: skill registry, the issue contract (new ``issues`` columns, ``issue_categories``) and
#: case-sensitive MCP server versions on MySQL. ``aiotrack db upgrade`` still brings such a
#: database to the head, with aiotrack's own port of those three revisions.
SERVABLE_OLDER_REVISIONS: dict[str, str] = {
    "dc11669786a5": "MLflow 3.17.2's head",
}

_MLFLOW_VERSION = "MLflow 3.18.0"
#: Arbitrary constant key of the PostgreSQL advisory lock taken while creating/upgrading.
_PG_LOCK_KEY = 0x6169_6F74_7261_636B  # "aiotrack"
#: MySQL named lock (per server: the database name is part of it) and how long to wait for it.
_MYSQL_LOCK_PREFIX = "aiotrack_schema:"
_MYSQL_LOCK_WAIT_S = 300


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this aiotrack as it is."""


class SchemaOutOfDate(SchemaError):
    """The database is at an older MLflow revision; ``aiotrack db upgrade`` must run first."""


class UnknownSchemaRevision(SchemaError):
    """The database is at a revision this aiotrack does not know (e.g. from a newer MLflow)."""


class NotAnMlflowDatabase(SchemaError):
    """The database has tables but no MLflow ``alembic_version`` row."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a database holds: its table names and the rows of ``alembic_version``."""

    tables: frozenset[str]
    revisions: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """True when the database has no tables at all."""
        return not self.tables

    @property
    def revision(self) -> str | None:
        """The single alembic revision, or None when there is none (or several)."""
        return self.revisions[0] if len(self.revisions) == 1 else None


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An alembic ``Config`` for aiotrack's migrations, sharing ``connection`` when given."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def read_schema_state(connection: Connection) -> SchemaState:
    """Read the tables and ``alembic_version`` rows through a sync connection."""
    tables = frozenset(inspect(connection).get_table_names())
    revisions: tuple[str, ...] = ()
    if "alembic_version" in tables:  # what alembic's MigrationContext.get_current_heads reads
        result = connection.execute(text("SELECT version_num FROM alembic_version"))
        revisions = tuple(str(v) for v in result.scalars())
    return SchemaState(tables=tables, revisions=revisions)


def create_schema(connection: Connection) -> None:
    """Create every MLflow table with ``metadata.create_all`` plus MLflow's ``default`` workspace.

    Does not stamp ``alembic_version`` (the caller does) and does not create the default
    experiment.
    """
    metadata.create_all(connection)
    connection.execute(
        insert(SqlWorkspace).values(
            name="default", description="Default workspace for legacy resources"
        )
    )


#: The table ``alembic stamp`` creates (same name, column and key name), kept off ``metadata``.
_VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _create_and_stamp(connection: Connection) -> None:
    """``create_schema`` plus what ``alembic stamp`` writes for MLFLOW_HEAD_REVISION (the
    revision ``metadata`` models), without importing alembic."""
    # MySQL answers each named PRIMARY KEY of MLflow's schema with a warning ("Name 'run_pk'
    # ignored"), which asyncmy logs: ~70 lines of noise on every new database.
    driver_log = logging.getLogger("asyncmy")
    level = driver_log.level
    driver_log.setLevel(logging.ERROR)
    try:
        create_schema(connection)
        _VERSION_TABLE.create(connection)
        connection.execute(_VERSION_TABLE.insert().values(version_num=MLFLOW_HEAD_REVISION))
    finally:
        driver_log.setLevel(level)


def _aiotrack_can_upgrade_from(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _servable(revision: str | None) -> bool:
    return revision == MLFLOW_HEAD_REVISION or revision in SERVABLE_OLDER_REVISIONS


def _check(state: SchemaState, where: str) -> None:
    """Raise the SchemaError describing ``state`` unless it is at head (or empty)."""
    if state.is_empty or _servable(state.revision):
        return
    if not state.revisions:
        raise NotAnMlflowDatabase(
            f"The database at {where} has tables but no MLflow schema revision (no "
            "alembic_version row); it was not created by MLflow or aiotrack. Point aiotrack at "
            "an empty database or at one created by `mlflow server`/`mlflow db upgrade`."
        )
    if len(state.revisions) > 1:
        raise UnknownSchemaRevision(
            f"The database at {where} has several schema revisions "
            f"({', '.join(state.revisions)}); expected exactly one."
        )
    revision = state.revisions[0]
    if revision in MLFLOW_REVISIONS:
        message = (
            f"The database at {where} is at MLflow schema revision {revision}, older than this "
            f"aiotrack's {MLFLOW_HEAD_REVISION} ({_MLFLOW_VERSION}). Back it up, then run: "
            f"aiotrack db upgrade {where}"
        )
        if not _aiotrack_can_upgrade_from(revision) and not mlflow_migrations_available():
            message += f" (older revisions are migrated with MLflow's scripts: {INSTALL_HINT})"
        raise SchemaOutOfDate(message)
    raise UnknownSchemaRevision(
        f"The database at {where} is at schema revision {revision}, which this aiotrack does not "
        f"know (it supports {_MLFLOW_VERSION}'s {MLFLOW_HEAD_REVISION}). It was probably created "
        "by a newer MLflow; use an aiotrack release that supports it."
    )


def check_schema_state(state: SchemaState, where: str) -> None:
    """Raise the `SchemaError` that describes ``state`` unless aiotrack can serve it as it is
    (or it is empty); ``where`` names the database in the message."""
    _check(state, where)


async def _lock(connection: AsyncConnection) -> None:
    """Serialize schema creation/upgrade between processes; begins the transaction."""
    name = connection.dialect.name
    if name == "postgresql":
        await connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    elif name == "mysql":
        got = await connection.scalar(
            text("SELECT GET_LOCK(CONCAT(:prefix, DATABASE()), :wait)"),
            {"prefix": _MYSQL_LOCK_PREFIX, "wait": _MYSQL_LOCK_WAIT_S},
        )
        if got != 1:
            raise SchemaError(
                f"Timed out after {_MYSQL_LOCK_WAIT_S} s waiting for another process to finish "
                "creating or upgrading the schema"
            )
    elif name == "sqlite":
        # pysqlite/aiosqlite would not begin a transaction before DDL on their own; BEGIN
        # IMMEDIATE also takes the write lock up front, so a second process waits here. The
        # SELECT triggers SQLAlchemy's autobegin first: if the engine's own "begin" hook already
        # opened a transaction, a second BEGIN would fail, so keep that one.
        await connection.exec_driver_sql("SELECT 1")
        raw = await connection.get_raw_connection()
        if not getattr(raw.driver_connection, "in_transaction", False):
            await connection.exec_driver_sql("BEGIN IMMEDIATE")


async def _unlock(connection: AsyncConnection) -> None:
    """Release what ``_lock`` took beyond the transaction (MySQL's named lock lives on the
    connection, which goes back to the pool)."""
    if connection.dialect.name == "mysql" and not connection.closed:
        await connection.rollback()
        await connection.scalar(
            text("SELECT RELEASE_LOCK(CONCAT(:prefix, DATABASE()))"),
            {"prefix": _MYSQL_LOCK_PREFIX},
        )
        await connection.rollback()


def _where(engine: AsyncEngine | AsyncConnection) -> str:
    return redact(engine.engine.url if isinstance(engine, AsyncConnection) else engine.url)


async def ensure_schema(engine: AsyncEngine, *, uri: str | None = None) -> None:
    """Make sure ``engine``'s database holds the schema at ``MLFLOW_HEAD_REVISION``.

    Creates it (and stamps ``alembic_version``) in an empty database; does nothing at head.
    Raises ``SchemaOutOfDate`` for an older MLflow revision, ``UnknownSchemaRevision`` for an
    unknown one and ``NotAnMlflowDatabase`` for unversioned tables. Never creates experiments.
    """
    where = redact(uri) if uri else _where(engine)  # name the URI as the user wrote it
    async with engine.connect() as connection:
        state = await connection.run_sync(read_schema_state)
        if _servable(state.revision):
            return
        _check(state, where)
        await connection.rollback()
        await _lock(connection)
        try:
            state = await connection.run_sync(read_schema_state)  # another process may have won
            if state.is_empty:
                await connection.run_sync(_create_and_stamp)
                await connection.commit()
                return
            _check(state, where)
        finally:
            await _unlock(connection)


async def _upgrade(uri: str, out: TextIO) -> None:
    engine = create_async_engine(to_async_url(uri), poolclass=NullPool)
    where = redact(uri)
    try:
        async with engine.connect() as connection:
            await _lock(connection)
            state = await connection.run_sync(read_schema_state)
            if state.is_empty:
                print(
                    f"Creating the {_MLFLOW_VERSION} schema (revision {MLFLOW_HEAD_REVISION}) "
                    f"in {where} ...",
                    end=" ",
                    file=out,
                    flush=True,
                )
                await connection.run_sync(_create_and_stamp)
                await connection.commit()
                print("done", file=out)
                return
            if state.revision == MLFLOW_HEAD_REVISION:
                print(
                    f"{where} is already at revision {MLFLOW_HEAD_REVISION} ({_MLFLOW_VERSION}); "
                    "nothing to do.",
                    file=out,
                )
                return
            revision = state.revision
            if revision in MLFLOW_REVISIONS and not _aiotrack_can_upgrade_from(revision):
                # Older than aiotrack's baseline: MLflow's own migrations take it to their head,
                # which aiotrack's chain continues from.
                if not mlflow_migrations_available():
                    raise SchemaOutOfDate(
                        f"The database at {where} is at MLflow schema revision {revision}; "
                        f"upgrading it uses MLflow's migration scripts: run `{INSTALL_HINT}`, "
                        f"then `aiotrack db upgrade {where}` again."
                    )
                print(f"Upgrading {where} from {revision} to {MLFLOW_HEAD_REVISION}:", file=out)
                # MLflow migrates on a connection of its own: end ours (and its locks) first.
                await connection.rollback()
                revision = await asyncio.to_thread(
                    upgrade_with_mlflow, uri, out, _aiotrack_can_upgrade_from
                )
                if revision == MLFLOW_HEAD_REVISION:
                    return
                await _lock(connection)
                print(
                    f"running aiotrack's migrations from {revision} ...",
                    end=" ",
                    file=out,
                    flush=True,
                )
            elif revision is None or not _aiotrack_can_upgrade_from(revision):
                _check(state, where)  # raises the matching SchemaError
                raise AssertionError("unreachable")
            else:
                print(
                    f"Upgrading {where} from {revision} to {MLFLOW_HEAD_REVISION} ...",
                    end=" ",
                    file=out,
                    flush=True,
                )

            def run(sync_connection: Connection) -> None:
                from alembic import command

                command.upgrade(alembic_config(sync_connection), "head")

            await connection.run_sync(run)
            await connection.commit()
            print("done", file=out)
    finally:
        await engine.dispose()


def upgrade(uri: str, *, out: TextIO | None = None) -> None:
    """Bring the database at ``uri`` to ``MLFLOW_HEAD_REVISION`` (``aiotrack db upgrade URI``).

    Creates the schema in an empty database, does nothing at head, migrates from older revisions
    aiotrack knows, and raises ``SchemaError`` otherwise (``ConfigError`` for a bad URI). Prints
    progress to ``out`` (stdout by default). Runs its own event loop: call it from sync code only.
    """
    asyncio.run(_upgrade(uri, out if out is not None else sys.stdout))
