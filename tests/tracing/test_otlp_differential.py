"""aiotrack's OTLP decoding against MLflow 3.18's server: same answer, same rows, same summary.

Each test builds an export request, hands the same bytes to MLflow's own ``export_traces`` with
a SQLite ``SqlAlchemyStore`` (the oracle, ``mlflow_oracle.py``) and to
``decode_export_request``, and compares (``conftest.assert_same_as_mlflow``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from aiotrack.tracing.pricing import ModelCatalog
from tests.tracing.conftest import Oracle, assert_same_as_mlflow
from tests.tracing.otlp_builders import (
    T0,
    body,
    new_span_id,
    new_trace_id,
    otlp_json,
    request,
    span,
)

ERROR = (Status.STATUS_CODE_ERROR, "boom: ünïcode")
OK = (Status.STATUS_CODE_OK, "")


# Not otel-chat: MLflow 3.18's OtelSpanProcessor fails to add a tagged trace's tags to its root
# span under opentelemetry-sdk 1.45 (immutable attributes), and the root span is never exported.
@pytest.mark.parametrize("scenario", ["chat", "error", "wide", "otel-error", "otel-wide"])
def test_mlflow_client_spans(oracle: Oracle, catalog: ModelCatalog, scenario: str) -> None:
    """The client's REST store body, and (otel-*) its OTLP exporter's: JSON text attributes,
    trace tags as root ``mlflow.traceTag.*`` attributes."""
    traces = assert_same_as_mlflow(oracle, oracle.client_body(scenario), catalog=catalog)
    assert traces is not None and traces[0].spans


def test_mlflow_client_spans_priced_only_with_a_catalog(oracle: Oracle) -> None:
    """Without a catalog nothing is priced: MLflow prices gpt-4o-mini, so the rows differ."""
    from aiotrack.tracing.otlp import decode_export_request

    traces = decode_export_request(oracle.client_body("chat"), "application/x-protobuf")
    assert all(record.total_cost is None for trace in traces for record in trace.spans)


def _genai_chat(trace_id: bytes, root: bytes) -> Span:
    return span(
        trace_id,
        parent=root,
        name="chat gpt-4o",
        kind=Span.SPAN_KIND_CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.cache_read.input_tokens": 20,
            "gen_ai.conversation.id": "conv-42",
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": "be nice"}]},
                    {"role": "user", "parts": [{"type": "text", "content": "hi ☃"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
            ),
            "gen_ai.tool.definitions": json.dumps([{"name": "search", "type": "function"}]),
            "user.id": "alice",
        },
    )


def test_genai_semconv_trace(oracle: Oracle, catalog: ModelCatalog) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        _genai_chat(trace_id, root),
        span(
            trace_id,
            parent=root,
            name="execute_tool search",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.call.arguments": '{"q": "weather"}',
                "gen_ai.tool.call.result": '{"temp": 21.5}',
            },
            start=T0 + 1_000_000,
        ),
        span(
            trace_id,
            root,
            name="invoke_agent",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "helper",
                "gen_ai.usage.input_tokens": 999,
                "gen_ai.request.model": "gpt-4o",
                "mlflow.traceTag.team": "search",
                "mlflow.traceTag.mlflow.traceName": "weather agent",
                "mlflow.traceTag.mlflow.trace.spansLocation": "ARTIFACT_REPO",
                "mlflow.traceTag.bad/../key": "x",
            },
            end=T0 + 90_000_000,
        ),
    ]
    traces = assert_same_as_mlflow(
        oracle,
        body(*spans, resource={"service.name": "my-agent", "deployment": 3}),
        catalog=catalog,
    )
    assert traces is not None
    (summary,) = traces
    assert summary.session_id == "conv-42" and summary.trace_name == "weather agent"


def test_genai_events_and_spring_ai_events(oracle: Oracle) -> None:
    trace_id = new_trace_id()
    spans = [
        span(
            trace_id,
            name="chat",
            attributes={"gen_ai.operation.name": "chat", "lk.room_name": "r1"},
            events=[
                ("gen_ai.system.message", T0, {"content": "sys"}),
                ("gen_ai.user.message", T0, {"content": '{"text": "hi"}'}),
                ("gen_ai.choice", T0 + 1, {"content": "answer", "role": "assistant"}),
            ],
        ),
        span(
            trace_id,
            new_span_id(),
            new_span_id(),
            attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "7"},
            events=[
                ("gen_ai.content.prompt", T0, {"gen_ai.prompt": "spring prompt"}),
                ("gen_ai.content.completion", T0, {"gen_ai.completion": "spring answer"}),
            ],
        ),
    ]
    assert_same_as_mlflow(oracle, body(*spans))


def test_openinference_and_traceloop(oracle: Oracle, catalog: ModelCatalog) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    spans = [
        span(
            trace_id,
            root,
            name="chain",
            attributes={
                "openinference.span.kind": "CHAIN",
                "input.value": json.dumps({"messages": [{"role": "user", "content": "Q?"}]}),
                "output.value": "plain text answer",
                "session.id": "sess-1",
            },
        ),
        span(
            trace_id,
            parent=root,
            name="llm",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "claude-3-5-sonnet-20241022",
                "llm.provider": "anthropic",
                "llm.token_count.prompt": 1000,
                "llm.token_count.completion": 200,
                "llm.token_count.prompt_details.cache_write": 100,
            },
        ),
        span(
            trace_id,
            parent=root,
            name="openai.chat",
            attributes={
                "traceloop.span.kind": "task",
                "gen_ai.system": "OpenAI",
                "gen_ai.prompt.0.content": "hello",
                "gen_ai.completion.0.content": "world",
                "gen_ai.usage.prompt_tokens": 10,
                "gen_ai.usage.completion_tokens": 4,
                "llm.usage.total_tokens": 14,
                "gen_ai.response.model": "gpt-4o-mini",
            },
        ),
    ]
    assert_same_as_mlflow(oracle, body(*spans), catalog=catalog)


@pytest.mark.parametrize(
    "attributes",
    [
        # Vercel AI chat span (MLflow sets a raw, not JSON-encoded, message format).
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.prompt.messages": '[{"role": "user", "content": "x"}]',
            "ai.prompt.tools": ['{"name": "t"}', "not json"],
            "ai.response.text": "y",
            "ai.model.id": "gpt-4o",
        },
        # Gemini CLI.
        {
            "gen_ai.agent.name": "gemini-cli",
            "gen_ai.operation.name": "llm_call",
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"text": "a"}]}]',
            "gen_ai.output.messages": '[{"role": "model", "parts": [{"text": "b"}]}, 3]',
            "gen_ai.request.model": "gemini-2.5-pro",
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.output_tokens": 6,
        },
        # Claude Code LLM request and tool.
        {
            "span.type": "llm_request",
            "input_tokens": "10",
            "output_tokens": 20,
            "cache_read_tokens": 5,
            "cache_creation_tokens": "2",
            "new_context": "prompt",
            "response.model_output": "<REDACTED>",
            "model": "claude-sonnet-4",
        },
        {"span.type": "claude_code.tool", "file_path": "/tmp/x", "full_command": "ls -l"},
        # VoltAgent, LiveKit, Laminar, Langfuse, Google ADK.
        {
            "span.type": "llm",
            "voltagent.operation_id": "op",
            "llm.messages": '[{"role": "user", "content": "v"}]',
            "usage.prompt_tokens": 3,
            "usage.completion_tokens": 4,
        },
        {"lk.agent_name": "voice", "lk.user_input": "hello there", "lk.response.text": "hi"},
        {"lmnr.span.type": "PIPELINE", "lmnr.span.input": '{"a": 1}', "gen_ai.system": "x"},
        {"langfuse.observation.type": "generation", "langfuse.observation.input": "[1, 2]"},
        {"gcp.vertex.agent.llm_request": '{"contents": []}', "gcp.vertex.agent.llm_response": "{}"},
        # Values of every kind, JSON inside strings, and odd numbers.
        {
            "s": "plain",
            "json_obj": '{"a": [1, 2]}',
            "json_str": '"already encoded"',
            "json_num": "12",
            "ws_json": "  [1] ",
            "not_json": "{oops",
            "b": True,
            "i": -(2**63),
            "f": 1e16,
            "nan": float("nan"),
            "inf": float("-inf"),
            "raw": b"\x00\xffbytes",
            "arr": [1, "two", 3.5, None, [True], {"k": b"\x01"}],
            "kv": {"x": {"y": []}, "z": {}},
            "empty": None,
            "mlflow.spanType": '"LLM"',
            "mlflow.chat.tokenUsage": '{"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}',
            "mlflow.llm.model": '"gpt-4o"',
            "mlflow.llm.provider": '"openai"',
        },
        # An agent span is not priced; a type MLflow derives is not the "type" column.
        {
            "openinference.span.kind": "AGENT",
            "llm.token_count.prompt": 5,
            "llm.model_name": "gpt-4o",
            "mlflow.spanType": '"UNKNOWN"',
        },
    ],
    ids=[
        "vercel",
        "gemini-cli",
        "claude-code-llm",
        "claude-code-tool",
        "voltagent",
        "livekit",
        "laminar",
        "langfuse",
        "google-adk",
        "value-kinds",
        "agent-cost",
    ],
)
def test_schemas_and_values(
    oracle: Oracle, catalog: ModelCatalog, attributes: dict[str, Any]
) -> None:
    trace_id = new_trace_id()
    assert_same_as_mlflow(oracle, body(span(trace_id, attributes=attributes)), catalog=catalog)


def test_errors_events_links_kinds_and_status(oracle: Oracle) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    other_trace = new_trace_id()
    spans = [
        span(
            trace_id,
            root,
            name="root ✓",
            status=ERROR,
            kind=Span.SPAN_KIND_SERVER,
            events=[
                ("exception", T0 + 10, {"exception.message": "x", "exception.type": "E"}),
                ("odd", T0 + 11, {"b": b"\x00", "l": [1, "a"], "d": {"k": None}, "n": None}),
            ],
            links=[
                (other_trace, new_span_id(), {"rel": "follows", "raw": b"\x01\x02", "n": 1}),
                (b"", b"", {}),
            ],
        ),
        span(trace_id, parent=root, name="ok with message", status=(Status.STATUS_CODE_OK, "x")),
        span(trace_id, parent=root, kind=99, status=(7, "unknown code")),  # type: ignore[arg-type]
        span(trace_id, parent=root, kind=Span.SPAN_KIND_CONSUMER, end=None),
    ]
    assert_same_as_mlflow(oracle, body(*spans))


def test_many_traces_resources_and_roots(oracle: Oracle) -> None:
    first, second, third = new_trace_id(), new_trace_id(), new_trace_id()
    root_a, root_b = new_span_id(), new_span_id()
    message = request(
        (
            {
                "service.name": "claude-code",
                "telemetry.sdk.name": "x",
                "mlflow.hack": "y",
                "k": [1, 2],
            },
            [
                span(first, root_a, attributes={"mlflow.traceTag.who": "r1"}, status=ERROR),
                span(second, parent=new_span_id(), attributes={"user.id": '"bob"'}),
            ],
        ),
        (
            {"service.name": "not-known", "region": "eu", "flag": True, "d": {"a": 1}, "": "x"},
            [
                span(first, root_b, attributes={"mlflow.traceTag.who": "r2", "session.id": '""'}),
                span(first, parent=root_a, start=T0 - 7_000_000, end=T0 + 99_000_000),
                span(third, parent=b"\x00" * 8),
            ],
        ),
        ({}, []),
    )
    assert_same_as_mlflow(oracle, message.SerializeToString())


def test_ids_of_other_lengths(oracle: Oracle) -> None:
    short = b"\x01" * 8
    assert_same_as_mlflow(oracle, body(span(short, b"\x02" * 4, b"\x03" * 2)))
    assert_same_as_mlflow(oracle, body(span(b"\x01" * 20, b"\x02" * 8)))  # 422 at the store
    assert_same_as_mlflow(oracle, body(span(new_trace_id(), b"\x02" * 9)))


def test_huge_and_non_ascii_attributes(oracle: Oracle) -> None:
    trace_id = new_trace_id()
    big = 'é☃\U0001f600 "quoted" \\ \n\t\x01' * 40_000
    messages = json.dumps({"messages": [{"role": "user", "content": big}]}, ensure_ascii=False)
    spans = [
        span(
            trace_id,
            attributes={
                "mlflow.spanInputs": messages,
                "mlflow.spanOutputs": json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": "x\x00y"}}]}
                ),
                "big": big,
                "deep": json.dumps([[[[[[[[[[{"k": "v"}]]]]]]]]]]),
            },
        )
    ]
    assert_same_as_mlflow(oracle, body(*spans))


@pytest.mark.parametrize(
    "inputs, outputs",
    [
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "t"}]}
                ]
            },
            None,
        ),
        (
            {"input": [{"role": "user", "content": "responses api"}]},
            {"output": [{"role": "assistant", "content": [{"type": "output_text", "text": "o"}]}]},
        ),
        ({"request": {"input": [{"role": "assistant", "content": "only assistant"}]}}, [1, 2]),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "ignored after the error",
        ),
        (
            {"messages": [{"role": "user", "content": ["first str"]}]},
            {"choices": [{"message": {"role": "tool"}}]},
        ),
        ("x" * 5000, {"messages": []}),
    ],
)
def test_previews(oracle: Oracle, inputs: Any, outputs: Any) -> None:
    attributes = {"mlflow.spanInputs": json.dumps(inputs)}
    if outputs is not None:
        attributes["mlflow.spanOutputs"] = json.dumps(outputs)
    assert_same_as_mlflow(oracle, body(span(new_trace_id(), attributes=attributes)))


def test_usage_and_cost_roll_up_the_tree(oracle: Oracle) -> None:
    trace_id, root, agent = new_trace_id(), new_span_id(), new_span_id()
    usage = (
        '{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "cache_read_input_tokens": 2}'
    )
    cost = '{"input_cost": 0.5, "output_cost": 0.25, "total_cost": 0.75}'
    spans = [
        span(trace_id, root),
        span(
            trace_id,
            agent,
            root,
            attributes={"mlflow.chat.tokenUsage": usage, "mlflow.llm.cost": cost},
        ),
        span(trace_id, parent=agent, attributes={"mlflow.chat.tokenUsage": usage}),
        span(
            trace_id,
            parent=root,
            attributes={"mlflow.chat.tokenUsage": usage, "mlflow.llm.cost": '"odd"'},
        ),
        span(trace_id, parent=new_span_id(), attributes={"mlflow.llm.cost": cost}),
    ]
    assert_same_as_mlflow(oracle, body(*spans))


@pytest.mark.parametrize(
    "attributes",
    [
        {"session.id": "s" * 251},  # 400: session id too long
        {"mlflow.traceTag.mlflow.traceName": "n" * 4097},  # 400: trace name too long
        {"mlflow.chat.tokenUsage": '{"input_tokens": "5"}'},  # 422: usage that cannot be summed
        {"openinference.span.kind": '{"not": "hashable"}'},  # 422: translation fails
        {"mlflow.llm.cost": "[1]"},  # 422: the cost is not an object
        {"mlflow.traceTag.t": "v" * 9000, "session.id": "s" * 250},  # truncated tag, fine
    ],
)
def test_store_errors(oracle: Oracle, attributes: dict[str, Any]) -> None:
    assert_same_as_mlflow(oracle, body(span(new_trace_id(), attributes=attributes)))


def test_request_errors(oracle: Oracle) -> None:
    trace_id = new_trace_id()
    assert_same_as_mlflow(oracle, b"\xff\xff\xff garbage")
    assert_same_as_mlflow(oracle, b"")
    assert_same_as_mlflow(oracle, request().SerializeToString())
    assert_same_as_mlflow(oracle, body(span(b"", new_span_id())))
    assert_same_as_mlflow(oracle, body(span(trace_id, new_span_id()), span(trace_id, b"")))
    # A conversion error after a store-time error still wins (MLflow converts all first).
    assert_same_as_mlflow(oracle, body(span(b"\x01" * 20), span(trace_id, b"")))


def _json_body(**extra: Any) -> bytes:
    trace_id, root = new_trace_id(), new_span_id()
    message = request(
        (
            {"service.name": "gemini-cli"},
            [
                span(trace_id, root, links=[(new_trace_id(), new_span_id(), {"a": 1})]),
                _genai_chat(trace_id, root),
            ],
        )
    )
    return json.dumps({**otlp_json(message), **extra}).encode()


def test_json_bodies(oracle: Oracle, catalog: ModelCatalog) -> None:
    assert_same_as_mlflow(oracle, _json_body(), "application/json", catalog=catalog)
    assert_same_as_mlflow(oracle, _json_body(), "application/json; charset=utf-8", catalog=catalog)
    # Unknown fields are ignored.
    assert_same_as_mlflow(oracle, _json_body(unknownField=1), "application/json", catalog=catalog)


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"",
        b"\xff\xfe{}",
        b'{"resourceSpans": []}',
        b"{}",
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "x"}]}]}]}',
        b'{"resource_spans": [{"scope_spans": [{"spans": [{"trace_id": "AQID", "span_id": "AQID"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "", "spanId": "01"}]}]}]}',
    ],
)
def test_json_body_errors(oracle: Oracle, data: bytes) -> None:
    assert_same_as_mlflow(oracle, data, "application/json")


@pytest.mark.parametrize(
    "model, provider, usage",
    [
        ("gpt-4o", "OpenAI", {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 10}),
        (
            "claude-sonnet-4-20250514",
            "anthropic",
            {
                "gen_ai.usage.input_tokens": 300_000,
                "gen_ai.usage.output_tokens": 99,
                "gen_ai.usage.cache_read.input_tokens": 1000,
                "gen_ai.usage.cache_creation.input_tokens": 5000,
            },
        ),
        ("databricks-claude-3-7-sonnet", "anthropic", {"gen_ai.usage.input_tokens": 10}),
        ("gateway:/chat", "openai", {"gen_ai.usage.input_tokens": 10}),
        ("openai/gpt-4o-mini", "no-such-provider", {"gen_ai.usage.output_tokens": 7}),
        ("no-such-model-anywhere", None, {"gen_ai.usage.input_tokens": 10}),
        ("container", "openai", {"gen_ai.usage.input_tokens": 10}),
        ("gpt-4o", None, {"gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 0}),
    ],
)
def test_pricing(
    oracle: Oracle,
    catalog: ModelCatalog,
    model: str,
    provider: str | None,
    usage: dict[str, Any],
) -> None:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
    if provider is not None:
        attributes["gen_ai.provider.name"] = provider
    trace_id, root = new_trace_id(), new_span_id()
    spans = [span(trace_id, root), span(trace_id, parent=root, attributes={**attributes, **usage})]
    assert_same_as_mlflow(oracle, body(*spans), catalog=catalog)


@pytest.mark.parametrize(
    "span_type", ['"LLM"', "LLM", "5", "2.5", "true", '{"a": 1}', "[1]", "null", ""]
)
def test_span_type_column(oracle: Oracle, span_type: str) -> None:
    attributes = {"mlflow.spanType": span_type}
    assert_same_as_mlflow(oracle, body(span(new_trace_id(), attributes=attributes)))


def test_json_body_with_a_lone_surrogate(oracle: Oracle) -> None:
    data = json.loads(_json_body())
    attributes = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0].setdefault("attributes", [])
    attributes.append({"key": "odd", "value": {"stringValue": "\ud800"}})
    assert_same_as_mlflow(oracle, json.dumps(data).encode(), "application/json")


def test_a_span_sent_twice(oracle: Oracle) -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    usage = '{"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}'
    spans = [
        span(trace_id, span_id, name="first", attributes={"mlflow.chat.tokenUsage": usage}),
        span(trace_id, span_id, name="again", attributes={"mlflow.chat.tokenUsage": usage}),
    ]
    traces = assert_same_as_mlflow(oracle, body(*spans))
    assert traces is not None
    assert [s.name for s in traces[0].spans] == ["again"]
    assert traces[0].token_usage["total_tokens"] == 6  # MLflow counts both
