"""MLflow's ``./mlruns`` on-disk layout (reference §13): paths, YAML and the small files.

Everything here is synchronous plain file I/O; :mod:`aiotrack.store.file.tracking` runs it in a
worker thread. The bytes written are the ones MLflow 3.17.2's ``FileStore`` writes: YAML through
PyYAML's (C) safe dumper with sorted keys and block style, tag/param values without a trailing
newline, metric lines ``"<timestamp> <value> <step>[ <dataset_name> <dataset_digest>]\\n"`` with
the value as Python's ``str(float)`` (``nan``, ``inf``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import yaml

from aiotrack.store.entities import (
    RUN_STATUSES,
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    ModelInput,
    ModelOutput,
    RunInfo,
    Tag,
)

__all__ = [
    "ARTIFACTS",
    "DATASETS",
    "INPUTS",
    "META",
    "METRICS",
    "MODELS",
    "OUTPUTS",
    "PARAMS",
    "RESERVED_EXPERIMENT_FOLDERS",
    "TAGS",
    "TRASH",
    "MalformedError",
    "append_line",
    "dataset_id",
    "dataset_input_id",
    "experiment_from_meta",
    "experiment_meta",
    "list_dir_files",
    "list_subdirs",
    "metric_line",
    "model_input_id",
    "parse_metric_line",
    "read_dataset_inputs",
    "read_model_inputs",
    "read_model_outputs",
    "read_text",
    "read_values",
    "read_yaml",
    "read_yaml_file",
    "run_info_from_meta",
    "run_meta",
    "write_dataset",
    "write_input",
    "write_output",
    "write_text",
    "write_yaml",
    "write_yaml_file",
]

# The C dumper/loader, as MLflow uses when libyaml is present (same bytes either way).
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TRASH = ".trash"
META = "meta.yaml"
ARTIFACTS = "artifacts"
METRICS = "metrics"
PARAMS = "params"
TAGS = "tags"
DATASETS = "datasets"
INPUTS = "inputs"
OUTPUTS = "outputs"
MODELS = "models"
TRACES = "traces"
#: Sub-directories of an experiment that are not runs.
RESERVED_EXPERIMENT_FOLDERS = frozenset({TAGS, DATASETS, TRACES, MODELS})
#: ``SourceType.LOCAL``: what MLflow records in every run's meta.yaml.
_SOURCE_TYPE_LOCAL = 4
_STATUS_NUMBERS = {name: number for number, name in RUN_STATUSES.items()}


class MalformedError(Exception):
    """A meta.yaml that is missing or empty (MLflow's ``MissingConfigException``)."""


# ---------------------------------------------------------------------------------- raw files


def read_yaml(directory: str) -> Any:
    """The parsed ``meta.yaml`` of ``directory``; `MalformedError` when missing or empty."""
    return read_yaml_file(os.path.join(directory, META))


def read_yaml_file(path: str) -> Any:
    """The parsed YAML file ``path``; `MalformedError` when missing, empty or not YAML."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_Loader)
    except FileNotFoundError:
        raise MalformedError(f"Yaml file '{path}' does not exist.") from None
    except NotADirectoryError:
        raise MalformedError(f"Yaml file '{path}' does not exist.") from None
    except yaml.YAMLError as exc:
        raise MalformedError(f"{path} is not YAML: {exc}") from None
    if data is None:
        raise MalformedError(f"{path} is empty")
    return data


def _dump(data: Any) -> str:
    text: str = yaml.dump(
        data, default_flow_style=False, allow_unicode=True, sort_keys=True, Dumper=_Dumper
    )
    return text


def write_yaml(directory: str, data: Any, *, overwrite: bool = True) -> None:
    """Write ``meta.yaml`` atomically (temp file in the same directory, then rename)."""
    write_yaml_file(os.path.join(directory, META), data, overwrite=overwrite)


def write_yaml_file(path: str, data: Any, *, overwrite: bool = True) -> None:
    """Write YAML file ``path`` atomically (temp file in the same directory, then rename);
    `FileExistsError` when it exists and ``overwrite`` is false."""
    text = _dump(data)
    directory = os.path.dirname(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".meta-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


#: Read once at import: os.umask() can only be read by setting it, which is not thread-safe.
_UMASK = _read_umask()


def read_text(path: str) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def write_text(path: str, value: str) -> None:
    """A tag or param value: the whole file content, no trailing newline."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(value)


def append_line(path: str, line: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8", newline="") as f:
        f.write(line)


def list_subdirs(directory: str) -> list[str]:
    """Names of the sub-directories of ``directory`` (``[]`` when it does not exist)."""
    try:
        with os.scandir(directory) as it:
            return [e.name for e in it if e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_dir_files(directory: str) -> list[str]:
    """Relative posix paths of every file under ``directory`` (keys with ``/`` nest)."""
    out: list[str] = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), directory)
            out.append(rel.replace(os.sep, "/"))
    return out


def read_values(directory: str) -> list[Tag]:
    """Every ``<key>`` file of a params/tags directory as (key, content)."""
    return [Tag(key, read_text(os.path.join(directory, key))) for key in list_dir_files(directory)]


# ---------------------------------------------------------------------------------- metrics


def metric_line(metric: Metric, model_run_id: str | None = None) -> str:
    """One metric line; ``model_run_id`` makes it a logged model's line (4 or 6 fields)."""
    head = f"{metric.timestamp} {float(metric.value)} {metric.step}"
    if model_run_id is not None:
        head += f" {model_run_id}"
    if metric.dataset_name is not None and metric.dataset_digest is not None:
        head += f" {metric.dataset_name} {metric.dataset_digest}"
    return head + "\n"


def parse_metric_line(key: str, line: str, run_id: str) -> Metric:
    """A run's metric line (2, 3 or 5 fields) as MLflow reads it."""
    parts = line.strip().split(" ")
    if len(parts) not in (2, 3, 5):
        raise ValueError(
            f"Metric '{key}' is malformed; persisted metric data contained {len(parts)} fields. "
            "Expected 2, 3, or 5 fields."
        )
    # As MLflow: the step is read only from 3-field lines (5-field lines report step 0).
    return Metric(
        key=key,
        value=float(parts[1]),
        timestamp=int(parts[0]),
        step=int(parts[2]) if len(parts) == 3 else 0,
        dataset_name=parts[3] if len(parts) == 5 else None,
        dataset_digest=parts[4] if len(parts) == 5 else None,
        run_id=run_id,
    )


# ---------------------------------------------------------------------------------- experiments


def experiment_meta(e: Experiment, *, with_tags: bool) -> dict[str, Any]:
    """``dict(mlflow.entities.Experiment)``: what MLflow writes; tags only when it rewrites."""
    data: dict[str, Any] = {
        "artifact_location": e.artifact_location,
        "creation_time": e.creation_time,
        "effective_trace_archival_retention": None,
        "experiment_id": e.experiment_id,
        "last_update_time": e.last_update_time,
        "lifecycle_stage": e.lifecycle_stage,
        "name": e.name,
        "trace_location": None,
        "workspace": e.workspace or "default",
    }
    if with_tags:
        data["tags"] = {t.key: t.value for t in e.tags}
    return data


def experiment_from_meta(meta: Any, tags: list[Tag]) -> Experiment:
    if not isinstance(meta, dict):
        raise MalformedError("experiment meta.yaml is not a mapping")
    return Experiment(
        experiment_id=str(meta["experiment_id"]),
        name=str(meta.get("name")),
        artifact_location=meta.get("artifact_location"),
        lifecycle_stage=meta.get("lifecycle_stage") or "active",
        creation_time=meta.get("creation_time"),
        last_update_time=meta.get("last_update_time"),
        tags=tags,
        workspace=meta.get("workspace") or "default",
    )


# ---------------------------------------------------------------------------------- runs


def run_meta(
    info: RunInfo, *, deleted_time: int | None, write_deleted_time: bool
) -> dict[str, Any]:
    """``_make_persisted_run_info_dict``: status as its number, legacy source fields, no tags.

    MLflow writes ``deleted_time`` on creation (``null``) and on deletion; every other rewrite
    leaves the key out (``write_deleted_time=False``)."""
    data: dict[str, Any] = {
        "artifact_uri": info.artifact_uri,
        "end_time": info.end_time,
        "entry_point_name": "",
        "experiment_id": info.experiment_id,
        "lifecycle_stage": info.lifecycle_stage,
        "run_id": info.run_id,
        "run_name": info.run_name,
        "source_name": "",
        "source_type": _SOURCE_TYPE_LOCAL,
        "source_version": "",
        "start_time": info.start_time,
        "status": _STATUS_NUMBERS.get(info.status, 1),
        "tags": [],
        "user_id": info.user_id,
    }
    if write_deleted_time or deleted_time is not None:
        data["deleted_time"] = deleted_time
    return data


def run_info_from_meta(meta: Any) -> RunInfo:
    """A RunInfo from a run's meta.yaml (``run_uuid`` in very old files, int experiment ids)."""
    if not isinstance(meta, dict):
        raise MalformedError("run meta.yaml is not a mapping")
    run_id = meta.get("run_id") or meta.get("run_uuid")
    status = meta.get("status", 1)
    return RunInfo(
        run_id=str(run_id),
        run_name=meta.get("run_name") or None,
        experiment_id=str(meta["experiment_id"]),
        user_id=meta.get("user_id"),
        status=RUN_STATUSES.get(status, "RUNNING") if isinstance(status, int) else str(status),
        start_time=meta.get("start_time"),
        end_time=meta.get("end_time") or None,
        artifact_uri=meta.get("artifact_uri"),
        lifecycle_stage=meta.get("lifecycle_stage") or "active",
    )


# ---------------------------------------------------------------------------------- inputs


def _md5(*parts: str) -> str:
    h = hashlib.md5(usedforsecurity=False)
    for p in parts:
        h.update(p.encode("utf-8"))
    return h.hexdigest()


def dataset_id(name: str, digest: str) -> str:
    return _md5(name, digest)


def dataset_input_id(ds_id: str, run_id: str) -> str:
    return _md5(ds_id, run_id)


def model_input_id(model_id: str, run_id: str) -> str:
    return _md5(model_id, run_id)


def write_dataset(directory: str, d: Dataset) -> None:
    """``experiment/datasets/<id>/meta.yaml`` (``dict(mlflow.entities.Dataset)``), once."""
    if os.path.exists(directory):
        return
    os.makedirs(directory, exist_ok=True)
    write_yaml(
        directory,
        {
            "digest": d.digest,
            "name": d.name,
            "profile": d.profile,
            "schema": d.schema,
            "source": d.source,
            "source_type": d.source_type,
        },
    )


def write_input(directory: str, source_type: str, source_id: str, tags: dict[str, str]) -> None:
    """``run/inputs/<id>/meta.yaml``, once (MLflow writes the source id as destination too)."""
    if os.path.exists(directory):
        return
    os.makedirs(directory, exist_ok=True)
    write_yaml(
        directory,
        {
            "destination_id": source_id,
            "destination_type": "RUN",
            "source_id": source_id,
            "source_type": source_type,
            "tags": tags,
        },
    )


def write_output(directory: str, model_id: str, step: int) -> None:
    if os.path.exists(directory):
        return
    os.makedirs(directory, exist_ok=True)
    write_yaml(
        directory,
        {
            "destination_id": model_id,
            "destination_type": "MODEL_OUTPUT",
            "source_id": model_id,
            "source_type": "RUN_OUTPUT",
            "step": step,
            "tags": {},
        },
    )


def _input_metas(run_dir: str) -> Iterator[dict[str, Any]]:
    inputs = os.path.join(run_dir, INPUTS)
    for name in _listdir(inputs):
        meta = read_yaml(os.path.join(inputs, name))
        if isinstance(meta, dict):
            yield meta


def _listdir(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []


def read_dataset_inputs(run_dir: str, experiment_dir: str) -> list[DatasetInput]:
    """The run's dataset inputs, in directory order; inputs whose dataset is gone are skipped."""
    if not os.path.isdir(os.path.join(run_dir, INPUTS)):
        return []
    datasets_dir = os.path.join(experiment_dir, DATASETS)
    known = set(_listdir(datasets_dir))
    if not known:
        return []
    out: list[DatasetInput] = []
    for meta in _input_metas(run_dir):
        if meta.get("source_type") != "DATASET" or meta.get("source_id") not in known:
            continue
        d = read_yaml(os.path.join(datasets_dir, meta["source_id"]))
        dataset = Dataset(
            name=d["name"],
            digest=d["digest"],
            source_type=d["source_type"],
            source=d["source"],
            schema=d.get("schema"),
            profile=d.get("profile"),
        )
        tags = [InputTag(str(k), str(v)) for k, v in (meta.get("tags") or {}).items()]
        out.append(DatasetInput(dataset, tags))
    return out


def read_model_inputs(run_dir: str) -> list[ModelInput]:
    if not os.path.isdir(os.path.join(run_dir, INPUTS)):
        return []
    return [
        ModelInput(str(m["source_id"]))
        for m in _input_metas(run_dir)
        if m.get("source_type") == "MODEL"
    ]


def read_model_outputs(run_dir: str) -> list[ModelOutput]:
    outputs = os.path.join(run_dir, OUTPUTS)
    out: list[ModelOutput] = []
    for name in _listdir(outputs):
        meta = read_yaml(os.path.join(outputs, name))
        if isinstance(meta, dict) and meta.get("destination_type") == "MODEL_OUTPUT":
            out.append(ModelOutput(str(meta["destination_id"]), int(meta.get("step") or 0)))
    return out
