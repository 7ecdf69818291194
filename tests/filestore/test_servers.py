"""Acceptance: an ``mlruns`` directory is served by aiotrack as ``mlflow server`` serves it.

1. The real mlflow client writes a file store directly (``file://`` tracking URI, the drop-in
   data set of ``tests/compat/test_dropin.py``); the reference ``mlflow server`` and then
   aiotrack are started on that directory and must give the same raw JSON answers
   (runs/search, runs/get, metrics/get-history, experiments/search|get|get-by-name), and the
   same errors for the file store's own error cases.
2. aiotrack writes a new file store through the real client over HTTP; the reference server
   reads it with the same answers, and the mlflow client reading the directory directly
   (``file://``) sees the same runs, metrics, params and tags.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput, ViewType
from mlflow.tracking import MlflowClient

from tests.compat.test_dropin import (
    API,
    TIMEOUT_S,
    assert_all_ok,
    assert_same_answers,
    normalise,
    populate,
    record,
)
from tests.servers import RunningServer, start_aiotrack, start_mlflow_reference

pytestmark = [pytest.mark.compat, pytest.mark.reference]

#: Error cases of the file store, as (label, method, path, payload).
ERRORS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("exp-get-bad-id", "GET", "experiments/get", {"experiment_id": "no/such"}),
    ("exp-get-unknown", "GET", "experiments/get", {"experiment_id": "12345"}),
    ("exp-get-by-name-unknown", "GET", "experiments/get-by-name", {"experiment_name": "nope"}),
    ("exp-create-dup", "POST", "experiments/create", {"name": "dropin-alpha"}),
    ("exp-create-dup-deleted", "POST", "experiments/create", {"name": "dropin-gone"}),
    ("exp-restore-active", "POST", "experiments/restore", {"experiment_id": "0"}),
    ("exp-delete-unknown", "POST", "experiments/delete", {"experiment_id": "777"}),
    ("exp-rename-to-taken", "POST", "experiments/update",
     {"experiment_id": "0", "new_name": "dropin-alpha"}),
    ("exp-delete-tag-missing", "POST", "experiments/delete-experiment-tag",
     {"experiment_id": "0", "key": "nope"}),
    ("run-get-unknown", "GET", "runs/get", {"run_id": "0123456789abcdef0123456789abcdef"}),
    ("run-get-bad-id", "GET", "runs/get", {"run_id": "../etc"}),
    ("history-unknown-run", "GET", "metrics/get-history",
     {"run_id": "0123456789abcdef0123456789abcdef", "metric_key": "loss"}),
    ("runs-search-unknown-exp", "POST", "runs/search", {"experiment_ids": ["999"]}),
    ("runs-search-bad-order", "POST", "runs/search",
     {"experiment_ids": ["0"], "order_by": ["nope.x"]}),
]  # fmt: skip


def _errors(server: RunningServer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with requests.Session() as session:
        for label, method, path, payload in ERRORS:
            url = server.url + API + path
            if method == "GET":
                resp = session.get(url, params=payload, timeout=TIMEOUT_S)
            else:
                resp = session.post(url, json=payload, timeout=TIMEOUT_S)
            body = resp.json()
            out[label] = {
                "status": resp.status_code,
                "error_code": body.get("error_code"),
                "message": body.get("message"),
                "body": body if resp.status_code == 200 else None,
            }
    return out


def _add_inputs_and_models(file_uri: str) -> None:
    """Dataset inputs and logged models (with linked metrics), straight into the file store."""
    c = MlflowClient(tracking_uri=file_uri)
    exp = c.get_experiment_by_name("dropin-alpha")
    assert exp is not None
    run = c.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'run-1'")[0]
    rid = run.info.run_id
    ds = Dataset(name="train", digest="d1", source_type="local", source='{"uri": "x"}')
    c.log_inputs(rid, datasets=[DatasetInput(ds, [InputTag("mlflow.data.context", "training")])])
    model = c.create_logged_model(
        exp.experiment_id, name="net", source_run_id=rid, params={"depth": "3"},
        tags={"k": "v"}, model_type="clf",
    )  # fmt: skip
    c.log_metric(rid, "val", 0.9, timestamp=5, step=1, model_id=model.model_id,
                 dataset_name="train", dataset_digest="d1")  # fmt: skip
    c.finalize_logged_model(model.model_id, "READY")
    c.log_outputs(rid, [LoggedModelOutput(model.model_id, 1)])


def _extras(server: RunningServer) -> dict[str, Any]:
    """Reads beyond the drop-in plan: bulk-interval history, dataset summaries, logged models."""
    out: dict[str, Any] = {}
    with requests.Session() as session:

        def post(label: str, path: str, body: dict[str, Any], prefix: str = API) -> Any:
            resp = session.post(server.url + prefix + path, json=body, timeout=TIMEOUT_S)
            out[label] = {"status": resp.status_code, "body": normalise(resp.json())}
            return resp.json()

        exps = post("exps", "experiments/search", {"max_results": 100, "view_type": "ALL"})
        exp_ids = sorted(e["experiment_id"] for e in exps["experiments"])
        runs = post(
            "runs",
            "runs/search",
            {"experiment_ids": exp_ids, "run_view_type": "ALL", "max_results": 100},
        )
        run_ids = sorted(r["info"]["run_id"] for r in runs["runs"])
        for n in (1, 3, 100):
            resp = session.get(
                server.url + API + "metrics/get-history-bulk-interval",
                params={"run_ids": run_ids, "metric_key": "loss", "max_results": n},
                timeout=TIMEOUT_S,
            )
            out[f"bulk-{n}"] = {"status": resp.status_code, "body": resp.json()}
        post(
            "datasets",
            "experiments/search-datasets",
            {"experiment_ids": exp_ids},
            prefix="/ajax-api/2.0/mlflow/",
        )
        if "dataset_summaries" in out["datasets"]["body"]:
            out["datasets"]["body"]["dataset_summaries"].sort(key=json.dumps)
        models = post("models", "logged-models/search", {"experiment_ids": exp_ids})
        post(
            "models-filtered",
            "logged-models/search",
            {
                "experiment_ids": exp_ids,
                "filter": "metrics.val > 0.5 AND params.depth = '3'",
                "order_by": [{"field_name": "creation_timestamp", "ascending": False}],
            },
        )
        for m in models.get("models", []):
            model_id = m["info"]["model_id"]
            resp = session.get(server.url + API + f"logged-models/{model_id}", timeout=TIMEOUT_S)
            out[f"model-{model_id}"] = {"status": resp.status_code, "body": normalise(resp.json())}
    return out  # fmt: skip


def test_mlflow_file_store_served_by_aiotrack(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    populate(root.as_uri())  # the real client, straight into the file store
    _add_inputs_and_models(root.as_uri())
    ref = start_mlflow_reference(str(root), tmp_path / "ref")
    try:
        plan, before = record(ref)
        ref_errors = _errors(ref)
        ref_extras = _extras(ref)
    finally:
        ref.stop()
    assert_all_ok("reference", before)
    assert all(v["status"] == 200 for v in ref_extras.values()), ref_extras
    assert ref_extras["models"]["body"]["models"], "the logged model was not written"
    assert ref_extras["models-filtered"]["body"]["models"]
    assert ref_extras["datasets"]["body"]["dataset_summaries"]
    assert len(ref_extras["bulk-3"]["body"]["metrics"]) > 3

    aio = start_aiotrack(str(root), tmp_path / "aio")
    try:
        _, after = record(aio, plan)
        aio_errors = _errors(aio)
        aio_extras = _extras(aio)
    finally:
        aio.stop()
    assert_same_answers("mlflow server", before, "aiotrack", after)
    assert aio_errors == ref_errors
    assert_same_answers("mlflow server", ref_extras, "aiotrack", aio_extras)


def _client_view(client: MlflowClient) -> dict[str, Any]:
    exps = client.search_experiments(view_type=ViewType.ALL)
    runs = client.search_runs(
        [e.experiment_id for e in exps], run_view_type=ViewType.ALL, max_results=1000
    )
    view: dict[str, Any] = {
        "experiments": sorted(
            (e.experiment_id, e.name, e.lifecycle_stage, tuple(sorted(e.tags.items())))
            for e in exps
        )
    }
    for run in runs:
        rid = run.info.run_id
        histories = {
            key: [
                ("nan" if math.isnan(m.value) else m.value, m.timestamp, m.step)
                for m in client.get_metric_history(rid, key)
            ]
            for key in run.data.metrics
        }
        view[rid] = {
            "info": (
                run.info.run_name, run.info.status, run.info.lifecycle_stage,
                run.info.start_time, run.info.end_time, run.info.artifact_uri,
            ),
            "params": run.data.params,
            "tags": run.data.tags,
            "histories": histories,
        }  # fmt: skip
    return view


def test_aiotrack_file_store_read_by_mlflow(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    aio = start_aiotrack(str(root), tmp_path / "aio")
    try:
        populate(aio.url)
        plan, before = record(aio)
        over_http = _client_view(MlflowClient(tracking_uri=aio.url))
    finally:
        aio.stop()
    assert_all_ok("aiotrack", before)

    direct = _client_view(MlflowClient(tracking_uri=root.as_uri()))
    assert direct == over_http
    assert len(direct) == 1 + 10  # experiments + 10 runs

    ref = start_mlflow_reference(str(root), tmp_path / "ref")
    try:
        _, after = record(ref, plan)
    finally:
        ref.stop()
    assert_same_answers("aiotrack", before, "mlflow server", after)
