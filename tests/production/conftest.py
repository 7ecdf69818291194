"""Helpers for the production tests: servers with any health path, a throwaway PostgreSQL
cluster, and a small bounded load generator.

Everything talks to 127.0.0.1 only. Loads are bounded by client count and wall time.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import requests

from tests.servers import RunningServer, _server_base_env, free_port
from tests.services import unavailable

# The mlflow client must fail at once on a 5xx instead of retrying for minutes.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "30"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

STARTUP_TIMEOUT_S = 60.0


def spawn_aiotrack(
    backend_uri: str,
    workdir: Path,
    *extra_args: str,
    health_path: str = "/health",
    port: int | None = None,
) -> RunningServer:
    """``python -m aiotrack server`` on 127.0.0.1, waiting until ``health_path`` answers 200.

    Like `tests.servers.start_aiotrack`, but the health path can carry a ``--static-prefix``.
    """
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    cmd = [
        sys.executable, "-m", "aiotrack", "server",
        "--backend-store-uri", backend_uri,
        "--host", "127.0.0.1",
        "--port", str(port),
        *extra_args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_server_base_env(),
            start_new_session=True,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", backend_uri, proc, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"server exited with {proc.returncode} during start-up: {' '.join(cmd)}\n"
                f"{server.log_tail()}",
                pytrace=False,
            )
        try:
            if requests.get(server.url + health_path, timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"server not healthy in time: {' '.join(cmd)}\n{server.log_tail()}", False)


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


# --- a throwaway PostgreSQL cluster --------------------------------------------------------


@dataclass
class PgCluster:
    """A private PostgreSQL server on a free port, which tests may stop and start at will."""

    bindir: Path
    datadir: Path
    port: int
    as_user: list[str]

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.datadir / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A dedicated cluster (initdb + pg_ctl in a temp dir); never the shared server on 5432.

    As root the cluster runs as the ``postgres`` system user (initdb refuses root).
    """
    bindir = _pg_bindir()
    if bindir is None:
        unavailable("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="aiotrack-pg-")
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            shutil.rmtree(root, ignore_errors=True)
            unavailable("running as root and `runuser` is missing: cannot start PostgreSQL")
        as_user = [runuser, "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    datadir = Path(root) / "data"
    cluster = PgCluster(bindir, datadir, free_port(), as_user)
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U",
             "postgres", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(root, ignore_errors=True)


# --- bounded load --------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a load run saw: statuses by code, transport errors, and the writes answered 200."""

    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    acked: list[tuple[str, int]] = field(default_factory=list)  # (run_id, step)
    first_ok_after: dict[str, float] = field(default_factory=dict)
    bad_bodies: list[str] = field(default_factory=list)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


async def create_runs(base: str, count: int) -> list[str]:
    """``count`` fresh runs in a new experiment (sequential, before the load starts)."""
    async with aiohttp.ClientSession() as session:
        api = f"{base}/api/2.0/mlflow"
        async with session.post(
            f"{api}/experiments/create", json={"name": f"load-{uuid.uuid4().hex}"}
        ) as resp:
            assert resp.status == 200, await resp.text()
            experiment_id = (await resp.json())["experiment_id"]
        runs = []
        for _ in range(count):
            async with session.post(
                f"{api}/runs/create", json={"experiment_id": experiment_id}
            ) as resp:
                assert resp.status == 200, await resp.text()
                runs.append((await resp.json())["run"]["info"]["run_id"])
        return runs


async def log_metric_load(
    base: str,
    run_ids: list[str],
    seconds: float,
    *,
    stop: asyncio.Event | None = None,
    result: LoadResult | None = None,
    clients_per_run: int = 1,
) -> LoadResult:
    """One client per run (times ``clients_per_run``) logging metric ``m`` with rising steps.

    Stops after ``seconds`` or when ``stop`` is set; each client stops at its first transport
    error once the server is gone (connection refused), so a dead server ends the load.
    """
    result = result or LoadResult()
    deadline = time.monotonic() + seconds
    stop = stop or asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)

    async def client(session: aiohttp.ClientSession, run_id: str, offset: int) -> None:
        step = offset
        refused = 0
        while time.monotonic() < deadline and not stop.is_set():
            step += clients_per_run
            body = {"run_id": run_id, "key": "m", "value": float(step), "step": step,
                    "timestamp": 1_700_000_000_000 + step}  # fmt: skip
            try:
                async with session.post(
                    f"{base}/api/2.0/mlflow/runs/log-metric", json=body
                ) as resp:
                    text = await resp.text()
                    result.count(resp.status)
                    if resp.status == 200:
                        result.acked.append((run_id, step))
                    elif resp.status == 503:
                        if "TEMPORARILY_UNAVAILABLE" not in text:
                            result.bad_bodies.append(text[:300])
                        await asyncio.sleep(0.05)
                    else:
                        result.bad_bodies.append(f"{resp.status}: {text[:300]}")
            except (TimeoutError, aiohttp.ClientError):
                result.transport_errors += 1
                refused += 1
                if refused > 20:
                    return
                await asyncio.sleep(0.05)

    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(
            *(client(session, run_id, k) for run_id in run_ids for k in range(clients_per_run))
        )
    return result


async def until(predicate: Callable[[], bool], what: str, limit_s: float = 30.0) -> None:
    """Poll ``predicate`` every 20 ms until it holds; fail naming ``what`` after ``limit_s``.

    Sequencing by condition, not by sleeping: "the load is in full flow" is "N writes were
    acknowledged", however fast or slow the machine is today.
    """
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {limit_s:.0f} s waiting for {what}", pytrace=False)
        await asyncio.sleep(0.02)


def stored_steps(backend_uri: str) -> set[tuple[str, int]]:
    """Every (run_id, step) of metric ``m`` in the database, read directly with SQL."""
    if backend_uri.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(backend_uri.removeprefix("sqlite:///"))
        try:
            rows = conn.execute("SELECT run_uuid, step FROM metrics WHERE key = 'm'").fetchall()
        finally:
            conn.close()
    else:
        import psycopg2

        conn = psycopg2.connect(backend_uri, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT run_uuid, step FROM metrics WHERE key = 'm'")
                rows = cur.fetchall()
        finally:
            conn.close()
    return {(r[0], int(r[1])) for r in rows}


def sigterm(server: RunningServer) -> None:
    """SIGTERM the server's leader process only (as an orchestrator does)."""
    os.kill(server.process.pid, signal.SIGTERM)
