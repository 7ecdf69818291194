"""The translator base class and the open conventions: OpenInference, OTel GenAI, Traceloop.

A port of ``mlflow/tracing/otel/translation/*.py`` (3.18.0), with the framework-specific
translators in ``aiotrack.tracing.frameworks``. Each translator reads a span's
attributes (JSON-encoded strings, as MLflow stores them) and answers the span type, inputs,
outputs, token counts, model name and provider, tool definitions and chat message format in
its own convention. ``aiotrack.tracing.translation`` asks them in MLflow's order, first answer
wins, so the order and each quirk (truthiness tests, which values are JSON-decoded, which
outputs are dumped with ``ensure_ascii``) are kept as MLflow has them.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from aiotrack.tracing.jsonvalues import loads

__all__ = ["GenAi", "OpenInference", "SpringAi", "Traceloop", "Translator"]

Attrs = dict[str, Any]
Events = list[dict[str, Any]]

# mlflow.entities.SpanType values.
LLM, CHAIN, AGENT, TOOL, CHAT_MODEL = "LLM", "CHAIN", "AGENT", "TOOL", "CHAT_MODEL"
RETRIEVER, EMBEDDING, RERANKER, MEMORY = "RETRIEVER", "EMBEDDING", "RERANKER", "MEMORY"
UNKNOWN, WORKFLOW, TASK, GUARDRAIL, EVALUATOR = (
    "UNKNOWN",
    "WORKFLOW",
    "TASK",
    "GUARDRAIL",
    "EVALUATOR",
)
MESSAGE_FORMAT_KEY = "mlflow.message.format"


class Translator:
    """MLflow's ``OtelSchemaTranslator``: a convention described by its attribute keys."""

    SPAN_KIND_ATTRIBUTE_KEY: ClassVar[str | None] = None
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {}
    INPUT_TOKEN_KEY: ClassVar[str | None] = None
    OUTPUT_TOKEN_KEY: ClassVar[str | None] = None
    TOTAL_TOKEN_KEY: ClassVar[str | None] = None
    CACHE_READ_INPUT_TOKEN_KEY: ClassVar[str | None] = None
    CACHE_CREATION_INPUT_TOKEN_KEY: ClassVar[str | None] = None
    INPUT_VALUE_KEYS: ClassVar[tuple[Any, ...] | None] = None
    OUTPUT_VALUE_KEYS: ClassVar[tuple[Any, ...] | None] = None
    MODEL_NAME_KEYS: ClassVar[tuple[str, ...] | None] = None
    LLM_PROVIDER_KEY: ClassVar[str | None] = None
    TOOL_DEFINITION_KEYS: ClassVar[tuple[str, ...] | None] = None
    # Whether MLflow lists it among the event translators (it has the *_from_events methods).
    HAS_INPUT_EVENTS: ClassVar[bool] = False
    HAS_OUTPUT_EVENTS: ClassVar[bool] = False

    def get_message_format(self, attributes: Attrs) -> str | None:
        return None

    def translate_span_type(self, attributes: Attrs) -> str | None:
        if self.SPAN_KIND_ATTRIBUTE_KEY and (
            span_kind := attributes.get(self.SPAN_KIND_ATTRIBUTE_KEY)
        ):
            if isinstance(span_kind, str):
                try:
                    span_kind = json.loads(span_kind)
                except (json.JSONDecodeError, TypeError):
                    pass
            # An unhashable kind (a JSON object or array) raises here, as in MLflow (where it
            # fails the whole batch).
            return self.SPAN_KIND_TO_MLFLOW_TYPE.get(span_kind)
        return None

    def get_input_tokens(self, attributes: Attrs) -> Any:
        return attributes.get(self.INPUT_TOKEN_KEY) if self.INPUT_TOKEN_KEY else None

    def get_output_tokens(self, attributes: Attrs) -> Any:
        return attributes.get(self.OUTPUT_TOKEN_KEY) if self.OUTPUT_TOKEN_KEY else None

    def get_total_tokens(self, attributes: Attrs) -> Any:
        return attributes.get(self.TOTAL_TOKEN_KEY) if self.TOTAL_TOKEN_KEY else None

    def get_cache_read_input_tokens(self, attributes: Attrs) -> Any:
        key = self.CACHE_READ_INPUT_TOKEN_KEY
        return attributes.get(key) if key else None

    def get_cache_creation_input_tokens(self, attributes: Attrs) -> Any:
        key = self.CACHE_CREATION_INPUT_TOKEN_KEY
        return attributes.get(key) if key else None

    def get_model_name(self, attributes: Attrs) -> Any:
        if value := self.get_attribute_value(attributes, self.MODEL_NAME_KEYS):
            return _try_decode_if_json(value)
        return None

    def get_model_provider(self, attributes: Attrs) -> Any:
        if self.LLM_PROVIDER_KEY:
            if value := self._checked_value(attributes, self.LLM_PROVIDER_KEY):
                return _try_decode_if_json(value)
        return None

    def get_input_value(self, attributes: Attrs) -> Any:
        return self.get_attribute_value(attributes, self.INPUT_VALUE_KEYS)

    def get_output_value(self, attributes: Attrs) -> Any:
        return self.get_attribute_value(attributes, self.OUTPUT_VALUE_KEYS)

    def get_tool_definitions(self, attributes: Attrs) -> Any:
        return self.get_attribute_value(attributes, self.TOOL_DEFINITION_KEYS)

    def get_input_value_from_events(self, events: Events, attributes: Attrs) -> Any:
        return None

    def get_output_value_from_events(self, events: Events, attributes: Attrs) -> Any:
        return None

    def get_attribute_value(self, attributes: Attrs, keys: tuple[Any, ...] | None) -> Any:
        if keys:
            for key in keys:
                if value := self._checked_value(attributes, key):
                    return value
        return None

    @staticmethod
    def _checked_value(attributes: Attrs, key: str) -> Any:
        """The value unless it is JSON for something falsy (``null``, ``{}``, ``""``, ``0``)."""
        value = attributes.get(key)
        if isinstance(value, str):
            try:
                return value if loads(value) else None
            except json.JSONDecodeError:
                pass
        return value


def _try_decode_if_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, TypeError):
            pass
    return value


class OpenInference(Translator):
    SPAN_KIND_ATTRIBUTE_KEY = "openinference.span.kind"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "TOOL": TOOL,
        "CHAIN": CHAIN,
        "LLM": LLM,
        "RETRIEVER": RETRIEVER,
        "EMBEDDING": EMBEDDING,
        "AGENT": AGENT,
        "RERANKER": RERANKER,
        "UNKNOWN": UNKNOWN,
        "GUARDRAIL": GUARDRAIL,
        "EVALUATOR": EVALUATOR,
    }
    INPUT_TOKEN_KEY = "llm.token_count.prompt"
    OUTPUT_TOKEN_KEY = "llm.token_count.completion"
    TOTAL_TOKEN_KEY = "llm.token_count.total"
    CACHE_READ_INPUT_TOKEN_KEY = "llm.token_count.prompt_details.cache_read"
    CACHE_CREATION_INPUT_TOKEN_KEY = "llm.token_count.prompt_details.cache_write"
    INPUT_VALUE_KEYS = ("input.value",)
    OUTPUT_VALUE_KEYS = ("output.value",)
    MODEL_NAME_KEYS = (
        "llm.response.model_name",
        "llm.model_name",
        "llm.request.model_name",
        "embedding.model_name",
    )
    LLM_PROVIDER_KEY = "llm.provider"


class GenAi(Translator):
    """The OpenTelemetry GenAI semantic conventions (``gen_ai.*``)."""

    SPAN_KIND_ATTRIBUTE_KEY = "gen_ai.operation.name"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "chat": CHAT_MODEL,
        "create_agent": AGENT,
        "embeddings": EMBEDDING,
        "execute_tool": TOOL,
        "generate_content": LLM,
        "invoke_agent": AGENT,
        "text_completion": LLM,
        "response": LLM,
    }
    INPUT_TOKEN_KEY = "gen_ai.usage.input_tokens"
    OUTPUT_TOKEN_KEY = "gen_ai.usage.output_tokens"
    CACHE_READ_INPUT_TOKEN_KEY = "gen_ai.usage.cache_read.input_tokens"
    CACHE_CREATION_INPUT_TOKEN_KEY = "gen_ai.usage.cache_write.input_tokens"
    LEGACY_CACHE_CREATION_INPUT_TOKEN_KEY = "gen_ai.usage.cache_creation.input_tokens"
    INPUT_VALUE_KEYS: ClassVar[tuple[Any, ...] | None] = (
        "gen_ai.input.messages",
        "gen_ai.tool.call.arguments",
    )
    OUTPUT_VALUE_KEYS: ClassVar[tuple[Any, ...] | None] = (
        "gen_ai.output.messages",
        "gen_ai.tool.call.result",
    )
    MODEL_NAME_KEYS = ("gen_ai.response.model", "gen_ai.request.model")
    LLM_PROVIDER_KEY = "gen_ai.provider.name"
    TOOL_DEFINITION_KEYS = ("gen_ai.tool.definitions",)
    HAS_INPUT_EVENTS = True
    HAS_OUTPUT_EVENTS = True

    def get_cache_creation_input_tokens(self, attributes: Attrs) -> Any:
        if (value := super().get_cache_creation_input_tokens(attributes)) is not None:
            return value
        return attributes.get(self.LEGACY_CACHE_CREATION_INPUT_TOKEN_KEY)

    def get_input_value_from_events(self, events: Events, attributes: Attrs) -> Any:
        roles = {
            "gen_ai.system.message": "system",
            "gen_ai.user.message": "user",
            "gen_ai.assistant.message": "assistant",
        }
        messages = []
        for event in events:
            role = roles.get(event.get("name", ""))
            if role and (content := event.get("attributes", {}).get("content")):
                messages.append({"role": role, "content": _try_decode_if_json(content)})
        return json.dumps(messages) if messages else None

    def get_output_value_from_events(self, events: Events, attributes: Attrs) -> Any:
        messages = []
        for event in events:
            if event.get("name", "") == "gen_ai.choice":
                event_attrs = event.get("attributes", {})
                if content := event_attrs.get("content"):
                    role = event_attrs.get("role", "assistant")
                    messages.append(
                        {
                            "role": _try_decode_if_json(role),
                            "content": _try_decode_if_json(content),
                        }
                    )
        return json.dumps(messages) if messages else None


class SpringAi(Translator):
    """Spring AI: GenAI keys, prompt and completion carried in events."""

    SPAN_KIND_ATTRIBUTE_KEY = "gen_ai.operation.name"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "chat": CHAT_MODEL,
        "embeddings": EMBEDDING,
    }
    INPUT_TOKEN_KEY = "gen_ai.usage.input_tokens"
    OUTPUT_TOKEN_KEY = "gen_ai.usage.output_tokens"
    HAS_INPUT_EVENTS = True
    HAS_OUTPUT_EVENTS = True

    @staticmethod
    def _from_event(events: Events, event_name: str, key: str) -> Any:
        for event in events:
            if event.get("name") == event_name:
                if value := event.get("attributes", {}).get(key):
                    return value
        return None

    def get_input_value_from_events(self, events: Events, attributes: Attrs) -> Any:
        return self._from_event(events, "gen_ai.content.prompt", "gen_ai.prompt")

    def get_output_value_from_events(self, events: Events, attributes: Attrs) -> Any:
        return self._from_event(events, "gen_ai.content.completion", "gen_ai.completion")


class Traceloop(Translator):
    """Traceloop / OpenLLMetry (``traceloop.*``, ``gen_ai.prompt.N.content``, ...)."""

    SPAN_KIND_ATTRIBUTE_KEY = "traceloop.span.kind"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "workflow": WORKFLOW,
        "task": TASK,
        "agent": AGENT,
        "tool": TOOL,
        "unknown": UNKNOWN,
    }
    INPUT_TOKEN_KEY = "gen_ai.usage.prompt_tokens"
    OUTPUT_TOKEN_KEY = "gen_ai.usage.completion_tokens"
    TOTAL_TOKEN_KEY = "llm.usage.total_tokens"
    INPUT_VALUE_KEYS = (
        "traceloop.entity.input",
        re.compile(r"gen_ai\.prompt\.\d+\.content"),
        re.compile(r"gen_ai\.completion\.\d+\.tool_calls\.\d+\.arguments"),
    )
    OUTPUT_VALUE_KEYS = ("traceloop.entity.output", re.compile(r"gen_ai\.completion\.\d+\.content"))
    LLM_PROVIDER_KEY = "gen_ai.system"

    def get_attribute_value(self, attributes: Attrs, keys: tuple[Any, ...] | None) -> Any:
        if keys:
            for key in keys:
                if isinstance(key, str):
                    if value := self._checked_value(attributes, key):
                        return value
                else:
                    # re.match: anchored at the start only, as in MLflow.
                    for attr_key in attributes:
                        if key.match(attr_key) and (
                            value := self._checked_value(attributes, attr_key)
                        ):
                            return value
        return None
