"""Metrics through the real mlflow client: steps, timestamps, non-finite values, latest-value
rule, metric history and big log_batch calls."""

from __future__ import annotations

import math
import random
import struct
import time

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.compat

MAX_DOUBLE = 1.7976931348623157e308


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[float, int, int]]:
    return [(m.value, m.timestamp, m.step) for m in client.get_metric_history(run_id, key)]


def test_log_metric_steps_and_timestamps(client: MlflowClient, run_id: str) -> None:
    client.log_metric(run_id, "loss", 1.5, timestamp=1000, step=0)
    client.log_metric(run_id, "loss", 1.0, timestamp=2000, step=1)
    client.log_metric(run_id, "loss", 0.5, timestamp=3000, step=2)
    assert _history(client, run_id, "loss") == [(1.5, 1000, 0), (1.0, 2000, 1), (0.5, 3000, 2)]
    latest = client.get_run(run_id).data
    assert latest.metrics == {"loss": 0.5}
    m = client.get_metric_history(run_id, "loss")[-1]
    assert m.key == "loss"


def test_step_defaults_to_zero_and_timestamp_to_now(client: MlflowClient, run_id: str) -> None:
    before = int(time.time() * 1000)
    client.log_metric(run_id, "m", 3.25)
    (point,) = client.get_metric_history(run_id, "m")
    assert point.value == 3.25
    assert point.step == 0
    assert before - 5_000 <= point.timestamp <= int(time.time() * 1000) + 5_000


def test_large_int64_step_and_timestamp_round_trip(client: MlflowClient, run_id: str) -> None:
    client.log_metric(run_id, "big", 1.0, timestamp=2**53 - 1, step=2**40 + 7)
    (point,) = client.get_metric_history(run_id, "big")
    assert (point.timestamp, point.step) == (2**53 - 1, 2**40 + 7)


def test_fluent_log_metrics(fluent: str, experiment_id: str) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("acc", 0.5, step=1)
        mlflow.log_metrics({"acc": 0.75, "f1": 0.25}, step=2)
    client = MlflowClient(fluent)
    assert client.get_run(run.info.run_id).data.metrics == {"acc": 0.75, "f1": 0.25}
    assert [(m.value, m.step) for m in client.get_metric_history(run.info.run_id, "acc")] == [
        (0.5, 1),
        (0.75, 2),
    ]


def test_nan_and_infinities(client: MlflowClient, run_id: str) -> None:
    client.log_metric(run_id, "nan", math.nan, timestamp=1, step=0)
    client.log_metric(run_id, "pinf", math.inf, timestamp=1, step=0)
    client.log_metric(run_id, "ninf", -math.inf, timestamp=1, step=0)
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    # the SQL store clamps infinities to the largest double; a real inf is also acceptable
    assert metrics["pinf"] == math.inf or metrics["pinf"] == MAX_DOUBLE
    assert metrics["ninf"] == -math.inf or metrics["ninf"] == -MAX_DOUBLE
    (nan_point,) = client.get_metric_history(run_id, "nan")
    assert math.isnan(nan_point.value)
    (inf_point,) = client.get_metric_history(run_id, "pinf")
    assert inf_point.value >= MAX_DOUBLE


def test_latest_metric_is_max_step_not_last_logged(client: MlflowClient, run_id: str) -> None:
    client.log_metric(run_id, "m", 10.0, timestamp=100, step=5)
    client.log_metric(run_id, "m", 20.0, timestamp=999, step=1)  # later, but smaller step
    assert client.get_run(run_id).data.metrics["m"] == 10.0


def test_latest_metric_ties_on_step_use_timestamp(client: MlflowClient, run_id: str) -> None:
    client.log_metric(run_id, "m", 1.0, timestamp=500, step=3)
    client.log_metric(run_id, "m", 2.0, timestamp=100, step=3)  # same step, older timestamp
    assert client.get_run(run_id).data.metrics["m"] == 1.0
    client.log_metric(run_id, "m", 3.0, timestamp=600, step=3)
    assert client.get_run(run_id).data.metrics["m"] == 3.0


def test_latest_metric_ties_on_step_and_timestamp_use_value(
    client: MlflowClient, run_id: str
) -> None:
    client.log_metric(run_id, "m", 7.0, timestamp=100, step=2)
    client.log_metric(run_id, "m", 4.0, timestamp=100, step=2)
    client.log_metric(run_id, "m", 5.0, timestamp=100, step=2)
    assert client.get_run(run_id).data.metrics["m"] == 7.0
    latest = client.get_run(run_id)
    assert len(latest.data._metric_objs) == 1
    obj = latest.data._metric_objs[0]
    assert (obj.key, obj.value, obj.timestamp, obj.step) == ("m", 7.0, 100, 2)


def test_metric_history_order_and_duplicates(client: MlflowClient, run_id: str) -> None:
    # logged out of order; history comes back ordered by (timestamp, step, value)
    points = [(3.0, 300, 3), (1.0, 100, 1), (2.0, 200, 2), (0.5, 100, 0), (1.0, 100, 1)]
    for value, ts, step in points:
        client.log_metric(run_id, "h", value, timestamp=ts, step=step)
    # the identical (1.0, 100, 1) point is dropped
    assert _history(client, run_id, "h") == [
        (0.5, 100, 0),
        (1.0, 100, 1),
        (2.0, 200, 2),
        (3.0, 300, 3),
    ]


def test_metric_history_same_step_keeps_all_points(client: MlflowClient, run_id: str) -> None:
    client.log_metric(run_id, "s", 1.0, timestamp=10, step=0)
    client.log_metric(run_id, "s", 2.0, timestamp=10, step=0)
    client.log_metric(run_id, "s", 1.0, timestamp=11, step=0)
    assert sorted(_history(client, run_id, "s")) == [(1.0, 10, 0), (1.0, 11, 0), (2.0, 10, 0)]


def test_metric_history_unknown_key_is_empty(client: MlflowClient, run_id: str) -> None:
    client.log_metric(run_id, "known", 1.0)
    assert client.get_metric_history(run_id, "unknown") == []


def test_long_metric_history(client: MlflowClient, run_id: str) -> None:
    n = 3000
    metrics = [Metric("long", float(i), 1_000 + i, i) for i in range(n)]
    client.log_batch(run_id, metrics=metrics)
    history = client.get_metric_history(run_id, "long")
    assert [m.step for m in history] == list(range(n))
    assert [m.value for m in history] == [float(i) for i in range(n)]
    assert client.get_run(run_id).data.metrics["long"] == float(n - 1)


def test_log_batch_1000_metrics_100_params_100_tags(client: MlflowClient, run_id: str) -> None:
    metrics = [Metric(f"m{i % 50}", i * 0.5, 10_000 + i, i // 50) for i in range(1000)]
    params = [Param(f"p{i}", f"v{i}") for i in range(100)]
    tags = [RunTag(f"t{i}", f"tv{i}") for i in range(100)]
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    run = client.get_run(run_id)
    assert run.data.params == {f"p{i}": f"v{i}" for i in range(100)}
    user_tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    assert user_tags == {f"t{i}": f"tv{i}" for i in range(100)}
    # latest of each key is the one at the highest step (i // 50 == 19)
    assert run.data.metrics == {f"m{k}": (950 + k) * 0.5 for k in range(50)}
    hist = client.get_metric_history(run_id, "m7")
    assert [(m.step, m.value) for m in hist] == [(s, (s * 50 + 7) * 0.5) for s in range(20)]


def test_log_batch_keeps_every_double_bit_for_bit(client: MlflowClient, run_id: str) -> None:
    """What a 1000-metric batch stores reads back as the very doubles sent: SQLite takes a
    group's rows as one JSON text, so decimal text must turn back into the same bits."""
    rng = random.Random(5)
    hard = [0.1, 1 / 3, 1e23, 5e-324, 2.2250738585072011e-308, MAX_DOUBLE / 3, 2.0**53 + 2, 7e-10]
    randoms = (struct.unpack("<d", rng.randbytes(8))[0] for _ in range(2000))
    values = [*hard, *(-v for v in hard), *(v for v in randoms if math.isfinite(v))][:1000]
    values += [rng.random() for _ in range(1000 - len(values))]
    client.log_batch(run_id, metrics=[Metric("x", v, 1, step) for step, v in enumerate(values)])
    stored = [m.value for m in sorted(client.get_metric_history(run_id, "x"), key=lambda m: m.step)]
    assert [struct.pack("<d", v) for v in stored] == [struct.pack("<d", v) for v in values]


def test_log_batch_mixed_valid_then_invalid_key(client: MlflowClient, run_id: str) -> None:
    with pytest.raises(MlflowException) as exc:
        client.log_batch(run_id, metrics=[Metric("ok", 1.0, 1, 0), Metric("../bad", 1.0, 1, 0)])
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    # key validation happens before anything is written
    assert client.get_run(run_id).data.metrics == {}


def test_metrics_from_several_keys_in_run_data(client: MlflowClient, run_id: str) -> None:
    client.log_batch(
        run_id,
        metrics=[
            Metric("a", 1.0, 1, 0),
            Metric("b", -2.5, 1, 0),
            Metric("c", 0.0, 1, 0),
            Metric("a", 4.0, 2, 1),
        ],
    )
    assert client.get_run(run_id).data.metrics == {"a": 4.0, "b": -2.5, "c": 0.0}
