"""Many large log-batch requests at once, several to each run: every answered write lands
whole, a param keeps the value of the request that won, and a request that lost writes
nothing. (On PostgreSQL this load makes aiotrack write several groups at once; a run's
requests must still be checked and written one after the other.)"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
import requests

from tests.servers import RunningServer

pytestmark = pytest.mark.compat

API = "/api/2.0/mlflow"
RUNS = 4
CLIENTS_PER_RUN = 4
REQUESTS = 4
POINTS = 500
KEYS = 5


def _body(run: str, client: int, request: int) -> dict[str, Any]:
    first = (client * REQUESTS + request) * (POINTS // KEYS)
    return {
        "run_id": run,
        "metrics": [
            {"key": f"m{j % KEYS}", "value": j * 0.25, "timestamp": 7, "step": first + j // KEYS}
            for j in range(POINTS)
        ],
        # Differs between a run's clients: only one client's requests can succeed.
        "params": [{"key": "owner", "value": f"client-{client}"}],
        "tags": [{"key": f"c{client}r{request}", "value": "x"}],
    }


async def _load(url: str, runs: list[str]) -> dict[tuple[str, int, int], tuple[int, Any]]:
    answers: dict[tuple[str, int, int], tuple[int, Any]] = {}

    async def client(session: aiohttp.ClientSession, run: str, c: int) -> None:
        for r in range(REQUESTS):
            async with session.post(f"{url}{API}/runs/log-batch", json=_body(run, c, r)) as resp:
                answers[(run, c, r)] = (resp.status, await resp.json(content_type=None))

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(
            *(client(session, run, c) for run in runs for c in range(CLIENTS_PER_RUN))
        )
    return answers


def _experiment_with_runs(
    http: requests.Session, url: str, prefix: str, n: int
) -> tuple[str, list[str]]:
    """A new experiment and the ids of ``n`` runs created in it."""
    exp = http.post(
        f"{url}{API}/experiments/create", json={"name": f"{prefix}-{uuid.uuid4().hex}"}, timeout=30
    ).json()["experiment_id"]
    runs = [
        http.post(f"{url}{API}/runs/create", json={"experiment_id": exp}, timeout=30).json()["run"][
            "info"
        ]["run_id"]
        for _ in range(n)
    ]
    return exp, runs


def test_concurrent_batches_to_shared_runs(tracking_server: RunningServer) -> None:
    url = tracking_server.url
    http = requests.Session()
    _, runs = _experiment_with_runs(http, url, "load", RUNS)
    answers = asyncio.run(_load(url, runs))

    for run in runs:
        data = http.get(f"{url}{API}/runs/get", params={"run_id": run}, timeout=30).json()["run"][
            "data"
        ]
        owner = {p["key"]: p["value"] for p in data["params"]}["owner"]
        winner = int(owner.removeprefix("client-"))
        tags = {t["key"] for t in data.get("tags", [])}
        expected_steps: set[int] = set()
        for c in range(CLIENTS_PER_RUN):
            for r in range(REQUESTS):
                status, body = answers[(run, c, r)]
                if c == winner:
                    assert status == 200, body
                    first = (c * REQUESTS + r) * (POINTS // KEYS)
                    expected_steps |= set(range(first, first + POINTS // KEYS))
                    assert f"c{c}r{r}" in tags
                else:
                    # The run's param was already logged with another value: nothing of
                    # this request may have been written.
                    assert status == 400, body
                    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
                    assert f"c{c}r{r}" not in tags
        for k in range(KEYS):
            history = http.get(
                f"{url}{API}/metrics/get-history",
                params={"run_id": run, "metric_key": f"m{k}"},
                timeout=60,
            ).json()["metrics"]
            assert {m["step"] for m in history} == expected_steps, f"run {run} key m{k}"
            assert len(history) == len(expected_steps)
        latest = {m["key"]: m for m in data["metrics"]}
        assert {key: m["step"] for key, m in latest.items()} == dict.fromkeys(
            (f"m{k}" for k in range(KEYS)), max(expected_steps)
        )


async def _writes_beside_a_stream(url: str, exp: str, runs: list[str]) -> list[float]:
    """Seconds each of 5 run creations took while 8 clients stream 1000-point batches."""
    done = asyncio.Event()
    flowing = asyncio.Event()
    answered = 0

    async def stream(session: aiohttp.ClientSession, run: str, c: int) -> None:
        nonlocal answered
        step = 0
        deadline = asyncio.get_running_loop().time() + 60  # bounded even if the test fails
        while not done.is_set() and asyncio.get_running_loop().time() < deadline:
            metrics = [
                {"key": f"m{j % 10}", "value": j, "timestamp": 1, "step": step + j // 10}
                for j in range(1000)
            ]
            step += 100
            async with session.post(
                f"{url}{API}/runs/log-batch", json={"run_id": run, "metrics": metrics}
            ) as resp:
                assert resp.status == 200, await resp.text()
            answered += 1
            if answered >= 16:
                flowing.set()

    async def creations(session: aiohttp.ClientSession) -> list[float]:
        await flowing.wait()  # the stream is in full flow: two batches per client answered
        took = []
        try:
            for _ in range(5):
                t0 = asyncio.get_running_loop().time()
                async with session.post(
                    f"{url}{API}/runs/create", json={"experiment_id": exp}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                took.append(asyncio.get_running_loop().time() - t0)
        finally:
            done.set()
        return took

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        streams = [stream(session, runs[c % len(runs)], c) for c in range(8)]
        took, *_ = await asyncio.gather(creations(session), *streams)
    return took


def test_other_writes_go_through_a_stream_of_batches(tracking_server: RunningServer) -> None:
    """A continuous stream of log-batch requests does not hold other writes back: while
    groups of batches follow each other, a run creation waits for one group at most, not for
    the stream to end."""
    url = tracking_server.url
    exp, runs = _experiment_with_runs(requests.Session(), url, "stream", 4)
    took = asyncio.run(_writes_beside_a_stream(url, exp, runs))
    assert len(took) == 5
    assert max(took) < 5.0, took
