"""Input rules shared by every store: key names, value lengths, metric values, batch limits.

Messages follow MLflow 3.18 word for word where clients or tests look at them (reference §6).
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any

from aiotrack.errors import InvalidParameter
from aiotrack.store.entities import Tag

__all__ = [
    "MAX_ARTIFACT_LOCATION_LENGTH",
    "MAX_ENTITIES_PER_BATCH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "checked_batch",
    "checked_param",
    "checked_tag",
    "invalid_value",
    "limit_length",
    "missing_value",
    "parse_experiment_id",
    "validate_artifact_location",
    "validate_batch_limits",
    "validate_experiment_name",
    "validate_experiment_tag",
    "validate_metric",
    "validate_metrics",
    "validate_param_keys_unique",
    "validate_param_name",
    "validate_tag_name",
]

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_KEY_LENGTH = 250
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000

# fullmatch: unlike MLflow 3.17's re.match with "$", a trailing newline is refused (as 3.18).
_NAME_RE = re.compile(r"[/\w.\- :]*")
_MISSING_KEY_NAME = "A key name must be provided."
_BAD_CHARACTERS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
    "colon(:) and slashes (/)."
)


def invalid_value(path: str, value: Any, message: str | None = None) -> str:
    """MLflow's standard "Invalid value ... for parameter ..." text."""
    try:
        formatted = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (RecursionError, ValueError):  # JSON nested ~1000 deep, or a lone surrogate
        formatted = f"<{type(value).__name__} that cannot be shown>"
    if message:
        return f"Invalid value {formatted} for parameter '{path}' supplied: {message}"
    return f"Invalid value {formatted} for parameter '{path}' supplied."


def missing_value(path: str) -> str:
    return f"Missing value for required parameter '{path}'."


def _json_path(base: str, leaf: str) -> str:
    return f"{base}.{leaf}" if base else leaf


def _check_name(name: str, path: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise InvalidParameter(invalid_value(path, name, _BAD_CHARACTERS))
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidParameter(
            invalid_value(
                path,
                name,
                "Names may be treated as files in certain cases, and must not resolve to other "
                f"names when treated as such. This name would resolve to {norm!r}",
            )
        )


def validate_param_name(name: str | None, path: str = "key") -> None:
    if name is None:
        raise InvalidParameter(invalid_value(path, "", _MISSING_KEY_NAME))
    _check_name(name, path)


def validate_tag_name(name: str | None, path: str = "key") -> None:
    if name is None:
        raise InvalidParameter(missing_value(path))
    _check_name(name, path)


def limit_length(entity: str, limit: int, value: str, *, truncate: bool = False) -> str:
    """Return ``value``, truncated to ``limit`` when allowed, else raise if it is too long."""
    if len(value) <= limit:
        return value
    if truncate:
        return value[:limit]
    raise InvalidParameter(f"'{entity}' exceeds the maximum length of {limit} characters")


def validate_metric(metric_key: str, value: float, timestamp: int, path: str = "") -> None:
    """Key name, key length and timestamp rules of a metric (the value is typed already)."""
    name_path = _json_path(path, "name")
    if not _NAME_RE.fullmatch(metric_key):
        raise InvalidParameter(invalid_value(name_path, metric_key, _BAD_CHARACTERS))
    _check_name(metric_key, name_path)
    if timestamp < 0:
        raise InvalidParameter(
            invalid_value(
                _json_path(path, "timestamp"),
                timestamp,
                f"metric '{metric_key}' (value={_py_float_repr(value)}). "
                "Timestamp must be a nonnegative long (64-bit integer) ",
            )
        )
    limit_length("Metric name", MAX_KEY_LENGTH, metric_key)


_VALID_METRIC_KEYS: set[str] = set()


def validate_metrics(metrics: Sequence[Any], path: str = "metrics") -> None:
    """``validate_metric`` for every item, checking each distinct key once.

    On the first problem the items are re-checked in order so the error names the same
    ``metrics[i]`` MLflow's per-item loop would name.
    """
    keys = {m.key for m in metrics} - _VALID_METRIC_KEYS
    try:
        for key in keys:
            validate_metric(key, 0.0, 0)
        if metrics and min(m.timestamp for m in metrics) < 0:
            raise InvalidParameter("negative timestamp")
    except InvalidParameter:
        for i, m in enumerate(metrics):
            validate_metric(m.key, m.value, m.timestamp, path=f"{path}[{i}]")
        raise
    if len(_VALID_METRIC_KEYS) < 100_000:  # a bounded memo of names known to be valid
        _VALID_METRIC_KEYS.update(keys)


def _py_float_repr(value: float) -> str:
    return "nan" if math.isnan(value) else repr(value)


def validate_batch_limits(n_metrics: int, n_params: int, n_tags: int) -> None:
    """The per-request limits of ``runs/log-batch``."""

    def check(entity: str, limit: int, length: int) -> None:
        if length > limit:
            raise InvalidParameter(
                f"A batch logging request can contain at most {limit} {entity}. "
                f"Got {length} {entity}. Please split up {entity} across multiple requests "
                "and try again."
            )

    check("metrics", MAX_METRICS_PER_BATCH, n_metrics)
    check("params", MAX_PARAMS_TAGS_PER_BATCH, n_params)
    check("tags", MAX_PARAMS_TAGS_PER_BATCH, n_tags)
    check("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, n_metrics + n_params + n_tags)


def validate_param_keys_unique(keys: Sequence[str]) -> None:
    seen: set[str] = set()
    dupes: list[str] = []
    for key in keys:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    if dupes:
        raise InvalidParameter(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the request "
            "contains only one param value per param key."
        )


def validate_experiment_name(name: str | None) -> str:
    # MLflow 3.18 refuses blank names too (3.17 accepted " \t ").
    if not name or not name.strip():
        raise InvalidParameter(f"Invalid experiment name: '{name or ''}'")
    return limit_length("name", MAX_EXPERIMENT_NAME_LENGTH, name)


#: MLflow's ``MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH`` default.
MAX_ARTIFACT_LOCATION_LENGTH = 2048


def validate_artifact_location(location: str) -> None:
    """MLflow 3.18's checks of a new experiment's ``artifact_location`` (``_create_experiment``).

    No URL fragment or params, no ``..`` in the query, not a ``runs:/`` URI, at most
    `MAX_ARTIFACT_LOCATION_LENGTH` characters.
    """
    if len(location) > MAX_ARTIFACT_LOCATION_LENGTH:
        raise InvalidParameter(
            "Invalid artifact path length. The length of the artifact path cannot be greater "
            f"than {MAX_ARTIFACT_LOCATION_LENGTH} characters. To configure this limit, please "
            "set the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable."
        )
    parsed = urllib.parse.urlparse(location)
    if parsed.fragment or parsed.params:
        raise InvalidParameter("'artifact_location' URL can't include fragments or params.")
    query = parsed.query
    for _ in range(10):
        decoded = urllib.parse.unquote(query)
        if decoded == query:
            break
        query = decoded
    if ".." in query:
        raise InvalidParameter("Invalid query string")
    if location.startswith("runs:"):
        raise InvalidParameter(f"Artifact location cannot be a runs:/ URI. Given: '{location}'")


def validate_experiment_tag(key: str, value: str) -> None:
    validate_tag_name(key)
    limit_length("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, key)
    limit_length("value", MAX_EXPERIMENT_TAG_VALUE_LENGTH, value)


def checked_param(key: str, value: str, *, truncate: bool, path: str = "") -> Tag:
    """A param as stored: name rules, key length, value truncated to 6000 characters when
    ``truncate`` (``MLFLOW_TRUNCATE_LONG_VALUES``), else refused when too long."""
    validate_param_name(key, f"{path}.key" if path else "key")
    return Tag(
        limit_length("Param key", MAX_KEY_LENGTH, key),
        limit_length("Param value", MAX_PARAM_VALUE_LENGTH, value, truncate=truncate),
    )


def checked_tag(key: str, value: str, *, truncate: bool, path: str = "") -> Tag:
    """A run tag as stored: name rules, key length, value truncated to 8000 characters."""
    key_path = f"{path}.key" if path else "key"
    validate_tag_name(key, key_path)
    value_path = f"{path}.value" if path else "value"
    return Tag(
        limit_length(key_path, MAX_KEY_LENGTH, key),
        limit_length(value_path, MAX_TAG_VALUE_LENGTH, value, truncate=truncate),
    )


def checked_batch(
    metrics: Sequence[Any], params: Sequence[Tag], tags: Sequence[Tag], *, truncate: bool
) -> tuple[list[Tag], list[Tag]]:
    """``runs/log-batch``'s checks in MLflow's order (metrics, params, tags, limits, duplicate
    param keys); returns the params and tags as they will be stored."""
    validate_metrics(metrics)
    checked_params = [
        checked_param(p.key, p.value, truncate=truncate, path=f"params[{i}]")
        for i, p in enumerate(params)
    ]
    checked_tags = [
        checked_tag(t.key, t.value, truncate=truncate, path=f"tags[{i}]")
        for i, t in enumerate(tags)
    ]
    validate_batch_limits(len(metrics), len(params), len(tags))
    validate_param_keys_unique([p.key for p in checked_params])
    return checked_params, checked_tags


def parse_experiment_id(experiment_id: str | int | None) -> int:
    """Experiment ids are int64 integers on the SQL store; anything else is a 400 (a 30-digit
    id would otherwise overflow in the database driver)."""
    try:
        value = int(experiment_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = None
    if value is None or not -(2**63) <= value < 2**63:
        raise InvalidParameter(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        ) from None
    return value
