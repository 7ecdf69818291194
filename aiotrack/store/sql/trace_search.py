"""Compile a trace search (filter, ``order_by``, experiments) into one SQLAlchemy SELECT.

Results are those of MLflow 3.18's ``SqlAlchemyStore.search_traces``, row for row and in the
same order, with a different plan: every filter is a semi-join (``EXISTS``/``IN``) on the
trace, never a join of a whole tag or metadata table, so a newest-first page walks the
``(experiment_id, timestamp_ms)`` index and probes each candidate by primary key.

Semantics, as MLflow's store (``_get_filter_clauses_for_search_traces``):

- tag and metadata comparisons match traces that have the key; ``IS NULL`` those that lack it;
  the trace name, session id, token usage and cost are columns of ``trace_info``;
- ``run_id = 'x'`` matches traces whose ``mlflow.sourceRun`` metadata is ``x`` or that are
  linked to run ``x`` (``entity_associations``); only the last such clause counts;
- all span clauses must hold for one and the same span of the trace (of the trace's
  experiment, and when a ``timestamp > t`` clause is given, started after ``t - 10 s``);
- ``feedback.<name>``/``expectation.<name>`` compare valid assessments of that name (numbers
  with ``<``..``>=`` against the numeric aggregate, strings against the JSON value), and a
  session-scoped assessment counts for every trace of its session;
- ordering puts missing values last and ends with ``timestamp_ms DESC, request_id ASC``.

String ``=``, ``!=``, ``LIKE``, ``IN``, ``NOT IN`` and ``RLIKE`` are case-sensitive on MySQL too,
where MLflow makes them so. ``RLIKE`` on SQLite calls a ``regexp`` function that every
connection must have (:func:`sqlite_regexp`, registered by the engine's connect hook).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    case,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.sql.elements import ColumnElement

from aiotrack.errors import InvalidParameter
from aiotrack.search.limits import check_experiment_ids
from aiotrack.search.trace_filter import (
    LINKED_PROMPTS_TAG,
    SOURCE_RUN_METADATA,
    TRACE_NAME_TAG,
    TRACE_SESSION_METADATA,
    TraceClause,
    TraceOrder,
    parse_trace_filter,
    parse_trace_order_by,
)
from aiotrack.store.pagination import MAX_OFFSET
from aiotrack.store.sql.dialects import case_sensitive, sqlite_regexp
from aiotrack.store.sql.schema import SqlEntityAssociation
from aiotrack.store.sql.schema.traces import (
    SqlAssessments,
    SqlSpan,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceTag,
)
from aiotrack.store.sql.search import ids_in
from aiotrack.tracing.analytics import finite_float, token_count

__all__ = [
    "decode_trace_page_token",
    "encode_trace_page_token",
    "sqlite_regexp",
    "trace_search_query",
]

#: How far before a ``timestamp_ms >`` bound a span may start and still be searched (MLflow's
#: ``_SPAN_SEARCH_TIMESTAMP_TOLERANCE_MS``, allowing for clock skew).
_SPAN_START_TOLERANCE_MS = 10_000

_TRACE_ENTITY = "trace"
_RUN_ENTITY = "run"
_PROMPT_VERSION_ENTITY = "prompt_version"

#: The ``trace_info`` columns behind the reserved token-usage and cost metadata, by item key.
_ANALYTICS_COLUMNS: dict[str, dict[str, Any]] = {
    "mlflow.trace.tokenUsage": {
        "input_tokens": SqlTraceInfo.input_tokens,
        "output_tokens": SqlTraceInfo.output_tokens,
        "total_tokens": SqlTraceInfo.total_tokens,
        "cache_read_input_tokens": SqlTraceInfo.cache_read_input_tokens,
        "cache_creation_input_tokens": SqlTraceInfo.cache_creation_input_tokens,
        "cache_creation_input_tokens_above_1hr": (
            SqlTraceInfo.cache_creation_input_tokens_above_1hr
        ),
    },
    "mlflow.trace.cost": {
        "input_cost": SqlTraceInfo.input_cost,
        "output_cost": SqlTraceInfo.output_cost,
        "total_cost": SqlTraceInfo.total_cost,
    },
}

_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "request_id": SqlTraceInfo.request_id,
    "experiment_id": SqlTraceInfo.experiment_id,
    "timestamp_ms": SqlTraceInfo.timestamp_ms,
    "execution_time_ms": SqlTraceInfo.execution_time_ms,
    "status": SqlTraceInfo.status,
    "client_request_id": SqlTraceInfo.client_request_id,
}
#: Attribute columns that are never NULL (sorting them needs no "missing last" term).
_NOT_NULL_ATTRIBUTES = frozenset({"request_id", "experiment_id", "timestamp_ms", "status"})

_PLAIN: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "LIKE": lambda c, v: c.like(v),
    "ILIKE": lambda c, v: c.ilike(v),
    "IN": lambda c, v: c.in_(list(v)),
    "NOT IN": lambda c, v: ~c.in_(list(v)),
}


def _compare(op: str, column: Any, value: Any, dialect: str) -> ColumnElement[bool]:
    """``column <op> value`` as MLflow's ``get_sql_comparison_func`` compiles it."""
    if op == "RLIKE":
        return _regexp(column, value, dialect)
    clause = case_sensitive(op, column, value) if dialect == "mysql" else None
    if clause is not None:
        return clause
    return _PLAIN[op](column, value)


def _regexp(column: Any, pattern: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column.op("~")(pattern)  # type: ignore[no-any-return]
    if dialect == "mysql":
        # Byte-wise on both sides: case-sensitive, and no collation clash in REGEXP.
        return func.binary(column).op("REGEXP")(func.binary(pattern))
    return column.op("REGEXP")(pattern)  # type: ignore[no-any-return]


# --- filters ----------------------------------------------------------------------------------


def _keyed(table: Any, key: str, dialect: str, *conds: ColumnElement[bool]) -> Any:
    """EXISTS a row of ``table`` (tags or metadata) of the trace with ``key`` and ``conds``."""
    return exists().where(
        table.request_id == SqlTraceInfo.request_id, _compare("=", table.key, key, dialect), *conds
    )


def _keyed_null(table: Any, key: str, op: str) -> ColumnElement[bool]:
    # MLflow's existence checks compare the key plainly (case-insensitively on MySQL).
    found = exists().where(table.request_id == SqlTraceInfo.request_id, table.key == key)
    return ~found if op == "IS NULL" else found


def _column_clause(column: Any, f: TraceClause, dialect: str) -> ColumnElement[bool]:
    if f.op == "IS NULL":
        return column.is_(None)  # type: ignore[no-any-return]
    if f.op == "IS NOT NULL":
        return column.isnot(None)  # type: ignore[no-any-return]
    return _compare(f.op, column, f.value, dialect)


def _analytics_clause(f: TraceClause) -> ColumnElement[bool]:
    """MLflow's ``get_trace_analytics_metadata_filter``: the reserved metadata JSON is only ever
    equal to the exact JSON MLflow synthesizes from the columns."""
    columns = _ANALYTICS_COLUMNS[f.key]
    present = or_(*(column.isnot(None) for column in columns.values()))
    if f.op == "IS NULL":
        return ~present
    if f.op == "IS NOT NULL":
        return present
    try:
        parsed = json.loads(str(f.value))
    except ValueError:
        parsed = None
    convert = token_count if f.key == "mlflow.trace.tokenUsage" else finite_float
    normalized: dict[str, Any] = {}
    if isinstance(parsed, dict) and set(parsed).issubset(columns):
        normalized = {
            k: converted for k in columns if (converted := convert(parsed.get(k))) is not None
        }
    matches: ColumnElement[bool] = false()
    if normalized and f.value == json.dumps(normalized):
        matches = and_(
            *(
                and_(column.isnot(None), column == normalized[k])
                if k in normalized
                else column.is_(None)
                for k, column in columns.items()
            )
        )
    return matches if f.op == "=" else and_(present, ~matches)


def _run_clause(run_id: Any) -> ColumnElement[bool]:
    """Traces of a run: linked to it, or logged under it (``mlflow.sourceRun``)."""
    linked = exists().where(
        SqlEntityAssociation.source_id == SqlTraceInfo.request_id,
        SqlEntityAssociation.source_type == _TRACE_ENTITY,
        SqlEntityAssociation.destination_type == _RUN_ENTITY,
        SqlEntityAssociation.destination_id == run_id,
    )
    logged = exists().where(
        SqlTraceMetadata.request_id == SqlTraceInfo.request_id,
        SqlTraceMetadata.key == SOURCE_RUN_METADATA,
        SqlTraceMetadata.value == run_id,
    )
    return or_(linked, logged)


def _span_condition(f: TraceClause, dialect: str) -> ColumnElement[bool]:
    value = f.value
    if not f.key.startswith("attributes."):
        return _compare(f.op, getattr(SqlSpan, f.key), value, dialect)
    name = f.key[len("attributes.") :]
    if len(name) >= 2 and name[0] == name[-1] == "`":
        name = name[1:-1]
    if isinstance(value, tuple):
        # MLflow formats the tuple into a LIKE pattern and fails (500); refuse it clearly.
        raise InvalidParameter(
            f"span.{f.key} cannot be compared with a list of values; use LIKE, ILIKE or RLIKE"
        )
    text = str(value)
    if f.op == "RLIKE":
        # Attribute values are JSON-encoded strings inside the span's JSON: "<name>": "\"<v>\"".
        prefix = '"\\\\"' if text.startswith("^") else '"\\\\".*'
        suffix = '\\\\"' if text.endswith("$") else ""
        body = text[1:] if text.startswith("^") else text
        body = body[:-1] if body.endswith("$") else body
        return _compare("RLIKE", SqlSpan.content, f'"{name}": {prefix}{body}{suffix}', dialect)
    return _compare(f.op, SqlSpan.content, f'%"{name}"{text}%', dialect)


def _assessment_filters(f: TraceClause) -> list[ColumnElement[bool]]:
    return [
        SqlAssessments.assessment_type == f.entity,
        SqlAssessments.name == f.key,
        SqlAssessments.valid == true(),
    ]


def _assessment_value(f: TraceClause, dialect: str) -> ColumnElement[bool]:
    value = f.value
    if f.op in (">", ">=", "<", "<="):
        return and_(
            SqlAssessments.is_numeric_value == true(),
            _PLAIN[f.op](SqlAssessments.aggregate_value, value),
        )
    if f.op in ("=", "!="):
        # Values are stored as JSON: a string with its quotes, booleans and numbers bare.
        either = or_(
            _compare("=", SqlAssessments.value, value, dialect),
            _compare("=", SqlAssessments.value, json.dumps(value), dialect),
        )
        return either if f.op == "=" else not_(either)
    return _compare(f.op, SqlAssessments.value, value, dialect)


class _Compiler:
    """Turns parsed clauses into WHERE terms over ``trace_info``."""

    def __init__(self, experiment_ids: Sequence[int], dialect: str) -> None:
        self.dialect = dialect
        self.in_experiments = ids_in(SqlTraceInfo.experiment_id, experiment_ids, dialect)

    def _session_siblings(self, conds: list[ColumnElement[bool]]) -> Select[Any]:
        """Traces (of the searched experiments) whose session has an assessment matching
        ``conds`` that was logged for the whole session (MLflow's
        ``_get_session_scoped_trace_ids``)."""
        sessions = (
            select(SqlTraceInfo.session_id)
            .join(SqlAssessments, SqlAssessments.trace_id == SqlTraceInfo.request_id)
            .where(
                self.in_experiments,
                SqlTraceInfo.session_id.isnot(None),
                *conds,
                SqlAssessments.assessment_metadata.isnot(None),
                SqlAssessments.assessment_metadata.contains(f'"{TRACE_SESSION_METADATA}":'),
            )
        )
        return select(SqlTraceInfo.request_id).where(
            self.in_experiments, SqlTraceInfo.session_id.in_(sessions)
        )

    def _assessment_clause(self, f: TraceClause) -> ColumnElement[bool]:
        conds = _assessment_filters(f)
        if f.op == "IS NULL":
            direct = exists().where(SqlAssessments.trace_id == SqlTraceInfo.request_id, *conds)
            return and_(~direct, SqlTraceInfo.request_id.not_in(self._session_siblings(conds)))
        if f.op != "IS NOT NULL":
            conds = [*conds, _assessment_value(f, self.dialect)]
        direct_ids = select(SqlAssessments.trace_id).where(*conds)
        return SqlTraceInfo.request_id.in_(union(direct_ids, self._session_siblings(conds)))

    def clauses(self, filters: Sequence[TraceClause]) -> list[ColumnElement[bool]]:
        """WHERE terms to AND together, for the experiments and every clause.

        A clause given twice counts once. On PostgreSQL only the first few subquery terms are
        left for the planner to turn into joins; the rest are evaluated per candidate trace
        (`_PG_JOINED_SUBQUERIES`).
        """
        dialect = self.dialect
        plain: list[ColumnElement[bool]] = [self.in_experiments]
        subqueries: list[ColumnElement[bool]] = []
        span_conds: list[ColumnElement[bool]] = []
        span_since_ms: float | None = None
        run_id: Any = None
        for f in filters:  # all of them: the last run_id counts, as in MLflow
            if f.entity == "request_metadata" and f.key == SOURCE_RUN_METADATA and f.op == "=":
                run_id = f.value
        for f in dict.fromkeys(filters):
            if f.entity == "issue":
                subqueries.append(
                    SqlTraceInfo.request_id.in_(
                        select(SqlAssessments.trace_id).where(
                            SqlAssessments.assessment_type == "issue",
                            SqlAssessments.name == f.value,
                        )
                    )
                )
            elif f.entity == "attribute":
                if f.key == "timestamp_ms" and f.op in (">", ">="):
                    assert isinstance(f.value, int | float)
                    since = f.value
                    span_since_ms = since if span_since_ms is None else max(span_since_ms, since)
                column = (
                    SqlTraceInfo.timestamp_ms + func.coalesce(SqlTraceInfo.execution_time_ms, 0)
                    if f.key == "end_time_ms"
                    else _ATTRIBUTE_COLUMNS[f.key]
                )
                plain.append(_compare(f.op, column, f.value, dialect))
            elif f.entity == "tag" and f.key == TRACE_NAME_TAG:
                plain.append(_column_clause(SqlTraceInfo.trace_name, f, dialect))
            elif f.entity == "request_metadata" and f.key == TRACE_SESSION_METADATA:
                plain.append(_column_clause(SqlTraceInfo.session_id, f, dialect))
            elif f.entity == "request_metadata" and f.key in _ANALYTICS_COLUMNS:
                plain.append(_analytics_clause(f))
            elif f.entity == "request_metadata" and f.key == SOURCE_RUN_METADATA and f.op == "=":
                pass  # run_id, above
            elif f.entity == "tag" and f.key == LINKED_PROMPTS_TAG:
                subqueries.append(
                    SqlTraceInfo.request_id.in_(
                        select(SqlEntityAssociation.source_id).where(
                            SqlEntityAssociation.source_type == _TRACE_ENTITY,
                            SqlEntityAssociation.destination_type == _PROMPT_VERSION_ENTITY,
                            SqlEntityAssociation.destination_id == f.value,
                        )
                    )
                )
            elif f.entity in ("tag", "request_metadata"):
                table: Any = SqlTraceTag if f.entity == "tag" else SqlTraceMetadata
                if f.op in ("IS NULL", "IS NOT NULL"):
                    subqueries.append(_keyed_null(table, f.key, f.op))
                else:
                    value = _compare(f.op, table.value, f.value, dialect)
                    subqueries.append(_keyed(table, f.key, dialect, value))
            elif f.entity == "span":
                span_conds.append(_span_condition(f, dialect))
            else:  # feedback, expectation
                subqueries.append(self._assessment_clause(f))
        if span_conds:
            scope = [
                SqlSpan.trace_id == SqlTraceInfo.request_id,
                SqlSpan.experiment_id == SqlTraceInfo.experiment_id,
            ]
            if span_since_ms is not None:
                since_ns = (span_since_ms - _SPAN_START_TOLERANCE_MS) * 1_000_000
                scope.append(SqlSpan.start_time_unix_nano >= since_ns)
            subqueries.append(exists().where(*scope, *span_conds))
        if run_id is not None:
            subqueries.append(_run_clause(run_id))
        if dialect == "postgresql" and len(subqueries) > _PG_JOINED_SUBQUERIES:
            rest = subqueries[_PG_JOINED_SUBQUERIES:]
            # Inside an expression PostgreSQL cannot pull the subqueries up into joins: it
            # checks them per trace (in order, stopping at the first that fails) instead of
            # planning one join each, which took it 3 s for 100 clauses.
            subqueries = [*subqueries[:_PG_JOINED_SUBQUERIES], func.coalesce(and_(*rest), false())]
        return [*plain, *subqueries]


#: PostgreSQL: how many subquery clauses its planner may turn into joins (see `clauses`).
_PG_JOINED_SUBQUERIES = 4


# --- ordering ---------------------------------------------------------------------------------


def _ordered(stmt: Select[Any], orders: Sequence[TraceOrder]) -> Select[Any]:
    """``stmt`` with the outer joins and ORDER BY terms of ``orders`` and MLflow's
    tie-breakers; missing values sort last either way."""
    terms: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for i, o in enumerate(orders):
        seen.add((o.entity, o.key))
        nullable = True
        if o.entity == "attribute" and o.key == "end_time_ms":
            value: Any = SqlTraceInfo.timestamp_ms + func.coalesce(
                SqlTraceInfo.execution_time_ms, 0
            )
            nullable = False
        elif o.entity == "attribute":
            value = _ATTRIBUTE_COLUMNS[o.key]
            nullable = o.key not in _NOT_NULL_ATTRIBUTES
        elif o.entity == "tag" and o.key == TRACE_NAME_TAG:
            value = SqlTraceInfo.trace_name
        elif o.entity == "request_metadata" and o.key == TRACE_SESSION_METADATA:
            value = SqlTraceInfo.session_id
        else:
            table: Any = SqlTraceTag if o.entity == "tag" else SqlTraceMetadata
            # MLflow's outer join; the key compared plainly, as there.
            sub = (
                select(table.request_id, table.value)
                .where(table.key == o.key)
                .subquery(f"order_{i}")
            )
            stmt = stmt.outerjoin(sub, sub.c.request_id == SqlTraceInfo.request_id)
            value = sub.c.value
        if nullable:
            terms.append(case((value.is_(None), 1), else_=0))
        terms.append(value if o.ascending else value.desc())
    if ("attribute", "timestamp_ms") not in seen:
        terms.append(SqlTraceInfo.timestamp_ms.desc())
    if ("attribute", "request_id") not in seen:
        terms.append(SqlTraceInfo.request_id)
    return stmt.order_by(*terms)


def trace_search_query(
    experiment_ids: Sequence[int],
    filter_string: str | None,
    order_by: Sequence[str],
    *,
    dialect: str,
) -> Select[Any]:
    """``SELECT trace_info.request_id`` of the traces of ``experiment_ids`` that match
    ``filter_string``, in the order of ``order_by`` then ``timestamp_ms DESC, request_id``;
    no LIMIT/OFFSET. ``dialect``: ``sqlite``, ``postgresql`` or ``mysql``.

    Checks ``order_by`` before the filter, as MLflow does; raises InvalidParameter with
    MLflow's message for a bad entry or filter, and past the bounds of
    :mod:`aiotrack.search.limits`. CPU-bound for a long filter: run it off the event loop.
    """
    check_experiment_ids(experiment_ids)
    orders = parse_trace_order_by(order_by)
    filters = parse_trace_filter(filter_string)
    where = _Compiler(experiment_ids, dialect).clauses(filters)
    return _ordered(select(SqlTraceInfo.request_id).where(*where), orders)


# --- page tokens ------------------------------------------------------------------------------


def encode_trace_page_token(offset: int) -> str:
    """MLflow's token for the page starting at ``offset``: base64 of ``{"offset": N}``."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_trace_page_token(token: str | None) -> int:
    """The offset a page token encodes; 0 for none. A bad token is InvalidParameter with
    MLflow's message (where MLflow fails with a 500, e.g. a JSON list, the closest of them);
    negative or absurd offsets are refused."""
    if not token:
        return 0
    try:
        raw = base64.b64decode(token)
    except (binascii.Error, ValueError):
        raise InvalidParameter("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid page token, decoded value={raw!r}") from None
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if not offset:
        raise InvalidParameter(f"Invalid page token, parsed value={parsed}")
    try:
        value = int(offset)
    except (TypeError, ValueError):
        raise InvalidParameter(f"Invalid page token, not stringable {offset}") from None
    if not 0 <= value <= MAX_OFFSET:
        raise InvalidParameter(f"Invalid page token, parsed value={parsed}")
    return value
