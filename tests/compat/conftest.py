"""Fixtures for the compatibility suite.

``tracking_server`` starts one real server process per backend (``sqlite``: a temp file,
``postgres`` and ``mariadb``: a fresh database) for the whole session. The target is aiotrack by default, or the
reference ``mlflow server`` with ``AIOTRACK_TEST_TARGET=mlflow`` — every test must pass on both.
Each test gets its own uniquely named experiment, so tests are independent and xdist-safe.

``trace_server`` is the same for the tracing suites (``test_*trace*.py``) on the three SQL
backends, whose reference is MLflow **3.18** (``.venv-ref18``): aiotrack by default, the reference
with ``AIOTRACK_TRACE_TESTS_SERVER=reference`` (or ``AIOTRACK_TEST_TARGET=mlflow``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The client must fail at once on a 5xx instead of retrying with backoff for minutes, and must
# not phone home. Set before mlflow reads them (it reads them per request).
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = os.environ.get("AIOTRACK_TEST_HTTP_TIMEOUT", "30")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
# mlflow 3.17 refuses the file store (a backend here) unless this is set.
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
os.environ.pop("MLFLOW_RUN_ID", None)

import mlflow
from mlflow.tracking import MlflowClient

from tests.databases import backend_database
from tests.servers import RunningServer, reference18_bin, start_aiotrack, start_mlflow_reference

TARGET = os.environ.get("AIOTRACK_TEST_TARGET", "aiotrack")
if TARGET not in ("aiotrack", "mlflow"):
    raise pytest.UsageError(f"AIOTRACK_TEST_TARGET must be 'aiotrack' or 'mlflow', not {TARGET!r}")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    # An mlruns directory (MLflow's file store). Tests that pin SQL-store behaviour where the
    # file store answers differently are deselected there (FILE_STORE_DIFFERS).
    pytest.param("file", id="file"),
]

#: Tests deselected on the file backend: MLflow's file store (and aiotrack's, which answers as it
#: does) behaves differently there, by test name -> why. ``(name, "mlflow")`` entries apply to
#: the reference server only (aiotrack answers 4xx where MLflow's file store answers 500).
FILE_STORE_DIFFERS: dict[str | tuple[str, str], str] = {
    "test_metric_history_of_unknown_run_is_empty": "the file store answers 404 for an unknown run",
    "test_non_integer_experiment_id": "file-store experiment ids are any [A-Za-z0-9_-] string",
    "test_error_bodies": "file-store experiment ids are any [A-Za-z0-9_-] string (404, not 400)",
    "test_metric_history_order_and_duplicates": "the file store returns points in logging order",
    "test_legacy_run_uuid_accepted": "file-store metric points carry their run_id",
    "test_non_finite_and_string_numbers": "file-store metric points carry their run_id",
    ("test_delete_and_restore_experiment_cascade_to_runs", "mlflow"):
        "mlflow's file store answers 500 for a run created in a deleted experiment",
    ("test_rename_deleted_experiment_is_invalid_state", "mlflow"):
        "mlflow's file store answers 500 INTERNAL_ERROR there",
    ("test_param_immutability", "mlflow"):
        "mlflow's file store answers 500 for a param conflict in log-batch",
    ("test_param_conflict_in_batch_writes_nothing", "mlflow"):
        "mlflow's file store writes part of the batch, then answers 500",
    ("test_bad_run_filter[file-params.p > '1']", "mlflow"):
        "mlflow's file store checks comparators only against existing runs",
    ("test_duplicate_run_order_by_keys", "mlflow"):
        "mlflow's file store accepts a repeated order_by key",
    ("test_bad_keys[file-key3]", "mlflow"): "mlflow's file store does not check this key",
    ("test_long_tag_value_truncated", "mlflow"): "mlflow's file store does not truncate tags",
}  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Deselected, not skipped: these cases do not exist on the file backend, and a skip would
    # read as a pass. The file store's own answers are pinned in tests/filestore.
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = getattr(item, "originalname", item.name)
        differs = (
            callspec is not None
            and callspec.params.get("tracking_server") == "file"
            and (
                name in FILE_STORE_DIFFERS
                or (name, TARGET) in FILE_STORE_DIFFERS
                or (item.name, TARGET) in FILE_STORE_DIFFERS
            )
        )
        (dropped if differs else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


TRACE_TARGET = os.environ.get(
    "AIOTRACK_TRACE_TESTS_SERVER", "reference" if TARGET == "mlflow" else "aiotrack"
)
if TRACE_TARGET not in ("aiotrack", "reference"):
    raise pytest.UsageError(
        f"AIOTRACK_TRACE_TESTS_SERVER must be 'aiotrack' or 'reference', not {TRACE_TARGET!r}"
    )

#: Tracing lives in the SQL stores only (MLflow's file store has no spans table).
TRACE_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


def start_trace_target(backend_uri: str, workdir: Path) -> RunningServer:
    """Start the tracing suites' server (aiotrack, or the MLflow 3.18 reference) on a store."""
    if TRACE_TARGET == "reference":
        return start_mlflow_reference(backend_uri, workdir, bindir=reference18_bin())
    return start_aiotrack(backend_uri, workdir)


def _start(backend_uri: str, workdir: Path) -> RunningServer:
    if TARGET == "mlflow":
        return start_mlflow_reference(backend_uri, workdir)
    return start_aiotrack(backend_uri, workdir)


@pytest.fixture(scope="session", params=BACKENDS)
def tracking_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A live server (aiotrack or reference, per AIOTRACK_TEST_TARGET) on one backend."""
    backend: str = request.param
    workdir = tmp_path_factory.mktemp(f"server-{TARGET}-{backend}")
    with backend_database(backend, workdir, "compat") as uri, _start(uri, workdir) as server:
        yield server


@pytest.fixture(scope="session", params=TRACE_BACKENDS)
def trace_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A live tracing server (aiotrack or the 3.18 reference) on one SQL backend."""
    backend: str = request.param
    workdir = tmp_path_factory.mktemp(f"traces-{TRACE_TARGET}-{backend}")
    with backend_database(backend, workdir, "traces") as uri, start_trace_target(
        uri, workdir
    ) as server:
        yield server


@pytest.fixture
def server_url(tracking_server: RunningServer) -> str:
    return tracking_server.url


@pytest.fixture
def client(tracking_server: RunningServer) -> MlflowClient:
    """The real ``MlflowClient`` pointed at the server."""
    return MlflowClient(tracking_uri=tracking_server.url)


@pytest.fixture
def fluent(tracking_server: RunningServer) -> Iterator[str]:
    """Point the fluent ``mlflow.*`` API at the server; yields the URL, ends stray runs after."""
    mlflow.set_tracking_uri(tracking_server.url)
    try:
        yield tracking_server.url
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        # set_experiment() caches the experiment id globally; do not leak it into other tests.
        mlflow.tracking.fluent._active_experiment_id = None
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # also unsets the env var


def _unique(request: pytest.FixtureRequest) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:60]
    return f"{base}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test (or xdist worker) uses; good as an experiment name or prefix."""
    return _unique(request)


@pytest.fixture
def experiment_id(client: MlflowClient, request: pytest.FixtureRequest) -> str:
    """A fresh experiment of this test's own."""
    return client.create_experiment(_unique(request))


@pytest.fixture
def run_id(client: MlflowClient, experiment_id: str) -> str:
    """A fresh RUNNING run in this test's experiment."""
    return client.create_run(experiment_id).info.run_id


@dataclass(frozen=True)
class TraceEnv:
    """What a tracing test works in: the server, its client, and a fresh active experiment."""

    server: RunningServer
    client: MlflowClient
    experiment_id: str

    @property
    def url(self) -> str:
        return self.server.url


def point_tracing_at(url: str | None) -> None:
    """Point the fluent API (and so the tracer's exporter) at ``url``, or back at nothing.

    ``mlflow.set_tracking_uri`` rebuilds the tracer provider, so the exporter it creates next
    reads ``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING`` as the environment holds it at that moment.
    """
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.tracking.fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    mlflow.set_tracking_uri(url)  # type: ignore[arg-type]  # None unsets it


@pytest.fixture
def trace_env(
    trace_server: RunningServer, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TraceEnv]:
    """Fluent tracing aimed at ``trace_server`` with synchronous export (each trace is on the
    server when its root span ends) and a fresh experiment set as the active one."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    point_tracing_at(trace_server.url)
    client = MlflowClient(tracking_uri=trace_server.url)
    experiment_id = client.create_experiment(_unique(request))
    mlflow.set_experiment(experiment_id=experiment_id)
    try:
        yield TraceEnv(server=trace_server, client=client, experiment_id=experiment_id)
    finally:
        mlflow.flush_trace_async_logging()
        point_tracing_at(None)
