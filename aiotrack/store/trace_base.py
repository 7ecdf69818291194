"""The async protocol every trace backend implements (the SQL store; the ``./mlruns`` file
store). Errors are the ``aiotrack.errors`` tree with MLflow's messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiotrack.errors import ResourceNotFound
from aiotrack.tracing.assessments import NewAssessment
from aiotrack.tracing.entities import TraceInfo

__all__ = ["TraceNotFound", "TraceStore"]


class TraceNotFound(ResourceNotFound):
    """A trace id the store does not hold."""


class TraceStore(Protocol):
    """Trace infos, their tags and links, and their stored spans."""

    async def start_trace(
        self, info: TraceInfo, assessments: Sequence[NewAssessment] = ()
    ) -> TraceInfo: ...

    async def start_trace_v2(
        self, experiment_id: str, timestamp_ms: int, metadata: dict[str, str], tags: dict[str, str]
    ) -> TraceInfo: ...

    async def end_trace_v2(
        self,
        trace_id: str,
        timestamp_ms: int,
        state: str,
        metadata: dict[str, str],
        tags: dict[str, str],
    ) -> TraceInfo: ...

    async def get_trace_info(self, trace_id: str) -> TraceInfo: ...

    async def batch_get_trace_infos(
        self, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
    ) -> list[TraceInfo]: ...

    async def get_span_contents(self, trace_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each trace's spans as MLflow's span JSON (``spans.content``), root spans first, then
        by start time; traces whose spans are not in the store are left out."""
        ...

    async def search_traces(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[TraceInfo], str | None]: ...

    async def set_trace_tag(self, trace_id: str, key: str, value: str | None) -> None: ...

    async def delete_trace_tag(self, trace_id: str, key: str) -> None: ...

    async def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None,
        max_traces: int | None,
        trace_ids: Sequence[str],
    ) -> int: ...

    async def link_traces_to_run(self, trace_ids: Sequence[str], run_id: str) -> None: ...

    async def link_prompts_to_trace(
        self, trace_id: str, prompts: Sequence[tuple[str, int]]
    ) -> None: ...
