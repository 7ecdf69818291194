"""Malformed artifact paths and experiment locations get 400, never 500 (issue classes:
malformed input, validation gaps).

Paths of hundreds of segments or a 5,000-character segment used to reach the filesystem and
fail there (500); a raw ``#`` in the request target was cut off by the HTTP parser, so
``PUT .../a#b`` wrote ``a``; a 10 MB ``artifact_location`` was stored.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.hostile.cases import Case, check, raw_request
from tests.servers import RunningServer

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
TOO_LONG = "artifact paths are limited to 4096 bytes and 256 segments"

LONG_PATHS = [
    ("segment-256", "d/" + "a" * 256),
    ("segment-5000", "a" * 5000),
    ("segment-utf8-256-bytes", "é" * 128),
    ("path-4097", "/".join(["abcdefg"] * 513)),
    ("segments-2100", "a/" * 2100 + "f"),
    ("segments-257", "a/" * 256 + "f"),
    ("encoded-long", "%61" * 5000),
]


@pytest.mark.parametrize(("name", "path"), LONG_PATHS, ids=[n for n, _ in LONG_PATHS])
def test_overlong_artifact_paths_are_400_everywhere(
    server: RunningServer, name: str, path: str
) -> None:
    for method in ("PUT", "GET", "DELETE"):
        check(
            server,
            Case(
                id=f"{method} {name}",
                method=method,
                path=f"{ARTIFACTS}/{path}",
                data=b"x" if method == "PUT" else None,
                message=TOO_LONG,
            ),
        )
    check(
        server,
        Case(
            id=f"list {name}",
            method="GET",
            path=f"{API}-artifacts/artifacts",
            params={"path": path},
            message=TOO_LONG,
        ),
    )


def test_a_path_too_long_for_the_disk_is_400(server: RunningServer) -> None:
    """Under the limits itself, too long under the server's root: refused before any mkdir."""
    path = "/".join(["d" * 15] * 255) + "/f"
    assert len(path) < 4096
    check(
        server,
        Case(id="PUT deep", method="PUT", path=f"{ARTIFACTS}/{path}", data=b"x", message="Invalid"),
    )
    check(
        server,
        Case(id="GET deep", method="GET", path=f"{ARTIFACTS}/{path}", message="Invalid artifact"),
    )
    # Deleting what cannot exist is a no-op, as for any missing artifact.
    check(
        server,
        Case(
            id="DELETE deep",
            method="DELETE",
            path=f"{ARTIFACTS}/{path}",
            status=200,
            error_code=None,
        ),
    )


def test_the_longest_allowed_path_works(server: RunningServer) -> None:
    path = f"ok-{uuid.uuid4().hex[:8]}/" + "b" * 255
    resp = requests.put(f"{server.url}{ARTIFACTS}/{path}", data=b"fine")
    assert resp.status_code == 200, resp.text
    assert requests.get(f"{server.url}{ARTIFACTS}/{path}").content == b"fine"


def test_a_file_used_as_a_directory_is_400(server: RunningServer) -> None:
    base = f"nd-{uuid.uuid4().hex[:8]}"
    assert requests.put(f"{server.url}{ARTIFACTS}/{base}/file", data=b"x").status_code == 200
    check(
        server,
        Case(
            id="file as directory",
            method="PUT",
            path=f"{ARTIFACTS}/{base}/file/child",
            data=b"y",
            message="Invalid artifact path",
        ),
    )


@pytest.mark.parametrize("method", ["PUT", "DELETE", "GET"])
@pytest.mark.parametrize("target", ["a#b", "dir/x#/../../y", "%23", "a%23b"])
def test_a_hash_in_the_request_target_is_refused(
    server: RunningServer, method: str, target: str
) -> None:
    victim = f"hash-{uuid.uuid4().hex[:8]}"
    host = server.url.split("//", 1)[1]
    body = b"payload" if method == "PUT" else b""
    head = (
        f"{method} {ARTIFACTS}/{victim}/{target} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = raw_request(server, head + body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b'"error_code":"INVALID_PARAMETER_VALUE"' in answer.replace(b" ", b"")
    # Nothing was written under the part before the '#'.
    listed = requests.get(f"{server.url}{API}-artifacts/artifacts", params={"path": victim})
    assert listed.json() == {}, listed.text


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("/tmp/" + "x" * 2049, "The length of the artifact path cannot be greater than 2048"),
        ("s3://b/" + "x" * 10_000_000, "The length of the artifact path cannot be greater than"),
        ("s3://bucket/path#frag", "URL can't include fragments or params"),
        ("https://host/path;p=1", "URL can't include fragments or params"),
        ("s3://bucket/path?x=../..", "Invalid query string"),
        ("s3://bucket/path?x=%252e%252e", "Invalid query string"),
        ("runs:/0123456789abcdef0123456789abcdef/a", "Artifact location cannot be a runs:/ URI"),
    ],
    ids=["2049", "10MB", "fragment", "params", "dotdot-query", "encoded-query", "runs-uri"],
)
def test_experiment_artifact_locations_are_checked_like_mlflow(
    server: RunningServer, location: str, message: str
) -> None:
    name = f"loc-{uuid.uuid4().hex}"
    check(
        server,
        Case(
            id=f"artifact_location {location[:40]}",
            method="POST",
            path=f"{API}/experiments/create",
            json={"name": name, "artifact_location": location},
            message=message,
            timeout=60,
        ),
    )
    resp = requests.get(
        f"{server.url}{API}/experiments/get-by-name", params={"experiment_name": name}
    )
    assert resp.status_code == 404, resp.text


def test_a_2048_character_location_is_accepted(server: RunningServer) -> None:
    # 256 characters: MLflow's schema (experiments.artifact_location VARCHAR(256) on PostgreSQL
    # and MySQL) takes no more, whatever the 2048-character limit allows on SQLite.
    location = "s3://bucket/" + "x" * (256 - len("s3://bucket/"))
    resp = requests.post(
        f"{server.url}{API}/experiments/create",
        json={"name": f"loc-{uuid.uuid4().hex}", "artifact_location": location},
    )
    assert resp.status_code == 200, resp.text
