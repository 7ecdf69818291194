"""Finding experiments and runs under an ``mlruns`` root (synchronous; run in a worker thread).

Experiments live in ``<root>/<id>`` (active) or ``<root>/.trash/<id>`` (deleted); a run lives
in its experiment's directory, wherever that is. Like MLflow, a run is found by looking for its
directory under every experiment, and only directories with ``metrics/``, ``params/`` and
``artifacts/`` count (so a ``meta.yaml`` planted inside an artifact folder is not a run). The
experiment of each run found is remembered, which turns the scan into one ``stat`` for the
common case.
"""

from __future__ import annotations

import os
import re
import threading

from aiotrack.errors import InvalidParameter
from aiotrack.store.entities import ViewType
from aiotrack.store.file.layout import ARTIFACTS, METRICS, MODELS, PARAMS, TRASH, list_subdirs
from aiotrack.validation import invalid_value

__all__ = ["FileRoot", "validate_experiment_id", "validate_run_id"]

_RUN_ID_RE = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")
_EXPERIMENT_ID_RE = re.compile(r"[a-zA-Z0-9][\w\-]{0,63}")


def validate_run_id(run_id: str, path: str = "run_id") -> None:
    """MLflow's run id rule (alphanumeric start, then word characters and dashes, <= 256)."""
    if not _RUN_ID_RE.fullmatch(run_id or ""):
        raise InvalidParameter(invalid_value(path, run_id))


def validate_experiment_id(experiment_id: str) -> None:
    """The file store's experiment id rule; ids are directory names, so this also keeps
    ``..`` and ``/`` out of paths."""
    if not _EXPERIMENT_ID_RE.fullmatch(experiment_id or ""):
        raise InvalidParameter(f"Invalid experiment ID: '{experiment_id}'")


def _is_safe_name(name: str) -> bool:
    return bool(name) and _EXPERIMENT_ID_RE.fullmatch(name) is not None


class FileRoot:
    """An mlruns directory: where experiments and runs are, plus the store's write lock.

    ``lock`` serialises every mutation made through this process (param immutability checks,
    meta.yaml rewrites and directory moves are read-modify-write sequences).
    """

    def __init__(self, root: str, artifact_root_uri: str) -> None:
        self.root = os.path.abspath(root)
        self.trash = os.path.join(self.root, TRASH)
        self.artifact_root_uri = artifact_root_uri
        self.lock = threading.RLock()
        self._run_experiments: dict[str, str] = {}

    # ------------------------------------------------------------------ experiments

    def active_experiment_ids(self) -> list[str]:
        return [n for n in list_subdirs(self.root) if n not in (TRASH, MODELS)]

    def deleted_experiment_ids(self) -> list[str]:
        return list_subdirs(self.trash)

    def experiment_dir(self, experiment_id: str, view: ViewType = ViewType.ALL) -> str | None:
        """The directory of experiment ``experiment_id`` in ``view``, or None."""
        if not _is_safe_name(experiment_id):
            return None
        parents = []
        if view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            parents.append(self.root)
        if view in (ViewType.DELETED_ONLY, ViewType.ALL):
            parents.append(self.trash)
        for parent in parents:
            path = os.path.join(parent, experiment_id)
            if os.path.isdir(path):
                return path
        return None

    # ------------------------------------------------------------------ runs

    @staticmethod
    def _is_run_dir(run_dir: str) -> bool:
        parts = os.path.normpath(run_dir).split(os.sep)
        if ARTIFACTS in parts[:-1]:
            return False
        return all(
            os.path.isdir(os.path.join(run_dir, sub)) for sub in (METRICS, PARAMS, ARTIFACTS)
        )

    def find_run(self, run_id: str) -> tuple[str, str] | None:
        """``(experiment_id, run_dir)`` of a run, active or deleted, or None."""
        validate_run_id(run_id)
        known = self._run_experiments.get(run_id)
        if known is not None:
            exp_dir = self.experiment_dir(known)
            if exp_dir is not None:
                run_dir = os.path.join(exp_dir, run_id)
                if self._is_run_dir(run_dir):
                    return known, run_dir
            del self._run_experiments[run_id]
        for exp_id in self.active_experiment_ids() + self.deleted_experiment_ids():
            exp_dir = self.experiment_dir(exp_id)
            if exp_dir is None:
                continue
            run_dir = os.path.join(exp_dir, run_id)
            if os.path.isdir(run_dir) and self._is_run_dir(run_dir):
                if len(self._run_experiments) > 1_000_000:
                    self._run_experiments.clear()
                self._run_experiments[run_id] = exp_id
                return exp_id, run_dir
        return None

    def remember_run(self, run_id: str, experiment_id: str) -> None:
        self._run_experiments[run_id] = experiment_id
