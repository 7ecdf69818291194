"""`GcStore` over MLflow's file store (an ``./mlruns`` directory).

Follows MLflow 3.17.2's ``FileStore``: a deleted run is one whose ``meta.yaml`` says
``lifecycle_stage: deleted`` (in an active experiment or in ``.trash``); it qualifies when it has
no ``deleted_time`` or one at least ``--older-than`` ago. ``_hard_delete_run`` removes the run
directory, ``_hard_delete_experiment`` the experiment's directory in ``.trash`` (runs, models,
traces and all), ``_hard_delete_logged_model`` the model's directory. The file store has no jobs.

Every filesystem call runs in a worker thread; every path is built from validated ids under
the store root, and a symlink is removed itself, never followed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from typing import Any

from aiotrack.errors import AiotrackError
from aiotrack.gc.stores import DELETED, ExperimentRecord, GcError, ModelRecord, RunRecord
from aiotrack.store.entities import ViewType
from aiotrack.store.file import experiments as exps
from aiotrack.store.file import runs
from aiotrack.store.file.layout import (
    MODELS,
    TAGS,
    MalformedError,
    list_subdirs,
    read_text,
    read_yaml,
)
from aiotrack.store.file.root import FileRoot, validate_run_id
from aiotrack.store.file.trace_layout import TRACES
from aiotrack.store.file.tracking import file_store_path
from aiotrack.tracing.entities import ARTIFACT_LOCATION_TAG

__all__ = ["FileGcStore"]


def _remove_tree(path: str) -> None:
    """Remove directory ``path``; a symlink in its place is unlinked, not followed."""
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


class FileGcStore:
    """gc's view of one mlruns directory; open it with `FileGcStore.open`."""

    has_jobs = False

    def __init__(self, root: FileRoot) -> None:
        self._root = root
        self.description = root.root
        # Run directories found while checking runs: a run whose artifacts (its ``artifacts/``
        # folder) are already gone no longer looks like a run to `FileRoot.find_run`.
        self._run_dirs: dict[str, str] = {}

    @classmethod
    async def open(cls, uri: str) -> FileGcStore:
        """The file store at ``uri`` (a path or ``file:`` URI); it must exist."""
        path = file_store_path(uri)
        if not await asyncio.to_thread(os.path.isdir, path):
            raise GcError(f"The file store {path} does not exist (or is not a directory)")
        return cls(FileRoot(path, artifact_root_uri=""))

    async def close(self) -> None:
        return None

    def _all_experiment_ids(self) -> list[str]:
        return self._root.active_experiment_ids() + self._root.deleted_experiment_ids()

    # --- selection -------------------------------------------------------------------------

    async def deleted_run_ids(self, older_than_ms: int, now_ms: int) -> list[str]:
        def find() -> list[str]:
            found: list[str] = []
            for experiment_id in self._all_experiment_ids():
                for run_dir, info in runs.list_run_infos(
                    self._root, experiment_id, ViewType.DELETED_ONLY
                ):
                    deleted_time = read_yaml(run_dir).get("deleted_time")
                    if deleted_time is None or now_ms - int(deleted_time) >= older_than_ms:
                        found.append(info.run_id)
            return found

        return await asyncio.to_thread(find)

    async def deleted_model_ids(self, older_than_ms: int, now_ms: int) -> list[str]:
        def find() -> list[str]:
            found: list[str] = []
            for _experiment_id, _model_dir, meta in self._models():
                if (
                    meta.get("lifecycle_stage") == DELETED
                    and int(meta.get("last_updated_timestamp") or 0) <= now_ms - older_than_ms
                ):
                    found.append(str(meta["model_id"]))
            return found

        return await asyncio.to_thread(find)

    async def deleted_experiment_ids(self, updated_before_ms: int | None) -> list[str]:
        def find() -> list[str]:
            return [
                e.experiment_id
                for e in exps.all_experiments(self._root, ViewType.DELETED_ONLY)
                if updated_before_ms is None
                or (e.last_update_time is not None and e.last_update_time < updated_before_ms)
            ]

        return await asyncio.to_thread(find)

    async def deleted_runs_of(self, experiment_ids: Sequence[str]) -> list[str]:
        def find() -> list[str]:
            return [
                info.run_id
                for experiment_id in experiment_ids
                for _, info in runs.list_run_infos(self._root, experiment_id, ViewType.DELETED_ONLY)
            ]

        return await asyncio.to_thread(find)

    # --- lookups ---------------------------------------------------------------------------

    async def get_runs(self, run_ids: Sequence[str]) -> list[RunRecord]:
        def find() -> list[RunRecord]:
            out: list[RunRecord] = []
            for run_id in run_ids:
                try:
                    located = runs.locate_run(self._root, run_id)
                except AiotrackError as exc:
                    raise GcError(exc.message) from None
                self._run_dirs[run_id] = located.run_dir
                info = located.info
                out.append(
                    RunRecord(
                        run_id, located.experiment_id, info.lifecycle_stage, info.artifact_uri
                    )
                )
            return out

        return await asyncio.to_thread(find)

    async def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        try:
            e = await asyncio.to_thread(exps.get_experiment, self._root, experiment_id)
        except AiotrackError as exc:
            raise GcError(exc.message) from None
        return ExperimentRecord(e.experiment_id, e.lifecycle_stage, e.last_update_time)

    async def get_model(self, model_id: str) -> ModelRecord:
        found = await asyncio.to_thread(self._find_model, model_id)
        if found is None:
            raise GcError(f"Model '{model_id}' not found")
        experiment_id, _model_dir, meta = found
        if str(meta.get("experiment_id")) != experiment_id:
            raise GcError(f"Model '{model_id}' metadata is in invalid state.")
        return ModelRecord(
            model_id,
            experiment_id,
            meta.get("lifecycle_stage") or "active",
            meta.get("artifact_location"),
        )

    def _models(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(experiment_id, model_dir, meta)`` of every readable logged model."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        for experiment_id in self._all_experiment_ids():
            exp_dir = self._root.experiment_dir(experiment_id)
            if exp_dir is None:
                continue
            models_dir = os.path.join(exp_dir, MODELS)
            for name in list_subdirs(models_dir):
                model_dir = os.path.join(models_dir, name)
                try:
                    meta = read_yaml(model_dir)
                except MalformedError:
                    continue
                if isinstance(meta, dict) and "model_id" in meta:
                    out.append((experiment_id, model_dir, meta))
        return out

    def _find_model(self, model_id: str) -> tuple[str, str, dict[str, Any]] | None:
        if not model_id or "/" in model_id or os.sep in model_id or model_id in (".", ".."):
            return None
        for experiment_id in self._all_experiment_ids():
            exp_dir = self._root.experiment_dir(experiment_id)
            if exp_dir is None:
                continue
            model_dir = os.path.join(exp_dir, MODELS, model_id)
            if os.path.isdir(model_dir):
                try:
                    return experiment_id, model_dir, read_yaml(model_dir)
                except MalformedError:
                    return None
        return None

    # --- deletion --------------------------------------------------------------------------

    def _run_dir(self, run_id: str) -> str | None:
        """The run's directory, even when its ``artifacts/`` folder was deleted already."""
        validate_run_id(run_id)
        known = self._run_dirs.get(run_id)
        if known is not None and os.path.isdir(known):
            return known
        for experiment_id in self._all_experiment_ids():
            exp_dir = self._root.experiment_dir(experiment_id)
            if exp_dir is not None and os.path.isdir(os.path.join(exp_dir, run_id)):
                return os.path.join(exp_dir, run_id)
        return None

    async def trace_artifact_roots(self, experiment_id: str) -> list[tuple[str, str]]:
        def find() -> list[tuple[str, str]]:
            exp_dir = self._root.experiment_dir(experiment_id)
            if exp_dir is None:
                return []
            traces_dir = os.path.join(exp_dir, TRACES)
            found: list[tuple[str, str]] = []
            for trace_id in sorted(list_subdirs(traces_dir)):
                tag = os.path.join(traces_dir, trace_id, TAGS, ARTIFACT_LOCATION_TAG)
                try:
                    location = read_text(tag)
                except OSError:
                    continue
                if location:
                    found.append((trace_id, location))
            return found

        return await asyncio.to_thread(find)

    async def hard_delete_run(self, run_id: str) -> None:
        def remove() -> None:
            run_dir = self._run_dir(run_id)
            if run_dir is None:
                raise GcError(f"Run '{run_id}' not found")
            try:
                stage = read_yaml(run_dir).get("lifecycle_stage")
            except MalformedError:
                stage = None
            if stage != DELETED:
                raise GcError(f"Run {run_id} is no longer in the `deleted` lifecycle stage")
            _remove_tree(run_dir)

        await asyncio.to_thread(remove)

    async def hard_delete_model(self, model_id: str) -> None:
        def remove() -> None:
            found = self._find_model(model_id)
            if found is None:
                raise GcError(f"Model '{model_id}' not found")
            _remove_tree(found[1])

        await asyncio.to_thread(remove)

    async def hard_delete_experiment(self, experiment_id: str) -> None:
        def remove() -> None:
            exp_dir = self._root.experiment_dir(experiment_id, ViewType.DELETED_ONLY)
            if exp_dir is None:
                raise GcError(f"Could not find experiment with ID {experiment_id}")
            _remove_tree(exp_dir)

        await asyncio.to_thread(remove)

    async def delete_jobs(
        self, older_than_ms: int, now_ms: int, job_ids: Sequence[str] | None
    ) -> list[str]:
        return []
