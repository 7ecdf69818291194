"""The SQL backend: MLflow-compatible schema (``schema``), migrations, and async URL mapping."""

from __future__ import annotations

__all__: list[str] = []
