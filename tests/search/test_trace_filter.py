"""Table-driven tests of the trace filter and order_by parser (``aiotrack.search.trace_filter``).

What each filter parses into; that MLflow's store answers the same (results and messages) is
checked in ``tests/store/test_trace_search*.py``.
"""

from __future__ import annotations

import pytest

from aiotrack.errors import InvalidParameter
from aiotrack.search.trace_filter import (
    TraceClause,
    TraceOrder,
    parse_trace_filter,
    parse_trace_order_by,
)

C = TraceClause

FILTERS: list[tuple[str | None, list[TraceClause]]] = [
    (None, []),
    ("", []),
    ("status = 'OK'", [C("attribute", "status", "=", "OK")]),
    ("trace.status in ('OK', \"ERROR\")", [C("attribute", "status", "IN", ("OK", "ERROR"))]),
    ("attributes.status not  in ('OK')", [C("attribute", "status", "NOT IN", ("OK",))]),
    ("timestamp > 5", [C("attribute", "timestamp_ms", ">", 5)]),
    ("timestamp_ms >= 1.5", [C("attribute", "timestamp_ms", ">=", 1.5)]),
    ("trace.timestamp < '7'", [C("attribute", "timestamp_ms", "<", 7)]),  # quoted number
    ("execution_time <= 10", [C("attribute", "execution_time_ms", "<=", 10)]),
    ("end_time != 3", [C("attribute", "end_time_ms", "!=", 3)]),
    ("request_id rlike '^tr'", [C("attribute", "request_id", "RLIKE", "^tr")]),
    ("name = 'chat'", [C("tag", "mlflow.traceName", "=", "chat")]),
    ("tags.NAME ilike 'c%'", [C("tag", "mlflow.traceName", "ILIKE", "c%")]),
    ("prompt = 'qa/1'", [C("tag", "mlflow.linkedPrompts", "=", "qa/1")]),
    ("run_id = 'r1'", [C("request_metadata", "mlflow.sourceRun", "=", "r1")]),
    ("metadata.`mlflow.trace.session` IS NULL", [
        C("request_metadata", "mlflow.trace.session", "IS NULL", None)
    ]),
    ("tags.`a b` is not null", [C("tag", "a b", "IS NOT NULL", None)]),
    ("tags.mlflow.user = 'x'", [C("tag", "mlflow.user", "=", "x")]),
    ("trace.text LIKE '%x%'", [C("span", "content", "LIKE", "%x%")]),
    ("span.attributes.`a.b` RLIKE 'x'", [C("span", "attributes.`a.b`", "RLIKE", "x")]),
    ("span.type IN ('LLM')", [C("span", "type", "IN", ("LLM",))]),
    ("feedback.score > 0.5", [C("feedback", "score", ">", 0.5)]),
    ("expectation.`my key` = 'yes'", [C("expectation", "my key", "=", "yes")]),
    ("issue.id = 'i-1'", [C("issue", "id", "=", "i-1")]),
    (
        "status = 'OK' and tags.a = 'b' AND",
        [C("attribute", "status", "=", "OK"), C("tag", "a", "=", "b")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("filter_string", "expected"), FILTERS)
def test_filters(filter_string: str | None, expected: list[TraceClause]) -> None:
    assert parse_trace_filter(filter_string) == expected


BAD_FILTERS: list[tuple[str, str]] = [
    ("foo.x = 'a'", "Invalid entity type 'foo'"),
    ("nope = 'a'", "Invalid attribute key 'nope' specified"),
    ("user = 'a'", "Invalid clause(s) in filter string: 'user', '=', ''a''"),
    ("timestamp > 1.5", "'timestamp', '>', '1.5', 'timestamp'"),
    ("tags.a = 'b' OR tags.c = 'd'", "Invalid clause(s) in filter string: 'OR'"),
    ("tags.a IN 'b'", "Invalid clause(s) in filter string: 'tags.a', 'IN', ''b''"),
    ("tags.a = ('b')", "Invalid comparator '=' for a list of values"),
    ("tags.a > 'b'", "Invalid comparator '>' not one of"),
    ("span.name like 'x'", "span.name comparator 'like' not one of"),
    ("feedback.x > 'a'", "Expected a numeric value for feedback"),
    ("prompt = 'a'", "Invalid prompts filter value 'a'"),
    ("metadata.`mlflow.trace.cost` LIKE 'x'", "is not supported for reserved metadata"),
    ("execution_time < 'soon'", "Invalid value for numeric attribute 'execution_time_ms'"),
    ("issue.id != 'x'", "issue.id comparator '!=' not one of"),
]


@pytest.mark.parametrize(("filter_string", "message"), BAD_FILTERS)
def test_bad_filters(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_trace_filter(filter_string)
    assert message in info.value.message


def test_checks_come_after_parsing_the_whole_filter() -> None:
    # MLflow parses every clause before it checks any comparator.
    with pytest.raises(InvalidParameter, match="Invalid entity type 'foo'"):
        parse_trace_filter("status > 'x' AND foo.bar = 'y'")


Ord = TraceOrder

ORDER_BYS: list[tuple[list[str], list[TraceOrder]]] = [
    ([], []),
    (["timestamp"], [Ord("attribute", "timestamp_ms", True)]),
    (["timestamp DESC"], [Ord("attribute", "timestamp_ms", False)]),
    (["trace.execution_time desc"], [Ord("attribute", "execution_time_ms", False)]),
    (["name", "run_id DESC"], [
        Ord("tag", "mlflow.traceName", True), Ord("request_metadata", "mlflow.sourceRun", False)
    ]),
    (["tags.`a b` ASC"], [Ord("tag", "a b", True)]),
    (["end_time"], [Ord("attribute", "end_time_ms", True)]),
]  # fmt: skip


@pytest.mark.parametrize(("order_by", "expected"), ORDER_BYS)
def test_order_bys(order_by: list[str], expected: list[TraceOrder]) -> None:
    assert parse_trace_order_by(order_by) == expected


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["TIMESTAMP"], "Could not be parsed"),
        (["tags.a up"], "Invalid ordering key"),
        (["span.name"], "Invalid identifier type 'span'"),
        (["prompt"], "Invalid attribute key 'prompt'"),
        (["metadata.`mlflow.trace.tokenUsage`"], "Ordering by reserved metadata"),
        (["status", "status DESC"], "`order_by` contains duplicate fields"),
    ],
)
def test_bad_order_bys(order_by: list[str], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_trace_order_by(order_by)
