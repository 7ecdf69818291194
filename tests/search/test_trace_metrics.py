"""The trace-metrics filter parser (aiotrack.search.trace_metrics), clause by clause beside
MLflow 3.17.2's ``SearchTraceMetricsUtils``: the same parse or the same message, except the rows
in DIFFERENT, where MLflow's sqlparse tokenizer words a refusal of malformed text otherwise.
"""

from __future__ import annotations

import warnings

import pytest

from aiotrack.errors import InvalidParameter
from aiotrack.search.trace_metrics import MetricsFilter, parse_metrics_filter

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.exceptions import MlflowException
    from mlflow.utils.search_utils import SearchTraceMetricsUtils

F = MetricsFilter

PARSED: list[tuple[str, MetricsFilter]] = [
    ("trace.status = 'OK'", F("trace", "status", None, "OK")),
    ('trace.status = "OK"', F("trace", "status", None, "OK")),
    ("trace.status='OK'", F("trace", "status", None, "OK")),
    ("trace.tag.foo = 'x'", F("trace", "tag", "foo", "x")),
    ("trace.tag.`my.key` = 'x'", F("trace", "tag", "my.key", "x")),
    ("trace.tag.\"my key\" = 'x'", F("trace", "tag", "my key", "x")),
    ("trace.tag.'my key' = 'x'", F("trace", "tag", "my key", "x")),
    ("trace.tag.a.b.c = 'v'", F("trace", "tag", "a.b.c", "v")),
    (
        "trace.metadata.mlflow.trace.session = 's'",
        F("trace", "metadata", "mlflow.trace.session", "s"),
    ),
    (
        "trace.metadata.`mlflow.trace.cost` = '{}'",
        F("trace", "metadata", "mlflow.trace.cost", "{}"),
    ),
    ("`trace`.status = 'x'", F("trace", "status", None, "x")),
    ("span.name = 'my span'", F("span", "name", None, "my span")),
    ("span.type = 'LLM'", F("span", "type", None, "LLM")),
    ("span.status = 'ERROR'", F("span", "status", None, "ERROR")),
    ("assessment.name = 'relevance'", F("assessment", "name", None, "relevance")),
    ("assessment.type = 'feedback'", F("assessment", "type", None, "feedback")),
    ("trace.status = 'O''K'", F("trace", "status", None, "O''K")),  # kept as written
    ("trace.status = 'it\\'s'", F("trace", "status", None, "it\\'s")),
    ("trace.status = 'a.b'", F("trace", "status", None, "a.b")),
    ("trace.status = ''", F("trace", "status", None, "")),
]

REFUSED: list[str] = [
    "",
    "   ",
    "bogus",
    "status = 'OK'",
    "trace.status",
    "trace.status = OK",
    "trace.status = `x`",
    "trace.status = 1",
    "trace.status = -1",
    "trace.status = 1.5",
    "trace.status != 'OK'",
    "trace.status == 'x'",
    "trace.status <> 'x'",
    "trace.status LIKE 'O%'",
    "trace.status like 'O%'",
    "trace.status IS NULL",
    "trace.status = 'OK';",
    "trace.status = 'x' 'y'",
    "foo.bar = 'x'",
    "TRACE.status = 'x'",
    "trace.foo = 'x'",
    "trace.STATUS = 'x'",
    "trace.`status` = 'x'",
    "trace.tag = 'x'",
    "trace.status.x = 'x'",
    "span.kind = 'x'",
    "assessment.value = 'x'",
    "trace.status = 'OK' AND span.name = 'x'",
    "trace.tag.x = 'a' and trace.tag.y = 'b'",
    "trace.status = 'OK' OR trace.status = 'X'",
    "trace.status = 'OK' trace.status = 'x'",
    "span.name = 'x' trace.foo = 'y'",
    "foo.bar = 'x' AND trace.status = 'OK'",
    "(trace.status = 'OK')",
    "trace.tag.key-with-dash = 'x'",
]

DIFFERENT: list[tuple[str, str]] = [
    # MLflow: "Invalid view type 'trace '..." (sqlparse keeps the blank in the name).
    ("trace . status = 'x'", "Invalid clause(s) in filter string: trace, ."),
    # MLflow: "Invalid comparison clause. Expected 'Identifier' found 'trace.status = 'OK''".
    ("trace.status = 'OK' = 'x'", "Invalid clause(s) in filter string: =, 'x'"),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parses_as_mlflow(text: str, expected: MetricsFilter) -> None:
    assert parse_metrics_filter(text) == expected
    theirs = SearchTraceMetricsUtils.parse_search_filter(text)
    assert (theirs.view_type, theirs.entity, theirs.key, theirs.value) == (
        expected.view,
        expected.entity,
        expected.key,
        expected.value,
    )


@pytest.mark.parametrize("text", REFUSED)
def test_refuses_as_mlflow(text: str) -> None:
    with pytest.raises(MlflowException) as theirs:
        SearchTraceMetricsUtils.parse_search_filter(text)
    with pytest.raises(InvalidParameter) as ours:
        parse_metrics_filter(text)
    assert ours.value.message == theirs.value.message


@pytest.mark.parametrize(("text", "message"), DIFFERENT)
def test_refuses_malformed_text_in_our_words(text: str, message: str) -> None:
    with pytest.raises(MlflowException):
        SearchTraceMetricsUtils.parse_search_filter(text)
    with pytest.raises(InvalidParameter) as ours:
        parse_metrics_filter(text)
    assert ours.value.message == message
