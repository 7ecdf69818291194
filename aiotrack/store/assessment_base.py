"""The async protocol every assessment backend implements (the SQL store; the ``./mlruns``
file store), and the update values its ``update_assessment`` takes. Errors are the
``aiotrack.errors`` tree with MLflow's messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from aiotrack.errors import InvalidParameter
from aiotrack.tracing.assessments import Assessment, AssessmentError, NewAssessment, now_ms

__all__ = ["AssessmentStore", "ExpectationUpdate", "FeedbackUpdate", "updated_assessment"]


@dataclass(frozen=True, slots=True)
class FeedbackUpdate:
    """A new feedback value (and error, None clears it) for ``update_assessment``."""

    value: Any
    error: AssessmentError | None = None


@dataclass(frozen=True, slots=True)
class ExpectationUpdate:
    """A new expectation value for ``update_assessment``."""

    value: Any


def updated_assessment(
    existing: Assessment,
    *,
    name: str | None,
    feedback: FeedbackUpdate | None,
    expectation: ExpectationUpdate | None,
    rationale: str | None,
    metadata: dict[str, str] | None,
) -> Assessment:
    """``existing`` with an update applied by MLflow's rules, stamped now: what is given
    changes (None keeps it), metadata is merged, an expectation keeps no rationale. 400 for
    both values at once, a value of the other kind, or an issue reference."""
    if expectation is not None and feedback is not None:
        raise InvalidParameter("Cannot specify both `expectation` and `feedback` parameters.")
    if expectation is not None and existing.kind != "expectation":
        raise InvalidParameter("Cannot update expectation value on a Feedback assessment.")
    if feedback is not None and existing.kind != "feedback":
        raise InvalidParameter("Cannot update feedback value on an Expectation assessment.")
    if existing.kind == "issue":
        raise InvalidParameter("Issue reference assessments cannot be updated.")
    merged = None
    if existing.metadata or metadata:
        merged = dict(existing.metadata or {})
        merged.update(metadata or {})
    changed = replace(
        existing,
        name=name if name is not None else existing.name,
        metadata=merged or None,
        updated_ms=now_ms(),
    )
    if existing.kind == "expectation":
        value = expectation.value if expectation is not None else existing.value
        return replace(changed, value=value, rationale=None)
    if feedback is not None:
        changed = replace(changed, value=feedback.value, error=feedback.error)
    if rationale is not None:
        changed = replace(changed, rationale=rationale)
    return changed


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
