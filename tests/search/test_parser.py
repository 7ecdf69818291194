"""Table-driven tests of the search-filter and order_by parser.

Expected results and error fragments were checked against MLflow 3.17.2's own parser and SQL
store; rows marked "MLflow: ..." are deliberate, documented differences (always more lenient
or a clearer 400, never a different result for a filter MLflow accepts).
"""

from __future__ import annotations

import math

import pytest

from aiotrack.errors import InvalidParameter
from aiotrack.search import (
    EXPERIMENT_GRAMMAR,
    Comparison,
    EntitySpec,
    FieldSpec,
    Grammar,
    OrderBy,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_filter,
    parse_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from aiotrack.search.grammar import LIST_OPS, STRING_OPS

C = Comparison

# --- runs: valid filters ------------------------------------------------------------------------

RUN_FILTERS: list[tuple[str | None, list[Comparison]]] = [
    (None, []),
    ("", []),
    ("   \t\n", []),  # MLflow: 400 "Could not be parsed" for blank filters
    ("metrics.acc > 0.9", [C("metric", "acc", ">", 0.9)]),
    ("metrics.acc = 1", [C("metric", "acc", "=", 1.0)]),
    ("metric.loss <= -1", [C("metric", "loss", "<=", -1.0)]),
    ("metrics.a != 1e5", [C("metric", "a", "!=", 100000.0)]),
    ("metrics.a >= 1.5E-3", [C("metric", "a", ">=", 0.0015)]),
    ("metrics.a < .5", [C("metric", "a", "<", 0.5)]),
    ("metrics.a < 1.", [C("metric", "a", "<", 1.0)]),
    ("metrics.a > -.5e-3", [C("metric", "a", ">", -0.0005)]),  # MLflow: 400 (sqlparse quirk)
    ("metrics.a >= -1.5e+10", [C("metric", "a", ">=", -1.5e10)]),  # MLflow: 400 (same)
    ("metrics.a < 1e400", [C("metric", "a", "<", math.inf)]),  # overflow -> inf, as MLflow
    ("metrics.a=1", [C("metric", "a", "=", 1.0)]),
    ("metrics.a  >=\t1", [C("metric", "a", ">=", 1.0)]),
    ("metrics.a.b = 1", [C("metric", "a.b", "=", 1.0)]),
    ("metrics.`my metric` = 1", [C("metric", "my metric", "=", 1.0)]),
    ('metrics."my metric" = 1', [C("metric", "my metric", "=", 1.0)]),
    ("metrics.'my metric' = 1", [C("metric", "my metric", "=", 1.0)]),
    ("`metrics`.a = 1", [C("metric", "a", "=", 1.0)]),
    ("metrics.1 = 1", [C("metric", "1", "=", 1.0)]),  # MLflow: 400 (sqlparse quirk)
    ("params.lr = '0.1'", [C("param", "lr", "=", "0.1")]),
    ("param.lr = \"0.1\"", [C("param", "lr", "=", "0.1")]),
    ("parameters.`x.y` != 'z'", [C("param", "x.y", "!=", "z")]),
    ("parameter.a LIKE 'x%'", [C("param", "a", "LIKE", "x%")]),
    ("params.a like 'x%'", [C("param", "a", "LIKE", "x%")]),
    ("params.a iLiKe '%X'", [C("param", "a", "ILIKE", "%X")]),
    ("params.a = ''", [C("param", "a", "=", "")]),
    ("params.from = 'x'", [C("param", "from", "=", "x")]),  # MLflow: 400 (keyword after dot)
    ("params.a IS NULL", [C("param", "a", "IS NULL", None)]),
    ("tags.a is not null", [C("tag", "a", "IS NOT NULL", None)]),
    ("tags.a IS  NOT\tNULL", [C("tag", "a", "IS NOT NULL", None)]),  # MLflow: 400 (blanks)
    ("tags.mlflow.runName = 'x'", [C("tag", "mlflow.runName", "=", "x")]),
    ('tags."mlflow.runName" = "x"', [C("tag", "mlflow.runName", "=", "x")]),
    ("tag.`a b` ILIKE '%c%'", [C("tag", "a b", "ILIKE", "%c%")]),
    ("tags.`weird``name` = 'x'", [C("tag", "weird``name", "=", "x")]),  # kept raw, as MLflow
    ("tags.and = 'x'", [C("tag", "and", "=", "x")]),
    ("tags.ünï = 'üñí'", [C("tag", "ünï", "=", "üñí")]),
    # String values are the raw text between the quotes; MLflow does not unescape them.
    ("params.a = 'it''s'", [C("param", "a", "=", "it''s")]),
    ("params.a = 'a\\'b'", [C("param", "a", "=", "a\\'b")]),
    ('params.a = "say ""hi"""', [C("param", "a", "=", 'say ""hi""')]),
    ("params.a = 'x AND y'", [C("param", "a", "=", "x AND y")]),
    ("params.a = 'x; y'", [C("param", "a", "=", "x; y")]),
    ("run_name = 'x'", [C("attribute", "run_name", "=", "x")]),
    ("attributes.`run name` = 'x'", [C("attribute", "run_name", "=", "x")]),
    ('attributes."Run Name" LIKE \'x%\'', [C("attribute", "run_name", "LIKE", "x%")]),
    ("`Run name` = 'x'", [C("attribute", "run_name", "=", "x")]),
    ("attr.status = 'RUNNING'", [C("attribute", "status", "=", "RUNNING")]),
    ("run.user_id != 'u'", [C("attribute", "user_id", "!=", "u")]),
    ("attribute.artifact_uri ILIKE 's3://%'", [C("attribute", "artifact_uri", "ILIKE", "s3://%")]),
    ("attributes.run_id = 'abc'", [C("attribute", "run_id", "=", "abc")]),
    ("run_id IN ('a')", [C("attribute", "run_id", "IN", ("a",))]),
    ("run_id in ('a', \"b\",'c')", [C("attribute", "run_id", "IN", ("a", "b", "c"))]),
    ("run_id IN ('a',)", [C("attribute", "run_id", "IN", ("a",))]),
    ("run_id not  in('a','b')", [C("attribute", "run_id", "NOT IN", ("a", "b"))]),
    ("start_time > 1700000000000", [C("attribute", "start_time", ">", 1700000000000)]),
    ("attributes.end_time <= -5", [C("attribute", "end_time", "<=", -5)]),
    ("created >= 5", [C("attribute", "start_time", ">=", 5)]),
    ("Created != 5", [C("attribute", "start_time", "!=", 5)]),
    ("start_time > 1.5", [C("attribute", "start_time", ">", 1.5)]),  # MLflow keeps the float
    ("datasets.name = 'ds'", [C("dataset", "name", "=", "ds")]),
    ("dataset.digest LIKE 'ab%'", [C("dataset", "digest", "LIKE", "ab%")]),
    ("datasets.context IN ('train', 'eval')", [C("dataset", "context", "IN", ("train", "eval"))]),
    ("datasets.name NOT IN ('x')", [C("dataset", "name", "NOT IN", ("x",))]),
    (
        "metrics.a > 1 AND params.b = 'c' and tags.d IS NULL",
        [C("metric", "a", ">", 1.0), C("param", "b", "=", "c"), C("tag", "d", "IS NULL", None)],
    ),
    ("metrics.a = 1 AND metrics.a = 2", [C("metric", "a", "=", 1.0), C("metric", "a", "=", 2.0)]),
    ("tags.a='x'AND tags.b='y'", [C("tag", "a", "=", "x"), C("tag", "b", "=", "y")]),
    ("\n metrics.a = 1\r\n\tAND metrics.b = 2 ", [C("metric", "a", "=", 1.0), C("metric", "b", "=", 2.0)]),
    ("\u00a0tags.a\u00a0=\u00a0'x'", [C("tag", "a", "=", "x")]),
    # Stray ANDs, tolerated by MLflow.
    ("AND metrics.a = 1 AND", [C("metric", "a", "=", 1.0)]),
    ("metrics.a = 1 AND AND metrics.b = 2", [C("metric", "a", "=", 1.0), C("metric", "b", "=", 2.0)]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), RUN_FILTERS)
def test_run_filter(text: str | None, expected: list[Comparison]) -> None:
    assert parse_run_filter(text) == expected


# --- runs: invalid filters ----------------------------------------------------------------------

BAD_RUN_FILTERS: list[tuple[str, str]] = [
    # structure
    ("metrics.a = 1 OR metrics.b = 2", "Invalid clause(s) in filter string: 'OR'"),
    ("metrics.a = 1 or metrics.b = 2", "Invalid clause(s) in filter string: 'or'"),
    ("(params.a = 'b')", "Invalid clause(s) in filter string: '(params.a = 'b')'"),
    ("tags.a = 'x' AND (tags.b = 'y')", "'(tags.b = 'y')'"),
    ("NOT tags.a = 'x'", "Invalid clause(s) in filter string: 'NOT'"),
    ("params.a = 'b'; params.c = 'd'", "Search filter contained multiple expression"),
    ("tags.a = 'x';", "Invalid clause(s) in filter string: ';'"),
    ("metrics.a = 1 -- comment", "Invalid clause(s)"),
    ("metrics.a", "Invalid clause(s) in filter string: 'metrics.a'"),
    ("metrics.a =", "Invalid clause(s) in filter string: 'metrics.a ='"),
    ("= 1", "Invalid clause(s)"),
    ("tags.a IS", "Invalid clause(s)"),
    ("tags.a IS NOT 'x'", "Invalid clause(s)"),
    ("tags. a = 'x'", "Invalid clause(s)"),  # MLflow: key ' a'
    ("tags .a = 'x'", "Invalid clause(s)"),
    ("tags.a-b = 'x'", "Invalid clause(s)"),
    ("'run_name' = 'x'", "Invalid clause(s)"),
    # quoting
    ("tags.a = \"x'", "Invalid clause(s)"),
    ("tags.a = 'x\"", "Invalid clause(s)"),
    ("tags.a = x", "Parameter value is either not quoted or unidentified quote types"),
    ("tags.a = `x`", "Parameter value is either not quoted"),
    ("tags.a = 1", "Expected a quoted string value for tag (e.g. 'my-value'). Got value 1"),
    ("params.a = 1", "Expected a quoted string value for parameter"),
    ("run_id = 5", "Expected a quoted string value for attribute"),
    # numbers
    ("metrics.a = NaN", "Expected numeric value type for metric. Found NaN"),
    ("metrics.a = 'NaN'", "Expected numeric value type for metric. Found 'NaN'"),
    ("metrics.a = inf", "Expected numeric value type for metric. Found inf"),
    ("metrics.a = '1'", "Expected numeric value type for metric"),
    ("metrics.a = 1.2.3", "Expected numeric value type for metric. Found 1.2.3"),
    ("metrics.a = 0x10", "Expected numeric value type for metric"),
    ("metrics.a=1AND metrics.b=2", "Found 1AND"),
    ("metrics.a = +1", "Invalid clause(s)"),
    ("metrics.a = - 1", "Invalid clause(s)"),
    ("start_time > '5'", "Expected numeric value type for numeric attribute: start_time. Found '5'"),
    ("created > 'x'", "Expected numeric value type for numeric attribute: start_time"),
    ("start_time = 99999999999999999999", "Invalid value for numeric attribute 'start_time'"),
    # comparators
    ("metrics.a LIKE 1", "Invalid comparator 'LIKE' not one of"),
    ("metrics.a <> 1", "Invalid comparator '<>' not one of"),
    ("metrics.a == 1", "Invalid comparator '==' not one of"),
    ("params.a > 'x'", "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'IS NOT NULL'"),
    ("tags.a NOT LIKE 'x'", "Invalid comparator 'NOT LIKE'"),
    ("tags.a RLIKE 'x'", "Invalid comparator 'RLIKE'"),
    ("status > 'x'", "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'LIKE'}'"),
    ("end_time LIKE 5", "Invalid comparator 'LIKE'"),
    ("datasets.digest > 'x'", "Invalid comparator '>'"),
    ("metrics.a IS NULL", "IS NULL / IS NOT NULL is only supported for parameters and tags, not for 'metric' 'a'"),
    ("run_id IS NOT NULL", "IS NULL / IS NOT NULL is only supported"),
    ("datasets.name IS NULL", "not for 'dataset' 'name'"),
    # IN lists
    ("status IN ('a')", "Only ['run_id'] attributes support comparison with a list of quoted string values."),
    ("run_name NOT IN ('a')", "Only ['run_id'] attributes support comparison"),
    ("params.a IN ('x')", "Expected a quoted string value for parameter (e.g. 'my-value'). Got value ('x')"),
    ("metrics.a IN (1)", "Expected numeric value type for metric. Found (1)"),
    ("start_time IN (1,2)", "Expected numeric value type for numeric attribute: start_time"),
    ("run_id IN ()", "expected a non-empty list of string values, but got empty list"),
    ("run_id IN (1, 2)", "but got different type in list: (1, 2)"),
    ("run_id IN ('a', x)", "but got different type in list"),
    ("run_id IN ('a' 'b')", "but got ill-formed list"),  # MLflow: ('ab',) (implicit concatenation)
    ("run_id IN ('a',,'b')", "but got ill-formed list"),
    ("run_id IN (,)", "but got ill-formed list"),
    ("run_id IN ('a'", "but got ill-formed list"),
    ("run_id IN 'a'", "Expected a list of quoted string values for 'IN'"),
    ("run_id = ('a')", "Invalid comparator '=' for a list of values"),  # MLflow: 500
    # keys and prefixes
    ("foo = 'x'", "Invalid attribute key 'foo' specified. Valid keys are '{'Created', 'Run Name'"),
    ("attributes.RUN_ID = 'x'", "Invalid attribute key 'RUN_ID' specified"),
    ("experiment_id = '0'", "Invalid attribute key 'experiment_id'"),
    ("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'"),
    ("metrics = 1", "Invalid attribute key 'metrics'"),
    ("Run name = 'x'", "Invalid attribute key 'Run'"),
    ("datasets.foo = 'x'", "Invalid dataset key 'foo' specified. Valid keys are '{'context', 'digest', 'name'}'"),
    ("bogus.a = 1", "Invalid entity type 'bogus'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"),
    ("METRICS.a = 1", "Invalid entity type 'METRICS'"),
    ('"metrics".a = 1', "Invalid entity type '\"metrics\"'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "fragment"), BAD_RUN_FILTERS)
def test_run_filter_error(text: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_run_filter(text)
    assert fragment in info.value.message


# --- runs: order_by -----------------------------------------------------------------------------

Ob = OrderBy

RUN_ORDER_BYS: list[tuple[list[str] | None, list[OrderBy]]] = [
    (None, []),
    ([], []),
    (["metrics.a"], [Ob("metric", "a", True)]),
    (["metrics.a DESC"], [Ob("metric", "a", False)]),
    (["metrics.a desc", "params.b Asc"], [Ob("metric", "a", False), Ob("param", "b", True)]),
    (["metrics.`a b` DESC"], [Ob("metric", "a b", False)]),
    (['metrics."a b"'], [Ob("metric", "a b", True)]),
    (["metrics.a.b\tDESC"], [Ob("metric", "a.b", False)]),
    (["tags.mlflow.runName  ASC"], [Ob("tag", "mlflow.runName", True)]),
    (["params.`x.y`"], [Ob("param", "x.y", True)]),
    (["tags.desc"], [Ob("tag", "desc", True)]),
    (["metrics.a.desc"], [Ob("metric", "a.desc", True)]),
    (["`metrics`.a"], [Ob("metric", "a", True)]),
    ([" metrics.a DESC "], [Ob("metric", "a", False)]),  # MLflow: 400 on the outer blanks
    (["start_time DESC"], [Ob("attribute", "start_time", False)]),
    (["created"], [Ob("attribute", "start_time", True)]),
    (["Created DESC"], [Ob("attribute", "start_time", False)]),
    (["attributes.run_name", "attr.status", "run.user_id"],
     [Ob("attribute", "run_name", True), Ob("attribute", "status", True), Ob("attribute", "user_id", True)]),
    (["artifact_uri", "run_id DESC", "end_time"],
     [Ob("attribute", "artifact_uri", True), Ob("attribute", "run_id", False), Ob("attribute", "end_time", True)]),
    (["metrics.a", "params.a", "tags.a"], [Ob("metric", "a", True), Ob("param", "a", True), Ob("tag", "a", True)]),
]  # fmt: skip


@pytest.mark.parametrize(("order_by", "expected"), RUN_ORDER_BYS)
def test_run_order_by(order_by: list[str] | None, expected: list[OrderBy]) -> None:
    assert parse_run_order_by(order_by) == expected


BAD_RUN_ORDER_BYS: list[tuple[list[str], str]] = [
    (["metrics.a ASC", "metrics.a DESC"], "`order_by` contains duplicate fields: ['metrics.a ASC', 'metrics.a DESC']"),
    (["created", "start_time"], "`order_by` contains duplicate fields"),
    (["tags.a", "tag.a"], "duplicate fields"),
    (["metrics.`a` DESC", "metrics.a"], "duplicate fields"),
    (["metrics.a DESCENDING"], "Invalid ordering key in order_by clause 'metrics.a DESCENDING'."),
    (["run name"], "Invalid ordering key in order_by clause 'run name'."),
    (["metrics.a DESC ASC"], "Invalid order_by clause 'metrics.a DESC ASC'. Could not be parsed."),
    (["metrics.a, metrics.b"], "Could not be parsed"),
    (["metrics.a = 1"], "Could not be parsed"),
    (["metrics.a DESC;"], "Could not be parsed"),
    ([""], "Invalid order_by clause ''. Could not be parsed."),
    (["   "], "Could not be parsed"),
    (["`Run Name`"], "Invalid attribute key 'Run Name' specified"),
    (["experiment_id"], "Invalid attribute key 'experiment_id' specified"),
    (["timestamp"], "Invalid attribute key 'timestamp'"),
    (["datasets.name"], "Invalid order_by entity: dataset"),
    (["bogus.a"], "Invalid entity type 'bogus'"),
]  # fmt: skip


@pytest.mark.parametrize(("order_by", "fragment"), BAD_RUN_ORDER_BYS)
def test_run_order_by_error(order_by: list[str], fragment: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_run_order_by(order_by)
    assert fragment in info.value.message


# --- experiments --------------------------------------------------------------------------------

EXPERIMENT_FILTERS: list[tuple[str | None, list[Comparison]]] = [
    (None, []),
    ("name = 'x'", [C("attribute", "name", "=", "x")]),
    ("attribute.name LIKE 'x%'", [C("attribute", "name", "LIKE", "x%")]),
    ("name like 'x%'", [C("attribute", "name", "LIKE", "x%")]),  # MLflow: 400 on lower case here
    ("`name` ILIKE '%X'", [C("attribute", "name", "ILIKE", "%X")]),
    ("experiment_id = '1'", [C("attribute", "experiment_id", "=", "1")]),
    ("experiment_id != \" 012\"", [C("attribute", "experiment_id", "!=", "12")]),
    ("experiment_id IN ('1')", [C("attribute", "experiment_id", "IN", ("1",))]),
    ("experiment_id not in ('1', '2')", [C("attribute", "experiment_id", "NOT IN", ("1", "2"))]),
    ("creation_time > 5", [C("attribute", "creation_time", ">", 5)]),
    ("last_update_time <= -5", [C("attribute", "last_update_time", "<=", -5)]),
    ("tags.a = 'x' and tag.`b c` != 'y'", [C("tag", "a", "=", "x"), C("tag", "b c", "!=", "y")]),
    ("tags.mlflow.note IS NOT NULL", [C("tag", "mlflow.note", "IS NOT NULL", None)]),
    ("tags.a is null", [C("tag", "a", "IS NULL", None)]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), EXPERIMENT_FILTERS)
def test_experiment_filter(text: str | None, expected: list[Comparison]) -> None:
    assert parse_experiment_filter(text) == expected


BAD_EXPERIMENT_FILTERS: list[tuple[str, str]] = [
    ("name = 'x' OR name = 'y'", "Invalid clause(s) in filter string: 'OR'"),
    ("name > 'x'", "Invalid comparator '>'"),
    ("name IN ('x')", "Only ['experiment_id'] attributes support comparison with a list"),
    ("name = 1", "Expected a quoted string value for attribute"),
    ("name IS NULL", "IS NULL / IS NOT NULL is only supported for tags, not for 'attribute' 'name'"),
    ("experiment_id = 1", "Expected a quoted string value for attribute"),
    ("experiment_id = 'abc'", "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."),
    ("experiment_id IN ('1', 'x')", "Invalid experiment ID 'x'"),
    ("experiment_id = '99999999999999999999'", "Invalid experiment ID"),
    ("experiment_id LIKE '1%'", "Invalid comparator 'LIKE'"),
    ("experiment_id > '1'", "Invalid comparator '>'"),
    ("creation_time > 1.5", "Invalid value for numeric attribute 'creation_time': '1.5'"),
    ("creation_time > '5'", "Expected numeric value type for numeric attribute: creation_time"),
    ("creation_time LIKE 5", "Invalid comparator 'LIKE'"),
    ("tags.a > 'x'", "Invalid comparator '>'"),
    ("tags.a = 1", "Expected a quoted string value for tag"),
    ("foo = 'x'", "Invalid attribute key 'foo' specified. Valid keys are '{'creation_time', 'experiment_id', 'last_update_time', 'name'}'"),
    ("lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'"),
    ("attributes.name = 'x'", "Invalid entity type 'attributes'. Valid values are ['attribute', 'tag']"),
    ("params.a = 'x'", "Invalid entity type 'params'"),
    ("metrics.a = 1", "Invalid entity type 'metrics'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "fragment"), BAD_EXPERIMENT_FILTERS)
def test_experiment_filter_error(text: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_experiment_filter(text)
    assert fragment in info.value.message


EXPERIMENT_ORDER_BYS: list[tuple[list[str] | None, list[OrderBy]]] = [
    (None, []),
    (["name"], [Ob("attribute", "name", True)]),
    (["experiment_id ASC", "creation_time desc"],
     [Ob("attribute", "experiment_id", True), Ob("attribute", "creation_time", False)]),
    (["attribute.last_update_time DESC"], [Ob("attribute", "last_update_time", False)]),
    (["`name` DESC"], [Ob("attribute", "name", False)]),
    # MLflow allows a repeated key for experiments (only the first one matters).
    (["name", "name DESC"], [Ob("attribute", "name", True), Ob("attribute", "name", False)]),
]  # fmt: skip


@pytest.mark.parametrize(("order_by", "expected"), EXPERIMENT_ORDER_BYS)
def test_experiment_order_by(order_by: list[str] | None, expected: list[OrderBy]) -> None:
    assert parse_experiment_order_by(order_by) == expected


BAD_EXPERIMENT_ORDER_BYS: list[tuple[list[str], str]] = [
    (["tags.a"], "Invalid order_by entity: tag"),
    (["foo"], "Invalid attribute key 'foo' specified"),
    (["lifecycle_stage"], "Invalid attribute key 'lifecycle_stage'"),
    (["attributes.name"], "Invalid entity type 'attributes'"),
    (["name DOWN"], "Invalid ordering key in order_by clause 'name DOWN'."),
    (["name,"], "Could not be parsed"),
]  # fmt: skip


@pytest.mark.parametrize(("order_by", "fragment"), BAD_EXPERIMENT_ORDER_BYS)
def test_experiment_order_by_error(order_by: list[str], fragment: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_experiment_order_by(order_by)
    assert fragment in info.value.message


# --- the grammar is data ------------------------------------------------------------------------

# A made-up grammar in the shape registered-model search will take: bare `name` with IN, tags.
_MODELS = Grammar(
    prefixes={"tag": "tag", "tags": "tag"},
    entities={
        "attribute": EntitySpec(
            "attribute",
            "attribute",
            keys={"name": FieldSpec("string", STRING_OPS | LIST_OPS)},
            aliases={"model_name": "name"},
        ),
        "tag": EntitySpec("tag", "tag", any_key=FieldSpec("string", STRING_OPS), orderable=False),
    },
)


def test_custom_grammar() -> None:
    assert parse_filter("model_name IN ('a') AND tags.t LIKE 'x'", _MODELS) == [
        C("attribute", "name", "IN", ("a",)),
        C("tag", "t", "LIKE", "x"),
    ]
    assert parse_order_by(["name DESC"], _MODELS) == [Ob("attribute", "name", False)]
    with pytest.raises(InvalidParameter, match="Invalid comparator 'IS NULL'"):
        parse_filter("tags.t IS NULL", _MODELS)
    with pytest.raises(InvalidParameter, match="Invalid entity type 'metrics'"):
        parse_filter("metrics.m > 1", _MODELS)


def test_experiment_grammar_has_no_metrics() -> None:
    assert "metric" not in EXPERIMENT_GRAMMAR.entities


def test_nodes_are_frozen() -> None:
    node = C("metric", "a", ">", 1.0)
    with pytest.raises(AttributeError):
        node.key = "b"  # type: ignore[misc]


def test_order_by_bare_string_is_one_entry() -> None:
    assert parse_run_order_by("metrics.a DESC") == [Ob("metric", "a", False)]
