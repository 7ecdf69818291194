"""Drop-in: a database written by ``mlflow server`` is served by aiotrack with the same answers,
and a database aiotrack created is served by ``mlflow server`` with the same answers.

For each backend (a temporary SQLite file, a fresh PostgreSQL or MariaDB database) and each
direction:

1. the *writer* server starts on an empty database and the real mlflow client logs a fixed data
   set into it (:func:`populate`: experiments with tags, a deleted experiment, runs with params,
   tags and multi-step metrics including NaN and +-inf, a nested run, a deleted run, a renamed
   run, finished and failed runs);
2. the writer answers a fixed set of read requests (:func:`read_plan`: ``runs/search`` with
   several filters, order_bys and all view types, ``runs/get`` for every run,
   ``metrics/get-history`` for every metric of every run, ``experiments/search`` and
   ``experiments/get``/``get-by-name``); the raw JSON answers are recorded and the writer stops;
3. the *reader* server starts on the **same** database, with no migration step in between, and
   must give the same answers to the same requests.

Only what legitimately varies is normalised: the order of lists MLflow does not define (the tags,
params and latest metrics of a run, the tags of an experiment), and page tokens, which are opaque
(pages are followed with each server's own tokens and the concatenated items compared).
Whitespace does not matter because parsed JSON is compared; bare ``NaN``/``Infinity`` tokens are
rejected by the parser, since MLflow sends them as the strings ``"NaN"``/``"Infinity"``.

When the reference server starts on an aiotrack-made database, its log must show no table
creation, no migration and no schema error, and ``/health`` must answer 200. The reference that
writes is MLflow 3.17.2 (``.venv-ref``: aiotrack serves its head as it is); the one that reads an
aiotrack-made database is MLflow 3.18.0 (``.venv-ref18``), since aiotrack creates 3.18.0's schema
and MLflow 3.17.2 refuses a newer revision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import (
    RunningServer,
    drop_postgres_database,
    new_postgres_database,
    reference18_bin,
    start_aiotrack,
    start_mlflow_reference,
)

pytestmark = [pytest.mark.compat, pytest.mark.reference]

API = "/api/2.0/mlflow/"
TIMEOUT_S = 60
T0 = 1_700_000_000_000  # ms; fixed timestamps keep the data set readable in a diff

# Lines in the reference server's log that mean it did not accept the database as it was.
MIGRATION_MARKERS = (
    "Creating initial MLflow database tables",
    "Updating database tables",
    "Running upgrade",
    "out-of-date database schema",
    "Can't locate revision",
    "mlflow db upgrade",
)


# --------------------------------------------------------------------------------------------
# The data set


def populate(url: str) -> None:
    """Log the drop-in data set through the real client (deterministic apart from ids/times)."""
    c = MlflowClient(tracking_uri=url)
    alpha = c.create_experiment("dropin-alpha", tags={"owner": "ann", "project": "x"})
    beta = c.create_experiment("dropin-beta", tags={"owner": "bob"})
    c.set_experiment_tag(beta, "stage", "prod")
    gone = c.create_experiment("dropin-gone", tags={"owner": "cid"})

    run_ids: list[str] = []
    for i in range(8):
        run = c.create_run(
            alpha if i < 5 else beta,
            start_time=T0 + i * 1000,
            tags={"team": "a" if i % 2 else "b"},
            run_name=f"run-{i}",
        )
        rid = run.info.run_id
        run_ids.append(rid)
        c.log_batch(
            rid,
            metrics=[Metric("loss", 1.0 / (s + 1 + i), T0 + i * 1000 + s, s) for s in range(5)],
            params=[Param("lr", str(0.01 * (i + 1))), Param("opt", "adam" if i % 3 else "sgd")],
            tags=[RunTag("note", f"n{i}")],
        )
        c.log_metric(rid, "acc", 0.5 + 0.05 * i, timestamp=T0 + i * 1000 + 10, step=0)
        c.log_param(rid, "seed", str(i))
        c.set_tag(rid, "idx", str(i))

    r0, r1, r2, r3, r4, r5, r6, _r7 = run_ids
    c.log_metric(r0, "loss", float("nan"), timestamp=T0 + 50, step=5)  # latest loss is NaN
    c.log_metric(r1, "big", math.inf, timestamp=T0 + 1050, step=0)
    c.log_metric(r1, "small", -math.inf, timestamp=T0 + 1051, step=0)
    c.log_metric(r1, "wobble", float("nan"), timestamp=T0 + 1052, step=1)
    c.log_metric(r1, "wobble", 2.0, timestamp=T0 + 1053, step=2)
    c.log_metric(r1, "wobble", 3.0, timestamp=T0 + 1053, step=2)  # same ts and step, two values
    c.set_terminated(r2)  # FINISHED, end_time = now
    c.set_terminated(r3, "FAILED", end_time=T0 + 99_999)
    c.update_run(r4, name="renamed-run")
    c.delete_run(r5)
    c.delete_tag(r6, "note")
    child = c.create_run(
        alpha, start_time=T0 + 500, tags={"mlflow.parentRunId": r0}, run_name="child"
    ).info.run_id
    c.log_metric(child, "loss", 0.25, timestamp=T0 + 600, step=0)
    c.set_terminated(child, end_time=T0 + 700)

    orphan = c.create_run(gone, start_time=T0 + 9000, run_name="in-gone").info.run_id
    c.log_param(orphan, "lr", "0.5")
    c.delete_experiment(gone)  # also soft-deletes its run
    c.rename_experiment(beta, "dropin-beta-renamed")


# --------------------------------------------------------------------------------------------
# Reading it back


def _strict_json(text: str) -> Any:
    def reject(token: str) -> Any:
        raise ValueError(f"bare {token} in JSON (MLflow sends it as a string)")

    return json.loads(text, parse_constant=reject)


def _by_key(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: json.dumps(d, sort_keys=True))


def normalise(value: Any) -> Any:
    """Sort the lists whose order MLflow leaves undefined; everything else is kept as sent."""
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: normalise(v) for k, v in value.items()}
    if "info" in out and isinstance(out.get("data"), dict):  # a Run
        out["data"] = {
            k: _by_key(v) if k in ("metrics", "params", "tags") else v
            for k, v in out["data"].items()
        }
    if "experiment_id" in out and isinstance(out.get("tags"), list):  # an Experiment
        out["tags"] = _by_key(out["tags"])
    return out


@dataclass(frozen=True)
class Read:
    """One read request; ``items`` names the list to concatenate across pages (if paginated)."""

    label: str
    method: str
    path: str
    payload: dict[str, Any]
    items: str | None = None


def perform(session: requests.Session, base: str, read: Read) -> Any:
    """Status and normalised JSON answer; paginated reads follow the server's own tokens."""
    payload = dict(read.payload)
    pages: list[Any] = []
    collected: list[Any] = []
    for _ in range(100):
        if read.method == "GET":
            resp = session.get(base + API + read.path, params=payload, timeout=TIMEOUT_S)
        else:
            resp = session.post(base + API + read.path, json=payload, timeout=TIMEOUT_S)
        try:
            body = _strict_json(resp.text)
        except ValueError as exc:
            return {"status": resp.status_code, "not_json": str(exc), "text": resp.text[:300]}
        if resp.status_code != 200 or read.items is None:
            return {"status": resp.status_code, "body": normalise(body)}
        token = body.pop("next_page_token", None)
        collected.extend(body.pop(read.items, []))
        pages.append(normalise(body))  # whatever else a page holds (normally nothing)
        if not token:
            return {"status": 200, "pages": len(pages), "items": normalise(collected),
                    "rest": pages}  # fmt: skip
        payload["page_token"] = token
    raise AssertionError(f"{read.label}: more than 100 pages")


def read_plan(session: requests.Session, base: str) -> list[Read]:
    """The reads to compare, built from the writer's own listing of experiments and runs."""
    exps = session.post(
        base + API + "experiments/search",
        json={"max_results": 1000, "view_type": "ALL"}, timeout=TIMEOUT_S,
    ).json()["experiments"]  # fmt: skip
    exp_ids = [e["experiment_id"] for e in exps]
    runs = session.post(
        base + API + "runs/search",
        json={"experiment_ids": exp_ids, "run_view_type": "ALL", "max_results": 1000},
        timeout=TIMEOUT_S,
    ).json()["runs"]
    assert len(exps) == 4 and len(runs) == 10, "the data set was not logged as expected"
    run_ids = [r["info"]["run_id"] for r in runs]
    parent = next(r for r in runs if r["info"]["run_name"] == "run-0")["info"]["run_id"]

    plan: list[Read] = []

    def add(
        label: str, method: str, path: str, payload: dict[str, Any], items: str | None = None
    ) -> None:
        plan.append(Read(label, method, path, payload, items))

    def search_experiments(label: str, method: str = "POST", **kw: Any) -> None:
        add(f"exp-search-{label}", method, "experiments/search", {"max_results": 1000, **kw})

    def search_runs(label: str, items: str | None = None, **kw: Any) -> None:
        add(f"runs-search-{label}", "POST", "runs/search", {"experiment_ids": exp_ids, **kw}, items)

    for view in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        search_experiments(view, view_type=view)
    search_experiments("order-name", order_by=["name ASC"], view_type="ALL")
    search_experiments("order-update-desc", order_by=["last_update_time DESC"], view_type="ALL")
    search_experiments("order-id-desc", order_by=["experiment_id DESC"])
    search_experiments("filter-name-like", filter="name LIKE 'dropin-%'", view_type="ALL")
    search_experiments("filter-tag", filter="tags.owner = 'ann'")
    search_experiments("with-GET", method="GET")
    add(
        "exp-search-paged",
        "POST",
        "experiments/search",
        {"max_results": 1, "view_type": "ALL"},
        "experiments",
    )
    for exp in exps:
        add(
            f"exp-get-{exp['name']}",
            "GET",
            "experiments/get",
            {"experiment_id": exp["experiment_id"]},
        )
        add(
            f"exp-get-by-name-{exp['name']}",
            "GET",
            "experiments/get-by-name",
            {"experiment_name": exp["name"]},
        )

    search_runs("default")
    for view in ("ACTIVE_ONLY", "DELETED_ONLY", "ALL"):
        search_runs(view, run_view_type=view)
    filters = [
        "metrics.loss < 0.3",
        "metrics.acc >= 0.6 and params.opt = 'adam'",
        "params.opt = 'adam'",
        "params.lr LIKE '0.0%'",
        "tags.team = 'a'",
        f"tags.`mlflow.parentRunId` = '{parent}'",
        "attributes.status = 'FINISHED'",
        "attributes.run_name LIKE 'run-%'",
        "attributes.run_name = 'renamed-run'",
        f"attributes.start_time > {T0 + 2500}",
        "metrics.big > 1e300",
        "metrics.small < 0",
    ]
    for i, flt in enumerate(filters):
        search_runs(f"filter{i}:{flt}", filter=flt, run_view_type="ALL")
    orders = [
        ["metrics.loss ASC"],
        ["metrics.loss DESC"],
        ["params.lr DESC"],
        ["attributes.run_name ASC"],
        ["tags.team DESC", "attributes.start_time ASC"],
        ["attributes.end_time DESC"],
        ["metrics.acc DESC"],
    ]
    for i, order in enumerate(orders):
        search_runs(f"order{i}:{','.join(order)}", order_by=order, run_view_type="ALL")
    search_runs("paged", items="runs", run_view_type="ALL", max_results=3)
    search_runs("paged-ordered", items="runs", max_results=4, order_by=["metrics.loss ASC"])

    for run in runs:
        rid = run["info"]["run_id"]
        add(f"runs-get-{rid}", "GET", "runs/get", {"run_id": rid})
        for metric in run["data"].get("metrics", []):
            key = metric["key"]
            add(
                f"history-{rid}-{key}",
                "GET",
                "metrics/get-history",
                {"run_id": rid, "metric_key": key},
            )
    add(
        "history-paged",
        "GET",
        "metrics/get-history",
        {"run_id": parent, "metric_key": "loss", "max_results": 2},
        "metrics",
    )
    add("runs-get-legacy-run_uuid", "GET", "runs/get", {"run_uuid": run_ids[0]})
    return plan


def record(
    server: RunningServer, plan: list[Read] | None = None
) -> tuple[list[Read], dict[str, Any]]:
    """Answers of ``server`` to ``plan`` (built from this server's listing if not given)."""
    with requests.Session() as session:
        if plan is None:
            plan = read_plan(session, server.url)
        return plan, {read.label: perform(session, server.url, read) for read in plan}


def assert_same_answers(
    writer: str, before: dict[str, Any], reader: str, after: dict[str, Any]
) -> None:
    differing = [label for label in before if before[label] != after.get(label)]
    if not differing:
        return
    report = []
    for label in differing[:6]:
        report.append(
            f"--- {label}\n  {writer}: {json.dumps(before[label], sort_keys=True)[:1500]}\n"
            f"  {reader}: {json.dumps(after.get(label), sort_keys=True)[:1500]}"
        )
    pytest.fail(
        f"{len(differing)} of {len(before)} answers differ between {writer} (writer) and "
        f"{reader} (reader on the same database): {differing[:20]}\n" + "\n".join(report),
        pytrace=False,
    )


def assert_all_ok(name: str, answers: dict[str, Any]) -> None:
    """Guard against comparing two identical errors: every recorded read must have succeeded."""
    failed = {k: v for k, v in answers.items() if v.get("status") != 200 or "not_json" in v}
    assert not failed, f"{name} failed reads: {json.dumps(failed)[:3000]}"


# --------------------------------------------------------------------------------------------
# Fixtures and tests


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
])  # fmt: skip
def backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file path that does not exist yet, or a fresh PG/MariaDB one."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dropin.db'}"
        return
    if request.param == "mariadb":
        uri = new_mariadb_database("dropin")
        try:
            yield uri
        finally:
            drop_mariadb_database(uri)
        return
    uri = new_postgres_database("aiotrack_dropin")
    try:
        yield uri
    finally:
        drop_postgres_database(uri)


def test_mlflow_database_served_by_aiotrack(backend_uri: str, tmp_path: Path) -> None:
    """Reference writes, aiotrack reads the same database: identical answers."""
    ref = start_mlflow_reference(backend_uri, tmp_path / "ref")
    try:
        populate(ref.url)
        plan, before = record(ref)
    finally:
        ref.stop()
    assert_all_ok("reference", before)

    aio = start_aiotrack(backend_uri, tmp_path / "aio")
    try:
        _, after = record(aio, plan)
    finally:
        aio.stop()
    assert_same_answers("mlflow server", before, "aiotrack", after)


def test_aiotrack_database_served_by_mlflow(backend_uri: str, tmp_path: Path) -> None:
    """aiotrack creates and writes the database, the reference reads it: identical answers."""
    aio = start_aiotrack(backend_uri, tmp_path / "aio")
    try:
        populate(aio.url)
        plan, before = record(aio)
    finally:
        aio.stop()
    assert_all_ok("aiotrack", before)

    # aiotrack creates MLflow 3.18.0's schema, which MLflow 3.17.2 refuses as newer than its own.
    ref = start_mlflow_reference(backend_uri, tmp_path / "ref", bindir=reference18_bin())
    try:
        health = requests.get(ref.url + "/health", timeout=TIMEOUT_S)
        assert health.status_code == 200, health.text
        startup_log = ref.log_path.read_text(errors="replace")
        markers = [m for m in MIGRATION_MARKERS if m in startup_log]
        assert not markers, (
            f"mlflow server did not take aiotrack's database as is ({markers}):\n{ref.log_tail(80)}"
        )
        _, after = record(ref, plan)
    finally:
        ref.stop()
    assert_same_answers("aiotrack", before, "mlflow server", after)
