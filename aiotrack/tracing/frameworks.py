"""The translators for agent frameworks and tools MLflow 3.18 recognises.

Gemini CLI, Claude Code, Google ADK, the Vercel AI SDK, VoltAgent, LiveKit Agents, Laminar and
Langfuse: ports of the matching ``mlflow/tracing/otel/translation/*.py`` (3.18.0), quirks kept.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from aiotrack.tracing.jsonvalues import dump_attribute, try_json_loads
from aiotrack.tracing.translators import (
    AGENT,
    CHAIN,
    EMBEDDING,
    EVALUATOR,
    GUARDRAIL,
    LLM,
    MEMORY,
    MESSAGE_FORMAT_KEY,
    RETRIEVER,
    TOOL,
    UNKNOWN,
    Attrs,
    Events,
    GenAi,
    Translator,
    _try_decode_if_json,
)

__all__ = [
    "ClaudeCode",
    "GeminiCli",
    "GoogleAdk",
    "Laminar",
    "Langfuse",
    "LiveKit",
    "VercelAi",
    "VoltAgent",
]


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
