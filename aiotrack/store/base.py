"""The async store protocol every tracking backend implements (SQL now; file store later).

Methods raise the ``aiotrack.errors`` tree with MLflow's messages; handlers never see driver
exceptions. Ids are strings on this interface whatever the backend stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from aiotrack.store.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    Metric,
    MetricWithRunId,
    ModelInput,
    ModelOutput,
    Page,
    Param,
    Run,
    RunInfo,
    Tag,
    ViewType,
)

__all__ = ["TrackingStore"]


class TrackingStore(Protocol):
    """Experiments, runs and what is logged to them (reference §4.1, §10)."""

    #: Capability: ``stream_metric_history`` rows carry everything a history answer needs, so
    #: a full history can be streamed (False where points carry per-point fields, as on the
    #: file store, whose histories go through ``get_metric_history``).
    streams_metric_history: bool

    async def ensure_default_experiment(self) -> None: ...

    async def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[Tag]
    ) -> str: ...

    async def get_experiment(self, experiment_id: str) -> Experiment: ...

    async def get_experiment_by_name(self, name: str) -> Experiment: ...

    async def delete_experiment(self, experiment_id: str) -> None: ...

    async def restore_experiment(self, experiment_id: str) -> None: ...

    async def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...

    async def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    async def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    async def search_experiments(
        self,
        *,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Experiment]: ...

    async def create_run(
        self,
        *,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str | None,
        tags: Sequence[Tag],
    ) -> Run: ...

    async def get_run(self, run_id: str) -> Run: ...

    async def update_run_info(
        self, run_id: str, *, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo: ...

    async def delete_run(self, run_id: str) -> None: ...

    async def restore_run(self, run_id: str) -> None: ...

    async def log_metric(self, run_id: str, metric: Metric) -> None: ...

    async def log_param(self, run_id: str, key: str, value: str) -> None: ...

    async def set_tag(self, run_id: str, key: str, value: str) -> None: ...

    async def delete_tag(self, run_id: str, key: str) -> None: ...

    async def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[Tag],
    ) -> None: ...

    async def search_runs(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Run]: ...

    async def get_metric_history(
        self, run_id: str, key: str, *, max_results: int | None, page_token: str | None
    ) -> Page[Metric]: ...

    def stream_metric_history(
        self, run_id: str, key: str, *, chunk_size: int = 20_000
    ) -> AsyncIterator[list[tuple[float, int, int, bool]]]: ...

    async def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        key: str,
        *,
        max_results: int,
        start_step: int | None,
        end_step: int | None,
    ) -> list[MetricWithRunId]: ...

    async def log_inputs(
        self, run_id: str, *, datasets: Sequence[DatasetInput], models: Sequence[ModelInput]
    ) -> None: ...

    async def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None: ...

    async def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]: ...

    async def record_logged_model(self, run_id: str, model: dict[str, Any]) -> None: ...
