"""aiotrack's schema against the one MLflow 3.18.0's ``mlflow db upgrade`` creates.

The reference databases come from a real MLflow in its own virtualenv: MLflow 3.18.0 from
``tests.servers.reference18_bin`` (``AIOTRACK_MLFLOW_REFERENCE18``, default ``<repo>/.venv-ref18``),
and, for databases at MLflow 3.17.2's head, ``tests.servers.reference_bin``
(``AIOTRACK_MLFLOW_REFERENCE``, default ``<repo>/.venv-ref``). PostgreSQL tests
use ``AIOTRACK_TEST_PG_URI`` (an admin URI, default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and create/drop their own ``aiotrack_schema_*`` databases; MariaDB tests use ``tests.mariadb``
(``AIOTRACK_TEST_MYSQL_URI``) and ``aiotrack_schema*`` databases. When a service is missing the
tests skip, except under ``CI=true`` where they fail.

What must be identical (on SQLite, PostgreSQL *and* MariaDB), after reflection:

* table names; per table the column names **in order**, their types (as the dialect compiles the
  reflected type), nullability, server defaults, generated-column expressions and identity;
* primary keys, foreign keys (name, columns, target, ON DELETE / ON UPDATE), unique constraints,
  check constraints (name and expression), indexes (name, columns, uniqueness, sort order,
  PostgreSQL INCLUDE / WHERE);
* triggers and trigger functions, the ``alembic_version`` row and the ``workspaces`` rows MLflow's
  migrations insert.

Normalised away, because neither MLflow nor a database engine sees a difference: runs of
whitespace inside SQL text, the letter case of FK actions (``cascade`` vs ``CASCADE``, SQLite keeps
what the DDL said), PostgreSQL's empty ``postgresql_include`` option, and the unique indexes
PostgreSQL creates behind unique constraints (compared as the constraints). SQLite constraint
*order* inside ``CREATE TABLE`` is not visible through reflection and is not compared.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from aiotrack.store.sql.migrate import (
    MLFLOW_HEAD_REVISION,
    MLFLOW_REVISIONS,
    NotAnMlflowDatabase,
    SchemaOutOfDate,
    UnknownSchemaRevision,
    ensure_schema,
    upgrade,
)
from aiotrack.store.sql.schema import metadata
from aiotrack.store.sql.urls import (
    ConfigError,
    is_mysql,
    is_postgresql,
    is_sqlite,
    to_async_url,
)
from tests.mariadb import drop_mariadb_database, mariadb_available, new_mariadb_database
from tests.servers import reference18_bin
from tests.services import unavailable


def _reference_python() -> Path:
    """The interpreter of the reference MLflow 3.18.0, whose schema aiotrack creates."""
    return reference18_bin() / "python"


def _mlflow_db_upgrade(sync_uri: str, python: Path | None = None) -> None:
    """``mlflow db upgrade`` with the reference MLflow 3.18.0 (or the one of ``python``)."""
    result = subprocess.run(
        [str(python or _reference_python()), "-m", "mlflow", "db", "upgrade", sync_uri],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"mlflow db upgrade {sync_uri} failed:\n{result.stderr[-3000:]}")


# --- reflection --------------------------------------------------------------------------------


def _sql(text: object) -> str | None:
    return None if text is None else re.sub(r"\s+", " ", str(text)).strip()


def _describe_sync(conn: Connection) -> dict[str, Any]:
    insp = sa.inspect(conn)
    dialect = conn.dialect
    tables: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        columns = []
        for col in insp.get_columns(table):
            identity = col.get("identity")
            computed = col.get("computed")
            columns.append(
                {
                    "name": col["name"],
                    "type": col["type"].compile(dialect=dialect),
                    "nullable": col["nullable"],
                    "default": _sql(col.get("default")),
                    "computed": None if computed is None else _sql(computed["sqltext"]),
                    "identity": None if identity is None else bool(identity.get("always")),
                }
            )
        pk = insp.get_pk_constraint(table)
        fks = sorted(
            [
                fk["name"],
                fk["constrained_columns"],
                fk["referred_table"],
                fk["referred_columns"],
                sorted((k, str(v).upper()) for k, v in (fk.get("options") or {}).items()),
            ]
            for fk in insp.get_foreign_keys(table)
        )
        uniques = sorted([u["name"], u["column_names"]] for u in insp.get_unique_constraints(table))
        indexes = []
        for ix in insp.get_indexes(table):
            if ix.get("duplicates_constraint"):
                continue  # PostgreSQL's index behind a unique constraint: compared as the constraint
            options = {
                k: (_sql(v) if k.endswith("_where") else v)
                for k, v in (ix.get("dialect_options") or {}).items()
                if v not in ([], None)
            }
            indexes.append(
                [
                    ix["name"],
                    [str(c) for c in ix["column_names"]],
                    bool(ix["unique"]),
                    options,
                    {k: list(v) for k, v in (ix.get("column_sorting") or {}).items()},
                ]
            )
        checks = sorted(
            [c["name"] or "", _sql(c["sqltext"])] for c in insp.get_check_constraints(table)
        )
        tables[table] = {
            "columns": columns,
            "primary_key": [pk["name"], pk["constrained_columns"]],
            "foreign_keys": fks,
            "unique_constraints": uniques,
            "indexes": sorted(indexes, key=lambda ix: str(ix[0])),
            "check_constraints": checks,
        }
    functions: Sequence[Any] = []
    if dialect.name == "sqlite":
        triggers = conn.exec_driver_sql(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        ).all()
    elif dialect.name == "mysql":
        triggers = conn.exec_driver_sql(
            "SELECT trigger_name, event_object_table, CONCAT_WS(' ', action_timing, "
            "event_manipulation, action_orientation, action_statement) "
            "FROM information_schema.triggers WHERE trigger_schema = DATABASE() "
            "ORDER BY trigger_name"
        ).all()
    else:
        triggers = conn.exec_driver_sql(
            "SELECT tgname, tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE NOT tgisinternal ORDER BY tgname"
        ).all()
        functions = conn.exec_driver_sql(
            "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = current_schema() ORDER BY p.proname"
        ).all()
    version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    workspaces = conn.exec_driver_sql("SELECT * FROM workspaces ORDER BY name").all()
    return {
        "tables": tables,
        "triggers": [[n, t, _sql(s)] for n, t, s in triggers],
        "functions": [[n, _sql(s)] for n, s in functions],
        "alembic_version": list(version),
        "workspaces": [list(r) for r in workspaces],
    }


async def _describe(async_url: str) -> dict[str, Any]:
    engine = create_async_engine(async_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            described: dict[str, Any] = await conn.run_sync(_describe_sync)
    finally:
        await engine.dispose()
    # Round-trip through JSON so tuples/lists and rows compare alike.
    result: dict[str, Any] = json.loads(json.dumps(described, default=str))
    return result


def _differences(reference: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Human-readable differences, table by table, so a failure says what to fix."""
    out = []
    ref_tables, our_tables = reference["tables"], ours["tables"]
    for name in sorted(set(ref_tables) - set(our_tables)):
        out.append(f"table {name}: missing in aiotrack")
    for name in sorted(set(our_tables) - set(ref_tables)):
        out.append(f"table {name}: not in MLflow")
    for name in sorted(set(ref_tables) & set(our_tables)):
        for aspect, ref_value in ref_tables[name].items():
            if our_tables[name][aspect] != ref_value:
                out.append(
                    f"table {name} {aspect}:\n  mlflow:   {ref_value}\n  aiotrack: {our_tables[name][aspect]}"
                )
    for key in ("triggers", "functions", "alembic_version", "workspaces"):
        if reference[key] != ours[key]:
            out.append(f"{key}:\n  mlflow:   {reference[key]}\n  aiotrack: {ours[key]}")
    return out


async def _ensure(async_url: str) -> None:
    engine = create_async_engine(async_url, poolclass=NullPool)
    try:
        await ensure_schema(engine)
    finally:
        await engine.dispose()


# --- databases ---------------------------------------------------------------------------------


def _pg_admin_url() -> str:
    return to_async_url(
        os.environ.get("AIOTRACK_TEST_PG_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
    )


async def _pg_admin(statement: str) -> None:
    engine = create_async_engine(_pg_admin_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


class PgDatabases:
    """Creates scratch ``aiotrack_schema_*`` databases and drops them at teardown."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def create(self, purpose: str) -> str:
        """A new empty database; returns its asyncpg URL."""
        name = f"aiotrack_schema_{purpose}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop every database this object created."""
        for name in self.names:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def pg() -> Iterator[PgDatabases]:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        unavailable(f"PostgreSQL not reachable at {_pg_admin_url()}: {exc}")
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


def _sync_pg_url(async_url: str) -> str:
    # The reference MLflow runs SQLAlchemy 2.1, whose default PostgreSQL driver is psycopg 3;
    # name psycopg2 explicitly (the reference venv has psycopg2-binary).
    return make_url(async_url).set(drivername="postgresql+psycopg2").render_as_string(False)


class MariaDatabases:
    """Creates scratch ``aiotrack_schema*`` MariaDB databases and drops them at teardown."""

    def __init__(self) -> None:
        self.uris: list[str] = []

    def create(self, purpose: str) -> str:
        """A new empty database; returns its ``mysql+pymysql://`` URI (sync, for MLflow)."""
        uri = new_mariadb_database(f"schema_{purpose}")
        self.uris.append(uri)
        return uri

    def drop_all(self) -> None:
        for uri in self.uris:
            drop_mariadb_database(uri)


@pytest.fixture(scope="module")
def maria() -> Iterator[MariaDatabases]:
    mariadb_available()
    dbs = MariaDatabases()
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="module")
def mlflow_mariadb(maria: MariaDatabases) -> str:
    """Async URL of a MariaDB database created by the reference ``mlflow db upgrade``."""
    uri = maria.create("ref")
    _mlflow_db_upgrade(uri)
    return to_async_url(uri)


@pytest.fixture(scope="module")
def mlflow_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database created by the reference ``mlflow db upgrade`` (read-only: copy it)."""
    path = tmp_path_factory.mktemp("mlflow_ref") / "mlflow.db"
    _mlflow_db_upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def mlflow_sqlite_described(mlflow_sqlite: Path) -> dict[str, Any]:
    return asyncio.run(_describe(f"sqlite+aiosqlite:///{mlflow_sqlite}"))


@pytest.fixture(scope="module")
def mlflow_pg(pg: PgDatabases) -> str:
    """Async URL of a PostgreSQL database created by the reference ``mlflow db upgrade``."""
    url = pg.create("ref")
    _mlflow_db_upgrade(_sync_pg_url(url))
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'aiotrack.db'}"


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(sqlite_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


# --- (a) the schema is MLflow's ----------------------------------------------------------------


@pytest.mark.reference
def test_sqlite_schema_matches_mlflow(
    sqlite_url: str, mlflow_sqlite_described: dict[str, Any]
) -> None:
    asyncio.run(_ensure(sqlite_url))
    ours = asyncio.run(_describe(sqlite_url))
    assert _differences(mlflow_sqlite_described, ours) == []
    assert ours["alembic_version"] == [MLFLOW_HEAD_REVISION]


@pytest.mark.reference
@pytest.mark.postgres
def test_postgresql_schema_matches_mlflow(pg: PgDatabases, mlflow_pg: str) -> None:
    ours_url = pg.create("ours")
    asyncio.run(_ensure(ours_url))
    reference, ours = asyncio.run(_describe(mlflow_pg)), asyncio.run(_describe(ours_url))
    assert _differences(reference, ours) == []
    assert ours["alembic_version"] == [MLFLOW_HEAD_REVISION]


@pytest.mark.reference
@pytest.mark.mariadb
def test_mariadb_schema_matches_mlflow(maria: MariaDatabases, mlflow_mariadb: str) -> None:
    ours_url = to_async_url(maria.create("ours"))
    asyncio.run(_ensure(ours_url))
    reference, ours = asyncio.run(_describe(mlflow_mariadb)), asyncio.run(_describe(ours_url))
    assert _differences(reference, ours) == []
    assert ours["alembic_version"] == [MLFLOW_HEAD_REVISION]


@pytest.mark.reference
@pytest.mark.mariadb
def test_ensure_schema_is_a_noop_on_mlflow_mariadb(mlflow_mariadb: str) -> None:
    before = asyncio.run(_describe(mlflow_mariadb))
    asyncio.run(_ensure(mlflow_mariadb))
    assert _differences(before, asyncio.run(_describe(mlflow_mariadb))) == []


@pytest.mark.mariadb
async def test_ensure_schema_concurrently_on_mariadb(maria: MariaDatabases) -> None:
    url = to_async_url(maria.create("race"))
    engines = [create_async_engine(url, poolclass=NullPool) for _ in range(3)]
    try:
        await asyncio.gather(*(ensure_schema(e) for e in engines))
        await ensure_schema(engines[0])
        async with engines[0].connect() as conn:
            versions = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
            workspaces = (await conn.exec_driver_sql("SELECT count(*) FROM workspaces")).scalar()
    finally:
        for engine in engines:
            await engine.dispose()
    assert versions == [(MLFLOW_HEAD_REVISION,)]
    assert workspaces == 1


def test_metadata_covers_every_mlflow_table(mlflow_sqlite_described: dict[str, Any]) -> None:
    assert set(metadata.tables) == set(mlflow_sqlite_described["tables"]) - {"alembic_version"}


@pytest.mark.reference
def test_mlflow_server_opens_an_aiotrack_database(sqlite_url: str, tmp_path: Path) -> None:
    """MLflow's own store accepts the database as it is (no 'out-of-date schema' error)."""
    asyncio.run(_ensure(sqlite_url))
    sync_uri = sqlite_url.replace("sqlite+aiosqlite", "sqlite")
    script = (
        "import sys\n"
        "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
        "from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Registry\n"
        "store = SqlAlchemyStore(sys.argv[1], sys.argv[2])\n"
        "exp = store.create_experiment('from-mlflow')\n"
        "run = store.create_run(exp, 'u', 0, [], 'r')\n"
        "Registry(sys.argv[1]).create_registered_model('m')\n"
        "print(len(store.search_experiments()))\n"
    )
    result = subprocess.run(
        [str(_reference_python()), "-c", script, sync_uri, str(tmp_path / "artifacts")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "2"  # MLflow's Default + ours


# --- (b) ensure_schema leaves an MLflow database alone -----------------------------------------


@pytest.mark.reference
def test_ensure_schema_is_a_noop_on_mlflow_sqlite(
    mlflow_sqlite: Path, mlflow_sqlite_described: dict[str, Any], tmp_path: Path
) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(mlflow_sqlite, copy)
    url = f"sqlite+aiosqlite:///{copy}"
    asyncio.run(_ensure(url))
    assert _differences(mlflow_sqlite_described, asyncio.run(_describe(url))) == []


@pytest.mark.reference
@pytest.mark.postgres
def test_ensure_schema_is_a_noop_on_mlflow_postgresql(mlflow_pg: str) -> None:
    before = asyncio.run(_describe(mlflow_pg))
    asyncio.run(_ensure(mlflow_pg))
    assert _differences(before, asyncio.run(_describe(mlflow_pg))) == []


async def test_ensure_schema_twice_and_concurrently(sqlite_url: str) -> None:
    engines = [create_async_engine(sqlite_url, poolclass=NullPool) for _ in range(3)]
    try:
        await asyncio.gather(*(ensure_schema(e) for e in engines))
        await ensure_schema(engines[0])
        async with engines[0].connect() as conn:
            versions = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
            experiments = (await conn.exec_driver_sql("SELECT count(*) FROM experiments")).scalar()
    finally:
        for engine in engines:
            await engine.dispose()
    assert versions == [(MLFLOW_HEAD_REVISION,)]
    assert experiments == 0  # the store, not the schema code, creates the Default experiment


# --- (c) other revisions are refused -----------------------------------------------------------


async def _set_revision(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


async def test_older_revision_is_out_of_date(sqlite_engine: AsyncEngine) -> None:
    await ensure_schema(sqlite_engine)
    older = MLFLOW_REVISIONS[-2]
    await _set_revision(sqlite_engine, older)
    with pytest.raises(SchemaOutOfDate) as info:
        await ensure_schema(sqlite_engine)
    message = str(info.value)
    assert older in message
    assert MLFLOW_HEAD_REVISION in message
    assert "aiotrack db upgrade sqlite+aiosqlite:///" in message
    assert "Back it up" in message


async def test_unknown_revision_is_refused(sqlite_engine: AsyncEngine) -> None:
    await ensure_schema(sqlite_engine)
    await _set_revision(sqlite_engine, "ffffffffffff")
    with pytest.raises(UnknownSchemaRevision, match="ffffffffffff"):
        await ensure_schema(sqlite_engine)


async def test_unversioned_tables_are_refused(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE something (id INTEGER)")
    with pytest.raises(NotAnMlflowDatabase):
        await ensure_schema(sqlite_engine)


def test_upgrade_creates_then_reports_head(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    out = io.StringIO()
    upgrade(uri, out=out)
    upgrade(uri, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(
        f"Creating the MLflow 3.18.0 schema (revision {MLFLOW_HEAD_REVISION})"
    )
    assert lines[0].endswith("done")
    assert "already at revision" in lines[1]


def test_upgrade_without_mlflow_migrations_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Older revisions are migrated with MLflow's own scripts (tests/store/test_upgrade_older.py);
    # without them installed, the command must say how to get them instead of failing oddly.
    import aiotrack.store.sql.migrate as migrate_module

    monkeypatch.setattr(migrate_module, "mlflow_migrations_available", lambda: False)
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(uri, out=io.StringIO())
    engine = create_async_engine(to_async_url(uri), poolclass=NullPool)

    async def stamp_old() -> None:
        await _set_revision(engine, MLFLOW_REVISIONS[0])
        await engine.dispose()

    asyncio.run(stamp_old())
    with pytest.raises(SchemaOutOfDate, match=r"pip install 'aiotrack\[migrate\]'"):
        upgrade(uri, out=io.StringIO())


# --- (d) URI mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlflow.db", "sqlite+aiosqlite:///mlflow.db"),
        ("sqlite:///./sub/dir.db", "sqlite+aiosqlite:///./sub/dir.db"),
        ("sqlite:////abs/path/mlflow.db", "sqlite+aiosqlite:////abs/path/mlflow.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("sqlite+pysqlite:///x.db?timeout=30", "sqlite+aiosqlite:///x.db?timeout=30"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+pg8000://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://u:p%40ss@h/db", "postgresql+asyncpg://u:p%40ss@h/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        ("postgresql://u@h/db?ssl=verify-full", "postgresql+asyncpg://u@h/db?ssl=verify-full"),
        (
            "postgresql://u@/db?host=/var/run/postgresql",
            "postgresql+asyncpg://u@/db?host=%2Fvar%2Frun%2Fpostgresql",
        ),
        ("mysql://u:p@h:3307/db", "mysql+asyncmy://u:p@h:3307/db"),
        ("mysql+pymysql://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mysql+mysqldb://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mysql+mysqlconnector://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mysql+aiomysql://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mysql+asyncmy://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mariadb://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mariadb+pymysql://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mariadb+mariadbconnector://u@h/db", "mysql+asyncmy://u@h/db"),
        ("mysql://u:p%40ss@h/db?charset=utf8mb4", "mysql+asyncmy://u:p%40ss@h/db?charset=utf8mb4"),
        ("mysql://u@h/db?ssl_ca=/ca.pem", "mysql+asyncmy://u@h/db?ssl_ca=%2Fca.pem"),
    ],
)
def test_to_async_url(uri: str, expected: str) -> None:
    assert to_async_url(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://u@h/db?sslmode=require", "sslmode"),
        ("mssql+pyodbc://u@h/db", "not supported"),
        ("oracle://u@h/db", "Unsupported database URI scheme"),
        ("./mlruns", "not a database URI"),
        ("file:///tmp/mlruns", "Unsupported database URI scheme"),
        ("postgresql://u@h/db?connect_timeout=5", "connect_timeout"),
    ],
)
def test_to_async_url_errors(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        to_async_url(uri)


def test_config_error_hides_password() -> None:
    with pytest.raises(ConfigError) as info:
        to_async_url("mssql://user:secret@h/db")
    assert "secret" not in str(info.value)


def test_backend_predicates() -> None:
    assert is_sqlite("sqlite+aiosqlite:///x.db") and is_sqlite("sqlite://")
    assert is_postgresql("postgresql+asyncpg://u@h/db") and is_postgresql("postgres://u@h/db")
    assert not is_sqlite("postgresql://u@h/db") and not is_postgresql("sqlite://")
    assert is_mysql("mysql+asyncmy://u@h/db") and is_mysql("mariadb://u@h/db")
    assert not is_mysql("postgresql://u@h/db") and not is_mysql("sqlite://")


async def test_ensure_schema_with_an_engine_that_begins_its_own_transactions(
    sqlite_url: str,
) -> None:
    """The SQLAlchemy recipe for real SQLite transactions (explicit BEGIN in a 'begin' hook)."""
    engine = create_async_engine(sqlite_url, poolclass=NullPool)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        await ensure_schema(engine)
        await ensure_schema(engine)
    finally:
        await engine.dispose()
    assert (await _describe(sqlite_url))["alembic_version"] == [MLFLOW_HEAD_REVISION]
