"""The MLflow **3.18.0** client (its own virtualenv, ``.venv-ref18``) logs traces against the
server and reads them back (tests/compat/client318_traces.py, run as a subprocess); the 3.17.2
client in this process then reads the same traces. Passes on ``mlflow server`` 3.18
(``AIOTRACK_TRACE_TESTS_SERVER=reference``).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tests.servers import RunningServer, reference18_bin

pytestmark = [pytest.mark.compat, pytest.mark.reference]

SCRIPT = Path(__file__).with_name("client318_traces.py")
TIMEOUT_S = 180


def run_client318(url: str, experiment_name: str, workdir: Path) -> dict[str, Any]:
    python = reference18_bin() / "python"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLFLOW_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
    )
    proc = subprocess.run(
        [str(python), str(SCRIPT), url, experiment_name],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"3.18 client failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    # The last line is the report (the client may log above it).
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_client_318_logs_and_searches(trace_server: RunningServer, tmp_path: Path) -> None:
    report = run_client318(trace_server.url, f"client318-{uuid.uuid4().hex[:10]}", tmp_path)
    assert report["mlflow_version"] == "3.18.0"
    one, two = report["logged"]
    assert report["searched"] == [one, two]
    assert report["in_run"] == [two]
    assert report["tagged"] == sorted([one, two])
    assert report["frame_ids"] == sorted([one, two])
    assert report["spans"] == [
        ["agent", "AGENT", "OK"],
        ["lookup", "TOOL", "ERROR"],
        ["lookup", "TOOL", "OK"],
        ["plan", "CHAIN", "OK"],
    ]
    assert report["client_request_id"] == "cr-one"
    assert report["state"] == "OK"
    assert report["tags_after"] == {"reviewed": "yes"}
    assert report["deleted"] == 1
    assert report["left"] == [one]

    # The 3.17.2 client reads what the 3.18 client wrote.
    client = MlflowClient(trace_server.url)
    trace = client.get_trace(one)
    assert trace.info.experiment_id == report["experiment_id"]
    assert trace.info.client_request_id == "cr-one"
    assert trace.info.tags["reviewed"] == "yes"
    assert "client" not in trace.info.tags
    spans = {s.name: s for s in trace.data.spans if s.name != "lookup"}
    assert spans["plan"].inputs == {"q": "one"}
    assert spans["plan"].get_attribute("steps") == 2
    assert spans["agent"].outputs == {"answer": "ONE"}
    lookups = [s for s in trace.data.spans if s.name == "lookup"]
    assert sorted(s.status.status_code.value for s in lookups) == ["ERROR", "OK"]
    assert all(s.parent_id == spans["agent"].span_id for s in lookups)
