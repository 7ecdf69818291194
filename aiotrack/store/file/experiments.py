"""Experiments on the file store (synchronous; :class:`FileTrackingStore` runs them in a thread).

Behaviour and messages follow MLflow 3.17.2's ``FileStore``: ids are random 18-digit integers,
names are unique among active *and* deleted experiments, deleting moves the directory to
``.trash`` after marking its active runs deleted, and experiment ``0`` cannot be deleted.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
import uuid
from collections.abc import Sequence

from aiotrack.errors import (
    InvalidParameter,
    InvalidState,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from aiotrack.store.entities import Experiment, LifecycleStage, Tag, ViewType
from aiotrack.store.file.layout import (
    TAGS,
    MalformedError,
    experiment_from_meta,
    experiment_meta,
    read_values,
    read_yaml,
    write_text,
    write_yaml,
)
from aiotrack.store.file.root import FileRoot, validate_experiment_id
from aiotrack.uris import append_path

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "all_experiments",
    "create_experiment",
    "create_experiment_with_id",
    "delete_experiment",
    "delete_experiment_tag",
    "ensure_root",
    "experiment_by_name",
    "get_experiment",
    "rename_experiment",
    "restore_experiment",
    "set_experiment_stage_of_runs",
    "set_experiment_tag",
]

log = logging.getLogger("aiotrack.store.file")

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
_ID_WIDTH = 18


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_experiment_id() -> str:
    """MLflow's ``_generate_unique_integer_id``: 18 digits from a uuid4, no leading zero."""
    digits = str(uuid.uuid4().int)[-_ID_WIDTH:]
    while digits[0] == "0":
        digits = digits[1:] + str(random.randint(0, 9))
    return digits


def _read_experiment(exp_dir: str, experiment_id: str) -> Experiment | None:
    """The experiment in ``exp_dir``; None when its meta.yaml names another id (as MLflow)."""
    meta = read_yaml(exp_dir)
    tags = read_values(os.path.join(exp_dir, TAGS))
    experiment = experiment_from_meta(meta, tags)
    if experiment.experiment_id != experiment_id:
        log.warning(
            "Experiment ID mismatch for exp %s. ID recorded as '%s' in meta data. "
            "Experiment will be ignored.",
            experiment_id,
            experiment.experiment_id,
        )
        return None
    return experiment


def get_experiment(root: FileRoot, experiment_id: str, view: ViewType = ViewType.ALL) -> Experiment:
    """The experiment (active or deleted); 400 for a malformed id, 404 when missing."""
    validate_experiment_id(experiment_id)
    exp_dir = root.experiment_dir(experiment_id, view)
    if exp_dir is None:
        raise ResourceNotFound(f"Could not find experiment with ID {experiment_id}")
    try:
        experiment = _read_experiment(exp_dir, experiment_id)
    except MalformedError:
        experiment = None
    if experiment is None:
        raise ResourceNotFound(f"Experiment '{experiment_id}' does not exist.")
    return experiment


def all_experiments(root: FileRoot, view: ViewType) -> list[Experiment]:
    """Every readable experiment in ``view``; malformed ones are skipped with a warning."""
    ids: list[str] = []
    if view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
        ids += root.active_experiment_ids()
    if view in (ViewType.DELETED_ONLY, ViewType.ALL):
        ids += root.deleted_experiment_ids()
    out: list[Experiment] = []
    for exp_id in ids:
        exp_dir = root.experiment_dir(exp_id, view)
        if exp_dir is None:  # not a valid experiment id: not an experiment directory
            continue
        try:
            experiment = _read_experiment(exp_dir, exp_id)
        except (MalformedError, KeyError, TypeError, ValueError) as exc:
            log.warning("Malformed experiment '%s'. Detailed error %s", exp_id, exc)
            continue
        if experiment is not None:
            out.append(experiment)
    return out


def experiment_by_name(root: FileRoot, name: str) -> Experiment | None:
    for experiment in all_experiments(root, ViewType.ALL):
        if experiment.name == name:
            return experiment
    return None


def _check_name_free(root: FileRoot, name: str) -> None:
    existing = experiment_by_name(root, name)
    if existing is None:
        return
    if existing.lifecycle_stage == LifecycleStage.DELETED:
        raise ResourceAlreadyExists(
            f"Experiment {existing.name!r} already exists in deleted state. You can restore the "
            "experiment, or permanently delete the experiment from the .trash folder (under "
            "tracking server's root folder) in order to use this experiment name again."
        )
    raise ResourceAlreadyExists(f"Experiment '{existing.name}' already exists.")


def create_experiment_with_id(
    root: FileRoot,
    experiment_id: str,
    name: str,
    artifact_location: str | None,
    tags: Sequence[Tag],
) -> str:
    location = artifact_location or append_path(root.artifact_root_uri, experiment_id)
    exp_dir = os.path.join(root.root, experiment_id)
    os.makedirs(exp_dir, exist_ok=True)
    now = _now_ms()
    experiment = Experiment(
        experiment_id=experiment_id,
        name=name,
        artifact_location=location,
        lifecycle_stage=LifecycleStage.ACTIVE.value,
        creation_time=now,
        last_update_time=now,
    )
    write_yaml(exp_dir, experiment_meta(experiment, with_tags=False), overwrite=False)
    for tag in tags:
        write_text(os.path.join(exp_dir, TAGS, tag.key), tag.value)
    return experiment_id


def create_experiment(
    root: FileRoot, name: str, artifact_location: str | None, tags: Sequence[Tag]
) -> str:
    """A new active experiment with a random 18-digit id; names are unique among all."""
    _check_name_free(root, name)
    experiment_id = _new_experiment_id()
    while os.path.exists(os.path.join(root.root, experiment_id)):  # pragma: no cover
        experiment_id = _new_experiment_id()
    return create_experiment_with_id(root, experiment_id, name, artifact_location, tags)


def set_experiment_stage_of_runs(
    root: FileRoot, experiment_id: str, stage: LifecycleStage, now: int
) -> None:
    """Mark the experiment's runs in the opposite stage as ``stage`` (delete/restore)."""
    from aiotrack.store.file.runs import list_run_infos, overwrite_run_meta

    view = ViewType.ACTIVE_ONLY if stage is LifecycleStage.DELETED else ViewType.DELETED_ONLY
    for run_dir, info in list_run_infos(root, experiment_id, view):
        deleted = now if stage is LifecycleStage.DELETED else None
        overwrite_run_meta(run_dir, info, lifecycle_stage=stage.value, deleted_time=deleted)


def _rewrite(exp_dir: str, experiment: Experiment, **changes: object) -> None:
    data = experiment_meta(experiment, with_tags=True)
    data.update(changes)
    write_yaml(exp_dir, data)


def delete_experiment(root: FileRoot, experiment_id: str) -> None:
    if str(experiment_id) == DEFAULT_EXPERIMENT_ID:
        # MLflow raises this with INTERNAL_ERROR (a 500); a client mistake is a 400 here.
        raise InvalidParameter(
            f"Cannot delete the default experiment '{DEFAULT_EXPERIMENT_ID}'. This is an "
            "internally reserved experiment."
        )
    exp_dir = root.experiment_dir(experiment_id, ViewType.ACTIVE_ONLY)
    if exp_dir is None:
        raise ResourceNotFound(f"Could not find experiment with ID {experiment_id}")
    experiment = get_experiment(root, experiment_id)
    now = _now_ms()
    set_experiment_stage_of_runs(root, experiment_id, LifecycleStage.DELETED, now)
    _rewrite(
        exp_dir, experiment, lifecycle_stage=LifecycleStage.DELETED.value, last_update_time=now
    )
    os.makedirs(root.trash, exist_ok=True)
    shutil.move(exp_dir, root.trash)


def restore_experiment(root: FileRoot, experiment_id: str) -> None:
    exp_dir = root.experiment_dir(experiment_id, ViewType.DELETED_ONLY)
    if exp_dir is None:
        raise ResourceNotFound(f"Could not find deleted experiment with ID {experiment_id}")
    if root.experiment_dir(experiment_id, ViewType.ACTIVE_ONLY) is not None:
        raise ResourceAlreadyExists(
            f"Cannot restore experiment with ID {experiment_id}. An experiment with same ID "
            "already exists."
        )
    shutil.move(exp_dir, root.root)
    experiment = get_experiment(root, experiment_id)
    now = _now_ms()
    set_experiment_stage_of_runs(root, experiment_id, LifecycleStage.ACTIVE, now)
    _rewrite(
        os.path.join(root.root, experiment_id),
        experiment,
        lifecycle_stage=LifecycleStage.ACTIVE.value,
        last_update_time=now,
    )


def rename_experiment(root: FileRoot, experiment_id: str, new_name: str) -> None:
    experiment = get_experiment(root, experiment_id)
    _check_name_free(root, new_name)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidState(
            "Cannot rename experiment in non-active lifecycle stage. Current stage: "
            f"{experiment.lifecycle_stage}"
        )
    _rewrite(
        os.path.join(root.root, experiment_id),
        experiment,
        name=new_name,
        last_update_time=_now_ms(),
    )


def _active_experiment_dir(root: FileRoot, experiment_id: str, action: str) -> str:
    experiment = get_experiment(root, experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidParameter(
            f"The experiment {experiment.experiment_id} must be in the 'active' "
            f"lifecycle_stage to {action} tags"
        )
    exp_dir = root.experiment_dir(experiment_id)
    assert exp_dir is not None
    return exp_dir


def set_experiment_tag(root: FileRoot, experiment_id: str, key: str, value: str) -> None:
    exp_dir = _active_experiment_dir(root, experiment_id, "set")
    write_text(os.path.join(exp_dir, TAGS, key), value)


def delete_experiment_tag(root: FileRoot, experiment_id: str, key: str) -> None:
    exp_dir = _active_experiment_dir(root, experiment_id, "delete")
    path = os.path.join(exp_dir, TAGS, key)
    if not os.path.isfile(path):
        raise ResourceNotFound(f"No tag with name: {key} in experiment with id {experiment_id}")
    os.remove(path)


def ensure_root(root: FileRoot) -> None:
    """MLflow's FileStore start-up: a missing root is created with experiment 0; ``.trash``."""
    if not os.path.exists(root.root):
        os.makedirs(root.root, exist_ok=True)
        create_experiment_with_id(root, DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, None, ())
    if not os.path.isdir(root.root):
        raise NotADirectoryError(f"'{root.root}' is not a directory.")
    os.makedirs(root.trash, exist_ok=True)
