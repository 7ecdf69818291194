"""Seed a live aiotrack server through its REST API, concurrently (bounded aiohttp pool).

``seed_runs`` creates an experiment of N runs, each with params, a few metrics and a tag, using
``runs/create`` + one ``runs/log-batch`` per run; ``seed_long_history`` logs a single metric of
N points in 1000-point ``log-batch`` requests (the API's per-request metric limit).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = [
    "SeededExperiment",
    "history_value",
    "insert_history_sql",
    "seed_long_history",
    "seed_runs",
]

API = "/api/2.0/mlflow"
CONCURRENCY = 12


@dataclass
class SeededExperiment:
    experiment_id: str
    run_ids: list[str] = field(default_factory=list)


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with session.post(url, json=body) as resp:
        data: dict[str, Any] = await resp.json(content_type=None)
        if resp.status != 200:
            raise AssertionError(f"POST {url} -> {resp.status}: {data}")
        return data


async def _bounded(n: int, job: Callable[[int], Awaitable[None]]) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await job(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def seed_runs(base_url: str, name: str, n_runs: int) -> SeededExperiment:
    """Experiment ``name`` with ``n_runs`` runs; run ``i`` has param ``x = 'v{i % 100}'``,
    ``lr``, metrics ``acc`` (a random value) and ``loss`` (two steps), tag ``team``."""
    rng = random.Random(7)
    accs = [rng.random() for _ in range(n_runs)]
    run_ids: list[str | None] = [None] * n_runs
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(base_url, connector=connector) as session:
        exp = await _post(session, f"{API}/experiments/create", {"name": name})
        exp_id = exp["experiment_id"]

        async def one(i: int) -> None:
            t = 1_700_000_000_000 + i * 1000
            run = await _post(
                session,
                f"{API}/runs/create",
                {"experiment_id": exp_id, "run_name": f"run-{i:05d}", "start_time": t},
            )
            run_id = run["run"]["info"]["run_id"]
            run_ids[i] = run_id
            await _post(
                session,
                f"{API}/runs/log-batch",
                {
                    "run_id": run_id,
                    "params": [
                        {"key": "x", "value": f"v{i % 100}"},
                        {"key": "lr", "value": str(10 ** -(i % 5))},
                    ],
                    "metrics": [
                        {"key": "acc", "value": accs[i], "timestamp": t, "step": 0},
                        {"key": "loss", "value": 2.0 - accs[i], "timestamp": t, "step": 0},
                        {"key": "loss", "value": 1.0 - accs[i], "timestamp": t + 500, "step": 1},
                    ],
                    "tags": [{"key": "team", "value": ("red", "blue")[i % 2]}],
                },
            )
            if i % 10 == 0:  # one run in ten finished; updating all would add 50% to seeding
                await _post(
                    session,
                    f"{API}/runs/update",
                    {"run_id": run_id, "status": "FINISHED", "end_time": t + 60_000},
                )

        await _bounded(n_runs, one)
    return SeededExperiment(exp_id, [r for r in run_ids if r])


async def seed_long_history(
    base_url: str,
    run_id: str,
    key: str,
    n_points: int,
    spike_step: int,
    spike_value: float,
    only: set[int] | None = None,
) -> None:
    """``n_points`` points of ``key`` at steps 0..n-1 (:func:`history_value`), except
    ``spike_value`` at ``spike_step`` alone; ``only`` limits it to those 1000-step batches."""
    batch = 1000
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(base_url, connector=connector) as session:

        async def one(b: int) -> None:
            metrics = []
            for step in range(b * batch, min(n_points, (b + 1) * batch)):
                value = spike_value if step == spike_step else history_value(step)
                metrics.append(
                    {
                        "key": key,
                        "value": value,
                        "timestamp": 1_700_000_000_000 + step,
                        "step": step,
                    }
                )
            await _post(session, f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metrics})

        batches = sorted(only) if only is not None else range((n_points + batch - 1) // batch)

        async def pick(i: int) -> None:
            await one(batches[i])

        await _bounded(len(batches), pick)


def insert_history_sql(db_path: str, run_id: str, key: str, steps: range) -> None:
    """Insert ``key`` points at ``steps`` straight into SQLite's ``metrics`` table (the REST path
    does ~10 s per 100k points on this 2-core machine; the points around them go through the
    API so ``latest_metrics`` and the spike are the server's own doing). Values as in
    :func:`history_value`; safe next to the running server (WAL, busy timeout)."""
    import sqlite3

    conn = sqlite3.connect(db_path, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        rows = ((key, history_value(s), 1_700_000_000_000 + s, run_id, s, 0) for s in steps)
        with conn:
            conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        # Fold the large WAL back into the database, as the server's own checkpoints would.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def history_value(step: int) -> float:
    """The long history's value at ``step``: a noisy decay within [0, 1.1]."""
    return 1.0 / (1 + step / 50_000) + (step % 7) * 0.01
