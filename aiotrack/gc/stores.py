"""What ``aiotrack gc`` needs from a backend store: the `GcStore` protocol and its records.

These are the store methods ``mlflow gc`` calls (``_get_deleted_runs``, ``_hard_delete_run``,
``_get_deleted_logged_models``, ``_hard_delete_logged_model``, ``_hard_delete_experiment``,
``get_run``, ``get_experiment``, ``search_experiments``/``search_runs`` in the deleted view and
the job store's ``delete_jobs``), reduced to the fields gc reads, plus the artifact locations of
an experiment's traces (which ``mlflow gc`` leaves behind). Implementations:
`aiotrack.gc.sql.SqlGcStore` and `aiotrack.gc.files.FileGcStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DELETED",
    "ExperimentRecord",
    "GcError",
    "GcStore",
    "ModelRecord",
    "RunRecord",
]

#: The ``lifecycle_stage`` of soft-deleted runs, experiments and logged models.
DELETED = "deleted"


class GcError(Exception):
    """A refusal or failure with a message for the user (MLflow's wording where it has one)."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as gc sees it; ``artifact_uri`` is its artifact root (may be empty)."""

    run_id: str
    experiment_id: str
    lifecycle_stage: str
    artifact_uri: str | None


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    """An experiment as gc sees it; ``last_update_time`` in epoch milliseconds."""

    experiment_id: str
    lifecycle_stage: str
    last_update_time: int | None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A logged model as gc sees it; ``artifact_location`` is its artifact root."""

    model_id: str
    experiment_id: str
    lifecycle_stage: str
    artifact_location: str | None


class GcStore(Protocol):
    """The backend operations of ``aiotrack gc``. Times are epoch milliseconds.

    Lookups of a missing run, experiment or model raise `GcError` with MLflow's message.
    """

    #: Where the store is, for messages (password redacted).
    description: str
    #: Whether the store has MLflow's ``jobs`` table (database backends).
    has_jobs: bool

    async def deleted_run_ids(self, older_than_ms: int, now_ms: int) -> list[str]:
        """Runs in the deleted stage whose ``deleted_time`` is at least ``older_than_ms`` ago."""
        ...

    async def deleted_model_ids(self, older_than_ms: int, now_ms: int) -> list[str]:
        """Logged models in the deleted stage last updated at least ``older_than_ms`` ago."""
        ...

    async def deleted_experiment_ids(self, updated_before_ms: int | None) -> list[str]:
        """Deleted experiments, only those last updated before ``updated_before_ms`` if given."""
        ...

    async def deleted_runs_of(self, experiment_ids: Sequence[str]) -> list[str]:
        """The runs in the deleted stage of these experiments."""
        ...

    async def get_runs(self, run_ids: Sequence[str]) -> list[RunRecord]:
        """The runs, whatever their stage, in the order given (`GcError` for the first one
        that does not exist)."""
        ...

    async def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        """The experiment, whatever its stage."""
        ...

    async def get_model(self, model_id: str) -> ModelRecord:
        """The logged model, whatever its stage."""
        ...

    async def trace_artifact_roots(self, experiment_id: str) -> list[tuple[str, str]]:
        """``(trace_id, artifact location)`` of every trace of the experiment that has one
        (tag ``mlflow.artifactLocation``): gc deletes them before the experiment."""
        ...

    async def hard_delete_run(self, run_id: str) -> None:
        """Remove the run and every row (or file) that belongs to it, in one transaction."""
        ...

    async def hard_delete_model(self, model_id: str) -> None:
        """Remove the logged model with its tags, params and metrics."""
        ...

    async def hard_delete_experiment(self, experiment_id: str) -> None:
        """Remove the deleted experiment and everything still in it (runs, logged models,
        traces with all their rows), in one transaction."""
        ...

    async def delete_jobs(
        self, older_than_ms: int, now_ms: int, job_ids: Sequence[str] | None
    ) -> list[str]:
        """Delete finished jobs (created before ``now - older_than`` when ``older_than_ms``,
        only ``job_ids`` when given); return their ids."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
