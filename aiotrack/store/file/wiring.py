"""Opening a file-store backend in the application (``app.cleanup_ctx``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import cast

from aiohttp import web

from aiotrack.keys import (
    ASSESSMENT_STORE,
    CONFIG,
    LOGGED_MODEL_STORE,
    REGISTRY_STORE,
    TRACE_STORE,
    TRACKING_STORE,
    UI_QUERIES,
)
from aiotrack.store.file.assessments import FileAssessmentStore
from aiotrack.store.file.logged_models import FileLoggedModelStore
from aiotrack.store.file.traces import FileTraceStore
from aiotrack.store.file.tracking import FileTrackingStore
from aiotrack.store.file.unsupported import UnsupportedOnFileStore
from aiotrack.store.registry_base import RegistryStore
from aiotrack.store.sql.ui_queries import UiQueries

__all__ = ["file_backend"]

log = logging.getLogger("aiotrack")


async def file_backend(app: web.Application) -> AsyncIterator[None]:
    """Serve ``--backend-store-uri`` as an mlruns directory (created with experiment 0 when
    missing, as MLflow does), with its logged models, traces and their assessments. The registry and the UI table
    queries answer 501."""
    config = app[CONFIG]
    store = FileTrackingStore(
        config.backend_store_uri,
        artifact_root=config.effective_default_artifact_root,
        truncate_long_values=config.truncate_long_values,
    )
    await store.ensure_default_experiment()
    app[TRACKING_STORE] = store
    app[UI_QUERIES] = cast(UiQueries, UnsupportedOnFileStore("The run table of the web UI"))
    app[LOGGED_MODEL_STORE] = FileLoggedModelStore(store.root)
    traces = FileTraceStore(store.root)
    app[TRACE_STORE] = traces
    app[ASSESSMENT_STORE] = FileAssessmentStore(traces)
    app[REGISTRY_STORE] = unsupported_registry()
    log.info("Tracking store: file store at %s", store.root.root)
    yield


def unsupported_registry() -> RegistryStore:
    """The registry stand-in for a file-store registry URI."""
    return cast(RegistryStore, UnsupportedOnFileStore("The model registry"))
