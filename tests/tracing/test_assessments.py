"""The storage-independent assessment rules: values, aggregates, timestamps and wire JSON."""

from __future__ import annotations

from typing import Any

import pytest

from aiotrack.errors import InvalidParameter
from aiotrack.tracing.assessments import (
    Assessment,
    AssessmentError,
    assessment_json,
    expectation_value,
    new_assessment,
    parse_timestamp,
    proto_value,
    timestamp_json,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2020-01-01T00:00:00Z", 1_577_836_800_000),
        ("2020-01-01T00:00:00.5Z", 1_577_836_800_500),
        ("2020-01-01T00:00:00.123999999Z", 1_577_836_800_123),  # sub-ms digits floored
        ("2020-01-01T00:00:00+01:00", 1_577_833_200_000),
        ("2020-01-01t01:30:00-00:30", 1_577_844_000_000),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_parse_timestamp(text: str, ms: int) -> None:
    assert parse_timestamp(text, "t") == ms


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "2020-01-01",
        "2020-13-01T00:00:00Z",
        "2020-01-01T00:00:00",
        "0000-01-01T00:00:00Z",
    ],
)
def test_parse_timestamp_refuses(text: str) -> None:
    with pytest.raises(InvalidParameter, match=r"for parameter 'assessment.create_time'"):
        parse_timestamp(text, "assessment.create_time")


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_577_836_800_500, "2020-01-01T00:00:00.500Z"),
        (1_577_836_800_007, "2020-01-01T00:00:00.007Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-62135596800000, "0001-01-01T00:00:00Z"),
    ],
)
def test_timestamp_json(ms: int, text: str) -> None:
    assert timestamp_json(ms) == text


def test_proto_value_makes_numbers_doubles() -> None:
    value = proto_value({"a": [1, True, None, "s", {"b": 2**70}]}, "v")
    assert value == {"a": [1.0, True, None, "s", {"b": float(2**70)}]}
    assert type(value["a"][0]) is float and value["a"][1] is True


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), [float("-inf")], 10**400])
def test_proto_value_refuses_non_finite(bad: Any) -> None:
    with pytest.raises(InvalidParameter, match="NaN or Infinity"):
        proto_value(bad, "assessment.feedback.value")


def test_expectation_value() -> None:
    assert expectation_value(1, None, "e") == 1.0
    assert expectation_value("ignored", ("JSON_FORMAT", "[1, 2]"), "e") == [1, 2]
    with pytest.raises(InvalidParameter) as err:
        expectation_value(None, ("XML", "1"), "e")
    assert err.value.message == "Unknown serialization format: XML. Only JSON_FORMAT is supported."
    with pytest.raises(InvalidParameter, match="not valid JSON"):
        expectation_value(None, ("JSON_FORMAT", "{bad"), "e")


def test_new_assessment_rules() -> None:
    with pytest.raises(InvalidParameter) as err:
        new_assessment("expectation", name="e", value=None)
    assert err.value.message == "The `value` field must be specified."
    fb = new_assessment(
        "feedback",
        name="f",
        value=None,
        rationale="",
        span_id="",
        source_id="",
        metadata={"mlflow.assessment.sourceRunId": "r1"},
        create_time_ms=0,
    )
    assert (fb.rationale, fb.span_id, fb.source_id, fb.run_id, fb.create_time_ms) == (
        None,
        None,
        None,
        "r1",
        None,
    )


def _assessment(**kw: Any) -> Assessment:
    base: dict[str, Any] = {
        "assessment_id": "a-1",
        "trace_id": "tr-1",
        "name": "n",
        "kind": "feedback",
        "value": 1,
        "source_type": "CODE",
        "source_id": None,
        "created_ms": 1000,
        "updated_ms": 2500,
    }
    return Assessment(**{**base, **kw})


def test_assessment_json_feedback() -> None:
    body = assessment_json(
        _assessment(
            error=AssessmentError("E", "", "x" * 12000),
            rationale="",
            metadata={"k": "v", "n": 1},
            span_id="sp",
            overrides="a-0",
            valid=False,
        )
    )
    assert list(body) == [
        "assessment_id",
        "assessment_name",
        "trace_id",
        "span_id",
        "source",
        "create_time",
        "last_update_time",
        "feedback",
        "rationale",
        "metadata",
        "overrides",
        "valid",
    ]
    assert body["feedback"]["value"] == 1.0 and type(body["feedback"]["value"]) is float
    error = body["feedback"]["error"]
    assert set(error) == {"error_code", "stack_trace"}
    assert len(error["stack_trace"]) == 10000
    assert error["stack_trace"].startswith("[Stack trace is truncated]\n...\nxxx")
    assert body["metadata"] == {"k": "v", "n": "1"}
    assert (body["create_time"], body["last_update_time"]) == (
        "1970-01-01T00:00:01Z",
        "1970-01-01T00:00:02.500Z",
    )


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("s", {"value": "s"}),
        (5, {"value": 5.0}),
        (False, {"value": False}),
        (
            {"a": [1, 2.0]},
            {
                "serialized_value": {
                    "serialization_format": "JSON_FORMAT",
                    "value": '{"a": [1, 2.0]}',
                }
            },
        ),
    ],
)
def test_assessment_json_expectation(value: Any, wire: dict[str, Any]) -> None:
    body = assessment_json(_assessment(kind="expectation", value=value))
    assert body["expectation"] == wire
    assert "feedback" not in body and "rationale" not in body


def test_assessment_json_issue() -> None:
    body = assessment_json(_assessment(kind="issue", value={"issue_name": "slow"}))
    assert list(body)[-2:] == ["valid", "issue"]
    assert body["issue"] == {"issue_name": "slow"}
