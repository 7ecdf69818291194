"""In-process checks of rules that are awkward to observe through the client."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

API = "/api/2.0/mlflow"


async def _post(client: TestClient[Any, Any], path: str, body: dict[str, Any]) -> Any:
    resp = await client.post(f"{API}/{path}", json=body)
    return resp.status, await resp.json()


async def _new_run(client: TestClient[Any, Any]) -> str:
    status, body = await _post(client, "runs/create", {"experiment_id": "0", "start_time": 1})
    assert status == 200
    return str(body["run"]["info"]["run_id"])


async def test_rejected_batch_writes_nothing(client: TestClient[Any, Any]) -> None:
    run_id = await _new_run(client)
    assert (
        await _post(client, "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "a"})
    )[0] == 200
    status, body = await _post(
        client,
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
            "params": [{"key": "p", "value": "b"}, {"key": "q", "value": "x"}],
            "tags": [{"key": "t", "value": "v"}],
        },
    )
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in body["message"]
    resp = await client.get(f"{API}/runs/get", params={"run_id": run_id})
    data = (await resp.json())["run"]["data"]
    assert data["params"] == [{"key": "p", "value": "a"}]
    assert "metrics" not in data
    assert [t["key"] for t in data["tags"]] == ["mlflow.runName"]


async def test_latest_metric_is_max_step_then_timestamp_then_value(
    client: TestClient[Any, Any],
) -> None:
    run_id = await _new_run(client)
    points = [(5.0, 10, 2), (1.0, 99, 1), (7.0, 10, 2), (3.0, 5, 2)]
    for value, ts, step in points:
        status, _ = await _post(
            client,
            "runs/log-metric",
            {"run_id": run_id, "key": "m", "value": value, "timestamp": ts, "step": step},
        )
        assert status == 200
    resp = await client.get(f"{API}/runs/get", params={"run_id": run_id})
    (metric,) = (await resp.json())["run"]["data"]["metrics"]
    assert (metric["value"], metric["timestamp"], metric["step"]) == (7.0, 10, 2)


async def test_post_without_content_type_is_rejected(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        f"{API}/experiments/create", data=b'{"name": "x"}', skip_auto_headers=["Content-Type"]
    )
    body = await resp.json()
    assert resp.status == 400
    assert body["message"] == "Bad Request. Content-Type header is missing."


async def test_unknown_api_path_is_json_endpoint_not_found(client: TestClient[Any, Any]) -> None:
    resp = await client.get(f"{API}/nope")
    assert resp.status == 404
    assert (await resp.json())["error_code"] == "ENDPOINT_NOT_FOUND"


async def test_health_version_server_info(client: TestClient[Any, Any]) -> None:
    assert await (await client.get("/health")).text() == "OK"
    assert await (await client.get("/version")).text() == "3.18.0"
    info = await (await client.get("/api/3.0/mlflow/server-info")).json()
    assert info["artifacts_presigned_only"] is False
    assert info["store_type"] == "SqlStore"
