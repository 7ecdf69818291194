"""One rule for a service a test needs but cannot reach: skip locally, fail where required.

A service (PostgreSQL, MariaDB, Chromium, the reference ``mlflow`` virtualenv, axe-core, ...)
that is missing makes the test **fail** when ``AIOTRACK_REQUIRE_SERVICES`` is set to a true value
(``.ci/run`` and ``scripts/test`` under CI export it), and also whenever ``CI`` holds any true
spelling (``true``, ``1``, ``yes``): a missing service must never read as a pass there. Anywhere
else (a developer's machine without MariaDB, say) the test is skipped with the reason.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_ENV", "services_required", "unavailable"]

REQUIRE_ENV = "AIOTRACK_REQUIRE_SERVICES"
_TRUE = {"1", "true", "yes", "on"}


def services_required() -> bool:
    """Whether a missing service fails the test (explicit variable, or any true ``CI``)."""
    return (
        os.environ.get(REQUIRE_ENV, "").strip().lower() in _TRUE
        or os.environ.get("CI", "").strip().lower() in _TRUE
    )


def unavailable(reason: str) -> NoReturn:
    """Fail (services required) or skip (elsewhere) the current test because of ``reason``."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}/CI: every service is required)", pytrace=False)
    pytest.skip(reason)
