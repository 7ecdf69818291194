"""Runs on the file store: reading and writing one run directory (synchronous).

A run directory holds ``meta.yaml``, ``metrics/<key>`` (one line per point), ``params/<key>``,
``tags/<key>``, ``artifacts/``, and optionally ``inputs/<id>/meta.yaml`` and
``outputs/<model_id>/meta.yaml``. Messages follow MLflow 3.17.2's ``FileStore``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiotrack.errors import Internal, InvalidParameter, InvalidState, ResourceNotFound
from aiotrack.store.entities import (
    DatasetInput,
    LifecycleStage,
    Metric,
    ModelInput,
    ModelOutput,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    Tag,
    ViewType,
)
from aiotrack.store.file.layout import (
    ARTIFACTS,
    DATASETS,
    INPUTS,
    METRICS,
    MODELS,
    OUTPUTS,
    PARAMS,
    RESERVED_EXPERIMENT_FOLDERS,
    TAGS,
    MalformedError,
    append_line,
    dataset_id,
    dataset_input_id,
    list_dir_files,
    list_subdirs,
    metric_line,
    model_input_id,
    parse_metric_line,
    read_dataset_inputs,
    read_model_inputs,
    read_model_outputs,
    read_text,
    read_values,
    read_yaml,
    run_info_from_meta,
    run_meta,
    write_dataset,
    write_input,
    write_output,
    write_text,
    write_yaml,
)
from aiotrack.store.file.root import FileRoot

__all__ = [
    "RUN_NAME_TAG",
    "LocatedRun",
    "active_run",
    "append_logged_model",
    "check_params",
    "create_run_dir",
    "delete_tag",
    "list_run_infos",
    "load_dataset_inputs",
    "load_run",
    "locate_run",
    "metric_history",
    "overwrite_run_meta",
    "write_inputs",
    "write_metrics",
    "write_outputs",
    "write_params",
    "write_tags",
    "write_text_tag",
]

log = logging.getLogger("aiotrack.store.file")

RUN_NAME_TAG = "mlflow.runName"
LOGGED_MODELS_TAG = "mlflow.log-model.history"


class LocatedRun:
    """A run found on disk: its experiment id and directories, and its meta.yaml as RunInfo."""

    __slots__ = ("exp_dir", "experiment_id", "info", "run_dir")

    def __init__(self, experiment_id: str, run_dir: str, info: RunInfo) -> None:
        self.experiment_id = experiment_id
        self.run_dir = run_dir
        self.exp_dir = os.path.dirname(run_dir)
        self.info = info


def _invalid_state(run_id: str) -> InvalidState:
    return InvalidState(f"Run '{run_id}' metadata is in invalid state.")


def locate_run(root: FileRoot, run_id: str) -> LocatedRun:
    """The run, active or deleted: 400 for a malformed id, 404 when missing."""
    found = root.find_run(run_id)
    if found is None:
        raise ResourceNotFound(f"Run '{run_id}' not found")
    experiment_id, run_dir = found
    try:
        info = run_info_from_meta(read_yaml(run_dir))
    except (MalformedError, KeyError):
        raise _invalid_state(run_id) from None
    if info.experiment_id != experiment_id or info.run_id != os.path.basename(run_dir):
        raise _invalid_state(run_id)
    return LocatedRun(experiment_id, run_dir, info)


def active_run(root: FileRoot, run_id: str) -> LocatedRun:
    run = locate_run(root, run_id)
    if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidParameter(f"The run {run_id} must be in 'active' lifecycle_stage.")
    return run


def list_run_infos(root: FileRoot, experiment_id: str, view: ViewType) -> list[tuple[str, RunInfo]]:
    """``(run_dir, info)`` of the experiment's runs in ``view``; unknown experiment -> []."""
    exp_dir = root.experiment_dir(experiment_id)
    if exp_dir is None:
        return []
    stages = {s.value for s in view.stages()}
    out: list[tuple[str, RunInfo]] = []
    for name in list_subdirs(exp_dir):
        if name in RESERVED_EXPERIMENT_FOLDERS:
            continue
        run_dir = os.path.join(exp_dir, name)
        try:
            info = run_info_from_meta(read_yaml(run_dir))
        except (MalformedError, KeyError, TypeError, ValueError) as exc:
            # Common when the store is also the artifact root: not every folder is a run.
            log.debug("Malformed run '%s'. Detailed error %s", name, exc)
            continue
        if info.experiment_id != experiment_id:
            log.warning(
                "Wrong experiment ID (%s) recorded for run '%s'. It should be %s. "
                "Run will be ignored.",
                info.experiment_id,
                info.run_id,
                experiment_id,
            )
            continue
        if info.lifecycle_stage in stages:
            root.remember_run(info.run_id, experiment_id)
            out.append((run_dir, info))
    return out


# ---------------------------------------------------------------------------------- reading


def _read_metric_lines(path: str, key: str, run_id: str) -> list[Metric]:
    """The points of a metric file. Every line MLflow (or aiotrack) writes ends with a newline,
    so an unterminated last line is an append still in progress and is left for later."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")[:-1]  # the part after the last newline is not a whole line yet
    try:
        return [parse_metric_line(key, line, run_id) for line in lines if line.strip()]
    except ValueError as exc:
        raise Internal(f"{exc} Run id: {run_id}") from None


def _latest_metrics(run_dir: str, run_id: str) -> list[Metric]:
    metrics_dir = os.path.join(run_dir, METRICS)
    out: list[Metric] = []
    for key in list_dir_files(metrics_dir):
        points = _read_metric_lines(os.path.join(metrics_dir, key), key, run_id)
        if points:  # MLflow fails the whole request on an empty file; skip it instead
            out.append(max(points, key=lambda m: (m.step, m.timestamp, m.value)))
    return out


def load_run(run_dir: str, info: RunInfo) -> Run:
    """The whole run: latest metrics, params, tags, inputs and outputs."""
    exp_dir = os.path.dirname(run_dir)
    tags = read_values(os.path.join(run_dir, TAGS))
    if not info.run_name:
        name = next((t.value for t in tags if t.key == RUN_NAME_TAG), None)
        if name:
            info = replace(info, run_name=name)
    data = RunData(
        metrics=_latest_metrics(run_dir, info.run_id),
        params=read_values(os.path.join(run_dir, PARAMS)),
        tags=tags,
    )
    inputs = RunInputs(read_dataset_inputs(run_dir, exp_dir), read_model_inputs(run_dir))
    return Run(info, data, inputs, RunOutputs(read_model_outputs(run_dir)))


def metric_history(root: FileRoot, run_id: str, key: str) -> list[Metric]:
    """Every point of the metric in file (logging) order; [] when never logged."""
    run = locate_run(root, run_id)
    path = os.path.join(run.run_dir, METRICS, key)
    if not os.path.isfile(path):
        return []
    return _read_metric_lines(path, key, run_id)


# ---------------------------------------------------------------------------------- writing


def overwrite_run_meta(
    run_dir: str,
    info: RunInfo,
    *,
    lifecycle_stage: str | None = None,
    status: str | None = None,
    end_time: int | None = None,
    run_name: str | None = None,
    deleted_time: int | None = None,
) -> RunInfo:
    """Rewrite meta.yaml with the truthy overrides (MLflow's ``_copy_with_overrides``)."""
    new = replace(
        info,
        lifecycle_stage=lifecycle_stage or info.lifecycle_stage,
        status=status or info.status,
        end_time=end_time or info.end_time,
        run_name=run_name or info.run_name,
    )
    write_yaml(run_dir, run_meta(new, deleted_time=deleted_time, write_deleted_time=False))
    return new


def create_run_dir(exp_dir: str, info: RunInfo, tags: Sequence[Tag]) -> None:
    """A new run directory with its meta.yaml, empty metrics/params/artifacts and tags.

    MLflow writes ``deleted_time: null`` first and then rewrites meta.yaml without it when it
    sets the ``mlflow.runName`` tag, which every new run has: only the final bytes are written.
    """
    run_dir = os.path.join(exp_dir, info.run_id)
    os.makedirs(run_dir)
    for sub in (METRICS, PARAMS, ARTIFACTS):
        os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
    for tag in tags:
        write_text(os.path.join(run_dir, TAGS, tag.key), tag.value)
    write_yaml(run_dir, run_meta(info, deleted_time=None, write_deleted_time=False))


def check_params(run: LocatedRun, params: Sequence[Param]) -> None:
    """Params are immutable: logging a different value for a logged key is a 400."""
    conflicts: list[tuple[Param, str]] = []
    for p in params:
        path = os.path.join(run.run_dir, PARAMS, p.key)
        if os.path.isfile(path):
            current = read_text(path)
            if current != p.value:
                conflicts.append((p, current))
    if not conflicts:
        return
    param, old = conflicts[0]
    # MLflow's file store reports the first conflicting param in both log-param and log-batch
    # (where it wraps it in a 500); a client mistake is a 400 here.
    raise InvalidParameter(
        f"Changing param values is not allowed. Param with key='{param.key}' was already logged "
        f"with value='{old}' for run ID='{run.info.run_id}'. Attempted logging new value "
        f"'{param.value}'."
    )


def write_params(run: LocatedRun, params: Sequence[Param]) -> None:
    for p in params:
        write_text(os.path.join(run.run_dir, PARAMS, p.key), p.value)


def write_metrics(run: LocatedRun, metrics: Sequence[Metric]) -> None:
    """Append the points; grouped per key so each metric file is opened once."""
    by_key: dict[str, list[str]] = {}
    for m in metrics:
        by_key.setdefault(m.key, []).append(metric_line(m))
        if m.model_id is not None:
            model_path = os.path.join(run.exp_dir, MODELS, m.model_id, METRICS, m.key)
            append_line(model_path, metric_line(m, model_run_id=run.info.run_id))
    for key, lines in by_key.items():
        append_line(os.path.join(run.run_dir, METRICS, key), "".join(lines))


def write_tags(run: LocatedRun, tags: Sequence[Tag]) -> RunInfo:
    """Write tags; ``mlflow.runName`` also renames the run in meta.yaml."""
    info = run.info
    for t in tags:
        write_text(os.path.join(run.run_dir, TAGS, t.key), t.value)
        if t.key == RUN_NAME_TAG:
            info = overwrite_run_meta(run.run_dir, info, run_name=t.value)
    run.info = info
    return info


def write_text_tag(run: LocatedRun, key: str, value: str) -> None:
    write_text(os.path.join(run.run_dir, TAGS, key), value)


def delete_tag(run: LocatedRun, key: str) -> None:
    path = os.path.join(run.run_dir, TAGS, key)
    if not os.path.isfile(path):
        raise ResourceNotFound(f"No tag with name: {key} in run with id {run.info.run_id}")
    os.remove(path)


def load_dataset_inputs(run_dir: str) -> list[DatasetInput]:
    return read_dataset_inputs(run_dir, os.path.dirname(run_dir))


def append_logged_model(run: LocatedRun, entry: dict[str, Any], limit: int) -> None:
    path = os.path.join(run.run_dir, TAGS, LOGGED_MODELS_TAG)
    history = json.loads(read_text(path)) if os.path.isfile(path) else []
    history.append(entry)
    value = json.dumps(history)
    if len(value) > limit:
        raise InvalidParameter(
            f"'{LOGGED_MODELS_TAG}' exceeds the maximum length of {limit} characters"
        )
    write_text(path, value)


def write_inputs(
    run: LocatedRun, datasets: Sequence[DatasetInput], models: Sequence[ModelInput]
) -> None:
    run_id = run.info.run_id
    for d in datasets:
        ds_id = dataset_id(d.dataset.name, d.dataset.digest)
        write_dataset(os.path.join(run.exp_dir, DATASETS, ds_id), d.dataset)
        write_input(
            os.path.join(run.run_dir, INPUTS, dataset_input_id(ds_id, run_id)),
            "DATASET",
            ds_id,
            {t.key: t.value for t in d.tags},
        )
    for m in models:
        write_input(
            os.path.join(run.run_dir, INPUTS, model_input_id(m.model_id, run_id)),
            "MODEL",
            m.model_id,
            {},
        )


def write_outputs(run: LocatedRun, models: Sequence[ModelOutput]) -> None:
    for m in models:
        write_output(os.path.join(run.run_dir, OUTPUTS, m.model_id), m.model_id, m.step)
