"""Running the application: one process, one event loop, TCP_NODELAY, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from aiotrack.app import create_app
from aiotrack.config import Config
from aiotrack.store.sql.migrate import SchemaError

__all__ = ["run", "serve"]

log = logging.getLogger("aiotrack")

#: Seconds given to in-flight requests when the server is asked to stop.
SHUTDOWN_TIMEOUT = 10.0


async def serve(config: Config, *, stop: asyncio.Event | None = None) -> None:
    """Serve ``config`` until ``stop`` is set (or SIGINT/SIGTERM arrive)."""
    app = create_app(config)
    runner = web.AppRunner(
        app, access_log=logging.getLogger("aiotrack.access"), shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            raise SystemExit(
                f"aiotrack: cannot listen on {config.host}:{config.port}: {exc.strerror}. "
                "Stop whatever uses that port or pass --port/-p with a free one."
            ) from None
        log.info(
            "aiotrack listening on http://%s:%d%s",
            config.host,
            config.port,
            config.static_prefix or "",
        )
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("Shutting down")
    finally:
        await runner.cleanup()


def run(config: Config) -> None:
    """Blocking entry point used by ``aiotrack server``."""
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(config))
    except SchemaError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
