"""``FileTrackingStore``: the :class:`~aiotrack.store.base.TrackingStore` over an ``mlruns`` dir.

Every public method checks its input on the event loop, then does ALL its file I/O in ONE
``asyncio.to_thread`` call (one thread hop per request). Writes hold the root's lock so that
read-modify-write sequences (param immutability, meta.yaml rewrites, moves to ``.trash``) do
not interleave. Semantics and messages are those of MLflow 3.17.2's ``FileStore`` (see the
modules ``experiments`` and ``runs``); input rules shared with the SQL store come from
:mod:`aiotrack.validation`.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlparse
from urllib.request import url2pathname

from aiotrack.errors import InvalidParameter, ResourceNotFound
from aiotrack.names import random_run_name
from aiotrack.search import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_run_filter,
    parse_run_order_by,
)
from aiotrack.store.entities import (
    DatasetInput,
    DatasetSummary,
    Experiment,
    LifecycleStage,
    Metric,
    MetricWithRunId,
    ModelInput,
    ModelOutput,
    Page,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    Tag,
    ViewType,
)
from aiotrack.store.file import experiments as exps
from aiotrack.store.file import runs
from aiotrack.store.file.root import FileRoot, validate_run_id
from aiotrack.store.file.search import (
    RunView,
    filter_experiments,
    filter_runs,
    sort_experiments,
    sort_runs,
)
from aiotrack.store.pagination import decode_offset, encode_offset
from aiotrack.uris import append_path, resolve_if_local
from aiotrack.validation import (
    MAX_TAG_VALUE_LENGTH,
    checked_batch,
    checked_param,
    checked_tag,
    validate_experiment_name,
    validate_experiment_tag,
    validate_metric,
    validate_tag_name,
)

__all__ = ["FileTrackingStore", "file_store_path"]

P = ParamSpec("P")
R = TypeVar("R")

MAX_SEARCH_RESULTS = 50000
MAX_DATASET_SUMMARIES = 1000
DATASET_CONTEXT_TAG = "mlflow.data.context"
_MODEL_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def file_store_path(uri: str) -> str:
    """The local directory a file-store URI names (``file:///x``, ``./mlruns``, ``/x``)."""
    if uri.startswith("file:"):
        return os.path.abspath(url2pathname(urlparse(uri).path))
    return os.path.abspath(uri)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_max_results(max_results: int) -> None:
    if max_results < 1:
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            "a positive integer"
        )
    if max_results > MAX_SEARCH_RESULTS:
        raise InvalidParameter(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {MAX_SEARCH_RESULTS}"
        )


def _check_model_id(model_id: str) -> None:
    # Model ids become directory names (outputs/<model_id>, models/<model_id>).
    if not model_id or not set(model_id) <= _MODEL_ID_CHARS:
        raise InvalidParameter(f"Invalid model ID: '{model_id}'")


class FileTrackingStore:
    """MLflow's file store (``./mlruns``) served asynchronously.

    ``root`` is the store directory (a path or ``file:`` URI); ``artifact_root`` the default
    artifact root of new experiments (``mlflow-artifacts:/`` by default; MLflow uses the
    root's ``file://`` URI when none is configured).
    """

    def __init__(
        self, root: str, *, artifact_root: str | None, truncate_long_values: bool = True
    ) -> None:
        path = file_store_path(root)
        artifact_root_uri = (
            resolve_if_local(artifact_root) if artifact_root else _path_to_file_uri(path)
        )
        self.root = FileRoot(path, artifact_root_uri)
        self.truncate = truncate_long_values

    #: ``metrics/get-history`` must not use the streamed shape: MLflow's file store answers
    #: each point with its ``run_id`` (and dataset fields), which that shape has no room for.
    streams_metric_history = False

    async def _io(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` in a worker thread (one hop)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` in a worker thread holding the store's write lock."""

        def locked() -> R:
            with self.root.lock:
                return fn(*args, **kwargs)

        return await asyncio.to_thread(locked)

    # ------------------------------------------------------------------ experiments

    async def ensure_default_experiment(self) -> None:
        """Like MLflow: a missing root is created with experiment 0 "Default"; ``.trash`` too."""
        await self._write(exps.ensure_root, self.root)

    async def create_experiment(
        self, name: str, artifact_location: str | None, tags: Sequence[Tag]
    ) -> str:
        validate_experiment_name(name)
        for tag in tags:
            validate_experiment_tag(tag.key, tag.value)
        location = resolve_if_local(artifact_location) if artifact_location else None
        return await self._write(exps.create_experiment, self.root, name, location, list(tags))

    async def get_experiment(self, experiment_id: str) -> Experiment:
        return await self._io(exps.get_experiment, self.root, experiment_id)

    async def get_experiment_by_name(self, name: str) -> Experiment:
        experiment = await self._io(exps.experiment_by_name, self.root, name)
        if experiment is None:
            raise ResourceNotFound(f"Could not find experiment with name '{name}'")
        return experiment

    async def delete_experiment(self, experiment_id: str) -> None:
        await self._write(exps.delete_experiment, self.root, experiment_id)

    async def restore_experiment(self, experiment_id: str) -> None:
        await self._write(exps.restore_experiment, self.root, experiment_id)

    async def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validate_experiment_name(new_name)
        await self._write(exps.rename_experiment, self.root, experiment_id, new_name)

    async def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        validate_experiment_tag(key, value)
        await self._write(exps.set_experiment_tag, self.root, experiment_id, key, value)

    async def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        validate_tag_name(key)
        await self._write(exps.delete_experiment_tag, self.root, experiment_id, key)

    async def search_experiments(
        self,
        *,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Experiment]:
        _check_max_results(max_results)
        filters = parse_experiment_filter(filter_string)
        orders = parse_experiment_order_by(order_by)
        offset = decode_offset(page_token)
        found = await self._io(exps.all_experiments, self.root, view_type)
        ordered = sort_experiments(filter_experiments(found, filters), orders)
        return _page(ordered, offset, max_results)

    # ------------------------------------------------------------------ runs

    async def create_run(
        self,
        *,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str | None,
        tags: Sequence[Tag],
    ) -> Run:
        """A RUNNING run in an active experiment; keeps ``mlflow.runName`` in sync."""
        tag_list = [checked_tag(t.key, t.value, truncate=self.truncate) for t in tags]
        name_tag = next((t.value for t in tag_list if t.key == runs.RUN_NAME_TAG), None)
        if run_name and name_tag and run_name != name_tag:
            raise InvalidParameter(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{name_tag}')."
            )
        name = run_name or name_tag or random_run_name()
        if not name_tag:
            tag_list.append(Tag(runs.RUN_NAME_TAG, name))
        # MLflow's file store validates even an empty id ("Invalid experiment ID: ''").
        exp_id = experiment_id
        run_id = uuid.uuid4().hex

        def create() -> RunInfo:
            experiment = exps.get_experiment(self.root, exp_id)
            if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
                # MLflow: INVALID_STATE, a 500 the client retries; a client mistake is a 400.
                raise InvalidParameter(
                    f"Could not create run under non-active experiment with ID {exp_id}."
                )
            info = RunInfo(
                run_id=run_id,
                run_name=name,
                experiment_id=exp_id,
                user_id=user_id,
                status="RUNNING",
                start_time=start_time,
                end_time=None,
                artifact_uri=append_path(experiment.artifact_location or "", run_id, "artifacts"),
                lifecycle_stage=LifecycleStage.ACTIVE.value,
            )
            exp_dir = self.root.experiment_dir(exp_id)
            assert exp_dir is not None
            runs.create_run_dir(exp_dir, info, tag_list)
            self.root.remember_run(run_id, exp_id)
            return info

        info = await self._write(create)
        last: dict[str, str] = {t.key: t.value for t in tag_list}
        data = RunData(tags=[Tag(k, v) for k, v in last.items()])
        return Run(info, data, RunInputs(), RunOutputs())

    async def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags, inputs and outputs; deleted too."""
        validate_run_id(run_id)

        def read() -> Run:
            run = runs.locate_run(self.root, run_id)
            return runs.load_run(run.run_dir, run.info)

        return await self._io(read)

    async def update_run_info(
        self, run_id: str, *, status: str | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        validate_run_id(run_id)

        def update() -> RunInfo:
            run = runs.active_run(self.root, run_id)
            if run_name:
                runs.write_text_tag(run, runs.RUN_NAME_TAG, run_name)
            return runs.overwrite_run_meta(
                run.run_dir, run.info, status=status, end_time=end_time, run_name=run_name
            )

        return await self._write(update)

    async def _set_stage(self, run_id: str, stage: LifecycleStage) -> None:
        def update() -> None:
            run = runs.locate_run(self.root, run_id)
            runs.overwrite_run_meta(
                run.run_dir,
                run.info,
                lifecycle_stage=stage.value,
                deleted_time=_now_ms() if stage is LifecycleStage.DELETED else None,
            )

        await self._write(update)

    async def delete_run(self, run_id: str) -> None:
        await self._set_stage(run_id, LifecycleStage.DELETED)

    async def restore_run(self, run_id: str) -> None:
        await self._set_stage(run_id, LifecycleStage.ACTIVE)

    # ------------------------------------------------------------------ logging

    async def _log(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[Tag] = (),
    ) -> None:
        """Params (all checked first), then metrics, then tags, as MLflow orders them."""
        for m in metrics:
            if m.model_id is not None:
                _check_model_id(m.model_id)

        def log() -> None:
            run = runs.active_run(self.root, run_id)
            if params:
                runs.check_params(run, params)
                runs.write_params(run, params)
            if metrics:
                runs.write_metrics(run, metrics)
            if tags:
                runs.write_tags(run, tags)

        await self._write(log)

    async def log_metric(self, run_id: str, metric: Metric) -> None:
        validate_run_id(run_id)
        validate_metric(metric.key, metric.value, metric.timestamp)
        await self._log(run_id, metrics=[metric])

    async def log_param(self, run_id: str, key: str, value: str) -> None:
        validate_run_id(run_id)
        await self._log(run_id, params=[checked_param(key, value, truncate=self.truncate)])

    async def set_tag(self, run_id: str, key: str, value: str) -> None:
        validate_run_id(run_id)
        await self._log(run_id, tags=[checked_tag(key, value, truncate=self.truncate)])

    async def delete_tag(self, run_id: str, key: str) -> None:
        validate_run_id(run_id)

        def delete() -> None:
            run = runs.active_run(self.root, run_id)
            runs.delete_tag(run, key)

        await self._write(delete)

    async def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[Tag],
    ) -> None:
        validate_run_id(run_id)
        checked_params, checked_tags = checked_batch(metrics, params, tags, truncate=self.truncate)
        await self._log(run_id, metrics, checked_params, checked_tags)

    # ------------------------------------------------------------------ reading

    async def search_runs(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Run]:
        """MLflow's file-store search: load every run of the experiments, filter, sort, page."""
        _check_max_results(max_results)
        filters = parse_run_filter(filter_string)
        orders = parse_run_order_by(order_by)
        offset = decode_offset(page_token)

        def search() -> list[Run]:
            views: list[RunView] = []
            for exp_id in experiment_ids:
                for run_dir, info in runs.list_run_infos(self.root, exp_id, view_type):
                    views.append(RunView.of(runs.load_run(run_dir, info)))
            return [v.run for v in sort_runs(filter_runs(views, filters), orders)]

        return _page(await self._io(search), offset, max_results)

    async def get_metric_history(
        self, run_id: str, key: str, *, max_results: int | None, page_token: str | None
    ) -> Page[Metric]:
        """Every point in logging order; an unknown run is a 404 (unlike the SQL store)."""
        validate_run_id(run_id)
        validate_metric(key, 0.0, 0)
        offset = decode_offset(page_token)
        points = await self._io(runs.metric_history, self.root, run_id, key)
        if max_results is None:
            return Page(points[offset:])
        return _page(points, offset, max_results)

    async def stream_metric_history(
        self, run_id: str, key: str, *, chunk_size: int = 20_000
    ) -> AsyncIterator[list[tuple[float, int, int, bool]]]:
        """The history as ``(value, timestamp, step, is_nan)`` chunks (no dataset fields)."""
        page = await self.get_metric_history(run_id, key, max_results=None, page_token=None)
        points = page.items
        for i in range(0, len(points), chunk_size):
            yield [
                (m.value, m.timestamp, m.step, m.value != m.value)
                for m in points[i : i + chunk_size]
            ]

    async def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        key: str,
        *,
        max_results: int,
        start_step: int | None,
        end_step: int | None,
    ) -> list[MetricWithRunId]:
        """MLflow's ``AbstractStore`` sampling over each run's full history."""
        for run_id in run_ids:
            validate_run_id(run_id)
        validate_metric(key, 0.0, 0)

        def read() -> list[list[Metric]]:
            return [runs.metric_history(self.root, run_id, key) for run_id in run_ids]

        histories = await self._io(read)
        return _sample_bulk(list(run_ids), histories, max(1, max_results), start_step, end_step)

    # ------------------------------------------------------------------ inputs and outputs

    async def log_inputs(
        self, run_id: str, *, datasets: Sequence[DatasetInput], models: Sequence[ModelInput]
    ) -> None:
        from aiotrack.store.sql.inputs import validate_dataset_inputs

        validate_run_id(run_id)
        validate_dataset_inputs(datasets)
        for m in models:
            _check_model_id(m.model_id)

        def log() -> None:
            run = runs.active_run(self.root, run_id)
            runs.write_inputs(run, datasets, models)

        await self._write(log)

    async def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None:
        validate_run_id(run_id)
        for m in models:
            _check_model_id(m.model_id)

        def log() -> None:
            run = runs.active_run(self.root, run_id)
            runs.write_outputs(run, models)

        await self._write(log)

    async def search_datasets(self, experiment_ids: Sequence[str]) -> list[DatasetSummary]:
        def search() -> list[DatasetSummary]:
            seen: dict[tuple[str, str, str, str | None], None] = {}
            for exp_id in experiment_ids:
                if self.root.experiment_dir(exp_id) is None:
                    raise ResourceNotFound(f"Experiment {exp_id} does not exist.")
                for run_dir, _info in runs.list_run_infos(self.root, exp_id, ViewType.ALL):
                    for d in runs.load_dataset_inputs(run_dir):
                        context = next(
                            (t.value for t in d.tags if t.key == DATASET_CONTEXT_TAG), None
                        )
                        seen[(exp_id, d.dataset.name, d.dataset.digest, context)] = None
                        if len(seen) == MAX_DATASET_SUMMARIES:
                            return [DatasetSummary(*k) for k in seen]
            return [DatasetSummary(*k) for k in seen]

        return await self._io(search)

    async def record_logged_model(self, run_id: str, model: dict[str, Any]) -> None:
        """Append a (MLflow 2 style) model record to the ``mlflow.log-model.history`` tag."""
        validate_run_id(run_id)
        entry = {
            k: v
            for k, v in model.items()
            if k in ("run_id", "artifact_path", "utc_time_created", "flavors", "model_uuid")
        }

        def record() -> None:
            run = runs.active_run(self.root, run_id)
            runs.append_logged_model(run, entry, MAX_TAG_VALUE_LENGTH)

        await self._write(record)


def _path_to_file_uri(path: str) -> str:
    from pathlib import Path

    return Path(path).as_uri()


def _page(items: list[R], offset: int, max_results: int) -> Page[R]:
    end = offset + max_results
    return Page(items[offset:end], encode_offset(end) if end < len(items) else None)


def _sample_bulk(
    run_ids: list[str],
    histories: list[list[Metric]],
    max_results: int,
    start_step: int | None,
    end_step: int | None,
) -> list[MetricWithRunId]:
    """``AbstractStore.get_metric_history_bulk_interval`` of MLflow 3.17.2, step for step."""
    all_runs = [[m.step for m in h] for h in histories]
    mins_maxes = {s for steps in all_runs if steps for s in (min(steps), max(steps))}
    all_steps = sorted({s for steps in all_runs for s in steps})
    if start_step is None or end_step is None:
        start_step, end_step = 0, (all_steps[-1] if all_steps else 0)
    mins_maxes = {s for s in mins_maxes if start_step <= s <= end_step}
    start_idx = bisect.bisect_left(all_steps, start_step)
    end_idx = bisect.bisect_right(all_steps, end_step)
    if end_idx - start_idx <= max_results:
        sampled = set(all_steps[start_idx:end_idx])
    else:
        interval = (end_idx - start_idx) / max_results
        sampled = set()
        for i in range(max_results):
            idx = start_idx + int(i * interval)
            if idx < end_idx:
                sampled.add(all_steps[idx])
        sampled.add(all_steps[end_idx - 1])
    steps = sorted(sampled | mins_maxes)
    per_run = max(max_results, len(steps))
    step_set = set(steps)
    out: list[MetricWithRunId] = []
    for run_id, history in zip(run_ids, histories, strict=True):
        chosen = sorted(
            (m for m in history if m.step in step_set), key=lambda m: (m.step, m.timestamp)
        )
        out.extend(
            MetricWithRunId(m.key, m.value, m.timestamp, m.step, run_id)
            for m in (chosen[i] for i in _evenly_spaced(len(chosen), per_run))
        )
    return out


def _evenly_spaced(total: int, max_results: int) -> list[int]:
    if total <= 0:
        return []
    if total <= max_results:
        return list(range(total))
    if max_results == 1:
        return [total - 1]
    step = (total - 1) / (max_results - 1)
    return sorted({round(i * step) for i in range(max_results)})
