"""Server errors surface in the real client as ``MlflowException`` with MLflow's ``error_code``."""

from __future__ import annotations

import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.compat

UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"


def _code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def test_unknown_run(client: MlflowClient) -> None:
    calls = [
        lambda: client.get_run(UNKNOWN_RUN),
        lambda: client.log_metric(UNKNOWN_RUN, "m", 1.0),
        lambda: client.log_param(UNKNOWN_RUN, "p", "v"),
        lambda: client.set_tag(UNKNOWN_RUN, "t", "v"),
        lambda: client.delete_run(UNKNOWN_RUN),
        lambda: client.restore_run(UNKNOWN_RUN),
        lambda: client.update_run(UNKNOWN_RUN, status="FINISHED"),
        lambda: client.delete_tag(UNKNOWN_RUN, "t"),
    ]
    for call in calls:
        with pytest.raises(MlflowException) as exc:
            call()
        assert _code(exc) == "RESOURCE_DOES_NOT_EXIST", exc.value.message
        assert exc.value.get_http_status_code() == 404


def test_metric_history_of_unknown_run_is_empty(client: MlflowClient) -> None:
    # The reference answers 200 {} here (REST doc §4.1 says 404); we follow the reference.
    assert client.get_metric_history(UNKNOWN_RUN, "m") == []


def test_unknown_run_message_names_the_run(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as exc:
        client.get_run(UNKNOWN_RUN)
    assert UNKNOWN_RUN in exc.value.message


def test_unknown_experiment(client: MlflowClient) -> None:
    for call in (
        lambda: client.get_experiment("987654321"),
        lambda: client.create_run("987654321"),
        lambda: client.delete_experiment("987654321"),
        lambda: client.restore_experiment("987654321"),
        lambda: client.rename_experiment("987654321", "whatever-new-name"),
        lambda: client.set_experiment_tag("987654321", "k", "v"),
    ):
        with pytest.raises(MlflowException) as exc:
            call()
        assert _code(exc) == "RESOURCE_DOES_NOT_EXIST", exc.value.message


def test_non_integer_experiment_id(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as exc:
        client.get_experiment("abc")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert "abc" in exc.value.message


@pytest.mark.parametrize(
    "bad_filter",
    [
        "metrics.m > 1 or params.a = 'b'",
        "metrics.acc > 'high'",
        "params.p > '1'",
        "nonsense.key = 'x'",
        "attributes.run_name IN ('a', 'b')",
        "metrics.m IS NULL",
        "params.p = 'unterminated",
        "attributes.start_time = 'yesterday'",
    ],
)
def test_bad_run_filter(client: MlflowClient, experiment_id: str, bad_filter: str) -> None:
    with pytest.raises(MlflowException) as exc:
        client.search_runs([experiment_id], bad_filter)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert exc.value.get_http_status_code() == 400


@pytest.mark.parametrize(
    "order_by",
    [["metrics.acc SIDEWAYS"], ["nonsense.key"], ["attributes.bogus ASC"]],
)
def test_bad_run_order_by(client: MlflowClient, experiment_id: str, order_by: list[str]) -> None:
    with pytest.raises(MlflowException) as exc:
        client.search_runs([experiment_id], order_by=order_by)
    assert _code(exc) == "INVALID_PARAMETER_VALUE"


def test_duplicate_run_order_by_keys(client: MlflowClient, experiment_id: str) -> None:
    with pytest.raises(MlflowException) as exc:
        client.search_runs([experiment_id], order_by=["metrics.a", "metrics.a DESC"])
    # The reference answers 500 INTERNAL_ERROR for this (REST doc §8.1 says 400); either is
    # accepted (the client, with retries off, reports a 5xx without the server's message).
    assert _code(exc) in ("INVALID_PARAMETER_VALUE", "INTERNAL_ERROR")
    if _code(exc) == "INVALID_PARAMETER_VALUE":
        assert "duplicate" in exc.value.message


def test_bad_experiment_filter_and_order(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as exc:
        client.search_experiments(filter_string="name = 'a' OR name = 'b'")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.search_experiments(order_by=["bogus_column ASC"])
    assert _code(exc) == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("key", ["a/../b", "/abs", "bad*chars", "x" * 251])
def test_bad_keys(client: MlflowClient, run_id: str, key: str) -> None:
    for call in (
        lambda: client.log_param(run_id, key, "v"),
        lambda: client.log_metric(run_id, key, 1.0),
        lambda: client.set_tag(run_id, key, "v"),
    ):
        with pytest.raises(MlflowException) as exc:
            call()
        assert _code(exc) == "INVALID_PARAMETER_VALUE"
    run = client.get_run(run_id)
    assert run.data.params == {} and run.data.metrics == {}
    assert key not in run.data.tags


def test_negative_timestamp_rejected(client: MlflowClient, run_id: str) -> None:
    with pytest.raises(MlflowException) as exc:
        client.log_batch(run_id, metrics=[Metric("m", 1.0, -5, 0)])
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    assert client.get_metric_history(run_id, "m") == []
