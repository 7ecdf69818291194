"""Trace-metric filters as SQL: each parsed ``view.entity[.key] = 'value'`` clause becomes one
predicate on the query of a view (MLflow 3.18's ``_apply_filters``).

A query of the ``TRACES`` or ``SPANS`` view reads ``trace_info`` (joined to ``spans``); one of
``ASSESSMENTS`` reads ``assessments`` alone, so a trace-level predicate there becomes an
``EXISTS`` on the assessment's trace. Promoted metadata (session id, token usage, cost) is
matched on the ``trace_info`` columns it lives in, as MLflow does.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_

from aiotrack.errors import InvalidParameter
from aiotrack.search.trace_metrics import MetricsFilter
from aiotrack.store.sql.schema.logged_models import SqlEntityAssociation
from aiotrack.store.sql.schema.traces import (
    SqlAssessments,
    SqlSpan,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceTag,
)
from aiotrack.tracing.analytics import (
    COST_COLUMNS,
    COST_KEY,
    SESSION_KEY,
    TOKEN_COLUMNS,
    TOKEN_USAGE_KEY,
    finite_float,
    token_count,
)
from aiotrack.tracing.entities import TRACE_NAME_TAG

__all__ = ["metric_filter_clause"]

TI, SP, AS = SqlTraceInfo, SqlSpan, SqlAssessments
#: Run links of OTLP traces (``link_traces_to_run``) live in entity associations, not metadata.
SOURCE_RUN_KEY = "mlflow.sourceRun"
_ANALYTICS_COLUMNS = {TOKEN_USAGE_KEY: TOKEN_COLUMNS, COST_KEY: COST_COLUMNS}


def metric_filter_clause(parsed: MetricsFilter, view_type: str) -> ColumnElement[bool]:
    """The predicate of one filter on a ``view_type`` query; ``InvalidParameter`` for a span
    filter outside ``SPANS`` or an assessment filter outside ``ASSESSMENTS``."""
    if parsed.view == "span":
        if view_type != "SPANS":
            raise InvalidParameter(
                f"Filtering by span is only supported for SPANS view type, got {view_type}"
            )
        column = {"name": SP.name, "status": SP.status, "type": SP.type}[parsed.entity]
        return column == parsed.value
    if parsed.view == "assessment":
        if view_type != "ASSESSMENTS":
            raise InvalidParameter(
                "Filtering by assessment is only supported for ASSESSMENTS view type, "
                f"got {view_type}"
            )
        column = {"name": AS.name, "type": AS.assessment_type}[parsed.entity]
        return column == parsed.value
    return _trace_clause(parsed, view_type)


def _trace_clause(parsed: MetricsFilter, view_type: str) -> ColumnElement[bool]:
    trace_id: Any = AS.trace_id if view_type == "ASSESSMENTS" else TI.request_id
    key, value = parsed.key, parsed.value
    on_trace_info: ColumnElement[bool] | None = None
    if parsed.entity == "status":
        on_trace_info = TI.status == value
    elif parsed.entity == "tag" and key == TRACE_NAME_TAG:
        on_trace_info = TI.trace_name == value
    elif parsed.entity == "metadata" and key == SESSION_KEY:
        on_trace_info = TI.session_id == value
    elif parsed.entity == "metadata" and key in _ANALYTICS_COLUMNS:
        on_trace_info = _analytics_clause(key, value)
    if on_trace_info is not None:
        if view_type == "ASSESSMENTS":
            return exists().where(TI.request_id == trace_id, on_trace_info)
        return on_trace_info
    if parsed.entity == "tag":
        return exists().where(
            SqlTraceTag.request_id == trace_id, SqlTraceTag.key == key, SqlTraceTag.value == value
        )
    metadata = exists().where(
        SqlTraceMetadata.request_id == trace_id,
        SqlTraceMetadata.key == key,
        SqlTraceMetadata.value == value,
    )
    if key != SOURCE_RUN_KEY:
        return metadata
    ea = SqlEntityAssociation
    linked = exists().where(
        ea.source_id == trace_id,
        ea.source_type == "trace",
        ea.destination_type == "run",
        ea.destination_id == value,
    )
    return or_(metadata, linked)


def _analytics_clause(key: str, value: str) -> ColumnElement[bool]:
    """MLflow's ``get_trace_analytics_metadata_filter`` for ``=``: the token-usage or cost JSON
    matches only when it is exactly the JSON MLflow synthesises from the columns."""
    columns = {item: getattr(TI, column) for item, column in _ANALYTICS_COLUMNS[key].items()}
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    convert = token_count if key == TOKEN_USAGE_KEY else finite_float
    normalized: dict[str, Any] = {}
    if isinstance(parsed, dict) and set(parsed) <= set(columns):
        normalized = {
            item: converted
            for item in columns
            if (converted := convert(parsed.get(item))) is not None
        }
    if not normalized or value != json.dumps(normalized):
        return false()
    return and_(
        *(
            and_(column.is_not(None), column == normalized[item])
            if item in normalized
            else column.is_(None)
            for item, column in columns.items()
        )
    )
