"""A database at MLflow 3.17.2's head: served as it is, and brought to MLflow 3.18.0's head by
``aiotrack db upgrade`` exactly as ``mlflow db upgrade`` 3.18.0 does it.

For each backend, two databases are made by the reference MLflow 3.17.2's ``mlflow db upgrade``
and given the same rows (an issue with JSON categories, and on MySQL an MCP server version with
an alias, a tag and an access endpoint referring to it). One is upgraded by MLflow 3.18.0, the
other by aiotrack (its port of 3.18's three revisions, no MLflow involved); their schemas
(``tests.store.test_schema._describe``) and the rows the migrations backfill must be identical.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from aiotrack.store.sql.migrate import MLFLOW_HEAD_REVISION, SchemaError, ensure_schema, upgrade
from aiotrack.store.sql.urls import to_async_url
from tests.servers import reference_bin
from tests.store.test_schema import (
    MariaDatabases,
    PgDatabases,
    _describe,
    _differences,
    _mlflow_db_upgrade,
    _sync_pg_url,
    maria,
    pg,
)

__all__ = ["maria", "pg"]  # the module-scoped fixtures, imported for pytest

pytestmark = pytest.mark.reference

MLFLOW_317_HEAD = "dc11669786a5"
T = 1_700_000_000_000

_ROWS = [
    "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
    "creation_time, last_update_time) VALUES (7, 'e', '/a', 'active', 1, 1)",
    "INSERT INTO issues (issue_id, experiment_id, name, description, status, categories, "
    f"created_timestamp, last_updated_timestamp) VALUES ('i1', 7, 'n', 'd', 'open', "
    f'\'["Latency", " latency ", "Hallucination"]\', {T}, {T + 5})',
    "INSERT INTO issues (issue_id, experiment_id, name, description, status, "
    f"created_timestamp, last_updated_timestamp) VALUES ('i2', 7, 'n2', 'd', 'open', {T + 1}, "
    f"{T + 9})",
]
_MCP_ROWS = [
    "INSERT INTO mcp_servers (name, created_at, last_updated_at) VALUES ('srv', 1, 1)",
    "INSERT INTO mcp_server_versions (name, version, version_major, version_minor, "
    "version_patch, version_prerelease_sort_key, server_json, created_at, last_updated_at) "
    "VALUES ('srv', '1.0.0-RC1', 1, 0, 0, 'rc1', '{}', 1, 1)",
    "INSERT INTO mcp_server_aliases (name, alias, version) VALUES ('srv', 'prod', '1.0.0-RC1')",
    "INSERT INTO mcp_server_version_tags (name, version, `key`, value) "
    "VALUES ('srv', '1.0.0-RC1', 'k', 'v')",
    "INSERT INTO mcp_access_endpoints (id, server_name, server_version, url, created_at, "
    "last_updated_at) VALUES ('ep', 'srv', '1.0.0-RC1', 'http://x', 1, 1)",
]


def _at_317_head(sync_uri: str, mysql: bool = False) -> None:
    """Create MLflow 3.17.2's schema at ``sync_uri`` and add the test rows."""
    _mlflow_db_upgrade(sync_uri, reference_bin() / "python")
    engine = sa.create_engine(sync_uri, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for statement in _ROWS + (_MCP_ROWS if mysql else []):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _rows(sync_uri: str) -> dict[str, Any]:
    engine = sa.create_engine(sync_uri, poolclass=NullPool)
    queries = {
        "issues": "SELECT issue_id, last_seen_timestamp, last_updated_by, metadata FROM issues "
        "ORDER BY issue_id",
        "issue_categories": "SELECT issue_id, category_hash, category FROM issue_categories "
        "ORDER BY issue_id, category_hash",
        "mcp": "SELECT name, alias, version FROM mcp_server_aliases ORDER BY alias",
    }
    try:
        with engine.connect() as conn:
            return {k: [list(r) for r in conn.exec_driver_sql(q)] for k, q in queries.items()}
    finally:
        engine.dispose()


def _served_as_is(async_url: str) -> None:
    """ensure_schema (what the server runs at start) accepts the 3.17.2 database untouched."""
    before = asyncio.run(_describe(async_url))
    assert before["alembic_version"] == [MLFLOW_317_HEAD]

    async def ensure() -> None:
        engine = create_async_engine(async_url, poolclass=NullPool)
        try:
            await ensure_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(ensure())
    assert _differences(before, asyncio.run(_describe(async_url))) == []


def _check_pair(
    theirs: str, ours: str, async_url: Callable[[str], str] = to_async_url
) -> dict[str, Any]:
    """Upgrade ``theirs`` with MLflow 3.18.0 and ``ours`` with aiotrack; both end identical."""
    _served_as_is(async_url(ours))
    _mlflow_db_upgrade(theirs)
    out = io.StringIO()
    upgrade(ours, out=out)
    assert f"from {MLFLOW_317_HEAD} to {MLFLOW_HEAD_REVISION}" in out.getvalue()
    reference = asyncio.run(_describe(async_url(theirs)))
    upgraded = asyncio.run(_describe(async_url(ours)))
    assert _differences(reference, upgraded) == []
    assert upgraded["alembic_version"] == [MLFLOW_HEAD_REVISION]
    rows = _rows(ours)
    assert rows == _rows(theirs)
    # Not vacuous: the backfill ran (both spellings of "latency" hash alike).
    assert rows["issues"] == [["i1", T, None, None], ["i2", T + 1, None, None]]
    assert [r[2] for r in rows["issue_categories"]] in (
        [" latency ", "Hallucination"],
        ["Hallucination", " latency "],
    )
    again = io.StringIO()
    upgrade(ours, out=again)
    assert "nothing to do" in again.getvalue()
    return upgraded


def test_sqlite_317_head_upgraded_like_mlflow(tmp_path: Path) -> None:
    theirs = f"sqlite:///{tmp_path / 'theirs.db'}"
    _at_317_head(theirs)
    shutil.copy(tmp_path / "theirs.db", tmp_path / "ours.db")
    _check_pair(theirs, f"sqlite:///{tmp_path / 'ours.db'}")


@pytest.mark.postgres
def test_postgresql_317_head_upgraded_like_mlflow(pg: PgDatabases) -> None:
    theirs, ours = _sync_pg_url(pg.create("up_theirs")), _sync_pg_url(pg.create("up_ours"))
    _at_317_head(theirs)
    _at_317_head(ours)
    _check_pair(theirs, ours)


@pytest.mark.mariadb
def test_mariadb_317_head_upgraded_like_mlflow(maria: MariaDatabases) -> None:
    theirs, ours = maria.create("up_theirs"), maria.create("up_ours")
    _at_317_head(theirs, mysql=True)
    _at_317_head(ours, mysql=True)
    upgraded = _check_pair(theirs, ours)
    versions = upgraded["tables"]["mcp_server_versions"]["columns"]
    assert "utf8mb4_bin" in next(c["type"] for c in versions if c["name"] == "version")


@pytest.mark.mariadb
def test_mariadb_upgrade_refuses_versions_matching_only_case_insensitively(
    maria: MariaDatabases,
) -> None:
    """An alias naming '1.0.0-rc1' for the stored '1.0.0-RC1' would dangle once versions are
    case-sensitive: the upgrade stops before re-collating, as MLflow's does."""
    uri = maria.create("up_case")
    _at_317_head(uri, mysql=True)
    engine = sa.create_engine(uri, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE mcp_server_aliases SET version = '1.0.0-rc1'")
    engine.dispose()
    with pytest.raises(SchemaError, match="Cannot make MCP server versions case-sensitive"):
        upgrade(uri, out=io.StringIO())
    described = asyncio.run(_describe(to_async_url(uri)))
    versions = described["tables"]["mcp_server_versions"]["columns"]
    assert "utf8mb4_bin" not in next(c["type"] for c in versions if c["name"] == "version")
