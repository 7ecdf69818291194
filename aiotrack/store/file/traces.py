"""``FileTraceStore``: the :class:`~aiotrack.store.trace_base.TraceStore` over an ``mlruns`` dir.

Semantics and messages are those of MLflow 3.18's ``FileStore`` (``start_trace``,
``get_trace_info``, ``search_traces``, ``set_trace_tag``/``delete_trace_tag``,
``_delete_traces``, the v2 ``deprecated_start_trace_v2``/``deprecated_end_trace_v2``), on the
layout of :mod:`aiotrack.store.file.trace_layout`. Spans are never stored here: the client
uploads them as ``traces.json`` into the trace's artifact location, and OTLP ingest answers 501.
Where MLflow answers a 500 for a client's mistake (an unknown experiment with no traces
folder, a trace started twice, an unknown search key), this store answers a 4xx.

As in :mod:`aiotrack.store.file.tracking`, every method does all its file I/O in one
``asyncio.to_thread`` call, and writes hold the root's lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from aiotrack.errors import (
    InvalidParameter,
    InvalidState,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from aiotrack.store.entities import ViewType
from aiotrack.store.file import experiments as exps
from aiotrack.store.file.layout import MalformedError, list_subdirs
from aiotrack.store.file.root import FileRoot, validate_experiment_id
from aiotrack.store.file.trace_layout import (
    METADATA,
    TAGS,
    TRACE_DATA_FILE,
    TRACE_INFO_FILE,
    TRACES,
    TraceDir,
    assessment_json,
    is_path_component,
    local_path,
    read_trace,
    read_trace_data,
    write_assessment,
    write_pairs,
    write_trace_info,
)
from aiotrack.store.file.trace_search import InfoCache, TraceQuery, search_trace_infos
from aiotrack.store.trace_base import TraceNotFound
from aiotrack.tracing.assessments import Assessment, NewAssessment, created_assessment, now_ms
from aiotrack.tracing.assessments import assessment_json as wire_assessment
from aiotrack.tracing.entities import ARTIFACT_LOCATION_TAG, TraceInfo
from aiotrack.uris import append_path
from aiotrack.validation import invalid_value, validate_tag_name

__all__ = ["FileTraceStore"]

log = logging.getLogger("aiotrack.store.file")

P = ParamSpec("P")
R = TypeVar("R")

#: A ``traces.json`` larger than this is not loaded into an answer.
MAX_TRACE_DATA_BYTES = 256 * 1024 * 1024


def _not_found(trace_id: str) -> TraceNotFound:
    # The file store's message has no closing period (the SQL store's has one).
    return TraceNotFound(f"Trace with ID '{trace_id}' not found")


def _invalid_state(trace_id: str) -> InvalidState:
    return InvalidState(f"Trace with ID '{trace_id}' metadata is in invalid state.")


def _check_new_trace_id(trace_id: str) -> None:
    """MLflow's ``_validate_new_trace_id``: a single path component that is also safe inside
    the trace's artifact URI."""
    if not is_path_component(trace_id):
        raise InvalidParameter(
            invalid_value("trace_id", trace_id, "must be a single path component")
        )
    if any(c in "%?#" or ord(c) < 32 or ord(c) == 127 for c in trace_id):
        raise InvalidParameter(
            invalid_value(
                "trace_id", trace_id, "must not contain '%', '?', '#' or control characters"
            )
        )


def _check_delete_arguments(
    max_timestamp_millis: int | None, max_traces: int | None, trace_ids: Sequence[str]
) -> None:
    """``AbstractStore.delete_traces``'s checks, in its order."""
    if max_timestamp_millis is None and not trace_ids:
        raise InvalidParameter("Either `max_timestamp_millis` or `trace_ids` must be specified.")
    if max_timestamp_millis is not None and trace_ids:
        raise InvalidParameter(
            "Only one of `max_timestamp_millis` and `trace_ids` can be specified."
        )
    if trace_ids and max_traces is not None:
        raise InvalidParameter("`max_traces` can't be specified if `trace_ids` is specified.")
    if max_traces is not None and max_traces <= 0:
        raise InvalidParameter(f"`max_traces` must be a positive integer, received {max_traces}.")


def _remove_tree(path: str) -> None:
    """Remove a trace directory; a symlink (or file) in its place is unlinked, never
    followed."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)


def _as_sent(new: NewAssessment, trace_id: str) -> dict[str, Any]:
    """A carried assessment's proto JSON as the client sent it (no id unless it chose one;
    ``valid`` on feedback only): what MLflow's ``trace_info.yaml`` lists."""
    now = now_ms()
    sent = wire_assessment(
        Assessment(
            assessment_id=new.assessment_id or "",
            trace_id=trace_id,
            name=new.name,
            kind=new.kind,
            value=new.value,
            source_type=new.source_type,
            source_id=new.source_id,
            created_ms=new.create_time_ms or now,
            updated_ms=new.last_update_time_ms or new.create_time_ms or now,
            error=new.error,
            rationale=new.rationale,
            metadata=new.metadata,
            span_id=new.span_id,
            overrides=new.overrides,
        )
    )
    if new.kind != "feedback":  # MLflow's Feedback entity is valid unless told otherwise
        sent.pop("valid", None)
    if not new.assessment_id:
        sent.pop("assessment_id", None)
    return sent


def _created(new: NewAssessment, trace_id: str) -> dict[str, Any]:
    """What MLflow's ``create_assessment`` stores for a carried assessment: a new id, created
    and updated now, valid."""
    return wire_assessment(created_assessment(new, trace_id, now_ms(), links=False))


class FileTraceStore:
    """MLflow's file-store traces, served asynchronously, for the mlruns ``root``."""

    def __init__(self, root: FileRoot) -> None:
        self.root = root
        #: Trace id -> experiment id of traces found: a lookup is then one ``stat``.
        self._experiments: dict[str, str] = {}
        self._infos = InfoCache()

    async def _io(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        def locked() -> R:
            with self.root.lock:
                return fn(*args, **kwargs)

        return await asyncio.to_thread(locked)

    # ------------------------------------------------------------------ finding (sync)

    def _find(self, trace_id: str) -> TraceDir | None:
        """The trace's directory in any experiment, active or deleted (MLflow's
        ``_find_trace_dir``); None when there is none."""
        if not is_path_component(trace_id):
            return None  # no directory entry can be named like that
        known = self._experiments.get(trace_id)
        candidates = [known] if known is not None else []
        candidates += self.root.active_experiment_ids() + self.root.deleted_experiment_ids()
        for experiment_id in candidates:
            exp_dir = self.root.experiment_dir(experiment_id)
            if exp_dir is None:
                continue
            path = os.path.join(exp_dir, TRACES, trace_id)
            if os.path.isdir(path):
                if len(self._experiments) > 1_000_000:
                    self._experiments.clear()
                self._experiments[trace_id] = experiment_id
                return TraceDir(trace_id, path, experiment_id)
        self._experiments.pop(trace_id, None)
        return None

    def _require(self, trace_id: str) -> TraceDir:
        found = self._find(trace_id)
        if found is None:
            raise _not_found(trace_id)
        return found

    def find_trace_dir(self, trace_id: str) -> TraceDir | None:
        """Synchronous (call it in a worker thread): the trace's directory in any experiment,
        active or deleted, or None; for the file assessment store, which shares this lookup
        and its cache."""
        return self._find(trace_id)

    def _load(self, trace_id: str) -> tuple[TraceInfo, TraceDir]:
        """MLflow's ``_get_trace_info_and_dir``: 404 when missing, INVALID_STATE when the
        stored info is unreadable or names another trace."""
        found = self._require(trace_id)
        if not os.path.isfile(os.path.join(found.path, TRACE_INFO_FILE)):
            raise _not_found(trace_id)
        try:
            info = read_trace(found.path)
        except MalformedError as exc:
            log.warning("Malformed trace %s: %s", trace_id, exc)
            raise _invalid_state(trace_id) from None
        if info.trace_id != trace_id:
            raise _invalid_state(trace_id)
        return info, found

    def _active_experiment_dir(self, experiment_id: str) -> str:
        validate_experiment_id(experiment_id)
        exp_dir = self.root.experiment_dir(experiment_id, ViewType.ACTIVE_ONLY)
        if exp_dir is None:
            raise ResourceNotFound(f"Experiment {experiment_id} does not exist.")
        return exp_dir

    def _create(
        self, info: TraceInfo, exp_dir: str, assessments: Sequence[NewAssessment] = ()
    ) -> TraceInfo:
        """Write a new trace into ``exp_dir`` (tags get the artifact location), with the
        assessments it carries (MLflow's ``start_trace`` creates each: a new id, the current
        time, valid)."""
        for key in (*info.metadata, *info.tags):
            validate_tag_name(key)  # before anything is written: each becomes a file name
        for new in assessments:
            if new.overrides:  # a new trace holds no assessment yet (MLflow fails halfway)
                raise ResourceNotFound(
                    f"Assessment with ID '{new.overrides}' not found for trace '{info.trace_id}'"
                )
        location = exps.get_experiment(self.root, info.experiment_id).artifact_location or ""
        info.tags = {
            **info.tags,
            ARTIFACT_LOCATION_TAG: append_path(location, TRACES, info.trace_id, "artifacts"),
        }
        trace_dir = os.path.join(exp_dir, TRACES, info.trace_id)
        os.makedirs(trace_dir, exist_ok=True)
        sent = [_as_sent(new, info.trace_id) for new in assessments]
        try:
            write_trace_info(trace_dir, info, overwrite=False, assessments=sent)
        except FileExistsError:
            raise ResourceAlreadyExists(
                f"Trace with ID '{info.trace_id}' already exists."
            ) from None
        write_pairs(trace_dir, METADATA, info.metadata)
        write_pairs(trace_dir, TAGS, info.tags)
        self._experiments[info.trace_id] = info.experiment_id
        info.assessments = []
        for new in assessments:
            stored = _created(new, info.trace_id)
            write_assessment(trace_dir, stored)
            info.assessments.append(assessment_json(stored))
        return info

    # ------------------------------------------------------------------ start

    async def start_trace(
        self, info: TraceInfo, assessments: Sequence[NewAssessment] = ()
    ) -> TraceInfo:
        """Record a finished trace's info (``StartTraceV3``) in an active experiment, with
        the assessments it carries (each gets a new id). A trace id that is already stored is
        a 400 ``RESOURCE_ALREADY_EXISTS``."""
        validate_experiment_id(info.experiment_id)
        _check_new_trace_id(info.trace_id)

        def write() -> TraceInfo:
            exp_dir = self._active_experiment_dir(info.experiment_id)
            return self._create(info, exp_dir, assessments)

        return await self._write(write)

    async def start_trace_v2(
        self, experiment_id: str, timestamp_ms: int, metadata: dict[str, str], tags: dict[str, str]
    ) -> TraceInfo:
        """The deprecated v2 ``StartTrace``: a new in-progress trace with a uuid id."""
        info = TraceInfo(
            trace_id=uuid.uuid4().hex,
            experiment_id=experiment_id,
            request_time=timestamp_ms,
            execution_duration=None,
            state="IN_PROGRESS",
            tags=dict(tags),
            metadata=dict(metadata),
        )

        def write() -> TraceInfo:
            return self._create(info, self._active_experiment_dir(experiment_id))

        return await self._write(write)

    async def end_trace_v2(
        self,
        trace_id: str,
        timestamp_ms: int,
        state: str,
        metadata: dict[str, str],
        tags: dict[str, str],
    ) -> TraceInfo:
        """The deprecated v2 ``EndTrace``: execution time and state set, metadata and tags
        merged, and the whole trace rewritten."""
        for key in (*metadata, *tags):
            validate_tag_name(key)

        def write() -> TraceInfo:
            info, found = self._load(trace_id)
            info.execution_duration = timestamp_ms - info.request_time
            info.state = state
            info.metadata.update(metadata)
            info.tags.update(tags)
            write_trace_info(found.path, info, overwrite=True, assessments=info.assessments)
            write_pairs(found.path, METADATA, info.metadata)
            write_pairs(found.path, TAGS, info.tags)
            return info

        return await self._write(write)

    # ------------------------------------------------------------------ reads

    async def get_trace_info(self, trace_id: str) -> TraceInfo:
        """The trace's info with its tags, metadata and assessments (404 when missing)."""
        return await self._io(lambda: self._load(trace_id)[0])

    async def batch_get_trace_infos(
        self, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
    ) -> list[TraceInfo]:
        """The infos of the traces that exist (in the order asked; unknown or unreadable ids
        are left out), only those of ``experiment_ids`` when given."""
        wanted = None if experiment_ids is None else {str(e) for e in experiment_ids}

        def read() -> list[TraceInfo]:
            out: list[TraceInfo] = []
            for trace_id in dict.fromkeys(trace_ids):
                try:
                    info = self._load(trace_id)[0]
                except (TraceNotFound, InvalidState):
                    continue
                if wanted is None or info.experiment_id in wanted:
                    out.append(info)
            return out

        return await self._io(read)

    async def get_span_contents(self, trace_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each trace's spans from the ``traces.json`` in its artifact location, in the
        file's order, when that location is a local directory inside the store root (other
        locations are read by the handlers through the artifact repositories)."""

        def read() -> dict[str, list[str]]:
            real_root = os.path.realpath(self.root.root)
            out: dict[str, list[str]] = {}
            for trace_id in dict.fromkeys(trace_ids):
                found = self._find(trace_id)
                if found is None:
                    continue
                try:
                    location = read_trace(found.path, metadata=False, assessments=False).tags.get(
                        ARTIFACT_LOCATION_TAG
                    )
                except MalformedError:
                    continue
                directory = local_path(location) if location else None
                if directory is None:
                    continue
                path = os.path.realpath(os.path.join(directory, TRACE_DATA_FILE))
                if not path.startswith(real_root + os.sep):
                    continue
                spans = read_trace_data(path, MAX_TRACE_DATA_BYTES)
                if spans is not None:
                    out[trace_id] = spans
            return out

        return await self._io(read)

    async def search_traces(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[TraceInfo], str | None]:
        """A page of the experiments' traces matching the filter, evaluated in Python as
        MLflow's file store does (see :mod:`aiotrack.store.file.trace_search`)."""
        query = TraceQuery(
            tuple(experiment_ids), filter_string, tuple(order_by), page_token, max_results
        )
        return await self._io(search_trace_infos, self.root, query, self._infos)

    # ------------------------------------------------------------------ tags

    async def set_trace_tag(self, trace_id: str, key: str, value: str | None) -> None:
        def write() -> None:
            found = self._require(trace_id)
            write_pairs(found.path, TAGS, {key: value or ""})

        await self._write(write)

    async def delete_trace_tag(self, trace_id: str, key: str) -> None:
        validate_tag_name(key)

        def write() -> None:
            found = self._require(trace_id)
            path = os.path.join(found.path, TAGS, key)
            if not os.path.isfile(path):
                raise ResourceNotFound(f"No tag with name: {key} in trace with ID {trace_id}.")
            os.remove(path)

        await self._write(write)

    # ------------------------------------------------------------------ delete

    async def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None,
        max_traces: int | None,
        trace_ids: Sequence[str],
    ) -> int:
        """Delete by ids, or the oldest traces up to a timestamp (at most ``max_traces``, the
        oldest first); answers how many were deleted. Their directories go whole."""
        _check_delete_arguments(max_timestamp_millis, max_traces, trace_ids)
        for trace_id in trace_ids:
            if not is_path_component(trace_id):
                raise InvalidParameter(
                    invalid_value("trace_id", trace_id, "must be a single path component")
                )

        def write() -> int:
            exp_dir = self.root.experiment_dir(experiment_id)
            if exp_dir is None:
                raise ResourceNotFound(f"Experiment {experiment_id} does not exist.")
            traces_dir = os.path.join(exp_dir, TRACES)
            if trace_ids:
                doomed = [
                    t
                    for t in dict.fromkeys(trace_ids)
                    if os.path.lexists(os.path.join(traces_dir, t))
                ]
            else:
                assert max_timestamp_millis is not None
                doomed = self._oldest(traces_dir, max_timestamp_millis, max_traces)
            for trace_id in doomed:
                _remove_tree(os.path.join(traces_dir, trace_id))
                self._experiments.pop(trace_id, None)
            return len(doomed)

        return await self._write(write)

    @staticmethod
    def _oldest(traces_dir: str, max_timestamp_millis: int, max_traces: int | None) -> list[str]:
        """Directory names of the traces started at or before ``max_timestamp_millis``,
        oldest first (ties by id), at most ``max_traces`` of them."""
        candidates: list[tuple[int, str]] = []
        for name in list_subdirs(traces_dir):
            try:
                info = read_trace(
                    os.path.join(traces_dir, name), tags=False, metadata=False, assessments=False
                )
            except MalformedError as exc:
                log.warning("Malformed trace with ID '%s'. Detailed error %s", name, exc)
                continue
            if info.request_time <= max_timestamp_millis:
                candidates.append((info.request_time, name))
        candidates.sort()
        if max_traces is not None:
            candidates = candidates[:max_traces]
        return [name for _, name in candidates]

    # ------------------------------------------------------------------ links

    async def link_traces_to_run(self, trace_ids: Sequence[str], run_id: str) -> None:
        raise InvalidParameter(
            "Linking traces to runs is not supported in FileStore. Please use a "
            "database-backed store (e.g., SQLAlchemy store) for this feature."
        )

    async def link_prompts_to_trace(
        self, trace_id: str, prompts: Sequence[tuple[str, int]]
    ) -> None:
        raise InvalidParameter(
            "Linking prompts to traces is not supported in FileStore. Please use a "
            "database-backed store (e.g., SQLAlchemy store) for this feature."
        )
