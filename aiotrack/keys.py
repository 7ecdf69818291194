"""Typed keys for what the application keeps in its state."""

from __future__ import annotations

from aiohttp import web

from aiotrack.config import Config
from aiotrack.store.base import TrackingStore

__all__ = ["CONFIG", "TRACKING_STORE"]

CONFIG = web.AppKey("config", Config)
TRACKING_STORE = web.AppKey("tracking_store", TrackingStore)
