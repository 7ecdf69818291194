"""Side-by-side benchmark: aiotrack vs ``mlflow server`` (1 and 4 workers) on the same backend.

    python -m bench.run                      # everything, SQLite, ~60 min (mlflow is most of it)
    python -m bench.run --quick              # shorter loads and smaller data sets
    python -m bench.run --only log-metric    # scenarios whose name contains the text
    python -m bench.run --backend postgres   # a fresh PostgreSQL database per server
    python -m bench.run --servers aiotrack   # skip the reference servers
    python -m bench.run --scale              # also raise the mixed-job count until aiotrack lags
    python -m bench.run --only traces --reference /path/to/venv   # tracing vs that mlflow

Each server gets a fresh database and runs every selected scenario; the table shows each
server's figures and the ratio of aiotrack to the better mlflow configuration (">1" = aiotrack
is better, whichever direction "better" is for that figure). With log-metric (and --scale) the
same write scenarios also run against `bench.noop`, a handler that does nothing: its "no-op"
column is the floor the load generator and the kernel set on this machine (traces-ingest gets
one too, and prints the trace tables' insert ceiling). The reference server comes from
``--reference`` (a virtualenv; its mlflow version goes into the column's label), else
``AIOTRACK_MLFLOW_REFERENCE``, else ``.venv-ref``. Results are also written as JSON to
``bench/out/``. Only 127.0.0.1 is contacted; every load loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from bench.scenarios import SCENARIOS, Figures, Target, drive, log_metric, mixed
from bench.servers import REPO, Server, ServerSpec
from bench.tracedb import spans_ceiling
from bench.traces import traces_ingest

NOOP = "no-op"
LOWER_IS_BETTER = ("ms", " s", "errors", "RSS")
#: Figures shown without a ratio: counts, set-up times, and RSS growth during a transfer, which
#: is a few MB or nothing for every server that streams (a ratio of two near-zeros is noise).
#: The trace scenarios' load-generator CPU, response size and SQL floor describe the client,
#: the payload and the database, not the server.
NO_RATIO = ("errors", "seed", "growth", "loader", "response", "floor")
PG_ADMIN = os.environ.get("AIOTRACK_TEST_PG_URI", "postgresql://postgres@127.0.0.1:5432/postgres")


def _better_ratio(name: str, ours: float, theirs: float) -> float:
    if any(tag in name for tag in LOWER_IS_BETTER):
        return theirs / ours if ours else math.inf
    return ours / theirs if theirs else math.inf


_METRICS_DDL = (
    "CREATE TABLE metrics (key VARCHAR(250) NOT NULL, value FLOAT NOT NULL, "
    "timestamp BIGINT NOT NULL, run_uuid VARCHAR(32) NOT NULL, step BIGINT NOT NULL, "
    "is_nan BOOLEAN NOT NULL, PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan){fk})"
)
#: What MLflow's schema adds to the PK-only shape: the foreign key and two secondary indexes.
_MLFLOW_EXTRAS = (
    "CREATE INDEX index_metrics_run_uuid ON metrics (run_uuid)",
    "CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, key, step)",
)


def _ceiling_rows(run: str, b: int) -> list[tuple[str, float, int, str, int]]:
    return [(f"m{j % 10}", j * 0.5, 1_700_000_000_000 + b, run, b * 100 + j // 10)
            for j in range(1000)]  # fmt: skip


def sqlite_ceiling(rows: int = 200_000, *, mlflow_schema: bool = False) -> float:
    """Rows/s Python's sqlite3 inserts, 1000 a commit, into a table shaped like MLflow's
    ``metrics``: the issue's ceiling has only the primary key; ``mlflow_schema`` adds the
    foreign key and two secondary indexes of MLflow's real table (what a server must write)."""
    with tempfile.TemporaryDirectory() as tmp:
        con = sqlite3.connect(f"{tmp}/c.db")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        run = uuid.uuid4().hex
        if mlflow_schema:
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY)")
            con.execute("INSERT INTO runs VALUES (?)", (run,))
        fk = ", FOREIGN KEY (run_uuid) REFERENCES runs (run_uuid)" if mlflow_schema else ""
        con.execute(_METRICS_DDL.format(fk=fk))
        for ddl in _MLFLOW_EXTRAS if mlflow_schema else ():
            con.execute(ddl)
        t0 = time.perf_counter()
        for b in range(rows // 1000):
            con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, 0)", _ceiling_rows(run, b))
            con.commit()
        rate = rows / (time.perf_counter() - t0)
        con.close()
        return rate


def postgres_ceiling(rows: int = 100_000, *, server_side: bool = False) -> float:
    """Rows/s PostgreSQL takes into MLflow's ``metrics`` shape (primary key, foreign key, two
    secondary indexes), 1000 a commit, as one ``unnest`` statement each (as aiotrack sends).

    ``server_side``: the rows are made by the server itself (``generate_series``), all in one
    statement and one commit: what one backend process can insert with no client, network or
    commit cost at all. One connection uses one core; group commit can use several."""
    import psycopg2

    name = f"aiotrack_ceiling_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    con = None
    try:
        con = psycopg2.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
        cur = con.cursor()
        run = uuid.uuid4().hex
        cur.execute("CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY)")
        cur.execute("INSERT INTO runs VALUES (%s)", (run,))
        cur.execute(_METRICS_DDL.format(fk=", FOREIGN KEY (run_uuid) REFERENCES runs (run_uuid)"))
        for ddl in _MLFLOW_EXTRAS:
            cur.execute(ddl)
        con.commit()
        t0 = time.perf_counter()
        if server_side:
            cur.execute(
                "INSERT INTO metrics SELECT 'm' || mod(g, 10), g * 0.5, 1700000000000 + g / 1000, "
                "%s, g / 10, false FROM generate_series(1, %s) AS g ON CONFLICT DO NOTHING",
                (run, rows),
            )
            con.commit()
        for b in range(0 if server_side else rows // 1000):
            columns = [list(c) for c in zip(*_ceiling_rows(run, b), strict=True)]
            cur.execute(
                "INSERT INTO metrics SELECT k, v, t, r, s, false FROM unnest(%s::varchar[], "
                "%s::float8[], %s::bigint[], %s::varchar[], %s::bigint[]) AS u(k, v, t, r, s) "
                "ON CONFLICT DO NOTHING",
                columns,
            )
            con.commit()
        return rows / (time.perf_counter() - t0)
    finally:
        if con is not None:
            con.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def mixed_capacity(url: str, label: str) -> dict[str, Figures]:
    """The mixed scenario at 128, 256, ... jobs until the server lags (lateness p99 > 100 ms,
    < 99% in, or errors), then once halfway back; figures keyed "mixed N jobs"."""
    results: dict[str, Figures] = {}
    jobs, last_ok, refined = 128, 64, False
    while jobs <= 4096:
        print(f"  {label}: mixed {jobs} jobs ...", flush=True)
        fig = drive(mixed(url, jobs, 8.0))
        results[f"mixed {jobs} jobs"] = fig
        print(f"    {fig}", flush=True)
        if fig["in %"] >= 99.0 and fig["late p99 ms"] <= 100.0 and not fig["errors"]:
            if refined:
                break
            last_ok, jobs = jobs, jobs * 2
        elif refined or jobs - last_ok < 32:
            break
        else:
            refined, jobs = True, (last_ok + jobs) // 2
    return results


def trace_ceiling(backend: str, connections: int = 1) -> float:
    """`bench.tracedb.spans_ceiling` on a fresh database of ``backend``: spans/s."""
    with tempfile.TemporaryDirectory(prefix="aiotrack-bench-") as tmp:
        uri = _backend_uri(backend, Path(tmp))
        try:
            return spans_ceiling(uri, connections=connections)
        finally:
            _drop_backend(uri)


def noop_floor(duration: float, scale: bool, selected: list[str]) -> dict[str, Figures]:
    """The write scenarios against `bench.noop`: what the load generator and the kernel alone
    give on this machine. No server can do better on latency or capacity."""
    with tempfile.TemporaryDirectory(prefix="aiotrack-bench-") as tmp:
        server = Server(ServerSpec("noop"), "", Path(tmp))
        server.start()
        try:
            results: dict[str, Figures] = {}
            if "log-metric 64 clients" in selected or scale:
                lm = drive(log_metric(server.url, 64, duration))
                lm.pop("_requests", None)
                results["log-metric 64 clients"] = lm
            for name in (n for n in selected if n.startswith("traces-ingest")):
                assert server.process is not None
                ingest = drive(traces_ingest(Target(server.url, server.process.pid), 64, duration))
                ingest.pop("_requests", None)
                results[name] = ingest
            if scale:
                results.update(mixed_capacity(server.url, "no-op"))
            return results
        finally:
            server.stop()


def _pg_admin(sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on PostgreSQL's admin database."""
    import psycopg2

    con = psycopg2.connect(PG_ADMIN)
    try:
        con.autocommit = True
        con.cursor().execute(sql)
    finally:
        con.close()


def _backend_uri(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir}/bench.db"
    name = f"aiotrack_bench_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop_backend(uri: str) -> None:
    """Drop the PostgreSQL database `_backend_uri` made (a full run leaves ~1.5 GB in each);
    SQLite's file goes with the temporary directory."""
    if not uri.startswith("sqlite"):
        _pg_admin(f'DROP DATABASE IF EXISTS "{uri.rsplit("/", 1)[1]}" WITH (FORCE)')


def run_server(
    spec: ServerSpec, backend: str, selected: list[str], scale: bool, quick: bool
) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    scenarios = SCENARIOS(quick)
    with tempfile.TemporaryDirectory(prefix="aiotrack-bench-") as tmp:
        workdir = Path(tmp)
        uri = _backend_uri(backend, workdir)
        server = Server(spec, uri, workdir)
        server.start()
        try:
            for name in selected:
                waited = server.wait_idle()
                if waited > 2.0:
                    print(f"  {spec.label}: waited {waited:.0f} s for its backlog", flush=True)
                print(f"  {spec.label}: {name} ...", flush=True)
                cpu0 = server.cpu_seconds()
                try:
                    assert server.process is not None
                    target = Target(server.url, server.process.pid, uri)
                    results[name] = drive(scenarios[name](target))
                except Exception as exc:  # e.g. mlflow's pool gives out while seeding
                    # One server failing one scenario leaves its cells empty, not the table.
                    print(f"    failed: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
                    continue
                requests = results[name].pop("_requests", 0)
                if requests:
                    # CPU per request is robust to other load on the machine, unlike rates.
                    cpu = server.cpu_seconds() - cpu0
                    results[name]["server CPU ms/req"] = 1000 * cpu / requests
                print(f"    {results[name]}", flush=True)
            if scale and spec.kind == "aiotrack":
                results.update(mixed_capacity(server.url, spec.label))
        finally:
            server.stop()
            _drop_backend(uri)
        results["server"] = {"peak RSS MB": server.peak_rss / 2**20}
        print(f"    {spec.label} peak RSS: {server.peak_rss / 2**20:.0f} MB", flush=True)
    return results


def render(all_results: dict[str, dict[str, Figures]]) -> str:
    labels = list(all_results)
    ours = all_results.get("aiotrack", {})
    # The no-op column is the load generator's floor, not a server to compare with.
    theirs = [label for label in labels if label not in ("aiotrack", NOOP)]
    header = (
        "| scenario | figure | " + " | ".join(labels) + (" | ratio |" if ours and theirs else " |")
    )
    lines = [header, "|" + "---|" * (len(labels) + 2 + (1 if ours and theirs else 0))]
    names: list[str] = []
    for res in all_results.values():
        names += [n for n in res if n not in names]
    for name in names:
        figures: list[str] = []
        for res in all_results.values():
            figures += [f for f in res.get(name, {}) if f not in figures]
        for fig in figures:
            cells = []
            for label in labels:
                v = all_results[label].get(name, {}).get(fig)
                cells.append("" if v is None else f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}")
            row = f"| {name} | {fig} | " + " | ".join(cells)
            if ours and theirs:
                mine = ours.get(name, {}).get(fig)
                found = (all_results[t].get(name, {}).get(fig) for t in theirs)
                others = [o for o in found if o is not None]
                ratio = ""
                if mine is not None and others and not any(tag in fig for tag in NO_RATIO):
                    lower = any(tag in fig for tag in LOWER_IS_BETTER)
                    best = min(others) if lower else max(others)
                    ratio = f"{_better_ratio(fig, mine, best):,.1f}x"
                row += f" | {ratio}"
            lines.append(row + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--only", action="append", default=[], help="scenario name filter (repeatable)"
    )
    parser.add_argument("--servers", default="aiotrack,mlflow1,mlflow4",
                        help="comma list of aiotrack, mlflow1, mlflow4")  # fmt: skip
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reference", type=Path, default=None,
                        help="virtualenv of the reference mlflow (default: "
                             "$AIOTRACK_MLFLOW_REFERENCE, else .venv-ref)")  # fmt: skip
    parser.add_argument(
        "--scale", action="store_true", help="find the mixed-job capacity of aiotrack"
    )
    args = parser.parse_args()

    names = list(SCENARIOS(args.quick))
    selected = [n for n in names if not args.only or any(o in n for o in args.only)]
    specs = {"aiotrack": ServerSpec("aiotrack"), "mlflow1": ServerSpec("mlflow", 1, args.reference),
             "mlflow4": ServerSpec("mlflow", 4, args.reference)}  # fmt: skip
    chosen = [specs[s.strip()] for s in args.servers.split(",") if s.strip()]

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores; backend {args.backend}")
    results: dict[str, dict[str, Figures]] = {}
    if not args.only or any("log-batch" in n for n in selected):
        if args.backend == "sqlite":
            print(f"SQLite ceiling (sqlite3, 1000 rows a commit), PK-only table: "
                  f"{sqlite_ceiling():,.0f} rows/s; MLflow's metrics table (PK, FK, 2 indexes): "
                  f"{sqlite_ceiling(mlflow_schema=True):,.0f} rows/s", flush=True)  # fmt: skip
        else:
            print(f"PostgreSQL ceiling (MLflow's metrics table, unnest, 1000 rows a commit): "
                  f"{postgres_ceiling():,.0f} rows/s; server-side, 100k rows in one statement "
                  f"(one core, no client): {postgres_ceiling(server_side=True):,.0f} rows/s",
                  flush=True)  # fmt: skip
    floor: dict[str, Figures] = {}
    ingest = [n for n in selected if n.startswith("traces-ingest")]
    if ingest:
        more = (f"; 4 connections at once: {trace_ceiling(args.backend, 4):,.0f} spans/s"
                if args.backend == "postgres" else "")  # fmt: skip
        print(f"Trace tables ceiling ({args.backend}, MLflow's trace_info/trace_tags/spans with "
              f"their keys and indexes, 64 traces of 20 spans a commit, multi-row inserts): one "
              f"connection {trace_ceiling(args.backend):,.0f} spans/s{more}", flush=True)  # fmt: skip
    if (
        "log-metric 64 clients" in selected
        or ingest
        or (args.scale and "mixed 64 jobs" in selected)
    ):
        print("== no-op (the load generator's floor: aiohttp on uvloop, no database)", flush=True)
        floor = noop_floor(4.0 if args.quick else 10.0, args.scale and "mixed 64 jobs" in selected,
                           selected)  # fmt: skip
        if lm := floor.get("log-metric 64 clients"):
            print(f"Load-generator floor, log-metric 64 clients: {lm['req/s']:,.0f} req/s, "
                  f"p50 {lm['p50 ms']:.1f} ms, p99 {lm['p99 ms']:.1f} ms", flush=True)  # fmt: skip
        for name in ingest:
            fl = floor[name]
            print(f"Load-generator floor, {name}: {fl['spans/s']:,.0f} spans/s, "
                  f"p99 {fl['export p99 ms']:.1f} ms", flush=True)  # fmt: skip
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for spec in chosen:
        print(f"== {spec.label}", flush=True)
        results[spec.label] = run_server(spec, args.backend, selected, args.scale, args.quick)
        # Written after every server, so an interrupted run keeps what it measured.
        (out / f"results-{args.backend}-{stamp}.json").write_text(json.dumps(results, indent=2))
    if floor:
        results[NOOP] = floor
        (out / f"results-{args.backend}-{stamp}.json").write_text(json.dumps(results, indent=2))
    table = render(results)
    print()
    print(table)
    (out / f"results-{args.backend}-{stamp}.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
