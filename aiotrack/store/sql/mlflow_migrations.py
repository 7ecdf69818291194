"""Upgrade a database at an older MLflow schema revision with MLflow's own migrations.

aiotrack's Alembic chain starts at MLflow 3.17.2's head (``dc11669786a5``) and ports MLflow
3.18.0's revisions after it. Older MLflow databases are brought to the head of the installed MLflow's
migration scripts, which ship in ``mlflow-skinny`` (the optional ``aiotrack[migrate]`` extra pins
3.17.2; 3.18.0 works too) and run on a synchronous engine: the authority on MLflow's schema history
is MLflow itself. aiotrack's chain then continues from there. Used only by ``aiotrack db upgrade``,
never by the server.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TextIO

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

__all__ = ["INSTALL_HINT", "mlflow_migrations_available", "upgrade_with_mlflow"]

#: The mlflow-skinny release the ``migrate`` extra pins: its chain ends at aiotrack's baseline.
MLFLOW_MIGRATIONS_VERSION = "3.17.2"
INSTALL_HINT = "pip install 'aiotrack[migrate]'"

_SYNC_DRIVERS = {
    "postgresql": "postgresql+psycopg2",
    "postgres": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def mlflow_migrations_available() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def _sync_url(uri: str) -> str:
    url = make_url(uri)
    backend = url.drivername.split("+", 1)[0]
    if backend == "sqlite":
        return url.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend in _SYNC_DRIVERS:
        return url.set(drivername=_SYNC_DRIVERS[backend]).render_as_string(hide_password=False)
    raise ValueError(f"no synchronous driver known for {backend!r} databases")


def upgrade_with_mlflow(uri: str, out: TextIO, continues_from: Callable[[str], bool]) -> str:
    """Run the installed MLflow's migrations on ``uri`` up to their head and return that head.

    Raises ``RuntimeError``, before migrating, unless ``continues_from(head)`` (aiotrack's chain
    knows the head, so it can take the database on to its own head).
    """
    from alembic import command
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    sync_url = _sync_url(uri)
    config = _get_alembic_config(sync_url)  # type: ignore[no-untyped-call]
    mlflow_head = ScriptDirectory.from_config(config).get_current_head()
    if mlflow_head is None or not continues_from(mlflow_head):
        raise RuntimeError(
            f"the installed mlflow's migrations end at {mlflow_head}, a revision aiotrack's "
            f"migrations do not continue from; install mlflow-skinny=={MLFLOW_MIGRATIONS_VERSION} "
            f"({INSTALL_HINT})"
        )
    engine = create_engine(sync_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            print("running MLflow's migrations ...", end=" ", file=out, flush=True)
            command.upgrade(config, "heads")
            print("done", file=out)
    finally:
        engine.dispose()
    return mlflow_head
