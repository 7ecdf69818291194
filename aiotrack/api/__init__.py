"""The HTTP API: MLflow's REST routes, registered under every prefix MLflow serves them on."""

from __future__ import annotations

from aiohttp import web

from aiotrack.api import (
    artifact_proxy,
    artifacts,
    assessments,
    experiments,
    inputs,
    logged_models,
    meta,
    metrics,
    otlp,
    registry,
    runs,
    trace_metrics,
    traces,
    traces_v2,
    ui,
)

__all__ = ["add_routes"]

#: Where MLflow binds its v2 tracking RPCs (the UI uses ``/ajax-api``, the client ``/api``).
V2_PREFIXES = ("/api/2.0", "/ajax-api/2.0")
V3_PREFIXES = ("/api/3.0", "/ajax-api/3.0")
_TABLES = (
    experiments.routes,
    runs.routes,
    metrics.routes,
    inputs.routes,
    artifacts.routes,
    artifact_proxy.routes,
    registry.routes,
    logged_models.routes,
    traces_v2.routes,
)


def add_routes(app: web.Application, prefix: str = "") -> None:
    """Register every route; ``prefix`` is ``--static-prefix`` (empty for none)."""
    router = app.router
    router.add_get(f"{prefix}/health", meta.health)
    router.add_get(f"{prefix}/version", meta.version)
    for api in V3_PREFIXES:
        router.add_get(f"{prefix}{api}/mlflow/server-info", meta.server_info)
        _add_table(router, f"{prefix}{api}", trace_metrics.routes)
        _add_table(router, f"{prefix}{api}", traces.routes)
        _add_table(router, f"{prefix}{api}", assessments.routes)
    for path in ("/v1/traces", "/api/2.0/otel/v1/traces"):
        router.add_post(f"{prefix}{path}", otlp.export_traces)
    for api in V2_PREFIXES:
        for table in _TABLES:
            _add_table(router, f"{prefix}{api}", table)
    ajax = f"{prefix}/ajax-api/2.0/mlflow"
    router.add_get(f"{ajax}/metrics/get-history-bulk", metrics.get_metric_history_bulk)
    router.add_post(f"{ajax}/experiments/search-datasets", inputs.search_datasets)
    artifacts.add_ui_routes(router, prefix)
    traces_v2.add_ui_routes(router, prefix)
    # Keep the UI last: its page redirects must never shadow an API route.
    ui.add_routes(app, prefix)


def _add_table(router: web.UrlDispatcher, base: str, table: web.RouteTableDef) -> None:
    for route in table:
        assert isinstance(route, web.RouteDef)
        router.add_route(route.method, f"{base}{route.path}", route.handler)
