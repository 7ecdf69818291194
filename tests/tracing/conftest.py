"""The MLflow 3.18 oracle (``mlflow_oracle.py`` in the reference venv) and the comparison of
aiotrack's decoded batch with what MLflow's server stores for the same body.

The venv is the reference MLflow 3.18 one (``tests.servers.reference18_bin``:
``AIOTRACK_MLFLOW_REFERENCE18`` or ``<repo>/.venv-ref18``); without it the differential tests
skip, or fail where services are required.
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiotrack.errors import AiotrackError
from aiotrack.tracing.otlp import OtlpError, decode_export_request
from aiotrack.tracing.pricing import ModelCatalog
from aiotrack.tracing.records import TraceSummary
from tests.servers import reference18_bin

ORACLE_SCRIPT = Path(__file__).with_name("mlflow_oracle.py")
_TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
)
_COST_COLUMNS = ("input_cost", "output_cost", "total_cost")
# Tags MLflow's store sets on every trace it creates; the trace store's business, not ours.
_STORE_TAGS = {"mlflow.artifactLocation", "mlflow.trace.spansLocation"}


class Oracle:
    """A running ``mlflow_oracle.py``: one command, one answer, in order."""

    def __init__(self, python: Path) -> None:
        self._process = subprocess.Popen(
            [python, str(ORACLE_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def _ask(self, command: dict[str, Any]) -> Any:
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, "the MLflow oracle exited"
        answer = json.loads(line)
        assert "oracle_error" not in answer, answer["oracle_error"]
        return answer

    def ingest(self, body: bytes, content_type: str = "application/x-protobuf") -> Any:
        return self._ask(
            {
                "op": "ingest",
                "body_b64": base64.b64encode(body).decode(),
                "content_type": content_type,
            }
        )

    def client_body(self, scenario: str) -> bytes:
        return base64.b64decode(self._ask({"op": "client", "scenario": scenario})["body_b64"])

    def call(self, function: str, *args: Any) -> Any:
        return self._ask({"op": "call", "function": function, "args": list(args)})["value"]

    def close(self) -> None:
        assert self._process.stdin
        self._process.stdin.close()
        self._process.wait(timeout=30)


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    running = Oracle(reference18_bin() / "python")
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def catalog(oracle: Oracle) -> ModelCatalog:
    """The model catalog the oracle's mlflow bundles (so both price alike)."""
    return ModelCatalog.from_directory(oracle.call("catalog_dir"))


def _token_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value) if float(value) == int(value) else None
    except (TypeError, ValueError, OverflowError):
        return None


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def assert_same_as_mlflow(
    oracle: Oracle,
    body: bytes,
    content_type: str = "application/x-protobuf",
    catalog: ModelCatalog | None = None,
) -> list[TraceSummary] | None:
    """Decode ``body`` with aiotrack and with MLflow; assert the same answer and the same rows.

    Compared: the HTTP outcome (status and detail, or MLflow error code and message), every
    ``spans`` row (``content`` byte for byte), and per trace the ``trace_info`` columns a new
    trace gets from the batch, its tags and its user metadata.
    """
    expected = oracle.ingest(body, content_type)
    media_type = content_type.split(";")[0].strip()
    try:
        traces = decode_export_request(body, media_type, prices=catalog)
    except OtlpError as exc:
        assert (exc.status, {"detail": exc.detail}) == (expected["status"], expected["body"])
        return None
    except AiotrackError as exc:
        assert (exc.status, exc.error_code) == (expected["status"], expected["body"]["error_code"])
        # A database driver's refusal is worded by the driver: only MLflow's own texts compare.
        if exc.error_code != "BAD_REQUEST":
            assert exc.message == expected["body"]["message"]
        return None
    assert expected["status"] == 200, expected["body"]

    rows = {
        (r.trace_id, r.span_id): {**r.row(0), "experiment_id": None}
        for trace in traces
        for r in trace.spans
    }
    stored = {
        (r["trace_id"], r["span_id"]): {**r, "experiment_id": None} for r in expected["spans"]
    }
    assert rows.keys() == stored.keys()
    for key, row in rows.items():
        if row["content"] != stored[key]["content"]:
            assert json.loads(row["content"]) == json.loads(stored[key]["content"]), key
            raise AssertionError(f"{key}: content equal as JSON but not byte for byte")
        assert row == stored[key], key

    assert [t.trace_id for t in traces] == list(expected["traces"])
    for summary in traces:
        trace_id = summary.trace_id
        mlflow_trace = expected["traces"][trace_id]
        info = mlflow_trace["info"]
        mine = {
            "timestamp_ms": summary.min_start_ms,
            "execution_time_ms": (
                summary.max_end_ms - summary.min_start_ms if summary.max_end_ms is not None else 0
            ),
            "status": summary.status or "IN_PROGRESS",
            "request_preview": summary.request_preview,
            "response_preview": summary.response_preview,
            "trace_name": summary.trace_name,
            "session_id": summary.session_id,
            **{c: _token_count(summary.token_usage.get(c)) for c in _TOKEN_COLUMNS},
            **{c: _finite(summary.cost.get(c)) for c in _COST_COLUMNS},
        }
        assert mine == {key: info[key] for key in mine}, trace_id
        tags = {k: v for k, v in mlflow_trace["tags"].items() if k not in _STORE_TAGS}
        assert summary.tags == tags, trace_id
        assert summary.user_id == mlflow_trace["metadata"].get("mlflow.trace.user"), trace_id
    return traces
