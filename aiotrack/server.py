"""Running the application: one or N processes, gunicorn, dev reload, and graceful stop.

``run(config)`` picks the mode:

- default: one process, one event loop (`serve`);
- ``--workers N`` (N > 1): the schema is checked/created once, then N forked processes share the
  port through ``SO_REUSEPORT`` (the kernel spreads connections), each with its own event loop
  and connection pool. The parent supervises them: a worker that dies is restarted, SIGTERM or
  SIGINT is passed on and the parent exits when they have stopped;
- with a SQLite backend there is always one process: SQLite has a single writer, and one async
  process already serves many concurrent requests, so more processes would only queue on the
  file lock (and answer 503 when a write waits longer than the busy timeout);
- ``--gunicorn-opts``: gunicorn's arbiter with aiohttp's ``GunicornUVLoopWebWorker``
  (``GunicornWebWorker`` without uvloop);
- ``--dev``: debug logging and a restart whenever a file of the package changes (watchfiles).

Every mode serves on uvloop's event loop where uvloop is installed (it is a dependency on Linux
and macOS) and on asyncio's own otherwise.

Stopping (SIGTERM/SIGINT): listening sockets close at once, in-flight requests get
``--shutdown-timeout`` seconds to finish (their transactions commit), then the database pool is
closed and the process exits; it never takes longer than the timeout plus a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import shlex
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from aiotrack.app import create_app
from aiotrack.config import Config, is_file_store_uri
from aiotrack.errors import TemporarilyUnavailable
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import SchemaError, ensure_schema
from aiotrack.store.sql.tracking import SqlTrackingStore
from aiotrack.store.sql.urls import redact, to_async_url

__all__ = ["effective_workers", "loop_factory", "prepare_database", "run", "run_async", "serve"]

log = logging.getLogger("aiotrack")

#: Seconds a stopping process gets on top of ``--shutdown-timeout`` to close its pool and exit.
EXIT_GRACE = 5.0
#: aiohttp's access-log format: client, request line, status, size, seconds, user agent.
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs "%{User-Agent}i"'
#: Log lines carry the process id: with --workers, several processes write to one log.
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(name)s] %(message)s"
#: A worker that dies within this many seconds of its start is a start-up failure (no restart).
_STARTUP_WINDOW = 10.0

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed, else None (asyncio's default loop).

    A small request costs the server fewer instructions on uvloop than on asyncio's selector
    loop: log-metric on SQLite, 3,200 requests from 16 clients under callgrind, 641k -> 571k
    instructions a request (-11%), the HTTP parsing, handler and group commit included.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the event loop of `loop_factory`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def effective_workers(config: Config) -> int:
    """How many server processes ``config`` runs (SQLite and ``--dev`` always get one)."""
    if config.workers <= 1:
        return 1
    if config.dev:
        log.warning("--dev runs one process (auto-reload); --workers %d ignored", config.workers)
        return 1
    if config.backend_store_uri.startswith("sqlite"):
        log.warning(
            "--workers %d ignored: with a SQLite backend aiotrack runs ONE process. SQLite "
            "allows one writer at a time and one async process already serves many concurrent "
            "requests; more processes would only wait on the database file lock. Use "
            "PostgreSQL or MySQL to run several worker processes.",
            config.workers,
        )
        return 1
    if is_file_store_uri(config.backend_store_uri):
        log.warning(
            "--workers %d ignored: with a file-store backend (./mlruns) aiotrack runs ONE "
            "process, whose write lock keeps param and meta.yaml updates consistent; one async "
            "process already serves many concurrent requests.",
            config.workers,
        )
        return 1
    return config.workers


async def prepare_database(config: Config) -> None:
    """Create or check the schema and the default experiment once, before workers start.

    Raises `SchemaError` (with the fix in its message) for a database aiotrack cannot serve.
    A file store (./mlruns) is created with experiment 0 when missing, as MLflow does.
    """
    if is_file_store_uri(config.backend_store_uri):
        from aiotrack.store.file import FileTrackingStore

        await FileTrackingStore(
            config.backend_store_uri, artifact_root=config.effective_default_artifact_root
        ).ensure_default_experiment()
        return
    db = Database(to_async_url(config.backend_store_uri))
    try:
        await ensure_schema(db.engine, uri=config.backend_store_uri)
        store = SqlTrackingStore(
            db,
            artifact_root=config.effective_default_artifact_root,
            truncate_long_values=config.truncate_long_values,
        )
        await store.ensure_default_experiment()
    finally:
        await db.dispose()


async def serve(
    config: Config, *, stop: asyncio.Event | None = None, reuse_port: bool = False
) -> None:
    """Serve ``config`` in this process until ``stop`` is set or SIGINT/SIGTERM arrive.

    ``reuse_port`` binds with ``SO_REUSEPORT`` so that sibling workers share the port.
    """
    app = create_app(config)
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("aiotrack.access"),
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=config.shutdown_timeout,
        # Counted from the connection's start and from each answer: an idle connection, and
        # one that trickles a request's headers (slowloris), is closed when it runs out.
        keepalive_timeout=config.timeout_keep_alive,
        # 1 MiB socket reads: with aiohttp's 64 KiB default a streamed artifact upload spends
        # most of its time paused between small reads.
        read_bufsize=2**20,
    )
    await runner.setup()
    stop = stop or asyncio.Event()
    try:
        site = web.TCPSite(runner, config.host, config.port, backlog=1024, reuse_port=reuse_port)
        try:
            await site.start()
        except OSError as exc:
            raise SystemExit(
                f"aiotrack: cannot listen on {config.host}:{config.port}: {exc.strerror}. "
                "Stop whatever uses that port or pass --port/-p with a free one."
            ) from None
        _tune_gc()
        log.info(
            "aiotrack listening on http://%s:%d%s (event loop: %s)",
            config.host,
            config.port,
            config.static_prefix or "",
            type(asyncio.get_running_loop()).__module__.split(".")[0],
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info(
            "Shutting down: no new connections; in-flight requests get %.0f s to finish",
            config.shutdown_timeout,
        )
    finally:
        started = time.monotonic()
        try:
            await asyncio.wait_for(runner.cleanup(), config.shutdown_timeout + EXIT_GRACE)
        except TimeoutError:
            log.error(
                "Shutdown took longer than --shutdown-timeout %.0f s + %.0f s; exiting anyway",
                config.shutdown_timeout,
                EXIT_GRACE,
            )
        else:
            log.info("Stopped after %.1f s", time.monotonic() - started)


def _tune_gc() -> None:
    """Fewer cyclic-GC passes: a search answer allocates ~10^5 short-lived objects, and with
    the default thresholds the collector ran repeatedly over the whole heap while building it
    (measured: 1000-run search 295 -> 131 ms). Objects alive after start-up are frozen out of
    collection altogether."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def run(config: Config) -> None:
    """Blocking entry point used by ``aiotrack server``; exits 1 on an unservable database."""
    _configure_logging(config)
    if config.expose_prometheus:
        from aiotrack import metrics

        metrics.prepare_directory(config.expose_prometheus)
    try:
        if config.dev:
            _run_dev(config)
            return
        workers = effective_workers(config)
        if config.gunicorn_opts is not None:
            run_async(prepare_database(config))
            _run_gunicorn(config, workers)
        elif workers == 1:
            run_async(serve(config))
        else:
            run_async(prepare_database(config))
            _run_workers(config, workers)
    except SchemaError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
    except (OSError, DBAPIError, TemporarilyUnavailable) as exc:
        reason = getattr(exc, "orig", None) or exc
        log.error(
            "Cannot reach the database %s: %s. Check that the database server is running and "
            "reachable from here and that the URI's host, port, user and password are right, "
            "then start aiotrack again.",
            redact(config.backend_store_uri),
            reason,
        )
        raise SystemExit(1) from None


def _configure_logging(config: Config) -> None:
    """Put the process id in every log line (workers share one log) and apply ``--dev``."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING)
    for handler in root.handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    level = "DEBUG" if config.dev else config.log_level.upper()
    logging.getLogger("aiotrack").setLevel(level)
    if config.dev:
        logging.getLogger("aiohttp").setLevel(logging.DEBUG)


# --- N processes sharing the port ----------------------------------------------------------


def _bind_probe(host: str, port: int) -> int:
    """Fail early if ``host:port`` is taken (by anyone, a reuse-port group included).

    Binding without ``SO_REUSEPORT`` also refuses a port that another aiotrack's workers share,
    which they would otherwise silently join. Returns the port (the OS's pick for 0).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise SystemExit(
                f"aiotrack: cannot listen on {host}:{port}: {exc.strerror}. Stop whatever uses "
                "that port or pass --port/-p with a free one."
            ) from None
        return int(probe.getsockname()[1])


def _worker_main(config: Config) -> None:
    # A fresh event loop and connection pool per process; nothing async crosses the fork.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        run_async(serve(config, reuse_port=True))
    except SchemaError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None


def _run_workers(config: Config, count: int) -> None:
    """Fork ``count`` workers on one port and supervise them until SIGTERM/SIGINT."""
    port = _bind_probe(config.host, config.port)
    if port != config.port:
        config = _replace(config, port=port)
    context = multiprocessing.get_context("fork")
    stopping = False

    def request_stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def start() -> Any:
        proc = context.Process(target=_worker_main, args=(config,), daemon=False)
        proc.start()
        proc.started_at = time.monotonic()  # type: ignore[attr-defined]
        return proc

    log.info(
        "Starting %d workers on http://%s:%d%s (SO_REUSEPORT)",
        count,
        config.host,
        port,
        config.static_prefix or "",
    )
    procs = [start() for _ in range(count)]
    failed = False
    while not stopping:
        time.sleep(0.2)
        for i, proc in enumerate(procs):
            if proc.is_alive() or stopping:
                continue
            _forget_worker(config, proc.pid)
            if time.monotonic() - proc.started_at < _STARTUP_WINDOW:
                log.error(
                    "Worker %d exited with code %s during start-up; stopping (see its log above)",
                    proc.pid,
                    proc.exitcode,
                )
                failed = stopping = True
                break
            log.error("Worker %d died (exit code %s); starting a new one", proc.pid, proc.exitcode)
            procs[i] = start()
    log.info("Stopping %d workers (up to %.0f s)", count, config.shutdown_timeout)
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + config.shutdown_timeout + EXIT_GRACE
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            log.error("Worker %d did not stop in time; killing it", proc.pid)
            proc.kill()
            proc.join()
        _forget_worker(config, proc.pid)
    if failed:
        raise SystemExit(1)


def _forget_worker(config: Config, pid: int | None) -> None:
    if pid is not None and config.expose_prometheus:
        from aiotrack import metrics

        metrics.mark_process_dead(pid, config.expose_prometheus)


def _replace(config: Config, **changes: Any) -> Config:
    import dataclasses

    return dataclasses.replace(config, **changes)


# --- gunicorn --------------------------------------------------------------------------------


def _run_gunicorn(config: Config, workers: int) -> None:
    """Run under gunicorn's arbiter with aiohttp's worker; ``--gunicorn-opts`` override defaults."""
    try:
        from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
    except ImportError:
        raise SystemExit(
            "aiotrack: --gunicorn-opts needs gunicorn: pip install gunicorn (or drop "
            "--gunicorn-opts and use --workers N)"
        ) from None

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            # gunicorn's validators parse strings, as they come from its command line.
            self.cfg.set("bind", [f"{config.host}:{config.port}"])
            self.cfg.set("workers", str(workers))
            on_uvloop = loop_factory() is not None
            worker = "GunicornUVLoopWebWorker" if on_uvloop else "GunicornWebWorker"
            self.cfg.set("worker_class", f"aiohttp.worker.{worker}")
            self.cfg.set("graceful_timeout", str(max(1, round(config.shutdown_timeout))))
            self.cfg.set("keepalive", str(max(1, round(config.timeout_keep_alive))))
            self.cfg.set("proc_name", "aiotrack")
            parser = self.cfg.parser()
            try:
                args = parser.parse_args(shlex.split(config.gunicorn_opts or ""))
            except SystemExit:
                raise SystemExit(
                    f"aiotrack: invalid --gunicorn-opts {config.gunicorn_opts!r} (see above)"
                ) from None
            for key, value in vars(args).items():
                if value is not None and key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> web.Application:
            return create_app(config)

    _Gunicorn().run()


# --- dev mode --------------------------------------------------------------------------------


def _dev_child(config: Config) -> None:
    _configure_logging(config)
    with _quiet_interrupt():
        run_async(serve(config))


@contextlib.contextmanager
def _quiet_interrupt() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        pass


def _run_dev(config: Config) -> None:
    """Serve in a child process and restart it whenever a file of the package changes."""
    try:
        import watchfiles
    except ImportError:
        raise SystemExit("aiotrack: --dev needs watchfiles: pip install watchfiles") from None
    run_async(prepare_database(config))
    package = Path(__file__).resolve().parent
    log.info("--dev: debug logging; restarting on changes under %s", package)
    log.debug("Backend store: %s", redact(config.backend_store_uri))
    watchfiles.run_process(
        package,
        target=_dev_child,
        args=(config,),
        watch_filter=watchfiles.PythonFilter(),
        callback=lambda changes: log.info("%d file(s) changed; restarting", len(changes)),
    )
