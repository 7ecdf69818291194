"""Alembic migration environment of aiotrack's SQL schema (``script_location`` is this directory).

Revision ids are MLflow's, so ``alembic_version`` means the same thing to ``mlflow server`` and to
aiotrack. Use ``aiotrack.store.sql.migrate`` rather than the alembic CLI.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCRIPT_LOCATION"]

#: The directory holding ``env.py`` and ``versions/``.
SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
