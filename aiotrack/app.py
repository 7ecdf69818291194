"""The application factory: ``create_app(config)`` wires routes, middleware and lifecycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from aiotrack.api import add_routes
from aiotrack.api.artifact_proxy import artifacts_only_middleware
from aiotrack.artifacts.factory import ArtifactStorage
from aiotrack.config import Config, is_file_store_uri
from aiotrack.keys import (
    ARTIFACT_STORAGE,
    ASSESSMENT_STORE,
    CONFIG,
    LOGGED_MODEL_STORE,
    PRICE_CATALOG,
    REGISTRY_STORE,
    SPAN_WRITER,
    TRACE_METRICS,
    TRACE_STORE,
    TRACKING_STORE,
    UI_QUERIES,
)
from aiotrack.middleware import error_middleware, setup_middlewares
from aiotrack.store.file.wiring import file_backend, unsupported_registry
from aiotrack.store.sql.assessments import SqlAssessmentStore
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.logged_models import SqlLoggedModelStore
from aiotrack.store.sql.migrate import ensure_schema
from aiotrack.store.sql.registry import SqlRegistryStore
from aiotrack.store.sql.span_writer import SpanWriter
from aiotrack.store.sql.trace_metrics import SqlTraceMetrics
from aiotrack.store.sql.traces import SqlTraceStore
from aiotrack.store.sql.tracking import SqlTrackingStore
from aiotrack.store.sql.ui_queries import UiQueries
from aiotrack.store.sql.urls import redact, to_async_url
from aiotrack.tracing.pricing import default_catalog

__all__ = ["create_app"]

log = logging.getLogger("aiotrack")


def create_app(config: Config) -> web.Application:
    """A ready-to-run aiohttp application for ``config``.

    The database is opened, its schema checked (created when empty) and the default experiment
    ensured when the app starts; everything is closed again on cleanup.
    """
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=config.max_request_size,
        # Artifact bytes are stored as sent; JSON bodies are inflated, bounded, by api.bodies.
        # Request lines up to 64 KiB (aiohttp's default is 8 KiB): long GET search filters and
        # artifact paths reach the handlers and get a JSON answer instead of a bare 400.
        handler_args={"auto_decompress": False, "max_line_size": 65536},
    )
    app[CONFIG] = config
    add_routes(app, config.static_prefix or "")
    if config.artifacts_only:
        # Tracking and registry routes answer 503; no backend store is opened.
        app.middlewares.append(artifacts_only_middleware)
    elif is_file_store_uri(config.backend_store_uri):
        app.cleanup_ctx.append(file_backend)  # ./mlruns: tracking only (registry answers 501)
    else:
        app.cleanup_ctx.append(_tracking_store)
        app.cleanup_ctx.append(_registry_store)
    app.cleanup_ctx.append(_artifact_storage)
    # Last: security, limits and metrics wrap every route registered above (CORS included).
    setup_middlewares(app, config)
    return app


async def _tracking_store(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = Database(
        to_async_url(config.backend_store_uri), statement_timeout=config.db_statement_timeout
    )
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
    app[UI_QUERIES] = UiQueries(db)
    logged_models = SqlLoggedModelStore(db)
    store.writer.hooks.append(logged_models.link_metrics)  # metrics with a model_id
    app[LOGGED_MODEL_STORE] = logged_models
    app[TRACE_STORE] = SqlTraceStore(db)
    app[SPAN_WRITER] = SpanWriter(db)
    catalog = await asyncio.to_thread(default_catalog)
    if catalog is not None:
        app[PRICE_CATALOG] = catalog
    app[ASSESSMENT_STORE] = SqlAssessmentStore(db)
    app[TRACE_METRICS] = SqlTraceMetrics(db)
    log.info("Tracking store: %s", redact(config.backend_store_uri))
    yield
    await db.dispose()


async def _registry_store(app: web.Application) -> AsyncIterator[None]:
    """The model registry: in the tracking database unless ``--registry-store-uri`` names
    another one, which is then opened (and its schema checked) on its own."""
    config = app[CONFIG]
    tracking = app[TRACKING_STORE]
    assert isinstance(tracking, SqlTrackingStore)
    uri = config.effective_registry_store_uri
    if is_file_store_uri(uri):
        app[REGISTRY_STORE] = unsupported_registry()
        yield
        return
    own_db = None
    db = tracking.db
    if uri != config.backend_store_uri:
        own_db = db = Database(to_async_url(uri), statement_timeout=config.db_statement_timeout)
        try:
            await ensure_schema(db.engine, uri=uri)
        except BaseException:
            await db.dispose()
            raise
        log.info("Registry store: %s", redact(uri))
    app[REGISTRY_STORE] = SqlRegistryStore(
        db, tracking=tracking, logged_models=app[LOGGED_MODEL_STORE]
    )
    yield
    if own_db is not None:
        await own_db.dispose()


async def _artifact_storage(app: web.Application) -> AsyncIterator[None]:
    """The artifact repositories: the proxy destination (when serving) and per-URI ones."""
    config = app[CONFIG]
    destination = config.artifacts_destination if config.serve_artifacts else None
    async with ArtifactStorage(destination, config.local_artifact_roots) as storage:
        app[ARTIFACT_STORAGE] = storage
        if destination is not None:
            log.info("Serving artifacts from %s", redact(destination))
        yield
