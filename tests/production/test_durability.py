"""Durability of group commit: SIGKILL under 64-client load loses no acknowledged write.

Every ``log-metric`` answered 200 must be in the database after the server is killed without
warning and started again: a request is answered only after its group's commit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

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


async def _load(url: str, run_ids: list[str], kill: asyncio.Event) -> dict[str, list[int]]:
    """Each client logs steps 0, 1, 2, ... to its own run until the server dies."""
    acked: dict[str, list[int]] = {run: [] for run in run_ids}
    deadline = time.monotonic() + 30  # a hard bound whatever happens

    async def client(session: aiohttp.ClientSession, run: str) -> None:
        step = 0
        while time.monotonic() < deadline:
            body = {"run_id": run, "key": "loss", "value": step * 0.5, "timestamp": 1, "step": step}
            try:
                async with session.post(f"{url}{API}/runs/log-metric", json=body) as resp:
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


def test_sigkill_under_load_keeps_every_acknowledged_write(
    backend_uri: str, tmp_path: Path
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

            acked, _ = await asyncio.gather(_load(server.url, run_ids, kill), killer())
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
            missing = sorted(set(steps) - stored)
            assert not missing, f"run {run}: acknowledged steps lost after SIGKILL: {missing[:10]}"
    finally:
        again.stop()
