"""Trace search on the file store: filters and orders evaluated in Python, as MLflow 3.18's
``FileStore.search_traces`` does (``SearchTraceUtils.filter``/``sort``/``paginate``).

The filter and ``order_by`` are parsed by :mod:`aiotrack.search.trace_filter` (MLflow's grammar
and messages); then, over every trace of the experiments:

- ``tag``/``metadata`` clauses compare the stored value; ``IS NULL`` is true for a missing key,
  any other comparison with a missing key is false (``!=`` too);
- attributes: ``request_id``, ``timestamp_ms``, ``execution_time_ms``, ``client_request_id``,
  and ``status`` as the v2 status name (``OK``, ``ERROR``, ``IN_PROGRESS``,
  ``TRACE_STATUS_UNSPECIFIED``); a missing value compares false. ``end_time_ms`` (a 500 in
  MLflow's file store) is the start time plus the duration;
- ``span.*``, ``feedback.*``/``expectation.*`` and ``issue.*`` clauses are 400s, raised when a
  trace reaches them (MLflow evaluates clause by clause, so an empty experiment answers none);
- ``RLIKE`` (a 500 there) is a regular-expression search, as the SQL stores do it;
- the order is the ``order_by`` attributes, then ``timestamp_ms DESC`` and ``request_id ASC``
  unless named; a missing value sorts last both ways; ordering by a tag or metadata key (as
  ``name`` and ``run_id`` are) is a 400, as in MLflow;
- page tokens are offsets; a token is answered only when more traces follow.

Only what a page needs is read: ``trace_info.yaml`` of every trace, the tag and metadata files
the filter names, and the whole trace (tags, metadata, assessments) for the traces on the page.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiotrack.errors import InvalidParameter, ResourceNotFound
from aiotrack.search.trace_filter import (
    TraceClause,
    TraceOrder,
    parse_trace_filter,
    parse_trace_order_by,
)
from aiotrack.store.file.layout import MalformedError, list_subdirs, read_text
from aiotrack.store.file.root import FileRoot
from aiotrack.store.file.search import compare
from aiotrack.store.file.trace_layout import (
    METADATA,
    TAGS,
    TRACE_INFO_FILE,
    TRACES,
    read_assessments,
    read_pairs,
    read_trace,
)
from aiotrack.store.pagination import decode_offset, encode_offset
from aiotrack.tracing.entities import TraceInfo, v2_status
from aiotrack.validation import validate_tag_name

__all__ = ["InfoCache", "TraceQuery", "search_trace_infos"]

log = logging.getLogger("aiotrack.store.file")

#: The file store's own bound (the handlers allow 500).
MAX_RESULTS = 50000
#: MLflow's ``SearchTraceUtils.VALID_SEARCH_ATTRIBUTE_KEYS``, for its "Invalid search key"
#: message (sorted here: MLflow prints a set, in an order that changes between processes).
_SEARCH_KEYS = (
    "client_request_id", "end_time", "end_time_ms", "execution_time", "execution_time_ms",
    "name", "prompt", "request_id", "run_id", "status", "text", "timestamp", "timestamp_ms",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """A search as asked: experiments, filter, order, page bounds (checked by
    `search_trace_infos`, in MLflow's order)."""

    experiment_ids: tuple[str, ...]
    filter_string: str | None
    order_by: tuple[str, ...]
    page_token: str | None
    max_results: int


def _check_bounds(query: TraceQuery) -> None:
    invalid = [e for e in query.experiment_ids if "." in e]
    if invalid:
        shown = ", ".join(invalid)
        shown = shown[:20] + "..." if len(shown) > 20 else shown
        raise InvalidParameter(
            f"Locations must be a list of experiment IDs. Found invalid experiment IDs: {shown}."
        )
    if query.max_results < 1:
        raise InvalidParameter(
            f"Invalid value {query.max_results} for parameter 'max_results' supplied. It must "
            "be a positive integer"
        )
    if query.max_results > MAX_RESULTS:
        raise InvalidParameter(
            "Invalid value for request parameter max_results. It must be at most "
            f"{MAX_RESULTS}, but got value {query.max_results}"
        )


def _sort_keys(orders: Sequence[TraceOrder]) -> tuple[tuple[str, bool], ...]:
    """MLflow's ``_get_sort_key``: attributes only, then its two tie-breakers."""
    keys: list[tuple[str, bool]] = []
    for o in orders:
        if o.entity != "attribute":
            raise InvalidParameter(f"Invalid order_by entity `{o.entity}` with key `{o.key}`")
        keys.append((o.key, o.ascending))
    if not any(k == "timestamp_ms" for k, _ in keys):
        keys.append(("timestamp_ms", False))
    if not any(k == "request_id" for k, _ in keys):
        keys.append(("request_id", True))
    return tuple(keys)


def _attribute(info: TraceInfo, key: str) -> Any:
    """The value MLflow's ``getattr(trace_info, key)`` gives (its v2 aliases)."""
    if key == "request_id":
        return info.trace_id
    if key == "timestamp_ms":
        return info.request_time
    if key == "execution_time_ms":
        return info.execution_duration
    if key == "end_time_ms":
        if info.execution_duration is None:
            return None
        return info.request_time + info.execution_duration
    if key == "status":
        return v2_status(info.state)
    if key == "client_request_id":
        return info.client_request_id
    if key == "experiment_id":
        return info.experiment_id
    return None


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidParameter(f"Invalid regular expression '{pattern}': {exc}") from None


def _matches(info: TraceInfo, c: TraceClause) -> bool:
    """One clause of ``SearchTraceUtils._does_trace_match_clause``."""
    if c.entity in ("tag", "request_metadata"):
        values = info.tags if c.entity == "tag" else info.metadata
        if c.op == "IS NULL":
            return c.key not in values
        if c.op == "IS NOT NULL":
            return c.key in values
        lhs: Any = values.get(c.key)
    elif c.entity == "attribute":
        lhs = _attribute(info, c.key)
    elif c.entity == "span":
        raise InvalidParameter(
            "Span filtering requires database support and cannot be performed on in-memory "
            "trace data."
        )
    elif c.entity in ("feedback", "expectation"):
        raise InvalidParameter(
            "Assessment filtering requires database support and cannot be performed on "
            "in-memory trace data."
        )
    else:
        supported = "{" + ", ".join(repr(k) for k in _SEARCH_KEYS) + "}"
        raise InvalidParameter(f"Invalid search key '{c.key}', supported are {supported}")
    if lhs is None:
        return False
    if c.op == "RLIKE":
        return isinstance(lhs, str) and _regex(str(c.value)).search(lhs) is not None
    return compare(c.op, lhs, c.value)


class _Last:
    """One sort key: ``None`` last whatever the direction (MLflow's ``_Reversor`` puts it
    last descending; ascending it fails there)."""

    __slots__ = ("ascending", "value")

    def __init__(self, value: Any, ascending: bool) -> None:
        self.value = value
        self.ascending = ascending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Last) and other.value == self.value

    def __lt__(self, other: _Last) -> bool:
        if self.value is None:
            return False
        if other.value is None:
            return True
        try:
            if self.ascending:
                return bool(self.value < other.value)
            return bool(other.value < self.value)
        except TypeError:  # a hand-edited yaml: compare as text
            a, b = str(self.value), str(other.value)
            return a < b if self.ascending else b < a

    __hash__ = None  # type: ignore[assignment]


def _keys(clauses: Sequence[TraceClause], entity: str) -> tuple[str, ...]:
    """The keys of ``entity`` the clauses name that can be file names (any other key names
    no stored file: it is missing from every trace)."""
    keys: list[str] = []
    for c in clauses:
        if c.entity != entity or c.key in keys:
            continue
        try:
            validate_tag_name(c.key)  # what every stored key passed: no "..", no absolute path
        except InvalidParameter:
            continue
        keys.append(c.key)
    return tuple(keys)


def _read_keys(trace_dir: str, folder: str, keys: Sequence[str]) -> dict[str, str]:
    """The values of those of ``keys`` the trace has in ``folder``."""
    values: dict[str, str] = {}
    for key in keys:
        path = os.path.join(trace_dir, folder, key)
        try:
            values[key] = read_text(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
    return values


class InfoCache:
    """Parsed ``trace_info.yaml`` files, reused while a file keeps its modification time and
    size: a search reads every trace's info, and a trace's info is written once (the v2 end of
    a trace rewrites it, which changes both). At most ``limit`` entries are kept."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._entries: dict[str, tuple[int, int, TraceInfo]] = {}

    def read(self, trace_dir: str) -> TraceInfo:
        """A fresh copy of the trace's info, without tags, metadata and assessments."""
        path = os.path.join(trace_dir, TRACE_INFO_FILE)
        try:
            stat = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise MalformedError(f"Yaml file '{path}' does not exist.") from None
        cached = self._entries.get(path)
        if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
            info = read_trace(trace_dir, tags=False, metadata=False, assessments=False)
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[path] = (stat.st_mtime_ns, stat.st_size, info)
        else:
            info = cached[2]
        return replace(info, tags={}, metadata={}, assessments=[])


def _trace_dirs(root: FileRoot, experiment_id: str) -> list[str]:
    """The experiment's trace directories (404 for an unknown experiment, as MLflow)."""
    exp_dir = root.experiment_dir(experiment_id)
    if exp_dir is None:
        raise ResourceNotFound(f"Experiment {experiment_id} does not exist.")
    traces_dir = os.path.join(exp_dir, TRACES)
    return [os.path.join(traces_dir, name) for name in list_subdirs(traces_dir)]


def search_trace_infos(
    root: FileRoot, query: TraceQuery, infos: InfoCache
) -> tuple[list[TraceInfo], str | None]:
    """The page of traces ``query`` asks for, and the next page's token (blocking I/O).

    Errors come in MLflow's order: bad locations or ``max_results``, an unknown experiment
    (404), the filter, the ``order_by``, the page token; then clause errors as traces reach
    them."""
    _check_bounds(query)
    dirs = [d for e in dict.fromkeys(query.experiment_ids) for d in _trace_dirs(root, e)]
    clauses = parse_trace_filter(query.filter_string)
    order = _sort_keys(parse_trace_order_by(query.order_by))
    offset = decode_offset(query.page_token)
    # Only the tag and metadata files the filter names are read for matching; the page's
    # traces are then read whole.
    tag_keys = _keys(clauses, "tag")
    metadata_keys = _keys(clauses, "request_metadata")
    found: list[tuple[TraceInfo, str]] = []
    for trace_dir in dirs:
        try:
            info = infos.read(trace_dir)
        except MalformedError as exc:
            name = os.path.basename(trace_dir)
            log.warning("Malformed trace with ID '%s'. Detailed error %s", name, exc)
            continue
        info.tags = _read_keys(trace_dir, TAGS, tag_keys)
        info.metadata = _read_keys(trace_dir, METADATA, metadata_keys)
        if all(_matches(info, c) for c in clauses):
            found.append((info, trace_dir))
    found.sort(key=lambda item: tuple(_Last(_attribute(item[0], k), asc) for k, asc in order))
    end = offset + query.max_results
    page = found[offset:end]
    for info, trace_dir in page:
        info.tags = read_pairs(trace_dir, TAGS)
        info.metadata = read_pairs(trace_dir, METADATA)
        info.assessments = read_assessments(trace_dir)
    token = encode_offset(end) if end < len(found) else None
    return [info for info, _ in page], token
