"""Browser fixtures: Debian's Chromium driven by Python Playwright against a real server.

One ``aiotrack server`` process (SQLite) per session, seeded once through its REST API with a
10,000-run experiment, a run with a 1,000,000-point metric holding one spike, and a showcase run
with params, metrics, tags, a description and artifacts. Chromium, Playwright and the built UI are
required: missing, the tests skip locally and FAIL under ``CI=true``. Never ``playwright install``:
the browser is ``/usr/bin/chromium`` (``apt-get install chromium``; ``scripts/test`` does it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from aiotrack.api.ui import STATIC_DIR
from tests.browser.seed import (
    insert_history_sql,
    seed_long_history,
    seed_runs,
)
from tests.servers import RunningServer, start_aiotrack
from tests.services import unavailable

CHROMIUM = Path(os.environ.get("AIOTRACK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
N_RUNS = 10_000
N_POINTS = 1_000_000
SPIKE_STEP = 777_777
SPIKE_VALUE = 1000.0
API = "/api/2.0/mlflow"
#: Screenshots are also copied here so they can be looked at after the run.
SCREENSHOT_COPY_DIR = os.environ.get("AIOTRACK_SCREENSHOT_DIR")


@dataclass
class Seeded:
    server: RunningServer
    big_experiment: str
    big_run_ids: list[str]
    history_experiment: str
    long_run: str
    showcase_run: str
    artifacts_uploaded: bool
    seconds: dict[str, float]
    nested_experiment: str = ""
    nested_runs: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = requests.post(f"{self.url}{API}/{path}", json=body, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def search_runs(self, **body: Any) -> list[dict[str, Any]]:
        return self.post("runs/search", body).get("runs", [])  # type: ignore[no-any-return]

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        resp = requests.get(f"{self.url}{API}/{path}", params=params, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]


def _png_bytes() -> bytes:
    """A 64x32 PNG (red/blue halves) made with zlib only."""
    import struct
    import zlib

    w, h = 64, 32
    raw = b"".join(
        b"\x00" + b"".join(b"\xd0\x20\x20" if x < w // 2 else b"\x20\x40\xd0" for x in range(w))
        for _ in range(h)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    if not (STATIC_DIR / "index.html").is_file():
        unavailable(
            f"the web UI is not built ({STATIC_DIR}); run: cd web && npm ci && npm run build"
        )
    workdir = tmp_path_factory.mktemp("ui-server")
    db = workdir / "db.sqlite"
    server = start_aiotrack(
        f"sqlite:///{db}", workdir, "--artifacts-destination", str(workdir / "artifacts")
    )
    try:
        seconds: dict[str, float] = {}
        t0 = time.monotonic()
        big = asyncio.run(seed_runs(server.url, "ten-thousand", N_RUNS))
        seconds["10k runs via REST"] = time.monotonic() - t0
        assert len(big.run_ids) == N_RUNS

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            resp = requests.post(f"{server.url}{API}/{path}", json=body, timeout=60)
            assert resp.status_code == 200, resp.text
            return resp.json()  # type: ignore[no-any-return]

        hist = post("experiments/create", {"name": "long-history"})["experiment_id"]
        long_run = post("runs/create", {"experiment_id": hist, "run_name": "long"})["run"]["info"][
            "run_id"
        ]
        # Three 1000-point batches through the API (the first, the one holding the spike, the
        # last); the other 997,000 points straight into SQLite (see insert_history_sql).
        t0 = time.monotonic()
        spike_batch = SPIKE_STEP // 1000
        api_batches = {0, spike_batch, N_POINTS // 1000 - 1}
        asyncio.run(
            seed_long_history(
                server.url, long_run, "big", N_POINTS, SPIKE_STEP, SPIKE_VALUE, only=api_batches
            )
        )
        seconds["3k points via REST"] = time.monotonic() - t0
        t0 = time.monotonic()
        for a, b in ((1000, spike_batch * 1000), ((spike_batch + 1) * 1000, N_POINTS - 1000)):
            insert_history_sql(str(db), long_run, "big", range(a, b))
        seconds["997k points via SQL"] = time.monotonic() - t0

        show = post("runs/create", {"experiment_id": hist, "run_name": "showcase"})["run"]["info"]
        showcase = show["run_id"]
        post(
            "runs/log-batch",
            {
                "run_id": showcase,
                "params": [{"key": "alpha", "value": "0.5"}, {"key": "model", "value": "tree"}],
                "metrics": [
                    {
                        "key": "rmse",
                        "value": 0.8 - s * 0.01,
                        "timestamp": 1_700_000_000_000 + s,
                        "step": s,
                    }
                    for s in range(50)
                ],
                "tags": [
                    {"key": "team", "value": "red"},
                    {"key": "mlflow.note.content", "value": "# Showcase\nA **bold** note."},
                ],
            },
        )
        uploaded = _upload_artifacts(server.url, show["artifact_uri"])
        nested_exp, nested_runs = _seed_nested(post)
        yield Seeded(
            server,
            big.experiment_id,
            big.run_ids,
            hist,
            long_run,
            showcase,
            uploaded,
            seconds,
            nested_exp,
            nested_runs,
        )
    finally:
        server.stop()


#: The nested experiment: run name -> parent's run name (None: top level), in start order.
NESTED = {
    "baseline": None,
    "sweep": None,
    "trial-0": "sweep",
    "trial-1": "sweep",
    "fold-0": "trial-1",
    "trial-2": "sweep",
    "latest": None,
}


def _seed_nested(post: Any) -> tuple[str, dict[str, str]]:
    """Experiment ``nested-runs`` shaped by :data:`NESTED`, children tagged with
    ``mlflow.parentRunId`` as ``mlflow.start_run(nested=True)`` does; start times increase in
    the dict's order, so the newest (``latest``) comes first."""
    exp = post("experiments/create", {"name": "nested-runs"})["experiment_id"]
    ids: dict[str, str] = {}
    for i, (name, parent) in enumerate(NESTED.items()):
        body = {"experiment_id": exp, "run_name": name, "start_time": 1_700_000_000_000 + i}
        run_id = post("runs/create", body)["run"]["info"]["run_id"]
        ids[name] = run_id
        if parent is not None:
            tag = {"run_id": run_id, "key": "mlflow.parentRunId", "value": ids[parent]}
            post("runs/set-tag", tag)
        post("runs/log-metric", {"run_id": run_id, "key": "score", "value": i, "timestamp": 1})
    return exp, ids


def _upload_artifacts(url: str, artifact_uri: str) -> bool:
    """Upload notes.txt, plot.png and table.csv through the artifact proxy; False when the
    server has no proxy route (404)."""
    prefix = artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
    files = {
        "notes.txt": b"hello from the showcase run\nline two\n",
        "plot.png": _png_bytes(),
        "data/table.csv": b"epoch,loss\n1,0.9\n2,0.5\n",
    }
    for name, body in files.items():
        resp = requests.put(
            f"{url}/api/2.0/mlflow-artifacts/artifacts/{prefix}/{name}", data=body, timeout=30
        )
        if resp.status_code == 404:
            return False
        assert resp.status_code == 200, resp.text
    return True


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and asyncio tests that xdist schedules later on the same worker would fail
# with "cannot be called from a running event loop".
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("python playwright is missing: pip install -e '.[test]'")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser: Any, color_scheme: str = "light") -> tuple[Any, list[str]]:
    """A page in a fresh context and the list its uncaught errors are collected in."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, color_scheme=color_scheme
    )
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    return pg, errors


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; any uncaught page error fails the test."""
    pg, errors = new_page(browser)
    yield pg
    pg.context.close()
    assert not errors, f"uncaught page errors: {errors}"


@pytest.fixture(params=["light", "dark"])
def themed_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page in the light and in the dark colour scheme (the UI follows the system)."""
    pg, errors = new_page(browser, request.param)
    yield pg
    pg.context.close()
    assert not errors, f"uncaught page errors: {errors}"


#: axe-core, a dev dependency of web/ (``npm ci`` installs it), injected into pages under test.
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE.is_file():
        unavailable(f"{AXE} is missing: cd web && npm ci")
    return AXE


@pytest.fixture
def screenshot(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """``screenshot(page, "name")`` saves ``<tmp>/<name>.png`` (and a copy under
    ``$AIOTRACK_SCREENSHOT_DIR`` when set)."""

    def take(pg: Any, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        pg.screenshot(path=str(path))
        if SCREENSHOT_COPY_DIR:
            Path(SCREENSHOT_COPY_DIR).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(SCREENSHOT_COPY_DIR) / path.name)
        return path

    return take
