"""Fixtures of the trace search tests: the corpus in a database of each backend, with MLflow's
store opened on it (``tests.store.trace_oracle``)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.databases import backend_database
from tests.store.trace_corpus import insert_corpus
from tests.store.trace_oracle import Backend, create_schema, sync_uri


@pytest.fixture(scope="module", params=["sqlite", "postgres", "mariadb"])
def trace_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The corpus on SQLite, PostgreSQL and MariaDB (one module-wide database each)."""
    workdir = Path(tempfile.mkdtemp(prefix="aiotrack-trace-search-"))
    try:
        with backend_database(request.param, workdir, "trace_search") as plain_uri:
            uri = sync_uri(plain_uri)
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            # MLflow 3.17.2 refuses a newer schema revision, so it creates the schema (its own
            # head, which aiotrack serves as it is) and aiotrack checks it.
            store = SqlAlchemyStore(uri, str(workdir / "artifacts"))
            asyncio.run(create_schema(uri))
            engine = create_engine(uri)
            with engine.begin() as conn:
                insert_corpus(conn)
            engine.dispose()
            dialect = {"sqlite": "sqlite", "postgres": "postgresql", "mariadb": "mysql"}
            yield Backend(request.param, uri, store, dialect[request.param])
            store.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def trace_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """The corpus in a SQLite database, with MLflow's store on it."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    workdir = tmp_path_factory.mktemp("trace-search-sqlite")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    store = SqlAlchemyStore(uri, str(workdir / "artifacts"))  # MLflow 3.17.2's schema
    asyncio.run(create_schema(uri))
    engine = create_engine(uri)
    with engine.begin() as conn:
        insert_corpus(conn)
    engine.dispose()
    yield Backend("sqlite", uri, store, "sqlite")
    store.engine.dispose()
