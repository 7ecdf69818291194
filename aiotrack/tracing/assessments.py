"""Assessments of a trace (feedback, expectations, issue references), as MLflow 3.18 keeps them.

Storage-independent: what an assessment is (``Assessment``), what a client asks to create
(``NewAssessment``, built by :func:`new_assessment` with the rules of MLflow's entity
``from_proto`` constructors), how its value is stored (``json.dumps`` text plus MLflow's
``aggregate_value`` / ``is_numeric_value``) and how it is answered (:func:`assessment_json`, the
proto JSON of ``mlflow.assessments.Assessment``).

Values arrive as ``google.protobuf.Value``: every JSON number becomes a double (``1`` is stored
and answered as ``1.0``), as it does in MLflow; an expectation that is neither a number, a string
nor a boolean travels as ``serialized_value`` (JSON text) instead. The key order of objects is
kept as sent (MLflow's is its protobuf map's hash order, which differs from process to process).
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiotrack.errors import InvalidParameter
from aiotrack.tracing.wire import timestamp_json

__all__ = [
    "JSON_FORMAT",
    "SOURCE_RUN_ID_KEY",
    "SOURCE_TYPES",
    "Assessment",
    "AssessmentError",
    "AssessmentKind",
    "NewAssessment",
    "aggregate",
    "assessment_json",
    "created_assessment",
    "expectation_value",
    "new_assessment",
    "new_assessment_id",
    "now_ms",
    "parse_timestamp",
    "proto_value",
    "stored_json",
    "timestamp_json",
]

AssessmentKind = Literal["feedback", "expectation", "issue"]
#: ``AssessmentSource.SourceType`` by number, as the proto declares it.
SOURCE_TYPES = {"SOURCE_TYPE_UNSPECIFIED": 0, "HUMAN": 1, "LLM_JUDGE": 2, "CODE": 3}
#: The only ``serialized_value`` format MLflow reads.
JSON_FORMAT = "JSON_FORMAT"
#: Metadata key whose value becomes the assessment's ``run_id`` column.
SOURCE_RUN_ID_KEY = "mlflow.assessment.sourceRunId"
#: Stack traces longer than this are answered cut to their tail (the stored text is whole).
_STACK_TRACE_LIMIT = 10000
_STACK_TRACE_PREFIX = "[Stack trace is truncated]\n...\n"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
#: The range google.protobuf.Timestamp allows (0001-01-01 .. 9999-12-31), in ms.
_MIN_MS = -62135596800000
_MAX_MS = 253402300799999


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class AssessmentError:
    """Why a feedback could not be produced (stored as JSON in ``assessments.error``)."""

    error_code: str
    error_message: str | None = None
    stack_trace: str | None = None

    def stored(self) -> str:
        """The column text, as MLflow writes it (every key, ``null`` for the unset)."""
        return json.dumps(
            {
                "error_code": self.error_code,
                "error_message": self.error_message,
                "stack_trace": self.stack_trace,
            }
        )

    @classmethod
    def from_stored(cls, text: str) -> AssessmentError:
        data = json.loads(text)
        return cls(data.get("error_code") or "", data.get("error_message"), data.get("stack_trace"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error_code": self.error_code}
        if self.error_message:
            out["error_message"] = self.error_message
        if self.stack_trace:
            trace = self.stack_trace
            if len(trace) > _STACK_TRACE_LIMIT:
                keep = _STACK_TRACE_LIMIT - len(_STACK_TRACE_PREFIX)
                trace = _STACK_TRACE_PREFIX + trace[-keep:]
            out["stack_trace"] = trace
        return out


@dataclass(frozen=True, slots=True)
class Assessment:
    """One stored assessment. ``value`` is the decoded JSON value (for an issue reference,
    ``{"issue_name": ...}``); times are ms since the epoch."""

    assessment_id: str
    trace_id: str
    name: str
    kind: AssessmentKind
    value: Any
    source_type: str
    source_id: str | None
    created_ms: int
    updated_ms: int
    error: AssessmentError | None = None
    rationale: str | None = None
    metadata: dict[str, Any] | None = None
    span_id: str | None = None
    run_id: str | None = None
    overrides: str | None = None
    #: None: not set (MLflow's file store keeps none for expectations and issue references,
    #: and then answers none).
    valid: bool | None = True


@dataclass(frozen=True, slots=True)
class NewAssessment:
    """What ``CreateAssessment`` asks for; build it with :func:`new_assessment`.

    ``assessment_id`` is the client's own id (MLflow keeps one that is sent) or None for a new
    ``a-<32 hex>``; a time that is None becomes the time of the insert.
    """

    name: str
    kind: AssessmentKind
    value: Any
    source_type: str = "SOURCE_TYPE_UNSPECIFIED"
    source_id: str | None = None
    error: AssessmentError | None = None
    rationale: str | None = None
    metadata: dict[str, str] | None = None
    span_id: str | None = None
    run_id: str | None = None
    overrides: str | None = None
    assessment_id: str | None = None
    create_time_ms: int | None = None
    last_update_time_ms: int | None = None


def new_assessment(
    kind: AssessmentKind,
    *,
    name: str,
    value: Any,
    source_type: str = "SOURCE_TYPE_UNSPECIFIED",
    source_id: str | None = None,
    error: AssessmentError | None = None,
    rationale: str | None = None,
    metadata: dict[str, str] | None = None,
    span_id: str | None = None,
    overrides: str | None = None,
    assessment_id: str | None = None,
    create_time_ms: int | None = None,
    last_update_time_ms: int | None = None,
) -> NewAssessment:
    """A ``NewAssessment`` with the fields MLflow keeps for ``kind``: an expectation keeps no
    rationale, error or ``overrides``, an issue reference no error or ``overrides``; empty
    strings and maps count as unset; ``run_id`` comes from the ``mlflow.assessment.sourceRunId``
    metadata entry. An expectation without a value is refused (400)."""
    if kind == "expectation" and value is None:
        raise InvalidParameter("The `value` field must be specified.")
    if kind != "feedback":
        error = None
        overrides = None
        if kind == "expectation":
            rationale = None
    return NewAssessment(
        name=name,
        kind=kind,
        value=value,
        source_type=source_type,
        source_id=source_id or None,
        error=error,
        rationale=rationale or None,
        metadata=metadata or None,
        span_id=span_id or None,
        run_id=(metadata or {}).get(SOURCE_RUN_ID_KEY),
        overrides=overrides or None,
        assessment_id=assessment_id or None,
        create_time_ms=create_time_ms or None,
        last_update_time_ms=last_update_time_ms or None,
    )


def proto_value(value: Any, path: str) -> Any:
    """``value`` as a round trip through ``google.protobuf.Value`` leaves it: numbers become
    floats (booleans stay booleans). NaN and infinities, which ``Value`` cannot carry, are a
    400 (MLflow answers 500)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise InvalidParameter(
                f"Invalid value {value!r} for parameter '{path}' supplied: a value cannot "
                "hold NaN or Infinity."
            )
        return number
    if isinstance(value, list):
        return [proto_value(item, path) for item in value]
    if isinstance(value, dict):
        return {str(k): proto_value(v, path) for k, v in value.items()}
    raise InvalidParameter(f"Invalid value for parameter '{path}' supplied.")


def expectation_value(
    value: Any, serialized: tuple[str | None, str | None] | None, path: str
) -> Any:
    """An expectation's value from its ``value`` or ``serialized_value`` (which wins when
    present, as in MLflow): ``serialized`` is ``(serialization_format, value)``."""
    if serialized is None:
        return proto_value(value, f"{path}.value")
    fmt, text = serialized
    if fmt != JSON_FORMAT:
        raise InvalidParameter(
            f"Unknown serialization format: {fmt or ''}. Only JSON_FORMAT is supported."
        )
    try:
        return json.loads(text or "")
    except ValueError:
        # MLflow answers 500 here.
        raise InvalidParameter(
            f"Invalid value for parameter '{path}.serialized_value.value' supplied: "
            "it is not valid JSON."
        ) from None


def stored_json(value: Any) -> str:
    """The ``assessments.value`` text: Python's ``json.dumps``, byte for byte as MLflow."""
    return json.dumps(value)


def aggregate(value: Any) -> tuple[float | None, bool]:
    """MLflow's ``(aggregate_value, is_numeric_value)`` of a value: finite numbers are
    themselves and numeric; booleans and ``"yes"``/``"no"`` are 1.0/0.0, not numeric."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), False
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None, False
        return (number, True) if math.isfinite(number) else (None, False)
    if isinstance(value, str):
        normalized = value.strip().lower()
        if normalized in ("yes", "no"):
            return (1.0 if normalized == "yes" else 0.0), False
    return None, False


def parse_timestamp(value: str, path: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 ``google.protobuf.Timestamp`` (sub-ms
    digits are dropped, as ``Timestamp.ToMilliseconds`` floors them)."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise InvalidParameter(
            f"Invalid value {json.dumps(value)} for parameter '{path}' supplied: "
            "expected an RFC 3339 timestamp such as 2024-01-01T00:00:00.000Z."
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, _, sign, off_h, off_m = match.groups()[6:]
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidParameter(
            f"Invalid value {json.dumps(value)} for parameter '{path}' supplied: {exc}."
        ) from None
    ms = (moment - _EPOCH) // timedelta(milliseconds=1) + int(
        (fraction or "0").ljust(9, "0")
    ) // 10**6
    if sign is not None:
        offset = (int(off_h) * 60 + int(off_m)) * 60000
        ms += -offset if sign == "+" else offset
    if not _MIN_MS <= ms <= _MAX_MS:
        raise InvalidParameter(
            f"Invalid value {json.dumps(value)} for parameter '{path}' supplied: "
            "out of the range 0001-01-01 .. 9999-12-31."
        )
    return ms


def _wire_value(value: Any) -> Any:
    """A value as ``google.protobuf.Value`` answers it: every number a double."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, list):
        return [_wire_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _wire_value(v) for k, v in value.items()}
    return str(value)


def _expectation_json(value: Any) -> dict[str, Any]:
    if value is not None and not isinstance(value, int | float | bool | str):
        return {
            "serialized_value": {
                "serialization_format": JSON_FORMAT,
                "value": json.dumps(value),
            }
        }
    return {"value": _wire_value(value)}


def assessment_json(a: Assessment) -> dict[str, Any]:
    """The proto JSON MLflow answers for an assessment (fields in proto field order)."""
    out: dict[str, Any] = {
        "assessment_id": a.assessment_id,
        "assessment_name": a.name,
        "trace_id": a.trace_id,
    }
    if a.span_id is not None:
        out["span_id"] = a.span_id
    source: dict[str, Any] = {"source_type": a.source_type}
    if a.source_id is not None:
        source["source_id"] = a.source_id
    out["source"] = source
    out["create_time"] = timestamp_json(a.created_ms)
    out["last_update_time"] = timestamp_json(a.updated_ms)
    if a.kind == "feedback":
        feedback: dict[str, Any] = {"value": _wire_value(a.value)}
        if a.error is not None:
            feedback["error"] = a.error.to_json()
        out["feedback"] = feedback
    elif a.kind == "expectation":
        out["expectation"] = _expectation_json(a.value)
    if a.rationale is not None:
        out["rationale"] = a.rationale
    if a.metadata:
        out["metadata"] = {
            str(k): v if isinstance(v, str) else str(v) for k, v in a.metadata.items()
        }
    if a.overrides:
        out["overrides"] = a.overrides
    if a.valid is not None:
        out["valid"] = a.valid
    if a.kind == "issue":
        issue_name = a.value.get("issue_name") if isinstance(a.value, dict) else None
        out["issue"] = {"issue_name": issue_name if isinstance(issue_name, str) else ""}
    return out


def new_assessment_id() -> str:
    """``a-`` + 32 hex digits, as MLflow's ``generate_assessment_id``."""
    return f"a-{uuid.uuid4().hex}"


def created_assessment(
    new: NewAssessment, trace_id: str, now: int, *, client_ids: bool = False, links: bool = True
) -> Assessment:
    """The assessment ``new`` becomes on ``trace_id``, valid, created and updated ``now``.

    ``client_ids`` keeps an id and times the client chose (MLflow's SQL store does; its file
    store gives every new assessment its own); without ``links`` the run and the assessment it
    overrides are left out (the file store's record of those a ``StartTraceV3`` carries)."""
    return Assessment(
        assessment_id=(client_ids and new.assessment_id) or new_assessment_id(),
        trace_id=trace_id,
        name=new.name,
        kind=new.kind,
        value=new.value,
        source_type=new.source_type,
        source_id=new.source_id,
        created_ms=(client_ids and new.create_time_ms) or now,
        updated_ms=(client_ids and new.last_update_time_ms) or now,
        error=new.error,
        rationale=new.rationale,
        metadata=new.metadata,
        span_id=new.span_id,
        run_id=new.run_id if links else None,
        overrides=new.overrides if links else None,
        valid=True,
    )
