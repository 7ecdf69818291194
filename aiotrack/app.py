"""The application factory: ``create_app(config)`` wires routes, middleware and lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from aiotrack.api import add_routes
from aiotrack.config import Config
from aiotrack.keys import CONFIG, TRACKING_STORE
from aiotrack.middleware import error_middleware
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.migrate import ensure_schema
from aiotrack.store.sql.tracking import SqlTrackingStore
from aiotrack.store.sql.urls import redact, to_async_url

__all__ = ["create_app"]

log = logging.getLogger("aiotrack")

#: Largest request body accepted (a 1000-metric log-batch is ~100 KB; leave ample room).
MAX_REQUEST_BYTES = 64 * 1024 * 1024


def create_app(config: Config) -> web.Application:
    """A ready-to-run aiohttp application for ``config``.

    The database is opened, its schema checked (created when empty) and the default experiment
    ensured when the app starts; everything is closed again on cleanup.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_REQUEST_BYTES)
    app[CONFIG] = config
    add_routes(app, config.static_prefix or "")
    app.cleanup_ctx.append(_tracking_store)
    return app


async def _tracking_store(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = Database(to_async_url(config.backend_store_uri))
    try:
        await ensure_schema(db.engine, uri=config.backend_store_uri)
        store = SqlTrackingStore(
            db,
            artifact_root=config.effective_default_artifact_root,
            truncate_long_values=config.truncate_long_values,
        )
        await store.ensure_default_experiment()
    except BaseException:
        await db.dispose()
        raise
    app[TRACKING_STORE] = store
    log.info("Tracking store: %s", redact(config.backend_store_uri))
    yield
    await db.dispose()
