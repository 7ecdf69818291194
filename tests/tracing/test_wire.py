"""The proto JSON of traces against MLflow's own conversion (the client library is the oracle):
trace infos through ``TraceInfo.to_proto`` and stored spans through ``Span.from_dict`` +
``to_otel_proto``, both serialised by MLflow's ``message_to_json``."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from mlflow.entities import Span, TraceInfo, TraceLocation, TraceState
from mlflow.protos.service_pb2 import GetTrace, StartTraceV3
from mlflow.protos.service_pb2 import Trace as ProtoTrace
from mlflow.tracing.utils import TraceJSONEncoder
from mlflow.utils.proto_json_utils import message_to_json

from aiotrack.errors import InvalidParameter
from aiotrack.tracing import entities
from aiotrack.tracing.wire import (
    duration_json,
    parse_duration,
    parse_timestamp,
    span_otel_json,
    timestamp_json,
    trace_info_json,
    trace_info_v2_json,
)

INFOS = [
    dict(request_time=1700000000123, execution_duration=1500, state="OK"),
    dict(request_time=0, execution_duration=None, state="IN_PROGRESS"),
    dict(request_time=1700000000000, execution_duration=0, state="ERROR"),
    dict(request_time=1700000000001, execution_duration=2000, state="STATE_UNSPECIFIED"),
    dict(request_time=-1500, execution_duration=1, state="OK"),
]


@pytest.mark.parametrize("case", INFOS)
@pytest.mark.parametrize("extras", [False, True])
def test_trace_info_json_is_mlflows(case: dict[str, Any], extras: bool) -> None:
    more: dict[str, Any] = {}
    if extras:
        more = dict(
            client_request_id="c-1",
            request_preview="rq",
            response_preview="rs",
            tags={"a": "b", "long": "x" * 5000},
            trace_metadata={"m": "v", "big": "y" * 300},
        )
    theirs = TraceInfo(
        trace_id="tr-abc",
        trace_location=TraceLocation.from_experiment_id("7"),
        request_time=case["request_time"],
        execution_duration=case["execution_duration"],
        state=TraceState(case["state"]),
        **more,
    )
    ours = entities.TraceInfo(
        trace_id="tr-abc",
        experiment_id="7",
        request_time=case["request_time"],
        execution_duration=case["execution_duration"],
        state=case["state"],
        client_request_id=more.get("client_request_id"),
        request_preview=more.get("request_preview"),
        response_preview=more.get("response_preview"),
        tags=more.get("tags", {}),
        metadata=more.get("trace_metadata", {}),
    )
    expected = json.loads(
        message_to_json(StartTraceV3.Response(trace=ProtoTrace(trace_info=theirs.to_proto())))
    )
    assert {"trace": {"trace_info": trace_info_json(ours)}} == expected
    from mlflow.entities.trace_info_v2 import TraceInfoV2

    expected_v2 = json.loads(message_to_json(TraceInfoV2.from_v3(theirs).to_proto()))
    assert trace_info_v2_json(ours) == expected_v2


@pytest.mark.parametrize("ms", [0, 1, 999, 1000, 1500, 123456789, -1, -1500, 86_400_000 * 365])
def test_timestamps_and_durations_round_trip(ms: int) -> None:
    assert parse_timestamp(timestamp_json(ms), "t") == ms
    assert parse_duration(duration_json(ms), "d") == ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2023-11-14T22:13:20Z", 1700000000000),
        ("2023-11-14T22:13:20.123456789Z", 1700000000123),
        ("2023-11-14T23:13:20.5+01:00", 1700000000500),
        ("2023-11-14T21:13:20-01:00", 1700000000000),
    ],
)
def test_parse_timestamp_forms(text: str, ms: int) -> None:
    assert parse_timestamp(text, "t") == ms


@pytest.mark.parametrize("bad", ["", "yesterday", 123, None, "2023-13-40T00:00:00Z", "1.5"])
def test_bad_timestamps_and_durations_are_400(bad: Any) -> None:
    with pytest.raises(InvalidParameter):
        parse_timestamp(bad, "request_time")
    with pytest.raises(InvalidParameter):
        parse_duration(bad if bad != "1.5" else "1.5m", "execution_duration")


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def _stored_contents() -> list[str]:
    """Span JSON as MLflow's server stores it (``Span.to_dict`` with JSON-dumped attribute
    values), written out here so that no global tracer state is involved."""
    trace_id, root, child = bytes(range(16)), bytes(range(8)), bytes(range(8, 16))
    request_id = json.dumps("tr-" + trace_id.hex())

    def dumped(values: dict[str, Any]) -> dict[str, str]:
        return {
            k: json.dumps(v, cls=TraceJSONEncoder, ensure_ascii=False) for k, v in values.items()
        }

    root_span = {
        "trace_id": _b64(trace_id),
        "span_id": _b64(root),
        "parent_span_id": None,
        "name": "root",
        "start_time_unix_nano": 1_700_000_000_000_000_000,
        "end_time_unix_nano": 1_700_000_001_000_000_000,
        "events": [],
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {
            "mlflow.traceRequestId": request_id,
            **dumped({"mlflow.spanInputs": {"q": "héllo", "n": [1, 2.5, None, True]}}),
            **dumped({"mlflow.spanOutputs": "done", "mlflow.spanType": "CHAIN"}),
        },
        "links": [],
    }
    child_span = {
        **root_span,
        "span_id": _b64(child),
        "parent_span_id": _b64(root),
        "name": "child",
        "events": [{"name": "ev", "time_unix_nano": 123, "attributes": {"q": 1, "s": "x"}}],
        "status": {"code": "STATUS_CODE_ERROR", "message": "bad"},
        "attributes": {
            "mlflow.traceRequestId": request_id,
            **dumped(
                {
                    "int": 3,
                    "float": 1.5,
                    "nan": math.nan,
                    "inf": math.inf,
                    "bool": False,
                    "list": [1, "a", {"k": [None]}],
                    "dict": {"a": {"b": 1}},
                    "empty_list": [],
                    "empty_dict": {},
                    "text": "plain",
                    "none": None,
                }
            ),
        },
    }
    return [json.dumps(span, ensure_ascii=False) for span in (root_span, child_span)]


def test_stored_spans_answer_as_mlflows_otel_json() -> None:
    for content in _stored_contents():
        span = Span.from_dict(json.loads(content))
        proto = GetTrace.Response(trace=ProtoTrace(spans=[span.to_otel_proto()]))
        expected = json.loads(message_to_json(proto))["trace"]["spans"][0]
        # 3.18 also answers the span kind (INTERNAL for spans stored without one); the 3.17.2
        # library used as the oracle here predates it.
        expected.setdefault("kind", "SPAN_KIND_INTERNAL")
        assert span_otel_json(content) == expected
        assert (
            span_otel_json(json.dumps({**json.loads(content), "kind": "SPAN_KIND_CLIENT"}))["kind"]
            == "SPAN_KIND_CLIENT"
        )
