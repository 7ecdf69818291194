"""The one place exceptions become HTTP answers.

``AiotrackError`` subclasses become MLflow's JSON error shape with their status. Unknown
``/api`` and ``/ajax-api`` paths answer a JSON 404 ``ENDPOINT_NOT_FOUND`` (the client's endpoint
fallback keys on that code); a known path with the wrong method answers 405. Anything else is
logged with its traceback and answered as a 500 ``INTERNAL_ERROR`` without internals.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from aiotrack.api.codec import json_response
from aiotrack.errors import AiotrackError, EndpointNotFound, Internal
from aiotrack.keys import CONFIG

__all__ = ["error_middleware"]

log = logging.getLogger("aiotrack.errors")

_API_PREFIXES = ("/api/", "/ajax-api/")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AiotrackError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %s %s", request.method, request.path, exc.status, exc.message)
        return json_response(exc.to_json(), status=exc.status)
    except web.HTTPNotFound:
        if _is_api(request):
            err = EndpointNotFound(f"No API endpoint at {request.method} {request.path}")
            return json_response(err.to_json(), status=404)
        raise
    except web.HTTPMethodNotAllowed as exc:
        if _is_api(request):
            body = {
                "error_code": "BAD_REQUEST",
                "message": f"Method {request.method} is not allowed for {request.path}; "
                f"use {', '.join(sorted(exc.allowed_methods))}.",
            }
            resp = json_response(body, status=405)
            resp.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
            return resp
        raise
    except web.HTTPException:
        raise
    except Exception:
        log.exception("Unhandled error in %s %s", request.method, request.path)
        internal = Internal("Internal server error; see the server log for details.")
        return json_response(internal.to_json(), status=500)


def _is_api(request: web.Request) -> bool:
    path = request.path
    prefix = request.app[CONFIG].static_prefix or ""
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :]
    return path.startswith(_API_PREFIXES)
