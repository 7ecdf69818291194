"""In-process fixtures for the UI endpoints (the same pattern as tests/api/conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from aiotrack.api.ui import UI_STATIC_DIR
from aiotrack.app import create_app
from aiotrack.config import Config

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
