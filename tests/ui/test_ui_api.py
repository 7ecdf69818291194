"""The UI's own endpoints (/api/aiotrack/...) and how the UI's files are served, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from aiotrack.api.ui import IMMUTABLE
from tests.ui.conftest import MakeClient

API = "/api/2.0/mlflow"
Client = TestClient[Any, Any]


async def post(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(f"{API}/{path}", json=body)
    data: dict[str, Any] = await resp.json()
    assert resp.status == 200, data
    return data


async def new_run(client: Client, exp: str, name: str) -> str:
    run = await post(
        client, "runs/create", {"experiment_id": exp, "run_name": name, "start_time": 1}
    )
    return str(run["run"]["info"]["run_id"])


async def log(client: Client, run_id: str, **batch: Any) -> None:
    await post(client, "runs/log-batch", {"run_id": run_id, **batch})


def metric(key: str, value: float, step: int, ts: int = 1) -> dict[str, Any]:
    return {"key": key, "value": value, "timestamp": ts, "step": step}


async def test_keys_are_distinct_over_the_whole_experiment(client: Client) -> None:
    exp = (await post(client, "experiments/create", {"name": "k"}))["experiment_id"]
    other = (await post(client, "experiments/create", {"name": "other"}))["experiment_id"]
    a, b = await new_run(client, exp, "a"), await new_run(client, exp, "b")
    await log(client, a, params=[{"key": "x", "value": "1"}], metrics=[metric("acc", 1, 0)])
    await log(client, b, params=[{"key": "y", "value": "1"}], tags=[{"key": "team", "value": "t"}])
    await log(client, await new_run(client, other, "c"), params=[{"key": "z", "value": "1"}])
    resp = await client.get(f"/api/aiotrack/experiments/{exp}/keys")
    assert resp.status == 200
    keys = await resp.json()
    assert keys["params"] == ["x", "y"]
    assert keys["metrics"] == ["acc"]
    assert "team" in keys["tags"] and "mlflow.runName" in keys["tags"]
    bad = await client.get("/api/aiotrack/experiments/nope/keys")
    assert bad.status == 400
    assert (await bad.json())["error_code"] == "INVALID_PARAMETER_VALUE"


async def test_run_table_matches_search_and_projects_columns(client: Client) -> None:
    exp = (await post(client, "experiments/create", {"name": "t"}))["experiment_id"]
    ids = []
    for i in range(25):
        run_id = await new_run(client, exp, f"r{i:02d}")
        ids.append(run_id)
        await log(
            client,
            run_id,
            params=[{"key": "x", "value": f"v{i % 3}"}, {"key": "unused", "value": "u"}],
            metrics=[metric("acc", (i * 7) % 25 / 25, 0)],
            tags=[{"key": "mlflow.parentRunId", "value": "p"}] if i == 3 else [],
        )
    query = {
        "experiment_ids": exp,
        "filter": "params.x = 'v1'",
        "order_by": "metrics.acc DESC",
        "metrics": "acc",
        "params": "x",
        "offset": "2",
        "limit": "3",
    }
    resp = await client.get("/api/aiotrack/runs/table", params=query)
    assert resp.status == 200, await resp.text()
    table = await resp.json()
    search = await post(
        client,
        "runs/search",
        {"experiment_ids": [exp], "filter": "params.x = 'v1'", "order_by": ["metrics.acc DESC"]},
    )
    assert table["total"] == len(search["runs"]) == 8
    want = [r["info"]["run_id"] for r in search["runs"]][2:5]
    assert [r["run_id"] for r in table["runs"]] == want
    row = table["runs"][0]
    assert set(row["params"]) == {"x"} and set(row["metrics"]) == {"acc"}
    assert row["status"] == "RUNNING" and row["run_name"].startswith("r")
    # A child run carries its parent in the system tags even when tags are not asked for.
    everything = await (
        await client.get("/api/aiotrack/runs/table", params={"experiment_ids": exp, "limit": "100"})
    ).json()
    parents = {r["run_id"]: r["tags"].get("mlflow.parentRunId") for r in everything["runs"]}
    assert parents[ids[3]] == "p" and parents[ids[4]] is None


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"filter": "params.x = "}, ""),
        ({"filter": "nonsense.x = 'a'"}, ""),
        ({"order_by": "metrics.acc SIDEWAYS"}, ""),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "abc"}, ""),
    ],
)
async def test_run_table_rejects_bad_input_with_400(
    client: Client, query: dict[str, str], needle: str
) -> None:
    resp = await client.get("/api/aiotrack/runs/table", params={"experiment_ids": "0", **query})
    assert resp.status == 400, await resp.text()
    body = await resp.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and needle in body["message"]


async def test_sampled_history_keeps_a_single_step_spike(client: Client) -> None:
    exp = (await post(client, "experiments/create", {"name": "s"}))["experiment_id"]
    a, b = await new_run(client, exp, "a"), await new_run(client, exp, "b")
    for start in range(0, 10_000, 1000):
        points = [
            metric("loss", 1.0 + (s % 5) * 0.01, s, ts=1000 + s) for s in range(start, start + 1000)
        ]
        if start == 7000:
            points[123] = metric("loss", 500.0, 7123, ts=1000 + 7123)
        await log(client, a, metrics=points)
    await log(client, b, metrics=[metric("loss", 2.0, s) for s in range(0, 5000, 10)])
    resp = await client.get(
        "/api/aiotrack/metrics/sampled",
        params=[("run_ids", a), ("run_ids", b), ("key", "loss"), ("points", "100")],
    )
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert (data["lo"], data["hi"], data["width"]) == (0, 9999, 200)
    ra, rb = data["runs"][a], data["runs"][b]
    assert len(ra["bucket"]) == 50 and sum(ra["count"]) == 10_000
    assert max(ra["max"]) == 500.0  # the spike survives 200:1 downsampling
    spike_bucket = ra["bucket"][ra["max"].index(500.0)]
    assert spike_bucket == 7123 // 200
    assert min(ra["min"]) == 1.0
    assert rb["bucket"] == list(range(25)) and "ts_min" not in rb  # shared grid; no times asked

    # Zoom: a narrow range comes back at full resolution with the spike at its own step.
    zoom = await (
        await client.get(
            "/api/aiotrack/metrics/sampled",
            params={
                "run_ids": a,
                "key": "loss",
                "points": "2000",
                "start_step": "7100",
                "end_step": "7150",
                "x": "time",
            },
        )
    ).json()
    assert (zoom["lo"], zoom["hi"], zoom["width"]) == (7100, 7150, 1)
    z = zoom["runs"][a]
    assert z["bucket"] == list(range(51))
    assert z["max"][23] == 500.0 and z["ts_min"][23] == 1000 + 7123
    # No points in range: an empty answer, not an error.
    empty = await (
        await client.get("/api/aiotrack/metrics/sampled", params={"run_ids": a, "key": "nope"})
    ).json()
    assert empty == {"key": "nope", "lo": None, "hi": None, "width": 1, "runs": {}}


@pytest.mark.parametrize(
    "params",
    [
        [("key", "loss")],
        [("run_ids", "r")],
        [("run_ids", "r"), ("key", "loss"), ("points", "1")],
        [("run_ids", "r"), ("key", "loss"), ("points", "10001")],
        [("run_ids", "r"), ("key", "loss"), ("start_step", "5"), ("end_step", "4")],
        [("run_ids", "r"), ("key", "loss"), ("x", "wall")],
        [*(("run_ids", f"r{i}") for i in range(101)), ("key", "loss")],
    ],
)
async def test_sampled_history_rejects_bad_input_with_400(
    client: Client, params: list[tuple[str, str]]
) -> None:
    resp = await client.get("/api/aiotrack/metrics/sampled", params=params)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error_code"] == "INVALID_PARAMETER_VALUE"


async def test_ui_not_built_page(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(static_dir=tmp_path / "nothing-here")
    resp = await client.get("/")
    assert resp.status == 200
    text = await resp.text()
    assert "not built" in text and "npm ci" in text and "AIOTRACK_SKIP_UI_BUILD" in text
    assert (await client.get("/assets/index-abc.js")).status == 404
    # The API is unaffected.
    assert (await client.get("/health")).status == 200


def _fake_build(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>ui</title>")
    (root / "assets" / "index-1a2b3c.js").write_text("console.log(1)")
    return root


@pytest.mark.parametrize("prefix", ["", "/mlflow"])
async def test_built_ui_is_served_with_cache_headers(
    make_client: MakeClient, tmp_path: Path, prefix: str
) -> None:
    client = await make_client(
        static_dir=_fake_build(tmp_path / "static"), static_prefix=prefix or None
    )
    index = await client.get(f"{prefix}/")
    assert index.status == 200 and "<title>ui</title>" in await index.text()
    assert index.headers["Cache-Control"] == "no-cache"
    asset = await client.get(f"{prefix}/assets/index-1a2b3c.js")
    assert asset.status == 200 and asset.headers["Cache-Control"] == IMMUTABLE
    assert (await client.get(f"{prefix}/assets/missing.js")).status == 404
    assert (await client.get(f"{prefix}/assets/..%2Findex.html")).status == 404
    # A path URL of a UI page redirects to its #-route; unknown pages stay 404.
    page = await client.get(f"{prefix}/experiments/3/runs/abc?x=1", allow_redirects=False)
    assert (
        page.status == 302 and page.headers["Location"] == f"{prefix}/#/experiments/3/runs/abc?x=1"
    )
    assert (await client.get(f"{prefix}/nope")).status == 404
    if prefix:
        bare = await client.get(prefix, allow_redirects=False)
        assert bare.status == 302 and bare.headers["Location"] == f"{prefix}/"
    # API routes still win and keep their JSON errors.
    missing = await client.get(f"{prefix}/api/2.0/mlflow/nope")
    assert missing.status == 404 and (await missing.json())["error_code"] == "ENDPOINT_NOT_FOUND"
    wrong = await client.get(f"{prefix}/api/2.0/mlflow/runs/create")
    assert wrong.status == 405


async def table(client: Client, **query: Any) -> dict[str, Any]:
    resp = await client.get("/api/aiotrack/runs/table", params=query)
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


async def test_run_table_nests_children_under_their_parent(client: Client) -> None:
    exp = (await post(client, "experiments/create", {"name": "nest"}))["experiment_id"]
    other = (await post(client, "experiments/create", {"name": "elsewhere"}))["experiment_id"]
    runs: dict[str, str] = {}
    for i, name in enumerate(["alone", "parent", "c1", "c2", "grandchild", "orphan"]):
        created = await post(
            client, "runs/create", {"experiment_id": exp, "run_name": name, "start_time": 10 + i}
        )
        runs[name] = created["run"]["info"]["run_id"]
    far = await new_run(client, other, "far-parent")
    parents = {"c1": "parent", "c2": "parent", "grandchild": "c2"}
    for child, parent in parents.items():
        tag = {"key": "mlflow.parentRunId", "value": runs[parent]}
        await log(client, runs[child], tags=[tag])
    # A parent in another experiment is not in this view: the run shows at the top level.
    await log(client, runs["orphan"], tags=[{"key": "mlflow.parentRunId", "value": far}])

    top = await table(client, experiment_ids=exp, nested="true")
    names = {r["run_id"]: r["run_name"] for r in top["runs"]}
    # start_time DESC: orphan (15), parent (11), alone (10).
    assert [r["run_name"] for r in top["runs"]] == ["orphan", "parent", "alone"]
    assert (top["total"], top["all_total"]) == (3, 6)
    counts = {names[r["run_id"]]: r["child_count"] for r in top["runs"]}
    assert counts == {"orphan": 0, "parent": 2, "alone": 0}

    kids = await table(client, experiment_ids=exp, parent_id=runs["parent"])
    assert [r["run_name"] for r in kids["runs"]] == ["c2", "c1"] and kids["total"] == 2
    assert [r["child_count"] for r in kids["runs"]] == [1, 0]
    grand = await table(client, experiment_ids=exp, parent_id=runs["c2"])
    assert [r["run_name"] for r in grand["runs"]] == ["grandchild"]
    assert grand["runs"][0]["tags"]["mlflow.parentRunId"] == runs["c2"]

    # Flat (the default): every run, no child counts, no all_total.
    flat = await table(client, experiment_ids=exp)
    assert flat["total"] == 6 and "all_total" not in flat
    assert {r["child_count"] for r in flat["runs"]} == {0}

    # The parent deleted: its children are top-level runs of the active view; the deleted view
    # nests nothing under a run it does not show... and shows the parent alone.
    await post(client, "runs/delete", {"run_id": runs["parent"]})
    active = await table(client, experiment_ids=exp, nested="true")
    assert [r["run_name"] for r in active["runs"]] == ["orphan", "c2", "c1", "alone"]
    deleted = await table(client, experiment_ids=exp, nested="true", run_view_type="DELETED_ONLY")
    assert [(r["run_name"], r["child_count"]) for r in deleted["runs"]] == [("parent", 0)]
    everything = await table(client, experiment_ids=exp, nested="true", run_view_type="ALL")
    assert [(r["run_name"], r["child_count"]) for r in everything["runs"]] == [
        ("orphan", 0),
        ("parent", 2),
        ("alone", 0),
    ]
    bad = await client.get(
        "/api/aiotrack/runs/table", params={"experiment_ids": exp, "nested": "maybe"}
    )
    assert bad.status == 400


def _reference_buckets(
    points: list[tuple[int, float, int]], lo: int, width: int
) -> dict[int, tuple[float, float, int, int, int]]:
    """``{bucket: (min, max, count, ts_min, ts_max)}`` of (step, value, ts) points, in Python."""
    out: dict[int, tuple[float, float, int, int, int]] = {}
    for step, value, ts in points:
        b = (step - lo) // width
        if b in out:
            mn, mx, n, t0, t1 = out[b]
            out[b] = (min(mn, value), max(mx, value), n + 1, min(t0, ts), max(t1, ts))
        else:
            out[b] = (value, value, 1, ts, ts)
    return out


@pytest.mark.parametrize("points", [20, 600, 2000])
async def test_sampled_history_equals_a_python_reference(
    any_client: Client, points: int, request: pytest.FixtureRequest
) -> None:
    """Every bucket's min, max, count and timestamps, exactly, for wide buckets (SQLite: one
    index range per bucket) and narrow ones (GROUP BY), with extreme values and NaN points.

    On MariaDB the metric values come back from storage with 16 significant digits (the
    backend's own rounding, also seen in ``runs/get``), so values compare to 1e-15 there."""
    import random

    client = any_client
    backend = request.node.callspec.params["any_client"]
    rng = random.Random(points)
    exp = (await post(client, "experiments/create", {"name": "ref"}))["experiment_id"]
    a, b = await new_run(client, exp, "a"), await new_run(client, exp, "b")
    logged: dict[str, list[tuple[int, float, int]]] = {a: [], b: []}
    extremes = [
        1.7976931348623157e308,
        -1.7976931348623157e308,
        2.2250738585072014e-308,
        0.1,
        1 / 3,
    ]
    for run_id, steps in ((a, range(0, 3000)), (b, range(1000, 2500, 3))):
        batch: list[dict[str, Any]] = []
        for s in steps:
            ts = 10_000 + s * 7 + rng.randrange(5)
            if s % 97 == 5:
                batch.append({"key": "m", "value": "NaN", "timestamp": ts, "step": s})
                continue
            v = extremes[s % len(extremes)] if s % 101 == 0 else rng.uniform(-1e6, 1e6)
            batch.append(metric("m", v, s, ts=ts))
            logged[run_id].append((s, v, ts))
            if len(batch) == 1000:
                await log(client, run_id, metrics=batch)
                batch = []
        if batch:
            await log(client, run_id, metrics=batch)
    for zoom in ({}, {"start_step": "1200", "end_step": "1890"}):
        resp = await client.get(
            "/api/aiotrack/metrics/sampled",
            params=[
                ("run_ids", a),
                ("run_ids", b),
                ("key", "m"),
                ("points", str(points)),
                ("x", "time"),
                *zoom.items(),
            ],
        )
        assert resp.status == 200, await resp.text()
        data = await resp.json()
        lo, hi = (int(zoom["start_step"]), int(zoom["end_step"])) if zoom else (0, 2999)
        assert (data["lo"], data["hi"]) == (lo, hi)
        assert data["width"] == max(1, -(-(hi - lo + 1) // (points // 2)))
        for run_id, pts in logged.items():
            inside = [p for p in pts if lo <= p[0] <= hi]
            want = _reference_buckets(inside, lo, data["width"])
            got = data["runs"][run_id]
            assert got["bucket"] == sorted(want)
            columns = (got["min"], got["max"], got["count"], got["ts_min"], got["ts_max"])
            rows = zip(*columns, strict=True)
            buckets = dict(zip(got["bucket"], rows, strict=True))
            if backend == "mariadb":
                flat = [x for k in sorted(want) for x in want[k]]
                assert [x for k in sorted(buckets) for x in buckets[k]] == pytest.approx(
                    flat, rel=1e-15
                )
            else:
                assert buckets == want
