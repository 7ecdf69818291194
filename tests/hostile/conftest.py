"""The hostile-request suite: real ``aiotrack server`` processes fed what an attacker sends.

Each module of this package covers one class of defect with a table of cases (see
``tests.hostile.cases``) run against a live server on every backend where the class applies:
``backend_server`` starts one per backend and module. Servers bind to 127.0.0.1 only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# The mlflow client must fail at once on a 5xx instead of retrying for minutes.
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "30"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)

from tests.databases import backend_database
from tests.servers import RunningServer, start_aiotrack

__all__ = ["BACKENDS", "SQL_BACKENDS", "backend_server"]

SQL_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]
BACKENDS = SQL_BACKENDS


@contextmanager
def backend_server(backend: str, workdir: Path, *args: str) -> Iterator[RunningServer]:
    """A live aiotrack on a fresh database of ``backend`` (``sqlite``/``postgres``/``mariadb``)
    with ``--artifacts-destination workdir/mlartifacts`` and any extra ``args``; dropped after."""
    destination = str(workdir / "mlartifacts")
    with (
        backend_database(backend, workdir, "hostile") as uri,
        start_aiotrack(uri, workdir, "--artifacts-destination", destination, *args) as server,
    ):
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """One aiotrack per backend for the module, on default flags."""
    workdir = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with backend_server(request.param, workdir) as running:
        yield running
