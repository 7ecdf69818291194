"""In-process fixtures for the UI endpoints (the same pattern as tests/api/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from aiotrack.api.ui import UI_STATIC_DIR
from aiotrack.app import create_app
from aiotrack.config import Config
from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import drop_postgres_database, new_postgres_database

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path) -> MakeClient:
    """``await make_client(static_dir=None, **config_overrides)`` -> a client of a fresh app;
    ``static_dir`` points the UI at another built directory."""

    async def make(static_dir: Path | None = None, **overrides: Any) -> TestClient[Any, Any]:
        settings: dict[str, Any] = {
            "backend_store_uri": f"sqlite:///{tmp_path}/db.sqlite",
            "artifacts_destination": str(tmp_path / "art"),
        }
        settings.update(overrides)
        app = create_app(Config(**settings))
        if static_dir is not None:
            app[UI_STATIC_DIR] = static_dir
        return await aiohttp_client(app)  # type: ignore[no-any-return]

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(params=BACKENDS)
async def any_client(
    request: pytest.FixtureRequest, make_client: MakeClient
) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of a fresh app on each backend: SQLite, PostgreSQL and MariaDB (throwaway
    databases; a missing service skips locally and fails under ``CI=true``). The sampled
    history takes a different SQL path on SQLite than elsewhere, so both are exercised."""
    if request.param == "sqlite":
        yield await make_client()
        return
    if request.param == "postgres":
        uri = new_postgres_database("aiotrack_ui")
        drop = drop_postgres_database
    else:
        uri = new_mariadb_database("aiotrack_ui")
        drop = drop_mariadb_database
    try:
        client = await make_client(backend_store_uri=uri)
        try:
            yield client
        finally:
            await client.close()
    finally:
        drop(uri)
