"""The ``aiotrack gc`` algorithm: MLflow 3.17.2's ``_gc_tracking_resources`` over a `GcStore`.

Selection, exactly as ``mlflow gc``:

* runs: ``--run-ids``, else every run in the deleted stage whose ``deleted_time`` is at least
  ``--older-than`` ago (all deleted runs without ``--older-than``);
* logged models: ``--logged-model-ids``, else every deleted model last updated at least
  ``--older-than`` ago;
* experiments: ``--experiment-ids`` (each must be deleted, and older than the cut-off by
  ``last_update_time`` when ``--older-than`` is given), else every deleted experiment last
  updated before the cut-off; the deleted runs of these experiments join the runs above (note:
  ``--experiment-ids`` alone still collects the other deleted runs, as MLflow does);
* jobs (``--jobs``/``--job-ids``, database backends): finished jobs created before the cut-off.

Every selected run must exist, be deleted, and (with ``--older-than``) be old enough; every
selected model likewise. Unlike ``mlflow gc``, which checks each run just before deleting it
and so may stop halfway, all of these checks run before anything is deleted.

Then, in MLflow's order, each run's artifacts are deleted, then its rows; then each logged
model's artifacts and rows; then each experiment, with its traces (their rows, and -- which
``mlflow gc`` leaves behind -- their artifact directories and links); then the jobs. An item whose deletion fails is
reported and left in place (with its experiment, which would otherwise take it along), the rest
goes on, and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from aiotrack.errors import AiotrackError, TemporarilyUnavailable
from aiotrack.gc.artifacts import ArtifactCleaner
from aiotrack.gc.options import GcOptions
from aiotrack.gc.stores import DELETED, GcError, GcStore, ModelRecord, RunRecord

__all__ = ["Plan", "Summary", "collect", "main", "plan"]

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Plan:
    """What will be deleted, every item checked."""

    runs: list[RunRecord]
    models: list[ModelRecord]
    experiment_ids: list[str]
    now_ms: int


@dataclass(slots=True)
class Summary:
    """What was deleted, and the messages of what could not be."""

    runs: int = 0
    models: int = 0
    experiments: int = 0
    #: Traces deleted with their experiments.
    traces: int = 0
    jobs: int = 0
    failures: list[str] = field(default_factory=list)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


async def plan(store: GcStore, options: GcOptions) -> Plan:
    """Select and check everything ``options`` asks to delete (`GcError` when a named item may
    not be deleted). Nothing is changed."""
    now = _now_ms()
    older = options.older_than_ms
    old_deleted_runs = await store.deleted_run_ids(older, now)
    old_deleted_set = set(old_deleted_runs)
    run_ids = list(options.run_ids) if options.run_ids is not None else list(old_deleted_runs)

    deleted_models = set(await store.deleted_model_ids(0, now))
    old_deleted_models = await store.deleted_model_ids(older, now)
    model_ids = (
        list(options.logged_model_ids)
        if options.logged_model_ids is not None
        else old_deleted_models
    )

    threshold = now - older
    if options.experiment_ids:
        experiments = [await store.get_experiment(e) for e in options.experiment_ids]
        active = [e.experiment_id for e in experiments if e.lifecycle_stage != DELETED]
        if active:
            raise GcError(
                f"Experiments {active} are not in the deleted lifecycle stage. Only experiments "
                "in the deleted lifecycle stage can be hard-deleted."
            )
        if options.older_than:
            young = [
                e.experiment_id
                for e in experiments
                if e.last_update_time is None or e.last_update_time >= threshold
            ]
            if young:
                raise GcError(
                    f"Experiments {young} are not older than the required age. Only "
                    f"experiments older than {options.older_than} can be deleted."
                )
        experiment_ids = [e.experiment_id for e in experiments]
    else:
        experiment_ids = await store.deleted_experiment_ids(
            threshold if options.older_than else None
        )
    if experiment_ids:
        run_ids.extend(await store.deleted_runs_of(experiment_ids))

    runs = await store.get_runs(list(dict.fromkeys(run_ids)))
    for run in runs:
        run_id = run.run_id
        if run.lifecycle_stage != DELETED:
            raise GcError(
                f"Run {run_id} is not in `deleted` lifecycle stage. Only runs in `deleted` "
                "lifecycle stage can be deleted."
            )
        if options.older_than and run_id not in old_deleted_set:
            raise GcError(
                f"Run {run_id} is not older than the required age. Only runs older than "
                f"{options.older_than} can be deleted."
            )

    models: list[ModelRecord] = []
    for model_id in dict.fromkeys(model_ids):
        model = await store.get_model(model_id)
        if model_id not in deleted_models:
            raise GcError(
                f"Logged model {model_id} is not in `deleted` lifecycle stage. Only logged "
                "models in `deleted` lifecycle stage can be deleted."
            )
        if options.older_than and model_id not in old_deleted_models:
            raise GcError(
                f"Logged model {model_id} is not older than the required age. Only logged "
                f"models older than {options.older_than} can be deleted."
            )
        models.append(model)
    return Plan(runs, models, experiment_ids, now)


async def collect(
    store: GcStore,
    cleaner: ArtifactCleaner,
    options: GcOptions,
    out: TextIO,
    err: TextIO,
) -> Summary:
    """Plan, then delete; per-item lines to ``out`` (as ``mlflow gc``), the rest to ``err``."""
    todo = await plan(store, options)
    want_jobs = options.jobs or bool(options.job_ids)
    err.write(
        f"aiotrack gc: {store.description}: {_plural(len(todo.runs), 'run')}, "
        f"{_plural(len(todo.models), 'logged model')} and "
        f"{_plural(len(todo.experiment_ids), 'experiment')} to delete; proxied artifacts "
        f"{cleaner.describe_destination}\n"
    )
    err.flush()
    summary = Summary()
    blocked_experiments: set[str] = set()

    def failed(message: str, experiment_id: str | None = None) -> None:
        summary.failures.append(message)
        if experiment_id is not None:
            blocked_experiments.add(experiment_id)
        err.write(f"aiotrack gc: error: {message}\n")
        err.flush()

    def done(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    for run in todo.runs:
        try:
            await cleaner.delete(run.artifact_uri, run.run_id, "run")
            await store.hard_delete_run(run.run_id)
        except (GcError, AiotrackError, OSError) as exc:
            _raise_if_unavailable(exc)
            failed(f"run {run.run_id} was not deleted: {_message(exc)}", run.experiment_id)
            continue
        summary.runs += 1
        done(f"Run with ID {run.run_id} has been permanently deleted.")

    for model in todo.models:
        try:
            await cleaner.delete(model.artifact_location, model.model_id, "logged model")
            await store.hard_delete_model(model.model_id)
        except (GcError, AiotrackError, OSError) as exc:
            _raise_if_unavailable(exc)
            failed(
                f"logged model {model.model_id} was not deleted: {_message(exc)}",
                model.experiment_id,
            )
            continue
        summary.models += 1
        done(f"Logged model with ID {model.model_id} has been permanently deleted.")

    for experiment_id in todo.experiment_ids:
        if experiment_id in blocked_experiments:
            failed(
                f"experiment {experiment_id} was not deleted: some of its runs or logged "
                "models could not be deleted (see above)"
            )
            continue
        try:
            # The traces' artifacts (spans uploaded as traces.json, attachments) first: with
            # the rows gone nothing would point at them any more.
            traces = await store.trace_artifact_roots(experiment_id)
            for trace_id, uri in traces:
                await cleaner.delete(uri, trace_id, "trace")
            await store.hard_delete_experiment(experiment_id)
        except (GcError, AiotrackError, OSError) as exc:
            _raise_if_unavailable(exc)
            failed(f"experiment {experiment_id} was not deleted: {_message(exc)}")
            continue
        summary.experiments += 1
        summary.traces += len(traces)
        done(f"Experiment with ID {experiment_id} has been permanently deleted.")

    if want_jobs:
        if store.has_jobs:
            for job_id in await store.delete_jobs(
                options.older_than_ms, _now_ms(), options.job_ids
            ):
                summary.jobs += 1
                done(f"Job with ID {job_id} has been permanently deleted.")
        else:
            err.write("aiotrack gc: note: the file store has no jobs; --jobs/--job-ids ignored\n")

    for warning in cleaner.warnings:
        err.write(f"aiotrack gc: warning: {warning}\n")
    return summary


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, AiotrackError) else str(exc)


def _raise_if_unavailable(exc: BaseException) -> None:
    # The database went away: every further item would fail the same way.
    if isinstance(exc, TemporarilyUnavailable):
        raise exc


async def _open_store(uri: str) -> GcStore:
    from aiotrack.config import is_file_store_uri

    if is_file_store_uri(uri):
        from aiotrack.gc.files import FileGcStore

        return await FileGcStore.open(uri)
    from aiotrack.gc.sql import SqlGcStore

    return await SqlGcStore.open(uri)


async def _run(options: GcOptions, out: TextIO, err: TextIO) -> int:
    started = time.monotonic()
    try:
        store = await _open_store(options.backend_store_uri)
    except (GcError, AiotrackError) as exc:
        err.write(f"aiotrack gc: error: {_message(exc)}\n")
        return 1
    try:
        async with ArtifactCleaner(options.artifacts_destination, options.tracking_server) as c:
            summary = await collect(store, c, options, out, err)
    except (GcError, AiotrackError, OSError) as exc:
        err.write(f"aiotrack gc: error: {_message(exc)}\n")
        err.write("aiotrack gc: nothing was deleted\n" if isinstance(exc, GcError) else "")
        return 1
    finally:
        await store.close()
    parts = [
        _plural(summary.runs, "run"),
        _plural(summary.models, "logged model"),
        _plural(summary.experiments, "experiment")
        + (f" (with {_plural(summary.traces, 'trace')})" if summary.traces else ""),
    ]
    if options.jobs or options.job_ids:
        parts.append(_plural(summary.jobs, "job"))
    elapsed = time.monotonic() - started
    err.write(f"aiotrack gc: permanently deleted {', '.join(parts)} in {elapsed:.1f} s")
    if summary.failures:
        err.write(f"; {_plural(len(summary.failures), 'failure')} (see above)\n")
        return 1
    err.write("\n")
    return 0


def main(options: GcOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``aiotrack gc`` for ``options``; return the exit status (0 ok, 1 failures)."""
    err = err or sys.stderr
    try:
        return asyncio.run(_run(options, out or sys.stdout, err))
    except KeyboardInterrupt:
        # Each item is deleted in its own transaction: what was reported is gone, the rest is
        # intact, and running gc again finishes the job.
        err.write("aiotrack gc: interrupted\n")
        return 130
