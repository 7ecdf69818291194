"""Drop-in for registry data: a database written by ``mlflow server`` is served by aiotrack with
the same answers, and one written by aiotrack is served by ``mlflow server`` with the same answers.

The writer logs a registry data set with the real client (models with tags, versions with tags,
descriptions, aliases, stage transitions with archiving, a deleted version, a rename, a deleted
model, logged models with params, tags and linked metrics), records its answers to a fixed set
of reads, stops; the reader starts on the same database and must answer the same. Lists whose
order MLflow leaves undefined (tags, aliases, ``latest_versions``, logged-model metrics) are
sorted before comparing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow.entities import Metric
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


def populate(url: str) -> None:
    c = MlflowClient(tracking_uri=url)
    c.create_registered_model("alpha", tags={"team": "red"}, description="first model")
    c.create_registered_model("beta", tags={"team": "blue", "x": "1"})
    c.create_registered_model("gone")
    for i in range(1, 5):
        c.create_model_version("alpha", f"s3://bucket/alpha/{i}", tags={"i": str(i)},
                               description=f"v{i}", run_link=f"http://x/{i}")  # fmt: skip
    c.create_model_version("beta", "s3://bucket/beta/1")
    c.create_model_version("gone", "s3://bucket/gone/1")
    c.transition_model_version_stage("alpha", "1", "Production")
    c.transition_model_version_stage("alpha", "2", "Production", archive_existing_versions=True)
    c.transition_model_version_stage("alpha", "3", "Staging")
    c.set_registered_model_alias("alpha", "champion", "2")
    c.set_registered_model_alias("alpha", "challenger", "3")
    c.set_model_version_tag("alpha", "3", "validated", "yes")
    c.delete_model_version("alpha", "4")
    c.rename_registered_model("beta", "beta-renamed")
    c.delete_registered_model("gone")

    exp = c.create_experiment("dropin-registry")
    run = c.create_run(exp)
    lm = c.create_logged_model(exp, name="lm", source_run_id=run.info.run_id,
                               params={"lr": "0.1"}, tags={"k": "v"})  # fmt: skip
    c.log_batch(run.info.run_id, metrics=[Metric("acc", 0.5, 1000, 1, model_id=lm.model_id)])
    c.finalize_logged_model(lm.model_id, "READY")
    c.create_logged_model(exp, name="pending-one")


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda d: json.dumps(d, sort_keys=True))


def normalise(value: Any) -> Any:
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: normalise(v) for k, v in value.items()}
    for key in ("tags", "aliases", "latest_versions", "metrics", "params"):
        if isinstance(out.get(key), list):
            out[key] = _sorted(out[key])
    return out


def reads(url: str) -> dict[str, Any]:
    s = requests.Session()
    out: dict[str, Any] = {}

    def get(label: str, path: str, **params: Any) -> Any:
        r = s.get(url + API + path, params=params, timeout=60)
        out[label] = {"status": r.status_code, "body": normalise(r.json())}
        return r.json()

    def post(label: str, path: str, body: dict[str, Any]) -> Any:
        r = s.post(url + API + path, json=body, timeout=60)
        out[label] = {"status": r.status_code, "body": normalise(r.json())}
        return r.json()

    models = get("rm-search", "registered-models/search", max_results=100)
    get("rm-search-filter", "registered-models/search", filter="tags.team = 'red'")
    get("rm-search-order", "registered-models/search", order_by="name DESC")
    for m in models.get("registered_models", []):
        get(f"rm-get-{m['name']}", "registered-models/get", name=m["name"])
        post(f"latest-{m['name']}", "registered-models/get-latest-versions", {"name": m["name"]})
    versions = get("mv-search", "model-versions/search", max_results=1000)
    get("mv-search-filter", "model-versions/search", filter="name = 'alpha' and tags.i = '3'")
    get("mv-search-order", "model-versions/search", order_by="version_number ASC")
    for v in versions.get("model_versions", []):
        label = f"{v['name']}-{v['version']}"
        get(f"mv-get-{label}", "model-versions/get", name=v["name"], version=v["version"])
        get(f"mv-uri-{label}", "model-versions/get-download-uri", name=v["name"],
            version=v["version"])  # fmt: skip
    get("mv-get-deleted", "model-versions/get", name="alpha", version="4")
    for alias in ("champion", "challenger", "missing"):
        get(f"alias-{alias}", "registered-models/alias", name="alpha", alias=alias)
    exp = s.get(url + API + "experiments/get-by-name",
                params={"experiment_name": "dropin-registry"}, timeout=60).json()  # fmt: skip
    exp_id = exp["experiment"]["experiment_id"]
    found = post("lm-search", "logged-models/search", {"experiment_ids": [exp_id]})
    post("lm-search-filter", "logged-models/search",
         {"experiment_ids": [exp_id], "filter": "metrics.acc > 0.1"})  # fmt: skip
    for m in found.get("models", []):
        get(f"lm-get-{m['info']['name']}", f"logged-models/{m['info']['model_id']}")
    return out


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
])  # fmt: skip
def backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dropin.db'}"
        return
    if request.param == "mariadb":
        uri = new_mariadb_database("regdropin")
        try:
            yield uri
        finally:
            drop_mariadb_database(uri)
        return
    uri = new_postgres_database("aiotrack_regdropin")
    try:
        yield uri
    finally:
        drop_postgres_database(uri)


def _record(server: RunningServer, write: bool) -> dict[str, Any]:
    try:
        if write:
            populate(server.url)
        return reads(server.url)
    finally:
        server.stop()


def _compare(writer: str, before: dict[str, Any], reader: str, after: dict[str, Any]) -> None:
    assert before["rm-search"]["status"] == 200 and before["lm-search"]["body"].get("models")
    differing = [k for k in before if before[k] != after.get(k)]
    detail = "\n".join(
        f"--- {k}\n {writer}: {json.dumps(before[k], sort_keys=True)[:1200]}\n"
        f" {reader}: {json.dumps(after.get(k), sort_keys=True)[:1200]}"
        for k in differing[:5]
    )
    assert not differing, f"{len(differing)}/{len(before)} answers differ: {differing}\n{detail}"


def test_mlflow_registry_served_by_aiotrack(backend_uri: str, tmp_path: Path) -> None:
    before = _record(start_mlflow_reference(backend_uri, tmp_path / "ref"), write=True)
    after = _record(start_aiotrack(backend_uri, tmp_path / "aio"), write=False)
    _compare("mlflow server", before, "aiotrack", after)


def test_aiotrack_registry_served_by_mlflow(backend_uri: str, tmp_path: Path) -> None:
    before = _record(start_aiotrack(backend_uri, tmp_path / "aio"), write=True)
    # aiotrack creates MLflow 3.18.0's schema, which MLflow 3.17.2 refuses as newer than its own.
    ref = start_mlflow_reference(backend_uri, tmp_path / "ref", bindir=reference18_bin())
    after = _record(ref, write=False)
    _compare("aiotrack", before, "mlflow server", after)
