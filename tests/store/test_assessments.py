"""``SqlAssessmentStore`` on SQLite, PostgreSQL and MariaDB: every operation, its rows and errors.

Traces are ``trace_info`` rows inserted directly; what is checked is what MLflow 3.18's SQL store
would have written and answered (rows compared column by column, messages word for word).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import delete, insert, select

from aiotrack.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from aiotrack.store.sql.assessments import (
    ExpectationUpdate,
    FeedbackUpdate,
    SqlAssessmentStore,
    write_trace_assessments,
)
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import ensure_schema
from aiotrack.store.sql.schema import SqlExperiment
from aiotrack.store.sql.schema.traces import SqlAssessments, SqlTraceInfo
from aiotrack.tracing.assessments import AssessmentError, new_assessment
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import drop_postgres_database, new_postgres_database
from tests.store.fresh import fresh_database

T1 = "tr-" + "1" * 32
T2 = "tr-" + "2" * 32
T3 = "tr-" + "3" * 32
TRACE_MS = {T1: 1_704_067_200_000, T2: 1_704_067_300_000, T3: 1_704_067_400_000}
ID = re.compile(r"^a-[0-9a-f]{32}$")

# One database per backend for the module (a fresh MariaDB schema takes seconds); each test
# starts from no assessments (`db`). The engine's connections belong to the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    ],
)
async def backend_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """A fresh database of the backend with experiment 7 and the traces T1..T3 in it."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("assessments") / "a.db"
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await ensure_schema(database.engine)
            await _seed(database)
            yield database
        finally:
            await database.dispose()
        return
    if request.param == "postgres":
        uri, drop = new_postgres_database("aiotrack_assess"), drop_postgres_database
    else:
        uri, drop = new_mariadb_database("assess"), drop_mariadb_database
    async with fresh_database(uri, drop, pool_size=2) as database:
        await _seed(database)
        yield database


async def _seed(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(
            insert(SqlExperiment).values(
                experiment_id=7, name="e", lifecycle_stage="active", workspace="default"
            )
        )
        for trace_id, ms in TRACE_MS.items():
            await conn.execute(
                insert(SqlTraceInfo).values(
                    request_id=trace_id, experiment_id=7, timestamp_ms=ms, status="OK"
                )
            )


@pytest_asyncio.fixture(loop_scope="module")
async def db(backend_db: Database) -> Database:
    async with backend_db.write() as conn:
        await conn.execute(delete(SqlAssessments))
    return backend_db


@pytest.fixture
def store(db: Database) -> SqlAssessmentStore:
    return SqlAssessmentStore(db)


async def _rows(db: Database, **where: Any) -> list[dict[str, Any]]:
    stmt = select(SqlAssessments)
    for key, value in where.items():
        stmt = stmt.where(getattr(SqlAssessments, key) == value)
    async with db.read() as conn:
        return [dict(r._mapping) for r in await conn.execute(stmt)]


async def _row(db: Database, assessment_id: str) -> dict[str, Any]:
    (row,) = await _rows(db, assessment_id=assessment_id)
    return row


def _feedback(value: Any = 0.5, **kw: Any) -> Any:
    return new_assessment("feedback", name=kw.pop("name", "quality"), value=value, **kw)


# -- create ---------------------------------------------------------------------------------


async def test_create_feedback_writes_mlflows_row(store: SqlAssessmentStore, db: Database) -> None:
    before = int(time.time() * 1000)
    created = await store.create_assessment(
        T1,
        _feedback(
            0.5,
            source_type="HUMAN",
            source_id="bob@example.com",
            rationale="looks right",
            metadata={"k": "v", "mlflow.assessment.sourceRunId": "run1"},
            span_id="00ff00ff00ff00ff",
            error=AssessmentError("TIMEOUT", "judge timed out"),
        ),
    )
    after = int(time.time() * 1000)
    assert ID.match(created.assessment_id)
    assert before <= created.created_ms == created.updated_ms <= after
    row = await _row(db, created.assessment_id)
    assert row == {
        "assessment_id": created.assessment_id,
        "trace_id": T1,
        "name": "quality",
        "assessment_type": "feedback",
        "value": "0.5",
        "error": '{"error_code": "TIMEOUT", "error_message": "judge timed out", "stack_trace": null}',
        "created_timestamp": created.created_ms,
        "last_updated_timestamp": created.created_ms,
        "source_type": "HUMAN",
        "source_id": "bob@example.com",
        "run_id": "run1",
        "span_id": "00ff00ff00ff00ff",
        "rationale": "looks right",
        "overrides": None,
        "valid": True,
        "assessment_metadata": '{"k": "v", "mlflow.assessment.sourceRunId": "run1"}',
        "experiment_id": 7,
        "trace_timestamp_ms": TRACE_MS[T1],
        "aggregate_value": 0.5,
        "is_numeric_value": True,
    }
    assert await store.get_assessment(T1, created.assessment_id) == created


async def test_create_expectation_keeps_no_rationale_error_or_overrides(
    store: SqlAssessmentStore, db: Database
) -> None:
    expected = new_assessment(
        "expectation",
        name="expected",
        value={"a": [1.0, 2.0], "b": "é"},
        rationale="dropped",
        error=AssessmentError("E"),
        overrides="a-whatever",
    )
    created = await store.create_assessment(T2, expected)
    row = await _row(db, created.assessment_id)
    # Python's json.dumps, as MLflow writes it (ASCII escapes, ", " and ": ").
    assert row["value"] == '{"a": [1.0, 2.0], "b": "\\u00e9"}'
    assert (row["rationale"], row["error"], row["overrides"]) == (None, None, None)
    assert (row["source_type"], row["source_id"], row["assessment_metadata"]) == (
        "SOURCE_TYPE_UNSPECIFIED",
        None,
        None,
    )
    assert (row["aggregate_value"], row["is_numeric_value"]) == (None, False)
    assert row["trace_timestamp_ms"] == TRACE_MS[T2]
    got = await store.get_assessment(T2, created.assessment_id)
    assert got.value == {"a": [1.0, 2.0], "b": "é"} and got.kind == "expectation"


async def test_create_issue_reference(store: SqlAssessmentStore, db: Database) -> None:
    created = await store.create_assessment(
        T1,
        new_assessment("issue", name="iss-1", value={"issue_name": "slow"}, rationale="why"),
    )
    row = await _row(db, created.assessment_id)
    assert (row["assessment_type"], row["value"], row["rationale"]) == (
        "issue",
        '{"issue_name": "slow"}',
        "why",
    )


@pytest.mark.parametrize(
    ("value", "stored", "aggregate", "numeric"),
    [
        (1.0, "1.0", 1.0, True),
        (-2.5, "-2.5", -2.5, True),
        (1.2345678901234567e19, "1.2345678901234567e+19", 1.2345678901234567e19, True),
        (True, "true", 1.0, False),
        (False, "false", 0.0, False),
        (" Yes ", '" Yes "', 1.0, False),
        ("no", '"no"', 0.0, False),
        ("maybe", '"maybe"', None, False),
        (None, "null", None, False),
        ([1.0, "a"], '[1.0, "a"]', None, False),
        ({"x": 1.5}, '{"x": 1.5}', None, False),
    ],
)
async def test_stored_value_and_aggregate(
    store: SqlAssessmentStore,
    db: Database,
    value: Any,
    stored: str,
    aggregate: float | None,
    numeric: bool,
) -> None:
    created = await store.create_assessment(T1, _feedback(value))
    row = await _row(db, created.assessment_id)
    assert (row["value"], row["aggregate_value"], row["is_numeric_value"]) == (
        stored,
        aggregate,
        numeric,
    )


async def test_create_keeps_client_id_and_times(store: SqlAssessmentStore, db: Database) -> None:
    created = await store.create_assessment(
        T1,
        _feedback(
            1.0,
            assessment_id="a-mine",
            create_time_ms=1_577_836_800_500,
            last_update_time_ms=1_609_459_200_000,
        ),
    )
    row = await _row(db, "a-mine")
    assert (created.assessment_id, row["created_timestamp"], row["last_updated_timestamp"]) == (
        "a-mine",
        1_577_836_800_500,
        1_609_459_200_000,
    )
    with pytest.raises(ResourceAlreadyExists, match=r"^Failed to create assessment for trace"):
        await store.create_assessment(T2, _feedback(2.0, assessment_id="a-mine"))
    assert len(await _rows(db)) == 1


async def test_create_on_missing_trace_is_404(store: SqlAssessmentStore, db: Database) -> None:
    with pytest.raises(ResourceNotFound) as err:
        await store.create_assessment("tr-nope", _feedback())
    assert err.value.message == "Trace with ID 'tr-nope' not found."
    assert await _rows(db) == []


# -- overrides and delete -------------------------------------------------------------------


async def test_override_invalidates_and_delete_restores(
    store: SqlAssessmentStore, db: Database
) -> None:
    old = await store.create_assessment(T1, _feedback(1.0))
    new = await store.create_assessment(T1, _feedback(2.0, overrides=old.assessment_id))
    assert (new.overrides, new.valid) == (old.assessment_id, True)
    assert (await store.get_assessment(T1, old.assessment_id)).valid is False
    assert (await _row(db, new.assessment_id))["overrides"] == old.assessment_id
    # Overriding an already-invalid assessment still finds it.
    newer = await store.create_assessment(T1, _feedback(3.0, overrides=old.assessment_id))
    await store.delete_assessment(T1, newer.assessment_id)
    assert (await store.get_assessment(T1, old.assessment_id)).valid is True
    with pytest.raises(ResourceNotFound):
        await store.get_assessment(T1, newer.assessment_id)


async def test_override_of_unknown_or_other_traces_assessment_is_404(
    store: SqlAssessmentStore, db: Database
) -> None:
    other = await store.create_assessment(T2, _feedback())
    for target in ("a-nope", other.assessment_id):
        with pytest.raises(ResourceNotFound) as err:
            await store.create_assessment(T1, _feedback(overrides=target))
        assert err.value.message == f"Assessment with ID '{target}' not found for trace '{T1}'"
    assert [r["assessment_id"] for r in await _rows(db)] == [other.assessment_id]
    assert (await _row(db, other.assessment_id))["valid"] is True


async def test_delete_is_idempotent(store: SqlAssessmentStore, db: Database) -> None:
    kept = await store.create_assessment(T1, _feedback())
    await store.delete_assessment(T1, "a-nope")
    await store.delete_assessment("tr-nope", "a-nope")
    await store.delete_assessment(T2, kept.assessment_id)  # not this trace's: nothing happens
    assert len(await _rows(db)) == 1
    await store.delete_assessment(T1, kept.assessment_id)
    assert await _rows(db) == []


# -- get --------------------------------------------------------------------------------------


async def test_get_errors_name_what_is_missing(store: SqlAssessmentStore) -> None:
    with pytest.raises(ResourceNotFound) as err:
        await store.get_assessment("tr-nope", "a-nope")
    assert err.value.message == "Trace with request_id 'tr-nope' not found"
    with pytest.raises(ResourceNotFound) as err:
        await store.get_assessment(T1, "a-nope")
    assert err.value.message == f"Assessment with ID 'a-nope' not found for trace '{T1}'"


# -- update -----------------------------------------------------------------------------------


async def test_update_feedback(store: SqlAssessmentStore, db: Database) -> None:
    created = await store.create_assessment(
        T1,
        _feedback(
            1.0,
            source_type="HUMAN",
            source_id="bob",
            span_id="sp",
            rationale="r0",
            metadata={"k": "v", "mlflow.assessment.sourceRunId": "rr"},
            error=AssessmentError("E"),
        ),
    )
    aid = created.assessment_id
    renamed = await store.update_assessment(
        T1, aid, name="q2", rationale="r1", metadata={"k2": "v2", "k": "w"}
    )
    assert (renamed.name, renamed.rationale, renamed.value, renamed.error) == (
        "q2",
        "r1",
        1.0,
        AssessmentError("E"),
    )
    assert renamed.metadata == {"k": "w", "mlflow.assessment.sourceRunId": "rr", "k2": "v2"}
    assert renamed.updated_ms >= created.updated_ms and renamed.created_ms == created.created_ms
    revalued = await store.update_assessment(T1, aid, feedback=FeedbackUpdate("yes"))
    assert (revalued.value, revalued.error) == ("yes", None)  # the error goes with the old value
    row = await _row(db, aid)
    assert {k: row[k] for k in ("name", "value", "error", "rationale", "aggregate_value")} == {
        "name": "q2",
        "value": '"yes"',
        "error": None,
        "rationale": "r1",
        "aggregate_value": 1.0,
    }
    # Source, span, run, overrides and validity never change.
    assert (row["source_type"], row["source_id"], row["span_id"], row["run_id"]) == (
        "HUMAN",
        "bob",
        "sp",
        "rr",
    )
    assert (row["valid"], row["is_numeric_value"], row["last_updated_timestamp"]) == (
        True,
        False,
        revalued.updated_ms,
    )
    assert await store.get_assessment(T1, aid) == revalued


async def test_update_expectation_clears_rationale(store: SqlAssessmentStore, db: Database) -> None:
    created = await store.create_assessment(
        T1, new_assessment("expectation", name="e", value="x", metadata={"k": "v"})
    )
    async with db.write() as conn:  # a rationale another writer left on an expectation
        await conn.execute(
            SqlAssessments.__table__.update()
            .where(SqlAssessments.assessment_id == created.assessment_id)
            .values(rationale="stale")
        )
    updated = await store.update_assessment(
        T1, created.assessment_id, expectation=ExpectationUpdate([1, 2]), rationale="ignored"
    )
    assert (updated.value, updated.rationale, updated.metadata) == ([1, 2], None, {"k": "v"})
    row = await _row(db, created.assessment_id)
    assert (row["value"], row["rationale"]) == ("[1, 2]", None)


async def test_update_errors(store: SqlAssessmentStore) -> None:
    fb = await store.create_assessment(T1, _feedback())
    ex = await store.create_assessment(T1, new_assessment("expectation", name="e", value=1.0))
    issue = await store.create_assessment(
        T1, new_assessment("issue", name="i", value={"issue_name": "n"})
    )
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            fb.assessment_id,
            {"feedback": FeedbackUpdate(1), "expectation": ExpectationUpdate(1)},
            "Cannot specify both `expectation` and `feedback` parameters.",
        ),
        (
            fb.assessment_id,
            {"expectation": ExpectationUpdate(1)},
            "Cannot update expectation value on a Feedback assessment.",
        ),
        (
            ex.assessment_id,
            {"feedback": FeedbackUpdate(1)},
            "Cannot update feedback value on an Expectation assessment.",
        ),
        (issue.assessment_id, {"name": "x"}, "Issue reference assessments cannot be updated."),
    ]
    for aid, changes, message in cases:
        with pytest.raises(InvalidParameter) as err:
            await store.update_assessment(T1, aid, **changes)
        assert err.value.message == message
    with pytest.raises(ResourceNotFound, match=r"^Trace with request_id 'tr-nope' not found$"):
        await store.update_assessment("tr-nope", "a-nope", name="x")
    with pytest.raises(ResourceNotFound, match=r"^Assessment with ID 'a-nope' not found for trace"):
        await store.update_assessment(T1, "a-nope", name="x")


# -- assessments of many traces -------------------------------------------------------------


async def test_assessments_for_traces(store: SqlAssessmentStore) -> None:
    late = await store.create_assessment(T1, _feedback(1.0, create_time_ms=2_000_000))
    early = await store.create_assessment(
        T1, new_assessment("expectation", name="e", value=[1, 2], create_time_ms=1_000_000)
    )
    tie_a = await store.create_assessment(T2, _feedback(3.0, create_time_ms=5_000))
    tie_b = await store.create_assessment(T2, _feedback(4.0, create_time_ms=5_000))
    found = await store.assessments_for_traces([T1, T2, T3, "tr-nope", T1])
    assert set(found) == {T1, T2}
    assert [a["assessment_id"] for a in found[T1]] == [early.assessment_id, late.assessment_id]
    assert {a["assessment_id"] for a in found[T2]} == {tie_a.assessment_id, tie_b.assessment_id}
    assert found[T1][0] == {
        "assessment_id": early.assessment_id,
        "assessment_name": "e",
        "trace_id": T1,
        "source": {"source_type": "SOURCE_TYPE_UNSPECIFIED"},
        "create_time": "1970-01-01T00:16:40Z",
        "last_update_time": found[T1][0]["last_update_time"],
        "expectation": {
            "serialized_value": {"serialization_format": "JSON_FORMAT", "value": "[1, 2]"}
        },
        "valid": True,
    }
    assert found[T1][1]["feedback"] == {"value": 1.0}
    assert json.loads(json.dumps(found)) == found  # plain JSON, ready to embed
    assert await store.assessments_for_traces([]) == {}


async def test_assessments_for_more_traces_than_one_chunk(store: SqlAssessmentStore) -> None:
    await store.create_assessment(T3, _feedback())
    ids = [f"tr-{i:032x}" for i in range(1200)] + [T3]
    found = await store.assessments_for_traces(ids)
    assert list(found) == [T3]


# -- assessments carried by StartTraceV3 ------------------------------------------------------


async def test_write_trace_assessments(store: SqlAssessmentStore, db: Database) -> None:
    existing = await store.create_assessment(T1, _feedback(1.0, assessment_id="a-kept"))
    other = await store.create_assessment(T2, _feedback(1.0, assessment_id="a-other"))
    carried = [
        _feedback(2.0, assessment_id="a-kept", name="merged"),
        new_assessment("expectation", name="e", value="x", overrides="a-unchecked"),
        _feedback(3.0, assessment_id="a-twice"),
        _feedback(4.0, assessment_id="a-twice"),
    ]
    await db.run_write(lambda conn: write_trace_assessments(conn, T1, 7, 99, carried))
    rows = {r["assessment_id"]: r for r in await _rows(db, trace_id=T1)}
    assert len(rows) == 3 and existing.assessment_id in rows
    assert (rows["a-kept"]["name"], rows["a-kept"]["value"]) == ("merged", "2.0")
    assert rows["a-twice"]["value"] == "4.0"
    assert {r["trace_timestamp_ms"] for r in rows.values()} == {99}
    assert (await _row(db, other.assessment_id))["trace_timestamp_ms"] == TRACE_MS[T2]
    with pytest.raises(InvalidParameter) as err:
        await db.run_write(
            lambda conn: write_trace_assessments(
                conn, T1, 7, 99, [_feedback(assessment_id="a-other")]
            )
        )
    assert err.value.message == "Assessment with ID 'a-other' belongs to another trace."
    await db.run_write(lambda conn: write_trace_assessments(conn, T3, 7, 5, []))
    assert await _rows(db, trace_id=T3) == []
