"""Helpers of the ``aiotrack gc`` tests: run the command, look into and age the stores directly.

Each backend is inspected with its own plain driver (sqlite3 via SQLAlchemy, psycopg2, pymysql)
or, for the file store, by reading its directories: the tests check what is really on disk and
in the tables, not what a server answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

__all__ = ["DAY_MS", "FileInspector", "GcResult", "SqlInspector", "run_gc", "sync_url"]

DAY_MS = 24 * 3600 * 1000
#: The run-owned tables MLflow's ``_hard_delete_run`` empties, plus ``runs`` itself.
RUN_TABLES = ("runs", "params", "metrics", "latest_metrics", "tags")
MODEL_TABLES = ("logged_models", "logged_model_tags", "logged_model_params")


@dataclass
class GcResult:
    returncode: int
    stdout: str
    stderr: str

    def deleted(self, kind: str) -> set[str]:
        """The ids of the ``<kind> with ID <id> has been permanently deleted.`` lines."""
        prefix = f"{kind} with ID "
        return {
            line[len(prefix) :].split(" ", 1)[0]
            for line in self.stdout.splitlines()
            if line.startswith(prefix) and line.endswith("has been permanently deleted.")
        }


def run_gc(*args: str, cwd: Path, env: dict[str, str] | None = None) -> GcResult:
    """``python -m aiotrack gc ARGS`` in ``cwd`` with a clean MLflow environment plus ``env``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLFLOW_TRACKING") and k not in ("MLFLOW_ARTIFACTS_DESTINATION",)
    }
    proc = subprocess.run(
        [sys.executable, "-m", "aiotrack", "gc", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return GcResult(proc.returncode, proc.stdout, proc.stderr)


def sync_url(uri: str) -> str:
    """A synchronous SQLAlchemy URL for a backend URI the tests created."""
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg2://" + uri.removeprefix("postgresql://")
    return uri  # sqlite:///... and mysql+pymysql://... work as they are


def now_ms() -> int:
    return int(time.time() * 1000)


class SqlInspector:
    """Reads and ages rows of a SQL backend."""

    def __init__(self, uri: str) -> None:
        self.engine: Engine = create_engine(sync_url(uri))

    def close(self) -> None:
        self.engine.dispose()

    def _scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def _exec(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def run_rows(self, run_id: str) -> dict[str, int]:
        """Rows per run-owned table."""
        return {
            t: self._scalar(f"SELECT COUNT(*) FROM {t} WHERE run_uuid = :r", r=run_id)
            for t in RUN_TABLES
        }

    def model_rows(self, model_id: str) -> dict[str, int]:
        return {
            t: self._scalar(f"SELECT COUNT(*) FROM {t} WHERE model_id = :m", m=model_id)
            for t in MODEL_TABLES
        }

    def experiment_exists(self, experiment_id: str) -> bool:
        n = self._scalar(
            "SELECT COUNT(*) FROM experiments WHERE experiment_id = :e", e=int(experiment_id)
        )
        return bool(n)

    def experiment_tag_rows(self, experiment_id: str) -> int:
        return int(
            self._scalar(
                "SELECT COUNT(*) FROM experiment_tags WHERE experiment_id = :e",
                e=int(experiment_id),
            )
        )

    def age_run(self, run_id: str, days: float) -> None:
        self._exec(
            "UPDATE runs SET deleted_time = :t WHERE run_uuid = :r",
            t=now_ms() - int(days * DAY_MS),
            r=run_id,
        )

    def age_experiment(self, experiment_id: str, days: float) -> None:
        self._exec(
            "UPDATE experiments SET last_update_time = :t WHERE experiment_id = :e",
            t=now_ms() - int(days * DAY_MS),
            e=int(experiment_id),
        )

    def age_model(self, model_id: str, days: float) -> None:
        self._exec(
            "UPDATE logged_models SET last_updated_timestamp_ms = :t WHERE model_id = :m",
            t=now_ms() - int(days * DAY_MS),
            m=model_id,
        )

    def set_artifact_uri(self, run_id: str, uri: str) -> None:
        self._exec("UPDATE runs SET artifact_uri = :u WHERE run_uuid = :r", u=uri, r=run_id)


class FileInspector:
    """Reads and ages an mlruns directory (MLflow's file store)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def close(self) -> None:
        return None

    def _experiment_dir(self, experiment_id: str) -> Path | None:
        for parent in (self.root, self.root / ".trash"):
            if (parent / experiment_id).is_dir():
                return parent / experiment_id
        return None

    def _run_dir(self, run_id: str) -> Path | None:
        for meta in self.root.glob(f"*/{run_id}/meta.yaml"):
            return meta.parent
        for meta in self.root.glob(f".trash/*/{run_id}/meta.yaml"):
            return meta.parent
        return None

    def _model_dir(self, model_id: str) -> Path | None:
        found = [
            *self.root.glob(f"*/models/{model_id}"),
            *self.root.glob(f".trash/*/models/{model_id}"),
        ]
        return found[0] if found else None

    @staticmethod
    def _update_meta(directory: Path, **changes: Any) -> None:
        path = directory / "meta.yaml"
        meta = yaml.safe_load(path.read_text())
        meta.update(changes)
        path.write_text(yaml.safe_dump(meta, default_flow_style=False, sort_keys=True))

    def run_rows(self, run_id: str) -> dict[str, int]:
        """1 per part of the run directory that exists (the file store's "rows")."""
        run_dir = self._run_dir(run_id)
        if run_dir is None:
            return {"runs": 0, "params": 0, "metrics": 0, "tags": 0}
        return {
            "runs": 1,
            "params": len(list((run_dir / "params").iterdir())),
            "metrics": len(list((run_dir / "metrics").iterdir())),
            "tags": len(list((run_dir / "tags").iterdir())),
        }

    def model_rows(self, model_id: str) -> dict[str, int]:
        return {"logged_models": int(self._model_dir(model_id) is not None)}

    def experiment_exists(self, experiment_id: str) -> bool:
        return self._experiment_dir(experiment_id) is not None

    def age_run(self, run_id: str, days: float) -> None:
        run_dir = self._run_dir(run_id)
        assert run_dir is not None
        self._update_meta(run_dir, deleted_time=now_ms() - int(days * DAY_MS))

    def age_experiment(self, experiment_id: str, days: float) -> None:
        exp_dir = self._experiment_dir(experiment_id)
        assert exp_dir is not None
        self._update_meta(exp_dir, last_update_time=now_ms() - int(days * DAY_MS))

    def age_model(self, model_id: str, days: float) -> None:
        model_dir = self._model_dir(model_id)
        assert model_dir is not None
        self._update_meta(model_dir, last_updated_timestamp=now_ms() - int(days * DAY_MS))
