"""What a batch of ingested spans becomes before it is stored.

``SpanRecord`` is one row of MLflow's ``spans`` table plus what the store needs to update the
trace it belongs to; ``TraceSummary`` is what one batch says about one trace (its time range,
status, previews, token usage, cost, session, tags). Both are produced from an OTLP export
request by ``aiotrack.tracing.otlp`` and consumed by the trace store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SpanRecord", "TraceSummary"]


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One span, as MLflow's ``spans`` row holds it.

    ``trace_id`` is the MLflow trace id (``tr-`` + 32 hex digits of the OTel trace id);
    ``span_id``/``parent_span_id`` are 16 hex digits. ``status`` is MLflow's span status code
    name (``OK``, ``ERROR`` or ``UNSET``); ``type`` the decoded ``mlflow.spanType`` attribute.
    ``content`` is the JSON text MLflow stores in ``spans.content`` (the translated span dict).
    ``type`` is the span's own ``mlflow.spanType`` (MLflow's column does not take the type a
    translator derives, which only ``content`` carries). Costs are in USD, finite or None.

    Not columns: ``attributes`` (the translated attributes, JSON-encoded values, as in
    ``content``), ``resource_attributes`` (its OTLP resource's), and ``usage_data`` /
    ``cost_data``, the span's ``mlflow.chat.tokenUsage`` / ``mlflow.llm.cost`` objects as MLflow's
    tree-aware trace aggregation reads them (``aiotrack.tracing.summary.aggregate_usage``).
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    type: str | None
    status: str
    start_time_unix_nano: int
    end_time_unix_nano: int | None
    content: str
    input_cost: float | None = None
    output_cost: float | None = None
    total_cost: float | None = None
    model_name: str | None = None
    model_provider: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    resource_attributes: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    usage_data: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    cost_data: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def row(self, experiment_id: int) -> dict[str, Any]:
        """The ``spans`` row (``duration_ns`` is computed by the database)."""
        return {
            "trace_id": self.trace_id,
            "experiment_id": experiment_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "start_time_unix_nano": self.start_time_unix_nano,
            "end_time_unix_nano": self.end_time_unix_nano,
            "content": self.content,
            "input_cost": self.input_cost,
            "output_cost": self.output_cost,
            "total_cost": self.total_cost,
            "model_name": self.model_name,
            "model_provider": self.model_provider,
        }


@dataclass(slots=True)
class TraceSummary:
    """What one batch of spans says about one trace, as MLflow's ``log_spans`` derives it.

    Times are ms since the epoch (``max_end_ms`` None only if no span has an end time).
    ``status`` is the trace state the first root span implies (``OK``/``ERROR``), or None when
    the batch has no root span (a new trace is then ``IN_PROGRESS``). Previews come from the
    last root span, already truncated as MLflow truncates them; MLflow writes them only where
    the trace has none yet. Token usage keys are ``input_tokens``/``output_tokens``/
    ``total_tokens`` (plus the cache keys present); cost keys ``input_cost``/``output_cost``/
    ``total_cost`` (USD); both empty when no span has any. For a trace that already has spans
    stored, MLflow recomputes both over stored and new spans (``summary.aggregate_usage``).
    ``session_id`` is written only if the trace has none; ``user_id`` (metadata
    ``mlflow.trace.user``) only if not set. ``trace_name`` goes to ``trace_info.trace_name``.
    ``tags`` are the resource attributes and the root spans' ``mlflow.traceTag.*`` attributes
    (validated, the root's winning), without the trace name; the store merges them into the
    trace's tags. ``spans`` are the rows to upsert: one per span id (a span sent twice in the
    batch is its last copy, while the aggregates above count both, as MLflow's do).
    """

    trace_id: str
    min_start_ms: int
    max_end_ms: int | None
    status: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    token_usage: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    session_id: str | None = None
    user_id: str | None = None
    trace_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    spans: list[SpanRecord] = field(default_factory=list)
