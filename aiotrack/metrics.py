"""Prometheus metrics behind ``--expose-prometheus DIR``: ``GET <prefix>/metrics``.

Exposed series (names follow ``mlflow server``'s prometheus-flask-exporter where one exists, so
existing dashboards keep working):

- ``mlflow_http_request_total{method,status,route}`` — requests answered, per route template
  (``/api/2.0/mlflow/runs/get``; unmatched paths are ``<unmatched>``, so labels stay bounded).
- ``mlflow_http_request_duration_seconds{method,status,route}`` — latency histogram, seconds.
- ``aiotrack_db_write_queue_depth`` — log writes queued for the next group commit
  (``store.writer.queue_depth``), summed over workers.
- ``aiotrack_db_pool_connections_in_use`` — connections checked out of the tracking store's
  pool (``pool.checkedout()``), summed over workers.

The two gauges are sampled every `SAMPLE_INTERVAL` seconds by a background task of each process.

``/health``, ``/version`` and ``/metrics`` are not counted (as in MLflow). Values always go through
prometheus-client's multiprocess mode, with one file per process in DIR, so that any number of
workers report together whatever worker a scrape reaches. prometheus-client only learns DIR from
the ``PROMETHEUS_MULTIPROC_DIR`` environment variable, so `enable` sets it (the one environment
hand-off in aiotrack, imposed by that library). The server wipes DIR once before it starts
its workers (`prepare_directory`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = [
    "METRICS_PATH",
    "SAMPLE_INTERVAL",
    "enable",
    "mark_process_dead",
    "prepare_directory",
    "setup_metrics",
]

log = logging.getLogger("aiotrack.metrics")

METRICS_PATH = "/metrics"
#: Seconds between two samples of the write-queue and pool gauges.
SAMPLE_INTERVAL = 1.0
_UNCOUNTED = ("/health", "/version", METRICS_PATH)
_UNMATCHED = "<unmatched>"


@dataclass(frozen=True)
class _Metrics:
    directory: str
    requests: Any
    latency: Any
    write_queue: Any
    pool_in_use: Any


_metrics: _Metrics | None = None


def prepare_directory(directory: str) -> None:
    """Create DIR and delete the previous run's ``*.db`` files (stale counters otherwise add up).

    Call once per server start, before any worker records a value.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def mark_process_dead(pid: int, directory: str) -> None:
    """Drop a finished worker's live gauges (write queue, pool) from the totals in DIR."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def enable(directory: str) -> None:
    """Switch this process to multiprocess metrics in ``directory`` and create the series.

    Idempotent for the same directory; a different one is refused (one DIR per process).
    """
    global _metrics
    directory = os.path.abspath(directory)
    if _metrics is not None:
        if _metrics.directory != directory:
            raise RuntimeError(f"metrics already enabled in {_metrics.directory}")
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from prometheus_client import Counter, Gauge, Histogram, values

    # The value class is chosen when prometheus_client is imported; it may have been imported
    # before the variable was set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    labels = ("method", "status", "route")
    _metrics = _Metrics(
        directory=directory,
        requests=Counter("mlflow_http_request", "HTTP requests answered", labels, registry=None),
        latency=Histogram(
            "mlflow_http_request_duration_seconds",
            "HTTP request latency (seconds)",
            labels,
            registry=None,
        ),
        write_queue=Gauge(
            "aiotrack_db_write_queue_depth",
            "Database writes waiting to start",
            multiprocess_mode="livesum",
            registry=None,
        ),
        pool_in_use=Gauge(
            "aiotrack_db_pool_connections_in_use",
            "Database connections checked out of the connection pools",
            multiprocess_mode="livesum",
            registry=None,
        ),
    )


def setup_metrics(app: web.Application, directory: str, prefix: str = "") -> Middleware:
    """Enable metrics, add ``<prefix>/metrics`` to ``app`` and return the counting middleware.

    Put the middleware first so that every answer is counted, the security 403s included.
    """
    enable(directory)
    assert _metrics is not None
    metrics = _metrics
    uncounted = frozenset(prefix + p for p in _UNCOUNTED)

    async def expose(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(_collect, metrics.directory)
        from prometheus_client import CONTENT_TYPE_LATEST

        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get(prefix + METRICS_PATH, expose)
    app.cleanup_ctx.append(_sample_gauges)

    @web.middleware
    async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in uncounted:
            return await handler(request)
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else _UNMATCHED
            key = (request.method, str(status), route)
            metrics.requests.labels(*key).inc()
            metrics.latency.labels(*key).observe(time.perf_counter() - start)

    return count_requests


def _collect(directory: str) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))


async def _sample_gauges(app: web.Application) -> AsyncIterator[None]:
    """Sample the write queue and the pool of the tracking store (opened before this runs)."""
    from aiotrack.keys import TRACKING_STORE

    assert _metrics is not None
    metrics = _metrics
    store = app.get(TRACKING_STORE)
    writer = getattr(store, "writer", None)
    pool = getattr(getattr(getattr(store, "db", None), "engine", None), "pool", None)

    async def sample() -> None:
        while True:
            depth = getattr(writer, "queue_depth", None)
            if isinstance(depth, int):
                metrics.write_queue.set(depth)
            checked_out = getattr(pool, "checkedout", None)
            if callable(checked_out):
                metrics.pool_in_use.set(checked_out())
            await asyncio.sleep(SAMPLE_INTERVAL)

    task = asyncio.create_task(sample())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
