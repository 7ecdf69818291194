"""Copy one backend store into a SQL database: ``aiotrack import SRC DST``.

The source is a SQL database (copied table by table, every id kept) or an ``./mlruns`` file
store (read run by run, see :mod:`aiotrack.transfer.file_source`). The destination is created at
aiotrack's schema revision when empty. Rows are inserted with "skip when the key is there", in
committed chunks, so an import that was interrupted resumes by running it again, and running it
twice adds nothing. Existing destination rows are never changed.

Experiments are matched by id (SQL source) or by name (file source): a SQL experiment id that
names a different experiment in the destination stops the import before it writes anything. A
file-store experiment id too large for the SQL column (MLflow's file store uses 18 digits) gets
the next free id; runs, datasets and logged models follow it, and the summary lists the mapping.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aiotrack.config import is_file_store_uri
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import (
    MLFLOW_HEAD_REVISION,
    check_schema_state,
    ensure_schema,
    read_schema_state,
)
from aiotrack.store.sql.schema import metadata
from aiotrack.store.sql.urls import redact, to_async_url
from aiotrack.transfer.file_source import FileSource, Problem
from aiotrack.transfer.sink import TABLE_ORDER, Row, SqlSink, count_rows, fix_sequences
from aiotrack.transfer.sql_source import SqlSource

__all__ = ["ImportFailed", "ImportReport", "Interrupted", "Progress", "import_store"]

#: The largest experiment id the SQL schema holds (a 32-bit INTEGER column).
MAX_SQL_EXPERIMENT_ID = 2**31 - 1


class ImportFailed(Exception):
    """The import cannot start or go on; the message says why and what to do."""


class Interrupted(Exception):
    """``stop`` was set (the command sets it on Ctrl-C): the import stopped between two
    chunks, and everything before them is committed."""


def _stop_point(stop: threading.Event | None) -> None:
    """Where an import may stop: between chunks, never inside a write."""
    if stop is not None and stop.is_set():
        raise Interrupted


class Progress:
    """What the importer reports as it goes (the command draws it; tests may ignore it)."""

    def start(self, total: int, unit: str) -> None:
        """``total`` ``unit``\\ s (runs or rows) are about to be copied."""

    def advance(self, units: int, rows: int) -> None:
        """``units`` more done; ``rows`` more rows handed to the destination."""

    def close(self) -> None:
        """The copy is over (successfully or not)."""


@dataclass
class ImportReport:
    """The outcome: per table, rows read from the source and rows new in the destination."""

    source: str
    destination: str
    read: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    renumbered: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0


async def import_store(
    source: str,
    destination: str,
    *,
    progress: Progress | None = None,
    chunk_rows: int = 20_000,
    stop: threading.Event | None = None,
) -> ImportReport:
    """Copy everything in backend store ``source`` into the database ``destination``.

    Setting ``stop`` (from any thread) ends the import with :class:`Interrupted` at the next
    chunk boundary: a flag rather than task cancellation, which was lost once in CI somewhere
    below the importer (into PostgreSQL; not reproduced): the import ran to the end.
    """
    progress = progress or Progress()
    if is_file_store_uri(destination):
        raise ImportFailed(
            f"the destination {destination!r} is a file store; aiotrack imports into a database "
            "(sqlite:///mlflow.db, postgresql://..., mysql://...). MLflow's file store is "
            "deprecated: serve the database instead."
        )
    if source == destination:
        raise ImportFailed("the source and the destination are the same store")
    report = ImportReport(redact(source), redact(destination))
    started = time.monotonic()
    dest = _database(destination, "destination")
    try:
        await ensure_schema(dest.engine, uri=destination)
        async with dest.engine.connect() as conn:
            revision = (await conn.run_sync(read_schema_state)).revision
            if revision != MLFLOW_HEAD_REVISION:
                # Served as it is (MLflow 3.17.2's head), but without 3.18.0's tables and columns
                # the rows of a newer source have nowhere to go.
                raise ImportFailed(
                    f"the destination {redact(destination)} is at MLflow schema revision "
                    f"{revision}, older than aiotrack's {MLFLOW_HEAD_REVISION}; run "
                    f"`aiotrack db upgrade {redact(destination)}` first"
                )
            before = await count_rows(conn, TABLE_ORDER)
        sink = SqlSink(dest.engine, chunk_rows=chunk_rows)
        if is_file_store_uri(source):
            await _from_files(source, dest.engine, sink, report, progress, chunk_rows, stop)
        else:
            await _from_database(source, dest.engine, sink, report, progress, chunk_rows, stop)
        await sink.flush()
        async with dest.engine.begin() as conn:
            await fix_sequences(conn)
        async with dest.engine.connect() as conn:
            after = await count_rows(conn, TABLE_ORDER)
        report.added = {t: after[t] - before[t] for t in TABLE_ORDER if after[t] != before[t]}
        read = report.read or sink.written  # a SQL source counted its tables up front
        report.read = {t: n for t, n in read.items() if n}
    finally:
        progress.close()
        await dest.dispose()
    report.seconds = time.monotonic() - started
    return report


def _database(uri: str, role: str) -> Database:
    try:
        return Database(to_async_url(uri), pool_size=2)
    except ValueError as exc:
        raise ImportFailed(f"the {role} {redact(uri)!r}: {exc}") from exc


# ------------------------------------------------------------------------------------ SQL source


async def _from_database(
    uri: str,
    dest: AsyncEngine,
    sink: SqlSink,
    report: ImportReport,
    progress: Progress,
    chunk_rows: int,
    stop: threading.Event | None,
) -> None:
    src = _database(uri, "source")
    try:
        async with src.engine.connect() as conn:
            state = await conn.run_sync(read_schema_state)
        if state.is_empty:
            raise ImportFailed(f"the source {redact(uri)} holds no tables: nothing to import")
        check_schema_state(state, redact(uri))
        source = SqlSource(src.engine)
        counts = await source.open()
        experiments = await source.experiments()
        await _check_experiments(experiments, dest)
        too_large = [i for i, _, _ in experiments if i > MAX_SQL_EXPERIMENT_ID]
        if too_large and dest.dialect.name != "sqlite":
            raise ImportFailed(
                f"experiment id {too_large[0]} (and {len(too_large) - 1} more) is too large for "
                f"{dest.dialect.name}'s 32-bit experiment_id column (file-store ids kept by a "
                "file -> SQLite import are); import the original ./mlruns directory instead, "
                "which gives such experiments new ids"
            )
        progress.start(sum(counts.values()), "rows")
        async for table, rows in source.batches(chunk_rows):
            _stop_point(stop)
            await sink.add(table, rows)
            progress.advance(len(rows), len(rows))
        report.read = counts
    finally:
        await src.dispose()


async def _dest_experiments(conn: AsyncConnection) -> list[tuple[int, str, str]]:
    table = metadata.tables["experiments"]
    result = await conn.execute(select(table.c.experiment_id, table.c.workspace, table.c.name))
    return [(int(i), str(w), str(n)) for i, w, n in result]


async def _check_experiments(source: list[tuple[int, str, str]], dest: AsyncEngine) -> None:
    """Refuse to merge when an experiment id or name means something else in the destination."""
    async with dest.connect() as conn:
        existing = await _dest_experiments(conn)
    by_id = {i: (w, n) for i, w, n in existing}
    by_name = {(w, n): i for i, w, n in existing}
    clashes: list[str] = []
    for i, w, n in source:
        if i in by_id and by_id[i] != (w, n):
            clashes.append(f"id {i} is {n!r} in the source but {by_id[i][1]!r} in the destination")
        elif (w, n) in by_name and by_name[(w, n)] != i:
            clashes.append(f"{n!r} is experiment {i} in the source but {by_name[(w, n)]} there")
    if clashes:
        shown = "; ".join(clashes[:5]) + ("; ..." if len(clashes) > 5 else "")
        raise ImportFailed(
            f"{len(clashes)} experiment(s) clash with the destination ({shown}). Import into an "
            "empty database, or into the one a previous import of this source wrote."
        )


# ----------------------------------------------------------------------------------- file source


async def _from_files(
    uri: str,
    dest: AsyncEngine,
    sink: SqlSink,
    report: ImportReport,
    progress: Progress,
    chunk_rows: int,
    stop: threading.Event | None,
) -> None:
    from aiotrack.store.file.tracking import file_store_path

    source = FileSource(file_store_path(uri))
    experiments = await asyncio.to_thread(source.experiments)
    if not experiments:
        raise ImportFailed(f"{uri!r} holds no MLflow experiments: nothing to import")
    async with dest.connect() as conn:
        existing = await _dest_experiments(conn)
    # SQLite's INTEGER holds the file store's 18-digit ids (mlflow migrate-filestore keeps
    # them); PostgreSQL's and MySQL's 32-bit column does not.
    largest = 2**63 - 1 if dest.dialect.name == "sqlite" else MAX_SQL_EXPERIMENT_ID
    ids = _plan_experiment_ids(
        [(e.experiment_id, e.workspace or "default", e.name) for e in experiments],
        existing,
        largest,
    )
    report.renumbered = {f: s for f, s in ids.items() if f != str(s)}
    progress.start(await asyncio.to_thread(source.count_runs), "runs")

    runs_done = 0

    def on_run() -> None:
        nonlocal runs_done
        runs_done += 1

    reported = 0
    async for table, rows in _in_thread(lambda: source.batches(ids, chunk_rows, on_run)):
        _stop_point(stop)
        await sink.add(table, rows)
        done, reported = runs_done - reported, runs_done
        progress.advance(done, len(rows))
    async for table, rows in _in_thread(source.registry_batches):
        _stop_point(stop)
        await sink.add(table, rows)
        progress.advance(0, len(rows))
    report.problems.extend(source.problems)


def _plan_experiment_ids(
    source: list[tuple[str, str, str]], existing: list[tuple[int, str, str]], largest: int
) -> dict[str, int]:
    """Destination id of each file-store experiment: the same name's id, else its own id when
    it fits and is free, else the next free id."""
    by_name = {(w, n): i for i, w, n in existing}
    used = {i for i, _, _ in existing}
    planned: dict[str, int] = {}
    later: list[str] = []
    for file_id, workspace, name in source:
        if (workspace, name) in by_name:
            planned[file_id] = by_name[(workspace, name)]
        elif file_id.isdigit() and int(file_id) <= largest and int(file_id) not in used:
            planned[file_id] = int(file_id)
            used.add(int(file_id))
        else:
            later.append(file_id)
    next_id = max((i for i in used if i < MAX_SQL_EXPERIMENT_ID), default=0) + 1
    for file_id in later:
        planned[file_id] = next_id
        next_id += 1
    return planned


_DONE = object()


async def _in_thread(
    make: Callable[[], Iterator[tuple[str, list[Row]]]], depth: int = 8
) -> AsyncIterator[tuple[str, list[Row]]]:
    """Run a blocking generator in a worker thread, handing its items over a bounded queue, so
    reading the files overlaps writing the database."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in make():
                if stop.is_set():
                    return
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
            asyncio.run_coroutine_threadsafe(queue.put(_DONE), loop).result()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()

    worker = loop.run_in_executor(None, produce)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]  # what ``make`` yields
    finally:
        stop.set()
        while not queue.empty():  # unblock a producer waiting on a full queue
            queue.get_nowait()
        await worker
