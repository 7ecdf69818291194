"""Traces in MLflow's ``./mlruns`` layout (synchronous; :class:`FileTraceStore` runs it in a
worker thread).

MLflow 3.18's ``FileStore`` keeps each trace in ``<experiment>/traces/<trace id>/``::

    trace_info.yaml             TraceInfoV3.to_dict() without tags and metadata
    tags/<key>                  one file per tag, the value as its whole content
    request_metadata/<key>      one file per metadata entry, likewise
    assessments/<id>.yaml       Assessment.to_dictionary() (proto JSON, field names kept)

and the client uploads the spans as ``traces.json`` into the trace's artifact location (tag
``mlflow.artifactLocation``, ``<experiment artifact location>/traces/<id>/artifacts``).
``trace_info.yaml`` is written through PyYAML's safe dumper with sorted keys, exactly as MLflow
writes it, so either server reads the other's traces. Older stores (MLflow 2.x) hold a v2 info
(``request_id``, ``timestamp_ms``, ``status``...), which is read too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from aiotrack.store.file.layout import (
    MalformedError,
    list_dir_files,
    read_text,
    read_yaml_file,
    write_text,
    write_yaml_file,
)
from aiotrack.tracing.entities import TRACE_STATES, TraceInfo
from aiotrack.tracing.wire import parse_timestamp, split_trace_data, timestamp_json
from aiotrack.validation import validate_tag_name

__all__ = [
    "ASSESSMENTS",
    "METADATA",
    "TRACES",
    "TRACE_DATA_FILE",
    "TRACE_INFO_FILE",
    "TraceDir",
    "assessment_json",
    "info_from_yaml",
    "info_to_yaml",
    "is_path_component",
    "local_path",
    "read_assessments",
    "read_pairs",
    "read_trace",
    "read_trace_data",
    "write_assessment",
    "write_pairs",
    "write_trace_info",
]

log = logging.getLogger("aiotrack.store.file")

TRACES = "traces"
TRACE_INFO_FILE = "trace_info.yaml"
TAGS = "tags"
#: MLflow 3 calls it trace metadata; the folder keeps its v2 name.
METADATA = "request_metadata"
ASSESSMENTS = "assessments"
TRACE_DATA_FILE = "traces.json"
_V2_STATES = {"TRACE_STATUS_UNSPECIFIED": "STATE_UNSPECIFIED"}
_STATE_NAMES = frozenset(TRACE_STATES.values())


def is_path_component(value: str) -> bool:
    """MLflow's ``_validate_path_component``: a non-empty single directory name that names
    itself (no separator, not ``.``/``..``, nothing Windows would strip)."""
    return (
        bool(value)
        and value.rstrip(" .") == value
        and os.path.basename(value) == value
        and "/" not in value
        and "\x00" not in value
    )


@dataclass(slots=True)
class TraceDir:
    """A trace found on disk: its directory and the experiment directory it lies in."""

    trace_id: str
    path: str
    experiment_id: str


# ------------------------------------------------------------------------------ trace_info.yaml


def info_to_yaml(info: TraceInfo, assessments: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """``TraceInfoV3.to_dict()`` minus ``tags``/``trace_metadata``: what MLflow writes to
    ``trace_info.yaml`` (proto2 presence: every set field, empty strings included), with the
    assessments the ``StartTraceV3`` request carried as it sent them (MLflow writes them there
    too, and reads them from ``assessments/``)."""
    data: dict[str, Any] = {
        "trace_id": info.trace_id,
        "trace_location": {
            "type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": info.experiment_id},
        },
        "request_time": timestamp_json(info.request_time),
        "state": info.state,
    }
    if info.client_request_id is not None:
        data["client_request_id"] = info.client_request_id
    if info.request_preview is not None:
        data["request_preview"] = info.request_preview
    if info.response_preview is not None:
        data["response_preview"] = info.response_preview
    if info.execution_duration is not None:
        data["execution_duration_ms"] = info.execution_duration
    if assessments:
        data["assessments"] = list(assessments)
    return data


def _experiment_of(data: dict[str, Any]) -> str:
    location = data.get("trace_location") or {}
    experiment = location.get("mlflow_experiment") or {} if isinstance(location, dict) else {}
    experiment_id = experiment.get("experiment_id") if isinstance(experiment, dict) else None
    if experiment_id is None:
        raise MalformedError("trace_info.yaml has no trace_location.mlflow_experiment")
    return str(experiment_id)


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def info_from_yaml(data: Any) -> TraceInfo:
    """The info ``trace_info.yaml`` holds (v3, or MLflow 2.x's v2 shape), without tags,
    metadata and assessments. Raises `MalformedError` when it is not a trace info."""
    if not isinstance(data, dict):
        raise MalformedError("trace_info.yaml is not a mapping")
    try:
        if "request_id" in data:  # MLflow 2.x: TraceInfoV2.to_dict()
            status = str(data.get("status") or "TRACE_STATUS_UNSPECIFIED")
            return TraceInfo(
                trace_id=str(data["request_id"]),
                experiment_id=str(data["experiment_id"]),
                request_time=int(data["timestamp_ms"]),
                execution_duration=_optional_int(data.get("execution_time_ms")),
                state=_V2_STATES.get(status, status),
            )
        state = str(data.get("state") or "STATE_UNSPECIFIED")
        request_time = data.get("request_time")
        return TraceInfo(
            trace_id=str(data["trace_id"]),
            experiment_id=_experiment_of(data),
            request_time=parse_timestamp(request_time, "request_time") if request_time else 0,
            execution_duration=_optional_int(data.get("execution_duration_ms")),
            state=state if state in _STATE_NAMES else "STATE_UNSPECIFIED",
            client_request_id=_optional_str(data, "client_request_id"),
            request_preview=_optional_str(data, "request_preview"),
            response_preview=_optional_str(data, "response_preview"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedError(f"trace_info.yaml is malformed: {exc!r}") from None
    except Exception as exc:  # InvalidParameter from a bad request_time
        raise MalformedError(f"trace_info.yaml is malformed: {exc}") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def write_trace_info(
    trace_dir: str,
    info: TraceInfo,
    *,
    overwrite: bool,
    assessments: Sequence[dict[str, Any]] = (),
) -> None:
    """Write ``trace_info.yaml`` (refusing to replace one unless ``overwrite``)."""
    write_yaml_file(
        os.path.join(trace_dir, TRACE_INFO_FILE),
        info_to_yaml(info, assessments),
        overwrite=overwrite,
    )


def write_assessment(trace_dir: str, stored: dict[str, Any]) -> None:
    """``assessments/<id>.yaml``: ``Assessment.to_dictionary()`` (its proto JSON)."""
    directory = os.path.join(trace_dir, ASSESSMENTS)
    os.makedirs(directory, exist_ok=True)
    write_yaml_file(os.path.join(directory, f"{stored['assessment_id']}.yaml"), stored)


# ------------------------------------------------------------------------------ tags / metadata


def write_pairs(trace_dir: str, folder: str, pairs: dict[str, str]) -> None:
    """``<folder>/<key>`` files, as ``_write_dict_to_trace_sub_folder``: every key is checked
    as a tag name (it becomes a file name), the folder exists even when ``pairs`` is empty."""
    for key in pairs:
        validate_tag_name(key)
    os.makedirs(os.path.join(trace_dir, folder), exist_ok=True)
    for key, value in pairs.items():
        write_text(os.path.join(trace_dir, folder, key), "" if value is None else str(value))


def read_pairs(trace_dir: str, folder: str) -> dict[str, str]:
    """Every ``<folder>/<key>`` file (keys with ``/`` nest), in directory order (as MLflow
    lists them: v2 answers carry them as a list in that order)."""
    directory = os.path.join(trace_dir, folder)
    return {key: read_text(os.path.join(directory, key)) for key in list_dir_files(directory)}


# ------------------------------------------------------------------------------ assessments


def assessment_json(data: Any) -> dict[str, Any]:
    """The proto JSON MLflow answers for a stored assessment: what ``Assessment.from_dictionary``
    then ``to_proto`` make of the YAML (times to the millisecond; ``rationale`` kept for
    feedback and issue references only; ``overrides``/``valid`` for feedback only, ``valid``
    defaulting to true; ``run_id`` dropped). Raises `MalformedError` for anything else."""
    if not isinstance(data, dict):
        raise MalformedError("an assessment file is not a mapping")
    kind = next((k for k in ("expectation", "feedback", "issue") if data.get(k)), None)
    if kind is None:
        raise MalformedError(f"Unknown assessment type: {data.get('assessment_name')}")
    try:
        out: dict[str, Any] = {}
        if data.get("assessment_id"):
            out["assessment_id"] = str(data["assessment_id"])
        out["assessment_name"] = str(data["assessment_name"])
        out["trace_id"] = str(data.get("trace_id") or "")
        if data.get("span_id") is not None:
            out["span_id"] = str(data["span_id"])
        out["source"] = dict(data["source"])
        for key in ("create_time", "last_update_time"):
            out[key] = timestamp_json(parse_timestamp(data[key], key))
        out[kind] = data[kind]
        if kind != "expectation" and data.get("rationale") is not None:
            out["rationale"] = str(data["rationale"])
        if data.get("metadata"):
            out["metadata"] = {str(k): str(v) for k, v in dict(data["metadata"]).items()}
        if kind == "feedback":
            if data.get("overrides"):
                out["overrides"] = str(data["overrides"])
            out["valid"] = bool(data.get("valid", True))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedError(f"malformed assessment: {exc!r}") from None
    except Exception as exc:  # InvalidParameter from a bad timestamp
        raise MalformedError(f"malformed assessment: {exc}") from None
    return out


def read_assessments(trace_dir: str) -> list[dict[str, Any]]:
    """The trace's assessments as MLflow answers them, in directory order (as MLflow lists
    them); unreadable files are skipped with a warning."""
    directory = os.path.join(trace_dir, ASSESSMENTS)
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[dict[str, Any]] = []
    for name in names:
        try:
            found.append(assessment_json(read_yaml_file(os.path.join(directory, name))))
        except (MalformedError, OSError, ValueError) as exc:
            log.warning("Malformed assessment %s of trace %s: %s", name, trace_dir, exc)
    return found


# ------------------------------------------------------------------------------ whole traces


def read_trace(
    trace_dir: str, *, tags: bool = True, metadata: bool = True, assessments: bool = True
) -> TraceInfo:
    """The trace stored in ``trace_dir`` (only the parts asked for). Raises `MalformedError`
    when ``trace_info.yaml`` is missing, empty or not a trace info."""
    info = info_from_yaml(read_yaml_file(os.path.join(trace_dir, TRACE_INFO_FILE)))
    if tags:
        info.tags = read_pairs(trace_dir, TAGS)
    if metadata:
        info.metadata = read_pairs(trace_dir, METADATA)
    if assessments:
        info.assessments = read_assessments(trace_dir)
    return info


# ------------------------------------------------------------------------------ spans


def local_path(uri: str) -> str | None:
    """The local directory a ``file:`` URI or plain path names; None for remote URIs."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None
        return os.path.abspath(url2pathname(unquote(parsed.path)))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return os.path.abspath(uri)
    return None


def read_trace_data(path: str, max_bytes: int) -> list[str] | None:
    """The spans of a ``traces.json`` (``{"spans": [...]}``), each as its own JSON text;
    None when the file is missing, larger than ``max_bytes`` or not trace data."""
    try:
        if os.path.getsize(path) > max_bytes:
            return None
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return split_trace_data(data)
