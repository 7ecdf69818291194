"""MLflow tracing through the real 3.17.2 client against a live server (SQLite, PostgreSQL,
MariaDB): what ``@mlflow.trace`` / ``mlflow.start_span`` record comes back from ``get_trace`` and
``search_traces`` span for span, and the trace-level calls (tags, runs, deletes, previews, token
usage) behave as on ``mlflow server`` 3.18 (``AIOTRACK_TRACE_TESTS_SERVER=reference``).

Export is synchronous here (``trace_env``): a trace is on the server when its root span ends.
The asynchronous exporter has its own test.
"""

from __future__ import annotations

import json
import time
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.entities import SpanType, Trace
from mlflow.exceptions import MlflowException
from mlflow.tracing.constant import SpanAttributeKey, TraceMetadataKey

from tests.compat.conftest import TraceEnv, point_tracing_at

pytestmark = [pytest.mark.compat]


def spans_by_name(trace: Trace) -> dict[str, Any]:
    """The trace's spans keyed by name (names are unique in these tests)."""
    spans = {s.name: s for s in trace.data.spans}
    assert len(spans) == len(trace.data.spans), "span names must be unique in this test"
    return spans


def last_trace(env: TraceEnv) -> Trace:
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    trace = env.client.get_trace(trace_id)
    assert trace.info.trace_id == trace_id
    return trace


# --------------------------------------------------------------------------------------------
# Spans


def test_nested_traces_with_raising_leaf(trace_env: TraceEnv) -> None:
    @mlflow.trace(span_type=SpanType.TOOL)
    def leaf(x: int) -> int:
        raise ValueError(f"leaf failed on {x}")

    @mlflow.trace(name="middle", span_type=SpanType.CHAIN)
    def middle(x: int) -> int:
        try:
            leaf(x)
        except ValueError:
            pass
        return x + 1

    @mlflow.trace
    def root(x: int) -> int:
        return middle(x) * 2

    assert root(3) == 8
    ok = last_trace(trace_env)
    assert ok.info.state.value == "OK"
    assert ok.info.experiment_id == trace_env.experiment_id
    assert ok.info.tags["mlflow.traceName"] == "root"
    assert ok.info.request_preview == '{"x": 3}'
    assert ok.info.response_preview == "8"
    assert ok.info.execution_duration is not None and ok.info.execution_duration >= 0
    spans = spans_by_name(ok)
    assert set(spans) == {"root", "middle", "leaf"}
    assert spans["root"].parent_id is None
    assert spans["middle"].parent_id == spans["root"].span_id
    assert spans["leaf"].parent_id == spans["middle"].span_id
    assert {s.trace_id for s in ok.data.spans} == {ok.info.trace_id}
    assert spans["root"].status.status_code.value == "OK"
    assert spans["middle"].status.status_code.value == "OK"
    assert spans["leaf"].status.status_code.value == "ERROR"
    assert spans["leaf"].status.description == "ValueError: leaf failed on 3"
    assert spans["leaf"].span_type == SpanType.TOOL
    assert spans["middle"].span_type == SpanType.CHAIN
    assert spans["root"].span_type == SpanType.UNKNOWN
    assert spans["root"].inputs == {"x": 3} and spans["root"].outputs == 8
    assert spans["middle"].outputs == 4
    assert spans["leaf"].outputs is None
    (event,) = spans["leaf"].events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "leaf failed on 3"
    assert "Traceback" in event.attributes["exception.stacktrace"]
    for span in ok.data.spans:
        assert span.start_time_ns <= span.end_time_ns
    assert spans["root"].start_time_ns <= spans["middle"].start_time_ns
    assert spans["leaf"].end_time_ns <= spans["root"].end_time_ns

    @mlflow.trace
    def failing_root(x: int) -> int:
        return leaf(x)

    with pytest.raises(ValueError):
        failing_root(5)
    failed = last_trace(trace_env)
    assert failed.info.state.value == "ERROR"
    assert failed.info.response_preview in (None, "")
    spans = spans_by_name(failed)
    assert spans["failing_root"].status.status_code.value == "ERROR"
    assert [e.name for e in spans["failing_root"].events] == ["exception"]
    assert spans["leaf"].parent_id == spans["failing_root"].span_id


def test_start_span_attributes_inputs_outputs(trace_env: TraceEnv) -> None:
    attributes: dict[str, Any] = {
        "str": "text with 'quotes' and ünïcode",
        "int": 7,
        "float": 0.25,
        "bool": True,
        "list": [1, "two", 3.0],
        "dict": {"nested": {"deep": [None, False]}},
    }
    with mlflow.start_span("pipeline", span_type=SpanType.AGENT) as root:
        root.set_inputs({"question": "why?", "history": [{"role": "user", "content": "hi"}]})
        with mlflow.start_span("lookup", span_type=SpanType.RETRIEVER, attributes=attributes) as r:
            r.set_inputs("why?")
            r.set_outputs([{"page_content": "because", "metadata": {"doc_uri": "a.md"}}])
        with mlflow.start_span("llm", span_type=SpanType.CHAT_MODEL) as llm:
            llm.set_attribute("temperature", 0.1)
            llm.set_outputs({"choices": [{"message": {"role": "assistant", "content": "ok"}}]})
        with mlflow.start_span("custom", span_type="MY_OWN_TYPE") as custom:
            custom.set_attributes({"a": 1, "b": "2"})
        root.set_outputs("because")

    trace = last_trace(trace_env)
    spans = spans_by_name(trace)
    assert {n: s.span_type for n, s in spans.items()} == {
        "pipeline": SpanType.AGENT,
        "lookup": SpanType.RETRIEVER,
        "llm": SpanType.CHAT_MODEL,
        "custom": "MY_OWN_TYPE",
    }
    assert spans["pipeline"].inputs == {
        "question": "why?",
        "history": [{"role": "user", "content": "hi"}],
    }
    assert spans["pipeline"].outputs == "because"
    lookup = spans["lookup"]
    for key, value in attributes.items():
        assert lookup.get_attribute(key) == value
    assert lookup.inputs == "why?"
    assert lookup.outputs == [{"page_content": "because", "metadata": {"doc_uri": "a.md"}}]
    assert spans["llm"].get_attribute("temperature") == 0.1
    assert spans["custom"].get_attribute("a") == 1
    assert spans["custom"].get_attribute("b") == "2"
    assert spans["custom"].inputs is None and spans["custom"].outputs is None
    for name in ("lookup", "llm", "custom"):
        assert spans[name].parent_id == spans["pipeline"].span_id
    # The trace read back equals the trace the client built, in the client's own JSON.
    again = mlflow.get_trace(trace.info.trace_id)
    assert again is not None
    assert [s.to_dict() for s in again.data.spans] == [s.to_dict() for s in trace.data.spans]


def test_async_export_flushed(trace_env: TraceEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "true")
    point_tracing_at(trace_env.url)  # a new exporter, now asynchronous
    mlflow.set_experiment(experiment_id=trace_env.experiment_id)

    @mlflow.trace
    def work(i: int) -> int:
        with mlflow.start_span("inner") as span:
            span.set_inputs(i)
            span.set_outputs(i * i)
        return i * i

    ids = []
    for i in range(8):
        work(i)
        ids.append(mlflow.get_last_active_trace_id())
    mlflow.flush_trace_async_logging()

    found = trace_env.client.search_traces(locations=[trace_env.experiment_id], max_results=50)
    assert sorted(t.info.trace_id for t in found) == sorted(ids)
    for trace in found:
        spans = spans_by_name(trace)
        assert set(spans) == {"work", "inner"}
        assert spans["inner"].outputs == spans["inner"].inputs ** 2
        assert trace.info.state.value == "OK"


# --------------------------------------------------------------------------------------------
# Trace-level calls


def test_get_trace_and_search_dataframe(trace_env: TraceEnv) -> None:
    @mlflow.trace
    def answer(question: str) -> str:
        return question.upper()

    for q in ("a", "b", "c"):
        answer(q)
    frame = mlflow.search_traces(locations=[trace_env.experiment_id])
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 3
    assert {"trace_id", "state", "request", "response", "spans"} <= set(frame.columns)
    # Newest first by default.
    assert list(frame["request"]) == [{"question": q} for q in ("c", "b", "a")]
    assert list(frame["response"]) == ["C", "B", "A"]
    assert set(frame["state"]) == {"OK"}
    for trace_id in frame["trace_id"]:
        trace = mlflow.get_trace(trace_id)
        assert trace is not None and trace.info.trace_id == trace_id
    as_list = mlflow.search_traces(locations=[trace_env.experiment_id], return_type="list")
    assert [t.info.trace_id for t in as_list] == list(frame["trace_id"])
    infos = trace_env.client.search_traces(locations=[trace_env.experiment_id], include_spans=False)
    assert [t.info.trace_id for t in infos] == list(frame["trace_id"])
    assert all(t.data.spans == [] for t in infos)


def test_get_missing_trace(trace_env: TraceEnv) -> None:
    missing = "tr-" + "0" * 32
    with pytest.raises(MlflowException) as exc:
        trace_env.client.get_trace(missing)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.get_trace(missing, silent=True) is None


def test_trace_tags(trace_env: TraceEnv) -> None:
    with mlflow.start_span("tagged"):
        mlflow.update_current_trace(tags={"from_code": "yes"})
    trace_id = last_trace(trace_env).info.trace_id
    client = trace_env.client
    client.set_trace_tag(trace_id, "stage", "review")
    client.set_trace_tag(trace_id, "empty", "")
    tags = client.get_trace(trace_id).info.tags
    assert tags["from_code"] == "yes"
    assert tags["stage"] == "review"
    assert tags["empty"] == ""
    found = client.search_traces(
        locations=[trace_env.experiment_id], filter_string="tags.stage = 'review'"
    )
    assert [t.info.trace_id for t in found] == [trace_id]
    client.set_trace_tag(trace_id, "stage", "done")  # overwrite
    assert client.get_trace(trace_id).info.tags["stage"] == "done"
    client.delete_trace_tag(trace_id, "stage")
    assert "stage" not in client.get_trace(trace_id).info.tags
    assert not client.search_traces(
        locations=[trace_env.experiment_id], filter_string="tags.stage = 'done'"
    )
    with pytest.raises(MlflowException) as exc:
        client.delete_trace_tag(trace_id, "stage")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as exc:
        client.set_trace_tag("tr-" + "f" * 32, "k", "v")
    # mlflow server answers 400 BAD_REQUEST (the tag insert's foreign-key failure); a 404 for
    # the missing trace says the same more plainly. Never a 5xx.
    assert exc.value.error_code in ("BAD_REQUEST", "RESOURCE_DOES_NOT_EXIST")


def test_update_current_trace(trace_env: TraceEnv) -> None:
    @mlflow.trace
    def handle(request: str) -> str:
        mlflow.update_current_trace(
            tags={"session": "s-1", "fruit": "apple"},
            client_request_id="client-req-42",
            metadata={"custom.meta": "m1"},
        )
        return "done"

    handle("hello")
    trace = last_trace(trace_env)
    assert trace.info.client_request_id == "client-req-42"
    assert trace.info.tags["session"] == "s-1"
    assert trace.info.tags["fruit"] == "apple"
    assert trace.info.trace_metadata["custom.meta"] == "m1"
    found = trace_env.client.search_traces(
        locations=[trace_env.experiment_id],
        filter_string="trace.client_request_id = 'client-req-42'",
    )
    assert [t.info.trace_id for t in found] == [trace.info.trace_id]


def test_traces_in_active_run(trace_env: TraceEnv) -> None:
    @mlflow.trace
    def step(i: int) -> int:
        return i

    step(0)  # outside any run
    outside = mlflow.get_last_active_trace_id()
    with mlflow.start_run() as run:
        step(1)
        step(2)
    inside = trace_env.client.search_traces(
        locations=[trace_env.experiment_id], run_id=run.info.run_id
    )
    assert len(inside) == 2
    assert outside not in {t.info.trace_id for t in inside}
    for trace in inside:
        assert trace.info.trace_metadata[TraceMetadataKey.SOURCE_RUN] == run.info.run_id
    frame = mlflow.search_traces(locations=[trace_env.experiment_id], run_id=run.info.run_id)
    assert sorted(frame["trace_id"]) == sorted(t.info.trace_id for t in inside)
    by_filter = trace_env.client.search_traces(
        locations=[trace_env.experiment_id],
        filter_string=f"trace.run_id = '{run.info.run_id}'",
    )
    assert sorted(t.info.trace_id for t in by_filter) == sorted(t.info.trace_id for t in inside)


def test_token_usage_and_previews(trace_env: TraceEnv) -> None:
    long_question = "q" * 5000
    with mlflow.start_span("agent", span_type=SpanType.AGENT) as root:
        root.set_inputs({"question": long_question})
        for i, (inp, out) in enumerate([(10, 3), (7, 5)]):
            with mlflow.start_span(f"call{i}", span_type=SpanType.CHAT_MODEL) as llm:
                llm.set_inputs({"messages": [{"role": "user", "content": "x"}]})
                llm.set_attribute(
                    SpanAttributeKey.CHAT_USAGE,
                    {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out},
                )
                llm.set_outputs("y")
        root.set_outputs({"answer": "a" * 3000})

    trace = last_trace(trace_env)
    assert trace.info.token_usage == {"input_tokens": 17, "output_tokens": 8, "total_tokens": 25}
    usage = json.loads(trace.info.trace_metadata[TraceMetadataKey.TOKEN_USAGE])
    assert usage == {"input_tokens": 17, "output_tokens": 8, "total_tokens": 25}
    # Previews are cut (by the client, kept as sent by the server); the full values are in
    # the root span.
    assert trace.info.request_preview is not None
    assert trace.info.response_preview is not None
    assert 0 < len(trace.info.request_preview) <= 1000
    assert 0 < len(trace.info.response_preview) <= 1000
    assert trace.info.request_preview.startswith('{"question": "qqq')
    root_span = spans_by_name(trace)["agent"]
    assert root_span.inputs == {"question": long_question}
    (searched,) = trace_env.client.search_traces(
        locations=[trace_env.experiment_id], include_spans=False
    )
    assert searched.info.token_usage == trace.info.token_usage
    assert searched.info.request_preview == trace.info.request_preview
    assert searched.info.response_preview == trace.info.response_preview


def make_traces(env: TraceEnv, count: int, start_ms: int) -> list[str]:
    """``count`` one-span traces starting 1 s apart from ``start_ms`` (oldest first)."""
    ids = []
    for i in range(count):
        span = mlflow.start_span_no_context(
            f"t{i}",
            experiment_id=env.experiment_id,
            start_time_ns=(start_ms + i * 1000) * 1_000_000,
        )
        span.end(end_time_ns=(start_ms + i * 1000 + 5) * 1_000_000)
        ids.append(span.trace_id)
    return ids


def test_delete_traces_by_ids(trace_env: TraceEnv) -> None:
    ids = make_traces(trace_env, 5, start_ms=int(time.time() * 1000) - 60_000)
    client = trace_env.client
    deleted = client.delete_traces(trace_env.experiment_id, trace_ids=ids[:2])
    assert deleted == 2
    left = client.search_traces(locations=[trace_env.experiment_id])
    assert sorted(t.info.trace_id for t in left) == sorted(ids[2:])
    with pytest.raises(MlflowException) as exc:
        client.get_trace(ids[0])
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # Ids that are gone (or never were) are not counted.
    assert client.delete_traces(trace_env.experiment_id, trace_ids=[ids[0], "tr-nothere"]) == 0


def test_delete_traces_by_timestamp(trace_env: TraceEnv) -> None:
    start = int(time.time() * 1000) - 600_000
    ids = make_traces(trace_env, 6, start_ms=start)
    client = trace_env.client
    # At most 2 of the 4 traces at or before start+3000 go, oldest first.
    deleted = client.delete_traces(
        trace_env.experiment_id, max_timestamp_millis=start + 3000, max_traces=2
    )
    assert deleted == 2
    left = {t.info.trace_id for t in client.search_traces(locations=[trace_env.experiment_id])}
    assert left == set(ids[2:])
    deleted = client.delete_traces(trace_env.experiment_id, max_timestamp_millis=start + 3000)
    assert deleted == 2
    left = {t.info.trace_id for t in client.search_traces(locations=[trace_env.experiment_id])}
    assert left == set(ids[4:])
