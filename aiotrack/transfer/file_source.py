"""Read an MLflow ``./mlruns`` file store as rows of MLflow's SQL tables.

Everything the SQL store would hold is produced: experiments (deleted ones from ``.trash``
too) and their tags, runs with ``deleted_time``, params, tags, every metric point and the
latest value per key, datasets and run inputs, model inputs/outputs, logged models with
their params, tags and metrics, and traces with their tags, metadata and assessments (their
spans stay in the artifact store, see :mod:`aiotrack.transfer.file_traces`). Metric points read exactly as the file store serves them.
Derived ids (datasets, inputs) are the file store's own deterministic md5 ids, so a second
import of the same directory produces the same rows.

This is blocking file I/O: the importer pulls batches through a worker thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiotrack.store.entities import Experiment, LifecycleStage, RunInfo, ViewType
from aiotrack.store.file.experiments import all_experiments
from aiotrack.store.file.layout import (
    METRICS,
    MODELS,
    PARAMS,
    TAGS,
    MalformedError,
    dataset_id,
    dataset_input_id,
    list_dir_files,
    list_subdirs,
    model_input_id,
    read_dataset_inputs,
    read_model_inputs,
    read_model_outputs,
    read_values,
    read_yaml,
)
from aiotrack.store.file.root import FileRoot
from aiotrack.store.file.runs import list_run_infos
from aiotrack.store.sql.logwriter import stored_metric
from aiotrack.transfer.file_traces import trace_batches
from aiotrack.transfer.sink import Row

__all__ = ["FileSource", "Problem"]

log = logging.getLogger(__name__)

Batch = tuple[str, list[Row]]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that could not be imported (the import goes on and exits non-zero)."""

    what: str
    error: str


class FileSource:
    """An ``mlruns`` directory; `batches` yields its rows run by run."""

    def __init__(self, path: str) -> None:
        self.root = FileRoot(path, artifact_root_uri=path)
        self.problems: list[Problem] = []

    def experiments(self) -> list[Experiment]:
        """Every experiment, active and deleted."""
        return all_experiments(self.root, ViewType.ALL)

    def count_runs(self) -> int:
        """How many run directories there are (the progress total)."""
        return sum(
            len(list_run_infos(self.root, e.experiment_id, ViewType.ALL))
            for e in self.experiments()
        )

    def registry_batches(self) -> Iterator[Batch]:
        """Rows of MLflow's file-based model registry (``<root>/models/<name>/...``)."""
        models_dir = os.path.join(self.root.root, MODELS)
        for dir_name in list_subdirs(models_dir):
            try:
                yield from _registered_model_rows(os.path.join(models_dir, dir_name))
            except (OSError, MalformedError, KeyError, TypeError, ValueError) as exc:
                self.problems.append(Problem(f"registered model {dir_name}", str(exc)))

    def batches(
        self, experiment_ids: dict[str, int], chunk_rows: int, on_run: Callable[[], None]
    ) -> Iterator[Batch]:
        """Rows of every experiment in ``experiment_ids`` (file id -> destination id).

        ``on_run`` is called after each run's last batch (progress).
        """
        experiments = {e.experiment_id: e for e in self.experiments()}
        for file_id, sql_id in experiment_ids.items():
            e = experiments[file_id]
            yield "experiments", [_experiment_row(e, sql_id)]
            yield (
                "experiment_tags",
                [{"key": t.key, "value": t.value, "experiment_id": sql_id} for t in e.tags],
            )
        for file_id, sql_id in experiment_ids.items():
            exp_dir = self.root.experiment_dir(file_id)
            assert exp_dir is not None
            for run_dir, info in list_run_infos(self.root, file_id, ViewType.ALL):
                try:
                    yield from self._run(exp_dir, run_dir, info, sql_id, chunk_rows)
                except (OSError, MalformedError, KeyError, TypeError, ValueError) as exc:
                    self.problems.append(Problem(f"run {info.run_id}", f"{exc}"))
                    log.debug("cannot read run %s", run_dir, exc_info=True)
                on_run()
        # After every run: a logged model's metrics name runs of any experiment.
        for file_id, sql_id in experiment_ids.items():
            exp_dir = self.root.experiment_dir(file_id)
            assert exp_dir is not None
            yield from self._logged_models(exp_dir, sql_id)
        for file_id, sql_id in experiment_ids.items():
            exp_dir = self.root.experiment_dir(file_id)
            assert exp_dir is not None
            problems: list[tuple[str, str]] = []
            yield from trace_batches(exp_dir, sql_id, problems)
            self.problems.extend(Problem(what, why) for what, why in problems)

    def _run(
        self, exp_dir: str, run_dir: str, info: RunInfo, experiment_id: int, chunk_rows: int
    ) -> Iterator[Batch]:
        run_id = info.run_id
        meta: Any = read_yaml(run_dir)
        tags = read_values(os.path.join(run_dir, TAGS))
        name = meta.get("run_name") or meta.get("name")
        yield "runs", [_run_row(meta, info, name, experiment_id)]
        yield (
            "params",
            [
                {"key": p.key, "value": p.value, "run_uuid": run_id}
                for p in read_values(os.path.join(run_dir, PARAMS))
            ],
        )
        yield "tags", [{"key": t.key, "value": t.value, "run_uuid": run_id} for t in tags]
        metrics_dir = os.path.join(run_dir, METRICS)
        latest: list[Row] = []
        for key in list_dir_files(metrics_dir):
            best: tuple[int, int, float, bool] | None = None
            rows: list[Row] = []
            for timestamp, raw, step in _metric_points(os.path.join(metrics_dir, key)):
                value, is_nan = stored_metric(raw)
                rows.append((key, value, timestamp, run_id, step, is_nan))
                if best is None or (step, timestamp, value) > best[:3]:
                    best = (step, timestamp, value, is_nan)
                if len(rows) >= chunk_rows:
                    yield "metrics", rows
                    rows = []
            yield "metrics", rows
            if best is not None:
                step, timestamp, value, is_nan = best
                latest.append(
                    {
                        "key": key,
                        "value": value,
                        "timestamp": timestamp,
                        "step": step,
                        "is_nan": is_nan,
                        "run_uuid": run_id,
                    }
                )
        yield "latest_metrics", latest
        yield from _inputs(exp_dir, run_dir, run_id, experiment_id)

    def _logged_models(self, exp_dir: str, experiment_id: int) -> Iterator[Batch]:
        models_dir = os.path.join(exp_dir, MODELS)
        for model_id in list_subdirs(models_dir):
            model_dir = os.path.join(models_dir, model_id)
            try:
                rows = _logged_model_rows(model_dir, experiment_id)
            except (OSError, MalformedError, KeyError, TypeError, ValueError) as exc:
                self.problems.append(Problem(f"logged model {model_id}", str(exc)))
                continue
            yield from rows


def _metric_points(path: str) -> Iterator[tuple[int, float, int]]:
    """``(timestamp, value, step)`` of each line of a run's metric file.

    As ``mlflow migrate-filestore`` reads them: the step is the third field of any line that
    has one (the file store itself reports step 0 for 5-field lines with a dataset).
    """
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                yield int(parts[0]), float(parts[1]), 0
            elif len(parts) >= 3:
                yield int(parts[0]), float(parts[1]), int(parts[2])
            elif parts:
                raise ValueError(f"malformed metric line {line.strip()!r} in {path}")


def _experiment_row(e: Experiment, sql_id: int) -> Row:
    return {
        "experiment_id": sql_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
        "workspace": e.workspace or "default",
    }


def _run_row(meta: Any, info: RunInfo, name: str | None, experiment_id: int) -> Row:
    """The ``runs`` row, as ``mlflow migrate-filestore`` writes it from meta.yaml."""
    source_type = meta.get("source_type")
    return {
        "run_uuid": info.run_id,
        "name": name,
        "source_type": source_type if isinstance(source_type, str) else "LOCAL",
        "source_name": meta.get("source_name", ""),
        "entry_point_name": meta.get("entry_point_name", ""),
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": meta.get("end_time"),
        "deleted_time": meta.get("deleted_time"),
        "source_version": meta.get("source_version", ""),
        "lifecycle_stage": info.lifecycle_stage,
        "artifact_uri": info.artifact_uri,
        "experiment_id": experiment_id,
    }


def _inputs(exp_dir: str, run_dir: str, run_id: str, experiment_id: int) -> Iterator[Batch]:
    datasets: list[Row] = []
    inputs: list[Row] = []
    input_tags: list[Row] = []
    for d in read_dataset_inputs(run_dir, exp_dir):
        ds_id = dataset_id(d.dataset.name, d.dataset.digest)
        input_id = dataset_input_id(ds_id, run_id)
        datasets.append(
            {
                "dataset_uuid": ds_id,
                "experiment_id": experiment_id,
                "name": d.dataset.name,
                "digest": d.dataset.digest,
                "dataset_source_type": d.dataset.source_type,
                "dataset_source": d.dataset.source,
                "dataset_schema": d.dataset.schema,
                "dataset_profile": d.dataset.profile,
            }
        )
        inputs.append(_edge(input_id, "DATASET", ds_id, "RUN", run_id, 0))
        input_tags.extend({"input_uuid": input_id, "name": t.key, "value": t.value} for t in d.tags)
    for m in read_model_inputs(run_dir):
        inputs.append(
            _edge(
                model_input_id(m.model_id, run_id),
                "RUN_INPUT",
                run_id,
                "MODEL_INPUT",
                m.model_id,
                0,
            )
        )
    for o in read_model_outputs(run_dir):
        inputs.append(
            _edge(
                model_input_id(o.model_id, run_id + "/output"),
                "RUN_OUTPUT",
                run_id,
                "MODEL_OUTPUT",
                o.model_id,
                o.step,
            )
        )
    yield "datasets", datasets
    yield "inputs", inputs
    yield "input_tags", input_tags


def _edge(uuid: str, stype: str, sid: str, dtype: str, did: str, step: int) -> Row:
    return {
        "input_uuid": uuid,
        "source_type": stype,
        "source_id": sid,
        "destination_type": dtype,
        "destination_id": did,
        "step": step,
    }


def _model_status(raw: Any) -> int:
    """A logged model's status number; meta.yaml may hold the enum name."""
    if isinstance(raw, str) and not raw.isdigit():
        return _MODEL_STATUSES.get(raw, 1)
    return int(raw)


_MODEL_STATUSES = {"LOGGED_MODEL_STATUS_UNSPECIFIED": 0, "PENDING": 1, "READY": 2, "FAILED": 3}


def _logged_model_rows(model_dir: str, experiment_id: int) -> list[Batch]:
    meta: Any = read_yaml(model_dir)
    model_id = str(meta["model_id"])
    model = {
        "model_id": model_id,
        "experiment_id": experiment_id,
        "name": meta.get("name") or "",
        "artifact_location": meta.get("artifact_location") or "",
        "creation_timestamp_ms": meta.get("creation_timestamp") or 0,
        "last_updated_timestamp_ms": meta.get("last_updated_timestamp") or 0,
        "status": _model_status(meta.get("status", 1)),
        "lifecycle_stage": meta.get("lifecycle_stage") or LifecycleStage.ACTIVE.value,
        "model_type": meta.get("model_type"),
        "source_run_id": meta.get("source_run_id"),
        "status_message": meta.get("status_message"),
    }
    keyed = {"model_id": model_id, "experiment_id": experiment_id}
    params = [
        {**keyed, "param_key": p.key, "param_value": p.value}
        for p in read_values(os.path.join(model_dir, PARAMS))
    ]
    tags = [
        {**keyed, "tag_key": t.key, "tag_value": t.value}
        for t in read_values(os.path.join(model_dir, TAGS))
    ]
    metrics: list[Row] = []
    metrics_dir = os.path.join(model_dir, METRICS)
    for key in list_dir_files(metrics_dir):
        with open(os.path.join(metrics_dir, key), encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(" ")
                if len(parts) not in (4, 6):
                    continue
                metrics.append(
                    {
                        **keyed,
                        "metric_name": key,
                        "metric_timestamp_ms": int(parts[0]),
                        "metric_step": int(parts[2]),
                        "metric_value": float(parts[1]),
                        "run_id": parts[3],
                        "dataset_uuid": None,
                        "dataset_name": parts[4] if len(parts) == 6 else None,
                        "dataset_digest": parts[5] if len(parts) == 6 else None,
                    }
                )
    return [
        ("logged_models", [model]),
        ("logged_model_params", params),
        ("logged_model_tags", tags),
        ("logged_model_metrics", metrics),
    ]


def _registered_model_rows(model_dir: str) -> list[Batch]:
    """A registered model, its tags, aliases, versions and their tags, as
    ``mlflow migrate-filestore`` reads them."""
    meta: Any = read_yaml(model_dir)
    name = str(meta.get("name") or os.path.basename(model_dir))
    model = {
        "name": name,
        "creation_time": meta.get("creation_timestamp"),
        "last_updated_time": meta.get("last_updated_timestamp"),
        "description": meta.get("description"),
    }
    tags = [
        {"key": t.key, "value": t.value, "name": name}
        for t in read_values(os.path.join(model_dir, TAGS))
    ]
    versions: list[Row] = []
    version_tags: list[Row] = []
    for dir_name in list_subdirs(model_dir):
        if not dir_name.startswith("version-"):
            continue
        version_dir = os.path.join(model_dir, dir_name)
        v: Any = read_yaml(version_dir)
        number = int(v["version"])
        versions.append(
            {
                "name": name,
                "version": number,
                "creation_time": v.get("creation_timestamp"),
                "last_updated_time": v.get("last_updated_timestamp"),
                "description": v.get("description"),
                "user_id": v.get("user_id"),
                "current_stage": v.get("current_stage", "None"),
                "source": v.get("source"),
                "run_id": v.get("run_id"),
                "status": v.get("status", "READY"),
                "status_message": v.get("status_message"),
                "run_link": v.get("run_link"),
                "storage_location": v.get("storage_location"),
            }
        )
        version_tags.extend(
            {"key": t.key, "value": t.value, "name": name, "version": number}
            for t in read_values(os.path.join(version_dir, TAGS))
        )
    aliases: list[Row] = []
    for alias in read_values(os.path.join(model_dir, "aliases")):
        if alias.value.strip().isdigit():
            aliases.append({"alias": alias.key, "version": int(alias.value), "name": name})
    return [
        ("registered_models", [model]),
        ("registered_model_tags", tags),
        ("model_versions", versions),
        ("model_version_tags", version_tags),
        ("registered_model_aliases", aliases),
    ]
