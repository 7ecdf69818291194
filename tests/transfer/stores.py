"""Source stores for the import tests, and a way to compare what two servers answer.

``write_rich_mlruns`` logs with the real mlflow client into a file store (every kind of entity
aiotrack imports); ``write_scale_mlruns`` writes a large store quickly with aiotrack's own
file-store writer, whose bytes the file-store tests prove identical to MLflow's.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import requests

from aiotrack.store.entities import Metric, RunInfo
from aiotrack.store.file.layout import metric_line, run_meta, write_text, write_yaml

__all__ = ["answers", "write_rich_mlruns", "write_scale_mlruns"]

_DOUBLE_MAX = 1.7976931348623157e308


def write_rich_mlruns(root: Path) -> None:
    """Experiments (one deleted), runs (one deleted) with params, tags, NaN/inf metrics, nested
    keys, a dataset input, a logged model with a metric, and a registered model with a version,
    tags and an alias — all through the real mlflow 3.17.2 client."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    uri = root.resolve().as_uri()
    client = MlflowClient(uri)
    one = client.create_experiment("exp one", tags={"team": "a"})
    two = client.create_experiment("exp two")
    for i in range(5):
        run = client.create_run(one if i % 2 else two, tags={"t": str(i)}, run_name=f"run-{i}")
        rid = run.info.run_id
        client.log_param(rid, "lr", str(0.1 * i))
        for step in range(50):
            client.log_metric(rid, "loss", 1.0 / (step + 1) + i, step=step, timestamp=1000 + step)
        client.log_metric(rid, "nested/acc", math.nan, step=1, timestamp=5)
        client.log_metric(rid, "big", math.inf, timestamp=6)
        client.set_terminated(rid)
        if i == 3:
            client.delete_run(rid)
    gone = client.create_experiment("gone")
    client.create_run(gone)
    client.delete_experiment(gone)
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("exp one")
        with mlflow.start_run() as run:
            dataset = mlflow.data.from_pandas(pd.DataFrame({"a": [1, 2]}), name="ds1")
            mlflow.log_input(dataset, context="training")
            model = mlflow.initialize_logged_model(name="m", params={"p": "1"}, tags={"k": "v"})
            mlflow.log_metric("acc", 0.9, model_id=model.model_id)
        client.create_registered_model("regm", tags={"a": "b"}, description="d")
        version = client.create_model_version(
            "regm", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags={"x": "y"}
        )
        client.set_registered_model_alias("regm", "champ", version.version)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def write_scale_mlruns(root: Path, *, runs: int, keys: int, steps: int) -> None:
    """One experiment "scale" (id 1) of ``runs`` runs, each with ``keys`` metrics of ``steps``
    points, 10 params and 5 tags, in MLflow's file-store layout."""
    exp_dir = root / "1"
    exp_dir.mkdir(parents=True)
    write_yaml(
        str(exp_dir),
        {
            "artifact_location": (exp_dir.resolve()).as_uri(),
            "creation_time": 1_700_000_000_000,
            "experiment_id": "1",
            "last_update_time": 1_700_000_000_000,
            "lifecycle_stage": "active",
            "name": "scale",
        },
    )
    for i in range(runs):
        run_id = f"{i:032x}"
        run_dir = exp_dir / run_id
        info = RunInfo(
            run_id=run_id,
            run_name=f"run-{i}",
            experiment_id="1",
            user_id="bench",
            status="FINISHED",
            start_time=1_700_000_000_000 + i,
            end_time=1_700_000_100_000 + i,
            artifact_uri=(run_dir / "artifacts").resolve().as_uri(),
            lifecycle_stage="active",
        )
        run_dir.mkdir()
        write_yaml(str(run_dir), run_meta(info, deleted_time=None, write_deleted_time=True))
        os.makedirs(run_dir / "artifacts", exist_ok=True)
        for j in range(10):
            write_text(str(run_dir / "params" / f"p{j}"), str(i * j))
        for j in range(5):
            write_text(str(run_dir / "tags" / f"t{j}"), f"v{i % 7}")
        write_text(str(run_dir / "tags" / "mlflow.runName"), f"run-{i}")
        (run_dir / "metrics").mkdir()
        for k in range(keys):
            lines = [
                metric_line(Metric(f"m{k}", (s * 0.5 + k + i) / 3, 1_700_000_000_000 + s, s))
                for s in range(steps)
            ]
            (run_dir / "metrics" / f"m{k}").write_text("".join(lines))


def _clamp(value: Any) -> Any:
    """How a SQL store answers a metric value: infinities are stored clamped (MLflow too).
    NaN becomes a string so that equal answers compare equal."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if value in ("Infinity", math.inf):
        return _DOUBLE_MAX
    if value in ("-Infinity", -math.inf):
        return -_DOUBLE_MAX
    return value


def _post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(f"{url}/api/2.0/mlflow/{path}", json=body, timeout=60)
    assert resp.status_code == 200, (path, resp.text)
    return resp.json()  # type: ignore[no-any-return]


def _get(url: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
    resp = requests.get(f"{url}/api/2.0/mlflow/{path}", params=params, timeout=60)
    assert resp.status_code == 200, (path, resp.text)
    return resp.json()  # type: ignore[no-any-return]


def _normal_run(run: dict[str, Any], experiment_names: dict[str, str]) -> dict[str, Any]:
    info = dict(run["info"])
    info["experiment_id"] = experiment_names[info["experiment_id"]]
    data = run.get("data", {})
    # MLflow's file store also names the run in each metric (``run_id``); its SQL store not.
    metrics = sorted(
        (
            {**{k: v for k, v in m.items() if k != "run_id"}, "value": _clamp(m["value"])}
            for m in data.get("metrics", [])
        ),
        key=lambda m: m["key"],
    )
    return {
        "info": info,
        "params": sorted((p["key"], p["value"]) for p in data.get("params", [])),
        "tags": sorted((t["key"], t["value"]) for t in data.get("tags", [])),
        "metrics": metrics,
        "datasets": sorted(
            (d["dataset"]["name"], d["dataset"]["digest"])
            for d in run.get("inputs", {}).get("dataset_inputs", [])
        ),
    }


def answers(url: str, *, history_sample: int | None = None) -> dict[str, Any]:
    """What a server answers about everything in it, with experiment ids replaced by names
    (an import may renumber experiments) and lists sorted where the API leaves order open."""
    experiments = _post(url, "experiments/search", {"view_type": "ALL", "max_results": 1000})
    names = {e["experiment_id"]: e["name"] for e in experiments["experiments"]}
    out: dict[str, Any] = {
        "experiments": sorted(
            (
                e["name"],
                e["lifecycle_stage"],
                e.get("artifact_location"),
                e.get("creation_time"),
                sorted((t["key"], t["value"]) for t in e.get("tags", [])),
            )
            for e in experiments["experiments"]
        ),
        "runs": {},
        "history": {},
    }
    for experiment_id in sorted(names, key=names.__getitem__):
        body: dict[str, Any] = {
            "experiment_ids": [experiment_id],
            "run_view_type": "ALL",
            "max_results": 1000,
        }
        runs: list[dict[str, Any]] = []
        while True:
            page = _post(url, "runs/search", body)
            runs.extend(page.get("runs", []))
            if not page.get("next_page_token"):
                break
            body["page_token"] = page["next_page_token"]
        for run in runs:
            out["runs"][run["info"]["run_id"]] = _normal_run(run, names)
    run_ids = sorted(out["runs"])
    if history_sample is not None:
        run_ids = run_ids[:: max(1, len(run_ids) // history_sample)]
    for run_id in run_ids:
        for m in out["runs"][run_id]["metrics"]:
            points = _get(url, "metrics/get-history", {"run_id": run_id, "metric_key": m["key"]})
            out["history"][(run_id, m["key"])] = sorted(
                (p["step"], p["timestamp"], _clamp(p["value"])) for p in points.get("metrics", [])
            )
    return out
