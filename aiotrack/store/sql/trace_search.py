"""Trace search: a minimal interim compiler (status, timestamp and tag equality, newest
first); the full trace filter grammar replaces it."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from sqlalchemy import Select, select

from aiotrack.errors import InvalidParameter
from aiotrack.store.sql.schema.traces import SqlTraceInfo, SqlTraceTag

__all__ = ["decode_trace_page_token", "encode_trace_page_token", "trace_search_query"]


def trace_search_query(
    experiment_ids: Sequence[int],
    filter_string: str | None,
    order_by: Sequence[str],
    *,
    dialect: str,
) -> Select:  # type: ignore[type-arg]
    stmt = select(SqlTraceInfo.request_id).where(SqlTraceInfo.experiment_id.in_(experiment_ids))
    for clause in filter(None, (filter_string or "").split(" AND ")):
        key, _, value = clause.partition("=")
        key, value = key.strip(), value.strip().strip("'\"")
        if key.startswith("tag."):
            stmt = stmt.where(
                SqlTraceInfo.request_id.in_(
                    select(SqlTraceTag.request_id).where(
                        SqlTraceTag.key == key[4:], SqlTraceTag.value == value
                    )
                )
            )
        elif key in ("status", "trace.status"):
            stmt = stmt.where(SqlTraceInfo.status == value)
        else:
            raise InvalidParameter(f"Invalid filter: {filter_string}")
    return stmt.order_by(SqlTraceInfo.timestamp_ms.desc(), SqlTraceInfo.request_id)


def decode_trace_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except Exception as exc:
        raise InvalidParameter("Invalid page token") from exc


def encode_trace_page_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()
