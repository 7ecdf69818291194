"""Trace assessments through the real mlflow client: log_feedback, log_expectation,
override_feedback, update_assessment, delete_assessment, get_assessment, and their errors.

Runs against aiotrack or, with ``AIOTRACK_TEST_TARGET=mlflow``, the reference server (set
``AIOTRACK_MLFLOW_REFERENCE`` to a 3.18 venv): every test must pass on both. SQL backends only:
MLflow 3's traces live in the database (aiotrack's file store answers 501 for them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests
from mlflow.entities import AssessmentError, AssessmentSource, Expectation, Feedback
from mlflow.exceptions import MlflowException
from mlflow.tracing.provider import reset as reset_tracer

from tests.compat.conftest import TARGET, _start
from tests.databases import backend_database
from tests.servers import RunningServer

pytestmark = pytest.mark.compat

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
ID = re.compile(r"^a-[0-9a-f]{32}$")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
    ],
)
def tracking_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """This module's own server per SQL backend (the shared one also runs the file store)."""
    backend: str = request.param
    workdir: Path = tmp_path_factory.mktemp(f"assess-{TARGET}-{backend}")
    with backend_database(backend, workdir, "assess") as uri, _start(uri, workdir) as server:
        yield server


@pytest.fixture
def sync_traces(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Export finished traces synchronously (the async queue's flush costs ~1 s per trace)."""
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    reset_tracer()  # the exporter reads the variable when the tracer provider is built
    yield
    monkeypatch.undo()
    reset_tracer()


@pytest.fixture
def trace_id(fluent: str, experiment_id: str, sync_traces: None) -> str:
    """A finished trace (one root span) logged by the client into this test's experiment."""
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_span("root") as span:
        span.set_inputs({"question": "2 + 2?"})
        span.set_outputs({"answer": "4"})
    mlflow.flush_trace_async_logging()
    return str(span.trace_id)


def _error_code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def test_log_feedback_round_trip(trace_id: str) -> None:
    root = mlflow.get_trace(trace_id).data.spans[0].span_id
    logged = mlflow.log_feedback(
        trace_id=trace_id,
        name="correctness",
        value=1,
        rationale="matches the reference",
        source=AssessmentSource(source_type="LLM_JUDGE", source_id="gpt-4o"),
        metadata={"judge": "v1"},
        span_id=root,
    )
    assert isinstance(logged, Feedback)
    assert ID.match(logged.assessment_id or "")
    assert (logged.trace_id, logged.name, logged.value, logged.rationale) == (
        trace_id,
        "correctness",
        1.0,
        "matches the reference",
    )
    assert (logged.source.source_type, logged.source.source_id) == ("LLM_JUDGE", "gpt-4o")
    assert (logged.metadata, logged.span_id, logged.valid, logged.overrides) == (
        {"judge": "v1"},
        root,
        True,
        None,
    )
    got = mlflow.get_assessment(trace_id, logged.assessment_id or "")
    assert got == logged


@pytest.mark.parametrize(
    ("value", "answered"),
    [
        (True, True),
        ("yes", "yes"),
        (0.25, 0.25),
        ([1, "a", None], [1.0, "a", None]),
        ({"score": 3, "label": "ok"}, {"score": 3.0, "label": "ok"}),
    ],
)
def test_feedback_values(trace_id: str, value: Any, answered: Any) -> None:
    logged = mlflow.log_feedback(trace_id=trace_id, name="v", value=value)
    assert mlflow.get_assessment(trace_id, logged.assessment_id or "").value == answered


def test_feedback_error(trace_id: str) -> None:
    logged = mlflow.log_feedback(
        trace_id=trace_id,
        name="judge",
        error=AssessmentError(error_code="RATE_LIMIT", error_message="slow down", stack_trace="t"),
    )
    got = mlflow.get_assessment(trace_id, logged.assessment_id or "")
    assert isinstance(got, Feedback)
    assert got.value is None
    assert got.error == AssessmentError(
        error_code="RATE_LIMIT", error_message="slow down", stack_trace="t"
    )


@pytest.mark.parametrize("value", ["Paris", 42, {"answer": [1, 2], "ok": True}])
def test_log_expectation(trace_id: str, value: Any) -> None:
    logged = mlflow.log_expectation(trace_id=trace_id, name="expected", value=value)
    assert isinstance(logged, Expectation)
    got = mlflow.get_assessment(trace_id, logged.assessment_id or "")
    assert isinstance(got, Expectation)
    assert (got.name, got.value) == ("expected", value)
    assert (got.source.source_type, got.source.source_id) == ("HUMAN", "default")


def test_override_and_delete_restore(trace_id: str) -> None:
    first = mlflow.log_feedback(trace_id=trace_id, name="relevance", value=0.3)
    first_id = first.assessment_id or ""
    second = mlflow.override_feedback(
        trace_id=trace_id, assessment_id=first_id, value=0.9, rationale="a human disagrees"
    )
    assert (second.overrides, second.valid, second.name) == (first_id, True, "relevance")
    assert mlflow.get_assessment(trace_id, first_id).valid is False
    infos = {a.assessment_id: a.valid for a in mlflow.get_trace(trace_id).info.assessments}
    assert infos == {first_id: False, second.assessment_id: True}
    mlflow.delete_assessment(trace_id, second.assessment_id or "")
    assert mlflow.get_assessment(trace_id, first_id).valid is True
    with pytest.raises(MlflowException) as err:
        mlflow.get_assessment(trace_id, second.assessment_id or "")
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"
    mlflow.delete_assessment(trace_id, second.assessment_id or "")  # again: no error


def test_override_unknown_assessment(trace_id: str) -> None:
    with pytest.raises(MlflowException) as err:
        mlflow.override_feedback(trace_id=trace_id, assessment_id="a-nope", value=1)
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"
    assert f"Assessment with ID 'a-nope' not found for trace '{trace_id}'" in str(err.value)


def test_update_feedback(trace_id: str) -> None:
    logged = mlflow.log_feedback(
        trace_id=trace_id,
        name="tone",
        value="rude",
        rationale="r0",
        metadata={"a": "1"},
        source=AssessmentSource(source_type="HUMAN", source_id="ann"),
    )
    aid = logged.assessment_id or ""
    updated = mlflow.update_assessment(
        trace_id,
        aid,
        Feedback(name="politeness", value="polite", rationale="r1", metadata={"b": "2"}),
    )
    assert (updated.name, updated.value, updated.rationale) == ("politeness", "polite", "r1")
    assert updated.metadata == {"a": "1", "b": "2"}
    # The source never changes; the creation time neither.
    assert (updated.source.source_type, updated.source.source_id) == ("HUMAN", "ann")
    assert updated.create_time_ms == logged.create_time_ms
    assert (updated.last_update_time_ms or 0) >= (logged.last_update_time_ms or 0)
    assert mlflow.get_assessment(trace_id, aid) == updated


def test_update_expectation(trace_id: str) -> None:
    logged = mlflow.log_expectation(trace_id=trace_id, name="expected", value="4")
    aid = logged.assessment_id or ""
    updated = mlflow.update_assessment(
        trace_id, aid, Expectation(name="expected_answer", value={"answer": 4})
    )
    assert (updated.name, updated.value) == ("expected_answer", {"answer": 4})
    assert mlflow.get_assessment(trace_id, aid).value == {"answer": 4}


def test_update_wrong_kind(trace_id: str) -> None:
    feedback = mlflow.log_feedback(trace_id=trace_id, name="f", value=1)
    expectation = mlflow.log_expectation(trace_id=trace_id, name="e", value=1)
    cases = [
        (feedback, Expectation(name="f", value=2), "Cannot update expectation value on a Feedback"),
        (
            expectation,
            Feedback(name="e", value=2),
            "Cannot update feedback value on an Expectation",
        ),
    ]
    for target, change, message in cases:
        with pytest.raises(MlflowException) as err:
            mlflow.update_assessment(trace_id, target.assessment_id or "", change)
        assert _error_code(err) == "INVALID_PARAMETER_VALUE"
        assert message in str(err.value)


def test_missing_trace_and_assessment(trace_id: str) -> None:
    with pytest.raises(MlflowException) as err:
        mlflow.get_assessment(trace_id, "a-nope")
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"
    assert f"Assessment with ID 'a-nope' not found for trace '{trace_id}'" in str(err.value)
    unknown = "tr-" + "0" * 32
    with pytest.raises(MlflowException) as err:
        mlflow.get_assessment(unknown, "a-nope")
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"
    assert f"Trace with request_id '{unknown}' not found" in str(err.value)
    with pytest.raises(MlflowException) as err:
        mlflow.log_feedback(trace_id=unknown, name="f", value=1)
    assert _error_code(err) == "RESOURCE_DOES_NOT_EXIST"
    assert f"Trace with ID '{unknown}' not found." in str(err.value)
    mlflow.delete_assessment(unknown, "a-nope")  # MLflow's delete is idempotent


def test_trace_infos_carry_assessments(trace_id: str, experiment_id: str) -> None:
    feedback = mlflow.log_feedback(trace_id=trace_id, name="f", value=0.5)
    expectation = mlflow.log_expectation(trace_id=trace_id, name="e", value=[1, 2])
    carried = mlflow.get_trace(trace_id).info.assessments
    assert [(a.assessment_id, a.value) for a in carried] == [
        (feedback.assessment_id, 0.5),
        (expectation.assessment_id, [1, 2]),
    ]
    (found,) = mlflow.search_traces(locations=[experiment_id], return_type="list")
    assert {a.assessment_id for a in found.info.assessments} == {
        feedback.assessment_id,
        expectation.assessment_id,
    }


def test_feedback_logged_inside_the_active_trace(
    fluent: str, experiment_id: str, sync_traces: None
) -> None:
    """Logged while its trace is open, a feedback travels inside the trace's StartTraceV3."""
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_span("root") as span:
        mlflow.log_feedback(trace_id=span.trace_id, name="inline", value=True)
    mlflow.flush_trace_async_logging()
    (carried,) = mlflow.get_trace(span.trace_id).info.assessments
    assert (carried.name, carried.value) == ("inline", True)
    got = mlflow.get_assessment(span.trace_id, carried.assessment_id or "")
    assert got.value is True


# -- the wire, as both servers answer it ------------------------------------------------------


def _post(url: str, body: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=30)


def test_create_answer_on_the_wire(server_url: str, trace_id: str) -> None:
    url = f"{server_url}/api/3.0/mlflow/traces/{trace_id}/assessments"
    resp = _post(
        url,
        {
            "assessment": {
                "assessment_name": "score",
                "source": {"source_type": "CODE"},
                "feedback": {"value": 3, "error": {"error_code": "PARTIAL"}},
                "create_time": "2024-01-02T03:04:05.678Z",
            }
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()["assessment"]
    assert ID.match(body.pop("assessment_id"))
    assert TIME.match(body.pop("last_update_time"))
    assert body == {
        "assessment_name": "score",
        "trace_id": trace_id,
        "source": {"source_type": "CODE"},
        "create_time": "2024-01-02T03:04:05.678Z",
        "feedback": {"value": 3.0, "error": {"error_code": "PARTIAL"}},
        "valid": True,
    }
    resp = _post(
        url.replace("/api/", "/ajax-api/"),
        {"assessment": {"assessmentName": "e", "expectation": {"value": {"a": 1}}}},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["assessment"]["expectation"] == {
        "serialized_value": {"serialization_format": "JSON_FORMAT", "value": '{"a": 1.0}'}
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing value for required parameter 'assessment'."),
        ({"assessment": {}}, "Unknown assessment type: None"),
        (
            {"assessment": {"assessment_name": "e", "expectation": {}}},
            "The `value` field must be specified.",
        ),
        (
            {
                "assessment": {
                    "assessment_name": "e",
                    "expectation": {
                        "serialized_value": {"serialization_format": "XML", "value": "1"}
                    },
                }
            },
            "Unknown serialization format: XML. Only JSON_FORMAT is supported.",
        ),
    ],
)
def test_create_refusals_on_the_wire(
    server_url: str, trace_id: str, body: Any, message: str
) -> None:
    resp = _post(f"{server_url}/api/3.0/mlflow/traces/{trace_id}/assessments", body)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert resp.json()["message"].startswith(message)


def test_update_mask_on_the_wire(server_url: str, trace_id: str) -> None:
    logged = mlflow.log_feedback(trace_id=trace_id, name="f", value=1, rationale="r")
    url = f"{server_url}/api/3.0/mlflow/traces/{trace_id}/assessments/{logged.assessment_id}"
    resp = requests.patch(url, json={"assessment": {"assessment_name": "g"}}, timeout=30)
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("Missing value for required parameter 'update_mask'.")
    # Named fields absent from the body become empty; fields not named are kept; unknown
    # paths are ignored.
    resp = requests.patch(
        url,
        json={"assessment": {"rationale": "new"}, "update_mask": "assessmentName,rationale,bogus"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()["assessment"]
    assert (body["assessment_name"], body["rationale"], body["feedback"]) == (
        "",
        "new",
        {"value": 1.0},
    )
