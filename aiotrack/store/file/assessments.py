"""``FileAssessmentStore``: trace assessments in an ``mlruns`` directory, as MLflow 3.18's
``FileStore`` keeps them (``create_assessment``, ``get_assessment``, ``update_assessment``,
``delete_assessment``).

Each assessment is ``<trace dir>/assessments/<assessment id>.yaml``: ``Assessment.to_dictionary()``
(its proto JSON with proto field names) through PyYAML's safe dumper with sorted keys, so
either server reads the other's files. What the file keeps follows MLflow's entities:

- a new assessment always gets a new ``a-<32 hex>`` id and the current time (an id or times
  the client sent are ignored, as MLflow's file store does), and is written ``valid: true``;
- reading it back, only a feedback keeps ``valid`` (default true) and ``overrides``; an
  expectation keeps no rationale; so answers of expectations and issue references carry no
  ``valid`` (except the answer of their creation), as MLflow's;
- one that ``overrides`` another marks that one ``valid: false``; deleting it restores that
  one (``valid: true``, ``last_update_time`` now).

Where MLflow answers a 500 for a client's mistake (updating an issue reference), this store
answers 400. Every method does its file I/O in one ``asyncio.to_thread`` call; writes hold
the root's lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar

from aiotrack.errors import Internal, InvalidParameter, ResourceNotFound
from aiotrack.store.assessment_base import ExpectationUpdate, FeedbackUpdate, updated_assessment
from aiotrack.store.file.layout import MalformedError, read_yaml_file, write_yaml_file
from aiotrack.store.file.trace_layout import ASSESSMENTS, is_path_component
from aiotrack.store.file.traces import FileTraceStore
from aiotrack.tracing.assessments import (
    SOURCE_RUN_ID_KEY,
    Assessment,
    AssessmentError,
    AssessmentKind,
    NewAssessment,
    assessment_json,
    created_assessment,
    now_ms,
)
from aiotrack.tracing.wire import parse_timestamp
from aiotrack.validation import invalid_value

__all__ = ["FileAssessmentStore", "assessment_from_yaml"]

log = logging.getLogger("aiotrack.store.file")

P = ParamSpec("P")
R = TypeVar("R")
_SUFFIX = ".yaml"


def _kind_of(data: dict[str, Any]) -> AssessmentKind:
    # Assessment.from_dictionary's order; an empty value counts as absent.
    for kind in ("expectation", "feedback", "issue"):
        if data.get(kind):
            return kind
    raise MalformedError(f"Unknown assessment type: {data.get('assessment_name')}")


def _value(kind: AssessmentKind, part: dict[str, Any]) -> Any:
    if kind == "feedback":
        return part["value"]
    if kind == "issue":
        return {"issue_name": part["issue_name"]}
    if "value" in part:
        return part["value"]
    if "serialized_value" in part:
        return json.loads(part["serialized_value"]["value"])
    raise MalformedError(
        "Either 'value' or 'serialized_value' must be present in the dictionary "
        "representation of an Expectation."
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _source_type(value: Any) -> str:
    """``AssessmentSourceType._standardize``: upper case, the legacy ``AI_JUDGE`` renamed."""
    name = str(value or "SOURCE_TYPE_UNSPECIFIED").upper()
    return "LLM_JUDGE" if name == "AI_JUDGE" else name


def assessment_from_yaml(data: Any) -> Assessment:
    """What MLflow's ``Assessment.from_dictionary`` makes of an assessment file: ``valid`` and
    ``overrides`` for a feedback only (``valid`` defaulting to true), no rationale for an
    expectation, times to the millisecond. Raises `MalformedError` for anything else."""
    if not isinstance(data, dict):
        raise MalformedError("an assessment file is not a mapping")
    kind = _kind_of(data)
    try:
        part = dict(data[kind])
        error = None
        if kind == "feedback" and part.get("error"):
            err = dict(part["error"])
            error = AssessmentError(
                str(err["error_code"]), err.get("error_message"), err.get("stack_trace")
            )
        source = dict(data["source"])
        metadata = data.get("metadata")
        metadata = {str(k): str(v) for k, v in dict(metadata).items()} if metadata else None
        return Assessment(
            assessment_id=str(data.get("assessment_id") or ""),
            trace_id=str(data.get("trace_id") or ""),
            name=str(data["assessment_name"]),
            kind=kind,
            value=_value(kind, part),
            source_type=_source_type(source.get("source_type")),
            # AssessmentSource's default id: a file without one is read as "default".
            source_id=_optional_str(source.get("source_id", "default")),
            created_ms=parse_timestamp(data["create_time"], "create_time"),
            updated_ms=parse_timestamp(data["last_update_time"], "last_update_time"),
            error=error,
            rationale=(
                str(data["rationale"])
                if kind != "expectation" and data.get("rationale") is not None
                else None
            ),
            metadata=metadata,
            span_id=None if data.get("span_id") is None else str(data["span_id"]),
            run_id=(metadata or {}).get(SOURCE_RUN_ID_KEY),
            overrides=(
                str(data["overrides"]) if kind == "feedback" and data.get("overrides") else None
            ),
            valid=bool(data.get("valid", True)) if kind == "feedback" else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedError(f"malformed assessment: {exc!r}") from None
    except Exception as exc:  # InvalidParameter from a bad timestamp
        raise MalformedError(f"malformed assessment: {exc}") from None


def _stored(a: Assessment) -> dict[str, Any]:
    """``Assessment.to_dictionary()``: the file's content (the proto JSON MLflow answers)."""
    return assessment_json(a)


def _check_id(assessment_id: str) -> None:
    """MLflow's ``_validate_path_component`` of the id (it names the file)."""
    if not is_path_component(assessment_id):
        raise InvalidParameter(
            invalid_value("assessment_id", assessment_id, "must be a single path component")
        )


def _trace_not_found(trace_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"Trace with ID '{trace_id}' not found")


def _assessment_not_found(trace_id: str, assessment_id: str) -> ResourceNotFound:
    return ResourceNotFound(
        f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'"
    )


class FileAssessmentStore:
    """MLflow's file-store assessments, served asynchronously, over the traces of ``traces``
    (whose trace-directory lookup and root lock it shares)."""

    def __init__(self, traces: FileTraceStore) -> None:
        self.traces = traces

    async def _io(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        def locked() -> R:
            with self.traces.root.lock:
                return fn(*args, **kwargs)

        return await asyncio.to_thread(locked)

    # ------------------------------------------------------------------ files (sync)

    def _dir(self, trace_id: str) -> str:
        """The trace's ``assessments`` directory (which may not exist); 404 without the
        trace."""
        found = self.traces.find_trace_dir(trace_id)
        if found is None:
            raise _trace_not_found(trace_id)
        return os.path.join(found.path, ASSESSMENTS)

    def _path(self, trace_id: str, assessment_id: str) -> str:
        """MLflow's ``_get_assessment_path``: the id is checked before the trace is looked
        up."""
        _check_id(assessment_id)
        return os.path.join(self._dir(trace_id), assessment_id + _SUFFIX)

    def _load(self, trace_id: str, assessment_id: str) -> Assessment:
        """MLflow's ``_load_assessment``: 404 when missing, 500 when unreadable."""
        path = self._path(trace_id, assessment_id)
        if not os.path.isfile(path):
            raise _assessment_not_found(trace_id, assessment_id)
        try:
            return assessment_from_yaml(read_yaml_file(path))
        except (MalformedError, OSError) as exc:
            raise Internal(
                f"Failed to load assessment with ID '{assessment_id}' for trace '{trace_id}': {exc}"
            ) from None

    @staticmethod
    def _save(directory: str, a: Assessment) -> None:
        os.makedirs(directory, exist_ok=True)
        write_yaml_file(os.path.join(directory, a.assessment_id + _SUFFIX), _stored(a))

    def _read_all(self, trace_id: str) -> list[Assessment]:
        """The trace's assessments in directory order (as MLflow lists them); files that are
        not ``<id>.yaml`` or unreadable are skipped with a warning (MLflow fails the whole
        trace read). None of this raises for a missing trace."""
        found = self.traces.find_trace_dir(trace_id)
        if found is None:
            return []
        directory = os.path.join(found.path, ASSESSMENTS)
        try:
            names = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return []
        out: list[Assessment] = []
        for name in names:
            if name.startswith(".") or not name.endswith(_SUFFIX):
                continue  # our own temporary files among them
            try:
                out.append(assessment_from_yaml(read_yaml_file(os.path.join(directory, name))))
            except (MalformedError, OSError) as exc:
                log.warning("Malformed assessment %s of trace %s: %s", name, trace_id, exc)
        return out

    # ------------------------------------------------------------------ protocol

    async def create_assessment(self, trace_id: str, new: NewAssessment) -> Assessment:
        """Write ``new`` on the trace with a new id, the current time and ``valid``; the one
        it ``overrides`` (of this trace) is rewritten ``valid: false`` first. 404 for a
        missing trace or ``overrides`` target."""

        def write() -> Assessment:
            directory = self._dir(trace_id)
            created = created_assessment(new, trace_id, now_ms())
            if new.overrides:
                original = self._load(trace_id, new.overrides)
                self._save(directory, replace(original, valid=False))
            self._save(directory, created)
            return created

        return await self._write(write)

    async def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """The assessment: 400 for an id that is no file name, 404 naming the trace or the
        assessment, whichever is missing."""
        return await self._io(self._load, trace_id, assessment_id)

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
        """Rewrite the assessment with what is given (None keeps it), ``last_update_time``
        now; answer the result.

        As MLflow's file store: source, span, creation time, ``overrides`` and ``valid``
        never change; ``metadata`` is merged into the stored map; a feedback value replaces
        the error too; an expectation never keeps a rationale. 400 for both values at once, a
        value of the other kind, or any update of an issue reference (MLflow answers 500);
        404 as :meth:`get_assessment`."""

        def write() -> Assessment:
            changed = replace(
                updated_assessment(
                    self._load(trace_id, assessment_id),
                    name=name,
                    feedback=feedback,
                    expectation=expectation,
                    rationale=rationale,
                    metadata=metadata,
                ),
                trace_id=trace_id,
            )
            self._save(os.path.dirname(self._path(trace_id, assessment_id)), changed)
            return changed

        return await self._write(write)

    async def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete the file (and the ``assessments`` folder once empty); the assessment it
        overrode, if still there, becomes valid again with ``last_update_time`` now. 404 for
        a missing trace; a missing assessment is not an error."""

        def write() -> None:
            self._dir(trace_id)  # MLflow checks the trace before the id
            path = self._path(trace_id, assessment_id)
            if not os.path.exists(path):
                return
            try:
                overrides = self._load(trace_id, assessment_id).overrides
            except Internal:
                overrides = None
            os.remove(path)
            directory = os.path.dirname(path)
            if os.path.isdir(directory) and not os.listdir(directory):
                os.rmdir(directory)
            if overrides:
                try:
                    original = self._load(trace_id, overrides)
                except (ResourceNotFound, Internal, InvalidParameter):
                    return
                self._save(directory, replace(original, valid=True, updated_ms=now_ms()))

        await self._write(write)

    async def assessments_for_traces(
        self, trace_ids: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Per trace id (those with any), the wire JSON of its assessments in directory
        order, as MLflow's file store answers them in ``TraceInfo.assessments``."""

        def read() -> dict[str, list[dict[str, Any]]]:
            out: dict[str, list[dict[str, Any]]] = {}
            for trace_id in dict.fromkeys(trace_ids):
                found = [assessment_json(a) for a in self._read_all(trace_id)]
                if found:
                    out[trace_id] = found
            return out

        return await self._io(read)
