"""Security headers on every response (reference §12).

``X-Content-Type-Options: nosniff`` always, and ``X-Frame-Options`` with the
``--x-frame-options`` value (``SAMEORIGIN`` by default, ``DENY``; ``NONE`` omits it). They are
added in ``on_response_prepare`` so that every answer carries them: handler responses, error
pages, 404s, CORS preflights and the middlewares' own 403s.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["add_security_headers"]


def add_security_headers(app: web.Application, x_frame_options: str) -> None:
    """Register the hook adding the security headers to every response of ``app``."""
    frame = None if x_frame_options.upper() == "NONE" else x_frame_options.upper()

    async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if frame is not None:
            response.headers["X-Frame-Options"] = frame

    app.on_response_prepare.append(security_headers)
