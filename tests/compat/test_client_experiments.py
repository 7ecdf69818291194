"""Experiments through the real mlflow client: create/get/search/rename/delete/restore/tags."""

from __future__ import annotations

import time

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.compat


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_create_get_and_get_by_name(client: MlflowClient, unique_name: str) -> None:
    before = _now_ms()
    exp_id = client.create_experiment(unique_name, tags={"team": "ml", "empty": ""})
    assert isinstance(exp_id, str) and exp_id.isdigit() and exp_id != "0"

    exp = client.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == unique_name
    assert exp.lifecycle_stage == "active"
    assert exp.tags == {"team": "ml", "empty": ""}
    # Default root of `mlflow server` is mlflow-artifacts:/ -> "<root>/<id>".
    assert exp.artifact_location.rstrip("/").endswith(f"/{exp_id}")
    assert before - 5_000 <= exp.creation_time <= _now_ms() + 5_000
    assert exp.last_update_time >= exp.creation_time

    by_name = client.get_experiment_by_name(unique_name)
    assert by_name is not None
    assert by_name.experiment_id == exp_id
    assert by_name.tags == exp.tags


def test_get_experiment_by_unknown_name_is_none(client: MlflowClient, unique_name: str) -> None:
    assert client.get_experiment_by_name(unique_name) is None


def test_default_experiment_exists(client: MlflowClient) -> None:
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    default = client.get_experiment_by_name("Default")
    assert default is not None and default.experiment_id == "0"


def test_explicit_artifact_location_is_kept(client: MlflowClient, unique_name: str) -> None:
    exp_id = client.create_experiment(unique_name, artifact_location="s3://bucket/some/prefix")
    assert client.get_experiment(exp_id).artifact_location == "s3://bucket/some/prefix"
    run = client.create_run(exp_id)
    assert run.info.artifact_uri == f"s3://bucket/some/prefix/{run.info.run_id}/artifacts"


def test_set_experiment_creates_then_reuses(fluent: str, unique_name: str) -> None:
    exp = mlflow.set_experiment(unique_name)
    assert exp.name == unique_name
    assert exp.lifecycle_stage == "active"
    again = mlflow.set_experiment(unique_name)
    assert again.experiment_id == exp.experiment_id
    by_id = mlflow.set_experiment(experiment_id=exp.experiment_id)
    assert by_id.name == unique_name
    with mlflow.start_run() as run:
        assert run.info.experiment_id == exp.experiment_id


def test_duplicate_name_is_rejected(client: MlflowClient, unique_name: str) -> None:
    client.create_experiment(unique_name)
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(unique_name)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert unique_name in exc.value.message


def test_deleted_experiment_name_stays_taken(client: MlflowClient, unique_name: str) -> None:
    exp_id = client.create_experiment(unique_name)
    client.delete_experiment(exp_id)
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(unique_name)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"
    # get and get-by-name still find it, marked deleted
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    by_name = client.get_experiment_by_name(unique_name)
    assert by_name is not None and by_name.lifecycle_stage == "deleted"


def test_rename_experiment(client: MlflowClient, unique_name: str) -> None:
    exp_id = client.create_experiment(unique_name)
    before = client.get_experiment(exp_id)
    time.sleep(0.01)
    client.rename_experiment(exp_id, unique_name + "-renamed")
    after = client.get_experiment(exp_id)
    assert after.name == unique_name + "-renamed"
    assert after.last_update_time >= before.last_update_time
    assert client.get_experiment_by_name(unique_name) is None
    found = client.get_experiment_by_name(unique_name + "-renamed")
    assert found is not None and found.experiment_id == exp_id


def test_rename_onto_existing_name_fails(client: MlflowClient, unique_name: str) -> None:
    client.create_experiment(unique_name + "-a")
    b = client.create_experiment(unique_name + "-b")
    with pytest.raises(MlflowException) as exc:
        client.rename_experiment(b, unique_name + "-a")
    # The reference answers 400 BAD_REQUEST with the raw DB integrity error (REST doc §4.1);
    # RESOURCE_ALREADY_EXISTS (also 400) is the saner equivalent.
    assert exc.value.error_code in ("BAD_REQUEST", "RESOURCE_ALREADY_EXISTS")
    assert exc.value.get_http_status_code() == 400
    assert client.get_experiment(b).name == unique_name + "-b"


def test_delete_and_restore_experiment_cascade_to_runs(
    client: MlflowClient, unique_name: str
) -> None:
    exp_id = client.create_experiment(unique_name)
    r1 = client.create_run(exp_id).info.run_id
    r2 = client.create_run(exp_id).info.run_id

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert {client.get_run(r).info.lifecycle_stage for r in (r1, r2)} == {"deleted"}
    assert client.search_runs([exp_id]) == []
    deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
    assert {r.info.run_id for r in deleted} == {r1, r2}

    # creating a run in a deleted experiment is a client error, not "not found"
    with pytest.raises(MlflowException) as exc:
        client.create_run(exp_id)
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert {client.get_run(r).info.lifecycle_stage for r in (r1, r2)} == {"active"}
    assert {r.info.run_id for r in client.search_runs([exp_id])} == {r1, r2}


def test_delete_unknown_or_deleted_experiment(client: MlflowClient, unique_name: str) -> None:
    exp_id = client.create_experiment(unique_name)
    with pytest.raises(MlflowException) as exc:
        client.restore_experiment(exp_id)  # not deleted
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.delete_experiment(exp_id)
    with pytest.raises(MlflowException) as exc:
        client.delete_experiment(exp_id)  # already deleted
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as exc:
        client.delete_experiment("987654321")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_experiment_tags(client: MlflowClient, experiment_id: str) -> None:
    client.set_experiment_tag(experiment_id, "k", "v1")
    client.set_experiment_tag(experiment_id, "k", "v2")  # overwrite
    client.set_experiment_tag(experiment_id, "other", "x")
    assert client.get_experiment(experiment_id).tags == {"k": "v2", "other": "x"}
    client.delete_experiment_tag(experiment_id, "k")
    assert client.get_experiment(experiment_id).tags == {"other": "x"}
    with pytest.raises(MlflowException) as exc:
        client.delete_experiment_tag(experiment_id, "k")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_tag_on_deleted_experiment_is_rejected(client: MlflowClient, experiment_id: str) -> None:
    client.delete_experiment(experiment_id)
    with pytest.raises(MlflowException) as exc:
        client.set_experiment_tag(experiment_id, "k", "v")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


# --- search_experiments -------------------------------------------------------------------


@pytest.fixture
def five_experiments(client: MlflowClient, unique_name: str) -> dict[str, str]:
    """name -> id for five experiments sharing the prefix ``unique_name``; c and e deleted."""
    ids = {}
    for i, suffix in enumerate("abcde"):
        name = f"{unique_name}-{suffix}"
        tags = {"parity": "even" if i % 2 == 0 else "odd", "idx": str(i)}
        if suffix == "a":
            tags["special"] = "yes"
        ids[name] = client.create_experiment(name, tags=tags)
    client.delete_experiment(ids[f"{unique_name}-c"])
    client.delete_experiment(ids[f"{unique_name}-e"])
    return ids


def _names(exps: list) -> list[str]:  # type: ignore[type-arg]
    return [e.name for e in exps]


def test_search_experiments_filters(
    client: MlflowClient, unique_name: str, five_experiments: dict[str, str]
) -> None:
    p = unique_name
    like = f"name LIKE '{p}-%'"
    assert sorted(_names(client.search_experiments(filter_string=like))) == [
        f"{p}-a", f"{p}-b", f"{p}-d"
    ]  # fmt: skip
    # LIKE is case-sensitive, ILIKE is not
    upper = p.upper()
    assert client.search_experiments(filter_string=f"name LIKE '{upper}-%'") == []
    assert len(client.search_experiments(filter_string=f"name ILIKE '{upper}-%'")) == 3
    assert _names(client.search_experiments(filter_string=f"name = '{p}-b'")) == [f"{p}-b"]
    assert sorted(
        _names(client.search_experiments(filter_string=f"{like} AND name != '{p}-b'"))
    ) == [f"{p}-a", f"{p}-d"]
    assert sorted(
        _names(client.search_experiments(filter_string=f"{like} AND tags.parity = 'even'"))
    ) == [f"{p}-a"]
    assert sorted(
        _names(client.search_experiments(filter_string=f"{like} AND tags.special IS NULL"))
    ) == [f"{p}-b", f"{p}-d"]
    assert _names(
        client.search_experiments(filter_string=f"{like} AND tags.special IS NOT NULL")
    ) == [f"{p}-a"]
    assert sorted(
        _names(client.search_experiments(filter_string=f"{like} AND tags.parity LIKE 'o%'"))
    ) == [f"{p}-b", f"{p}-d"]


def test_search_experiments_view_type(
    client: MlflowClient, unique_name: str, five_experiments: dict[str, str]
) -> None:
    like = f"name LIKE '{unique_name}-%'"
    active = _names(client.search_experiments(view_type=ViewType.ACTIVE_ONLY, filter_string=like))
    deleted = _names(client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=like))
    every = _names(client.search_experiments(view_type=ViewType.ALL, filter_string=like))
    assert sorted(active) == [f"{unique_name}-{s}" for s in "abd"]
    assert sorted(deleted) == [f"{unique_name}-{s}" for s in "ce"]
    assert sorted(every) == [f"{unique_name}-{s}" for s in "abcde"]


def test_search_experiments_order_by(
    client: MlflowClient, unique_name: str, five_experiments: dict[str, str]
) -> None:
    like = f"name LIKE '{unique_name}-%'"
    expected = [f"{unique_name}-{s}" for s in "abcde"]
    asc = client.search_experiments(
        view_type=ViewType.ALL, filter_string=like, order_by=["name ASC"]
    )
    assert _names(asc) == expected
    desc = client.search_experiments(
        view_type=ViewType.ALL, filter_string=like, order_by=["name DESC"]
    )
    assert _names(desc) == expected[::-1]
    by_id = client.search_experiments(
        view_type=ViewType.ALL, filter_string=like, order_by=["experiment_id DESC"]
    )
    assert [e.experiment_id for e in by_id] == sorted(
        five_experiments.values(), key=int, reverse=True
    )
    # default order: creation_time DESC, experiment_id ASC -> newest first
    default = client.search_experiments(view_type=ViewType.ALL, filter_string=like)
    times = [e.creation_time for e in default]
    assert times == sorted(times, reverse=True)
    assert set(_names(default)) == set(expected)


def test_search_experiments_paging(
    client: MlflowClient, unique_name: str, five_experiments: dict[str, str]
) -> None:
    like = f"name LIKE '{unique_name}-%'"
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_experiments(
            view_type=ViewType.ALL,
            max_results=2,
            filter_string=like,
            order_by=["name ASC"],
            page_token=token,
        )
        pages += 1
        assert len(page) <= 2
        seen.extend(_names(page))
        token = page.token
        if not token:
            break
        assert pages < 10
    assert pages == 3
    assert seen == [f"{unique_name}-{s}" for s in "abcde"]


def test_fluent_search_experiments(
    fluent: str, unique_name: str, five_experiments: dict[str, str]
) -> None:
    found = mlflow.search_experiments(
        filter_string=f"name LIKE '{unique_name}-%'", order_by=["name DESC"]
    )
    assert _names(found) == [f"{unique_name}-{s}" for s in "dba"]
    assert {e.experiment_id for e in found} == {
        five_experiments[f"{unique_name}-{s}"] for s in "abd"
    }
