"""SQLite: the WAL is checkpointed by ``WalCheckpointer``'s thread, not inside the writer's
commits; the thread starts with the first write and stops with ``Database.dispose``."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.engine import Connection

from aiotrack.store.sql.checkpoint import WAL_AUTOCHECKPOINT
from aiotrack.store.sql.database import Database

THREAD = "aiotrack-sqlite-checkpointer"


def _main_file_rows(db_file: Path, scratch: Path) -> int:
    """Rows of ``t`` in the database file alone, as if its WAL were lost: only what a
    checkpoint has copied back."""
    shutil.copyfile(db_file, scratch)
    con = sqlite3.connect(scratch)
    try:
        tables = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()
        return int(con.execute("SELECT count(*) FROM t").fetchone()[0]) if tables[0] else 0
    except sqlite3.DatabaseError:  # copied halfway through a checkpoint: look again
        return 0
    finally:
        con.close()


def _checkpointer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == THREAD and t.is_alive()}


async def test_commits_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    db_file = tmp_path / "m.db"
    others = _checkpointer_threads()  # other tests' databases, if any are still open
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    try:
        await db.run_write(lambda conn: conn.exec_driver_sql("SELECT 1"))  # creates the file
        assert _main_file_rows(db_file, tmp_path / "copy.db") == 0

        def insert(conn: Connection) -> None:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1), (2), (3)")

        await db.run_write(insert)
        # A handful of pages: far below the commits' own bound, so only the thread copies them.
        assert WAL_AUTOCHECKPOINT >= 1000
        rows = 0
        for _ in range(50):
            await asyncio.sleep(0.1)
            rows = _main_file_rows(db_file, tmp_path / "copy.db")
            if rows:
                break
        assert rows == 3
        assert len(_checkpointer_threads() - others) == 1
    finally:
        await db.dispose()
    assert _checkpointer_threads() - others == set()


async def test_a_database_only_read_starts_no_thread(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "m.db").close()
    others = _checkpointer_threads()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        await db.run_read(lambda conn: conn.exec_driver_sql("SELECT 1").all())
        assert _checkpointer_threads() - others == set()
    finally:
        await db.dispose()
