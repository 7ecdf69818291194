"""What a batch of spans says about each trace: the pre-compute phase of MLflow's ``log_spans``.

``summarize`` reproduces what ``SqlAlchemyStore._log_spans_once`` (MLflow 3.18) derives from
the spans of one call before it touches the database: the time range, the status the root
span implies, tree-aware token usage and cost, the session and user ids, the request and
response previews of the root span, the root span's ``mlflow.traceTag.*`` tags and the
resource attributes as tags. What depends on stored state (a preview already set, usage to
recompute over spans stored earlier) is left to the store, which gets the pieces for it here
(``aggregate_usage``/``aggregate_cost`` over ``SpanRecord.usage_data``/``cost_data``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from aiotrack.errors import AiotrackError
from aiotrack.tracing.jsonvalues import loads
from aiotrack.tracing.records import SpanRecord, TraceSummary
from aiotrack.tracing.translation import INPUTS, OUTPUTS
from aiotrack.validation import limit_length, validate_tag_name

__all__ = [
    "PREVIEW_MAX_LENGTH",
    "aggregate_cost",
    "aggregate_usage",
    "node_data",
    "summarize",
    "truncated_preview",
]

PREVIEW_MAX_LENGTH = 1000  # TRACE_REQUEST_RESPONSE_PREVIEW_MAX_LENGTH_OSS
_TRACE_TAG_PREFIX = "mlflow.traceTag."
_TRACE_NAME = "mlflow.traceName"
_MAX_TAG_KEY_LENGTH = 250  # MAX_TRACE_TAG_KEY_LENGTH
_MAX_TAG_VALUE_LENGTH = 8000  # MAX_TRACE_TAG_VAL_LENGTH (longer values are truncated)
_MAX_SESSION_ID_LENGTH = 250  # MAX_CHARS_IN_TRACE_INFO_METADATA
_MAX_TRACE_NAME_LENGTH = 4096  # MAX_CHARS_IN_TRACE_INFO_TAGS_VALUE
_USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
_USAGE_CACHE_KEYS = (
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
)
_COST_KEYS = ("input_cost", "output_cost", "total_cost")

Node = tuple[str, "str | None", "Mapping[str, Any] | None"]


def summarize(records: Iterable[SpanRecord]) -> dict[str, TraceSummary]:
    """The ``TraceSummary`` of each trace in ``records``, in order of first appearance.

    Raises ``InvalidParameter`` where MLflow's ``log_spans`` does (a session id over 250
    characters, a trace name over 4096); other exceptions (e.g. a ``mlflow.chat.tokenUsage``
    holding strings, which cannot be summed) propagate, as they fail MLflow's batch.
    """
    by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
    for record in records:
        by_trace[record.trace_id].append(record)
    return {trace_id: _summarize_trace(trace_id, spans) for trace_id, spans in by_trace.items()}


def _summarize_trace(trace_id: str, spans: list[SpanRecord]) -> TraceSummary:
    end_times = [s.end_time_unix_nano for s in spans if s.end_time_unix_nano is not None]
    # A span id sent twice is one row, the last sent (MLflow's store upserts); everything else
    # below, its usage and cost included, counts every span sent, as MLflow's does.
    rows = list({span.span_id: span for span in spans}.values())
    summary = TraceSummary(
        trace_id=trace_id,
        min_start_ms=min(s.start_time_unix_nano for s in spans) // 1_000_000,
        max_end_ms=max(end_times) // 1_000_000 if end_times else None,
        spans=rows if len(rows) < len(spans) else spans,
    )
    # The status comes from the first root span, the previews from the last (MLflow's loop).
    root = next((s for s in spans if s.parent_span_id is None), None)
    if root is not None:
        summary.status = "ERROR" if root.status == "ERROR" else "OK"

    session_id: str | None = None
    user_id: Any = None
    root_tags: dict[str, str] = {}
    last_root: SpanRecord | None = None
    for span in spans:
        attributes = span.attributes
        if attributes:
            if session_id is None and (
                value := attributes.get("session.id") or attributes.get("gen_ai.conversation.id")
            ):
                session_id = limit_length(
                    "Session ID", _MAX_SESSION_ID_LENGTH, _try_parse_json_string(value)
                )
            if user_id is None and (value := attributes.get("user.id")):
                user_id = _try_parse_json_string(value)
        if span.parent_span_id is None:
            last_root = span
            root_tags.update(_root_tags(attributes))

    # MLflow keeps the first non-empty value it sees, and writes neither an empty string.
    summary.session_id = session_id or None
    summary.user_id = user_id or None
    summary.token_usage = aggregate_usage(_nodes(spans, usage=True)) or {}
    summary.cost = aggregate_cost(_nodes(spans, usage=False)) or {}
    if last_root is not None:
        summary.request_preview, summary.response_preview = _previews(last_root.attributes)
    summary.trace_name = root_tags.pop(_TRACE_NAME, None)
    resource = next((s.resource_attributes for s in spans if s.resource_attributes), None)
    # Resource attributes are written first, so a root span's tag wins on a shared key.
    summary.tags = {**_resource_tags(resource), **root_tags} if resource else root_tags
    return summary


def _try_parse_json_string(value: Any) -> Any:
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value
    return parsed if isinstance(parsed, str) else value


def _checked_tag(key: str, value: str) -> tuple[str, str] | None:
    """``_validate_trace_tag``: the (key, value) to store, or None for an invalid key."""
    try:
        validate_tag_name(key)
        limit_length("key", _MAX_TAG_KEY_LENGTH, key)
    except AiotrackError:
        return None
    return key, limit_length("value", _MAX_TAG_VALUE_LENGTH, value, truncate=True)


def _root_tags(attributes: Mapping[str, Any]) -> dict[str, str]:
    tags = {}
    for key, value in attributes.items():
        if key.startswith(_TRACE_TAG_PREFIX):
            checked = _checked_tag(
                key[len(_TRACE_TAG_PREFIX) :], str(_try_parse_json_string(value))
            )
            if checked is None:
                continue
            tag_key, tag_value = checked
            if tag_key == _TRACE_NAME:
                tag_value = limit_length("Trace name", _MAX_TRACE_NAME_LENGTH, tag_value)
            tags[tag_key] = tag_value
    return tags


def _resource_tags(attributes: Mapping[str, Any]) -> dict[str, str]:
    tags = {}
    for key, value in attributes.items():
        # OTel SDK metadata and MLflow's reserved namespace are not tags.
        if key.startswith(("telemetry.sdk.", "mlflow.")):
            continue
        # json.dumps as MLflow calls it: ASCII-escaped; a bytes value raises (fails the batch).
        text = value if isinstance(value, str) else json.dumps(value)
        if checked := _checked_tag(key, text):
            tags[checked[0]] = checked[1]
    return tags


def _previews(attributes: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The root span's request and response previews (``_update_trace_info_attributes``).

    As there, an error computing one (odd message content) leaves it, and the response
    preview after it, unset.
    """
    request = response = None
    try:
        if value := attributes.get(INPUTS):
            request = truncated_preview(value, role="user")
        if value := attributes.get(OUTPUTS):
            response = truncated_preview(value, role="assistant")
    except Exception:
        pass
    return request, response


def truncated_preview(value: Any, role: str) -> str | None:
    """MLflow's ``_get_truncated_preview``: the last ``role`` message's text if ``value`` is a
    chat request or response, else the JSON text itself; at most 1000 characters, NUL replaced.
    """
    if value is None:
        return None
    obj = None
    if isinstance(value, dict):
        obj = value
        value = json.dumps(value)
    elif isinstance(value, str):
        try:
            obj = loads(value)
        except json.JSONDecodeError:
            pass
    content = None
    if obj is not None and (messages := _messages(obj)):
        content = _message_text(_last_message(messages, role))
    content = content or value
    # PostgreSQL text cannot hold NUL: 3.18 replaces it (3.17.2 did not). A non-str raises, as
    # in MLflow, which then sets no preview.
    content = content.replace("\x00", "\ufffd") if content else content
    if len(content) <= PREVIEW_MAX_LENGTH:
        return content  # type: ignore[no-any-return]
    return content[: PREVIEW_MAX_LENGTH - 3] + "..."  # type: ignore[no-any-return]


def _is_message(item: Any) -> bool:
    return isinstance(item, dict) and "role" in item and "content" in item


def _messages(obj: Any) -> list[dict[str, Any]] | None:
    if not isinstance(obj, dict):
        return None
    if (messages := obj.get("messages")) and isinstance(messages, list):
        return [item for item in messages if _is_message(item)]
    if (
        (choices := obj.get("choices"))
        and isinstance(choices, list)
        and len(choices) > 0
        and isinstance(choices[0], dict)
        and (message := choices[0].get("message"))
        and _is_message(message)
    ):
        return [message]
    if (items := obj.get("input")) and isinstance(items, list):
        return [item for item in items if _is_message(item)]
    if (items := obj.get("output")) and isinstance(items, list):
        return [item for item in items if _is_message(item)]
    if "request" in obj:
        return _messages(obj["request"])
    return None


def _last_message(messages: list[dict[str, Any]], role: str) -> Any:
    for message in reversed(messages):
        if message.get("role") == role:
            return message
    return messages[-1]


def _message_text(message: dict[str, Any]) -> Any:
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                return part
            if isinstance(part, dict) and part.get("type") in ["text", "output_text"]:
                return part.get("text")
    elif isinstance(content, str):
        return content
    return ""


def node_data(value: Any) -> Mapping[str, Any] | None:
    """An aggregation node's data from a stored span's attribute value (``_span_aggregation_node``):
    the JSON object it holds (or is), else None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            pass
    return value if isinstance(value, dict) else None


def _nodes(spans: list[SpanRecord], *, usage: bool) -> list[Node]:
    return [(s.span_id, s.parent_span_id, s.usage_data if usage else s.cost_data) for s in spans]


def _aggregate(
    nodes: Iterable[Node], keys: tuple[str, ...], default: float, optional: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """MLflow's ``_aggregate_from_nodes``: sum each node's data unless an ancestor has data.

    Rollup integrations put a run's usage on a parent span too; counting only the topmost
    span with data on each path avoids counting it twice.
    """
    nodes = list(nodes)
    totals: dict[str, Any] = dict.fromkeys(keys, default)
    has_data = False
    node_ids = {span_id for span_id, _, _ in nodes}
    children: defaultdict[str, list[Node]] = defaultdict(list)
    stack: list[tuple[Node, bool]] = []
    for node in nodes:
        parent_id = node[1]
        if parent_id and parent_id in node_ids:
            children[parent_id].append(node)
        else:
            stack.append((node, False))
    while stack:
        node, ancestor_has_data = stack.pop()
        data = node[2]
        if data is not None and not ancestor_has_data:
            for key in keys:
                totals[key] += data.get(key, default)
            for key in optional:
                if key in data:
                    totals[key] = totals.get(key, default) + data[key]
            has_data = True
        below = ancestor_has_data or data is not None
        stack.extend((child, below) for child in children.get(node[0], ()))
    return totals if has_data else None


def aggregate_usage(nodes: Iterable[Node]) -> dict[str, int] | None:
    """Trace token usage from ``(span_id, parent_id, usage_data)`` nodes, or None if none has
    any (``aggregate_usage_from_span_nodes``); the store calls it again over stored spans too.
    """
    return _aggregate(nodes, _USAGE_KEYS, 0, _USAGE_CACHE_KEYS)


def aggregate_cost(nodes: Iterable[Node]) -> dict[str, float] | None:
    """Trace cost in USD from ``(span_id, parent_id, cost_data)`` nodes, or None."""
    return _aggregate(nodes, _COST_KEYS, 0.0)
