"""An MLflow database older than aiotrack's baseline: refused at start with a message naming
`aiotrack db upgrade`, and that command (running MLflow's own migrations) brings it to head."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiotrack.store.sql.schema import MLFLOW_HEAD_REVISION
from tests.servers import drop_postgres_database, new_postgres_database

OLD_REVISION_INDEX = 40  # a mid-2024 MLflow schema: far enough back to need many migrations


def _make_old_mlflow_db(uri: str, index: int = OLD_REVISION_INDEX) -> str:
    from alembic import command
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    engine = sa.create_engine(uri)
    try:
        InitialBase.metadata.create_all(engine)
        config = _get_alembic_config(uri)
        revisions = [r.revision for r in ScriptDirectory.from_config(config).walk_revisions()]
        target = revisions[::-1][index]
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, target)
        return target
    finally:
        engine.dispose()


def _revision(uri: str) -> str:
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())
    finally:
        engine.dispose()


def _aiotrack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiotrack", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path}/old.db"
        yield uri, uri
        return
    uri = new_postgres_database("aiotrack_old")
    try:
        yield uri, uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    finally:
        drop_postgres_database(uri)


def test_older_database_is_refused_then_upgraded(old_db: tuple[str, str], tmp_path: Path) -> None:
    uri, sync_uri = old_db
    old = _make_old_mlflow_db(sync_uri)
    assert old != MLFLOW_HEAD_REVISION

    started = _aiotrack("server", "--backend-store-uri", uri, "--port", "0", cwd=tmp_path)
    assert started.returncode == 1
    assert f"aiotrack db upgrade {uri}" in started.stderr
    assert old in started.stderr

    upgraded = _aiotrack("db", "upgrade", uri, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from {old} to {MLFLOW_HEAD_REVISION}" in upgraded.stdout
    assert _revision(sync_uri) == MLFLOW_HEAD_REVISION

    again = _aiotrack("db", "upgrade", uri, cwd=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_mlflow_317_head_is_served_as_is_then_upgraded(tmp_path: Path) -> None:
    """MLflow 3.18.0 adds three revisions touching tables aiotrack does not use; a database at
    MLflow 3.17.2's head must be served without migration, and `db upgrade` (aiotrack's port of
    those revisions, no MLflow needed) takes it to 3.18.0's head."""
    uri = f"sqlite:///{tmp_path}/m317.db"
    assert _make_old_mlflow_db(uri, -1) == "dc11669786a5"  # the installed mlflow-skinny's head
    _serves(uri, tmp_path)
    assert _revision(uri) == "dc11669786a5"
    upgraded = _aiotrack("db", "upgrade", uri, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from dc11669786a5 to {MLFLOW_HEAD_REVISION}" in upgraded.stdout
    assert _revision(uri) == MLFLOW_HEAD_REVISION
    _serves(uri, tmp_path)


def _serves(uri: str, tmp_path: Path) -> None:
    """Start ``aiotrack server`` on ``uri``; it must listen with no error logged."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiotrack", "server", "--backend-store-uri", uri, "--port", "0"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "listening on" in line:
                break
            assert "ERROR" not in line, line
        else:
            pytest.fail("the server exited without listening")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
