"""aiohttp middlewares: error mapping now; hosts, CORS and headers come with their issue."""

from __future__ import annotations

from aiotrack.middleware.errors import error_middleware

__all__ = ["error_middleware"]
