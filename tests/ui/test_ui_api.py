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
