"""The tracing scenarios' direct work on MLflow's tables: seeding, checks, floors, ceiling.

Everything here talks to the benchmark database with a plain DB-API driver (sqlite3 or
psycopg2), never through a server: the seeded rows are the same for every server, and the
floors are what the database alone takes to give the answer a server must then serialize.
All functions block; the scenarios call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SEARCH_FILTER_TAG",
    "SEARCH_VALUE",
    "expected_page",
    "get_floor",
    "search_floor",
    "seed_traces",
    "spans_ceiling",
    "stored_traces",
]

SEARCH_FILTER_TAG = "customer"
#: The tag value searched for: one customer in 20, so 5,000 of 100k traces match.
SEARCH_VALUE = "c07"


def stored_traces(backend_uri: str, experiment_id: str) -> tuple[int, int]:
    """(traces, spans) the database holds for ``experiment_id``."""
    with _connect(backend_uri) as (con, mark):
        cur = con.cursor()
        counts = []
        for table in ("trace_info", "spans"):
            cur.execute(f"SELECT count(*) FROM {table} WHERE experiment_id = {mark}",
                        (int(experiment_id),))  # fmt: skip
            counts.append(int(cur.fetchone()[0]))
        return counts[0], counts[1]


class _Connection:
    """A DB-API connection to the benchmark database and its parameter mark."""

    def __init__(self, backend_uri: str) -> None:
        if backend_uri.startswith("sqlite"):
            import sqlite3

            self.con: Any = sqlite3.connect(backend_uri.split(":///", 1)[1], timeout=60)
            # aiotrack's reader page cache: with SQLite's 2 MiB default every miss of the
            # floor queries' index probes is a read(2), and the floor would sit above a server.
            self.con.execute("PRAGMA cache_size=-65536")
            self.mark = "?"
        else:
            import psycopg2

            self.con = psycopg2.connect(
                re.sub(r"^postgresql\+\w+://", "postgresql://", backend_uri)
            )
            self.mark = "%s"

    def __enter__(self) -> tuple[Any, str]:
        return self.con, self.mark

    def __exit__(self, *exc: object) -> None:
        self.con.close()


_connect = _Connection


@dataclass(frozen=True)
class SeededTrace:
    request_id: str
    timestamp_ms: int
    customer: str


def _seeded(exp: int, n: int) -> Iterator[SeededTrace]:
    """The ``n`` traces of experiment ``exp``, the same for every server (each has a fresh
    database, so the same experiment id): random ids, distinct timestamps over 30 days in a
    shuffled order (inserted out of time order, as concurrent clients write them)."""
    rng = random.Random(f"aiotrack-bench-{exp}-{n}")
    base = 1_790_000_000_000
    offsets = list(range(n))
    rng.shuffle(offsets)
    for i, off in enumerate(offsets):
        yield SeededTrace("tr-" + rng.getrandbits(128).to_bytes(16, "big").hex(),
                          base + off * 25_920 + rng.randrange(1000), f"c{i % 20:02d}")  # fmt: skip


def expected_page(experiment_id: str, n: int) -> list[str]:
    """The request ids a correct search returns: the 100 newest with the searched tag."""
    matching = [t for t in _seeded(int(experiment_id), n) if t.customer == SEARCH_VALUE]
    matching.sort(key=lambda t: (-t.timestamp_ms, t.request_id))
    return [t.request_id for t in matching[:100]]


def _rows(exp: int, n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]],
                                      list[tuple[Any, ...]]]:  # fmt: skip
    infos, tags, metadata = [], [], []
    request = '{"question": "Where is my order and when will it arrive?"}'
    for t in _seeded(exp, n):
        response = f'{{"answer": "Order {t.request_id[3:11]} arrives on Friday."}}'
        infos.append((t.request_id, exp, t.timestamp_ms, 41 + t.timestamp_ms % 900, "OK",
                      request, response, 1, "customer_support_agent", 180, 64, 244))  # fmt: skip
        tags += [
            ("mlflow.artifactLocation",
             f"mlflow-artifacts:/{exp}/traces/{t.request_id}/artifacts", t.request_id),
            ("mlflow.trace.spansLocation", "TRACKING_STORE", t.request_id),
            ("mlflow.traceName", "customer_support_agent", t.request_id),
            (SEARCH_FILTER_TAG, t.customer, t.request_id),
            ("env", "prod" if t.timestamp_ms % 4 else "staging", t.request_id),
        ]  # fmt: skip
        metadata += [
            ("mlflow.trace_schema.version", "3", t.request_id),
            ("mlflow.user", "bench", t.request_id),
            ("mlflow.source.name", "support_agent.py", t.request_id),
        ]
    return infos, tags, metadata


_INFO_COLUMNS = ("request_id, experiment_id, timestamp_ms, execution_time_ms, status, "
                 "request_preview, response_preview, db_payload_generation, trace_name, "
                 "input_tokens, output_tokens, total_tokens")  # fmt: skip


def seed_traces(backend_uri: str, experiment_id: str, n: int) -> None:
    """Write ``n`` traces into MLflow's trace tables directly (what an OTLP-ingested trace of
    the client leaves there: the trace row, its system tags and its metadata, plus two user
    tags), in one transaction. PostgreSQL is then analyzed, as its autovacuum would have."""
    infos, tags, metadata = _rows(int(experiment_id), n)
    with _connect(backend_uri) as (con, mark):
        cur = con.cursor()
        _insert(cur, mark, f"trace_info ({_INFO_COLUMNS})", infos)
        _insert(cur, mark, "trace_tags (key, value, request_id)", tags)
        _insert(cur, mark, "trace_request_metadata (key, value, request_id)", metadata)
        con.commit()
        if mark != "?":
            con.autocommit = True
            cur.execute("ANALYZE trace_info, trace_tags, trace_request_metadata")


def _in(mark: str, n: int) -> str:
    return "(" + ", ".join([mark] * n) + ")"


def _insert(cur: Any, mark: str, into: str, rows: list[tuple[Any, ...]]) -> None:
    """``INSERT INTO {into} VALUES`` all ``rows``: executemany on SQLite (one prepared
    statement in C); on PostgreSQL multi-row VALUES pages (psycopg2's executemany would be a
    round trip a row)."""
    if mark == "?":
        cur.executemany(f"INSERT INTO {into} VALUES {_in(mark, len(rows[0]))}", rows)
        return
    from psycopg2.extras import execute_values

    execute_values(cur, f"INSERT INTO {into} VALUES %s", rows, page_size=5000)


def _serial(cur: Any, mark: str) -> None:
    """No parallel plan on PostgreSQL: for a LIMIT 101 walk down the timestamp index it
    chose a Gather Merge of 2 workers that took 270 ms where the serial plan took 29 ms (on a
    loaded 2-core machine, 100k traces); the floor is the best plan, not the planner's pick."""
    if mark != "?":
        cur.execute("SET max_parallel_workers_per_gather = 0")


def search_floor(backend_uri: str, experiment_id: str, reps: int = 15) -> float:
    """Median seconds the database alone takes for what a tag-filtered newest-first search of
    100 must read: the page of trace rows (one past it, for the token), then their tags and
    metadata; the ids are checked against `expected_page`'s count."""
    exp = int(experiment_id)
    times = []
    with _connect(backend_uri) as (con, mark):
        cur = con.cursor()
        _serial(cur, mark)
        for _ in range(reps):
            t = time.perf_counter()
            cur.execute(
                f"SELECT request_id, experiment_id, timestamp_ms, execution_time_ms, status, "
                f"request_preview, response_preview, trace_name FROM trace_info "
                f"WHERE experiment_id = {mark} AND EXISTS (SELECT 1 FROM trace_tags "
                f"WHERE trace_tags.request_id = trace_info.request_id AND key = {mark} "
                f"AND value = {mark}) ORDER BY timestamp_ms DESC, request_id LIMIT 101",
                (exp, SEARCH_FILTER_TAG, SEARCH_VALUE),
            )
            ids = [row[0] for row in cur.fetchall()][:100]
            for table in ("trace_tags", "trace_request_metadata"):
                cur.execute(
                    f"SELECT request_id, key, value FROM {table} "
                    f"WHERE request_id IN {_in(mark, len(ids))}",
                    ids,
                )
                cur.fetchall()
            times.append(time.perf_counter() - t)
            assert len(ids) == 100, f"the floor query found {len(ids)} traces"
        con.rollback()
    return statistics.median(times)


def get_floor(backend_uri: str, trace_id: str, reps: int = 3) -> float:
    """Median seconds the database alone takes to hand over one trace's row, tags, metadata
    and every span's stored content (what ``traces/get`` must read)."""
    times = []
    with _connect(backend_uri) as (con, mark):
        cur = con.cursor()
        _serial(cur, mark)
        for _ in range(reps):
            t = time.perf_counter()
            cur.execute(f"SELECT * FROM trace_info WHERE request_id = {mark}", (trace_id,))
            cur.fetchall()
            for table in ("trace_tags", "trace_request_metadata"):
                cur.execute(f"SELECT key, value FROM {table} WHERE request_id = {mark}",
                            (trace_id,))  # fmt: skip
                cur.fetchall()
            cur.execute(f"SELECT content FROM spans WHERE trace_id = {mark}", (trace_id,))
            cur.fetchall()
            times.append(time.perf_counter() - t)
        con.rollback()
    return statistics.median(times)


#: MLflow's tables a trace's ingest writes, as MLflow 3.18 declares them (trace_info without
#: its 11 nullable analytics columns, which an insert leaves NULL anyway).
_CEILING_DDL = (
    "CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)",
    "CREATE TABLE trace_info (request_id VARCHAR(50) PRIMARY KEY, experiment_id INTEGER NOT "
    "NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE, timestamp_ms BIGINT NOT "
    "NULL, execution_time_ms BIGINT, status VARCHAR(50) NOT NULL, request_preview "
    "VARCHAR(1000), response_preview VARCHAR(1000), db_payload_generation INTEGER NOT NULL "
    "DEFAULT 0, trace_name VARCHAR(4096), input_tokens BIGINT, output_tokens BIGINT, "
    "total_tokens BIGINT)",
    "CREATE INDEX index_trace_info_experiment_id_timestamp_ms ON trace_info (experiment_id, "
    "timestamp_ms)",
    "CREATE INDEX index_trace_info_timestamp_ms_request_id ON trace_info (timestamp_ms, "
    "request_id)",
    "CREATE TABLE trace_tags (key VARCHAR(250) NOT NULL, value VARCHAR(8000), request_id "
    "VARCHAR(50) NOT NULL REFERENCES trace_info (request_id) ON DELETE CASCADE, PRIMARY KEY "
    "(key, request_id))",
    "CREATE INDEX index_trace_tags_request_id ON trace_tags (request_id)",
    "CREATE TABLE spans (trace_id VARCHAR(50) NOT NULL REFERENCES trace_info (request_id) ON "
    "DELETE CASCADE, experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id), "
    "span_id VARCHAR(50) NOT NULL, parent_span_id VARCHAR(50), name TEXT, type VARCHAR(500), "
    "status VARCHAR(50) NOT NULL, start_time_unix_nano BIGINT NOT NULL, end_time_unix_nano "
    "BIGINT, duration_ns BIGINT GENERATED ALWAYS AS (end_time_unix_nano - "
    "start_time_unix_nano) STORED, content TEXT NOT NULL, PRIMARY KEY (trace_id, span_id))",
    "CREATE INDEX index_spans_experiment_id_start_time ON spans (experiment_id, "
    "start_time_unix_nano)",
    "CREATE INDEX index_spans_experiment_id_type_status ON spans (experiment_id, type, status)",
    "CREATE INDEX index_spans_experiment_id_duration ON spans (experiment_id, duration_ns)",
    "CREATE INDEX index_spans_experiment_id_status_type ON spans (experiment_id, status, type)",
    "CREATE INDEX idx_spans_cost_trace_time_cover ON spans (trace_id, start_time_unix_nano)",
    "CREATE INDEX idx_spans_cost_exp_time_cover ON spans (experiment_id, start_time_unix_nano)",
)


def _create_ceiling_tables(backend_uri: str) -> None:
    with _connect(backend_uri) as (con, mark):
        cur = con.cursor()
        if mark == "?":
            cur.execute("PRAGMA journal_mode=WAL")
        for ddl in _CEILING_DDL:
            cur.execute(ddl)
        cur.execute(f"INSERT INTO experiments VALUES ({mark})", (1,))
        con.commit()


def _insert_traces(backend_uri: str, seed: int, commits: int, per_commit: int, content: str,
                   n_spans: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    now = 1_790_000_000_000
    with _connect(backend_uri) as (con, mark):
        cur = con.cursor()
        if mark == "?":
            cur.execute("PRAGMA synchronous=NORMAL")  # as aiotrack's writer
            cur.execute("PRAGMA foreign_keys=ON")
        for _ in range(commits):
            infos, tags, spans = [], [], []
            for _ in range(per_commit):
                rid = "tr-" + rng.getrandbits(128).to_bytes(16, "big").hex()
                infos.append((rid, 1, now, 21, "OK", "{}", "{}", 1))
                tags += [("mlflow.artifactLocation", f"mlflow-artifacts:/1/traces/{rid}", rid),
                         ("mlflow.trace.spansLocation", "TRACKING_STORE", rid)]  # fmt: skip
                spans += [(rid, 1, f"{j:016x}", None if j == 0 else "0" * 16, f"span{j}",
                           "LLM", "OK", now * 10**6 + j, now * 10**6 + j + 900, content)
                          for j in range(n_spans)]  # fmt: skip
            _insert(cur, mark, "trace_info (request_id, experiment_id, timestamp_ms, "
                    "execution_time_ms, status, request_preview, response_preview, "
                    "db_payload_generation)", infos)  # fmt: skip
            _insert(cur, mark, "trace_tags (key, value, request_id)", tags)
            _insert(cur, mark, "spans (trace_id, experiment_id, span_id, parent_span_id, name, "
                    "type, status, start_time_unix_nano, end_time_unix_nano, content)", spans)  # fmt: skip
            con.commit()


def spans_ceiling(backend_uri: str, traces: int = 4096, per_commit: int = 64,
                  content_bytes: int = 700, n_spans: int = 20, connections: int = 1) -> float:  # fmt: skip
    """Spans/s the database takes into MLflow's trace tables (``backend_uri`` must be an
    empty database): per trace its row, two tags and ``n_spans`` span rows of
    ``content_bytes`` of content; ``per_commit`` traces a transaction (what group commit of
    64 exporters can reach at best), one multi-row insert per table, no server in between;
    ``connections`` writers at once, each on a thread of its own (PostgreSQL; SQLite has one
    writer at a time whatever the count)."""
    import concurrent.futures

    _create_ceiling_tables(backend_uri)
    commits = traces // per_commit // connections
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        jobs = [pool.submit(_insert_traces, backend_uri, seed, commits, per_commit,
                            "x" * content_bytes, n_spans) for seed in range(connections)]  # fmt: skip
        for job in jobs:
            job.result()
    return connections * commits * per_commit * n_spans / (time.perf_counter() - t0)
