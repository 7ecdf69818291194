"""JSON out: entities to MLflow's wire shapes, and the one response helper.

Wire rules (reference §2): unset fields and empty lists are omitted, int64 values are JSON
numbers, non-finite doubles are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import web

from aiotrack.store.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    JsonTags,
    Metric,
    MetricRows,
    MetricWithRunId,
    Page,
    Run,
    RunInfo,
    Tag,
)

__all__ = [
    "dataset_summary_json",
    "experiment_json",
    "json_response",
    "metric_json",
    "metric_with_run_id_json",
    "page_json",
    "run_info_json",
    "run_json",
]

T = TypeVar("T")
_JSON_HEADERS = {"Content-Type": "application/json"}


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    """Serialise ``body`` (already in wire shape) in one buffer."""
    return web.Response(body=orjson.dumps(body), status=status, headers=_JSON_HEADERS)


def page_json(page: Page[T], key: str, serialize: Callable[[T], Any]) -> dict[str, Any]:
    """A search answer: ``{key: [...], "next_page_token": ...}``, both omitted when empty."""
    body: dict[str, Any] = {}
    if page.items:
        body[key] = [serialize(item) for item in page.items]
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def double(value: float) -> float | str:
    """A double as protobuf JSON writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _tags(tags: Sequence[Tag]) -> list[dict[str, str]] | orjson.Fragment:
    if isinstance(tags, JsonTags):  # already in wire form: embedded without parsing
        return orjson.Fragment(tags.json)
    return [{"key": t.key, "value": t.value} for t in tags]


def experiment_json(e: Experiment) -> dict[str, Any]:
    out: dict[str, Any] = {"experiment_id": e.experiment_id, "name": e.name}
    _put(out, "artifact_location", e.artifact_location)
    out["lifecycle_stage"] = e.lifecycle_stage
    _put(out, "last_update_time", e.last_update_time)
    _put(out, "creation_time", e.creation_time)
    if e.tags:
        out["tags"] = _tags(e.tags)
    _put(out, "workspace", e.workspace)
    return out


_NO_EXTRAS = (None, None, None, None)


def metric_json(m: Metric) -> dict[str, Any]:
    value = m.value
    out: dict[str, Any] = {
        "key": m.key,
        # A finite value is the only kind with v - v == 0 (cheaper than double()'s checks).
        "value": value if value - value == 0 else double(value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    if m[4:] == _NO_EXTRAS:  # most points (a search page's latest metrics: thousands)
        return out
    _put(out, "dataset_name", m.dataset_name)
    _put(out, "dataset_digest", m.dataset_digest)
    _put(out, "model_id", m.model_id)
    _put(out, "run_id", m.run_id)
    return out


def metric_with_run_id_json(m: MetricWithRunId) -> dict[str, Any]:
    return {
        "key": m.key,
        "value": double(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
        "run_id": m.run_id,
    }


def _metrics(metrics: Sequence[Metric]) -> list[dict[str, Any]]:
    if isinstance(metrics, MetricRows):  # a search page's latest metrics: plain points
        return [
            {
                "key": key,
                "value": "NaN" if is_nan else (value if value - value == 0 else double(value)),
                "timestamp": timestamp or 0,
                "step": step,
            }
            for _, key, value, timestamp, step, is_nan in metrics.rows
        ]
    return [metric_json(m) for m in metrics]


def run_info_json(info: RunInfo) -> dict[str, Any]:
    # Each optional field checked inline, not through _put: a search page writes thousands.
    out: dict[str, Any] = {"run_uuid": info.run_id, "experiment_id": info.experiment_id}
    if info.run_name is not None:
        out["run_name"] = info.run_name
    if info.user_id is not None:
        out["user_id"] = info.user_id
    out["status"] = info.status
    if info.start_time is not None:
        out["start_time"] = info.start_time
    if info.end_time is not None:
        out["end_time"] = info.end_time
    if info.artifact_uri is not None:
        out["artifact_uri"] = info.artifact_uri
    out["lifecycle_stage"] = info.lifecycle_stage
    out["run_id"] = info.run_id
    return out


def _dataset_input_json(d: DatasetInput) -> dict[str, Any]:
    ds: dict[str, Any] = {
        "name": d.dataset.name,
        "digest": d.dataset.digest,
        "source_type": d.dataset.source_type,
        "source": d.dataset.source,
    }
    _put(ds, "schema", d.dataset.schema)
    _put(ds, "profile", d.dataset.profile)
    out: dict[str, Any] = {}
    if d.tags:
        out["tags"] = [{"key": t.key, "value": t.value} for t in d.tags]
    out["dataset"] = ds
    return out


def run_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if run.data.metrics:
        data["metrics"] = _metrics(run.data.metrics)
    if run.data.params:
        data["params"] = _tags(run.data.params)
    if run.data.tags:
        data["tags"] = _tags(run.data.tags)
    inputs: dict[str, Any] = {}
    if run.inputs.dataset_inputs:
        inputs["dataset_inputs"] = [_dataset_input_json(d) for d in run.inputs.dataset_inputs]
    if run.inputs.model_inputs:
        inputs["model_inputs"] = [{"model_id": m.model_id} for m in run.inputs.model_inputs]
    out: dict[str, Any] = {"info": run_info_json(run.info), "data": data, "inputs": inputs}
    if run.outputs is not None:
        outputs: dict[str, Any] = {}
        if run.outputs.model_outputs:
            outputs["model_outputs"] = [
                {"model_id": m.model_id, "step": m.step} for m in run.outputs.model_outputs
            ]
        out["outputs"] = outputs
    return out


def dataset_summary_json(s: DatasetSummary) -> dict[str, Any]:
    out: dict[str, Any] = {"experiment_id": s.experiment_id, "name": s.name, "digest": s.digest}
    _put(out, "context", s.context)
    return out
