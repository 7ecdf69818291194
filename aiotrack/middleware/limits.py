"""Request-size limit answered in MLflow's JSON error shape.

aiohttp refuses to read a body larger than the application's ``client_max_size``
(``--max-request-size``) and raises ``HTTPRequestEntityTooLarge``; this middleware turns that into
413 ``{"error_code": "INVALID_PARAMETER_VALUE", "message": ...}`` so that the client shows a
readable error and does not retry (it retries only 408/429/5xx). Streaming handlers (artifact
uploads) read ``request.content`` and are not limited.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from aiotrack.api.codec import json_response

__all__ = ["body_limit_middleware"]


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        body = {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": (
                f"Request body of {request.method} {request.path} is larger than the server's "
                f"limit of {limit} bytes; send less data per request (e.g. split a log-batch) "
                "or raise the server's --max-request-size."
            ),
        }
        return json_response(body, status=413)
