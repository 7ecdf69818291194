"""``mlflow.openai.autolog()`` with the real ``openai`` package, pointed (``base_url``) at a local
OpenAI-compatible stub (tests/compat/openai_stub.py): the trace the server keeps has the
CHAT_MODEL span with the request, the completion and the token usage, and the trace info sums
the usage, as on ``mlflow server`` 3.18 (``AIOTRACK_TRACE_TESTS_SERVER=reference``).
"""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import openai
import pytest
from mlflow.entities import SpanType
from mlflow.tracing.constant import SpanAttributeKey

from tests.compat.conftest import TraceEnv
from tests.compat.openai_stub import OpenAIStub, answer_for, usage_for

pytestmark = [pytest.mark.compat]

MODEL = "gpt-4o-mini"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as running:
        yield running


@pytest.fixture
def autolog(trace_env: TraceEnv) -> Iterator[TraceEnv]:
    mlflow.openai.autolog()
    try:
        yield trace_env
    finally:
        mlflow.openai.autolog(disable=True)


def chat(stub: OpenAIStub, content: str) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)
    return client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": content},
        ],
        temperature=0.0,
    )


def expected_usage(content: str) -> dict[str, int]:
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": content},
    ]
    usage = usage_for(messages, answer_for(messages))
    return {
        "input_tokens": usage["prompt_tokens"],
        "output_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
    }


def test_autolog_chat_completion(autolog: TraceEnv, stub: OpenAIStub) -> None:
    response = chat(stub, "what is two plus two")
    assert response.choices[0].message.content == "stub says: what is two plus two"
    assert len(stub.requests) == 1

    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    trace = autolog.client.get_trace(trace_id)
    assert trace.info.state.value == "OK"
    (span,) = trace.data.spans
    assert span.span_type == SpanType.CHAT_MODEL
    assert span.parent_id is None
    assert span.inputs["model"] == MODEL
    assert span.inputs["messages"][-1] == {"role": "user", "content": "what is two plus two"}
    assert span.outputs["choices"][0]["message"]["content"] == "stub says: what is two plus two"
    usage = expected_usage("what is two plus two")
    assert span.get_attribute(SpanAttributeKey.CHAT_USAGE) == usage
    assert trace.info.token_usage == usage
    # The same trace, found by search, carries the same usage in its info.
    (found,) = autolog.client.search_traces(
        locations=[autolog.experiment_id], filter_string="span.type = 'CHAT_MODEL'"
    )
    assert found.info.trace_id == trace_id
    assert found.info.token_usage == usage


def test_autolog_inside_traced_function(autolog: TraceEnv, stub: OpenAIStub) -> None:
    @mlflow.trace(span_type=SpanType.AGENT)
    def agent(question: str) -> str:
        first = chat(stub, question)
        second = chat(stub, f"again {question}")
        return f"{first.choices[0].message.content} / {second.choices[0].message.content}"

    agent("hello there")
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    trace = autolog.client.get_trace(trace_id)
    roots = [s for s in trace.data.spans if s.parent_id is None]
    assert [s.name for s in roots] == ["agent"]
    llm_spans = [s for s in trace.data.spans if s.span_type == SpanType.CHAT_MODEL]
    assert len(llm_spans) == 2
    assert all(s.parent_id == roots[0].span_id for s in llm_spans)
    first, second = expected_usage("hello there"), expected_usage("again hello there")
    assert sorted(
        (s.get_attribute(SpanAttributeKey.CHAT_USAGE) for s in llm_spans),
        key=lambda u: u["input_tokens"],
    ) == sorted([first, second], key=lambda u: u["input_tokens"])
    assert trace.info.token_usage == {k: first[k] + second[k] for k in first}
    assert trace.info.response_preview is not None
    assert "stub says: hello there" in trace.info.response_preview
