"""Durability of group commit: SIGKILL under 64-client load loses no acknowledged write.

Every ``log-metric`` (or 100-point ``log-batch``: on PostgreSQL several groups are then written
at once) answered 200 must be in the database after the server is killed without warning and
started again: a request is answered only after its group's commit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from tests.servers import drop_postgres_database, new_postgres_database, start_aiotrack

CLIENTS = 64
LOAD_SECONDS = 3.0
API = "/api/2.0/mlflow"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/durable.db"
        return
    uri = new_postgres_database("aiotrack_durable")
    try:
        yield uri
    finally:
        drop_postgres_database(uri)


#: Points a log-batch request carries: steps ``100 * n`` to ``100 * n + 99`` for request n.
BATCH = 100


def _request(run: str, step: int, kind: str) -> tuple[str, dict[str, Any]]:
    if kind == "metric":
        body = {"run_id": run, "key": "loss", "value": step * 0.5, "timestamp": 1, "step": step}
        return "runs/log-metric", body
    points = [
        {"key": "loss", "value": i * 0.5, "timestamp": 1, "step": i}
        for i in range(step * BATCH, (step + 1) * BATCH)
    ]
    return "runs/log-batch", {"run_id": run, "metrics": points}


async def _load(
    url: str, run_ids: list[str], kill: asyncio.Event, kind: str
) -> dict[str, list[int]]:
    """Each client logs requests 0, 1, 2, ... to its own run until the server dies."""
    acked: dict[str, list[int]] = {run: [] for run in run_ids}
    deadline = time.monotonic() + 30  # a hard bound whatever happens

    async def client(session: aiohttp.ClientSession, run: str) -> None:
        step = 0
        while time.monotonic() < deadline:
            path, body = _request(run, step, kind)
            try:
                async with session.post(f"{url}{API}/{path}", json=body) as resp:
                    if resp.status == 200:
                        acked[run].append(step)
                    await resp.read()
            except (TimeoutError, aiohttp.ClientError):
                return  # the server is gone
            step += 1

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tasks = [asyncio.create_task(client(session, run)) for run in run_ids]
        await asyncio.sleep(LOAD_SECONDS)
        kill.set()
        await asyncio.gather(*tasks)
    return acked


@pytest.mark.parametrize("kind", ["metric", "batch"])
def test_sigkill_under_load_keeps_every_acknowledged_write(
    backend_uri: str, tmp_path: Path, kind: str
) -> None:
    server = start_aiotrack(backend_uri, tmp_path / "first")
    try:
        session = requests.Session()
        exp = session.post(
            f"{server.url}{API}/experiments/create", json={"name": "durability"}, timeout=10
        ).json()["experiment_id"]
        run_ids = [
            session.post(
                f"{server.url}{API}/runs/create", json={"experiment_id": exp}, timeout=10
            ).json()["run"]["info"]["run_id"]
            for _ in range(CLIENTS)
        ]

        async def scenario() -> dict[str, list[int]]:
            kill = asyncio.Event()

            async def killer() -> None:
                await kill.wait()
                os.killpg(server.process.pid, signal.SIGKILL)

            acked, _ = await asyncio.gather(_load(server.url, run_ids, kill, kind), killer())
            return acked

        acked = asyncio.run(scenario())
        server.process.wait(timeout=10)
        assert server.process.returncode == -signal.SIGKILL
    finally:
        server.stop()
    total = sum(len(steps) for steps in acked.values())
    assert total > CLIENTS * 5, f"too little load to prove anything ({total} writes)"

    again = start_aiotrack(backend_uri, tmp_path / "second")
    try:
        for run, steps in acked.items():
            history = requests.get(
                f"{again.url}{API}/metrics/get-history",
                params={"run_id": run, "metric_key": "loss"},
                timeout=30,
            ).json()
            stored = {m["step"] for m in history.get("metrics", [])}
            if kind == "batch":
                steps = [i for n in steps for i in range(n * BATCH, (n + 1) * BATCH)]
            missing = sorted(set(steps) - stored)
            assert not missing, f"run {run}: acknowledged steps lost after SIGKILL: {missing[:10]}"
    finally:
        again.stop()
