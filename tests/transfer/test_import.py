"""``aiotrack import SRC DST`` end to end: the real command, real databases, real servers.

A file store written by the real mlflow client is imported into SQLite, PostgreSQL and MariaDB;
aiotrack serving the source and aiotrack serving the destination must then answer the same
(experiments, runs/search, every metric history, logged models), and the registry must be
there. A SQL source is copied row for row with its ids. The acceptance scale (1,000 runs,
1,000,000 points into PostgreSQL) is imported, interrupted, resumed, and compared.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import (
    PG_ADMIN_URI,
    drop_postgres_database,
    new_postgres_database,
    start_aiotrack,
)
from tests.transfer.stores import answers, write_rich_mlruns, write_scale_mlruns

IMPORT_TIMEOUT_S = 600


def run_import(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiotrack", "import", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_S,
    )


def sync_url(uri: str) -> str:
    """A URI the test's own (synchronous) SQLAlchemy can open."""
    if uri.startswith("mysql"):
        return "mysql+pymysql://" + uri.split("://", 1)[1]
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg2://" + uri.removeprefix("postgresql://")
    return uri


def table_rows(uri: str, table: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(sync_url(uri))
    try:
        with engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table}")))
    finally:
        engine.dispose()


def count(uri: str, table: str) -> int:
    engine = sa.create_engine(sync_url(uri))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def rich_mlruns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rich") / "mlruns"
    write_rich_mlruns(root)
    return root


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'imported.db'}"
    elif request.param == "postgres":
        uri = new_postgres_database("imp")
        yield uri
        drop_postgres_database(uri)
    else:
        uri = new_mariadb_database("imp")
        yield uri
        drop_mariadb_database(uri)


def test_file_store_import_serves_the_same_answers(
    rich_mlruns: Path, database: str, tmp_path: Path
) -> None:
    result = run_import(str(rich_mlruns), database, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Done: everything was imported." in result.stderr
    assert "metrics" in result.stderr and "runs" in result.stderr

    source = start_aiotrack(str(rich_mlruns), tmp_path / "src")
    dest = start_aiotrack(database, tmp_path / "dst")
    try:
        expected, got = answers(source.url), answers(dest.url)
        assert len(expected["runs"]) == 7  # 5 + the deleted experiment's + the model's run
        assert got["experiments"] == expected["experiments"]
        assert got["runs"] == expected["runs"]
        assert got["history"] == expected["history"]
        assert len(got["history"]) >= 15

        # Logged models with their params, tags and metrics.
        def models(url: str) -> list[Any]:
            exp_id = requests.get(
                f"{url}/api/2.0/mlflow/experiments/get-by-name",
                params={"experiment_name": "exp one"},
                timeout=30,
            ).json()["experiment"]["experiment_id"]
            found = requests.post(
                f"{url}/api/2.0/mlflow/logged-models/search",
                json={"experiment_ids": [exp_id]},
                timeout=30,
            ).json()["models"]
            return [
                (
                    m["info"]["model_id"],
                    m["info"]["name"],
                    m["info"].get("source_run_id"),
                    sorted((p["key"], p["value"]) for p in m["data"].get("params", [])),
                    sorted((t["key"], t["value"]) for t in m["info"].get("tags", [])),
                    [(x["key"], x["value"]) for x in m["data"].get("metrics", [])],
                )
                for m in found
            ]

        assert models(dest.url) == models(source.url)
        assert models(dest.url)[0][5] == [("acc", 0.9)]

        # The registry (MLflow's file-based registry; aiotrack's file backend has none to ask).
        model = requests.get(
            f"{dest.url}/api/2.0/mlflow/registered-models/get", params={"name": "regm"}, timeout=30
        ).json()["registered_model"]
        assert model["description"] == "d"
        assert model["tags"] == [{"key": "a", "value": "b"}]
        assert model["aliases"] == [{"alias": "champ", "version": "1"}]
        version = requests.get(
            f"{dest.url}/api/2.0/mlflow/model-versions/get",
            params={"name": "regm", "version": "1"},
            timeout=30,
        ).json()["model_version"]
        assert version["tags"] == [{"key": "x", "value": "y"}]
        assert version["run_id"] in got["runs"]

        # The destination keeps working: a new experiment gets a fresh id.
        created = requests.post(
            f"{dest.url}/api/2.0/mlflow/experiments/create", json={"name": "after"}, timeout=30
        )
        assert created.status_code == 200, created.text
    finally:
        source.stop()
        dest.stop()

    again = run_import(str(rich_mlruns), database, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    lines = [ln.split() for ln in again.stderr.splitlines() if ln.startswith("  ")]
    news = {ln[0]: ln[2] for ln in lines if len(ln) == 3 and ln[0] != "table"}
    assert news and set(news.values()) == {"0"}, again.stderr  # nothing added the second time


def test_sqlite_to_sqlite_copies_every_row_with_its_ids(rich_mlruns: Path, tmp_path: Path) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    second = f"sqlite:///{tmp_path / 'second.db'}"
    assert run_import(str(rich_mlruns), first, cwd=tmp_path).returncode == 0
    result = run_import(first, second, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for table in (
        "experiments", "experiment_tags", "runs", "params", "tags", "metrics", "latest_metrics",
        "datasets", "inputs", "input_tags", "logged_models", "logged_model_params",
        "logged_model_tags", "logged_model_metrics", "registered_models",
        "registered_model_tags", "model_versions", "model_version_tags",
        "registered_model_aliases",
    ):  # fmt: skip
        rows = table_rows(first, table)
        assert rows, table
        assert table_rows(second, table) == rows, table


def _mlflow_317_database(uri: str) -> None:
    """An MLflow 3.17.2 database (its own store creates the schema at its head) with an issue."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(uri, str(Path(uri.removeprefix("sqlite:///")).parent / "art"))
    experiment = store.create_experiment("from-317")
    store.engine.dispose()
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO issues (issue_id, experiment_id, name, description, status, "
            f"created_timestamp, last_updated_timestamp) VALUES ('i1', {experiment}, 'n', 'd', "
            "'open', 5, 6)"
        )
    engine.dispose()


def test_mlflow_317_database_imports_and_is_no_destination_until_upgraded(tmp_path: Path) -> None:
    """A source at MLflow 3.17.2's head lacks 3.18.0's columns: only what it has is read. As a
    destination it would have nowhere for them: refused with the command that upgrades it."""
    old = f"sqlite:///{tmp_path / 'old.db'}"
    _mlflow_317_database(old)
    new = f"sqlite:///{tmp_path / 'new.db'}"
    result = run_import(old, new, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert table_rows(new, "experiments") == table_rows(old, "experiments")
    assert [r[0] for r in table_rows(new, "issues")] == ["i1"]

    older = f"sqlite:///{tmp_path / 'older.db'}"
    _mlflow_317_database(older)
    before = table_rows(older, "experiments")
    refused = run_import(new, older, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert f"aiotrack db upgrade {older}" in refused.stderr
    assert table_rows(older, "experiments") == before


def test_sqlite_to_postgres_keeps_ids_and_moves_the_id_sequence(tmp_path: Path) -> None:
    source_db = f"sqlite:///{tmp_path / 'src.db'}"
    server = start_aiotrack(source_db, tmp_path / "src")
    try:
        for name in ("a", "b", "c"):
            requests.post(
                f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=30
            ).raise_for_status()
    finally:
        server.stop()
    dest_db = new_postgres_database("impseq")
    try:
        result = run_import(source_db, dest_db, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert table_rows(dest_db, "experiments") == table_rows(source_db, "experiments")
        dest = start_aiotrack(dest_db, tmp_path / "dst")
        try:
            resp = requests.post(
                f"{dest.url}/api/2.0/mlflow/experiments/create", json={"name": "d"}, timeout=30
            )
            assert resp.status_code == 200, resp.text
            assert resp.json()["experiment_id"] == "4"
        finally:
            dest.stop()
    finally:
        drop_postgres_database(dest_db)


def test_refusals_exit_2_and_write_nothing(rich_mlruns: Path, tmp_path: Path) -> None:
    into_files = run_import(str(rich_mlruns), str(tmp_path / "other-mlruns"), cwd=tmp_path)
    assert into_files.returncode == 2
    assert "file store" in into_files.stderr and "sqlite:///" in into_files.stderr
    assert not (tmp_path / "other-mlruns").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_import(str(empty), f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert nothing.returncode == 2 and "nothing to import" in nothing.stderr

    # A destination whose experiment 1 is another experiment: refused before any write.
    source_db = f"sqlite:///{tmp_path / 'a.db'}"
    other_db = f"sqlite:///{tmp_path / 'b.db'}"
    for db, name in ((source_db, "mine"), (other_db, "theirs")):
        server = start_aiotrack(db, tmp_path / name)
        try:
            requests.post(
                f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": name}, timeout=30
            ).raise_for_status()
        finally:
            server.stop()
    before = table_rows(other_db, "experiments")
    clash = run_import(source_db, other_db, cwd=tmp_path)
    assert clash.returncode == 2
    assert "clash" in clash.stderr and "'mine'" in clash.stderr
    assert table_rows(other_db, "experiments") == before

    bad = run_import(str(rich_mlruns), "mssql://host/db", cwd=tmp_path)
    assert bad.returncode == 2 and "mssql" in bad.stderr

    missing_db = PG_ADMIN_URI.rsplit("/", 1)[0] + "/aiotrack_no_such_database"
    refused = run_import(str(rich_mlruns), missing_db, cwd=tmp_path)
    assert refused.returncode == 1
    assert "does not exist" in refused.stderr and "Traceback" not in refused.stderr


def test_a_million_points_interrupted_and_resumed_into_postgres(tmp_path: Path) -> None:
    """The acceptance: 1,000 runs, 1,000,000 points, progress shown, SIGINT mid-way, re-run
    completes without duplicates, and both stores answer the same."""
    root = tmp_path / "mlruns"
    write_scale_mlruns(root, runs=1000, keys=10, steps=100)
    dest_db = new_postgres_database("impbig")
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiotrack",
                "import",
                str(root),
                dest_db,
                "--chunk-rows",
                "5000",
            ],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                if count(dest_db, "metrics") >= 100_000:
                    break
            except sa.exc.ProgrammingError:  # tables not created yet
                continue
        assert proc.poll() is None, "the import finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, interrupted_err = proc.communicate(timeout=120)
        assert proc.returncode == 130, interrupted_err
        assert "stopping after this chunk" in interrupted_err  # stopped at a chunk boundary
        assert "run the same command again to resume" in interrupted_err
        assert "importing" in interrupted_err and "runs" in interrupted_err  # the progress bar
        partial = count(dest_db, "metrics")
        assert 100_000 <= partial < 1_000_000

        resumed = run_import(str(root), dest_db, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert count(dest_db, "metrics") == 1_000_000
        assert count(dest_db, "latest_metrics") == 10_000
        assert count(dest_db, "runs") == 1000
        assert count(dest_db, "params") == 10_000

        source = start_aiotrack(str(root), tmp_path / "src")
        dest = start_aiotrack(dest_db, tmp_path / "dst")
        try:
            expected = answers(source.url, history_sample=100)
            got = answers(dest.url, history_sample=100)
            assert len(expected["runs"]) == 1000 and len(expected["history"]) >= 1000
            assert got == expected
        finally:
            source.stop()
            dest.stop()
    finally:
        drop_postgres_database(dest_db)


def test_help_describes_the_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiotrack", "import", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 0
    assert "SRC DST" in result.stdout and "resume" in result.stdout
