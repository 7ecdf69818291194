"""``decode_export_request`` on its own: the answers that differ from MLflow on purpose, the
media types, the summary's shape, and the model catalog's pricing rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from aiotrack.errors import InvalidParameter
from aiotrack.tracing.otlp import (
    CANNOT_CONVERT,
    FAILED_TO_LOG,
    INVALID_FORMAT,
    NO_SPANS,
    OtlpError,
    decode_export_request,
    media_type_of,
)
from aiotrack.tracing.pricing import ModelCatalog
from tests.tracing.otlp_builders import (
    T0,
    body,
    new_span_id,
    new_trace_id,
    otlp_json,
    request,
    span,
)

PB = "application/x-protobuf"


@pytest.mark.parametrize(
    "data",
    [
        b"[]",  # MLflow: AttributeError, a 500
        b'{"resourceSpans": [1]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"links": {"traceId": "00"}}]}]}]}',
        b'{"resourceSpans": {"a": 1}}',
    ],
)
def test_json_bodies_mlflow_fails_on_are_400(data: bytes) -> None:
    with pytest.raises(OtlpError) as caught:
        decode_export_request(data, "application/json")
    assert (caught.value.status, caught.value.detail) == (400, INVALID_FORMAT)


def test_request_errors() -> None:
    with pytest.raises(OtlpError) as caught:
        decode_export_request(request().SerializeToString(), PB)
    assert (caught.value.status, caught.value.detail) == (400, NO_SPANS)
    with pytest.raises(OtlpError) as caught:
        decode_export_request(body(span(new_trace_id(), b"")), PB)
    assert (caught.value.status, caught.value.detail) == (422, CANNOT_CONVERT)
    with pytest.raises(OtlpError) as caught:
        decode_export_request(body(span(b"\x01" * 17)), PB)
    assert (caught.value.status, caught.value.detail) == (422, FAILED_TO_LOG)
    with pytest.raises(InvalidParameter, match="'Session ID' exceeds the maximum length of 250"):
        decode_export_request(body(span(new_trace_id(), attributes={"session.id": "s" * 251})), PB)
    # Resources without spans: nothing to store, no error.
    assert decode_export_request(request(({"a": 1}, [])).SerializeToString(), PB) == []


@pytest.mark.parametrize(
    "content_type, media_type",
    [
        ("application/x-protobuf", PB),
        ("application/json; charset=utf-8", "application/json"),
        ("  application/json ;x=y", "application/json"),
    ],
)
def test_media_types(content_type: str, media_type: str) -> None:
    assert media_type_of(content_type) == media_type


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "Application/JSON"])
def test_unknown_media_types(content_type: str | None) -> None:
    with pytest.raises(OtlpError) as caught:
        media_type_of(content_type)
    assert caught.value.status == 400
    assert caught.value.detail == (
        f"Invalid Content-Type: {content_type}. "
        "Expected: application/x-protobuf or application/json"
    )


def test_summaries_in_order_with_their_spans() -> None:
    first, second = new_trace_id(), new_trace_id()
    root = new_span_id()
    message = request(
        (
            {"service.name": "codex_cli_rs", "host": "h"},
            [
                span(second, parent=new_span_id(), start=T0 + 1),
                span(first, root, status=(Status.STATUS_CODE_ERROR, "x"), end=T0 + 7_000_000),
                span(first, parent=root, start=T0 - 3_000_000),
            ],
        )
    )
    for data, media_type in (
        (message.SerializeToString(), PB),
        (json.dumps(otlp_json(message)).encode(), "application/json"),
    ):
        traces = decode_export_request(data, media_type)
        assert [t.trace_id for t in traces] == ["tr-" + second.hex(), "tr-" + first.hex()]
        assert [len(t.spans) for t in traces] == [1, 2]
        assert traces[0].status is None and traces[1].status == "ERROR"
        assert (traces[1].min_start_ms, traces[1].max_end_ms) == (
            (T0 - 3_000_000) // 10**6,
            (T0 + 7_000_000) // 10**6,
        )
        assert traces[1].tags == {"service.name": "codex_cli_rs", "host": "h"}
        root_record = traces[1].spans[0]
        assert root_record.span_id == root.hex() and root_record.parent_span_id is None
        assert json.loads(root_record.content)["attributes"]["service.name"] == '"codex_cli_rs"'


def _catalog(tmp_path: Path) -> ModelCatalog:
    def write(provider: str, models: dict[str, object]) -> None:
        (tmp_path / f"{provider}.json").write_text(
            json.dumps({"schema_version": "1.0", "models": models})
        )

    write(
        "alpha",
        {"m1": {"pricing": {"input_per_million_tokens": 1.0, "output_per_million_tokens": 2.0}}},
    )
    write(
        "beta",
        {
            "m1": {"pricing": {"input_per_million_tokens": 9.0}},
            "free": {"mode": "chat"},
            "cached": {
                "pricing": {
                    "input_per_million_tokens": 10.0,
                    "output_per_million_tokens": 20.0,
                    "cache_read_per_million_tokens": 1.0,
                    "cache_write_per_million_tokens": 12.5,
                    "cache_write_1hr_per_million_tokens": 20.0,
                }
            },
        },
    )
    write("databricks", {"databricks-m": {"pricing": {"input_per_million_tokens": 3.0}}})
    return ModelCatalog.from_directory(tmp_path)


def test_model_catalog_pricing(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    # No provider: the first provider by name that prices the model.
    assert catalog.cost("m1", usage, None) == {
        "input_cost": 1.0,
        "output_cost": 2.0,
        "total_cost": 3.0,
    }
    # A provider (case-insensitive) picks its file; the part before "/" is dropped.
    assert catalog.cost("vendor/m1", usage, "BETA") == {
        "input_cost": 9.0,
        "output_cost": 0.0,
        "total_cost": 9.0,
    }
    # An unknown provider falls back to the scan.
    assert catalog.cost("m1", usage, "nope")["total_cost"] == 3.0  # type: ignore[index]
    # Listed without prices: free (MLflow stores a zero cost).
    assert catalog.cost("free", usage, None) == {
        "input_cost": 0.0,
        "output_cost": 0.0,
        "total_cost": 0.0,
    }
    # Databricks endpoint names are priced from the databricks catalog whatever the provider.
    assert catalog.cost("databricks-m", usage, "alpha")["input_cost"] == 3.0  # type: ignore[index]
    for model in ("gateway:/x", "endpoints:/m1", "unknown", ""):
        assert catalog.cost(model, usage, None) is None
    assert catalog.cost("m1", {"input_tokens": 0, "output_tokens": 0}, None) is None
    assert catalog.cost("m1", {}, None) is None
    # Cache reads, 5-minute and 1-hour cache writes each at their rate.
    cached = catalog.cost(
        "cached",
        {
            "input_tokens": 1_000_000,
            "output_tokens": 0,
            "cache_read_input_tokens": 200_000,
            "cache_creation_input_tokens": 300_000,
            "cache_creation_input_tokens_above_1hr": 100_000,
        },
        "beta",
    )
    assert cached is not None
    assert cached["input_cost"] == pytest.approx(5.0 + 0.2 + 2.5 + 2.0)
    with pytest.raises(AttributeError):
        catalog.cost(5, usage, None)  # the caller stores no cost, as MLflow's does
