"""tests/services.py: a missing service fails wherever services are required, skips elsewhere."""

from __future__ import annotations

import pytest

from tests.services import REQUIRE_ENV, services_required, unavailable


@pytest.mark.parametrize(
    ("env", "required"),
    [
        ({REQUIRE_ENV: "1"}, True),
        ({REQUIRE_ENV: "true"}, True),
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"CI": "yes"}, True),
        ({"CI": "false"}, False),
        ({}, False),
    ],
)
def test_missing_service_fails_where_required(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], required: bool
) -> None:
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert services_required() is required
    expected = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(expected, match="PostgreSQL is down"):
        unavailable("PostgreSQL is down")
