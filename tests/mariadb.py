"""MariaDB/MySQL test databases: create a fresh one, drop it afterwards.

A plain module (like ``tests.servers``) so any test package can import it::

    from tests.mariadb import new_mariadb_database, drop_mariadb_database

The server comes from ``AIOTRACK_TEST_MYSQL_URI`` (an admin URI, default
``mysql://root@127.0.0.1:3306/test``). When it is unreachable the test is skipped, or fails
under ``CI=true`` so that a missing MariaDB never looks like a pass there.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

from sqlalchemy.engine import URL, make_url

from tests.services import unavailable

__all__ = [
    "MYSQL_ADMIN_URI",
    "drop_mariadb_database",
    "mariadb_available",
    "new_mariadb_database",
]

MYSQL_ADMIN_URI = os.environ.get("AIOTRACK_TEST_MYSQL_URI", "mysql://root@127.0.0.1:3306/test")
_DB_NAME = re.compile(r"^aiotrack_[a-z0-9_]+$")


def _connect() -> Any:
    try:
        import pymysql
    except ImportError:  # pragma: no cover - pymysql is in the test extra
        unavailable("pymysql is not installed (pip install pymysql)")
    url = make_url(MYSQL_ADMIN_URI)
    try:
        return pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            connect_timeout=5,
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:
        unavailable(f"MariaDB unreachable at {url.render_as_string(hide_password=True)}: {exc}")


def mariadb_available() -> None:
    """Skip (fail under CI=true) when the MariaDB server is unreachable."""
    _connect().close()


def _with_database(name: str) -> URL:
    return make_url(MYSQL_ADMIN_URI).set(database=name)


def new_mariadb_database(prefix: str) -> str:
    """Create a fresh, empty ``aiotrack_<prefix>_<random>`` database; return its
    ``mysql+pymysql://`` URI, which both aiotrack (mapped to asyncmy) and the reference
    ``mlflow server`` (whose virtualenv has pymysql) accept as it is."""
    clean = re.sub(r"[^a-z0-9_]", "_", prefix.lower()).removeprefix("aiotrack_")
    name = f"aiotrack_{clean}_{uuid.uuid4().hex[:12]}"[:64]
    conn = _connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    url = _with_database(name).set(drivername="mysql+pymysql")
    return url.render_as_string(hide_password=False)


def drop_mariadb_database(uri: str) -> None:
    """Drop the database named by ``uri`` (only ``aiotrack_*`` names), killing its sessions."""
    name = make_url(uri).database or ""
    if not _DB_NAME.match(name):
        raise ValueError(f"refusing to drop database with unexpected name {name!r}")
    conn = _connect()
    import pymysql  # present: _connect checked

    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE db = %s AND id != "
                "CONNECTION_ID()",
                (name,),
            )
            for (session,) in cur.fetchall():
                try:
                    cur.execute(f"KILL {int(session)}")
                except pymysql.MySQLError:
                    pass  # the session ended meanwhile
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()
