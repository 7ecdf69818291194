"""Load scenarios: each drives a server over HTTP on 127.0.0.1 and returns named figures.

Every loop is bounded in time and in request count. The client is aiohttp with keep-alive
connections; the same code drives aiotrack and ``mlflow server``, so ratios are fair.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson

from aiotrack.server import run_async
from bench.artifacts import TransferError, download, generate, sha256, upload
from bench.servers import rss_bytes, tree_pids

__all__ = ["SCENARIOS", "Figures", "Target", "drive"]

API = "/api/2.0/mlflow"
Figures = dict[str, float]
MAX_REQUESTS = 2_000_000  # hard cap on any loop, whatever the duration


T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """The server a scenario drives: its base URL, the pid at the root of its process tree
    (for scenarios that sample the server's memory from /proc), and its database URI (for
    scenarios that seed or check MLflow's tables directly; empty for the no-op server)."""

    url: str
    pid: int
    backend_uri: str = ""


def drive(main: Coroutine[Any, Any, T]) -> T:
    """Run a scenario on the event loop aiotrack serves on (uvloop where installed).

    The load generator shares the machine's cores with the server under test, so its own CPU
    per request is taken from the server's: against a no-op aiohttp handler, 64 clients on
    asyncio's loop reached 3,750-4,900 requests/s, on uvloop 6,780 (same machine, same hour).
    """
    return run_async(main)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


_JSON = {"Content-Type": "application/json"}


class Client:
    """A thin JSON client over one aiohttp session."""

    def __init__(self, url: str, connections: int) -> None:
        self.url = url
        connector = aiohttp.TCPConnector(limit=connections, force_close=False)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=600)
        )

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        # orjson: the stdlib encoder took ~2 ms of the shared CPU per 1000-metric body.
        async with self.session.post(
            self.url + API + path, data=orjson.dumps(body), headers=_JSON
        ) as resp:
            data = await resp.read()
            return resp.status, data

    async def get(self, path: str, params: dict[str, Any]) -> tuple[int, bytes]:
        async with self.session.get(self.url + API + path, params=params) as resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        await self.session.close()


async def _experiment(c: Client) -> str:
    status, body = await c.post("/experiments/create", {"name": f"bench-{uuid.uuid4().hex}"})
    assert status == 200, body
    import json

    return str(json.loads(body)["experiment_id"])


async def _run(c: Client, experiment_id: str) -> str:
    import json

    status, body = await c.post(
        "/runs/create", {"experiment_id": experiment_id, "start_time": int(time.time() * 1000)}
    )
    assert status == 200, body
    return str(json.loads(body)["run"]["info"]["run_id"])


async def _closed_loop(
    n_clients: int, duration: float, make_request: Callable[[int, int], Awaitable[int]]
) -> tuple[list[float], int, float]:
    """``n_clients`` each send requests back-to-back for ``duration`` s.

    ``make_request(client_index, i)`` returns the HTTP status. Returns latencies (s), errors,
    and the measured wall time.
    """
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration

    async def worker(k: int) -> None:
        nonlocal errors
        i = 0
        while time.perf_counter() < stop_at and len(latencies) < MAX_REQUESTS:
            t0 = time.perf_counter()
            status = await make_request(k, i)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1
            i += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(n_clients)))
    return latencies, errors, time.perf_counter() - start


async def log_metric(url: str, clients: int, duration: float) -> Figures:
    c = Client(url, clients)
    try:
        exp = await _experiment(c)
        runs = [await _run(c, exp) for _ in range(clients)]

        async def req(k: int, i: int) -> int:
            status, _ = await c.post(
                "/runs/log-metric",
                {"run_id": runs[k], "key": "loss", "value": random.random(),
                 "timestamp": int(time.time() * 1000), "step": i},
            )  # fmt: skip
            return status

        lat, errors, wall = await _closed_loop(clients, duration, req)
    finally:
        await c.close()
    return {
        "req/s": len(lat) / wall,
        "p50 ms": pct(lat, 0.5) * 1000,
        "p99 ms": pct(lat, 0.99) * 1000,
        "errors": errors,
        "_requests": len(lat),
    }


async def log_batch(url: str, clients: int, duration: float) -> Figures:
    c = Client(url, clients)
    try:
        exp = await _experiment(c)
        runs = [await _run(c, exp) for _ in range(clients)]

        async def req(k: int, i: int) -> int:
            now = int(time.time() * 1000)
            metrics = [
                {"key": f"m{j % 10}", "value": random.random(), "timestamp": now,
                 "step": i * 100 + j // 10}
                for j in range(1000)
            ]  # fmt: skip
            status, _ = await c.post("/runs/log-batch", {"run_id": runs[k], "metrics": metrics})
            return status

        lat, errors, wall = await _closed_loop(clients, duration, req)
    finally:
        await c.close()
    return {
        "points/s": len(lat) * 1000 / wall,
        "p50 ms": pct(lat, 0.5) * 1000,
        "errors": errors,
        "_requests": len(lat),
    }


async def mixed(url: str, jobs: int, duration: float, rate_hz: float = 10.0) -> Figures:
    """``jobs`` runs each log one metric ``rate_hz`` times a second (a point waits for the
    previous one: a job that falls behind sends late); a UI client polls runs/search."""
    c = Client(url, jobs + 1)
    try:
        exp = await _experiment(c)
        runs = [await _run(c, exp) for _ in range(jobs)]
        lateness: list[float] = []
        scheduled_total = 0
        errors = 0
        t0 = time.perf_counter() + 0.5
        end = t0 + duration
        polls: list[float] = []

        async def job(k: int) -> None:
            nonlocal scheduled_total, errors
            period = 1.0 / rate_hz
            offset = random.random() * period
            step = 0
            while True:
                due = t0 + offset + step * period
                if due >= end:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                status, _ = await c.post(
                    "/runs/log-metric",
                    {"run_id": runs[k], "key": "loss", "value": random.random(),
                     "timestamp": int(time.time() * 1000), "step": step},
                )  # fmt: skip
                done = time.perf_counter()
                if status == 200 and done <= end + 1.0:
                    lateness.append(done - due)
                elif status != 200:
                    errors += 1
                step += 1
            scheduled_total += int((end - t0 - offset) * rate_hz) + 1

        async def ui() -> None:
            while time.perf_counter() < end:
                p0 = time.perf_counter()
                await c.post("/runs/search", {"experiment_ids": [exp], "max_results": 100})
                polls.append(time.perf_counter() - p0)
                await asyncio.sleep(max(0.0, 0.5 - (time.perf_counter() - p0)))

        await asyncio.gather(ui(), *(job(k) for k in range(jobs)))
    finally:
        await c.close()
    return {
        "in %": 100.0 * len(lateness) / max(1, scheduled_total),
        "late p50 ms": pct(lateness, 0.5) * 1000,
        "late p99 ms": pct(lateness, 0.99) * 1000,
        "poll p99 ms": pct(polls, 0.99) * 1000,
        "errors": errors,
    }


async def _seed_runs(c: Client, exp: str, n: int, concurrency: int = 8) -> None:
    # Seeding is not measured. 8 at a time: at 16, `mlflow server`'s SQLAlchemy pool (5 + 10
    # overflow, 30 s timeout) gave out on a slow machine and the search cells stayed empty.
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            run = await _run(c, exp)
            now = int(time.time() * 1000)
            status, body = await c.post(
                "/runs/log-batch",
                {
                    "run_id": run,
                    "params": [{"key": f"p{j}", "value": str(random.randint(0, 9))} for j in range(10)],
                    "metrics": [{"key": f"m{j}", "value": random.random(), "timestamp": now, "step": 0}
                                for j in range(5)],
                    "tags": [{"key": f"t{j}", "value": f"v{i % 7}"} for j in range(5)],
                },
            )  # fmt: skip
            assert status == 200, body

    await asyncio.gather(*(one(i) for i in range(n)))


async def search(url: str, n_runs: int, reps: int = 15) -> Figures:
    """p50 of ``reps`` alternating plain / filtered searches after seeding: 15 rather than a
    handful, so a few seconds of noise from elsewhere on the machine move the median little."""
    c = Client(url, 16)
    try:
        exp = await _experiment(c)
        seed0 = time.perf_counter()
        await _seed_runs(c, exp, n_runs)
        seed_s = time.perf_counter() - seed0
        plain: list[float] = []
        filtered: list[float] = []
        for _ in range(reps):
            t = time.perf_counter()
            status, body = await c.post(
                "/runs/search", {"experiment_ids": [exp], "max_results": 1000}
            )
            assert status == 200, body[:300]
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            status, body = await c.post(
                "/runs/search",
                {"experiment_ids": [exp], "max_results": 1000,
                 "filter": "metrics.m0 > 0.5 and params.p1 != '3'",
                 "order_by": ["metrics.m1 DESC"]},
            )  # fmt: skip
            assert status == 200, body[:300]
            filtered.append(time.perf_counter() - t)
    finally:
        await c.close()
    return {
        "plain p50 ms": statistics.median(plain) * 1000,
        "filter+order p50 ms": statistics.median(filtered) * 1000,
        "seed s": seed_s,
    }


async def history(url: str, n_points: int, reps: int = 3) -> Figures:
    c = Client(url, 8)
    try:
        exp = await _experiment(c)
        run = await _run(c, exp)
        sem = asyncio.Semaphore(4)

        async def batch(b: int) -> None:
            async with sem:
                metrics = [
                    {"key": "loss", "value": random.random(), "timestamp": 1_700_000_000_000 + b,
                     "step": b * 1000 + j}
                    for j in range(1000)
                ]  # fmt: skip
                status, body = await c.post("/runs/log-batch", {"run_id": run, "metrics": metrics})
                assert status == 200, body

        await asyncio.gather(*(batch(b) for b in range(n_points // 1000)))
        times: list[float] = []
        for _ in range(reps):
            t = time.perf_counter()
            status, body = await c.get(
                "/metrics/get-history", {"run_id": run, "metric_key": "loss"}
            )
            assert status == 200, body[:300]
            times.append(time.perf_counter() - t)
    finally:
        await c.close()
    return {"get-history s": statistics.median(times)}


async def artifact(target: Target, size_mib: int) -> Figures:
    """PUT one ``size_mib`` file through the artifact proxy, GET it back, check its bytes.

    The transfers run in a thread (blocking sockets, as in ``bench/artifacts.py``) while this
    loop samples the server's resident memory every 20 ms; growth is the peak during the
    transfer less the value just before it.
    """
    port = urlsplit(target.url).port or 80
    path = f"/api/2.0/mlflow-artifacts/artifacts/bench/{uuid.uuid4().hex}/blob.bin"
    pids = tree_pids(target.pid)
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="aiotrack-bench-artifact-") as tmp:
        source, back = Path(tmp) / "source.bin", Path(tmp) / "back.bin"
        size = size_mib * 2**20
        await asyncio.to_thread(generate, source, size)
        for name, transfer in (
            ("upload", lambda: upload(port, path, source)),
            ("download", lambda: download(port, path, back)),
        ):
            base = peak = rss_bytes(pids)
            t0 = time.perf_counter()
            task = asyncio.ensure_future(asyncio.to_thread(transfer))
            while not task.done():
                peak = max(peak, rss_bytes(pids))
                await asyncio.wait([task], timeout=0.02)
            task.result()
            figures[f"{name} MiB/s"] = size_mib / (time.perf_counter() - t0)
            figures[f"{name} RSS growth MB"] = (peak - base) / 2**20
        if back.stat().st_size != size or await asyncio.to_thread(sha256, back) != (
            await asyncio.to_thread(sha256, source)
        ):
            raise TransferError("the downloaded artifact differs from the uploaded one")
    return figures


def _hostile_requests() -> list[tuple[str, str, dict[str, Any]]]:
    """The ten hostile searches of issue 23 (method, path, JSON body): each was a 5xx, a
    crash, a frozen event loop or a runaway database statement before."""
    clauses = lambda n, t: " AND ".join(t.format(i=i) for i in range(n))  # noqa: E731
    return [
        ("POST", "/runs/search", {"experiment_ids": ["0"],
                                  "filter": clauses(100_000, "params.p{i} = 'a'")[:2_000_000]}),
        ("POST", "/runs/search", {"experiment_ids": ["0"],
                                  "filter": clauses(100, "params.p{i} = 'a'") + " AND "
                                  + clauses(100, "metrics.m{i} >= 0")}),
        ("POST", "/runs/search", {"experiment_ids": ["0"],
                                  "filter": clauses(1500, "metrics.m{i} > 0")}),
        ("POST", "/runs/search", {"experiment_ids": ["0"],
                                  "order_by": [f"params.p{i}" for i in range(63)]}),
        ("POST", "/runs/search", {"experiment_ids": [str(i) for i in range(40_000)]}),
        ("POST", "/runs/search", {"experiment_ids": ["0"], "filter": "attributes.run_id IN ("
                                  + ",".join(f"'{i}'" for i in range(20_000)) + ")"}),
        ("POST", "/experiments/search", {"max_results": 10,
                                         "filter": "name = '" + "x" * 2_000_000 + "'"}),
        ("POST", "/experiments/search", {"max_results": 10,
                                         "filter": clauses(1000, "tags.t{i} = 'a'")}),
        ("POST", "/logged-models/search", {"experiment_ids": [str(i) for i in range(40_000)],
                                           "filter": clauses(300, "params.p{i} = 'a'")}),
        ("POST", "/runs/search", {"experiment_ids": ["0"],
                                  "filter": clauses(999, "params.p{i} = 'a'")}),
    ]  # fmt: skip


def _probe_health(url: str, seconds: float) -> list[float]:
    """``GET /health`` every 20 ms for ``seconds`` on one keep-alive connection; the latencies.

    Run in a process of its own: probed from the load generator's event loop, the figure would
    include that loop's own lag (it sends the 2 MB hostile filters and reads their answers)."""
    import http.client

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        t = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        latencies.append(time.perf_counter() - t)
        time.sleep(0.02)
    conn.close()
    return latencies


async def hostile(url: str, duration: float, n_runs: int) -> Figures:
    """``/health`` p99 (every 20 ms, from a process of its own) and a normal search's p50 (100
    of ``n_runs`` runs, back to back) for ``duration`` s while ten clients each repeat one
    hostile search; then the share of hostile answers that were a 5xx or a dropped connection.
    ``/health`` p99 with no attack, probed the same way just before, is the machine's floor."""
    import concurrent.futures

    c = Client(url, 32)
    pool = concurrent.futures.ProcessPoolExecutor(1)
    loop = asyncio.get_running_loop()
    try:
        exp = await _experiment(c)
        await _seed_runs(c, exp, n_runs)
        idle = await loop.run_in_executor(pool, _probe_health, url, 2.0)
        health: list[float] = []
        searches: list[float] = []
        answers: list[int] = []
        stop_at = time.perf_counter() + duration

        async def attacker(method: str, path: str, body: dict[str, Any]) -> None:
            data = orjson.dumps(body)
            while time.perf_counter() < stop_at:
                try:
                    async with c.session.request(
                        method, url + API + path, data=data, headers=_JSON,
                        timeout=aiohttp.ClientTimeout(total=max(1.0, stop_at - time.perf_counter())),
                    ) as resp:  # fmt: skip
                        await resp.read()
                        answers.append(resp.status)
                except (TimeoutError, aiohttp.ClientError):
                    if time.perf_counter() < stop_at:
                        answers.append(599)

        async def prober() -> None:
            health.extend(
                await loop.run_in_executor(pool, _probe_health, url, stop_at - time.perf_counter())
            )

        async def searcher() -> None:
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                status, body = await c.post(
                    "/runs/search",
                    {"experiment_ids": [exp], "max_results": 100,
                     "filter": "metrics.m0 > 0.5 and params.p1 != '3'"},
                )  # fmt: skip
                assert status == 200, body[:300]
                searches.append(time.perf_counter() - t)

        attackers = [attacker(*r) for r in _hostile_requests()]
        await asyncio.sleep(0.5)  # the attack is under way before the first probe
        await asyncio.gather(*attackers, prober(), searcher())
    finally:
        await c.close()
        pool.shutdown()
    bad = sum(1 for s in answers if s >= 500)
    return {
        "/health p99 ms, no attack": pct(idle, 0.99) * 1000,
        "/health p99 ms": pct(health, 0.99) * 1000,
        "/health max ms": max(health, default=math.nan) * 1000,
        "search p50 ms": statistics.median(searches) * 1000 if searches else math.nan,
        "hostile answers": float(len(answers)),
        "hostile 5xx errors": float(bad),
    }


Scenario = Callable[[Target], Coroutine[Any, Any, Figures]]


def _scenarios(quick: bool) -> dict[str, Scenario]:
    from bench.traces import trace_scenarios  # bench.traces builds on this module

    d = 4.0 if quick else 10.0
    mib = 256 if quick else 1024
    return {
        "log-metric 1 client": lambda t: log_metric(t.url, 1, d),
        "log-metric 16 clients": lambda t: log_metric(t.url, 16, d),
        "log-metric 64 clients": lambda t: log_metric(t.url, 64, d),
        "log-batch 1 client": lambda t: log_batch(t.url, 1, d),
        "log-batch 4 clients": lambda t: log_batch(t.url, 4, d),
        "log-batch 16 clients": lambda t: log_batch(t.url, 16, d),
        "mixed 64 jobs": lambda t: mixed(t.url, 64, d),
        "search 1k runs": lambda t: search(t.url, 1000),
        "search 10k runs": lambda t: search(t.url, 2000 if quick else 10000),
        "history 100k points": lambda t: history(t.url, 100_000),
        "history 1M points": lambda t: history(t.url, 200_000 if quick else 1_000_000),
        f"artifact {mib} MiB": lambda t: artifact(t, mib),
        "hostile": lambda t: hostile(t.url, d * 2, 200 if quick else 1000),
        **trace_scenarios(quick),
    }


SCENARIOS = _scenarios
