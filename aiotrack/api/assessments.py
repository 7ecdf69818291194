"""Handlers of MLflow 3's four assessment RPCs (feedback, expectations, issue references).

Bound under the v3 prefixes: ``POST /mlflow/traces/{trace_id}/assessments`` creates,
``GET``/``PATCH``/``DELETE /mlflow/traces/{trace_id}/assessments/{assessment_id}`` read, update
and delete. Bodies are MLflow's proto JSON (``mlflow.assessments.Assessment``); the ids in the
path win over any in the body, as in MLflow.

Where MLflow's request parsing silently drops a field of the wrong type (an unknown source type,
a non-string metadata value, two of feedback/expectation/issue) and carries on, aiotrack answers
400 ``INVALID_PARAMETER_VALUE`` instead; so it does where MLflow answers 500 (an invalid
``serialized_value``, NaN values, updating ``valid`` or an issue reference).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from aiotrack.api.codec import json_response
from aiotrack.api.messages import Message, boolean, enum, message, read_json_body, string
from aiotrack.errors import InvalidParameter
from aiotrack.keys import ASSESSMENT_STORE
from aiotrack.store.assessment_base import AssessmentStore, ExpectationUpdate, FeedbackUpdate
from aiotrack.tracing.assessments import (
    SOURCE_TYPES,
    AssessmentError,
    AssessmentKind,
    NewAssessment,
    assessment_json,
    expectation_value,
    new_assessment,
    parse_timestamp,
    proto_value,
)
from aiotrack.validation import invalid_value

__all__ = ["parse_assessment", "routes"]

routes = web.RouteTableDef()
_SOURCE_NAMES = {number: name for name, number in SOURCE_TYPES.items()}
_CAMEL_HUMP = re.compile(r"(?<!^)([A-Z])")


@dataclass(frozen=True, slots=True)
class Source(Message):
    source_type: int | None = enum(SOURCE_TYPES)
    source_id: str | None = string()


@dataclass(frozen=True, slots=True)
class ErrorMessage(Message):
    error_code: str | None = string()
    error_message: str | None = string()
    stack_trace: str | None = string()


@dataclass(frozen=True, slots=True)
class SerializedValue(Message):
    serialization_format: str | None = string()
    value: str | None = string()


@dataclass(frozen=True, slots=True)
class Feedback(Message):
    """``{value, error}``; ``value`` (any JSON) is read from the raw body."""

    error: ErrorMessage | None = message(ErrorMessage)


@dataclass(frozen=True, slots=True)
class Expectation(Message):
    """``{value | serialized_value}``; ``value`` (any JSON) is read from the raw body."""

    serialized_value: SerializedValue | None = message(SerializedValue)


@dataclass(frozen=True, slots=True)
class Issue(Message):
    issue_name: str | None = string()


@dataclass(frozen=True, slots=True)
class AssessmentMessage(Message):
    """An ``Assessment``; ``metadata`` (a string map) is read from the raw body."""

    assessment_id: str | None = string()
    assessment_name: str | None = string()
    trace_id: str | None = string()
    span_id: str | None = string()
    source: Source | None = message(Source)
    create_time: str | None = string()
    last_update_time: str | None = string()
    feedback: Feedback | None = message(Feedback)
    expectation: Expectation | None = message(Expectation)
    issue: Issue | None = message(Issue)
    rationale: str | None = string()
    overrides: str | None = string()
    valid: bool | None = boolean()


@dataclass(frozen=True, slots=True)
class CreateAssessment(Message):
    assessment: AssessmentMessage = message(AssessmentMessage, required=True)


@dataclass(frozen=True, slots=True)
class UpdateAssessment(Message):
    assessment: AssessmentMessage = message(AssessmentMessage, required=True)
    #: A ``google.protobuf.FieldMask``: comma-separated (camelCase) field paths.
    update_mask: str = string(required=True)


@dataclass(frozen=True, slots=True)
class _Raw:
    """The parts of an ``Assessment`` body that are free-form JSON."""

    body: Mapping[str, Any] = field(default_factory=dict)

    def part(self, name: str) -> Mapping[str, Any]:
        value = self.body.get(name)
        return value if isinstance(value, dict) else {}

    def metadata(self) -> dict[str, str]:
        value = self.body.get("metadata")
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise InvalidParameter(
                invalid_value(
                    "assessment.metadata", value, " Hint: a map of string keys to string values."
                )
            )
        return dict(value)


def _kind(msg: AssessmentMessage) -> AssessmentKind:
    kinds: list[AssessmentKind] = []
    if msg.feedback is not None:
        kinds.append("feedback")
    if msg.expectation is not None:
        kinds.append("expectation")
    if msg.issue is not None:
        kinds.append("issue")
    if not kinds:
        raise InvalidParameter("Unknown assessment type: None")
    if len(kinds) > 1:
        raise InvalidParameter(
            "Exactly one of `expectation`, `feedback`, or `issue` should be specified."
        )
    return kinds[0]


def _feedback(msg: AssessmentMessage, raw: _Raw) -> FeedbackUpdate:
    value = proto_value(raw.part("feedback").get("value"), "assessment.feedback.value")
    error = msg.feedback.error if msg.feedback is not None else None
    return FeedbackUpdate(
        value=value,
        error=(
            AssessmentError(
                error.error_code or "", error.error_message or None, error.stack_trace or None
            )
            if error is not None
            else None
        ),
    )


def _expectation(msg: AssessmentMessage, raw: _Raw) -> ExpectationUpdate:
    serialized = msg.expectation.serialized_value if msg.expectation is not None else None
    value = expectation_value(
        raw.part("expectation").get("value"),
        (serialized.serialization_format, serialized.value) if serialized is not None else None,
        "assessment.expectation",
    )
    if value is None:
        raise InvalidParameter("The `value` field must be specified.")
    return ExpectationUpdate(value)


def _time(text: str | None, path: str) -> int | None:
    return parse_timestamp(text, path) if text else None


def _to_new(msg: AssessmentMessage, raw: _Raw) -> NewAssessment:
    kind = _kind(msg)
    error = None
    if kind == "feedback":
        fb = _feedback(msg, raw)
        value, error = fb.value, fb.error
    elif kind == "expectation":
        value = _expectation(msg, raw).value
    else:
        value = {"issue_name": (msg.issue.issue_name if msg.issue is not None else None) or ""}
    source = msg.source or Source()
    return new_assessment(
        kind,
        name=msg.assessment_name or "",
        value=value,
        source_type=_SOURCE_NAMES[source.source_type or 0],
        source_id=source.source_id,
        error=error,
        rationale=msg.rationale,
        metadata=raw.metadata(),
        span_id=msg.span_id,
        overrides=msg.overrides,
        assessment_id=msg.assessment_id,
        create_time_ms=_time(msg.create_time, "assessment.create_time"),
        last_update_time_ms=_time(msg.last_update_time, "assessment.last_update_time"),
    )


def parse_assessment(data: Mapping[str, Any]) -> NewAssessment:
    """A ``NewAssessment`` of an ``Assessment`` JSON object (as ``CreateAssessment`` and a
    ``TraceInfo``'s ``assessments`` carry it); 400 for what MLflow refuses or cannot store."""
    return _to_new(AssessmentMessage.from_json(data), _Raw(data))


def _store(request: web.Request) -> AssessmentStore:
    return request.app[ASSESSMENT_STORE]


def _snake(path: str) -> str:
    return _CAMEL_HUMP.sub(r"_\1", path.strip()).lower()


@routes.post("/mlflow/traces/{trace_id}/assessments")
async def create_assessment(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    msg = CreateAssessment.from_json(body)
    new = _to_new(msg.assessment, _Raw(body.get("assessment") or {}))
    created = await _store(request).create_assessment(request.match_info["trace_id"], new)
    return json_response({"assessment": assessment_json(created)})


@routes.get("/mlflow/traces/{trace_id}/assessments/{assessment_id}")
async def get_assessment(request: web.Request) -> web.Response:
    found = await _store(request).get_assessment(
        request.match_info["trace_id"], request.match_info["assessment_id"]
    )
    return json_response({"assessment": assessment_json(found)})


@routes.patch("/mlflow/traces/{trace_id}/assessments/{assessment_id}")
async def update_assessment(request: web.Request) -> web.Response:
    """Apply the fields ``update_mask`` names (``assessmentName``, ``feedback``,
    ``expectation``, ``rationale``, ``metadata``; others are ignored, as MLflow does); a named
    field absent from ``assessment`` counts as its empty value."""
    body = await read_json_body(request)
    msg = UpdateAssessment.from_json(body)
    a, raw = msg.assessment, _Raw(body.get("assessment") or {})
    changes: dict[str, Any] = {}
    for path in msg.update_mask.split(","):
        name = _snake(path)
        if name == "assessment_name":
            changes["name"] = a.assessment_name or ""
        elif name == "expectation":
            changes["expectation"] = _expectation(a, raw)
        elif name == "feedback":
            changes["feedback"] = _feedback(a, raw)
        elif name == "rationale":
            changes["rationale"] = a.rationale or ""
        elif name == "metadata":
            changes["metadata"] = raw.metadata()
        elif name == "valid":
            raise InvalidParameter(
                "The `valid` field of an assessment cannot be updated: an assessment that "
                "overrides another marks that one invalid."
            )
    updated = await _store(request).update_assessment(
        request.match_info["trace_id"], request.match_info["assessment_id"], **changes
    )
    return json_response({"assessment": assessment_json(updated)})


@routes.delete("/mlflow/traces/{trace_id}/assessments/{assessment_id}")
async def delete_assessment(request: web.Request) -> web.Response:
    await _store(request).delete_assessment(
        request.match_info["trace_id"], request.match_info["assessment_id"]
    )
    return json_response({})
