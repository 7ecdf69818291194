"""A server that does nothing: the floor the load generator and the kernel set on latencies.

``python -m bench.noop PORT`` answers the routes the write scenarios use, on aiohttp and uvloop
as aiotrack does, without a database: ``experiments/create`` and ``runs/create`` return ids,
any other POST reads its body and returns ``{}``; ``/v1/traces`` (OTLP) reads its body and
returns the empty protobuf ``ExportTraceServiceResponse``. What the log-metric and
traces-ingest scenarios measure against it is what the same machine gives a server that costs
nothing per request.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from aiohttp import web

from bench.scenarios import drive

API = "/api/2.0/mlflow"


async def _health(_request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def _create_experiment(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"experiment_id": "1"})


async def _create_run(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"run": {"info": {"run_id": uuid.uuid4().hex}}})


async def _anything(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({})


async def _otlp(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b"", content_type="application/x-protobuf")


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/health", _health)
    app.router.add_post(f"{API}/experiments/create", _create_experiment)
    app.router.add_post(f"{API}/runs/create", _create_run)
    app.router.add_post(API + "/{tail:.*}", _anything)
    app.router.add_post("/v1/traces", _otlp)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()  # until SIGTERM


if __name__ == "__main__":
    drive(serve(int(sys.argv[1])))  # on uvloop, as aiotrack serves
