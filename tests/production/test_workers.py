"""``--workers N`` (SO_REUSEPORT), the SQLite single-process rule, gunicorn and --dev."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.production.conftest import (
    create_runs,
    log_metric_load,
    sigterm,
    spawn_aiotrack,
    stored_steps,
)
from tests.servers import drop_postgres_database, new_postgres_database

CLIENTS = 64
LISTENING = re.compile(r"\[(\d+) aiotrack\] aiotrack listening on")
#: uvloop is a dependency on Linux: every serving process runs on it.
EVENT_LOOP = re.compile(r"aiotrack listening on \S+ \(event loop: (\w+)\)")


def _get_text(url: str) -> str:
    return requests.get(url, timeout=10).text


@pytest.fixture
def pg_uri() -> Iterator[str]:
    uri = new_postgres_database("aiotrack_workers")
    yield uri
    drop_postgres_database(uri)


@pytest.mark.postgres
async def test_four_workers_on_postgres_under_load(pg_uri: str, tmp_path: Path) -> None:
    server = spawn_aiotrack(
        pg_uri, tmp_path, "--workers", "4", "--expose-prometheus", str(tmp_path / "prom")
    )
    try:
        runs = await create_runs(server.url, CLIENTS)
        result = await log_metric_load(server.url, runs, 4)
        metrics = await asyncio.to_thread(_get_text, server.url + "/metrics")
        sigterm(server)
        signalled = time.monotonic()
        code = await asyncio.to_thread(server.process.wait, 30)
        exit_after = time.monotonic() - signalled
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    pids = set(LISTENING.findall(log))
    assert len(pids) == 4, log[-3000:]
    assert EVENT_LOOP.findall(log) == ["uvloop"] * 4, log[-3000:]
    assert set(result.statuses) == {200}, (result.statuses, result.bad_bodies[:5])
    assert result.transport_errors == 0
    assert len(result.acked) >= CLIENTS
    assert not set(result.acked) - stored_steps(pg_uri)
    assert code == 0 and exit_after <= 10, (code, exit_after)
    # Counts from every worker add up in one scrape (multiprocess mode).
    total = sum(
        float(v)
        for v in re.findall(
            r'mlflow_http_request_total\{method="POST",route="/api/2.0/mlflow/runs/log-metric",'
            r'status="200"\} (\S+)',
            metrics,
        )
    )
    assert total == len(result.acked)


def test_sqlite_runs_one_process_and_says_why(tmp_path: Path) -> None:
    server = spawn_aiotrack(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, "--workers", "4")
    try:
        assert requests.get(server.url + "/version", timeout=10).status_code == 200
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "with a SQLite backend aiotrack runs ONE process" in log
    assert len(LISTENING.findall(log)) == 1
    assert EVENT_LOOP.findall(log) == ["uvloop"], log[-3000:]


def test_gunicorn_runs_the_app_with_its_middleware(tmp_path: Path) -> None:
    server = spawn_aiotrack(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        tmp_path,
        "--gunicorn-opts",
        "--timeout 60 --log-level info",
    )
    try:
        resp = requests.post(
            f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "g"}, timeout=10
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
        evil = requests.get(f"{server.url}/", headers={"Host": "evil.example"}, timeout=10)
        assert evil.status_code == 403
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "Using worker: aiohttp.worker.GunicornUVLoopWebWorker" in log, log[-2000:]


def test_dev_mode_logs_debug_and_watches_the_package(tmp_path: Path) -> None:
    server = spawn_aiotrack(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, "--dev")
    try:
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "restarting on changes under" in log, log[-2000:]
    assert " DEBUG " in log
