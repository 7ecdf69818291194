"""Typed keys for what the application keeps in its state."""

from __future__ import annotations

from aiohttp import web

from aiotrack.artifacts.factory import ArtifactStorage
from aiotrack.config import Config
from aiotrack.store.assessment_base import AssessmentStore
from aiotrack.store.base import TrackingStore
from aiotrack.store.registry_base import LoggedModelStore, RegistryStore
from aiotrack.store.sql.span_writer import SpanWriter
from aiotrack.store.sql.ui_queries import UiQueries
from aiotrack.store.trace_base import TraceStore
from aiotrack.store.trace_metrics_base import TraceMetricsStore
from aiotrack.tracing.pricing import PriceCatalog

__all__ = [
    "ARTIFACT_STORAGE",
    "ASSESSMENT_STORE",
    "CONFIG",
    "LOGGED_MODEL_STORE",
    "PRICE_CATALOG",
    "REGISTRY_STORE",
    "SPAN_WRITER",
    "TRACE_METRICS",
    "TRACE_STORE",
    "TRACKING_STORE",
    "UI_QUERIES",
]

CONFIG = web.AppKey("config", Config)
TRACKING_STORE = web.AppKey("tracking_store", TrackingStore)
UI_QUERIES = web.AppKey("ui_queries", UiQueries)
#: The artifact repositories (proxy destination + per-URI); see aiotrack.artifacts.factory.
ARTIFACT_STORAGE = web.AppKey("artifact_storage", ArtifactStorage)
#: MLflow 3 logged models (in the tracking database).
LOGGED_MODEL_STORE = web.AppKey("logged_model_store", LoggedModelStore)
#: The model registry (``--registry-store-uri``, by default the tracking database).
REGISTRY_STORE = web.AppKey("registry_store", RegistryStore)
#: MLflow 3 traces (in the tracking database), and the group-commit writer of ingested spans.
TRACE_STORE = web.AppKey("trace_store", TraceStore)
SPAN_WRITER = web.AppKey("span_writer", SpanWriter)
#: Model prices for span costs (MLflow's model catalog, when an ``mlflow`` package provides it).
PRICE_CATALOG = web.AppKey("price_catalog", PriceCatalog)
#: Trace assessments (feedback, expectations, issue references), in the tracking database or
#: the ``./mlruns`` trace directories.
ASSESSMENT_STORE = web.AppKey("assessment_store", AssessmentStore)
#: Trace metrics and filter correlation (SQL backends only; absent on a file store).
TRACE_METRICS = web.AppKey("trace_metrics", TraceMetricsStore)
