"""Graceful shutdown: SIGTERM under load loses no acknowledged write and exits in time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.production.conftest import (
    LoadResult,
    create_runs,
    log_metric_load,
    sigterm,
    spawn_aiotrack,
    stored_steps,
    until,
)

CLIENTS = 64
SHUTDOWN_TIMEOUT = 5.0


async def test_sigterm_during_load_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    server = spawn_aiotrack(uri, tmp_path, "--shutdown-timeout", str(SHUTDOWN_TIMEOUT))
    try:
        runs = await create_runs(server.url, CLIENTS)
        result = LoadResult()
        load = asyncio.create_task(log_metric_load(server.url, runs, 20, result=result))
        await until(lambda: len(result.acked) >= 4 * CLIENTS, "the load to be in full flow")
        sigterm(server)
        signalled = time.monotonic()
        code = await asyncio.to_thread(server.process.wait, 30)
        exit_after = time.monotonic() - signalled
        await load
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert exit_after <= SHUTDOWN_TIMEOUT, f"exited {exit_after:.1f} s after SIGTERM"
    assert result.acked, result.statuses
    # Every answer before the stop was a success; afterwards connections are refused.
    assert set(result.statuses) == {200}, (result.statuses, result.bad_bodies[:5])
    missing = set(result.acked) - stored_steps(uri)
    assert not missing, f"{len(missing)} of {len(result.acked)} acknowledged writes are missing"
    assert "Shutting down" in log and "Stopped after" in log


async def test_slow_request_is_cut_at_the_timeout(tmp_path: Path) -> None:
    """With a tiny timeout the process still exits promptly even if clients keep sending."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    server = spawn_aiotrack(uri, tmp_path, "--shutdown-timeout", "1")
    try:
        runs = await create_runs(server.url, 8)
        result = LoadResult()
        load = asyncio.create_task(log_metric_load(server.url, runs, 10, result=result))
        await until(lambda: len(result.acked) >= 8, "the first writes to be answered")
        sigterm(server)
        signalled = time.monotonic()
        code = await asyncio.to_thread(server.process.wait, 30)
        exit_after = time.monotonic() - signalled
        await load
    finally:
        server.stop()
    assert code == 0
    assert exit_after <= 1 + 5  # timeout + the documented exit grace, at most
