"""Runs through the real mlflow client: lifecycle, names, nesting, params, tags, delete/restore."""

from __future__ import annotations

import re
import time

import mlflow
import pytest
from mlflow.entities import Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.compat

GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,4}$")


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- lifecycle --------------------------------------------------------------------------------


def test_create_run_defaults(client: MlflowClient, experiment_id: str) -> None:
    before = _now_ms()
    run = client.create_run(experiment_id)
    info = run.info
    assert re.fullmatch(r"[0-9a-f]{32}", info.run_id)
    assert info.experiment_id == experiment_id
    assert info.status == "RUNNING"
    assert info.lifecycle_stage == "active"
    assert info.end_time is None
    assert before - 5_000 <= info.start_time <= _now_ms() + 5_000
    exp = client.get_experiment(experiment_id)
    assert info.artifact_uri == f"{exp.artifact_location}/{info.run_id}/artifacts"
    assert run.data.params == {} and run.data.metrics == {}

    fetched = client.get_run(info.run_id)
    assert fetched.info.run_id == info.run_id
    assert fetched.info.start_time == info.start_time
    assert fetched.info.run_name == info.run_name


def test_create_run_with_start_time_user_and_tags(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(
        experiment_id, start_time=1234, tags={"mlflow.user": "alice", "custom": "x"}
    )
    assert run.info.start_time == 1234
    assert run.info.user_id == "alice"
    got = client.get_run(run.info.run_id)
    assert got.info.start_time == 1234
    assert got.info.user_id == "alice"
    assert got.data.tags["custom"] == "x"
    assert got.data.tags["mlflow.user"] == "alice"


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "KILLED"])
def test_set_terminated(client: MlflowClient, run_id: str, status: str) -> None:
    client.set_terminated(run_id, status=status, end_time=_now_ms() + 10)
    info = client.get_run(run_id).info
    assert info.status == status
    assert info.end_time is not None and info.end_time >= info.start_time


def test_update_run_leaves_unspecified_fields(client: MlflowClient, run_id: str) -> None:
    name = client.get_run(run_id).info.run_name
    client.update_run(run_id, status="SCHEDULED")
    info = client.get_run(run_id).info
    assert info.status == "SCHEDULED"
    assert info.run_name == name
    assert info.end_time is None


def test_fluent_start_and_end_run(fluent: str, experiment_id: str) -> None:
    run = mlflow.start_run(experiment_id=experiment_id, run_name="fluent-run")
    run_id = run.info.run_id
    assert mlflow.active_run() is not None and mlflow.active_run().info.run_id == run_id
    mlflow.log_param("a", 1)
    mlflow.end_run(status="KILLED")
    assert mlflow.active_run() is None
    got = MlflowClient(fluent).get_run(run_id)
    assert got.info.status == "KILLED"
    assert got.info.run_name == "fluent-run"
    assert got.info.end_time is not None
    assert got.data.params == {"a": "1"}


def test_fluent_context_manager_status(fluent: str, experiment_id: str) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as ok:
        pass
    with pytest.raises(RuntimeError), mlflow.start_run(experiment_id=experiment_id) as bad:
        raise RuntimeError("boom")
    client = MlflowClient(fluent)
    assert client.get_run(ok.info.run_id).info.status == "FINISHED"
    assert client.get_run(bad.info.run_id).info.status == "FAILED"


def test_nested_runs(fluent: str, experiment_id: str) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as parent:
        # (the fluent API puts nested runs in the *active* experiment unless told otherwise)
        with mlflow.start_run(experiment_id=experiment_id, nested=True) as child:
            with mlflow.start_run(experiment_id=experiment_id, nested=True) as grandchild:
                pass
    client = MlflowClient(fluent)
    pid, cid, gid = parent.info.run_id, child.info.run_id, grandchild.info.run_id
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags
    assert client.get_run(cid).data.tags["mlflow.parentRunId"] == pid
    assert client.get_run(gid).data.tags["mlflow.parentRunId"] == cid
    assert client.get_run(cid).info.experiment_id == experiment_id
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{pid}'")
    assert [r.info.run_id for r in children] == [cid]
    statuses = {client.get_run(r).info.status for r in (pid, cid, gid)}
    assert statuses == {"FINISHED"}


# --- run names --------------------------------------------------------------------------------


def test_given_run_name(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id, run_name="my run 1")
    assert run.info.run_name == "my run 1"
    assert run.data.tags["mlflow.runName"] == "my run 1"
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "my run 1"
    assert got.data.tags["mlflow.runName"] == "my run 1"


def test_generated_run_name(client: MlflowClient, experiment_id: str) -> None:
    runs = [client.create_run(experiment_id) for _ in range(3)]
    for run in runs:
        name = run.info.run_name
        assert GENERATED_NAME.match(name), name
        assert len(name) <= 20
        assert run.data.tags["mlflow.runName"] == name
        assert client.get_run(run.info.run_id).data.tags["mlflow.runName"] == name


def test_run_name_from_tag_only(client: MlflowClient, experiment_id: str) -> None:
    run = client.create_run(experiment_id, tags={"mlflow.runName": "from-tag"})
    assert run.info.run_name == "from-tag"
    assert client.get_run(run.info.run_id).info.run_name == "from-tag"


def test_rename_run_updates_tag(client: MlflowClient, run_id: str) -> None:
    client.update_run(run_id, name="renamed")
    got = client.get_run(run_id)
    assert got.info.run_name == "renamed"
    assert got.data.tags["mlflow.runName"] == "renamed"
    assert got.info.status == "RUNNING"


def test_set_run_name_tag_renames_run(client: MlflowClient, run_id: str) -> None:
    client.set_tag(run_id, "mlflow.runName", "via-tag")
    got = client.get_run(run_id)
    assert got.info.run_name == "via-tag"
    assert got.data.tags["mlflow.runName"] == "via-tag"
    # and the run-name attribute is searchable under the new name
    found = client.search_runs([got.info.experiment_id], "attributes.run_name = 'via-tag'")
    assert [r.info.run_id for r in found] == [run_id]


# --- params -----------------------------------------------------------------------------------


def test_log_param_and_params(client: MlflowClient, run_id: str) -> None:
    client.log_param(run_id, "lr", 0.01)
    client.log_param(run_id, "empty", "")
    client.log_batch(run_id, params=[Param("a", "1"), Param("b", "two"), Param("c d", "x y")])
    assert client.get_run(run_id).data.params == {
        "lr": "0.01",
        "empty": "",
        "a": "1",
        "b": "two",
        "c d": "x y",
    }


def test_fluent_log_params(fluent: str, experiment_id: str) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({"alpha": 0.5, "layers": 3, "name": "net"})
    params = MlflowClient(fluent).get_run(run.info.run_id).data.params
    assert params == {"alpha": "0.5", "layers": "3", "name": "net"}


def test_param_immutability(client: MlflowClient, run_id: str) -> None:
    client.log_param(run_id, "p", "a")
    client.log_param(run_id, "p", "a")  # same value: idempotent
    with pytest.raises(MlflowException) as exc:
        client.log_param(run_id, "p", "b")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "p" in exc.value.message
    with pytest.raises(MlflowException) as exc:
        client.log_batch(run_id, params=[Param("p", "c")])
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"p": "a"}


def test_param_conflict_in_batch_writes_nothing(client: MlflowClient, run_id: str) -> None:
    client.log_param(run_id, "p", "a")
    with pytest.raises(MlflowException) as exc:
        client.log_batch(run_id, params=[Param("new", "1"), Param("p", "changed")])
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params == {"p": "a"}


def test_long_param_value_truncated(client: MlflowClient, run_id: str) -> None:
    value = "".join(chr(ord("a") + i % 26) for i in range(7000))
    client.log_param(run_id, "long", value)
    assert client.get_run(run_id).data.params["long"] == value[:6000]


# --- tags -------------------------------------------------------------------------------------


def test_set_tags_and_delete_tag(client: MlflowClient, run_id: str) -> None:
    client.set_tag(run_id, "t1", "v1")
    client.set_tag(run_id, "t1", "v1b")  # tags are mutable
    client.set_tag(run_id, "empty", "")
    client.log_batch(run_id, tags=[RunTag("t2", "v2"), RunTag("t3", "v3")])
    tags = client.get_run(run_id).data.tags
    assert {k: tags[k] for k in ("t1", "t2", "t3", "empty")} == {
        "t1": "v1b",
        "t2": "v2",
        "t3": "v3",
        "empty": "",
    }
    client.delete_tag(run_id, "t2")
    tags = client.get_run(run_id).data.tags
    assert "t2" not in tags and tags["t1"] == "v1b"
    with pytest.raises(MlflowException) as exc:
        client.delete_tag(run_id, "t2")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_fluent_set_tags(fluent: str, experiment_id: str) -> None:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.set_tags({"a": "1", "b": 2})
        mlflow.set_tag("c", "three")
    tags = MlflowClient(fluent).get_run(run.info.run_id).data.tags
    assert (tags["a"], tags["b"], tags["c"]) == ("1", "2", "three")


def test_long_tag_value_truncated(client: MlflowClient, run_id: str) -> None:
    value = "".join(chr(ord("a") + i % 26) for i in range(9000))
    client.set_tag(run_id, "long", value)
    assert client.get_run(run_id).data.tags["long"] == value[:8000]


# --- delete / restore -------------------------------------------------------------------------


def test_delete_and_restore_run(client: MlflowClient, experiment_id: str) -> None:
    keep = client.create_run(experiment_id).info.run_id
    gone = client.create_run(experiment_id).info.run_id
    client.delete_run(gone)
    info = client.get_run(gone).info
    assert info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [keep]
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [gone]
    every = client.search_runs([experiment_id], run_view_type=ViewType.ALL)
    assert {r.info.run_id for r in every} == {keep, gone}

    client.delete_run(gone)  # deleting twice is allowed
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert {r.info.run_id for r in client.search_runs([experiment_id])} == {keep, gone}


def test_writes_to_deleted_run_are_rejected(client: MlflowClient, run_id: str) -> None:
    client.log_param(run_id, "before", "1")
    client.delete_run(run_id)
    attempts = [
        lambda: client.log_metric(run_id, "m", 1.0),
        lambda: client.log_param(run_id, "p", "v"),
        lambda: client.set_tag(run_id, "t", "v"),
        lambda: client.log_batch(run_id, params=[Param("q", "1")]),
        lambda: client.update_run(run_id, status="FINISHED"),
        lambda: client.delete_tag(run_id, "mlflow.runName"),
    ]
    for attempt in attempts:
        with pytest.raises(MlflowException) as exc:
            attempt()
        assert exc.value.error_code == "INVALID_PARAMETER_VALUE", exc.value.message
    run = client.get_run(run_id)
    assert run.data.params == {"before": "1"}
    assert run.data.metrics == {}
    assert run.info.status == RunStatus.to_string(RunStatus.RUNNING)
