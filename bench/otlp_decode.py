"""OTLP decoding throughput on one core: spans/s of ``decode_export_request`` (no server, no DB).

    python -m bench.otlp_decode                  # both requests, MLflow's model catalog if found
    python -m bench.otlp_decode --catalog DIR    # price LLM spans from this catalog directory

Two requests, shaped as the MLflow Python client sends them (``RestStore.log_spans``: the
client's attributes as typed OTLP values, inputs and outputs as key-value lists): one 20-span
trace (a root and 19 tool spans), and 5,000 spans (250 such traces) in one request, also as
OTLP JSON (hex ids, as OTel's JavaScript exporters send it). The figure
is CPU time of this process (``time.process_time``), so other load on the machine matters less.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from aiotrack.tracing.otlp import JSON, PROTOBUF, decode_export_request
from aiotrack.tracing.pricing import ModelCatalog, PriceCatalog, mlflow_catalog_directory
from tests.tracing.otlp_builders import T0, otlp_json, request, span

RESOURCE = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "mlflow",
    "telemetry.sdk.version": "3.18.0",
}


def client_trace() -> list[Span]:
    """A 20-span trace as the MLflow client exports it: a root and 19 TOOL children."""
    trace_id, root_id = os.urandom(16), os.urandom(8)
    request_id = "tr-" + trace_id.hex()
    spans = [
        span(
            trace_id,
            root_id,
            name="root op",
            attributes={
                "mlflow.traceRequestId": request_id,
                "mlflow.spanType": "UNKNOWN",
                "mlflow.spanFunctionName": "root",
                "mlflow.spanInputs": {},
                "mlflow.spanOutputs": {"done": True},
                "mlflow.spanLogLevel": 20,
            },
            status=(Status.STATUS_CODE_OK, ""),
            end=T0 + 50_000_000,
        )
    ]
    for i in range(19):
        spans.append(
            span(
                trace_id,
                parent=root_id,
                name=f"step {i}",
                attributes={
                    "mlflow.traceRequestId": request_id,
                    "mlflow.spanType": "TOOL",
                    "mlflow.spanInputs": {"i": i, "payload": "x" * 200, "nested": {"a": [1, 2.5]}},
                    "mlflow.spanOutputs": {"ok": True, "i": i},
                    "mlflow.spanLogLevel": 20,
                },
                status=(Status.STATUS_CODE_OK, ""),
                start=T0 + i * 1_000_000,
                end=T0 + i * 1_000_000 + 200_000,
            )
        )
    return spans


def spans_per_second(
    body: bytes, media_type: str, n_spans: int, prices: PriceCatalog | None, seconds: float
) -> float:
    decode_export_request(body, media_type, prices=prices)  # warm up
    rounds, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        decode_export_request(body, media_type, prices=prices)
        rounds += 1
    return rounds * n_spans / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, help="model catalog directory (MLflow's format)")
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per figure")
    args = parser.parse_args()
    directory = args.catalog or mlflow_catalog_directory()
    prices = ModelCatalog.from_directory(directory) if directory else None
    print(f"model catalog: {directory or 'none (no costs)'}")

    small = request((RESOURCE, client_trace())).SerializeToString()
    big_spans = [s for _ in range(250) for s in client_trace()]
    big_message = request((RESOURCE, big_spans))
    big = big_message.SerializeToString()
    big_json = json.dumps(otlp_json(big_message)).encode()
    for label, body, media_type, count in (
        ("20-span MLflow client trace", small, PROTOBUF, 20),
        ("5,000-span request", big, PROTOBUF, len(big_spans)),
        ("5,000-span request, OTLP JSON", big_json, JSON, len(big_spans)),
    ):
        rate = spans_per_second(body, media_type, count, prices, args.seconds)
        print(f"{label:32} {len(body):>9,} bytes  {rate:>9,.0f} spans/s (one core)")


if __name__ == "__main__":
    main()
