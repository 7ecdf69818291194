"""Trace search against MLflow on generated filters and order_bys, and against MLflow 3.18.

Random clauses from MLflow's vocabulary and common mistakes, and every prefix x key x
direction of an ``order_by``, run through MLflow's store and aiotrack's query on the SQLite
corpus; the table of ``test_trace_search`` also runs against MLflow 3.18's store (its own
interpreter, on a copy of the database).
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aiotrack.errors import InvalidParameter
from aiotrack.store.sql.trace_search import trace_search_query
from tests.services import unavailable
from tests.store.test_trace_search import T, cases
from tests.store.trace_corpus import SEARCHED_EXPERIMENTS
from tests.store.trace_oracle import PAGE, Backend, mlflow_pages, normalized, open_db, our_pages

# --- generated filters -----------------------------------------------------------------------

_PREFIXES = ["", "tags.", "tag.", "attributes.", "trace.", "metadata.", "request_metadata.",
             "span.", "feedback.", "expectation.", "issue.", "`tags`.", "run.", "bogus."]  # fmt: skip
_KEYS = ["status", "name", "timestamp", "timestamp_ms", "execution_time", "end_time",
         "request_id", "client_request_id", "run_id", "prompt", "text", "env", "user", "score",
         "tone", "id", "type", "content", "attributes.model", "mlflow.trace.session",
         "`mlflow.trace.tokenUsage`", "`team name`", "Name", "NAME", "correct"]  # fmt: skip
_OPS = ["=", "!=", ">", ">=", "<", "<=", "LIKE", "like", "ILIKE", "RLIKE", "rlike", "IN",
        "NOT IN", "not in", "IS NULL", "IS NOT NULL", "==", "<>"]  # fmt: skip
_VALUES = ["'OK'", "'prod'", "'%o%'", '"chat"', "5", "0.5", f"{T + 5000}", "('OK', 'ERROR')",
           "('prod')", "()", "abc", "'qa/1'", "'{\"input_tokens\": 10}'", "'^c'", "'true'",
           "1e3", "'s1'", "`x`"]  # fmt: skip


def _generated(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)

    def clause() -> str:
        op = rng.choice(_OPS)
        value = "" if "NULL" in op else " " + rng.choice(_VALUES)
        return f"{rng.choice(_PREFIXES)}{rng.choice(_KEYS)} {op}{value}"

    return [clause() if i % 5 else f"{clause()} AND {clause()}" for i in range(n)]


async def test_generated_filters_match_mlflow(trace_sqlite: Backend) -> None:
    """Random clauses built from MLflow's vocabulary and common mistakes: the same pages, or
    the same INVALID_PARAMETER_VALUE message; where MLflow fails otherwise (a database error,
    a 500), a 400 here."""
    from mlflow.exceptions import MlflowException

    db = open_db(trace_sqlite)
    mismatches: list[str] = []
    kinds: dict[str, int] = {}
    try:
        for filter_string in _generated(20260427, 1500):
            expected: tuple[Any, ...]
            try:
                expected = ("ok", mlflow_pages(trace_sqlite.store, filter_string, []))
            except MlflowException as e:
                expected = ("error", e.error_code, normalized(e.message))
            except Exception as e:  # MLflow's 500s
                expected = ("500", repr(e))
            got: tuple[Any, ...]
            try:
                got = ("ok", await our_pages(db, "sqlite", filter_string, []))
            except InvalidParameter as e:
                got = ("error", e.error_code, e.message)
            if got == expected:
                kind = expected[0]
            elif got[0] == "error" and (
                expected[0] == "500" or expected[1] != "INVALID_PARAMETER_VALUE"
            ):
                kind = "mlflow fails otherwise"
            elif got[0] == "error" and got[2].startswith("Invalid value for numeric attribute"):
                # MLflow compares the column with the text (SQLite: every number is less than
                # any text; PostgreSQL: a 500).
                kind = "non-numeric string for a numeric attribute"
            else:
                kind = "mismatch"
                mismatches.append(f"{filter_string!r}: ours {got} mlflow {expected}")
            kinds[kind] = kinds.get(kind, 0) + 1
    finally:
        await db.dispose()
    assert not mismatches, "\n".join(mismatches)
    assert kinds.get("ok", 0) > 120 and kinds.get("error", 0) > 600, kinds


_ORDER_PREFIXES = ["", "tags.", "attributes.", "trace.", "metadata.", "request_metadata.",
                   "span.", "feedback.", "issue.", "`tags`.", "run.", "bogus."]  # fmt: skip
_ORDER_KEYS = ["status", "name", "timestamp", "timestamp_ms", "execution_time", "execution_time_ms",
               "request_id", "client_request_id", "run_id", "prompt", "text", "env", "user",
               "experiment_id", "`team name`", "'team name'", '"team name"', "Name", "type",
               "mlflow.trace.session", "`mlflow.trace.cost`", "mlflow.trace.tokenUsage",
               "TIMESTAMP"]  # fmt: skip
_DIRECTIONS = ["", " ASC", " desc", " up", " DESC ASC"]


async def test_generated_order_bys_match_mlflow(trace_sqlite: Backend) -> None:
    """Every prefix x key x direction of the lists above, alone: the same order of the whole
    corpus, or the same error. ``end_time`` is left out: 3.17.2 fails on it (500) where 3.18
    sorts (see test_order_by_end_time)."""
    from mlflow.exceptions import MlflowException

    db = open_db(trace_sqlite)
    mismatches: list[str] = []
    counts = {"ok": 0, "error": 0}
    try:
        async with db.read() as conn:
            for prefix, key, direction in itertools.product(
                _ORDER_PREFIXES, _ORDER_KEYS, _DIRECTIONS
            ):
                entry = f"{prefix}{key}{direction}"
                expected: tuple[Any, ...]
                try:
                    infos, _ = trace_sqlite.store.search_traces(
                        locations=[str(e) for e in SEARCHED_EXPERIMENTS],
                        max_results=100,
                        order_by=[entry],
                    )
                    expected = ("ok", [t.trace_id for t in infos])
                except MlflowException as e:
                    expected = ("error", normalized(e.message))
                got: tuple[Any, ...]
                try:
                    query = trace_search_query(
                        SEARCHED_EXPERIMENTS, None, [entry], dialect="sqlite"
                    )
                    got = ("ok", list((await conn.execute(query)).scalars()))
                except InvalidParameter as e:
                    got = ("error", e.message)
                counts[got[0]] += 1
                if got != expected:
                    mismatches.append(f"{entry!r}: ours {got} mlflow {expected}")
    finally:
        await db.dispose()
    assert not mismatches, "\n".join(mismatches)
    assert counts["ok"] > 250 and counts["error"] > 800, counts


# --- MLflow 3.18 ----------------------------------------------------------------------------

_REF18_PYTHON = Path("/work/main/.venv-ref18/bin/python")

#: Run in MLflow 3.18's interpreter: every case's pages (or error message) as JSON.
_REF18_SCRIPT = """
import json, sys
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
uri, artifacts, page, locations = sys.argv[1:5]
store = SqlAlchemyStore(uri, artifacts)
out = []
for filter_string, order_by in json.load(sys.stdin):
    pages, token = [], None
    try:
        while True:
            infos, token = store.search_traces(
                locations=locations.split(","), filter_string=filter_string,
                max_results=int(page), order_by=order_by, page_token=token,
            )
            pages.append([t.trace_id for t in infos])
            if not token:
                break
            token = token.decode() if isinstance(token, bytes) else token
        out.append(["ok", pages])
    except MlflowException as e:
        out.append(["error", e.error_code, e.message])
json.dump(out, sys.stdout)
"""


_REF18_CASES: list[tuple[str | None, list[str]]] = [
    *cases(),
    (None, ["end_time DESC"]),
    (None, ["end_time"]),
    ("tags.env IS NOT NULL", ["trace.end_time_ms DESC", "name"]),
]


@pytest.fixture(scope="module")
def ref18_pages(trace_sqlite: Backend, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """MLflow 3.18's answers to ``_REF18_CASES``, from its own interpreter on a copy of the
    SQLite corpus (which it migrates to its schema)."""
    if not _REF18_PYTHON.exists():
        unavailable(f"MLflow 3.18 interpreter {_REF18_PYTHON} not found")
    workdir = tmp_path_factory.mktemp("ref18")
    copy = workdir / "ref18.db"
    shutil.copy(trace_sqlite.uri.removeprefix("sqlite:///"), copy)
    result = subprocess.run(
        [str(_REF18_PYTHON), "-W", "ignore", "-c", _REF18_SCRIPT, f"sqlite:///{copy}",
         str(workdir / "artifacts"), str(PAGE), ",".join(map(str, SEARCHED_EXPERIMENTS))],
        input=json.dumps(_REF18_CASES), capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    pages: list[Any] = json.loads(result.stdout)
    return pages


async def test_results_match_mlflow_318(trace_sqlite: Backend, ref18_pages: list[Any]) -> None:
    """The same cases against MLflow 3.18: ``order_by end_time`` included (3.17.2 fails on
    it), and a last page that ends exactly on the last trace gets no token (3.18 reads one row
    ahead, as ``our_pages`` does)."""
    db = open_db(trace_sqlite)
    mismatches = []
    try:
        for (filter_string, order_by), want in zip(_REF18_CASES, ref18_pages, strict=True):
            got = ["ok", await our_pages(db, "sqlite", filter_string, order_by)]
            if got != want:
                mismatches.append(f"{filter_string!r} {order_by}: ours {got} mlflow 3.18 {want}")
    finally:
        await db.dispose()
    assert not mismatches, "\n".join(mismatches)
