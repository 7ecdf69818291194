"""A trace's analytics: the session, token usage and cost MLflow keeps as ``trace_info`` columns
("promoted" metadata), and the checks on trace tags and names.

MLflow 3.18's ``store/tracking/utils/trace_analytics.py``: numbers that are not an integral
int64 (token counts) or a finite double (costs) are dropped, not refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiotrack.errors import InvalidParameter
from aiotrack.validation import limit_length, validate_tag_name

__all__ = [
    "COST_COLUMNS",
    "COST_KEY",
    "FINALIZED_KEY",
    "MAX_SESSION_ID",
    "MAX_TRACE_NAME",
    "MAX_TRACE_TAG_KEY",
    "MAX_TRACE_TAG_VALUE",
    "PROMOTED_METADATA_KEYS",
    "SESSION_KEY",
    "TOKEN_COLUMNS",
    "TOKEN_USAGE_KEY",
    "analytics_columns",
    "finite_float",
    "promoted_metadata",
    "token_count",
    "validate_trace_name",
    "validate_trace_tag",
]

SESSION_KEY = "mlflow.trace.session"
TOKEN_USAGE_KEY = "mlflow.trace.tokenUsage"
COST_KEY = "mlflow.trace.cost"
#: Set by ``StartTraceV3``: its top-level values win over those later spans imply.
FINALIZED_KEY = "mlflow.trace.infoFinalized"
PROMOTED_METADATA_KEYS = frozenset({SESSION_KEY, TOKEN_USAGE_KEY, COST_KEY})
#: Token-usage keys and cost keys, in MLflow's order, with their ``trace_info`` columns.
TOKEN_COLUMNS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "total_tokens": "total_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "cache_creation_input_tokens": "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr": "cache_creation_input_tokens_above_1hr",
}
COST_COLUMNS = {
    "input_cost": "input_cost",
    "output_cost": "output_cost",
    "total_cost": "total_cost",
}
MAX_TRACE_TAG_KEY = 250
MAX_TRACE_TAG_VALUE = 8000
MAX_TRACE_NAME = 4096
MAX_SESSION_ID = 250


def token_count(value: Any) -> int | None:
    """MLflow's ``token_count_or_none``: an integral number in int64's range, else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    if not -(2**63) <= number <= 2**63 - 1:
        return None
    return int(number)


def finite_float(value: Any) -> float | None:
    """MLflow's ``finite_float_or_none``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _json_object(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def analytics_columns(metadata: Mapping[str, str]) -> dict[str, Any]:
    """The ``trace_info`` columns MLflow fills from promoted metadata entries."""
    columns: dict[str, Any] = {}
    if SESSION_KEY in metadata:
        session = metadata[SESSION_KEY]
        if session is not None and len(session) > MAX_SESSION_ID:
            raise InvalidParameter(
                f"Session ID '{session[:MAX_SESSION_ID]}...' had length {len(session)}, "
                f"which exceeded length limit of {MAX_SESSION_ID}"
            )
        columns["session_id"] = session
    if TOKEN_USAGE_KEY in metadata:
        usage = _json_object(metadata[TOKEN_USAGE_KEY])
        columns.update(
            {col: token_count(usage[key]) for key, col in TOKEN_COLUMNS.items() if key in usage}
        )
    if COST_KEY in metadata:
        cost = _json_object(metadata[COST_KEY])
        columns.update(
            {col: finite_float(cost[key]) for key, col in COST_COLUMNS.items() if key in cost}
        )
    return columns


def promoted_metadata(row: Any) -> dict[str, str]:
    """MLflow's ``compatibility_metadata_from_columns``: the metadata entries a trace's
    session, token and cost columns are answered as."""
    metadata: dict[str, str] = {}
    if row.session_id is not None:
        metadata[SESSION_KEY] = row.session_id
    usage = {
        key: count
        for key, col in TOKEN_COLUMNS.items()
        if (count := token_count(getattr(row, col))) is not None
    }
    if usage:
        metadata[TOKEN_USAGE_KEY] = json.dumps(usage)
    cost = {
        key: value for key, col in COST_COLUMNS.items() if (value := getattr(row, col)) is not None
    }
    if cost:
        metadata[COST_KEY] = json.dumps(cost)
    return metadata


def validate_trace_tag(key: str | None, value: str | None) -> tuple[str, str | None]:
    """MLflow's ``_validate_trace_tag``: a valid tag name of at most 250 characters; values
    are truncated to 8000."""
    validate_tag_name(key)
    assert key is not None
    key = limit_length("key", MAX_TRACE_TAG_KEY, key)
    if value is not None:
        value = limit_length("value", MAX_TRACE_TAG_VALUE, value, truncate=True)
    return key, value


def validate_trace_name(value: str | None) -> str | None:
    """A trace name of at most 4096 characters (``validate_trace_name``)."""
    if value is not None:
        return limit_length("Trace name", MAX_TRACE_NAME, value)
    return None
