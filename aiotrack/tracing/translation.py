"""MLflow's ``translate_span_when_storing``: third-party attributes become MLflow's own.

A port of ``mlflow/tracing/otel/translation/__init__.py`` (3.18.0). Given a span's attributes
(JSON-encoded strings, edited in place) and events, it sets, when absent: the span type (also
over ``UNKNOWN``), inputs and outputs (from attributes, then events), token usage, the chat
message format, tool definitions, model name and provider, and the cost when a price catalog
knows the model. The schemas themselves live in ``aiotrack.tracing.translators`` (the open
conventions) and ``aiotrack.tracing.frameworks``; their registry, in MLflow's order, is here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiotrack.tracing.frameworks import (
    ClaudeCode,
    GeminiCli,
    GoogleAdk,
    Laminar,
    Langfuse,
    LiveKit,
    VercelAi,
    VoltAgent,
)
from aiotrack.tracing.jsonvalues import dump_attribute, try_json_loads
from aiotrack.tracing.pricing import PriceCatalog
from aiotrack.tracing.translators import GenAi, OpenInference, SpringAi, Traceloop, Translator

__all__ = [
    "CHAT_TOOLS",
    "CHAT_USAGE",
    "INPUTS",
    "LLM_COST",
    "MESSAGE_FORMAT",
    "MODEL",
    "MODEL_PROVIDER",
    "OUTPUTS",
    "SPAN_TYPE",
    "TRANSLATORS",
    "WATCHED_KEYS",
    "may_translate",
    "translate_attributes",
]

_logger = logging.getLogger(__name__)

# mlflow.tracing.constant.SpanAttributeKey
SPAN_TYPE = "mlflow.spanType"
INPUTS = "mlflow.spanInputs"
OUTPUTS = "mlflow.spanOutputs"
CHAT_USAGE = "mlflow.chat.tokenUsage"
MESSAGE_FORMAT = "mlflow.message.format"
CHAT_TOOLS = "mlflow.chat.tools"
MODEL = "mlflow.llm.model"
MODEL_PROVIDER = "mlflow.llm.provider"
LLM_COST = "mlflow.llm.cost"


# MLflow's _TRANSLATORS and _EVENT_TRANSLATORS, in its order (the first answer wins).
TRANSLATORS: tuple[Translator, ...] = (
    OpenInference(),
    GeminiCli(),
    ClaudeCode(),
    GenAi(),
    SpringAi(),
    Traceloop(),
    GoogleAdk(),
    VercelAi(),
    VoltAgent(),
    LiveKit(),
    Laminar(),
    Langfuse(),
)
EVENT_TRANSLATORS: tuple[Translator, ...] = (SpringAi(), LiveKit(), ClaudeCode())


def _declared_keys(translator: Translator) -> set[str]:
    keys: set[str] = set()
    for name in dir(translator):
        if name.endswith("_KEY") or name.endswith("_KEYS"):
            value = getattr(translator, name)
            values = value if isinstance(value, tuple) else (value,)
            keys.update(item for item in values if isinstance(item, str))
    return keys


# Every attribute key a translator may read: its declared keys and those its methods name.
# A span with none of them (nor one of the prefixes) gets nothing from any translator, so
# translation.translate_attributes skips asking (MLflow client spans, typically).
WATCHED_KEYS = frozenset(
    set().union(*(_declared_keys(t) for t in TRANSLATORS))
    | {
        "gen_ai.agent.name",
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "span.type",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "user_prompt",
        "new_context",
        "tool_input",
        "full_command",
        "file_path",
        "skill_name",
        "subagent_type",
        "response.model_output",
        "ai.operationId",
        "voltagent.operation_id",
        "voltagent.conversation_id",
        "usage.prompt_tokens",
        "llm.usage.prompt_tokens",
        "usage.completion_tokens",
        "llm.usage.completion_tokens",
        "usage.total_tokens",
        "llm.usage.total_tokens",
        "lmnr.span.type",
    }
)
# LiveKit's "lk.*", Vercel's unpacked "ai.prompt.*"/"ai.response.*", Traceloop's patterns.
WATCHED_PREFIXES = ("lk.", "ai.prompt.", "ai.response.", "gen_ai.prompt.", "gen_ai.completion.")
# The events the event translators read (Claude Code's also need its span.type attribute).
WATCHED_EVENTS = frozenset(
    {
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.choice",
        "gen_ai.content.prompt",
        "gen_ai.content.completion",
    }
)


def may_translate(attributes: dict[str, Any]) -> bool:
    """Whether any translator could answer anything for these attributes."""
    return any(key in WATCHED_KEYS or key.startswith(WATCHED_PREFIXES) for key in attributes)


def translate_attributes(
    attributes: dict[str, Any], events: list[dict[str, Any]], prices: PriceCatalog | None
) -> None:
    """Add MLflow's attributes derived from other conventions to ``attributes``, in place.

    Keys are added in MLflow's order (so the stored JSON matches). Exceptions a translator
    raises on odd input propagate, as in MLflow (where they fail the batch); only the cost
    computation swallows its errors.
    """
    # Most spans (all from MLflow's own client) carry no key any translator reads: then only
    # the model named in the inputs or outputs, and the cost, can be added.
    relevant = may_translate(attributes)
    # 3.18 asks the translators only when the type is missing or UNKNOWN (3.17.2 asked first,
    # then kept a known type) and remembers the result for the agent test below.
    span_type_raw = attributes.get(SPAN_TYPE)
    span_type = try_json_loads(span_type_raw) if span_type_raw else None
    if (
        relevant
        and span_type in (None, "UNKNOWN")
        and (mlflow_type := _first("translate_span_type", attributes))
    ):
        span_type = mlflow_type
        attributes[SPAN_TYPE] = dump_attribute(mlflow_type)

    events_relevant = relevant or any(e["name"] in WATCHED_EVENTS for e in events)
    if (
        INPUTS not in attributes
        and events_relevant
        and (value := _io_value(attributes, events, inputs=True))
    ):
        attributes[INPUTS] = value
    if (
        OUTPUTS not in attributes
        and events_relevant
        and (value := _io_value(attributes, events, inputs=False))
    ):
        attributes[OUTPUTS] = value

    if relevant:
        if CHAT_USAGE not in attributes and (usage := _token_usage(attributes)):
            attributes[CHAT_USAGE] = dump_attribute(usage)
        if MESSAGE_FORMAT not in attributes and (fmt := _first("get_message_format", attributes)):
            attributes[MESSAGE_FORMAT] = dump_attribute(fmt)
        if CHAT_TOOLS not in attributes and (tools := _first("get_tool_definitions", attributes)):
            attributes[CHAT_TOOLS] = tools
    if MODEL not in attributes and (model_name := _model_name(attributes, relevant)):
        attributes[MODEL] = dump_attribute(model_name)
    if (
        relevant
        and MODEL_PROVIDER not in attributes
        and (provider := _first("get_model_provider", attributes))
    ):
        attributes[MODEL_PROVIDER] = dump_attribute(provider)

    # An agent span's usage is a rollup of its run: pricing it would hide its LLM spans' cost
    # (3.18; 3.17.2 priced agent spans too).
    if (
        LLM_COST not in attributes
        and span_type != "AGENT"
        and CHAT_USAGE in attributes
        and MODEL in attributes
    ):
        try:
            usage_value = json.loads(attributes[CHAT_USAGE])
            model_name = json.loads(attributes[MODEL])
            provider_value = (
                json.loads(attributes[MODEL_PROVIDER]) if MODEL_PROVIDER in attributes else None
            )
            if prices is not None and (
                cost := prices.cost(model_name, usage_value, provider_value)
            ):
                attributes[LLM_COST] = dump_attribute(cost)
        except Exception:
            _logger.debug("Failed to calculate cost during OTEL translation", exc_info=True)


def _first(method: str, attributes: dict[str, Any]) -> Any:
    for translator in TRANSLATORS:
        if value := getattr(translator, method)(attributes):
            return value
    return None


def _io_value(attributes: dict[str, Any], events: list[dict[str, Any]], *, inputs: bool) -> Any:
    for translator in TRANSLATORS:
        value = (
            translator.get_input_value(attributes)
            if inputs
            else translator.get_output_value(attributes)
        )
        if value:
            return value
    if events:
        for translator in EVENT_TRANSLATORS:
            if inputs and translator.HAS_INPUT_EVENTS:
                value = translator.get_input_value_from_events(events, attributes)
            elif not inputs and translator.HAS_OUTPUT_EVENTS:
                value = translator.get_output_value_from_events(events, attributes)
            else:
                continue
            if value:
                return value
    return None


def _parse_int(value: Any) -> int | None:
    """MLflow's ``_parse_int_attribute``: ``26``, ``"26"`` and ``'"26"'`` are all 26."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, int):
                return parsed
            if isinstance(parsed, str):
                return int(parsed)
        except (json.JSONDecodeError, ValueError):
            pass
        try:
            return int(value)
        except ValueError:
            pass
    return None


def _token_usage(attributes: dict[str, Any]) -> dict[str, int] | None:
    for translator in TRANSLATORS:
        input_tokens = _parse_int(translator.get_input_tokens(attributes))
        output_tokens = _parse_int(translator.get_output_tokens(attributes))
        total_tokens = _parse_int(translator.get_total_tokens(attributes))
        if total_tokens is None and input_tokens is not None and output_tokens is not None:
            total_tokens = input_tokens + output_tokens
        if input_tokens is None and output_tokens is None and total_tokens is None:
            continue
        usage: dict[str, int] = {}
        if input_tokens is not None:
            usage["input_tokens"] = input_tokens
        if output_tokens is not None:
            usage["output_tokens"] = output_tokens
        if total_tokens is not None:
            usage["total_tokens"] = total_tokens
        cache_read = _parse_int(translator.get_cache_read_input_tokens(attributes))
        if cache_read is not None:
            usage["cache_read_input_tokens"] = cache_read
        cache_creation = _parse_int(translator.get_cache_creation_input_tokens(attributes))
        if cache_creation is not None:
            usage["cache_creation_input_tokens"] = cache_creation
        return usage
    return None


def _model_name(attributes: dict[str, Any], relevant: bool) -> Any:
    if relevant and (model_name := _first("get_model_name", attributes)):
        return model_name
    # Then the "model" field of the inputs, then of the outputs.
    for key in (INPUTS, OUTPUTS):
        if value := attributes.get(key):
            # Only JSON text naming "model" (literally or through \u escapes) can hold the key;
            # skipping the rest saves decoding every span's inputs and outputs.
            if isinstance(value, str) and '"model"' not in value and "\\u" not in value:
                continue
            try:
                if isinstance(value, str):
                    value = json.loads(value)
                if isinstance(value, dict) and (model := value.get("model")):
                    return model if isinstance(model, str) else None
            except Exception:
                _logger.debug("Failed to parse %s for model name", key, exc_info=True)
    return None
