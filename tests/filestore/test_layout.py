"""Byte compatibility: the same operations through MLflow's own ``FileStore`` (in-process, the
real mlflow 3.17.2 code) and through aiotrack's ``FileTrackingStore`` leave the same files with
the same bytes, up to the ids and clock times each store picks itself.

Also: each store reads what the other wrote, with the same entities.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from mlflow import entities as me
from mlflow.store.tracking.file_store import FileStore

from aiotrack.store.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    ModelInput,
    ModelOutput,
    Param,
    Tag,
    ViewType,
)
from aiotrack.store.file import FileTrackingStore
from aiotrack.store.file.layout import dataset_id, dataset_input_id, model_input_id
from aiotrack.store.file.logged_models import FileLoggedModelStore

T0 = 1_700_000_000_000
_TIMES = re.compile(
    r"^(creation_time|last_update_time|deleted_time|creation_timestamp|last_updated_timestamp): "
    r"\d+$",
    re.MULTILINE,
)


def _mlflow_ops(store: FileStore) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    exp = store.create_experiment("byte-exp", tags=[me.ExperimentTag("owner", "ann")])
    run = store.create_run(exp, "alice", T0, [me.RunTag("team", "a")], "r1").info.run_id
    store.log_metric(run, me.Metric("loss", 0.5, T0 + 1, 0))
    store.log_metric(run, me.Metric("loss", math.nan, T0 + 2, 1))
    store.log_metric(run, me.Metric("big", math.inf, T0 + 3, 2))
    store.log_metric(run, me.Metric("tiny", 1e-05, T0 + 3, 2))
    store.log_metric(
        run, me.Metric("ds", 1.0, T0 + 4, 3, dataset_name="train", dataset_digest="abc")
    )
    store.log_metric(run, me.Metric("m", 2.5, T0 + 5, 4, model_id="m-0123"))
    store.log_param(run, me.Param("lr", "0.1"))
    store.set_tag(run, me.RunTag("mlflow.runName", "renamed"))
    store.set_tag(run, me.RunTag("nested/key", "v\nw"))
    store.log_batch(
        run,
        metrics=[me.Metric("acc", 0.75, T0 + 6, 5), me.Metric("acc", 0.8, T0 + 7, 6)],
        params=[me.Param("opt", "adam")],
        tags=[me.RunTag("x", "y")],
    )
    ds = me.Dataset(name="ds", digest="abc", source_type="local", source='{"uri": "x"}', schema="s")
    store.log_inputs(
        run,
        datasets=[me.DatasetInput(ds, [me.InputTag("mlflow.data.context", "train")])],
        models=[me.LoggedModelInput("m-0123")],
    )
    store.log_outputs(run, [me.LoggedModelOutput("m-0456", 2)])
    store.update_run_info(run, me.RunStatus.FINISHED, T0 + 100, None)
    deleted = store.create_run(exp, "bob", T0 + 10, [], "gone").info.run_id
    store.delete_run(deleted)
    restored_run = store.create_run(exp, "bob", T0 + 11, [], None)  # a random name
    restored = restored_run.info.run_id
    ids["random_name"] = restored_run.info.run_name
    store.delete_run(restored)
    store.restore_run(restored)
    gone = store.create_experiment("gone", artifact_location="/tmp/somewhere")
    in_gone = store.create_run(gone, "carl", T0 + 12, [], "in-gone").info.run_id
    store.delete_experiment(gone)
    back = store.create_experiment("back")
    store.delete_experiment(back)
    store.restore_experiment(back)
    store.rename_experiment(exp, "byte-exp-2")
    store.set_experiment_tag(exp, me.ExperimentTag("k", "v"))
    store.delete_experiment_tag(exp, "owner")
    model = store.create_logged_model(
        exp, name="net", source_run_id=run, tags=[me.LoggedModelTag("t", "x")],
        params=[me.LoggedModelParameter("p", "1")], model_type="pyfunc",
    ).model_id  # fmt: skip
    store.finalize_logged_model(model, me.LoggedModelStatus.READY)
    dropped = store.create_logged_model(exp, name="dropped").model_id
    store.delete_logged_model(dropped)
    ids.update(
        exps=[exp, gone, back], runs=[run, deleted, restored, in_gone], models=[model, dropped]
    )
    return ids


async def _aiotrack_ops(store: FileTrackingStore) -> dict[str, Any]:
    exp = await store.create_experiment("byte-exp", None, [Tag("owner", "ann")])

    async def create(exp_id: str, user: str, start: int, tags: list[Tag], name: str | None) -> str:
        run = await store.create_run(
            experiment_id=exp_id, user_id=user, start_time=start, run_name=name, tags=tags
        )
        return run.info.run_id

    run = await create(exp, "alice", T0, [Tag("team", "a")], "r1")
    await store.log_metric(run, Metric("loss", 0.5, T0 + 1, 0))
    await store.log_metric(run, Metric("loss", math.nan, T0 + 2, 1))
    await store.log_metric(run, Metric("big", math.inf, T0 + 3, 2))
    await store.log_metric(run, Metric("tiny", 1e-05, T0 + 3, 2))
    await store.log_metric(
        run, Metric("ds", 1.0, T0 + 4, 3, dataset_name="train", dataset_digest="abc")
    )
    await store.log_metric(run, Metric("m", 2.5, T0 + 5, 4, model_id="m-0123"))
    await store.log_param(run, "lr", "0.1")
    await store.set_tag(run, "mlflow.runName", "renamed")
    await store.set_tag(run, "nested/key", "v\nw")
    await store.log_batch(
        run,
        metrics=[Metric("acc", 0.75, T0 + 6, 5), Metric("acc", 0.8, T0 + 7, 6)],
        params=[Param("opt", "adam")],
        tags=[Tag("x", "y")],
    )
    ds = Dataset(name="ds", digest="abc", source_type="local", source='{"uri": "x"}', schema="s")
    await store.log_inputs(
        run,
        datasets=[DatasetInput(ds, [InputTag("mlflow.data.context", "train")])],
        models=[ModelInput("m-0123")],
    )
    await store.log_outputs(run, [ModelOutput("m-0456", 2)])
    await store.update_run_info(run, status="FINISHED", end_time=T0 + 100, run_name=None)
    deleted = await create(exp, "bob", T0 + 10, [], "gone")
    await store.delete_run(deleted)
    restored = await create(exp, "bob", T0 + 11, [], None)  # a random name
    random_name = (await store.get_run(restored)).info.run_name
    await store.delete_run(restored)
    await store.restore_run(restored)
    gone = await store.create_experiment("gone", "/tmp/somewhere", [])
    in_gone = await create(gone, "carl", T0 + 12, [], "in-gone")
    await store.delete_experiment(gone)
    back = await store.create_experiment("back", None, [])
    await store.delete_experiment(back)
    await store.restore_experiment(back)
    await store.rename_experiment(exp, "byte-exp-2")
    await store.set_experiment_tag(exp, "k", "v")
    await store.delete_experiment_tag(exp, "owner")
    models = FileLoggedModelStore(store.root)
    model = (
        await models.create_logged_model(
            experiment_id=exp,
            name="net",
            model_type="pyfunc",
            source_run_id=run,
            params=[Tag("p", "1")],
            tags=[Tag("t", "x")],
        )
    ).model_id
    await models.finalize_logged_model(model, 2)
    dropped = (
        await models.create_logged_model(
            experiment_id=exp,
            name="dropped",
            model_type=None,
            source_run_id=None,
            params=[],
            tags=[],
        )
    ).model_id
    await models.delete_logged_model(dropped)
    return {
        "exps": [exp, gone, back],
        "runs": [run, deleted, restored, in_gone],
        "models": [model, dropped],
        "random_name": random_name,
    }


def _tree(root: Path, replacements: dict[str, str]) -> dict[str, str]:
    """relative path -> content, with ids, roots and store-chosen times made neutral."""

    def neutral(text: str) -> str:
        for old, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(old, new)
        return text

    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = neutral(path.relative_to(root).as_posix())
        if path.is_dir():
            out[rel + "/"] = ""
            continue
        content = neutral(path.read_text(encoding="utf-8"))
        if path.name == "meta.yaml":
            content = _TIMES.sub(r"\1: <TIME>", content)
        out[rel] = content
    return out


def _replacements(root: Path, ids: dict[str, Any]) -> dict[str, str]:
    rep = {root.as_uri(): "<ROOT_URI>", str(root): "<ROOT>"}
    for i, exp in enumerate(ids["exps"]):
        rep[exp] = f"<EXP{i}>"
    for i, run in enumerate(ids["runs"]):
        rep[run] = f"<RUN{i}>"
    for i, model in enumerate(ids["models"]):
        rep[model] = f"<MODEL{i}>"
    rep[ids["random_name"]] = "<RANDOM_NAME>"
    run = ids["runs"][0]
    rep[dataset_input_id(dataset_id("ds", "abc"), run)] = "<DS_INPUT>"
    rep[model_input_id("m-0123", run)] = "<MODEL_INPUT>"
    return rep


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "by-mlflow", tmp_path / "by-aiotrack"


async def test_same_bytes_as_mlflow(roots: tuple[Path, Path]) -> None:
    mlflow_root, aio_root = roots
    mlflow_ids = _mlflow_ops(FileStore(str(mlflow_root)))
    store = FileTrackingStore(str(aio_root), artifact_root=None)
    await store.ensure_default_experiment()
    aio_ids = await _aiotrack_ops(store)

    expected = _tree(mlflow_root, _replacements(mlflow_root, mlflow_ids))
    actual = _tree(aio_root, _replacements(aio_root, aio_ids))
    assert sorted(actual) == sorted(expected)
    differing = {k: (expected[k], actual[k]) for k in expected if expected[k] != actual[k]}
    assert not differing, differing
    # The normalisation did not hide the interesting content.
    assert expected["<EXP0>/<RUN0>/metrics/loss"] == f"{T0 + 1} 0.5 0\n{T0 + 2} nan 1\n"
    assert expected["<EXP0>/<RUN0>/metrics/big"] == f"{T0 + 3} inf 2\n"
    assert expected["<EXP0>/<RUN0>/metrics/ds"] == f"{T0 + 4} 1.0 3 train abc\n"
    assert expected["<EXP0>/models/m-0123/metrics/m"] == f"{T0 + 5} 2.5 4 <RUN0>\n"
    assert expected["<EXP0>/<RUN0>/tags/nested/key"] == "v\nw"
    assert ".trash/<EXP1>/<RUN3>/meta.yaml" in expected
    assert "<EXP0>/models/<MODEL0>/params/p" in expected


def _run_dicts(runs: list[Any]) -> dict[str, Any]:
    """Comparable content of runs from either store (MLflow's RunData keeps dicts)."""
    out = {}
    for r in runs:
        mlflow_run = isinstance(r.data.params, dict)
        metrics = r.data._metric_objs if mlflow_run else r.data.metrics
        out[r.info.run_id] = {
            "name": r.info.run_name,
            "status": r.info.status,
            "stage": r.info.lifecycle_stage,
            "end_time": r.info.end_time,
            "metrics": {m.key: (str(m.value), m.timestamp, m.step) for m in metrics},
            "params": dict(r.data.params)
            if mlflow_run
            else {p.key: p.value for p in r.data.params},
            "tags": dict(r.data.tags) if mlflow_run else {t.key: t.value for t in r.data.tags},
            "datasets": sorted(d.dataset.name for d in r.inputs.dataset_inputs),
            "model_inputs": sorted(m.model_id for m in r.inputs.model_inputs),
            "model_outputs": sorted(m.model_id for m in r.outputs.model_outputs),
        }
    return out


async def test_each_store_reads_the_other(roots: tuple[Path, Path]) -> None:
    mlflow_root, aio_root = roots
    _mlflow_ops(FileStore(str(mlflow_root)))
    store = FileTrackingStore(str(aio_root), artifact_root=None)
    await store.ensure_default_experiment()
    await _aiotrack_ops(store)

    for written, reader_root in ((mlflow_root, mlflow_root), (aio_root, aio_root)):
        mlflow_reader = FileStore(str(written))
        aio_reader = FileTrackingStore(str(reader_root), artifact_root=None)
        exps = mlflow_reader.search_experiments(view_type=me.ViewType.ALL)
        exp_ids = [e.experiment_id for e in exps]
        page = await aio_reader.search_experiments(
            view_type=ViewType.ALL,
            max_results=1000,
            filter_string=None,
            order_by=[],
            page_token=None,
        )
        assert [e.experiment_id for e in page.items] == exp_ids
        assert [(e.name, e.lifecycle_stage, e.artifact_location) for e in page.items] == [
            (e.name, e.lifecycle_stage, e.artifact_location) for e in exps
        ]
        m_runs = mlflow_reader.search_runs(exp_ids, "", me.ViewType.ALL, max_results=1000)
        a_runs = await aio_reader.search_runs(
            experiment_ids=exp_ids,
            filter_string=None,
            view_type=ViewType.ALL,
            max_results=1000,
            order_by=[],
            page_token=None,
        )
        assert [r.info.run_id for r in a_runs.items] == [r.info.run_id for r in m_runs]
        expected = _run_dicts(list(m_runs))
        actual = _run_dicts(a_runs.items)
        assert actual == expected
        run_id = m_runs[-1].info.run_id
        for key in ("loss", "acc", "ds"):
            m_hist = mlflow_reader.get_metric_history(run_id, key)
            a_hist = await aio_reader.get_metric_history(
                run_id, key, max_results=None, page_token=None
            )
            assert [(str(m.value), m.timestamp, m.step, m.dataset_name) for m in a_hist.items] == [
                (str(m.value), m.timestamp, m.step, m.dataset_name) for m in m_hist
            ]
