"""The direct OTLP JSON builder gives protobuf's ``json_format`` message, or steps aside.

For each body: if ``fast_request`` builds a message, MLflow's way (hex ids to base64, then
``ParseDict``) must build an equal one; bodies it does not take fall back to that way.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from aiotrack.tracing.otlp import json_request_like_mlflow
from aiotrack.tracing.otlp_json import fast_request
from tests.tracing.otlp_builders import (
    T0,
    new_span_id,
    new_trace_id,
    otlp_json,
    request,
    span,
)


def _message_json() -> dict[str, Any]:
    trace_id, root = new_trace_id(), new_span_id()
    message = request(
        (
            {
                "service.name": "svc",
                "n": 3,
                "f": 0.5,
                "ok": True,
                "list": ["a", 1],
                "kv": {"x": {}},
            },
            [
                span(
                    trace_id,
                    root,
                    name="root ✓",
                    kind=Span.SPAN_KIND_SERVER,
                    status=(Status.STATUS_CODE_ERROR, "bad"),
                    attributes={
                        "s": "text é",
                        "i": -(2**63),
                        "u": 2**63 - 1,
                        "d": 1e300,
                        "neg": -0.0,
                        "b": False,
                        "arr": [1, "two", 3.5, None, [True], {"k": "v"}],
                        "kv": {"x": {"y": []}, "z": {}},
                        "none": None,
                    },
                    events=[("e", T0 + 1, {"a": 1}), ("f", T0 + 2, {})],
                    links=[(new_trace_id(), new_span_id(), {"rel": "x"})],
                ),
                span(trace_id, parent=root, status=(Status.STATUS_CODE_OK, ""), end=None),
            ],
        ),
        ({}, []),
    )
    message.resource_spans[0].schema_url = "https://schema"
    scope = message.resource_spans[0].scope_spans[0]
    scope.scope.name, scope.scope.version = "lib", "1.0"
    scope.spans[0].trace_state = "k=v"
    scope.spans[0].flags = 257
    scope.spans[0].dropped_attributes_count = 2
    return otlp_json(message)


def _spans(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["resourceSpans"][0]["scopeSpans"][0]["spans"]  # type: ignore[no-any-return]


def _js_style(data: dict[str, Any]) -> dict[str, Any]:
    """As OTel JS sends it: 64-bit integers as numbers, enums as numbers, 1.0 as 1."""
    for item in _spans(data):
        item["startTimeUnixNano"] = int(item["startTimeUnixNano"])
        item["kind"] = Span.SpanKind.Value(item["kind"])
        item.setdefault("status", {})["code"] = 2
        item.setdefault("attributes", []).append({"key": "whole", "value": {"doubleValue": 1}})
        item["droppedEventsCount"] = 0
        item["droppedLinksCount"] = 1
    return data


def _variants() -> list[tuple[str, dict[str, Any]]]:
    base = _message_json()
    variants = [("protobuf JSON mapping", base), ("JS style", _js_style(copy.deepcopy(base)))]

    def variant(name: str, edit: Any) -> None:
        data = copy.deepcopy(base)
        edit(data)
        variants.append((name, data))

    variant("snake_case", lambda d: _spans(d)[0].update(start_time_unix_nano="5"))
    variant("null field", lambda d: _spans(d)[0].update(name=None))
    variant("empty ids", lambda d: _spans(d)[1].update(traceId="", spanId=""))
    variant("upper hex", lambda d: _spans(d)[1].update(spanId=_spans(d)[1]["spanId"].upper()))
    variant("spaced hex", lambda d: _spans(d)[1].update(spanId="01 02 03 04 05 06 07 08"))
    variant("float int", lambda d: _spans(d)[1].update(endTimeUnixNano=5.0))
    variant("signed int", lambda d: _spans(d)[1].update(endTimeUnixNano="+5"))
    variant("enum as string number", lambda d: _spans(d)[1].update(kind="2"))
    variant("unknown enum", lambda d: _spans(d)[1].update(kind=42))
    variant("unknown field", lambda d: _spans(d)[1].update(somethingElse=[1]))
    variant(
        "bytes value",
        lambda d: (
            _spans(d)[1]
            .setdefault("attributes", [])
            .append({"key": "b", "value": {"bytesValue": "AQI="}})
        ),
    )
    variant(
        "empty value",
        lambda d: _spans(d)[1].setdefault("attributes", []).append({"key": "e", "value": {}}),
    )
    variant("key only", lambda d: _spans(d)[1].setdefault("attributes", []).append({"key": "k"}))
    variant(
        "two oneofs",
        lambda d: (
            _spans(d)[1]
            .setdefault("attributes", [])
            .append({"key": "t", "value": {"stringValue": "a", "intValue": "1"}})
        ),
    )
    variant(
        "nan string",
        lambda d: (
            _spans(d)[1]
            .setdefault("attributes", [])
            .append({"key": "n", "value": {"doubleValue": "NaN"}})
        ),
    )
    variant(
        "bool for int",
        lambda d: (
            _spans(d)[1]
            .setdefault("attributes", [])
            .append({"key": "n", "value": {"intValue": True}})
        ),
    )
    variant(
        "big int",
        lambda d: (
            _spans(d)[1]
            .setdefault("attributes", [])
            .append({"key": "n", "value": {"intValue": str(2**63)}})
        ),
    )
    variant("negative time", lambda d: _spans(d)[1].update(startTimeUnixNano=-1))
    variant("no resourceSpans", lambda d: d.update(resourceSpans=[]))
    variant("other top-level key", lambda d: d.update(extra=1))
    return variants


@pytest.mark.parametrize("name, data", _variants(), ids=[name for name, _ in _variants()])
def test_fast_path_equals_json_format(name: str, data: dict[str, Any]) -> None:
    fast = fast_request(copy.deepcopy(data))
    try:
        slow = json_request_like_mlflow(copy.deepcopy(data))
    except Exception:
        assert fast is None, "the fast path took a body MLflow's way refuses"
        return
    if fast is not None:
        assert fast == slow
        assert fast.SerializeToString(deterministic=True) == slow.SerializeToString(
            deterministic=True
        )


def test_the_usual_bodies_take_the_fast_path() -> None:
    base = _message_json()
    assert fast_request(base) is not None
    assert fast_request(_js_style(copy.deepcopy(base))) is not None


@pytest.mark.parametrize("seed", range(25))
def test_random_edits(seed: int) -> None:
    """Random values dropped into random fields: same message, or the fast path steps aside."""
    rng = random.Random(seed)
    data = _message_json()
    values: list[Any] = [None, "", "x", "0a0b", "12", "-3", 7, -7, 2.5, True, [], {}, [None], 2**64]
    for _ in range(3):
        target = rng.choice(_spans(data))
        key = rng.choice(
            [
                "traceId",
                "spanId",
                "parentSpanId",
                "name",
                "kind",
                "startTimeUnixNano",
                "flags",
                "status",
                "events",
                "links",
                "attributes",
                "traceState",
                "droppedAttributesCount",
            ]
        )
        target[key] = rng.choice(values)
    test_fast_path_equals_json_format("random", json.loads(json.dumps(data)))
