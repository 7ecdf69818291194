"""The two stores on one database, for the trace search tests: aiotrack's query and MLflow's
own ``SqlAlchemyStore`` (the 3.17.2 client in the venv), each paging through the same search.

A plain module (like ``tests.databases``); the fixtures are in ``tests/store/conftest.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import ensure_schema
from aiotrack.store.sql.trace_search import (
    decode_trace_page_token,
    encode_trace_page_token,
    trace_search_query,
)
from aiotrack.store.sql.urls import to_async_url
from tests.store.trace_corpus import SEARCHED_EXPERIMENTS

__all__ = [
    "PAGE",
    "Backend",
    "create_schema",
    "mlflow_error",
    "mlflow_pages",
    "normalized",
    "open_db",
    "our_pages",
    "sync_uri",
]

#: Traces per page in every paged comparison.
PAGE = 7


@dataclass
class Backend:
    """One database holding the corpus, with MLflow's store opened on it."""

    name: str
    uri: str  # sync URI, MLflow's
    store: Any  # mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore
    dialect: str


def sync_uri(uri: str) -> str:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; MLflow's client uses psycopg2.
    return uri.replace("postgresql://", "postgresql+psycopg2://", 1)


async def create_schema(uri: str) -> None:
    db = Database(to_async_url(uri))
    try:
        await ensure_schema(db.engine)
    finally:
        await db.dispose()


def open_db(backend: Backend) -> Database:
    """aiotrack's database on the backend, as the server opens it (SQLite connections get
    the ``regexp`` function RLIKE needs from its connect hook)."""
    return Database(to_async_url(backend.uri))


def mlflow_pages(store: Any, filter_string: str | None, order_by: Sequence[str]) -> list[list[str]]:
    pages: list[list[str]] = []
    token = None
    while True:
        infos, token = store.search_traces(
            locations=[str(e) for e in SEARCHED_EXPERIMENTS],
            filter_string=filter_string,
            max_results=PAGE,
            order_by=list(order_by),
            page_token=token,
        )
        pages.append([t.trace_id for t in infos])
        if not token:
            break
        token = token.decode() if isinstance(token, bytes) else token
    # 3.17.2 hands out a token after a full last page (3.18 looks one row ahead): drop the
    # empty page that follows it.
    if len(pages) > 1 and not pages[-1]:
        pages.pop()
    return pages


async def our_pages(
    db: Database, dialect: str, filter_string: str | None, order_by: Sequence[str]
) -> list[list[str]]:
    query = trace_search_query(SEARCHED_EXPERIMENTS, filter_string, order_by, dialect=dialect)
    pages: list[list[str]] = []
    token: str | None = None
    async with db.read() as conn:
        while True:
            offset = decode_trace_page_token(token)
            rows = (await conn.execute(query.offset(offset).limit(PAGE + 1))).scalars().all()
            pages.append(list(rows[:PAGE]))
            if len(rows) <= PAGE:
                break
            token = encode_trace_page_token(offset + PAGE)
    return pages


_SET = re.compile(r"\{'[^{}]*'\}")


def normalized(message: str) -> str:
    """``message`` with each printed set of strings sorted."""

    def sort(m: re.Match[str]) -> str:
        try:
            items = ast.literal_eval(m.group())
        except (ValueError, SyntaxError):
            return m.group()
        return "{" + ", ".join(repr(i) for i in sorted(items)) + "}"

    return _SET.sub(sort, message)


def mlflow_error(store: Any, filter_string: str | None, order_by: list[str]) -> tuple[str, str]:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as info:
        store.search_traces(
            locations=["1"], filter_string=filter_string, max_results=5, order_by=order_by
        )
    return info.value.error_code, normalized(info.value.message)
