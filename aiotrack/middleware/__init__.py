"""aiohttp middlewares and response hooks: errors, security (§12), body limit, metrics.

`setup_middlewares` installs everything but the error middleware (which `create_app` passes to
the Application) in this order, outermost first::

    metrics (--expose-prometheus)  ->  Host allow-list  ->  cross-origin write block
        ->  413 body limit  ->  error mapping  ->  handler

plus the CORS preflight routes/headers and the security headers on every response.
``--disable-security-middleware`` leaves out the Host check, the cross-origin block, CORS and
the security headers.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from aiotrack.config import Config
from aiotrack.middleware.cors import cross_origin_middleware, setup_cors
from aiotrack.middleware.errors import error_middleware
from aiotrack.middleware.headers import add_security_headers
from aiotrack.middleware.hosts import hosts_middleware
from aiotrack.middleware.limits import body_limit_middleware

__all__ = ["error_middleware", "setup_middlewares"]


def setup_middlewares(app: web.Application, config: Config) -> None:
    """Install the production layer of ``config`` on ``app``.

    Call it after every route is registered: CORS is enabled on the routes that exist then.
    """
    prefix = config.static_prefix or ""
    front: list[Middleware | None] = []
    if config.expose_prometheus:
        from aiotrack.metrics import setup_metrics

        front.append(setup_metrics(app, config.expose_prometheus, prefix))
    if not config.disable_security_middleware:
        front.append(hosts_middleware(config.allowed_hosts, prefix))
        front.append(cross_origin_middleware(config.cors_allowed_origins, prefix))
    front.append(body_limit_middleware)
    for position, middleware in enumerate(m for m in front if m is not None):
        app.middlewares.insert(position, middleware)
    if not config.disable_security_middleware:
        setup_cors(app, config.cors_allowed_origins)
        add_security_headers(app, config.x_frame_options)
