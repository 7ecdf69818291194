"""Trace search (``aiotrack.store.sql.trace_search``) against MLflow's own SQL store.

The oracle is MLflow's ``SqlAlchemyStore`` (the 3.17.2 client in the venv) opened on the SAME
database as aiotrack, on SQLite, PostgreSQL and MariaDB: for every filter and ``order_by`` of
the tables below, the pages of trace ids (order and page boundaries included) must be identical,
and for every invalid one the error code and message too (set literals in messages are compared
sorted: MLflow prints Python sets, whose order varies between processes). Generated filters and
order_bys, and the same table against MLflow 3.18 (which differs on ``order_by end_time`` and
issues no token after a last full page), are in ``test_trace_search_generated``.
"""

from __future__ import annotations

import time

import pytest

from aiotrack.errors import InvalidParameter
from aiotrack.store.sql.trace_search import (
    decode_trace_page_token,
    encode_trace_page_token,
    trace_search_query,
)
from tests.store.trace_corpus import BASE_MS, SEARCHED_EXPERIMENTS
from tests.store.trace_oracle import (
    Backend,
    mlflow_error,
    mlflow_pages,
    open_db,
    our_pages,
)

T = BASE_MS

# --- the tables -------------------------------------------------------------------------------

FILTERS: list[str | None] = [
    None,
    "",
    # status / state
    "status = 'OK'",
    "trace.status != 'OK'",
    "attributes.status IN ('OK', 'ERROR')",
    "status NOT IN ('OK')",
    "status LIKE 'O%'",
    "status ILIKE 'o%'",
    "status RLIKE '^ERR'",
    "status = 'ok'",
    "status like 'IN%'",
    # times
    f"timestamp > {T + 5000}",
    f"timestamp_ms >= {T + 5000}",
    f"trace.timestamp_ms < {T + 3000}",
    f"timestamp_ms = {T + 4000}",
    f"timestamp_ms != {T + 4000}",
    f"trace.timestamp > '{T + 9000}'",
    "timestamp_ms > 1.7000000050e12",
    "execution_time > 400",
    "execution_time_ms <= 100",
    "trace.execution_time = 1500",
    f"end_time > {T + 10_000}",
    f"end_time_ms <= {T + 3000}",
    # ids
    "request_id = 'tr-091901'",
    "request_id IN ('tr-000000', 'tr-091901', 'nope')",
    "request_id LIKE 'tr-0%'",
    "client_request_id = 'c-3'",
    "client_request_id LIKE 'c-1%'",
    "client_request_id IN ('c-1', 'c-2')",
    "client_request_id NOT IN ('c-1', 'c-2')",
    "client_request_id != 'c-1'",
    # names
    "name = 'chat'",
    "name != 'chat'",
    "name LIKE 'ch%'",
    "name ILIKE 'CH%'",
    "name RLIKE 'at$'",
    "name IS NULL",
    "name IS NOT NULL",
    "tags.mlflow.traceName = 'retrieve'",
    "tags.`mlflow.traceName` LIKE '%v2'",
    "tags.name = 'Chat'",
    # tags
    "tags.env = 'prod'",
    "tag.env = 'Prod'",
    "tags.env != 'prod'",
    "tags.env LIKE 'pr%'",
    "tags.env ILIKE 'PR%'",
    "tags.env RLIKE 'd$'",
    "tags.env IS NULL",
    "tags.env IS NOT NULL",
    "tags.Env = 'prod'",
    "tags.`team name` = 'a b'",
    "tags.\"team name\" = 'a b'",
    "tags.env = 'prod' AND tags.`team name` = 'a b'",
    "tags.env = 'prod' and tags.mlflow.user = 'u1'",
    "tags.missing = 'x'",
    # metadata
    "metadata.user = 'alice'",
    "request_metadata.user LIKE 'a%'",
    "metadata.user ILIKE 'a%'",
    "metadata.user != 'alice'",
    "metadata.user IS NULL",
    "metadata.user IS NOT NULL",
    "metadata.`mlflow.trace.session` = 's1'",
    "metadata.mlflow.trace.session IS NOT NULL",
    "metadata.mlflow.trace.session IS NULL",
    "metadata.mlflow.trace.session != 's1'",
    "run_id = 'run1'",
    "run_id = 'run2'",
    "metadata.mlflow.sourceRun = 'run1'",
    "metadata.mlflow.sourceRun != 'run1'",
    "metadata.mlflow.sourceRun IS NULL",
    "run_id = 'run1' AND run_id = 'run2'",
    "run_id = 'run1' AND status = 'OK'",
    'metadata.`mlflow.trace.tokenUsage` = \'{"input_tokens": 10, "output_tokens": 5, '
    '"total_tokens": 15}\'',
    "metadata.`mlflow.trace.tokenUsage` = '{\"input_tokens\": 10}'",
    'metadata.`mlflow.trace.tokenUsage` != \'{"input_tokens": 10, "output_tokens": 5, '
    '"total_tokens": 15}\'',
    "metadata.`mlflow.trace.tokenUsage` IS NULL",
    "metadata.`mlflow.trace.tokenUsage` IS NOT NULL",
    'metadata.`mlflow.trace.cost` = \'{"input_cost": 0.5, "output_cost": 0.25, '
    '"total_cost": 0.75}\'',
    "metadata.`mlflow.trace.cost` != 'garbage'",
    "metadata.`mlflow.trace.cost` IS NOT NULL",
    # spans
    "span.name = 'llm'",
    "span.type = 'LLM'",
    "span.status = 'ERROR'",
    "span.name IN ('llm', 'retriever')",
    "span.name NOT IN ('root')",
    "span.type != 'CHAIN'",
    "span.name LIKE 'ret%'",
    "span.name ILIKE 'LL%'",
    "span.name RLIKE '^r'",
    "span.name = 'llm' AND span.type = 'CHAIN'",
    "span.name = 'llm' AND span.status = 'ERROR'",
    "span.attributes.model LIKE '%gpt%'",
    "span.attributes.model ILIKE '%GPT%'",
    "span.attributes.model RLIKE '^gpt'",
    "span.attributes.model RLIKE '4$'",
    "span.attributes.model RLIKE 'laud'",
    "span.attributes.`model` LIKE '%claude%'",
    "span.attributes.model = 'gpt-4'",
    "span.attributes.`` LIKE '%'",
    "span.content LIKE '%hello 1%'",
    "span.content ILIKE '%HELLO 2%'",
    "trace.text LIKE '%hello 3%'",
    "tags.text ILIKE '%hello 4%'",
    f"span.name = 'root' AND timestamp > {T + 6000}",
    f"span.name = 'root' AND timestamp_ms >= {T + 3000} AND timestamp_ms > {T + 1000}",
    # assessments
    "feedback.score > 0.5",
    "feedback.score >= 1",
    "feedback.score < 0.3",
    "feedback.score <= 0",
    "feedback.correct = 'true'",
    "feedback.correct != 'true'",
    "feedback.tone = 'polite'",
    "feedback.tone != 'polite'",
    "feedback.tone LIKE '%olite%'",
    "feedback.tone ILIKE '%POLITE%'",
    "feedback.tone RLIKE '^.P'",
    "feedback.score IS NULL",
    "feedback.score IS NOT NULL",
    "feedback.`score` > 0",
    "expectation.expected = 'x1'",
    "expectation.expected IS NOT NULL",
    "expectation.expected IS NULL",
    "feedback.session_rating = 'good'",
    "feedback.session_rating IS NOT NULL",
    "feedback.session_rating IS NULL",
    "feedback.session_rating != 'good'",
    # issues and prompts
    "issue.id = 'iss-1'",
    "issue.id = 'iss-2'",
    "prompt = 'qa/1'",
    "tags.prompt = 'qa/2'",
    # combinations
    f"status = 'OK' AND timestamp > {T + 2000} AND tags.env LIKE 'pr%'",
    "span.type = 'LLM' AND feedback.score > 0 AND metadata.user IS NOT NULL",
    "name = 'chat' AND run_id = 'run1' AND execution_time < 1000",
    # more subquery clauses than PostgreSQL may join (the rest are checked per trace)
    "tags.env LIKE 'pr%' AND metadata.user IS NOT NULL AND span.name != 'x' AND "
    "feedback.score >= 0 AND tags.`team name` = 'a b' AND run_id = 'run3' AND "
    "feedback.tone IS NULL AND tags.env = 'prod'",
    "tags.env IS NOT NULL AND metadata.user != 'bob' AND feedback.score >= 0 AND "
    "span.type = 'CHAIN' AND tags.mlflow.user IS NOT NULL AND metadata.mlflow.sourceRun IS NOT NULL",
]

#: Filters that select nothing from the corpus, on purpose.
EMPTY = [
    "status = 'ok'",  # case-sensitive
    "tags.missing = 'x'",
    "span.name = 'llm' AND span.type = 'CHAIN'",  # one span must match both
    "span.attributes.model = 'gpt-4'",  # MLflow compares '%"model"gpt-4%' with =
    "issue.id = 'iss-2'",
]

ORDER_BYS: list[list[str]] = [
    [],
    ["timestamp"],
    ["timestamp ASC"],
    ["timestamp_ms DESC"],
    ["trace.timestamp desc"],
    ["execution_time DESC"],
    ["execution_time"],
    ["status", "request_id DESC"],
    ["status DESC"],
    ["request_id"],
    ["experiment_id DESC"],
    ["name"],
    ["name DESC", "execution_time"],
    ["tags.env"],
    ["tags.env DESC"],
    ["tags.`team name`"],
    ["metadata.user"],
    ["metadata.user DESC", "timestamp ASC"],
    ["run_id"],
    ["metadata.`mlflow.trace.session` DESC"],
    ["tags.prompt"],
]

#: Filter and order_by pairs beyond "each filter with the default order" and "each order_by
#: with no filter".
PAIRS: list[tuple[str | None, list[str]]] = [
    ("tags.env IS NOT NULL", ["tags.env", "timestamp ASC"]),
    ("status = 'OK'", ["execution_time DESC"]),
    ("span.name = 'llm'", ["name"]),
    ("feedback.score IS NOT NULL", ["metadata.user DESC"]),
    ("run_id = 'run1'", ["request_id DESC"]),
]

BAD_FILTERS = [
    "foo.bar = 'x'",
    "feedback = 'a'",
    "bogus = 'x'",
    "feedback. = 'x'",
    "text LIKE '%a%'",
    "timestamp > 1.5",
    "timestamp = '5'",
    "TIMESTAMP > 5",
    "timestamp IS NULL",
    "status > 'OK'",
    "status IS NULL",
    "status = 5",
    "execution_time IN ('a')",
    "execution_time LIKE '5'",
    "timestamp_ms IS NOT NULL",
    "name IN ('a')",
    "run_id IN ('a')",
    "tags.x = 5",
    "tags.x IN ('a')",
    "tags.x > 'a'",
    "tags.x == 'a'",
    "tags.x <> 'a'",
    "tags.x = abc",
    "tags.x = `abc`",
    "tags.x = 'a' OR tags.y = 'b'",
    "tags.x = 'a'; tags.y = 'b'",
    "metadata.x = 5",
    "metadata.x IN ('a')",
    "metadata.x > 'a'",
    "metadata.`mlflow.trace.tokenUsage` LIKE '%a%'",
    "metadata.`mlflow.trace.cost` RLIKE 'a'",
    "prompt LIKE 'a/1'",
    "prompt = 'a'",
    "prompt = 'a/b/c'",
    "span.name = 5",
    "span.foo = 'x'",
    "span.text LIKE 'x'",
    "span.content = 'x'",
    "span.content rlike 'x'",
    "span.attributes. = 'x'",
    "span.name > 'x'",
    "span.name IS NULL",
    "span.content IS NOT NULL",
    "feedback.x = 5",
    "feedback.x > 'a'",
    "feedback.x IN ('a')",
    "feedback.x == 'a'",
    "issue.name2 = 'x'",
    "issue.id != 'x'",
    "issue.id = 5",
    "issue.id IS NULL",
]

BAD_ORDER_BYS: list[list[str]] = [
    ["foo"],
    ["TIMESTAMP"],
    [""],
    ["prompt"],
    ["client_request_id"],
    ["tags.a DESC ASC"],
    ["tags.a up"],
    ["span.name"],
    ["feedback.score"],
    ["issue.id"],
    ["text"],
    ["metadata.`mlflow.trace.tokenUsage`"],
    ["metadata.`mlflow.trace.cost` DESC"],
    ["status", "status DESC"],
    ["timestamp", "timestamp_ms DESC"],
    ["name", "tags.mlflow.traceName"],
    ["status", "foo"],
]


def cases() -> list[tuple[str | None, list[str]]]:
    return [
        *((f, []) for f in FILTERS),
        *((None, o) for o in ORDER_BYS[1:]),
        *PAIRS,
    ]


async def test_results_match_mlflow(trace_backend: Backend) -> None:
    db = open_db(trace_backend)
    mismatches = []
    nonempty = 0
    try:
        for filter_string, order_by in cases():
            expected = mlflow_pages(trace_backend.store, filter_string, order_by)
            got = await our_pages(db, trace_backend.dialect, filter_string, order_by)
            nonempty += bool(expected[0])
            if got != expected:
                mismatches.append(f"{filter_string!r} {order_by}: ours {got} mlflow {expected}")
    finally:
        await db.dispose()
    assert not mismatches, "\n".join(mismatches)
    # The corpus must make most cases select something (an all-empty run proves nothing).
    assert nonempty >= len(cases()) - len(EMPTY)


async def test_order_by_end_time(trace_backend: Backend) -> None:
    # MLflow 3.18 sorts by timestamp_ms + coalesce(execution_time_ms, 0), no missing-last term;
    # 3.17.2 fails on it (500), so the expectation is computed from the same rows here.
    db = open_db(trace_backend)
    try:
        async with db.read() as conn:
            for direction in ("ASC", "DESC"):
                query = trace_search_query(
                    SEARCHED_EXPERIMENTS,
                    None,
                    [f"end_time {direction}"],
                    dialect=trace_backend.dialect,
                )
                got = list((await conn.execute(query)).scalars())
                rows = (
                    await conn.exec_driver_sql(
                        "SELECT request_id, timestamp_ms, execution_time_ms FROM trace_info "
                        "WHERE experiment_id IN (1, 2)"
                    )
                ).all()
                sign = 1 if direction == "ASC" else -1
                # Ties: timestamp DESC, then request_id in the database's collation order.
                by_id = {r[0]: r for r in rows}
                collated = list(
                    (
                        await conn.exec_driver_sql(
                            "SELECT request_id FROM trace_info WHERE experiment_id IN (1, 2) "
                            "ORDER BY request_id"
                        )
                    ).scalars()
                )
                rank = {rid: n for n, rid in enumerate(collated)}
                expected = sorted(
                    by_id,
                    key=lambda rid: (
                        sign * (by_id[rid][1] + (by_id[rid][2] or 0)),
                        -by_id[rid][1],
                        rank[rid],
                    ),
                )
                assert got == expected
    finally:
        await db.dispose()


@pytest.mark.parametrize("filter_string", BAD_FILTERS)
def test_bad_filter_errors_match_mlflow(trace_sqlite: Backend, filter_string: str) -> None:
    code, message = mlflow_error(trace_sqlite.store, filter_string, [])
    with pytest.raises(InvalidParameter) as info:
        trace_search_query([1], filter_string, [], dialect="sqlite")
    assert (info.value.error_code, info.value.message) == (code, message)


@pytest.mark.parametrize("order_by", BAD_ORDER_BYS, ids=str)
def test_bad_order_by_errors_match_mlflow(trace_sqlite: Backend, order_by: list[str]) -> None:
    code, message = mlflow_error(trace_sqlite.store, "tags.x = 5", order_by)  # order_by first
    with pytest.raises(InvalidParameter) as info:
        trace_search_query([1], "tags.x = 5", order_by, dialect="sqlite")
    if message.startswith("`order_by` contains duplicate fields"):
        code = "INVALID_PARAMETER_VALUE"  # MLflow: the same message as a 500 INTERNAL_ERROR
    assert (info.value.error_code, info.value.message) == (code, message)


# --- page tokens ------------------------------------------------------------------------------


def test_page_tokens_are_mlflows() -> None:
    from mlflow.utils.search_utils import SearchTraceUtils

    for offset in (1, 7, 100, 2**40):
        token = encode_trace_page_token(offset)
        assert token == SearchTraceUtils.create_page_token(offset).decode()
        assert decode_trace_page_token(token) == offset
        assert SearchTraceUtils.parse_start_offset_from_page_token(token) == offset
    assert decode_trace_page_token(None) == decode_trace_page_token("") == 0


@pytest.mark.parametrize(
    "token",
    [
        "abc",  # not base64 (bad padding)
        "bm90IGpzb24=",  # "not json"
        "eyJvZmZzZXQiOiAwfQ==",  # {"offset": 0}
        "eyJmb28iOiAxfQ==",  # {"foo": 1}
        "eyJvZmZzZXQiOiAiYWJjIn0=",  # {"offset": "abc"}
    ],
)
def test_bad_page_tokens_match_mlflow(token: str) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.utils.search_utils import SearchTraceUtils

    with pytest.raises(MlflowException) as expected:
        SearchTraceUtils.parse_start_offset_from_page_token(token)
    with pytest.raises(InvalidParameter) as info:
        decode_trace_page_token(token)
    assert info.value.message == expected.value.message


@pytest.mark.parametrize("token", ["eyJvZmZzZXQiOiAtNX0=", "WzFd", "eyJvZmZzZXQiOiBbMV19"])
def test_page_tokens_mlflow_fails_on_are_400(token: str) -> None:
    # {"offset": -5}, [1], {"offset": [1]}: a database error or a 500 in MLflow.
    with pytest.raises(InvalidParameter, match="Invalid page token"):
        decode_trace_page_token(token)


# --- bounds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_string", "order_by", "message"),
    [
        (" AND ".join(["tags.a = 'b'"] * 501), [], "more than 500 clauses"),
        ("tags.a = '" + "x" * 500_001 + "'", [], "characters long"),
        ("span.name IN (" + ", ".join(["'x'"] * 10_001) + ")", [], "IN lists hold more than"),
        (None, ["status"] * 21, "order_by has 21 entries"),
    ],
    ids=["clauses", "length", "in-values", "order-by"],
)
def test_hostile_searches_are_400(
    filter_string: str | None, order_by: list[str], message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        trace_search_query([1], filter_string, order_by, dialect="sqlite")


def test_too_many_experiments_is_400() -> None:
    with pytest.raises(InvalidParameter, match="experiment_ids has 50001 entries"):
        trace_search_query(list(range(50_001)), None, [], dialect="postgresql")


async def test_500_clauses_run(trace_backend: Backend) -> None:
    # Every kind of clause, 500 in all: parsed quickly, and within each database's limits
    # (SQLite: expression depth 1000, 64 tables in a join).
    kinds = [
        "tags.env LIKE 'pr%'", "metadata.user IS NOT NULL", "span.name != 'nope'",
        "feedback.score >= 0", "status != 'x'", f"timestamp_ms > {T}", "name IS NOT NULL",
        "tags.`team name` = 'a b'", "feedback.tone IS NULL", "run_id = 'run3'",
    ]  # fmt: skip
    filter_string = " AND ".join(kinds[i % len(kinds)] for i in range(500))
    started = time.perf_counter()
    query = trace_search_query(
        SEARCHED_EXPERIMENTS,
        filter_string,
        ["tags.env"] * 1 + ["metadata.user"],
        dialect=trace_backend.dialect,
    )
    assert time.perf_counter() - started < 2
    # MLflow itself fails on 500 clauses (one join each: SQLite allows 64); repeating a clause
    # changes nothing, so its answer for the ten distinct ones is the expectation.
    expected = mlflow_pages(trace_backend.store, " AND ".join(kinds), ["tags.env", "metadata.user"])
    db = open_db(trace_backend)
    try:
        async with db.read() as conn:
            got = list((await conn.execute(query)).scalars())
    finally:
        await db.dispose()
    assert got == [i for page in expected for i in page]
    assert got  # the corpus has such traces
