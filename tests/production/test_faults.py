"""Database outages: 503 TEMPORARILY_UNAVAILABLE while PostgreSQL is down, recovery on its own.

Runs against a dedicated throwaway cluster (`pg_cluster`), never the shared server.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.production.conftest import (
    LoadResult,
    PgCluster,
    create_runs,
    log_metric_load,
    spawn_aiotrack,
    stored_steps,
    until,
)

pytestmark = pytest.mark.postgres

CLIENTS = 64


async def _first_success_after(base: str, since: float, limit: float) -> float:
    """Seconds from ``since`` until a read answers 200 (polling every 100 ms, up to ``limit``)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() - since < limit:
            try:
                async with session.get(
                    f"{base}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}
                ) as resp:
                    if resp.status == 200:
                        return time.monotonic() - since
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(0.1)
    return float("inf")


async def test_postgres_restart_during_load(pg_cluster: PgCluster, tmp_path: Path) -> None:
    server = spawn_aiotrack(pg_cluster.uri, tmp_path)
    try:
        runs = await create_runs(server.url, CLIENTS)
        result = LoadResult()
        stop = asyncio.Event()
        load = asyncio.create_task(log_metric_load(server.url, runs, 60, stop=stop, result=result))
        await until(lambda: len(result.acked) >= 4 * CLIENTS, "the load to be in full flow")
        before_outage = len(result.acked)
        await asyncio.to_thread(pg_cluster.stop)
        await until(lambda: result.statuses.get(503, 0) > 0, "a 503 while PostgreSQL is down")
        during = dict(result.statuses)
        # A request while the database is down fails fast with MLflow's retryable error.
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.get(
                f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}
            ) as resp:
                outage_status, outage_body = resp.status, await resp.json()
            outage_latency = time.monotonic() - started
        await asyncio.to_thread(pg_cluster.start)
        back = time.monotonic()
        recovery = await _first_success_after(server.url, back, 15)
        resumed_from = len(result.acked)
        await until(lambda: len(result.acked) >= resumed_from + 4 * CLIENTS, "writes to resume")
        stop.set()
        await load
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert before_outage > 0, log[-3000:]
    assert outage_status == 503, outage_body
    assert outage_body["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert outage_latency < 5, f"the 503 took {outage_latency:.1f} s"
    assert during.get(503, 0) > 0, during
    assert recovery <= 5, f"served again {recovery:.1f} s after PostgreSQL returned\n{log[-3000:]}"
    # Only 200s and 503s: never a 4xx/500 for a database outage.
    assert set(result.statuses) <= {200, 503}, (result.statuses, result.bad_bodies[:5])
    assert not result.bad_bodies, result.bad_bodies[:5]
    assert result.transport_errors == 0, result.transport_errors
    assert len(result.acked) > before_outage  # writes resumed after the restart
    missing = set(result.acked) - stored_steps(pg_cluster.uri)
    assert not missing, f"{len(missing)} writes answered 200 are missing"
    # The server log says what went wrong and what to do.
    assert "503" in log and "check that the database server is running" in log, log[-3000:]


async def test_server_starts_while_postgres_is_down_fails_clearly(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """Start-up against a stopped database exits non-zero with a message saying what to do."""
    pg_cluster.stop()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiotrack", "server", "--backend-store-uri", pg_cluster.uri,
        "--host", "127.0.0.1", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, text
    assert "Traceback" not in text, text
    assert "cannot reach the database" in text.lower(), text
