"""Request-message parsing: MLflow's leniencies and its error texts, table-driven."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest

from aiotrack.api.messages import (
    Message,
    double,
    enum,
    int64,
    repeated_message,
    repeated_string,
    run_id_field,
    string,
)
from aiotrack.errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class Item(Message):
    key: str | None = string()


@dataclass(frozen=True, slots=True)
class Sample(Message):
    run_id: str = run_id_field()
    name: str | None = string()
    count: int | None = int64()
    value: float | None = double()
    kind: int | None = enum({"A": 1, "B": 2})
    ids: list[str] = repeated_string()
    items: list[Item] = repeated_message(Item)


@pytest.mark.parametrize(
    ("data", "field", "expected"),
    [
        ({"run_id": "r"}, "run_id", "r"),
        ({"run_uuid": "r"}, "run_id", "r"),
        ({"runId": "r"}, "run_id", "r"),
        ({"run_id": "r", "count": "7"}, "count", 7),
        ({"run_id": "r", "count": 7.0}, "count", 7),
        ({"run_id": "r", "count": -3}, "count", -3),
        ({"run_id": "r", "value": "1.5"}, "value", 1.5),
        ({"run_id": "r", "value": 2}, "value", 2.0),
        ({"run_id": "r", "value": "-Infinity"}, "value", -math.inf),
        ({"run_id": "r", "value": True}, "value", 1.0),
        ({"run_id": "r", "kind": "B"}, "kind", 2),
        ({"run_id": "r", "kind": 1}, "kind", 1),
        ({"run_id": "r", "ids": ["a", "b"]}, "ids", ["a", "b"]),
        ({"run_id": "r", "items": [{"key": "k"}]}, "items", [Item("k")]),
        ({"run_id": "r", "unknown": {"x": 1}}, "name", None),
        ({"run_id": "r", "name": None}, "name", None),
    ],
)
def test_parses(data: dict[str, Any], field: str, expected: Any) -> None:
    assert getattr(Sample.from_json(data), field) == expected


def test_nan_string_is_nan() -> None:
    assert math.isnan(Sample.from_json({"run_id": "r", "value": "NaN"}).value or 0.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Missing value for required parameter 'run_id'."),
        ({"run_id": ""}, "Missing value for required parameter 'run_id'."),
        (
            {"run_id": 5},
            "Invalid value 5 for parameter 'run_id' supplied:  Hint: Value was of type 'int'.",
        ),
        ({"run_id": "r", "count": "x"}, "Invalid value \"x\" for parameter 'count' supplied"),
        ({"run_id": "r", "count": 1.5}, "Invalid value 1.5 for parameter 'count'"),
        ({"run_id": "r", "value": "abc"}, "Invalid value \"abc\" for parameter 'value'"),
        ({"run_id": "r", "value": "nan"}, "parameter 'value'"),
        ({"run_id": "r", "kind": "C"}, "parameter 'kind'"),
        ({"run_id": "r", "ids": "a"}, "Hint: Value was of type 'str'."),
        ({"run_id": "r", "items": [1]}, "parameter 'items'"),
        ({"run_id": "r", "name": "a", "Name": "b", "name_x": 1}, None),
        ({"count": "x"}, "parameter 'count'"),  # a type error wins over a missing field
        ({"run_id": "r", "run_Id": "r"}, None),
    ],
)
def test_rejects(data: dict[str, Any], message: str | None) -> None:
    if message is None:  # rows that must parse (case-sensitive names are just unknown keys)
        Sample.from_json(data)
        return
    with pytest.raises(InvalidParameter) as info:
        Sample.from_json(data)
    assert message in info.value.message
    assert info.value.message.endswith(
        "See the API docs for more information about request parameters."
    )


def test_both_spellings_are_rejected() -> None:
    with pytest.raises(InvalidParameter, match="both 'run_id' and 'runId'"):
        Sample.from_json({"run_id": "a", "runId": "b"})


def test_query_string_repeated_keys_and_enums() -> None:
    from multidict import MultiDict

    query = MultiDict([("run_id", "r"), ("ids", "a"), ("ids", "b"), ("kind", "2"), ("count", "9")])
    msg = Sample.from_query(query, query.getall)
    assert (msg.ids, msg.kind, msg.count) == (["a", "b"], 2, 9)
