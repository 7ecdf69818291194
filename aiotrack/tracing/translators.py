"""The third-party OpenTelemetry schemas MLflow 3.18 recognises, one translator class each.

A port of ``mlflow/tracing/otel/translation/*.py`` (3.18.0): each translator reads a span's
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

from aiotrack.tracing.jsonvalues import dump_attribute, loads, try_json_loads

__all__ = [
    "EVENT_TRANSLATORS",
    "TRANSLATORS",
    "WATCHED_EVENTS",
    "Translator",
    "may_translate",
]

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


class GeminiCli(GenAi):
    """Gemini CLI: GenAI keys, its own operation names, inputs/outputs in Gemini SDK shape."""

    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "llm_call": LLM,
        "tool_call": TOOL,
        "agent_call": AGENT,
    }
    # GenAiTranslator's event methods exist on it, but MLflow does not list it as an event
    # translator.
    HAS_INPUT_EVENTS = False
    HAS_OUTPUT_EVENTS = False

    @staticmethod
    def _is_gemini_cli(attributes: Attrs) -> bool:
        return bool(_try_decode_if_json(attributes.get("gen_ai.agent.name")) == "gemini-cli")

    def translate_span_type(self, attributes: Attrs) -> str | None:
        if not self._is_gemini_cli(attributes):
            return None
        return super().translate_span_type(attributes)

    def get_message_format(self, attributes: Attrs) -> str | None:
        return "gemini" if self._is_gemini_cli(attributes) else None

    def get_input_value(self, attributes: Attrs) -> Any:
        if not self._is_gemini_cli(attributes):
            return None
        if value := super().get_input_value(attributes):
            decoded = try_json_loads(value)
            if isinstance(decoded, dict) and "contents" in decoded:
                return value
            if attributes.get(self.SPAN_KIND_ATTRIBUTE_KEY or "") == "system_prompt" and (
                isinstance(decoded, list)
            ):
                decoded = [
                    {**item, "role": "system"}
                    if isinstance(item, dict) and item.get("role") == "user"
                    else item
                    for item in decoded
                ]
            if isinstance(decoded, (list, str)):
                return json.dumps({"contents": decoded})
            return value
        return None

    def get_output_value(self, attributes: Attrs) -> Any:
        if not self._is_gemini_cli(attributes):
            return None
        if value := super().get_output_value(attributes):
            decoded = try_json_loads(value)
            if isinstance(decoded, dict) and "candidates" in decoded:
                return value
            if isinstance(decoded, list):
                parts: list[Any] = []
                for item in decoded:
                    if isinstance(item, dict) and isinstance(item.get("parts"), list):
                        parts.extend(item["parts"])
                if parts:
                    return json.dumps(
                        {"candidates": [{"content": {"role": "model", "parts": parts}}]}
                    )
            return value
        return None


_CC_INTERACTION = "claude_code.interaction"
_CC_LLM_REQUEST = "claude_code.llm_request"
_CC_TOOL = "claude_code.tool"
_CC_REDACTED = "<REDACTED>"


class ClaudeCode(Translator):
    """Claude Code / the Claude Agent SDK (``span.type`` = ``claude_code.*``)."""

    SPAN_KIND_ATTRIBUTE_KEY = "span.type"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        _CC_INTERACTION: AGENT,
        _CC_LLM_REQUEST: LLM,
        _CC_TOOL: TOOL,
    }
    INPUT_TOKEN_KEY = "input_tokens"
    OUTPUT_TOKEN_KEY = "output_tokens"
    CACHE_READ_INPUT_TOKEN_KEY = "cache_read_tokens"
    CACHE_CREATION_INPUT_TOKEN_KEY = "cache_creation_tokens"
    HAS_OUTPUT_EVENTS = True

    def _kind(self, attributes: Attrs) -> str | None:
        span_type = try_json_loads(attributes.get("span.type"))
        if not isinstance(span_type, str):
            return None
        if not span_type.startswith("claude_code."):
            # Some Claude Code versions send the bare name ("tool") in span.type.
            span_type = "claude_code." + span_type
        return span_type if span_type in self.SPAN_KIND_TO_MLFLOW_TYPE else None

    def _content(self, attributes: Attrs, key: str) -> Any:
        value = self._checked_value(attributes, key)
        if value is None or try_json_loads(value) == _CC_REDACTED:
            return None
        return value

    @staticmethod
    def _int(attributes: Attrs, key: str) -> int | None:
        value = try_json_loads(attributes.get(key))
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    def translate_span_type(self, attributes: Attrs) -> str | None:
        if kind := self._kind(attributes):
            return self.SPAN_KIND_TO_MLFLOW_TYPE[kind]
        return None

    def get_input_tokens(self, attributes: Attrs) -> Any:
        if self._kind(attributes) != _CC_LLM_REQUEST:
            return None
        input_tokens = self._int(attributes, "input_tokens")
        if input_tokens is None:
            return None
        # Claude reports input tokens without the cache tokens; MLflow counts them in.
        return (
            input_tokens
            + (self.get_cache_read_input_tokens(attributes) or 0)
            + (self.get_cache_creation_input_tokens(attributes) or 0)
        )

    def get_output_tokens(self, attributes: Attrs) -> Any:
        if self._kind(attributes) == _CC_LLM_REQUEST:
            return self._int(attributes, "output_tokens")
        return None

    def get_cache_read_input_tokens(self, attributes: Attrs) -> Any:
        if self._kind(attributes) == _CC_LLM_REQUEST:
            return self._int(attributes, "cache_read_tokens")
        return None

    def get_cache_creation_input_tokens(self, attributes: Attrs) -> Any:
        if self._kind(attributes) == _CC_LLM_REQUEST:
            return self._int(attributes, "cache_creation_tokens")
        return None

    def get_input_value(self, attributes: Attrs) -> Any:
        kind = self._kind(attributes)
        if kind == _CC_INTERACTION:
            return self._content(attributes, "user_prompt") or self._content(
                attributes, "new_context"
            )
        if kind == _CC_LLM_REQUEST:
            return self._content(attributes, "new_context")
        if kind == _CC_TOOL:
            if tool_input := self._content(attributes, "tool_input"):
                return tool_input
            details = {
                key: try_json_loads(value)
                for key in ("full_command", "file_path", "skill_name", "subagent_type")
                if (value := self._content(attributes, key))
            }
            return json.dumps(details) if details else None
        return None

    def get_output_value(self, attributes: Attrs) -> Any:
        kind = self._kind(attributes)
        if kind == _CC_LLM_REQUEST:
            return self._content(attributes, "response.model_output")
        if kind == _CC_TOOL:
            return self._content(attributes, "new_context")
        return None

    def get_output_value_from_events(self, events: Events, attributes: Attrs) -> Any:
        if self._kind(attributes) != _CC_TOOL:
            return None
        for event in events:
            if event.get("name") == "tool.output":
                event_attributes = event.get("attributes", {})
                for key in ("output", "content", "diff"):
                    value = try_json_loads(event_attributes.get(key))
                    if value and value != _CC_REDACTED:
                        return dump_attribute(value)
        return None


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


class GoogleAdk(Translator):
    INPUT_VALUE_KEYS = ("gcp.vertex.agent.llm_request", "gcp.vertex.agent.tool_call_args")
    OUTPUT_VALUE_KEYS = ("gcp.vertex.agent.llm_response", "gcp.vertex.agent.tool_response")


class VercelAi(Translator):
    """The Vercel AI SDK (``ai.*``)."""

    INPUT_VALUE_KEYS = ("ai.prompt", "ai.toolCall.args", "ai.value", "ai.values")
    OUTPUT_VALUE_KEYS = (
        "ai.response.text",
        "ai.toolCall.result",
        "ai.response.object",
        "ai.embedding",
        "ai.embeddings",
    )
    SPAN_KIND_ATTRIBUTE_KEY = "ai.operationId"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "ai.generateText": LLM,
        "ai.generateText.doGenerate": LLM,
        "ai.toolCall": TOOL,
        "ai.streamText": LLM,
        "ai.streamText.doStream": LLM,
        "ai.generateObject": LLM,
        "ai.generateObject.doGenerate": LLM,
        "ai.streamObject": LLM,
        "ai.streamObject.doStream": LLM,
        "ai.embed": EMBEDDING,
        "ai.embed.doEmbed": EMBEDDING,
        "ai.embedMany": EMBEDDING,
    }

    def get_input_value(self, attributes: Attrs) -> Any:
        if self._is_chat_span(attributes):
            inputs = self._unpack(attributes, "ai.prompt.")
            if "tools" in inputs:
                inputs["tools"] = [self._load(tool) for tool in inputs["tools"]]
            # MLflow sets the format here, raw (not JSON-encoded), as a side effect.
            attributes[MESSAGE_FORMAT_KEY] = "vercel_ai"
            return json.dumps(inputs) if inputs else None
        return super().get_input_value(attributes)

    def get_output_value(self, attributes: Attrs) -> Any:
        if self._is_chat_span(attributes):
            outputs = self._unpack(attributes, "ai.response.")
            return json.dumps(outputs) if outputs else None
        return super().get_output_value(attributes)

    def _unpack(self, attributes: Attrs, prefix: str) -> dict[str, Any]:
        return {
            key[len(prefix) :]: self._load(value)
            for key, value in attributes.items()
            if key.startswith(prefix)
        }

    def _load(self, value: Any, max_depth: int = 2) -> Any:
        if not isinstance(value, str):
            return value
        try:
            result = json.loads(value)
        except json.JSONDecodeError:
            return value
        return self._load(result, max_depth - 1) if max_depth > 0 else result

    def _is_chat_span(self, attributes: Attrs) -> bool:
        kind = self._load(attributes.get("ai.operationId"))
        return kind in ["ai.generateText.doGenerate", "ai.streamText.doStream"]


class VoltAgent(Translator):
    INPUT_VALUE_KEYS = ("agent.messages", "llm.messages", "input")
    OUTPUT_VALUE_KEYS = ("output",)
    KIND_KEYS = ("span.type", "entity.type")
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "agent": AGENT,
        "llm": LLM,
        "tool": TOOL,
        "memory": MEMORY,
    }

    def translate_span_type(self, attributes: Attrs) -> str | None:
        for key in self.KIND_KEYS:
            span_type = _try_decode_if_json(attributes.get(key))
            if span_type and (mlflow_type := self.SPAN_KIND_TO_MLFLOW_TYPE.get(span_type)):
                return mlflow_type
        return None

    def get_message_format(self, attributes: Attrs) -> str | None:
        if "voltagent.operation_id" in attributes or "voltagent.conversation_id" in attributes:
            return "voltagent"
        return None

    def get_input_tokens(self, attributes: Attrs) -> Any:
        return attributes.get("usage.prompt_tokens") or attributes.get("llm.usage.prompt_tokens")

    def get_output_tokens(self, attributes: Attrs) -> Any:
        return attributes.get("usage.completion_tokens") or attributes.get(
            "llm.usage.completion_tokens"
        )

    def get_total_tokens(self, attributes: Attrs) -> Any:
        return attributes.get("usage.total_tokens") or attributes.get("llm.usage.total_tokens")


class LiveKit(GenAi):
    INPUT_VALUE_KEYS: ClassVar[tuple[Any, ...] | None] = (
        "lk.user_input",
        "lk.user_transcript",
        "lk.chat_ctx",
        "lk.input_text",
    )
    OUTPUT_VALUE_KEYS: ClassVar[tuple[Any, ...] | None] = (
        "lk.response.text",
        "lk.response.function_calls",
    )
    DETECTION_KEYS = ("lk.agent_name", "lk.room_name", "lk.job_id", "lk.participant_identity")

    def translate_span_type(self, attributes: Attrs) -> str | None:
        if "gen_ai.request.model" in attributes:
            return LLM
        if gen_ai_op := attributes.get("gen_ai.operation.name"):
            op_lower = str(_try_decode_if_json(gen_ai_op)).lower()
            if mlflow_type := self.SPAN_KIND_TO_MLFLOW_TYPE.get(op_lower):
                return mlflow_type
        for key in attributes:
            if key == "lk.retry_count":
                return LLM
            if key.startswith("lk.function_tool"):
                return TOOL
            if key in ("lk.agent_name", "lk.instructions", "lk.generation_id"):
                return AGENT
            if key.startswith("lk.tts") or key == "lk.input_text":
                return UNKNOWN
            if key in ("lk.user_transcript", "lk.transcript_confidence", "lk.transcription_delay"):
                return UNKNOWN
        return None

    def get_message_format(self, attributes: Attrs) -> str | None:
        if any(key in attributes for key in self.DETECTION_KEYS):
            return "livekit"
        if any(key.startswith("lk.") for key in attributes):
            return "livekit"
        return None


class Laminar(Translator):
    SPAN_KIND_ATTRIBUTE_KEY = "lmnr.span.type"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "LLM": LLM,
        "TOOL": TOOL,
        "DEFAULT": CHAIN,
        "PIPELINE": CHAIN,
        "EXECUTOR": AGENT,
        "EVALUATOR": EVALUATOR,
        "HUMAN_EVALUATOR": EVALUATOR,
        "EVALUATION": EVALUATOR,
        "CACHED": LLM,
    }
    INPUT_VALUE_KEYS = ("lmnr.span.input",)
    OUTPUT_VALUE_KEYS = ("lmnr.span.output",)
    INPUT_TOKEN_KEY = "gen_ai.usage.input_tokens"
    OUTPUT_TOKEN_KEY = "gen_ai.usage.output_tokens"
    MODEL_NAME_KEYS = ("gen_ai.response.model", "gen_ai.request.model")
    LLM_PROVIDER_KEY = "gen_ai.system"

    def get_message_format(self, attributes: Attrs) -> str | None:
        return "openai" if "lmnr.span.type" in attributes else None


class Langfuse(Translator):
    SPAN_KIND_ATTRIBUTE_KEY = "langfuse.observation.type"
    SPAN_KIND_TO_MLFLOW_TYPE: ClassVar[dict[str, str]] = {
        "generation": LLM,
        "embedding": EMBEDDING,
        "tool": TOOL,
        "retriever": RETRIEVER,
        "agent": AGENT,
        "chain": CHAIN,
        "evaluator": EVALUATOR,
        "guardrail": GUARDRAIL,
        "span": UNKNOWN,
    }
    INPUT_VALUE_KEYS = ("langfuse.observation.input",)
    OUTPUT_VALUE_KEYS = ("langfuse.observation.output",)


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


def may_translate(attributes: Attrs) -> bool:
    """Whether any translator could answer anything for these attributes."""
    return any(key in WATCHED_KEYS or key.startswith(WATCHED_PREFIXES) for key in attributes)
