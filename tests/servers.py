"""Start real tracking-server processes (aiotrack or the reference `mlflow server`) for tests.

A plain module, not a conftest, so any test package can import it::

    from tests.servers import start_aiotrack, new_postgres_database

Servers bind to 127.0.0.1 on a free port; their stdout+stderr go to a log file whose tail is
included in every start-up failure. Missing services (reference venv, PostgreSQL) skip the test,
or fail it when ``CI=true`` so that skips are never counted as passes in CI.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.services import unavailable

__all__ = [
    "PG_ADMIN_URI",
    "RunningServer",
    "drop_postgres_database",
    "free_port",
    "new_postgres_database",
    "reference18_bin",
    "reference_bin",
    "start_aiotrack",
    "start_mlflow_reference",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# Where PostgreSQL test databases are created; override with AIOTRACK_TEST_PG_URI.
PG_ADMIN_URI = os.environ.get(
    "AIOTRACK_TEST_PG_URI", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class RunningServer:
    """A live server process; ``url`` is ``http://127.0.0.1:<port>`` (no trailing slash)."""

    url: str
    backend_uri: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the server's combined stdout/stderr."""
        return _tail(self.log_path, lines)

    def stop(self) -> None:
        """SIGTERM the server (and its worker children), wait <=10 s, then SIGKILL."""
        proc = self.process
        if proc.poll() is not None:
            return
        # The server runs in its own session (start_new_session=True), so signalling the group
        # also reaches gunicorn/uvicorn workers of the reference server.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=STOP_TIMEOUT_S)
        else:
            # Leader gone; make sure no orphaned worker of the group survives.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _server_base_env() -> dict[str, str]:
    # The test process may point the mlflow client somewhere (mlflow.set_tracking_uri exports
    # MLFLOW_TRACKING_URI); a server started later must not inherit that.
    return {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_EXPERIMENT_ID",
            "MLFLOW_EXPERIMENT_NAME",
            "MLFLOW_RUN_ID",
        )
    }


def _spawn(
    cmd: list[str], backend_uri: str, workdir: Path, port: int, env: dict[str, str] | None = None
) -> RunningServer:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**_server_base_env(), **(env or {})},
            start_new_session=True,
        )
    server = RunningServer(
        url=f"http://127.0.0.1:{port}", backend_uri=backend_uri, process=proc, log_path=log_path
    )
    _wait_healthy(server, cmd)
    return server


def _wait_healthy(server: RunningServer, cmd: list[str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error = "no attempt"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            pytest.fail(
                f"server exited with code {code} during start-up: {' '.join(cmd)}\n"
                f"--- {server.log_path} (tail) ---\n{server.log_tail()}",
                pytrace=False,
            )
        try:
            resp = requests.get(f"{server.url}/health", timeout=2)
            if resp.status_code == 200:
                return
            last_error = f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            last_error = type(exc).__name__
        time.sleep(0.2)
    server.stop()
    pytest.fail(
        f"server not healthy after {STARTUP_TIMEOUT_S:.0f} s ({last_error}): {' '.join(cmd)}\n"
        f"--- {server.log_path} (tail) ---\n{server.log_tail()}",
        pytrace=False,
    )


def start_aiotrack(backend_uri: str, workdir: Path, *extra_args: str) -> RunningServer:
    """Run ``python -m aiotrack server`` on a free port and wait for ``GET /health`` == 200."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "aiotrack", "server",
        "--backend-store-uri", backend_uri,
        "--host", "127.0.0.1",
        "--port", str(port),
        *extra_args,
    ]  # fmt: skip
    return _spawn(cmd, backend_uri, workdir, port)


def reference_bin() -> Path:
    """The reference mlflow virtualenv's ``bin`` directory.

    The venv comes from ``AIOTRACK_MLFLOW_REFERENCE`` (a venv dir), default ``<repo>/.venv-ref``.
    """
    venv = Path(os.environ.get("AIOTRACK_MLFLOW_REFERENCE", REPO_ROOT / ".venv-ref"))
    bindir = venv / "bin"
    if not (bindir / "mlflow").exists():
        unavailable(
            f"reference mlflow not found at {bindir / 'mlflow'} "
            "(set AIOTRACK_MLFLOW_REFERENCE to a venv with mlflow==3.17.2 installed)"
        )
    return bindir


def reference18_bin() -> Path:
    """The ``bin`` directory of the reference MLflow **3.18** virtualenv (the tracing target).

    The venv comes from ``AIOTRACK_MLFLOW_REFERENCE18`` (a venv dir), default
    ``<repo>/.venv-ref18`` (``scripts/test`` builds it).
    """
    venv = Path(os.environ.get("AIOTRACK_MLFLOW_REFERENCE18", REPO_ROOT / ".venv-ref18"))
    bindir = venv / "bin"
    if not (bindir / "mlflow").exists():
        unavailable(
            f"reference mlflow 3.18 not found at {bindir / 'mlflow'} "
            "(set AIOTRACK_MLFLOW_REFERENCE18 to a venv with mlflow==3.18.0 installed)"
        )
    return bindir


def start_mlflow_reference(
    backend_uri: str, workdir: Path, *extra_args: str, bindir: Path | None = None
) -> RunningServer:
    """Run the reference ``mlflow server --workers 1`` on a free port and wait until healthy.

    ``bindir`` picks the reference venv (default :func:`reference_bin`, MLflow 3.17.2).
    """
    bindir = bindir or reference_bin()
    port = free_port()
    store_uri = backend_uri
    if store_uri.startswith("postgresql://"):
        # SQLAlchemy 2.1 (in the reference venv) defaults postgresql:// to psycopg 3, which is not
        # installed there; psycopg2-binary is.
        store_uri = "postgresql+psycopg2://" + store_uri.removeprefix("postgresql://")
    cmd = [
        str(bindir / "mlflow"), "server",
        "--backend-store-uri", store_uri,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
        *extra_args,
    ]  # fmt: skip
    env = {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        # mlflow spawns helpers (gunicorn/uvicorn, alembic) by name: find them in the ref venv.
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return _spawn(cmd, backend_uri, workdir, port, env)


def _pg_connect(dbname: str | None = None):  # type: ignore[no-untyped-def]
    try:
        import psycopg2
    except ImportError:  # pragma: no cover - psycopg2-binary is in the test extra
        unavailable("psycopg2 is not installed (pip install psycopg2-binary)")
    dsn = PG_ADMIN_URI
    if dbname is not None:
        dsn = dsn.rsplit("/", 1)[0] + "/" + dbname
    try:
        conn = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL unreachable at {PG_ADMIN_URI}: {str(exc).strip()}")
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def new_postgres_database(prefix: str) -> str:
    """Create a fresh, empty database and return ``postgresql://.../<name>`` for it."""
    name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())}_{uuid.uuid4().hex[:12]}"[:63]
    if not _DB_NAME.match(name):
        name = f"t_{name}"[:63]
    conn = _pg_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return PG_ADMIN_URI.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(uri: str) -> None:
    """Drop the database named by ``uri``, terminating any connections still open to it."""
    name = uri.rsplit("/", 1)[1].split("?", 1)[0]
    if not _DB_NAME.match(name):
        raise ValueError(f"refusing to drop database with unexpected name {name!r}")
    conn = _pg_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
