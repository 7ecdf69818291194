"""MLflow 3 traces in the tracking database: trace infos, tags, metadata, spans and links.

Same tables and rows as MLflow 3.18's ``SqlAlchemyStore``: a trace is a ``trace_info`` row
(``request_id`` is the trace id) with ``trace_tags`` and ``trace_request_metadata``; its spans
are ``spans`` rows whose ``content`` is the span's JSON. Session id, token usage and cost are
columns of ``trace_info`` (MLflow's "promoted" metadata) and are answered as the metadata
entries MLflow synthesises from them. Spans arrive through OTLP (``SpanWriter``, group
commit) before or after the client's ``StartTraceV3``; whichever comes second merges.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from aiotrack.errors import InvalidParameter, ResourceNotFound
from aiotrack.store.sql.assessments import write_trace_assessments
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.dialects import insert_ignore, upsert
from aiotrack.store.sql.schema.logged_models import SqlEntityAssociation
from aiotrack.store.sql.schema.traces import (
    SqlAssessments,
    SqlSpan,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceTag,
)
from aiotrack.store.sql.schema.tracking import SqlExperiment, SqlRun
from aiotrack.store.sql.trace_search import (
    decode_trace_page_token,
    encode_trace_page_token,
    trace_search_query,
)
from aiotrack.store.trace_base import TraceNotFound
from aiotrack.tracing.analytics import (
    COST_COLUMNS,
    FINALIZED_KEY,
    PROMOTED_METADATA_KEYS,
    TOKEN_COLUMNS,
    analytics_columns,
    promoted_metadata,
    validate_trace_name,
    validate_trace_tag,
)
from aiotrack.tracing.assessments import NewAssessment
from aiotrack.tracing.entities import (
    ARTIFACT_LOCATION_TAG,
    TRACE_NAME_TAG,
    TraceInfo,
)
from aiotrack.uris import append_path
from aiotrack.validation import parse_experiment_id

__all__ = ["SqlTraceStore", "load_trace_infos", "trace_artifact_location"]

TI, TT, TM, SP = SqlTraceInfo, SqlTraceTag, SqlTraceMetadata, SqlSpan
EA = SqlEntityAssociation

MAX_TRACE_LINKS_PER_REQUEST = 100
#: Filters longer than this are parsed and compiled to SQL in a thread.
_INLINE_FILTER_CHARS = 2_000
#: Ids per ``IN (...)`` list: well under SQLite's bound-parameter cap.
_CHUNK = 500

_INFO_COLUMNS = (
    TI.request_id,
    TI.experiment_id,
    TI.timestamp_ms,
    TI.execution_time_ms,
    TI.status,
    TI.client_request_id,
    TI.request_preview,
    TI.response_preview,
    TI.trace_name,
    TI.session_id,
    *(getattr(TI, c) for c in TOKEN_COLUMNS.values()),
    *(getattr(TI, c) for c in COST_COLUMNS.values()),
)


def trace_artifact_location(experiment_artifact_location: str, trace_id: str) -> str:
    """``<experiment location>/traces/<trace id>/artifacts``, the trace's artifact root."""
    return append_path(experiment_artifact_location, "traces", trace_id, "artifacts")


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def load_trace_infos(conn: Connection, trace_ids: Sequence[str]) -> dict[str, TraceInfo]:
    """The infos of those of ``trace_ids`` that exist (tags and metadata loaded, no
    assessments), by id."""
    ids = list(dict.fromkeys(trace_ids))
    infos: dict[str, TraceInfo] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(select(*_INFO_COLUMNS).where(TI.request_id.in_(chunk))).all()
        for row in rows:
            info = TraceInfo(
                trace_id=row.request_id,
                experiment_id=str(row.experiment_id),
                request_time=row.timestamp_ms,
                execution_duration=row.execution_time_ms,
                state=row.status,
                client_request_id=row.client_request_id,
                request_preview=row.request_preview,
                response_preview=row.response_preview,
            )
            info.metadata.update(promoted_metadata(row))
            if row.trace_name is not None:
                info.tags[TRACE_NAME_TAG] = row.trace_name
            infos[row.request_id] = info
        found = [i for i in chunk if i in infos]
        if not found:
            continue
        for rid, key, value in conn.execute(
            select(TT.request_id, TT.key, TT.value).where(TT.request_id.in_(found))
        ):
            if key != TRACE_NAME_TAG:
                infos[rid].tags[key] = value or ""
        for rid, key, value in conn.execute(
            select(TM.request_id, TM.key, TM.value).where(TM.request_id.in_(found))
        ):
            if key not in PROMOTED_METADATA_KEYS:
                infos[rid].metadata[key] = value or ""
    return infos


def _experiment(conn: Connection, experiment_id: str, *, active: bool = True) -> Any:
    exp_id = parse_experiment_id(experiment_id)
    row = conn.execute(
        select(
            SqlExperiment.experiment_id,
            SqlExperiment.artifact_location,
            SqlExperiment.lifecycle_stage,
        ).where(SqlExperiment.experiment_id == exp_id)
    ).first()
    if row is None:
        raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
    if active and row.lifecycle_stage != "active":
        raise InvalidParameter(
            f"The experiment {exp_id} must be in the 'active' state. "
            f"Current state is {row.lifecycle_stage}."
        )
    return row


class SqlTraceStore:
    """Traces of the tracking database (reads, tags, deletes, links, ``StartTraceV3``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- start ------------------------------------------------------------------------------

    async def start_trace(
        self, info: TraceInfo, assessments: Sequence[NewAssessment] = ()
    ) -> TraceInfo:
        """Record a finished trace's info (``StartTraceV3``) and the assessments it carries;
        merge with what its spans already wrote when they arrived first. Answers the stored
        info (without assessments)."""
        trace_name = validate_trace_name(info.tags.get(TRACE_NAME_TAG))
        metadata = dict(info.metadata)
        columns = analytics_columns(metadata)
        for key in PROMOTED_METADATA_KEYS:
            metadata.pop(key, None)
        metadata[FINALIZED_KEY] = "true"
        for key, value in info.tags.items():
            validate_trace_tag(key, value)

        def write(conn: Connection) -> TraceInfo:
            exp = _experiment(conn, info.experiment_id)
            trace_id = info.trace_id
            tags = {k: v for k, v in info.tags.items() if k != TRACE_NAME_TAG}
            tags[ARTIFACT_LOCATION_TAG] = trace_artifact_location(
                exp.artifact_location or "", trace_id
            )
            values = {
                "experiment_id": exp.experiment_id,
                "timestamp_ms": info.request_time,
                "execution_time_ms": info.execution_duration,
                "status": info.state,
                "client_request_id": info.client_request_id,
                **columns,
            }
            existing = conn.execute(
                _for_update(select(TI.request_id).where(TI.request_id == trace_id), self.db)
            ).first()
            if existing is None:
                inserted = conn.execute(
                    insert_ignore(self.db.dialect, TI.__table__).values(
                        request_id=trace_id,
                        request_preview=info.request_preview,
                        response_preview=info.response_preview,
                        trace_name=trace_name,
                        **values,
                    )
                ).rowcount
                if inserted == 0:  # its spans' first batch won the race: lock it and merge
                    existing = conn.execute(
                        _for_update(select(TI.request_id).where(TI.request_id == trace_id), self.db)
                    ).first()
            if existing is not None:
                if TRACE_NAME_TAG in info.tags:
                    values["trace_name"] = trace_name
                if info.request_preview is not None:
                    values["request_preview"] = info.request_preview
                if info.response_preview is not None:
                    values["response_preview"] = info.response_preview
                conn.execute(update(TI).where(TI.request_id == trace_id).values(**values))
                conn.execute(
                    update(SP)
                    .where(SP.trace_id == trace_id)
                    .values(experiment_id=exp.experiment_id)
                )
                conn.execute(
                    update(SqlAssessments)
                    .where(SqlAssessments.trace_id == trace_id)
                    .values(experiment_id=exp.experiment_id, trace_timestamp_ms=info.request_time)
                )
            _upsert_pairs(conn, self.db.dialect, TT, trace_id, tags)
            _upsert_pairs(conn, self.db.dialect, TM, trace_id, metadata)
            write_trace_assessments(
                conn, trace_id, exp.experiment_id, info.request_time, assessments
            )
            return load_trace_infos(conn, [trace_id])[trace_id]

        return await self.db.run_write(write)

    async def start_trace_v2(
        self, experiment_id: str, timestamp_ms: int, metadata: dict[str, str], tags: dict[str, str]
    ) -> TraceInfo:
        """The deprecated v2 ``StartTrace``: a new in-progress trace with a uuid id."""
        trace_name = validate_trace_name(tags.get(TRACE_NAME_TAG))
        columns = analytics_columns(metadata)
        stored_metadata = {k: v for k, v in metadata.items() if k not in PROMOTED_METADATA_KEYS}

        def write(conn: Connection) -> TraceInfo:
            exp = _experiment(conn, experiment_id)
            trace_id = uuid.uuid4().hex
            conn.execute(
                insert(TI).values(
                    request_id=trace_id,
                    experiment_id=exp.experiment_id,
                    timestamp_ms=timestamp_ms,
                    execution_time_ms=None,
                    status="IN_PROGRESS",
                    trace_name=trace_name,
                    **columns,
                )
            )
            pairs = {k: v for k, v in tags.items() if k != TRACE_NAME_TAG}
            pairs[ARTIFACT_LOCATION_TAG] = trace_artifact_location(
                exp.artifact_location or "", trace_id
            )
            _upsert_pairs(conn, self.db.dialect, TT, trace_id, pairs)
            _upsert_pairs(conn, self.db.dialect, TM, trace_id, stored_metadata)
            return load_trace_infos(conn, [trace_id])[trace_id]

        return await self.db.run_write(write)

    async def end_trace_v2(
        self,
        trace_id: str,
        timestamp_ms: int,
        state: str,
        metadata: dict[str, str],
        tags: dict[str, str],
    ) -> TraceInfo:
        """The deprecated v2 ``EndTrace``: execution time, state, metadata and tags merged."""
        columns = analytics_columns(metadata)
        stored_metadata = {k: v for k, v in metadata.items() if k not in PROMOTED_METADATA_KEYS}
        pairs = dict(tags)
        if TRACE_NAME_TAG in pairs:
            columns["trace_name"] = validate_trace_name(pairs.pop(TRACE_NAME_TAG))

        def write(conn: Connection) -> TraceInfo:
            row = conn.execute(
                _for_update(select(TI.timestamp_ms).where(TI.request_id == trace_id), self.db)
            ).first()
            if row is None:
                raise TraceNotFound(f"Trace with ID '{trace_id}' not found.")
            conn.execute(
                update(TI)
                .where(TI.request_id == trace_id)
                .values(execution_time_ms=timestamp_ms - row.timestamp_ms, status=state, **columns)
            )
            _upsert_pairs(conn, self.db.dialect, TT, trace_id, pairs)
            _upsert_pairs(conn, self.db.dialect, TM, trace_id, stored_metadata)
            return load_trace_infos(conn, [trace_id])[trace_id]

        return await self.db.run_write(write)

    # -- reads ------------------------------------------------------------------------------

    async def get_trace_info(self, trace_id: str) -> TraceInfo:
        infos = await self.db.run_read(lambda conn: load_trace_infos(conn, [trace_id]))
        if trace_id not in infos:
            raise TraceNotFound(f"Trace with ID '{trace_id}' not found.")
        return infos[trace_id]

    async def batch_get_trace_infos(
        self, trace_ids: Sequence[str], experiment_ids: Sequence[str] | None = None
    ) -> list[TraceInfo]:
        """The infos of the traces that exist, in the order asked (unknown ids are left out)."""
        exp_ids = (
            None
            if experiment_ids is None
            else {str(parse_experiment_id(e)) for e in experiment_ids}
        )
        infos = await self.db.run_read(lambda conn: load_trace_infos(conn, trace_ids))
        ordered = [infos[t] for t in dict.fromkeys(trace_ids) if t in infos]
        if exp_ids is not None:
            ordered = [i for i in ordered if i.experiment_id in exp_ids]
        return ordered

    async def get_span_contents(self, trace_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each trace's stored span JSON, root spans first, then by start time."""

        def read(conn: Connection) -> dict[str, list[str]]:
            spans: dict[str, list[tuple[int, int, str]]] = {}
            for chunk in _chunks(list(dict.fromkeys(trace_ids))):
                for tid, content, parent, start in conn.execute(
                    select(
                        SP.trace_id, SP.content, SP.parent_span_id, SP.start_time_unix_nano
                    ).where(SP.trace_id.in_(chunk))
                ):
                    spans.setdefault(tid, []).append((0 if parent is None else 1, start, content))
            return {
                tid: [c for _, _, c in sorted(rows, key=lambda r: (r[0], r[1]))]
                for tid, rows in spans.items()
            }

        return await self.db.run_read(read)

    async def search_traces(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> tuple[list[TraceInfo], str | None]:
        """A page of trace infos matching the filter, in MLflow's order, and the next token."""
        if max_results < 1:
            raise InvalidParameter(
                f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
                "a positive integer"
            )
        exp_ids = [parse_experiment_id(e) for e in experiment_ids]

        def build() -> Any:
            # MLflow's order of checks: order_by, then the filter, then the page token.
            query = trace_search_query(exp_ids, filter_string, order_by, dialect=self.db.dialect)
            offset = decode_trace_page_token(page_token)
            # One row past the page: a token only when something follows.
            return query.offset(offset).limit(max_results + 1), offset

        if len(filter_string or "") > _INLINE_FILTER_CHARS or len(order_by) > 4:
            query, offset = await asyncio.to_thread(build)  # long filters: off the event loop
        else:
            query, offset = build()

        serial = self.db.dialect == "postgresql"

        def read(conn: Connection) -> tuple[list[str], dict[str, TraceInfo]]:
            if serial:
                # A newest-first page walks (experiment_id, timestamp_ms) and stops early; a
                # parallel plan cannot, and took 118 ms where the serial one takes 15 ms
                # (100k traces, tag filter). For this read transaction only.
                conn.exec_driver_sql(
                    "SELECT set_config('max_parallel_workers_per_gather', '0', true)"
                )
            ids = list(conn.execute(query).scalars())
            return ids, load_trace_infos(conn, ids[:max_results])

        ids, infos = await self.db.run_read(read)
        token = encode_trace_page_token(offset + max_results) if len(ids) > max_results else None
        ids = ids[:max_results]
        return [infos[i] for i in ids if i in infos], token

    # -- tags -------------------------------------------------------------------------------

    async def set_trace_tag(self, trace_id: str, key: str, value: str | None) -> None:
        key, value = validate_trace_tag(key, value)
        if key == TRACE_NAME_TAG:
            value = validate_trace_name(value)

        def write(conn: Connection) -> None:
            _require_trace(conn, trace_id)
            if key == TRACE_NAME_TAG:
                conn.execute(update(TI).where(TI.request_id == trace_id).values(trace_name=value))
            else:
                _upsert_pairs(conn, self.db.dialect, TT, trace_id, {key: value})

        await self.db.run_write(write)

    async def delete_trace_tag(self, trace_id: str, key: str) -> None:
        missing = f"No trace tag with key '{key}' for trace with ID '{trace_id}'"

        def write(conn: Connection) -> None:
            if key == TRACE_NAME_TAG:
                done = conn.execute(
                    update(TI)
                    .where(TI.request_id == trace_id, TI.trace_name.is_not(None))
                    .values(trace_name=None)
                ).rowcount
            else:
                done = conn.execute(
                    delete(TT).where(TT.request_id == trace_id, TT.key == key)
                ).rowcount
            if not done:
                raise ResourceNotFound(missing)

        await self.db.run_write(write)

    # -- delete -----------------------------------------------------------------------------

    async def delete_traces(
        self,
        experiment_id: str,
        *,
        max_timestamp_millis: int | None,
        max_traces: int | None,
        trace_ids: Sequence[str],
    ) -> int:
        """Delete by ids, or the oldest traces up to a timestamp (at most ``max_traces``);
        answers how many were deleted. Spans, tags, metadata and assessments go with them."""
        if max_timestamp_millis is None and not trace_ids:
            raise InvalidParameter(
                "Either `max_timestamp_millis` or `trace_ids` must be specified."
            )
        if max_timestamp_millis is not None and trace_ids:
            raise InvalidParameter(
                "Only one of `max_timestamp_millis` and `trace_ids` can be specified."
            )
        if trace_ids and max_traces is not None:
            raise InvalidParameter("`max_traces` can't be specified if `trace_ids` is specified.")
        if max_traces is not None and max_traces <= 0:
            raise InvalidParameter(
                f"`max_traces` must be a positive integer, received {max_traces}."
            )
        exp_id = parse_experiment_id(experiment_id)

        def write(conn: Connection) -> int:
            stmt = select(TI.request_id).where(TI.experiment_id == exp_id)
            if max_timestamp_millis is not None:
                stmt = stmt.where(TI.timestamp_ms <= max_timestamp_millis)
            ids: list[str] = []
            if trace_ids:
                for chunk in _chunks(list(dict.fromkeys(trace_ids))):
                    ids += conn.execute(stmt.where(TI.request_id.in_(chunk))).scalars().all()
            else:
                stmt = stmt.order_by(TI.timestamp_ms, TI.request_id)
                if max_traces is not None:
                    stmt = stmt.limit(max_traces)
                ids = list(conn.execute(stmt).scalars().all())
            for chunk in _chunks(ids):
                # Children first: SQLite enforces no foreign keys unless asked to.
                conn.execute(delete(SqlAssessments).where(SqlAssessments.trace_id.in_(chunk)))
                conn.execute(delete(SP).where(SP.trace_id.in_(chunk)))
                conn.execute(delete(TT).where(TT.request_id.in_(chunk)))
                conn.execute(delete(TM).where(TM.request_id.in_(chunk)))
                conn.execute(delete(EA).where(EA.source_type == "trace", EA.source_id.in_(chunk)))
                conn.execute(delete(TI).where(TI.request_id.in_(chunk)))
            return len(ids)

        return await self.db.run_write(write)

    # -- links ------------------------------------------------------------------------------

    async def link_traces_to_run(self, trace_ids: Sequence[str], run_id: str) -> None:
        if not trace_ids:
            return
        if len(trace_ids) > MAX_TRACE_LINKS_PER_REQUEST:
            raise InvalidParameter(
                f"Cannot link more than {MAX_TRACE_LINKS_PER_REQUEST} traces to a run in "
                f"a single request. Provided {len(trace_ids)} traces."
            )

        def write(conn: Connection) -> None:
            found = conn.execute(select(SqlRun.run_uuid).where(SqlRun.run_uuid == run_id)).first()
            if found is None:
                raise ResourceNotFound(f"Run with id={run_id} not found")
            _associate(
                conn, self.db.dialect, "trace", list(dict.fromkeys(trace_ids)), "run", [run_id]
            )

        await self.db.run_write(write)

    async def link_prompts_to_trace(
        self, trace_id: str, prompts: Sequence[tuple[str, int]]
    ) -> None:
        if not prompts:
            return

        def write(conn: Connection) -> None:
            if conn.execute(select(TI.request_id).where(TI.request_id == trace_id)).first() is None:
                raise ResourceNotFound(f"Trace with ID '{trace_id}' not found.")
            ids = list(dict.fromkeys(f"{name}/{version}" for name, version in prompts))
            _associate(conn, self.db.dialect, "trace", [trace_id], "prompt_version", ids)

        await self.db.run_write(write)


def _require_trace(conn: Connection, trace_id: str) -> None:
    if conn.execute(select(TI.request_id).where(TI.request_id == trace_id)).first() is None:
        raise TraceNotFound(f"Trace with ID '{trace_id}' not found.")


def _for_update(stmt: Any, db: Database) -> Any:
    return stmt if db.is_sqlite else stmt.with_for_update()


def _upsert_pairs(
    conn: Connection, dialect: str, table: Any, trace_id: str, pairs: Mapping[str, str | None]
) -> None:
    """Insert or overwrite ``key -> value`` rows of ``trace_tags`` / ``trace_request_metadata``,
    in key order (concurrent writers then take the key locks in the same order)."""
    if not pairs:
        return
    rows = [{"request_id": trace_id, "key": k, "value": v} for k, v in sorted(pairs.items())]
    conn.execute(upsert(dialect, table.__table__, ["key", "request_id"], ["value"]), rows)


def _associate(
    conn: Connection,
    dialect: str,
    source_type: str,
    source_ids: list[str],
    destination_type: str,
    destination_ids: list[str],
) -> None:
    rows = [
        {
            "association_id": uuid.uuid4().hex,
            "source_type": source_type,
            "source_id": s,
            "destination_type": destination_type,
            "destination_id": d,
        }
        for s in source_ids
        for d in destination_ids
    ]
    conn.execute(insert_ignore(dialect, EA.__table__), rows)
