"""A fresh database of each SQL backend for one server, dropped afterwards.

A plain module (like ``tests.servers``) so any test package can use it::

    with backend_database("postgres", workdir, "compat") as uri:
        with start_aiotrack(uri, workdir) as server:
            ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import drop_postgres_database, new_postgres_database

__all__ = ["backend_database"]


@contextmanager
def backend_database(backend: str, workdir: Path, label: str) -> Iterator[str]:
    """The store URI of a new database of ``backend`` (``sqlite``: ``workdir/mlflow.db``;
    ``file``: ``workdir/mlruns``; ``postgres``/``mariadb``: a database named after ``label``,
    dropped when the block exits)."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'mlflow.db'}"
        return
    if backend == "file":
        yield str(workdir / "mlruns")
        return
    if backend == "postgres":
        uri, drop = new_postgres_database(f"aiotrack_{label}"), drop_postgres_database
    elif backend == "mariadb":
        uri, drop = new_mariadb_database(label), drop_mariadb_database
    else:
        raise ValueError(f"unknown backend {backend!r}")
    try:
        yield uri
    finally:
        drop(uri)
