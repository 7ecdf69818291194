"""The async protocol every assessment backend implements (the SQL store; the ``./mlruns``
file store), and the update values its ``update_assessment`` takes. Errors are the
``aiotrack.errors`` tree with MLflow's messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiotrack.tracing.assessments import Assessment, AssessmentError, NewAssessment

__all__ = ["AssessmentStore", "ExpectationUpdate", "FeedbackUpdate"]


@dataclass(frozen=True, slots=True)
class FeedbackUpdate:
    """A new feedback value (and error, None clears it) for ``update_assessment``."""

    value: Any
    error: AssessmentError | None = None


@dataclass(frozen=True, slots=True)
class ExpectationUpdate:
    """A new expectation value for ``update_assessment``."""

    value: Any


class AssessmentStore(Protocol):
    """Feedback, expectations and issue references of traces: what the assessment handlers
    and the trace handlers (``TraceInfo.assessments``) need."""

    async def create_assessment(self, trace_id: str, new: NewAssessment) -> Assessment:
        """Store ``new`` on the trace and answer it as stored; 404 for a missing trace or a
        missing ``overrides`` target (which is marked invalid otherwise)."""
        ...

    async def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """The assessment; 404 naming the trace or the assessment, whichever is missing."""
        ...

    async def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        *,
        name: str | None = None,
        expectation: ExpectationUpdate | None = None,
        feedback: FeedbackUpdate | None = None,
        rationale: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Assessment:
        """Change what is given (None keeps it), stamp ``last_update_time``, answer the
        result; 400 for a value of the wrong kind or an issue reference."""
        ...

    async def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete it (a missing assessment is not an error); the one it overrode becomes
        valid again."""
        ...

    async def assessments_for_traces(
        self, trace_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Per trace id (those with any), the wire JSON of its assessments in MLflow's
        order."""
        ...
