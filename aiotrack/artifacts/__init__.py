"""Artifact storage: path safety and repositories (local now; S3 comes with its own issue)."""

from __future__ import annotations

__all__: list[str] = []
