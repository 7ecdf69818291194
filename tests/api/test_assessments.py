"""The assessment routes where aiotrack answers 400 and MLflow 3.18 does not: MLflow's parser
drops a wrongly typed field and carries on, or its handler fails with a 500. Everything both
servers answer alike is pinned in tests/compat/test_client_assessments.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import MakeClient

TRACE = "tr-0123456789abcdef0123456789abcdef"
BASE = f"/api/3.0/mlflow/traces/{TRACE}/assessments"


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    """The app with one trace (``TRACE``, experiment 0) started through StartTraceV3."""
    client = await make_client()
    resp = await client.post(
        "/api/3.0/mlflow/traces",
        json={
            "trace": {
                "trace_info": {
                    "trace_id": TRACE,
                    "trace_location": {
                        "type": "MLFLOW_EXPERIMENT",
                        "mlflow_experiment": {"experiment_id": "0"},
                    },
                    "request_time": "2024-01-01T00:00:00Z",
                    "state": "OK",
                }
            }
        },
    )
    assert resp.status == 200, await resp.text()
    return client


async def _create(client: TestClient[Any, Any], assessment: dict[str, Any]) -> Any:
    return await client.post(BASE, json={"assessment": assessment})


async def _refused(resp: Any, fragment: str) -> None:
    body = await resp.json()
    assert (resp.status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body
    assert fragment in body["message"]


@pytest.mark.parametrize(
    ("assessment", "fragment"),
    [
        (
            {"assessment_name": "n", "feedback": {"value": 1}, "expectation": {"value": 1}},
            "Exactly one of `expectation`, `feedback`, or `issue` should be specified.",
        ),
        (
            {"assessment_name": "n", "source": {"source_type": "BOGUS"}, "feedback": {}},
            "'source_type'",
        ),
        ({"assessment_name": "n", "feedback": {}, "metadata": {"a": 1}}, "assessment.metadata"),
        ({"assessment_name": 5, "feedback": {}}, "'assessment_name'"),
        ({"assessment_name": "n", "feedback": {}, "create_time": "yesterday"}, "RFC 3339"),
        (
            {
                "assessment_name": "n",
                "expectation": {
                    "serialized_value": {"serialization_format": "JSON_FORMAT", "value": "{bad"}
                },
            },
            "not valid JSON",
        ),
    ],
)
async def test_create_refusals(
    client: TestClient[Any, Any], assessment: dict[str, Any], fragment: str
) -> None:
    await _refused(await _create(client, assessment), fragment)


async def test_non_finite_value_is_refused(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        BASE,
        data=b'{"assessment": {"assessment_name": "n", "feedback": {"value": NaN}}}',
        headers={"Content-Type": "application/json"},
    )
    await _refused(resp, "NaN or Infinity")


async def test_taken_client_id(client: TestClient[Any, Any]) -> None:
    first = await _create(client, {"assessment_id": "a-mine", "feedback": {"value": 1}})
    assert first.status == 200
    again = await _create(client, {"assessment_id": "a-mine", "feedback": {"value": 2}})
    body = await again.json()
    assert (again.status, body["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")


async def test_update_refusals(client: TestClient[Any, Any]) -> None:
    feedback = (await (await _create(client, {"feedback": {"value": 1}})).json())["assessment"]
    issue = (await (await _create(client, {"issue": {"issue_name": "i"}})).json())["assessment"]
    url = f"{BASE}/{feedback['assessment_id']}"
    resp = await client.patch(url, json={"assessment": {"valid": False}, "update_mask": "valid"})
    await _refused(resp, "The `valid` field of an assessment cannot be updated")
    resp = await client.patch(
        f"{BASE}/{issue['assessment_id']}",
        json={"assessment": {"assessment_name": "x"}, "update_mask": "assessmentName"},
    )
    await _refused(resp, "Issue reference assessments cannot be updated.")
    # snake_case mask paths are understood too (MLflow's parser refuses them and ignores the mask)
    resp = await client.patch(
        url, json={"assessment": {"assessment_name": "y"}, "update_mask": "assessment_name"}
    )
    assert (await resp.json())["assessment"]["assessment_name"] == "y"


async def test_file_store_refusals(make_client: MakeClient, tmp_path: Path) -> None:
    """On ./mlruns: updating an issue reference or ``valid`` is a 400 (MLflow's file store
    answers 500), a missing trace or assessment a 404 with the file store's messages."""
    client = await make_client(backend_store_uri=str(tmp_path / "mlruns"))
    resp = await client.get(f"{BASE}/a-1")
    body = await resp.json()
    assert (resp.status, body["error_code"], body["message"]) == (
        404, "RESOURCE_DOES_NOT_EXIST", f"Trace with ID '{TRACE}' not found"
    )  # fmt: skip
    started = await client.post(
        "/api/3.0/mlflow/traces",
        json={"trace": {"trace_info": {
            "trace_id": TRACE,
            "trace_location": {"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": "0"}},
            "request_time": "2024-01-01T00:00:00Z", "state": "OK"}}},
    )  # fmt: skip
    assert started.status == 200, await started.text()
    issue = (await (await _create(client, {"issue": {"issue_name": "i"}})).json())["assessment"]
    feedback = (await (await _create(client, {"feedback": {"value": 1}})).json())["assessment"]
    resp = await client.patch(
        f"{BASE}/{issue['assessment_id']}",
        json={"assessment": {"assessment_name": "x"}, "update_mask": "assessmentName"},
    )
    await _refused(resp, "Issue reference assessments cannot be updated.")
    resp = await client.patch(
        f"{BASE}/{feedback['assessment_id']}",
        json={"assessment": {"valid": False}, "update_mask": "valid"},
    )
    await _refused(resp, "The `valid` field of an assessment cannot be updated")
    resp = await client.get(f"{BASE}/a-nope")
    assert (await resp.json())["message"] == (
        f"Assessment with ID 'a-nope' not found for trace '{TRACE}'"
    )
