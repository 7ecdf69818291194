"""Storage backends of aiotrack: the SQL store (``aiotrack.store.sql``) and its schema."""

from __future__ import annotations

__all__: list[str] = []
