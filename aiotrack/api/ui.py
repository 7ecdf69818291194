"""The web UI: its static files and its own data endpoints under ``/api/aiotrack/``.

Static files (built from ``web/`` into ``aiotrack/static/`` by ``hatch_build.py``):

- ``GET {prefix}/`` serves ``index.html`` with ``Cache-Control: no-cache``; ``GET {prefix}``
  redirects there. When the UI was not built, a short HTML page says how to build it (200, as
  ``mlflow server`` does for a source checkout).
- ``GET {prefix}/assets/{file}``: Vite's content-hashed bundles, ``public, max-age=31536000,
  immutable``.
- The UI routes with a hash router (``#/experiments/1/runs/<id>``, MLflow's URL shapes); a path
  URL of one of its pages (``/experiments/...``, ``/runs/...``, ``/metric...``,
  ``/compare-runs...``) redirects to the same page under ``#``.

Data endpoints (GET, JSON; errors in MLflow's ``{"error_code", "message"}`` shape, 400 for a bad
argument; limits from :mod:`aiotrack.store.sql.ui_queries`):

``GET /api/aiotrack/experiments/{experiment_id}/keys``
    ``{"params": [...], "metrics": [...], "tags": [...]}``: the distinct keys over every run of
    the experiment, sorted; at most ``MAX_KEYS`` (5000) of each kind.

``GET /api/aiotrack/runs/table``
    ``experiment_ids`` (repeated, required), ``filter`` (MLflow's run filter grammar),
    ``order_by`` (repeated, MLflow's grammar), ``run_view_type`` (``ACTIVE_ONLY``...),
    ``offset`` (default 0), ``limit`` (default 100, at most ``MAX_TABLE_ROWS`` = 1000),
    ``params`` / ``metrics`` / ``tags`` (repeated: the columns to project, at most
    ``MAX_TABLE_COLUMNS`` = 200 together), ``nested`` (``true``: only top-level runs, those
    whose ``mlflow.parentRunId`` names no other run of these experiments in this view),
    ``parent_id`` (only the children of that run). Answers ``{"total": N, "offset": o, "runs":
    [{run_id, run_name, status, start_time, end_time, user_id, lifecycle_stage, params: {k: v},
    metrics: {k: latest value or null for NaN}, tags: {k: v}, child_count}]}``; ``tags`` always
    carries ``mlflow.parentRunId``, ``mlflow.source.name`` and ``mlflow.user`` when set;
    ``child_count`` (children in this view) is filled with ``nested`` or ``parent_id``, else 0;
    with ``nested``, ``total`` counts the top-level runs and ``all_total`` every matching run.
    Filter and sort semantics are exactly ``runs/search``'s, so a window equals the same slice
    of its pages.

``GET /api/aiotrack/metrics/sampled``
    ``run_ids`` (repeated, at most ``MAX_SAMPLED_RUNS`` = 100), ``key``, ``points`` (values per
    run, 2..``MAX_SAMPLED_POINTS`` = 10000, default 2000), optional ``start_step``/``end_step``
    (inclusive; a zoom), ``x`` (``step``, default, or ``time``: adds ``ts_min``/``ts_max``).
    The runs' points are grouped in SQL into ``points // 2`` buckets of
    ``width`` steps on one grid shared by every run (bucket ``b`` starts at step
    ``lo + b * width``); each bucket keeps its **minimum and maximum** value, so a single-step
    spike survives any downsampling. ``width == 1`` means full resolution. A zoom on a time
    axis is a step range too: the UI maps the chosen time span to the steps of the buckets
    whose ``ts_min..ts_max`` meet it and asks for those. Answers ``{"key",
    "lo", "hi", "width", "runs": {run_id: {"bucket": [...], "min": [...], "max": [...],
    "count": [...]}}}`` (plus ``"ts_min"``/``"ts_max"``, ms, with ``x=time``); NaN points are
    left out, runs with no point in range are absent.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from aiotrack.api.codec import json_response
from aiotrack.api.messages import Message, boolean, enum, int64, repeated_string, string
from aiotrack.errors import InvalidParameter
from aiotrack.keys import UI_QUERIES
from aiotrack.store.entities import ViewType

__all__ = ["STATIC_DIR", "UI_STATIC_DIR", "add_routes"]

#: The directory the UI is served from (``STATIC_DIR`` unless a test points it elsewhere).
UI_STATIC_DIR = web.AppKey("ui_static_dir", Path)
#: Where ``npm run build`` (``web/vite.config.ts``) puts the built UI.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
VIEW_TYPES = {v.name: v.value for v in ViewType}
DEFAULT_TABLE_LIMIT = 100
DEFAULT_POINTS = 2000
#: First path segments of the UI's pages; a path URL of one redirects to its ``#`` form.
CLIENT_ROUTES = r"(?:experiments|runs|metric|compare-runs)(?:/.*)?"

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aiotrack: web UI not built</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;
color:#1d2330}}code,pre{{background:#eef1f5;padding:.1rem .3rem;border-radius:4px}}</style></head>
<body><h1>The aiotrack web UI is not built</h1>
<p>The tracking API is running and works as usual; only the browser UI is missing. This install
has no <code>{static}</code> directory, which happens with an editable install made with
<code>AIOTRACK_SKIP_UI_BUILD=1</code> or a source tree where the UI was never built.</p>
<p>Build it (needs Node.js 20.19+ and npm):</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>or reinstall without <code>AIOTRACK_SKIP_UI_BUILD</code>: <code>pip install .</code></p>
</body></html>
"""


@dataclass(frozen=True, slots=True)
class RunTableRequest(Message):
    experiment_ids: list[str] = repeated_string(required=True)
    filter: str | None = string()
    order_by: list[str] = repeated_string()
    run_view_type: int = enum(VIEW_TYPES, default=ViewType.ACTIVE_ONLY)
    offset: int = int64(default=0)
    limit: int = int64(default=DEFAULT_TABLE_LIMIT)
    params: list[str] = repeated_string()
    metrics: list[str] = repeated_string()
    tags: list[str] = repeated_string()
    nested: bool = boolean(default=False)
    parent_id: str | None = string()


@dataclass(frozen=True, slots=True)
class SampledRequest(Message):
    run_ids: list[str] = repeated_string(required=True)
    key: str = string(required=True)
    points: int = int64(default=DEFAULT_POINTS)
    start_step: int | None = int64()
    end_step: int | None = int64()
    x: str = string(default="step")


async def experiment_keys(request: web.Request) -> web.Response:
    keys = await request.app[UI_QUERIES].experiment_keys(request.match_info["experiment_id"])
    return json_response(keys)


async def run_table(request: web.Request) -> web.Response:
    msg = await RunTableRequest.from_request(request)
    total, all_total, runs = await request.app[UI_QUERIES].run_table(
        experiment_ids=msg.experiment_ids,
        filter_string=msg.filter,
        order_by=msg.order_by or [],
        view_type=ViewType(msg.run_view_type),
        offset=msg.offset,
        limit=msg.limit,
        params=msg.params or [],
        metrics=msg.metrics or [],
        tags=msg.tags or [],
        nested=bool(msg.nested),
        parent_id=msg.parent_id or None,
    )
    page: dict[str, Any] = {"total": total, "offset": msg.offset}
    if all_total is not None:
        page["all_total"] = all_total
    page["runs"] = [asdict(r) for r in runs]
    return json_response(page)


async def sampled_history(request: web.Request) -> web.Response:
    msg = await SampledRequest.from_request(request)
    if msg.x not in ("step", "time"):
        raise InvalidParameter(f"x must be 'step' or 'time', got {msg.x!r}")
    sampled = await request.app[UI_QUERIES].sampled_history(
        msg.run_ids,
        msg.key,
        points=msg.points,
        start_step=msg.start_step,
        end_step=msg.end_step,
        with_times=msg.x == "time",
    )
    return json_response(
        {
            "key": sampled.key,
            "lo": sampled.lo,
            "hi": sampled.hi,
            "width": sampled.width,
            "runs": {
                run_id: {k: v for k, v in asdict(s).items() if v is not None}
                for run_id, s in sampled.runs.items()
            },
        }
    )


def _static_dir(request: web.Request) -> Path:
    return request.app[UI_STATIC_DIR]


async def index(request: web.Request) -> web.StreamResponse:
    """``index.html`` (never cached, so a new build is picked up), or the "not built" page."""
    static = _static_dir(request)
    page = static / "index.html"
    if not page.is_file():
        text = _NOT_BUILT.format(static=html.escape(str(static)))
        return web.Response(
            text=text, content_type="text/html", headers={"Cache-Control": "no-cache"}
        )
    return web.FileResponse(page, headers={"Cache-Control": "no-cache"})


async def asset(request: web.Request) -> web.StreamResponse:
    """A content-hashed bundle file, cacheable forever; 404 for anything else."""
    name = request.match_info["name"]
    assets = _static_dir(request) / "assets"
    path = assets / name
    # Names are flat (Vite writes assets/<name>-<hash>.<ext>); refuse anything path-like.
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": IMMUTABLE})


def _redirect_to_hash(prefix: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        page = request.match_info["page"]
        query = f"?{request.query_string}" if request.query_string else ""
        raise web.HTTPFound(f"{prefix}/#/{page}{query}")

    return handler


def _redirect(location: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location)

    return handler


def add_routes(app: web.Application, prefix: str = "", static_dir: Path | None = None) -> None:
    """Register the UI data endpoints and the UI itself under ``prefix``.

    Call this after every API route: the page redirects must not shadow an API path.
    """
    app[UI_STATIC_DIR] = static_dir or STATIC_DIR
    router = app.router
    api = f"{prefix}/api/aiotrack"
    router.add_get(f"{api}/experiments/{{experiment_id}}/keys", experiment_keys)
    router.add_get(f"{api}/runs/table", run_table)
    router.add_get(f"{api}/metrics/sampled", sampled_history)
    router.add_get(f"{prefix}/", index)
    if prefix:
        router.add_get(prefix, _redirect(f"{prefix}/"))
    router.add_get(f"{prefix}/assets/{{name}}", asset)
    router.add_get(f"{prefix}/{{page:{CLIENT_ROUTES}}}", _redirect_to_hash(prefix))
