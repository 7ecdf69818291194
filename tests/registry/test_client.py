"""The model registry, logged models and dataset inputs through the real mlflow 3.17.2 client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.registry.conftest import _point_fluent
from tests.servers import RunningServer

pytestmark = pytest.mark.compat


class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context, model_input):  # type: ignore[no-untyped-def]
        return model_input * 2


def _log_and_load(name: str) -> None:
    """The acceptance path: log + register, alias, load by alias, predict."""
    mlflow.set_experiment(f"exp-{name}")
    with mlflow.start_run() as run:
        df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
        mlflow.log_input(mlflow.data.from_pandas(df, name="train"), context="training")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Doubler(), registered_model_name=name, params={"p": "1"}
        )
        mlflow.log_metric("acc", 0.75, step=1, model_id=info.model_id)
        mlflow.log_metrics({"loss": 0.5}, step=2, model_id=info.model_id)
    client = MlflowClient()
    client.set_registered_model_alias(name, "champion", 1)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    out = loaded.predict(pd.DataFrame({"x": [1.0, 21.0]}))
    assert out["x"].tolist() == [2.0, 42.0]

    # The version points at the logged model's files and is linked both ways.
    mv = client.get_model_version(name, "1")
    assert mv.source == f"models:/{info.model_id}"
    assert mv.run_id == run.info.run_id
    assert mv.aliases == ["champion"]
    assert client.get_model_version_download_uri(name, "1").endswith(
        f"/models/{info.model_id}/artifacts"
    )

    # Dataset input of the run.
    got = client.get_run(run.info.run_id)
    inputs = got.inputs.dataset_inputs
    assert [(i.dataset.name, i.tags[0].key, i.tags[0].value) for i in inputs] == [
        ("train", "mlflow.data.context", "training")
    ]
    # runs/search loads a page's inputs and outputs its own way: the same answer as runs/get.
    (searched,) = client.search_runs([run.info.experiment_id])
    assert searched.inputs.to_proto() == got.inputs.to_proto()
    assert searched.outputs.to_proto() == got.outputs.to_proto()
    assert [m.model_id for m in searched.outputs.model_outputs] == [info.model_id]
    assert searched.data.to_proto() == got.data.to_proto()

    # The logged model with its params, tags and linked metrics.
    model = mlflow.get_logged_model(info.model_id)
    assert model.status == "READY"
    assert model.source_run_id == run.info.run_id
    assert model.params == {"p": "1"}
    # The server records the registration (version as a JSON number, as MLflow's SQL store
    # does) and the client appends its own entry (version as a string): MLflow keeps both.
    assert json.loads(model.tags["mlflow.modelVersions"]) == [
        {"name": name, "version": 1},
        {"name": name, "version": "1"},
    ]
    metrics = {(m.key, m.value, m.step, m.run_id) for m in model.metrics or []}
    assert metrics == {("acc", 0.75, 1, run.info.run_id), ("loss", 0.5, 2, run.info.run_id)}
    found = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string="metrics.acc > 0.5",
        output_format="list",
    )  # fmt: skip
    assert [m.model_id for m in found] == [info.model_id]
    assert found[0].params == {"p": "1"}


def test_log_register_alias_load(fluent: str, unique_name: str) -> None:
    """pyfunc.log_model(registered_model_name=) -> alias -> load_model('models:/m@champion')."""
    _log_and_load(unique_name)


@pytest.fixture
def proxy_fluent(proxy_server: RunningServer) -> Iterator[str]:
    yield from _point_fluent(proxy_server.url)


def test_log_register_alias_load_through_artifact_proxy(
    proxy_fluent: str, unique_name: str
) -> None:
    """The same with the default ``mlflow-artifacts:/`` root: files go through the proxy."""
    _log_and_load(unique_name)


def test_registered_models_search_tags_rename_delete(
    client: MlflowClient, unique_name: str
) -> None:
    a, b, c = (f"{unique_name}-{s}" for s in ("a", "b", "c"))
    client.create_registered_model(a, tags={"team": "red", "tier": "1"}, description="first")
    time.sleep(0.01)
    client.create_registered_model(b, tags={"team": "blue"})
    time.sleep(0.01)
    client.create_registered_model(c)
    client.set_registered_model_tag(c, "team", "red")
    client.delete_registered_model_tag(a, "tier")
    client.delete_registered_model_tag(a, "never-set")  # MLflow ignores a missing tag
    assert client.get_registered_model(a).tags == {"team": "red"}
    assert client.get_registered_model(a).description == "first"
    client.update_registered_model(b, description="second")
    assert client.get_registered_model(b).description == "second"

    def names(**kw: object) -> list[str]:
        return [m.name for m in client.search_registered_models(**kw)]  # type: ignore[arg-type]

    assert names(filter_string=f"name LIKE '{unique_name}-%'") == [a, b, c]
    assert names(filter_string=f"name LIKE '{unique_name}-%' AND tags.team = 'red'") == [a, c]
    assert names(filter_string=f"name IN ('{a}', '{c}')") == [a, c]
    assert names(filter_string=f"name ILIKE '{unique_name.upper()}-B'") == [b]
    assert names(filter_string=f"name LIKE '{unique_name}-%'", order_by=["name DESC"]) == [c, b, a]
    # b was updated last
    assert (
        names(
            filter_string=f"name LIKE '{unique_name}-%'", order_by=["last_updated_timestamp DESC"]
        )[0]
        == b
    )
    paged = client.search_registered_models(f"name LIKE '{unique_name}-%'", max_results=2)
    assert len(paged) == 2 and paged.token
    rest = client.search_registered_models(
        f"name LIKE '{unique_name}-%'", max_results=2, page_token=paged.token
    )
    assert [m.name for m in rest] == [c] and not rest.token

    # Rename: versions, tags and aliases follow.
    client.create_model_version(a, "s3://bucket/model", tags={"k": "v"})
    client.set_registered_model_alias(a, "prod", "1")
    renamed = f"{unique_name}-renamed"
    client.rename_registered_model(a, renamed)
    with pytest.raises(MlflowException, match=r"not found"):
        client.get_registered_model(a)
    model = client.get_registered_model(renamed)
    assert model.tags == {"team": "red"} and model.aliases == {"prod": "1"}
    mv = client.get_model_version(renamed, "1")
    assert (mv.name, mv.tags, mv.aliases) == (renamed, {"k": "v"}, ["prod"])
    with pytest.raises(MlflowException) as exc:
        client.rename_registered_model(renamed, b)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.delete_registered_model(renamed)
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(renamed, "1")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert names(filter_string=f"name LIKE '{unique_name}-%'") == [b, c]
    client.create_registered_model(renamed)  # the name is free again, versions start at 1
    assert client.create_model_version(renamed, "s3://bucket/m2").version == "1"


def test_model_versions_stages_search_delete(client: MlflowClient, unique_name: str) -> None:
    name = unique_name
    client.create_registered_model(name)
    for i in range(1, 5):
        client.create_model_version(name, f"s3://bucket/m{i}", tags={"i": str(i)},
                                    description=f"v{i}")  # fmt: skip
    client.set_model_version_tag(name, "2", "best", "yes")
    client.delete_model_version_tag(name, "2", "i")
    assert client.get_model_version(name, "2").tags == {"best": "yes"}
    client.update_model_version(name, "2", description="updated")
    assert client.get_model_version(name, "2").description == "updated"

    client.transition_model_version_stage(name, "1", "production")
    client.transition_model_version_stage(name, "2", "Staging")
    mv = client.transition_model_version_stage(
        name, "3", "Production", archive_existing_versions=True
    )
    assert mv.current_stage == "Production"
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name = '{name}'")}
    assert stages == {"1": "Archived", "2": "Staging", "3": "Production", "4": "None"}

    latest = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert latest == {"Archived": "1", "Staging": "2", "Production": "3", "None": "4"}
    assert [v.version for v in client.get_latest_versions(name, ["Production"])] == ["3"]
    model = client.get_registered_model(name)
    assert sorted(v.version for v in model.latest_versions) == ["1", "2", "3", "4"]

    def versions(flt: str, **kw: object) -> list[str]:
        return [v.version for v in client.search_model_versions(flt, **kw)]  # type: ignore[arg-type]

    assert versions(f"name = '{name}'", order_by=["version_number ASC"]) == ["1", "2", "3", "4"]
    assert versions(f"name = '{name}' AND version_number >= 3",
                    order_by=["version_number DESC"]) == ["4", "3"]  # fmt: skip
    assert versions(f"name = '{name}' AND tags.best = 'yes'") == ["2"]
    assert versions(f"name = '{name}' AND source_path = 's3://bucket/m4'") == ["4"]
    assert versions(f"name = '{name}' AND tags.i LIKE '%'", order_by=["version_number ASC"]) == [
        "1", "3", "4",
    ]  # fmt: skip
    page = client.search_model_versions(f"name = '{name}'", max_results=3)
    assert len(page) == 3 and page.token

    client.set_registered_model_alias(name, "champ", "4")
    assert client.get_model_version_by_alias(name, "champ").version == "4"
    client.delete_model_version(name, "4")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(name, "4")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model(name).aliases == {}
    # Default order: last_updated_timestamp DESC (3 and 1 changed together), then version DESC.
    assert versions(f"name = '{name}'") == ["3", "1", "2"]
    # Numbers are never reused.
    assert client.create_model_version(name, "s3://bucket/m5").version == "5"
    client.set_registered_model_alias(name, "champ", "5")
    client.delete_registered_model_alias(name, "champ")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version_by_alias(name, "champ")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


def test_model_version_from_run_source(client: MlflowClient, unique_name: str) -> None:
    """``runs:/`` sources need the matching run_id; the run's own artifact dir is accepted."""
    exp = client.create_experiment(unique_name)
    run = client.create_run(exp)
    client.create_registered_model(unique_name)
    mv = client.create_model_version(
        unique_name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    assert mv.run_id == run.info.run_id
    mv = client.create_model_version(
        unique_name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    assert mv.version == "2"
    with pytest.raises(MlflowException) as exc:
        client.create_model_version(unique_name, "/etc/passwd", run_id=run.info.run_id)
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


def test_logged_models_api(client: MlflowClient, unique_name: str) -> None:
    exp = client.create_experiment(unique_name)
    run = client.create_run(exp)
    first = client.create_logged_model(exp, name="first", source_run_id=run.info.run_id,
                                       params={"lr": "0.1"}, tags={"t": "1"})  # fmt: skip
    second = client.create_logged_model(exp, name="second", params={"lr": "0.2"})
    assert first.status == "PENDING" and first.model_id.startswith("m-")
    client.log_batch(
        run.info.run_id,
        metrics=[
            Metric(
                "score",
                0.3,
                1000,
                0,
                model_id=first.model_id,
                dataset_name="d",
                dataset_digest="x1",
            ),
            Metric("score", 0.9, 1000, 0, model_id=second.model_id),
        ],
    )
    client.finalize_logged_model(first.model_id, "READY")
    client.set_logged_model_tags(second.model_id, {"t": "2", "u": "3"})
    client.delete_logged_model_tag(second.model_id, "u")
    client.log_model_params(second.model_id, {"extra": "e"})

    got = client.get_logged_model(second.model_id)
    assert got.tags == {"t": "2"} and got.params == {"lr": "0.2", "extra": "e"}
    assert [(m.key, m.value) for m in got.metrics or []] == [("score", 0.9)]
    first_got = client.get_logged_model(first.model_id)
    assert first_got.status == "READY"
    assert [(m.dataset_name, m.dataset_digest) for m in first_got.metrics or []] == [("d", "x1")]

    def ids(**kw: object) -> list[str]:
        models = client.search_logged_models(experiment_ids=[exp], **kw)  # type: ignore[arg-type]
        return [m.model_id for m in models]

    both = {first.model_id, second.model_id}
    assert set(ids()) == both
    assert ids(filter_string="params.lr = '0.2'") == [second.model_id]
    assert ids(filter_string="name = 'first'") == [first.model_id]
    assert ids(filter_string="metrics.score > 0.5") == [second.model_id]
    assert ids(order_by=[{"field_name": "metrics.score", "ascending": False}]) == [
        second.model_id, first.model_id,
    ]  # fmt: skip
    assert ids(datasets=[{"dataset_name": "d"}]) == [first.model_id]
    page = client.search_logged_models(experiment_ids=[exp], max_results=1)
    assert len(page) == 1 and page.token
    rest = client.search_logged_models(experiment_ids=[exp], max_results=1, page_token=page.token)
    assert {page[0].model_id, rest[0].model_id} == both

    client.delete_logged_model(first.model_id)
    with pytest.raises(MlflowException) as exc:
        client.get_logged_model(first.model_id)
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert ids() == [second.model_id]


def test_registry_store_uri_separate_database(tmp_path, unique_name: str) -> None:  # type: ignore[no-untyped-def]
    """``--registry-store-uri`` keeps registered models in their own database."""
    import sqlite3

    from tests.servers import start_aiotrack

    registry_db = tmp_path / "registry.db"
    server = start_aiotrack(
        f"sqlite:///{tmp_path / 'tracking.db'}", tmp_path,
        "--registry-store-uri", f"sqlite:///{registry_db}",
    )  # fmt: skip
    try:
        c = MlflowClient(tracking_uri=server.url)
        c.create_registered_model(unique_name)
        c.create_model_version(unique_name, "s3://b/m")
    finally:
        server.stop()
    with sqlite3.connect(registry_db) as conn:
        assert conn.execute("SELECT name FROM registered_models").fetchall() == [(unique_name,)]
    with sqlite3.connect(tmp_path / "tracking.db") as conn:
        assert conn.execute("SELECT count(*) FROM registered_models").fetchone() == (0,)
