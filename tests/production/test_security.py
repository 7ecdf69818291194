"""Security middleware (reference §12), body limit and /metrics against real server processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.production.conftest import spawn_aiotrack
from tests.servers import RunningServer

EVIL = "evil.example"
INVALID_HOST = "Invalid Host header - possible DNS rebinding attack detected"
BLOCKED = "Cross-origin request blocked"


def _api(server: RunningServer, path: str) -> str:
    return f"{server.url}/api/2.0/mlflow/{path}"


def _create(server: RunningServer, **headers: str) -> requests.Response:
    return requests.post(
        _api(server, "experiments/create"),
        json={"name": f"e-{headers.get('Origin', 'none')}-{id(headers)}-{len(headers)}"},
        headers=headers,
        timeout=10,
    )


def _preflight(
    server: RunningServer, origin: str, path: str = "experiments/create"
) -> requests.Response:
    return requests.options(
        _api(server, path),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("default")
    server = spawn_aiotrack(f"sqlite:///{workdir / 'mlflow.db'}", workdir)
    yield server
    server.stop()


# --- default rules -------------------------------------------------------------------------


def test_foreign_host_is_refused(default_server: RunningServer) -> None:
    resp = requests.get(
        _api(default_server, "experiments/get"),
        params={"experiment_id": "0"},
        headers={"Host": EVIL},
        timeout=10,
    )
    assert resp.status_code == 403
    assert resp.text == INVALID_HOST
    assert resp.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:5000",
        "127.0.0.1:8080",
        "[::1]:5000",
        "10.1.2.3",
        "192.168.0.9:80",
        "172.20.0.1",
    ],
)
def test_default_allowed_hosts(default_server: RunningServer, host: str) -> None:
    resp = requests.get(
        _api(default_server, "experiments/get"),
        params={"experiment_id": "0"},
        headers={"Host": host},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("host", ["172.32.0.1", "mlflow.example.com", "11.0.0.1", ""])
def test_non_default_hosts_are_refused(default_server: RunningServer, host: str) -> None:
    resp = requests.get(default_server.url + "/", headers={"Host": host}, timeout=10)
    assert resp.status_code == 403


@pytest.mark.parametrize("path", ["/health", "/version"])
def test_probes_are_exempt_from_the_host_check(default_server: RunningServer, path: str) -> None:
    resp = requests.get(default_server.url + path, headers={"Host": EVIL}, timeout=10)
    assert resp.status_code == 200


def test_cors_preflight_from_localhost_origin(default_server: RunningServer) -> None:
    resp = _preflight(default_server, "http://localhost:3000")
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]


def test_cors_preflight_from_foreign_origin_gets_no_grant(default_server: RunningServer) -> None:
    resp = _preflight(default_server, "http://evil.example")
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert resp.status_code == 403


def test_cors_headers_on_actual_request(default_server: RunningServer) -> None:
    origin = "http://127.0.0.1:5173"
    resp = requests.get(
        _api(default_server, "experiments/get"),
        params={"experiment_id": "0"},
        headers={"Origin": origin},
        timeout=10,
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    foreign = requests.get(
        _api(default_server, "experiments/get"),
        params={"experiment_id": "0"},
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert foreign.status_code == 200  # reads are not blocked; the browser hides the answer
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_cross_origin_write_is_blocked_but_not_without_origin(
    default_server: RunningServer,
) -> None:
    blocked = _create(default_server, Origin="http://evil.example")
    assert blocked.status_code == 403
    assert blocked.text == BLOCKED
    assert _create(default_server).status_code == 200  # the Python client sends no Origin
    assert _create(default_server, Origin="http://localhost:3000").status_code == 200
    assert _create(default_server, Origin="https://localhost").status_code == 200


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/health"), ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0"),
     ("GET", "/api/2.0/mlflow/nope"), ("GET", "/no-such-page"), ("POST", "/api/2.0/mlflow/runs/create")],
)  # fmt: skip
def test_security_headers_on_every_response(
    default_server: RunningServer, method: str, path: str
) -> None:
    resp = requests.request(method, default_server.url + path, json={}, timeout=10)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_security_headers_on_rejections(default_server: RunningServer) -> None:
    resp = requests.get(default_server.url + "/", headers={"Host": EVIL}, timeout=10)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_endpoint_is_off_by_default(default_server: RunningServer) -> None:
    assert requests.get(default_server.url + "/metrics", timeout=10).status_code == 404


def test_large_but_allowed_body_passes(default_server: RunningServer) -> None:
    run = requests.post(
        _api(default_server, "runs/create"), json={"experiment_id": "0"}, timeout=10
    )
    run_id = run.json()["run"]["info"]["run_id"]
    metrics = [{"key": f"k{i}", "value": i, "timestamp": 1, "step": 0} for i in range(1000)]
    resp = requests.post(
        _api(default_server, "runs/log-batch"),
        json={"run_id": run_id, "metrics": metrics},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text


# --- flags ---------------------------------------------------------------------------------


def test_allowed_hosts_origins_and_deny_frames(tmp_path: Path) -> None:
    server = spawn_aiotrack(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        tmp_path,
        "--allowed-hosts", "mlflow.example.com,*.corp.example,127.0.0.1:*",
        "--cors-allowed-origins", "https://ui.example.com,https://*.apps.example",
        "--x-frame-options", "deny",
    )  # fmt: skip
    try:
        get = _api(server, "experiments/get")
        for host, expected in [
            ("mlflow.example.com", 200),
            ("a.corp.example", 200),
            ("localhost", 403),  # the list replaces the defaults
            ("10.0.0.1", 403),
            (EVIL, 403),
        ]:
            resp = requests.get(
                get, params={"experiment_id": "0"}, headers={"Host": host}, timeout=10
            )
            assert resp.status_code == expected, host
            assert resp.headers["X-Frame-Options"] == "DENY"
        allowed = _create(server, Origin="https://ui.example.com")
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
        assert _create(server, Origin="https://team.apps.example").status_code == 200
        assert _create(server, Origin="https://other.example").status_code == 403
        assert _preflight(server, "https://ui.example.com").status_code == 200
    finally:
        server.stop()


def test_wildcards_and_no_frame_header(tmp_path: Path) -> None:
    server = spawn_aiotrack(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        tmp_path,
        "--allowed-hosts", "*",
        "--cors-allowed-origins", "*",
        "--x-frame-options", "NONE",
    )  # fmt: skip
    try:
        resp = requests.get(server.url + "/health", headers={"Host": EVIL}, timeout=10)
        assert resp.status_code == 200
        assert "X-Frame-Options" not in resp.headers
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        ok = _create(server, Origin="http://evil.example", Host=EVIL)
        assert ok.status_code == 200
        pre = _preflight(server, "http://anything.example")
        assert pre.status_code == 200
        assert pre.headers["Access-Control-Allow-Origin"] == "http://anything.example"
        assert "Access-Control-Allow-Credentials" not in pre.headers
    finally:
        server.stop()


def test_disable_security_middleware(tmp_path: Path) -> None:
    server = spawn_aiotrack(
        f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, "--disable-security-middleware"
    )
    try:
        resp = requests.get(
            _api(server, "experiments/get"),
            params={"experiment_id": "0"},
            headers={"Host": EVIL},
            timeout=10,
        )
        assert resp.status_code == 200
        assert "X-Content-Type-Options" not in resp.headers
        assert "X-Frame-Options" not in resp.headers
        assert _create(server, Origin="http://evil.example").status_code == 200
        assert (
            "Access-Control-Allow-Origin" not in _preflight(server, "http://localhost:3000").headers
        )
    finally:
        server.stop()


def test_body_over_the_limit_is_a_json_413(tmp_path: Path) -> None:
    server = spawn_aiotrack(
        f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, "--max-request-size", "4096"
    )
    try:
        resp = requests.post(
            _api(server, "experiments/create"), json={"name": "x" * 10_000}, timeout=10
        )
        assert resp.status_code == 413
        body = resp.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "4096" in body["message"] and "--max-request-size" in body["message"]
        assert _create(server).status_code == 200
    finally:
        server.stop()


def test_prometheus_metrics(tmp_path: Path) -> None:
    prom = tmp_path / "prom"
    prom.mkdir()
    (prom / "counter_12345.db").write_bytes(b"stale")  # a previous run's file is wiped
    server = spawn_aiotrack(
        f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path, "--expose-prometheus", str(prom)
    )
    try:
        for _ in range(3):
            assert (
                requests.get(
                    _api(server, "experiments/get"), params={"experiment_id": "0"}, timeout=10
                ).status_code
                == 200
            )
        assert _create(server, Origin="http://evil.example").status_code == 403
        text = requests.get(server.url + "/metrics", timeout=10).text
    finally:
        server.stop()
    assert (
        'mlflow_http_request_total{method="GET",route="/api/2.0/mlflow/experiments/get",status="200"} 3.0'
        in text
    ), text
    assert 'route="/api/2.0/mlflow/experiments/create",status="403"' in text
    assert "mlflow_http_request_duration_seconds_bucket{" in text
    assert "aiotrack_db_write_queue_depth" in text
    assert "aiotrack_db_pool_connections_in_use" in text
    assert 'route="/health"' not in text


@pytest.mark.parametrize("flag", ["--uvicorn-opts", "--waitress-opts"])
def test_other_servers_are_refused_clearly(tmp_path: Path, flag: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aiotrack", "server", "--backend-store-uri",
         f"sqlite:///{tmp_path / 'mlflow.db'}", flag, "--log-level debug"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert flag in proc.stderr
    assert "--workers" in proc.stderr and "--gunicorn-opts" in proc.stderr
