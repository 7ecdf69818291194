"""In-process app fixtures: the real app on a real SQLite file, driven by aiohttp's test client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from aiotrack.app import create_app
from aiotrack.config import Config

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path) -> MakeClient:
    """``await make_client(**config_overrides)`` -> a test client of a fresh app."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        settings: dict[str, Any] = {
            "backend_store_uri": f"sqlite:///{tmp_path}/db.sqlite",
            "artifacts_destination": str(tmp_path / "art"),
        }
        settings.update(overrides)
        return await aiohttp_client(create_app(Config(**settings)))  # type: ignore[no-any-return]

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()
