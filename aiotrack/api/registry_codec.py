"""JSON out for the model registry and logged models (reference §4.6), as MLflow renders them.

Model version numbers are strings on the wire. Which fields are left out follows MLflow's
``to_proto``: a model version keeps ``description``/``run_id``/``run_link`` even when empty, a
registered model drops an empty description; ``status_message`` only when non-empty.
"""

from __future__ import annotations

from typing import Any

from aiotrack.api.codec import double
from aiotrack.store.entities import Metric, Tag
from aiotrack.store.registry_entities import (
    LoggedModel,
    LoggedModelStatus,
    ModelVersion,
    RegisteredModel,
)

__all__ = ["logged_model_json", "model_version_json", "registered_model_json"]


def _tags(tags: list[Tag]) -> list[dict[str, str]]:
    return [{"key": t.key, "value": t.value} for t in tags]


def model_version_json(mv: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {"name": mv.name, "version": str(mv.version)}
    fields = (
        ("creation_timestamp", mv.creation_timestamp),
        ("last_updated_timestamp", mv.last_updated_timestamp),
        ("user_id", mv.user_id),
        ("current_stage", mv.current_stage),
        ("description", mv.description),
        ("source", mv.source),
        ("run_id", mv.run_id),
        ("status", mv.status),
    )
    for key, value in fields:
        if value is not None:
            out[key] = value
    if mv.status_message:
        out["status_message"] = mv.status_message
    if mv.tags:
        out["tags"] = _tags(mv.tags)
    if mv.run_link is not None:
        out["run_link"] = mv.run_link
    if mv.aliases:
        out["aliases"] = list(mv.aliases)
    return out


def registered_model_json(rm: RegisteredModel) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rm.name}
    if rm.creation_timestamp is not None:
        out["creation_timestamp"] = rm.creation_timestamp
    if rm.last_updated_timestamp:
        out["last_updated_timestamp"] = rm.last_updated_timestamp
    if rm.description:
        out["description"] = rm.description
    if rm.latest_versions:
        out["latest_versions"] = [model_version_json(mv) for mv in rm.latest_versions]
    if rm.tags:
        out["tags"] = _tags(rm.tags)
    if rm.aliases:
        out["aliases"] = [{"alias": a.alias, "version": str(a.version)} for a in rm.aliases]
    return out


def _metric_json(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": m.key,
        "value": double(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    for key, value in (
        ("dataset_name", m.dataset_name),
        ("dataset_digest", m.dataset_digest),
        ("model_id", m.model_id),
        ("run_id", m.run_id),
    ):
        if value:
            out[key] = value
    return out


def logged_model_json(lm: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": lm.model_id,
        "experiment_id": lm.experiment_id,
        "name": lm.name,
        "creation_timestamp_ms": lm.creation_timestamp,
        "last_updated_timestamp_ms": lm.last_updated_timestamp,
        "artifact_uri": lm.artifact_location,
        "status": LoggedModelStatus(lm.status).name,
    }
    for key, value in (
        ("model_type", lm.model_type),
        ("source_run_id", lm.source_run_id),
        ("status_message", lm.status_message),
    ):
        if value is not None:
            info[key] = value
    if lm.tags:
        info["tags"] = _tags(lm.tags)
    data: dict[str, Any] = {}
    if lm.params:
        data["params"] = _tags(lm.params)
    if lm.metrics:
        data["metrics"] = [_metric_json(m) for m in lm.metrics]
    return {"info": info, "data": data}
