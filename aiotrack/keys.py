"""Typed keys for what the application keeps in its state."""

from __future__ import annotations

from aiohttp import web

from aiotrack.artifacts.factory import ArtifactStorage
from aiotrack.config import Config
from aiotrack.store.base import TrackingStore
from aiotrack.store.registry_base import LoggedModelStore, RegistryStore
from aiotrack.store.sql.assessments import SqlAssessmentStore
from aiotrack.store.sql.ui_queries import UiQueries

__all__ = [
    "ARTIFACT_STORAGE",
    "ASSESSMENT_STORE",
    "CONFIG",
    "LOGGED_MODEL_STORE",
    "REGISTRY_STORE",
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
#: Assessments of traces (in the tracking database; SQL backends only).
ASSESSMENT_STORE = web.AppKey("assessment_store", SqlAssessmentStore)
