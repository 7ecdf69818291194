"""MLflow's ``./mlruns`` file store, served asynchronously (reference §13)."""

from __future__ import annotations

from aiotrack.store.file.tracking import FileTrackingStore, file_store_path
from aiotrack.store.file.unsupported import UnsupportedOnFileStore

__all__ = ["FileTrackingStore", "UnsupportedOnFileStore", "file_store_path"]
