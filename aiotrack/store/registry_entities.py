"""Entity dataclasses of the model registry and of MLflow 3 logged models.

They mirror MLflow's protobuf messages (reference §4.6): times are milliseconds since the epoch,
``None`` means "not set" and is omitted on the wire. Model version numbers are ints here and
strings on the wire.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from aiotrack.store.entities import Metric, Tag

__all__ = [
    "ACTIVE_STAGES",
    "ALL_STAGES",
    "STAGE_ARCHIVED",
    "STAGE_DELETED_INTERNAL",
    "STAGE_NONE",
    "LoggedModel",
    "LoggedModelStatus",
    "ModelVersion",
    "RegisteredModel",
    "RegisteredModelAlias",
]

STAGE_NONE = "None"
STAGE_ARCHIVED = "Archived"
#: A deleted model version keeps its row (redacted) in this stage so its number is never reused.
STAGE_DELETED_INTERNAL = "Deleted_Internal"
ALL_STAGES = ("None", "Staging", "Production", "Archived")
#: The stages ``archive_existing_versions`` may be used with.
ACTIVE_STAGES = ("Staging", "Production")


class LoggedModelStatus(enum.IntEnum):
    """A logged model's upload state; values are the protobuf numbers (also stored as is)."""

    LOGGED_MODEL_STATUS_UNSPECIFIED = 0
    LOGGED_MODEL_PENDING = 1
    LOGGED_MODEL_READY = 2
    LOGGED_MODEL_UPLOAD_FAILED = 3


@dataclass(frozen=True, slots=True)
class RegisteredModelAlias:
    alias: str
    version: int


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model; ``aliases`` are the aliases pointing at it."""

    name: str
    version: int
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    description: str | None
    user_id: str | None
    current_stage: str | None
    source: str | None
    run_id: str | None
    status: str | None
    status_message: str | None
    run_link: str | None
    storage_location: str | None = None
    tags: list[Tag] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model; ``latest_versions`` holds the highest version of each stage."""

    name: str
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    description: str | None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    aliases: list[RegisteredModelAlias] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """An MLflow 3 logged model with its tags, params and linked metrics."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: int
    lifecycle_stage: str | None
    model_type: str | None
    source_run_id: str | None
    status_message: str | None
    tags: list[Tag] = field(default_factory=list)
    params: list[Tag] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
