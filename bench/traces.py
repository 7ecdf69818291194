"""Tracing scenarios: OTLP ingest, ``traces/search`` over 100k traces, ``traces/get`` of a
5,000-span trace.

``traces-ingest``: exporters each POST one trace of 20 spans per request to ``/v1/traces`` as
the MLflow client's ``RestStore.log_spans`` does (an ``ExportTraceServiceRequest`` protobuf
body, ``x-mlflow-experiment-id`` header), back to back. The body is built once, from live MLflow
spans; each request gets a fresh trace id by swapping the template's id bytes (same length, so
the protobuf framing is untouched). The load runs in a process of its own: on 2 cores the load
generator's CPU would otherwise be charged to the event loop that samples the server.

``traces-search``: 100k traces are written straight into MLflow's tables (``trace_info``,
``trace_tags``, ``trace_request_metadata``), the same rows for every server, then one tag filter,
newest first, 100 results, is timed; every answer is checked against the expected 100 ids.

``traces-get``: one trace of 5,000 spans is sent through the server's own OTLP endpoint (500
spans a request, the root last), then fetched whole; the figures are its time and the growth
of the server's resident memory during the first fetch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import resource
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from bench.scenarios import MAX_REQUESTS, Client, Figures, Target, pct
from bench.servers import rss_bytes, tree_cpu_seconds, tree_pids
from bench.tracedb import (
    SEARCH_FILTER_TAG,
    SEARCH_VALUE,
    expected_page,
    get_floor,
    search_floor,
    seed_traces,
    stored_traces,
)

__all__ = [
    "TraceTemplate",
    "build_trace",
    "export_body",
    "ingest_load",
    "renew",
    "trace_scenarios",
    "traces_get",
    "traces_ingest",
    "traces_search",
]

OTLP_PATH = "/v1/traces"
API3 = "/api/3.0/mlflow"


def _protobuf_headers(experiment_id: str) -> dict[str, str]:
    return {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}


# -- building traces as the MLflow client does -------------------------------------------------


def _span_payload(kind: str, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Inputs and outputs of a typical agent span of ``kind`` (a few hundred bytes each)."""
    if kind == "LLM":
        return (
            {"model": "gpt-4o-mini", "temperature": 0.2, "messages": [
                {"role": "system", "content": "You are a careful assistant. " * 8},
                {"role": "user", "content": f"Step {i}: summarise the retrieved notes. " * 3},
            ]},
            {"id": f"chatcmpl-{i}", "object": "chat.completion", "choices": [
                {"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": f"Summary {i}: the notes agree. " * 10}}],
             "usage": {"prompt_tokens": 180, "completion_tokens": 64, "total_tokens": 244}},
        )  # fmt: skip
    if kind == "TOOL":
        return (
            {"query": f"SELECT * FROM orders WHERE customer = 'c{i % 20:02d}' LIMIT 5"},
            {"rows": [{"order": f"o{i}-{j}", "total": 10.5 * j, "status": "shipped"}
                      for j in range(5)]},
        )  # fmt: skip
    if kind == "AGENT":
        return ({"step": i, "goal": "answer the customer's question"}, {"done": True, "step": i})
    return (
        {"question": "Where is my order and when will it arrive? " * 2},
        {"answer": "Your order shipped yesterday and arrives on Friday. " * 3},
    )


@dataclass(frozen=True)
class TraceTemplate:
    """The OTLP proto spans of one trace, children first and the root last (the order the
    client's exporter sees them end), and the 16 id bytes they share."""

    spans: list[Any]
    trace_id: bytes

    def body(self, start: int = 0, stop: int | None = None) -> bytes:
        """An ``ExportTraceServiceRequest`` of spans ``[start:stop]``, serialized."""
        return export_body(self.spans[start:stop])


def export_body(spans: list[Any]) -> bytes:
    """Serialize ``spans`` as ``RestStore.log_spans`` does: one resource (the client's empty
    one), one scope, all spans."""
    from mlflow.tracing.utils.otlp import resource_to_otel_proto
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.CopyFrom(resource_to_otel_proto(None))
    resource_spans.scope_spans.add().spans.extend(spans)
    return bytes(request.SerializeToString())


def build_trace(n_spans: int, start_ns: int | None = None) -> TraceTemplate:
    """A trace of ``n_spans`` spans built with MLflow's own ``LiveSpan`` over OpenTelemetry
    SDK spans (the attributes, JSON encodings and proto conversion the client uses).

    Shape: a CHAIN root; under it an AGENT step every third span, each step holding an LLM
    call (with token usage) and a TOOL call. Spans last 1 ms each, in sequence."""
    from mlflow.entities.span import LiveSpan
    from mlflow.tracing.constant import SpanAttributeKey
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("aiotrack-bench")
    t0 = start_ns if start_ns is not None else time.time_ns()
    root = tracer.start_span("customer_support_agent", start_time=t0)
    trace_id = root.get_span_context().trace_id.to_bytes(16, "big")
    mlflow_id = "tr-" + trace_id.hex()

    def live(otel_span: Any, kind: str, i: int) -> Any:
        span = LiveSpan(otel_span, mlflow_id, kind)
        inputs, outputs = _span_payload(kind, i)
        span.set_inputs(inputs)
        span.set_outputs(outputs)
        if kind == "LLM":
            span.set_attribute(SpanAttributeKey.CHAT_USAGE,
                               {"input_tokens": 180, "output_tokens": 64, "total_tokens": 244})  # fmt: skip
        span.set_status("OK")
        return span

    root_span = live(root, "CHAIN", 0)
    done: list[Any] = []
    step: Any = None
    step_ctx = otel_trace.set_span_in_context(root)
    for i in range(1, n_spans):
        t = t0 + i * 1_000_000
        if i % 3 == 1 or step is None:
            if step is not None:
                step[0].end(end_time=t)
                done.append(step[1])
            otel = tracer.start_span(f"step_{i // 3}", context=otel_trace.set_span_in_context(root),
                                     start_time=t)  # fmt: skip
            step = (otel, live(otel, "AGENT", i))
            step_ctx = otel_trace.set_span_in_context(otel)
            continue
        kind = "LLM" if i % 3 == 2 else "TOOL"
        otel = tracer.start_span(kind.lower() if kind == "TOOL" else "ChatOpenAI",
                                 context=step_ctx, start_time=t)  # fmt: skip
        span = live(otel, kind, i)
        otel.end(end_time=t + 900_000)
        done.append(span)
    end = t0 + n_spans * 1_000_000
    if step is not None:
        step[0].end(end_time=end)
        done.append(step[1])
    root.end(end_time=end + 1_000_000)
    done.append(root_span)
    return TraceTemplate([s.to_otel_proto() for s in done], trace_id)


def renew(body: bytes, old_id: bytes, new_id: bytes) -> bytes:
    """``body`` with the trace id ``old_id`` replaced by ``new_id``: the 16 raw bytes of every
    span and the ``tr-<hex>`` request-id attribute (lengths unchanged, framing intact)."""
    return body.replace(old_id, new_id).replace(old_id.hex().encode(), new_id.hex().encode())


# -- traces-ingest ------------------------------------------------------------------------------


async def _ingest(
    url: str, experiment_id: str, exporters: int, duration: float, template: TraceTemplate
) -> dict[str, Any]:
    body = template.body()
    headers = _protobuf_headers(experiment_id)
    latencies: list[float] = []
    errors = 0
    first_error = ""
    connector = aiohttp.TCPConnector(limit=exporters)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=600)
    ) as session:
        stop_at = time.perf_counter() + duration

        async def exporter() -> None:
            nonlocal errors, first_error
            while time.perf_counter() < stop_at and len(latencies) < MAX_REQUESTS:
                data = renew(body, template.trace_id, os.urandom(16))
                t = time.perf_counter()
                async with session.post(url + OTLP_PATH, data=data, headers=headers) as resp:
                    answer = await resp.read()
                latencies.append(time.perf_counter() - t)
                if resp.status != 200:
                    errors += 1
                    first_error = first_error or f"{resp.status} {answer[:200]!r}"

        start = time.perf_counter()
        await asyncio.gather(*(exporter() for _ in range(exporters)))
        wall = time.perf_counter() - start
    return {"latencies": latencies, "errors": errors, "first_error": first_error, "wall": wall}


def ingest_load(url: str, experiment_id: str, exporters: int, duration: float,
                n_spans: int = 20) -> dict[str, Any]:  # fmt: skip
    """Run the exporters in this process (meant to be a process of its own) on aiotrack's
    event loop; latencies in s, ``wall`` s, and this process's CPU seconds (``loader_cpu``)."""
    from aiotrack.server import run_async

    template = build_trace(n_spans)  # before the clock: the body is built once, not per request
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    out = run_async(_ingest(url, experiment_id, exporters, duration, template))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    out["loader_cpu"] = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return out


async def _create_experiment(c: Client) -> str:
    status, body = await c.post("/experiments/create", {"name": f"bench-{uuid.uuid4().hex}"})
    assert status == 200, body
    return str(orjson.loads(body)["experiment_id"])


async def traces_ingest(target: Target, exporters: int, duration: float,
                        n_spans: int = 20) -> Figures:  # fmt: skip
    """``exporters`` concurrent OTLP exporters for ``duration`` s, one ``n_spans``-span trace a
    request: spans/s, export latency, and (with a database to read) whether every trace a 200
    acknowledged was stored whole."""
    c = Client(target.url, 2)
    try:
        exp = await _create_experiment(c)
    finally:
        await c.close()
    loop = asyncio.get_running_loop()
    # spawn: a fresh interpreter, not a fork of this process (its loop, sampler thread, heap).
    with concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        out = await loop.run_in_executor(pool, ingest_load, target.url, exp, exporters,
                                         duration, n_spans)  # fmt: skip
    lat: list[float] = out["latencies"]
    if out["errors"]:
        print(f"    first export error: {out['first_error']}", flush=True)
    ok = len(lat) - out["errors"]
    if not ok:  # no figure from a server that took nothing (e.g. no OTLP endpoint)
        raise RuntimeError(f"every export failed: {out['first_error']}")
    figures: Figures = {
        "spans/s": ok * n_spans / out["wall"],
        "export p50 ms": pct(lat, 0.5) * 1000,
        "export p99 ms": pct(lat, 0.99) * 1000,
        "errors": float(out["errors"]),
        "loader CPU ms/req": 1000 * out["loader_cpu"] / max(1, len(lat)),
        "_requests": float(len(lat)),
    }
    if target.backend_uri:
        traces, spans = await asyncio.to_thread(stored_traces, target.backend_uri, exp)
        # An acknowledged trace that is missing, or short of spans, is an error like a 5xx.
        figures["unstored-span errors"] = float(max(0, ok * n_spans - spans))
        if traces < ok:
            print(f"    only {traces} of {ok} acknowledged traces stored", flush=True)
    return figures


# -- traces-search ------------------------------------------------------------------------------


def search_body(experiment_id: str) -> dict[str, Any]:
    """The ``traces/search`` request: one tag filter, newest first, 100 results."""
    return {
        "locations": [{"type": "MLFLOW_EXPERIMENT",
                       "mlflow_experiment": {"experiment_id": experiment_id}}],
        "filter": f"tags.{SEARCH_FILTER_TAG} = '{SEARCH_VALUE}'",
        "max_results": 100,
        "order_by": ["timestamp_ms DESC"],
    }  # fmt: skip


async def traces_search(target: Target, n: int, reps: int = 15) -> Figures:
    """p50 and p90 of ``reps`` identical tag-filtered, newest-first searches over ``n`` seeded
    traces; each answer must be exactly the expected 100 traces in order. "SQL floor" is
    `search_floor`: the database's own share, which no server can go under. Server CPU (its
    process tree; a PostgreSQL backend is not in it) is robust to other load on the machine."""
    c = Client(target.url, 2)
    try:
        exp = await _create_experiment(c)
        seed0 = time.perf_counter()
        await asyncio.to_thread(seed_traces, target.backend_uri, exp, n)
        seed_s = time.perf_counter() - seed0
        expected = await asyncio.to_thread(expected_page, exp, n)
        data = orjson.dumps(search_body(exp))
        times: list[float] = []
        cpu0 = tree_cpu_seconds(target.pid)
        for _ in range(reps):
            t = time.perf_counter()
            async with c.session.post(target.url + API3 + "/traces/search", data=data,
                                      headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
                body = await resp.read()
            times.append(time.perf_counter() - t)
            assert resp.status == 200, body[:300]
            got = [info["trace_id"] for info in orjson.loads(body).get("traces", [])]
            assert got == expected, f"search returned {len(got)} traces, not the expected 100"
        cpu = tree_cpu_seconds(target.pid) - cpu0
        floor = await asyncio.to_thread(search_floor, target.backend_uri, exp)
    finally:
        await c.close()
    return {
        "search p50 ms": statistics.median(times) * 1000,
        "search p90 ms": pct(times, 0.9) * 1000,
        "server CPU ms/search": 1000 * cpu / reps,
        "SQL floor p50 ms": floor * 1000,
        "response KB": len(body) / 1024,
        "seed s": seed_s,
    }


# -- traces-get ---------------------------------------------------------------------------------


async def _get(c: Client, path: str, params: dict[str, str]) -> tuple[int, bytes]:
    async with c.session.get(c.url + path, params=params) as resp:
        return resp.status, await resp.read()


async def _wait_idle(pid: int, busy: float = 0.1, limit: float = 120.0) -> None:
    """Until the server's tree uses under ``busy`` of a core over a second (work an ingest
    left behind is not charged to the fetch)."""
    before = tree_cpu_seconds(pid)
    for _ in range(int(limit)):
        await asyncio.sleep(1.0)
        now = tree_cpu_seconds(pid)
        if now - before < busy:
            return
        before = now


async def traces_get(target: Target, n_spans: int, reps: int = 3, chunk: int = 500) -> Figures:
    """Send one ``n_spans``-span trace (``chunk`` spans a request, the root last), then GET it
    ``reps`` times: the median time, the first fetch's time and the server's RSS growth during
    it (peak less the value just before, sampled every 10 ms), and the response size. "SQL
    floor" is `get_floor`: reading the rows alone, which no server can go under."""
    c = Client(target.url, 2)
    try:
        exp = await _create_experiment(c)
        template = await asyncio.to_thread(build_trace, n_spans)
        trace_id = "tr-" + template.trace_id.hex()
        seed0 = time.perf_counter()
        for start in range(0, n_spans, chunk):
            body = await asyncio.to_thread(template.body, start, start + chunk)
            async with c.session.post(target.url + OTLP_PATH, data=body,
                                      headers=_protobuf_headers(exp)) as resp:  # fmt: skip
                answer = await resp.read()
                assert resp.status == 200, f"{resp.status} {answer[:300]!r}"
        seed_s = time.perf_counter() - seed0
        await _wait_idle(target.pid)
        pids = tree_pids(target.pid)
        times: list[float] = []
        growth = size = 0.0
        cpu0 = tree_cpu_seconds(target.pid)
        for rep in range(reps):
            base = peak = rss_bytes(pids)
            t = time.perf_counter()
            task = asyncio.ensure_future(_get(c, API3 + "/traces/get", {"trace_id": trace_id}))
            while not task.done():
                peak = max(peak, rss_bytes(pids))
                await asyncio.wait([task], timeout=0.01)
            status, body = task.result()
            times.append(time.perf_counter() - t)
            assert status == 200, body[:300]
            if rep == 0:
                growth, size = (peak - base) / 2**20, len(body) / 2**20
                spans = orjson.loads(body)["trace"]["spans"]
                assert len(spans) == n_spans, f"get returned {len(spans)} of {n_spans} spans"
        cpu = tree_cpu_seconds(target.pid) - cpu0
        print(f"    fetches: {', '.join(f'{x:.3f}' for x in times)} s", flush=True)
        floor = await asyncio.to_thread(get_floor, target.backend_uri, trace_id)
    finally:
        await c.close()
    return {
        "get s": statistics.median(times),
        "first get s": times[0],
        "server CPU s/get": cpu / reps,
        "get RSS growth MB": growth,
        "SQL floor s": floor,
        "response MB": size,
        "seed s": seed_s,
    }


def trace_scenarios(quick: bool) -> dict[str, Any]:
    """The tracing scenarios by name, as `bench.scenarios.SCENARIOS` lists them."""
    d = 4.0 if quick else 10.0
    n = 20_000 if quick else 100_000
    return {
        "traces-ingest 64 exporters": lambda t: traces_ingest(t, 64, d),
        f"traces-search {n // 1000}k traces": lambda t: traces_search(t, n),
        "traces-get 5k spans": lambda t: traces_get(t, 5000),
    }
