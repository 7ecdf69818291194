"""Acceptance: `aiotrack server` with no options, in an empty directory, behaves like
`mlflow server` 3.18's default: 127.0.0.1:5000, SQLite `mlflow.db` created in the cwd."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.xdist_group("port-5000")


def _console_script() -> str:
    script = Path(sys.executable).with_name("aiotrack")
    found = str(script) if script.exists() else shutil.which("aiotrack")
    if not found:
        pytest.fail("the `aiotrack` console script is not installed (pip install .)")
    return found


def test_default_server_uses_port_5000_and_creates_mlflow_db(tmp_path: Path) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5000)) == 0:
            pytest.fail("port 5000 is already in use on this machine; free it to run this test")
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([_console_script(), "server"], cwd=tmp_path, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get("http://127.0.0.1:5000/health", timeout=1).text == "OK":
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "server did not come up within 60 s"
            time.sleep(0.2)
        assert (tmp_path / "mlflow.db").is_file()
        resp = requests.get(
            "http://127.0.0.1:5000/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": "Default"},
            timeout=5,
        )
        assert resp.status_code == 200
        experiment = resp.json()["experiment"]
        assert experiment["experiment_id"] == "0"
        assert experiment["artifact_location"] == "mlflow-artifacts:/0"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=15) == 0
        finally:
            proc.kill()
            log.close()
