"""CORS (through aiohttp-cors) and server-side blocking of cross-origin writes (reference §12).

Browsers on an allowed origin get CORS answers: preflight ``OPTIONS`` on every route and the
``Access-Control-Allow-*`` headers on actual responses. Allowed origins are ``--cors-allowed-
origins`` (exact values, or fnmatch patterns when they contain ``*``) plus, always,
``http://localhost``, ``http://127.0.0.1`` and ``http://[::1]`` on any port; credentials are
allowed. ``*`` allows every origin without credentials.

CORS alone only stops a page from *reading* the answer; a cross-site ``<form>`` POST still
reaches the server. So, as in MLflow, a state-changing request (POST, PUT, DELETE, PATCH) to the
API that carries an ``Origin`` that is neither localhost nor allowed is refused with 403
``Cross-origin request blocked``. Requests without ``Origin`` (the Python client, curl) always
pass. ``*`` turns the blocking off.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence

import aiohttp_cors
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_cors.urldispatcher_router_adapter import ResourcesUrlDispatcherRouterAdapter

__all__ = [
    "CORS_BLOCKED_MESSAGE",
    "cross_origin_middleware",
    "is_api_path",
    "origin_matcher",
    "setup_cors",
]

log = logging.getLogger("aiotrack.security")

#: MLflow's exact 403 body (text/plain).
CORS_BLOCKED_MESSAGE = "Cross-origin request blocked"
_STATE_CHANGING = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
_LOCALHOST_ORIGIN = re.compile(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?$")
_LOCALHOST_HOSTNAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_API_PREFIXES = ("/api/", "/ajax-api/")


def origin_matcher(allowed_origins: Sequence[str] | None) -> Callable[[str], bool]:
    """Whether an ``Origin`` may use CORS: localhost over http on any port, or a listed origin.

    Listed values containing ``*`` are fnmatch patterns; others must match exactly.
    """
    listed = tuple(allowed_origins or ())
    if "*" in listed:
        return lambda origin: bool(origin)
    exact = frozenset(o for o in listed if "*" not in o)
    wild = tuple(o for o in listed if "*" in o)

    @functools.lru_cache(maxsize=1024)
    def allowed(origin: str) -> bool:
        return bool(
            origin in exact
            or _LOCALHOST_ORIGIN.match(origin)
            or any(fnmatch.fnmatchcase(origin, p) for p in wild)
        )

    return allowed


def is_api_path(path: str, prefix: str = "") -> bool:
    """Whether ``path`` is under the REST API (``/api/`` or ``/ajax-api/`` after the prefix)."""
    return path.startswith(prefix) and path[len(prefix) :].startswith(_API_PREFIXES)


def _is_localhost_origin(origin: str) -> bool:
    # MLflow accepts a localhost origin of any scheme here (is_localhost_origin).
    try:
        return urllib.parse.urlsplit(origin).hostname in _LOCALHOST_HOSTNAMES
    except ValueError:
        return False


def cross_origin_middleware(
    allowed_origins: Sequence[str] | None, prefix: str = ""
) -> Middleware | None:
    """The middleware refusing cross-origin writes to the API, or ``None`` for ``*``."""
    if allowed_origins and "*" in allowed_origins:
        return None
    allowed = origin_matcher(allowed_origins)

    @web.middleware
    async def block_cross_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (
            origin
            and request.method in _STATE_CHANGING
            and is_api_path(request.path, prefix)
            and not _is_localhost_origin(origin)
            and not allowed(origin)
        ):
            log.warning(
                "Blocked cross-origin %s %s from Origin %r; to allow that web page, add it to "
                "--cors-allowed-origins",
                request.method,
                request.path,
                origin,
            )
            return web.Response(status=403, text=CORS_BLOCKED_MESSAGE)
        return await handler(request)

    return block_cross_origin


class _AllowedOrigins(Mapping[str, aiohttp_cors.ResourceOptions]):
    """aiohttp-cors' origin -> options table, answering by pattern instead of exact keys.

    aiohttp-cors looks origins up with ``config.get(origin, config.get("*"))``; this mapping
    returns the same options for every allowed origin and raises ``KeyError`` otherwise, which
    gives it MLflow's localhost-on-any-port and wildcard rules.
    """

    def __init__(
        self,
        allowed: Callable[[str], bool],
        options: aiohttp_cors.ResourceOptions,
        shown: tuple[str, ...],
    ) -> None:
        self._allowed = allowed
        self._options = options
        self._shown = shown

    def __getitem__(self, origin: str) -> aiohttp_cors.ResourceOptions:
        if isinstance(origin, str) and self._allowed(origin):
            return self._options
        raise KeyError(origin)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shown)

    def __len__(self) -> int:
        # Never empty: aiohttp-cors treats an empty table as "no origins are allowed".
        return len(self._shown)


def setup_cors(app: web.Application, allowed_origins: Sequence[str] | None) -> None:
    """Enable CORS on every resource registered so far (call it after adding all routes).

    Resources that cannot take a preflight handler (a ``*``-method route, an own ``OPTIONS``
    handler) are left as they are.
    """
    wildcard = bool(allowed_origins) and "*" in (allowed_origins or ())
    if wildcard:
        log.warning(
            "--cors-allowed-origins '*': any web page may call this server (without "
            "credentials) and cross-origin writes are not blocked; list your UI origins instead"
        )
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=not wildcard,
        expose_headers="*",
        allow_headers="*",
        allow_methods=list(_METHODS),
    )
    shown = ("*",) if wildcard else (*(allowed_origins or ()), _LOCALHOST_ORIGIN.pattern)
    table = _AllowedOrigins(origin_matcher(allowed_origins), options, shown)
    adapter = ResourcesUrlDispatcherRouterAdapter(app.router, table)
    cors = aiohttp_cors.CorsConfig(app, router_adapter=adapter)
    app[aiohttp_cors.APP_CONFIG_KEY] = cors
    for resource in list(app.router.resources()):
        try:
            cors.add(resource)
        except ValueError as exc:  # '*' route or an own OPTIONS handler
            log.debug("CORS not enabled on %s: %s", resource, exc)
