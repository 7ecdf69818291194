"""Host allow-list: only real IP literals count as addresses (DNS rebinding).

Before, ``Host: 10.0.0.1.evil.example`` matched the default ``10.*`` pattern (fnmatch on the
raw header, as MLflow 3.17.2 does): an attacker's DNS name that starts like a private address
passed the DNS-rebinding check. Now address patterns and CIDR networks match IP literals only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.hostile.conftest import backend_server
from tests.servers import RunningServer

PATH = "/api/2.0/mlflow/experiments/get"
ALLOWED, REFUSED = 200, 403


def _status(server: RunningServer, host: str) -> int:
    resp = requests.get(
        server.url + PATH, params={"experiment_id": "0"}, headers={"Host": host}, timeout=10
    )
    return resp.status_code


DEFAULT_TABLE = [
    ("10.0.0.1", ALLOWED),
    ("10.0.0.1:5000", ALLOWED),
    ("172.16.0.1", ALLOWED),
    ("192.168.1.20:80", ALLOWED),
    ("[fd00::1]:5000", ALLOWED),
    ("localhost:5000", ALLOWED),
    ("10.0.0.1.evil.example", REFUSED),
    ("10.0.0.1.evil.example:5000", REFUSED),
    ("192.168.1.1.nip.io", REFUSED),
    ("172.16.0.1.attacker.test", REFUSED),
    ("10.evil.example", REFUSED),
    ("fd00.evil.example", REFUSED),
    ("10.0.0.1:notaport", REFUSED),
    ("10.0.0.1:99999", REFUSED),
    ("[10.0.0.1]", REFUSED),
    ("172.32.0.1", REFUSED),
]

FLAG_TABLE = [
    ("10.1.2.3", ALLOWED),  # in 10.0.0.0/8
    ("10.1.2.3:8080", ALLOWED),
    ("[2001:db8::5]:80", ALLOWED),  # in 2001:db8::/32
    ("192.168.7.7", ALLOWED),  # "192.168.7.*"
    ("mlflow.example.com", ALLOWED),
    ("10.1.2.3.evil.example", REFUSED),
    ("192.168.7.7.evil.example", REFUSED),
    ("192.168.8.1", REFUSED),
    ("11.0.0.1", REFUSED),
]


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with backend_server("sqlite", tmp_path_factory.mktemp("hosts-default")) as running:
        yield running


@pytest.fixture(scope="module")
def flag_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    hosts = "10.0.0.0/8,2001:db8::/32,192.168.7.*,mlflow.example.com"
    workdir: Path = tmp_path_factory.mktemp("hosts-flag")
    with backend_server("sqlite", workdir, "--allowed-hosts", hosts) as running:
        yield running


@pytest.mark.parametrize(("host", "status"), DEFAULT_TABLE, ids=[h for h, _ in DEFAULT_TABLE])
def test_default_allow_list(default_server: RunningServer, host: str, status: int) -> None:
    assert _status(default_server, host) == status


@pytest.mark.parametrize(("host", "status"), FLAG_TABLE, ids=[h for h, _ in FLAG_TABLE])
def test_allowed_hosts_flag(flag_server: RunningServer, host: str, status: int) -> None:
    assert _status(flag_server, host) == status
