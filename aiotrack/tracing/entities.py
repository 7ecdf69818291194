"""The trace info of MLflow 3 (``TraceInfoV3``), and its legacy v2 view.

Store-independent values; ``aiotrack.tracing.wire`` turns them into MLflow's proto JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ARTIFACT_LOCATION_TAG",
    "MAX_METADATA_CHARS",
    "MAX_TAG_KEY_CHARS",
    "MAX_TAG_VALUE_CHARS",
    "SPANS_LOCATION_TAG",
    "TRACE_NAME_TAG",
    "TRACE_STATES",
    "TraceInfo",
    "v2_status",
]

#: ``TraceState`` names, by proto number.
TRACE_STATES = {0: "STATE_UNSPECIFIED", 1: "OK", 2: "ERROR", 3: "IN_PROGRESS"}
#: v2 ``TraceStatus`` names for each v3 state.
_V2_STATUS = {
    "STATE_UNSPECIFIED": "TRACE_STATUS_UNSPECIFIED",
    "OK": "OK",
    "ERROR": "ERROR",
    "IN_PROGRESS": "IN_PROGRESS",
}

ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation"
SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
TRACE_NAME_TAG = "mlflow.traceName"
#: Where a trace's spans are: in the ``spans`` table, or MLflow archived them as an artifact.
SPANS_IN_TRACKING_STORE = "TRACKING_STORE"
SPANS_IN_ARCHIVE = "ARCHIVE_REPO"
#: Answers truncate metadata values to 250 characters and tag values to 4096 (MLflow's
#: ``_truncate_request_metadata`` / ``_truncate_tags``).
MAX_METADATA_CHARS = 250
MAX_TAG_KEY_CHARS = 250
MAX_TAG_VALUE_CHARS = 4096


def v2_status(state: str) -> str:
    """The v2 ``TraceStatus`` name of a v3 state."""
    return _V2_STATUS.get(state, "TRACE_STATUS_UNSPECIFIED")


@dataclass(slots=True)
class TraceInfo:
    """One trace's info: ids, times (milliseconds), state, previews, tags, metadata and the
    assessments (already wire-ready JSON objects) attached to it."""

    trace_id: str
    experiment_id: str
    request_time: int
    execution_duration: int | None
    state: str
    client_request_id: str | None = None
    request_preview: str | None = None
    response_preview: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    assessments: list[dict[str, Any]] = field(default_factory=list)
