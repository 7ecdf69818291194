"""``aiotrack gc`` end to end on every backend: SQLite, PostgreSQL, MariaDB and ./mlruns.

Data is logged through a real aiotrack server with the mlflow client (artifacts proxied to a
local destination), soft-deleted through the API, aged directly in the store, then collected
by the real ``python -m aiotrack gc`` subprocess. Rows and artifact directories are checked in
the store itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.gc_support import DAY_MS, FileInspector, SqlInspector, now_ms, run_gc
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import (
    RunningServer,
    drop_postgres_database,
    free_port,
    new_postgres_database,
    reference18_bin,
    start_aiotrack,
)

# The client must fail at once instead of retrying, must not phone home, and must accept the
# file store (mlflow reads these when it is used, not when it is imported).
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "30"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
    os.environ.pop(_var, None)


@dataclass
class Backend:
    kind: str
    uri: str
    destination: Path
    workdir: Path
    server: RunningServer
    store: SqlInspector | FileInspector


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        "file",
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind: str = request.param
    if kind == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    elif kind == "postgres":
        uri = new_postgres_database("aiotrack_gc")
    elif kind == "mariadb":
        uri = new_mariadb_database("gc")
    else:
        uri = str(tmp_path / "mlruns")
    destination = tmp_path / "mlartifacts"
    server = start_aiotrack(uri, tmp_path / "server", "--artifacts-destination", str(destination))
    store: SqlInspector | FileInspector = (
        FileInspector(tmp_path / "mlruns") if kind == "file" else SqlInspector(uri)
    )
    try:
        yield Backend(kind, uri, destination, tmp_path, server, store)
    finally:
        store.close()
        server.stop()
        if kind == "postgres":
            drop_postgres_database(uri)
        elif kind == "mariadb":
            drop_mariadb_database(uri)


@dataclass
class Data:
    exp_live: str
    exp_old: str  # deleted 10 days ago
    exp_young: str  # deleted just now
    run_live: str
    run_old: str  # deleted 10 days ago
    run_young: str  # deleted just now
    run_in_exp_old: str
    run_in_exp_young: str
    model_live: str
    model_old: str
    artifacts: dict[str, str]  # run or model id -> artifact URI


def _log_run(client: MlflowClient, experiment_id: str, name: str) -> tuple[str, str]:
    run = client.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    client.log_param(run_id, "lr", "0.1")
    for step in range(3):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    client.set_tag(run_id, "team", "gc")
    client.log_text(run_id, f"artifact of {name}", "notes/hello.txt")
    client.set_terminated(run_id)
    return run_id, run.info.artifact_uri


def _populate(b: Backend) -> Data:
    client = MlflowClient(tracking_uri=b.server.url)
    exp_live = client.create_experiment("gc-live")
    exp_old = client.create_experiment("gc-old")
    exp_young = client.create_experiment("gc-young")
    client.set_experiment_tag(exp_old, "owner", "someone")
    artifacts: dict[str, str] = {}
    ids = {}
    for name, exp in [
        ("live", exp_live),
        ("old", exp_live),
        ("young", exp_live),
        ("in-exp-old", exp_old),
        ("in-exp-young", exp_young),
    ]:
        ids[name], artifacts[ids[name]] = _log_run(client, exp, name)
    models = {}
    for name in ("live", "old"):
        model = client.create_logged_model(
            exp_live, name=f"model-{name}", params={"k": "v"}, tags={"t": name}
        )
        note = b.workdir / f"model-{name}.txt"
        note.write_text(name)
        client.log_model_artifact(model.model_id, str(note))
        models[name] = model.model_id
        artifacts[model.model_id] = model.artifact_location
    client.delete_run(ids["old"])
    client.delete_run(ids["young"])
    client.delete_experiment(exp_old)
    client.delete_experiment(exp_young)
    client.delete_logged_model(models["old"])
    # Ten days ago: the run, the experiment (and its run, deleted with it), the model.
    b.store.age_run(ids["old"], 10)
    b.store.age_run(ids["in-exp-old"], 10)
    b.store.age_experiment(exp_old, 10)
    b.store.age_model(models["old"], 10)
    return Data(
        exp_live,
        exp_old,
        exp_young,
        ids["live"],
        ids["old"],
        ids["young"],
        ids["in-exp-old"],
        ids["in-exp-young"],
        models["live"],
        models["old"],
        artifacts,
    )


def _artifact_dir(b: Backend, uri: str) -> Path:
    assert uri.startswith("mlflow-artifacts:/"), uri
    return b.destination / uri.removeprefix("mlflow-artifacts:").lstrip("/")


def _assert_kept(b: Backend, data: Data, run_ids: list[str], model_ids: list[str]) -> None:
    for run_id in run_ids:
        rows = b.store.run_rows(run_id)
        assert all(n > 0 for n in rows.values()), (run_id, rows)
        assert (_artifact_dir(b, data.artifacts[run_id]) / "notes" / "hello.txt").is_file()
    for model_id in model_ids:
        assert all(n > 0 for n in b.store.model_rows(model_id).values()), model_id
        assert any(_artifact_dir(b, data.artifacts[model_id]).iterdir())


def _assert_gone(b: Backend, data: Data, run_ids: list[str], model_ids: list[str]) -> None:
    for run_id in run_ids:
        rows = b.store.run_rows(run_id)
        assert not any(rows.values()), (run_id, rows)
        assert not _artifact_dir(b, data.artifacts[run_id]).exists()
    for model_id in model_ids:
        assert not any(b.store.model_rows(model_id).values()), model_id
        assert not _artifact_dir(b, data.artifacts[model_id]).exists()


def _table_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a SQLite database, sorted."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }


def _snapshot(b: Backend, name: str) -> Path:
    """A consistent copy of the server's SQLite database (WAL included)."""
    copy = b.workdir / name
    src = b.uri.removeprefix("sqlite:///")
    with (
        contextlib.closing(sqlite3.connect(src)) as s,
        contextlib.closing(sqlite3.connect(copy)) as d,
    ):
        s.backup(d)
    return copy


def test_gc_removes_exactly_the_old_deleted_runs(backend: Backend) -> None:
    b = backend
    data = _populate(b)
    everything = [data.run_live, data.run_old, data.run_young, data.run_in_exp_old]
    everything += [data.run_in_exp_young]
    env: dict[str, str] = {}
    if b.kind == "file":
        # ./mlruns in the working directory and ./mlartifacts: gc's defaults find both.
        where: list[str] = []
    elif b.kind == "sqlite":
        # mlflow gc's way: proxied artifacts are deleted through the tracking server.
        where = ["--backend-store-uri", b.uri]
        env = {"MLFLOW_TRACKING_URI": b.server.url}
    else:
        where = ["--backend-store-uri", b.uri, "--artifacts-destination", str(b.destination)]

    # Refusals first: each exits non-zero and deletes nothing at all.
    active = run_gc(*where, "--run-ids", f"{data.run_old},{data.run_live}", cwd=b.workdir, env=env)
    assert active.returncode == 1, active
    assert f"Run {data.run_live} is not in `deleted` lifecycle stage" in active.stderr
    refusals = [active]
    if b.kind == "file":  # backend-independent checks, on the backend with the fastest start-up
        young = run_gc(*where, "--older-than", "1d", "--run-ids", data.run_young, cwd=b.workdir)
        assert young.returncode == 1, young
        assert "is not older than the required age" in young.stderr
        live_exp = run_gc(*where, "--experiment-ids", data.exp_live, cwd=b.workdir)
        assert live_exp.returncode == 1, live_exp
        assert "are not in the deleted lifecycle stage" in live_exp.stderr
        bad_age = run_gc(*where, "--older-than", "1x", cwd=b.workdir)
        assert bad_age.returncode == 2, bad_age
        assert "--older-than" in bad_age.stderr
        refusals += [young, live_exp, bad_age]
    for refused in refusals:
        assert refused.stdout == ""
    _assert_kept(b, data, everything, [data.model_live, data.model_old])
    assert b.store.experiment_exists(data.exp_old)
    reference_copy = _snapshot(b, "reference.db") if b.kind == "sqlite" else None

    # The cut-off: only what was deleted more than a day ago goes.
    result = run_gc(*where, "--older-than", "1d", cwd=b.workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert result.deleted("Run") == {data.run_old, data.run_in_exp_old}
    assert result.deleted("Logged model") == {data.model_old}
    assert result.deleted("Experiment") == {data.exp_old}
    assert "permanently deleted 2 runs, 1 logged model, 1 experiment" in result.stderr
    _assert_gone(b, data, [data.run_old, data.run_in_exp_old], [data.model_old])
    assert not b.store.experiment_exists(data.exp_old)
    if isinstance(b.store, SqlInspector):
        assert b.store.experiment_tag_rows(data.exp_old) == 0
    kept_runs = [data.run_live, data.run_young, data.run_in_exp_young]
    _assert_kept(b, data, kept_runs, [data.model_live])
    assert b.store.experiment_exists(data.exp_live)
    assert b.store.experiment_exists(data.exp_young)

    if reference_copy is not None:
        # The reference `mlflow gc` on a copy taken just before leaves the very same rows (MLflow
        # 3.18.0: 3.17.2 refuses the newer schema aiotrack creates).
        ref = subprocess.run(
            [
                str(reference18_bin() / "mlflow"), "gc", "--older-than", "1d",
                "--backend-store-uri", f"sqlite:///{reference_copy}",
                "--tracking-uri", b.server.url,
            ],
            cwd=b.workdir, capture_output=True, text=True, timeout=120,
            env={**os.environ, "MLFLOW_TRACKING_URI": b.server.url},
        )  # fmt: skip
        assert ref.returncode == 0, ref.stderr[-3000:]
        assert sorted(ref.stdout.splitlines()) == sorted(result.stdout.splitlines())
        assert _table_rows(reference_copy) == _table_rows(_snapshot(b, "after.db"))

    # The server still serves what is left, and the collected run is gone from its answers.
    client = MlflowClient(tracking_uri=b.server.url)
    assert client.get_run(data.run_live).data.params == {"lr": "0.1"}
    with pytest.raises(MlflowException, match=r"RESOURCE_DOES_NOT_EXIST|not found"):
        client.get_run(data.run_old)

    if b.kind in ("postgres", "mariadb"):
        return  # the rest exercises no other statement: checked on SQLite and the file store

    # Without a cut-off every deleted run and experiment goes; the live ones stay.
    rest = run_gc(*where, cwd=b.workdir, env=env)
    assert rest.returncode == 0, rest
    assert rest.deleted("Run") == {data.run_young, data.run_in_exp_young}
    assert rest.deleted("Experiment") == {data.exp_young}
    _assert_gone(b, data, [data.run_young, data.run_in_exp_young], [])
    _assert_kept(b, data, [data.run_live], [data.model_live])
    assert b.store.experiment_exists(data.exp_live)


# --- without a server: hand-made databases --------------------------------------------------


def _new_sqlite_store(path: Path) -> str:
    """An empty SQLite database with MLflow's schema (what ``aiotrack db upgrade`` creates)."""
    from aiotrack.store.sql.migrate import upgrade

    uri = f"sqlite:///{path}"
    upgrade(uri, out=io.StringIO())
    return uri


def _insert_run(db: Path, run_id: str, experiment_id: int, artifact_uri: str, days: float) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, source_version, lifecycle_stage, artifact_uri, "
            "experiment_id, deleted_time) VALUES (?, ?, 'LOCAL', '', '', 'u', 'FINISHED', 0, '', "
            "'deleted', ?, ?, ?)",
            (run_id, run_id[:6], artifact_uri, experiment_id, now_ms() - int(days * DAY_MS)),
        )
        conn.execute("INSERT INTO params (key, value, run_uuid) VALUES ('p', '1', ?)", (run_id,))


def _run_count(db: Path, run_id: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()[0]
        )


def test_gc_never_deletes_outside_a_run_artifact_root(tmp_path: Path) -> None:
    """Damaged or hostile artifact URIs are refused (the run is kept, exit 1) while the other
    runs are still collected; symlinks are removed, never followed. Jobs are collected too."""
    db = tmp_path / "mlflow.db"
    uri = _new_sqlite_store(db)
    art = tmp_path / "art"
    dest = tmp_path / "mlartifacts"
    victim = tmp_path / "victim"
    (victim / "precious.txt").parent.mkdir(parents=True)
    (victim / "precious.txt").write_text("keep me")
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time) VALUES (1, 'e', ?, 'active', 0, 0)",
            (art.as_uri(),),
        )
    ids = {name: name * 32 for name in "abcd"}
    # a: the artifact URI names a directory that is not a run's artifact root.
    _insert_run(db, ids["a"], 1, victim.as_uri(), 10)
    # b: proxied, but <destination>/1 is a symlink leading out of the destination.
    outside_b = tmp_path / "outside-b" / ids["b"] / "artifacts"
    outside_b.mkdir(parents=True)
    (outside_b / "f.txt").write_text("keep me")
    dest.mkdir()
    (dest / "1").symlink_to(tmp_path / "outside-b")
    _insert_run(db, ids["b"], 1, f"mlflow-artifacts:/1/{ids['b']}/artifacts", 10)
    # c: an ordinary local artifact root.
    root_c = art / ids["c"] / "artifacts"
    (root_c / "sub").mkdir(parents=True)
    (root_c / "sub" / "f.txt").write_text("delete me")
    _insert_run(db, ids["c"], 1, root_c.as_uri(), 10)
    # d: the artifact root itself is a symlink to a directory elsewhere.
    outside_d = tmp_path / "outside-d"
    outside_d.mkdir()
    (outside_d / "f.txt").write_text("keep me")
    (art / ids["d"]).mkdir(parents=True)
    (art / ids["d"] / "artifacts").symlink_to(outside_d)
    _insert_run(db, ids["d"], 1, str(art / ids["d"] / "artifacts"), 10)
    old = now_ms() - 10 * DAY_MS
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for job_id, status, created in [("done-old", 2, old), ("done-new", 3, now_ms())]:
            conn.execute(
                "INSERT INTO jobs (id, creation_time, job_name, params, status, retry_count, "
                "last_update_time) VALUES (?, ?, 'j', '{}', ?, 0, ?)",
                (job_id, created, status, created),
            )
        conn.execute(
            "INSERT INTO jobs (id, creation_time, job_name, params, status, retry_count, "
            "last_update_time) VALUES ('running-old', ?, 'j', '{}', 1, 0, ?)",
            (old, old),
        )

    result = run_gc(
        "--backend-store-uri", uri, "--artifacts-destination", str(dest),
        "--older-than", "1d", "--jobs", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.deleted("Run") == {ids["c"], ids["d"]}
    assert result.deleted("Job") == {"done-old"}
    assert f"run {ids['a']} was not deleted: refusing to delete" in result.stderr
    assert f"run {ids['b']} was not deleted: cannot delete the artifacts" in result.stderr
    assert "2 failures" in result.stderr
    assert (victim / "precious.txt").read_text() == "keep me"
    assert (outside_b / "f.txt").read_text() == "keep me"
    assert (outside_d / "f.txt").read_text() == "keep me"
    assert not root_c.exists() and not (art / ids["d"] / "artifacts").is_symlink()
    assert [_run_count(db, ids[k]) for k in "abcd"] == [1, 1, 0, 0]
    with contextlib.closing(sqlite3.connect(db)) as conn:
        jobs = {r[0] for r in conn.execute("SELECT id FROM jobs")}
    assert jobs == {"done-new", "running-old"}


def test_gc_usage_and_store_errors(tmp_path: Path) -> None:
    """Bad usage exits 2 before touching anything; a missing or foreign database exits 1."""
    unsupported = run_gc("--workspace", "team-a", cwd=tmp_path)
    assert unsupported.returncode == 2
    assert "aiotrack gc: error: --workspace: aiotrack does not support workspaces" in (
        unsupported.stderr
    )
    server_only = run_gc(cwd=tmp_path, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert server_only.returncode == 2
    assert "pass --backend-store-uri" in server_only.stderr
    mssql = run_gc("--backend-store-uri", "mssql+pyodbc://u:secret@h/db", cwd=tmp_path)
    assert mssql.returncode == 2 and "not supported" in mssql.stderr
    assert "secret" not in mssql.stderr

    missing = run_gc("--backend-store-uri", f"sqlite:///{tmp_path / 'nope.db'}", cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert not (tmp_path / "nope.db").exists()
    # The default backend is ./mlflow.db here (no ./mlruns with experiments): absent too.
    default = run_gc(cwd=tmp_path)
    assert default.returncode == 1 and "mlflow.db does not exist" in default.stderr

    foreign = tmp_path / "foreign.db"
    with contextlib.closing(sqlite3.connect(foreign)) as conn, conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
        conn.execute("INSERT INTO runs VALUES (1)")
    refused = run_gc("--backend-store-uri", f"sqlite:///{foreign}", cwd=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert "no MLflow schema revision" in refused.stderr
    with contextlib.closing(sqlite3.connect(foreign)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)


def test_gc_deletes_proxied_artifacts_in_s3(tmp_path: Path) -> None:
    """With an ``s3://`` destination only the collected run's keys go, not those of a run whose
    id merely starts the same, nor the live run's."""
    import boto3
    import requests

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.RequestException:
                assert moto.poll() is None and time.monotonic() < deadline, "moto did not start"
                time.sleep(0.1)
        s3_env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "path",
        }
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="aiotrack-gc")
        db = tmp_path / "mlflow.db"
        uri = _new_sqlite_store(db)
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time) VALUES "
                "(1, 'e', 'mlflow-artifacts:/1', 'active', 0, 0)"
            )
        dead, twin, live = "ab" * 16, "ab" * 15 + "abcd", "cd" * 16
        for run_id in (dead, twin, live):
            for key in ("artifacts/model/weights.bin", "artifacts/notes.txt"):
                s3.put_object(Bucket="aiotrack-gc", Key=f"store/1/{run_id}/{key}", Body=b"x")
        s3.put_object(Bucket="aiotrack-gc", Key=f"store/1/{dead}/artifacts-not-mine", Body=b"x")
        _insert_run(db, dead, 1, f"mlflow-artifacts:/1/{dead}/artifacts", 0)
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute(
                "INSERT INTO runs (run_uuid, lifecycle_stage, artifact_uri, experiment_id, status,"
                " source_type) VALUES (?, 'active', ?, 1, 'RUNNING', 'LOCAL')",
                (live, f"mlflow-artifacts:/1/{live}/artifacts"),
            )

        result = run_gc(
            "--backend-store-uri", uri, "--artifacts-destination", "s3://aiotrack-gc/store",
            cwd=tmp_path, env=s3_env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.deleted("Run") == {dead}
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="aiotrack-gc")["Contents"]}
        assert not any(k.startswith(f"store/1/{dead}/artifacts/") for k in keys)
        assert f"store/1/{dead}/artifacts-not-mine" in keys
        for run_id in (twin, live):
            assert f"store/1/{run_id}/artifacts/model/weights.bin" in keys
        assert _run_count(db, dead) == 0 and _run_count(db, live) == 1
    finally:
        moto.terminate()
        moto.wait(timeout=10)
