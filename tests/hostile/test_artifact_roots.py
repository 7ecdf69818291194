"""Local artifact locations are served only under the server's roots (issue class: client-chosen
local locations).

``experiments/create`` accepts any ``artifact_location`` (as MLflow does), but the server itself
reads, lists and writes local paths only under ``--artifacts-destination``,
``--default-artifact-root`` (a ``./mlruns`` backend) and ``--allowed-artifact-roots``: every
other local location is refused with 403 ``PERMISSION_DENIED`` naming the flag, through every
route that reaches the disk (UI download and upload, ``artifacts/list``, model-version
downloads, logged-model listings), whatever ``..`` or symlinks the location hides behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.hostile.cases import Case, check
from tests.hostile.conftest import backend_server
from tests.servers import RunningServer

API = "/api/2.0/mlflow"
SECRET = "top-secret-content"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def confined(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, Path]]:
    """A server on default roots, and a directory outside them holding a secret file."""
    workdir = tmp_path_factory.mktemp(f"roots-{request.param}")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text(SECRET)
    (outside / "sub").mkdir()
    (outside / "sub" / "secret.txt").write_text(SECRET)
    with backend_server(request.param, workdir) as server:
        yield server, outside


def _run_in(server: RunningServer, location: str) -> str:
    resp = requests.post(
        f"{server.url}{API}/experiments/create",
        json={"name": f"e-{uuid.uuid4().hex}", "artifact_location": location},
    )
    assert resp.status_code == 200, resp.text
    exp_id = resp.json()["experiment_id"]
    resp = requests.post(f"{server.url}{API}/runs/create", json={"experiment_id": exp_id})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["run"]["info"]["run_id"])


def _denied(server: RunningServer, case_id: str, method: str, path: str, **kw: Any) -> None:
    check(
        server,
        Case(
            id=case_id,
            method=method,
            path=path,
            status=403,
            error_code="PERMISSION_DENIED",
            message="--allowed-artifact-roots",
            **kw,
        ),
    )


def _locations(server: RunningServer, outside: Path) -> list[tuple[str, str]]:
    destination = Path(server.log_path).parent / "mlartifacts"
    destination.mkdir(exist_ok=True)
    link = destination / f"link-{uuid.uuid4().hex[:6]}"
    link.symlink_to(outside, target_is_directory=True)
    return [
        ("file-uri", outside.as_uri()),
        ("plain-path", str(outside)),
        ("dotdot", f"{destination.as_uri()}/../../../../../../..{outside}"),
        ("symlink-in-root", link.as_uri()),
        ("etc", "file:///etc"),
        ("proc", "/proc/self/cwd"),
    ]


def test_every_route_refuses_a_location_outside_the_roots(
    confined: tuple[RunningServer, Path],
) -> None:
    server, outside = confined
    for name, location in _locations(server, outside):
        run_id = _run_in(server, location)
        _denied(server, f"{name} list", "GET", f"{API}/artifacts/list", params={"run_id": run_id})
        _denied(
            server,
            f"{name} list sub",
            "GET",
            f"{API}/artifacts/list",
            params={"run_id": run_id, "path": "sub"},
        )
        _denied(
            server,
            f"{name} get-artifact",
            "GET",
            "/get-artifact",
            params={"run_id": run_id, "path": "secret.txt"},
        )
        _denied(
            server,
            f"{name} upload",
            "POST",
            "/ajax-api/2.0/mlflow/upload-artifact",
            params={"run_uuid": run_id, "path": "planted.txt"},
            data=b"planted",
        )
    assert not list(outside.rglob("planted.txt"))


def test_model_versions_and_logged_models_outside_the_roots_are_refused(
    confined: tuple[RunningServer, Path],
) -> None:
    server, outside = confined
    run_id = _run_in(server, outside.as_uri())
    name = f"m-{uuid.uuid4().hex[:8]}"
    assert requests.post(f"{server.url}{API}/registered-models/create", json={"name": name}).ok
    # A local source inside the run's artifact directory is a valid source (MLflow's rule)...
    resp = requests.post(
        f"{server.url}{API}/model-versions/create",
        json={"name": name, "source": f"{_artifact_uri(server, run_id)}/model", "run_id": run_id},
    )
    assert resp.status_code == 200, resp.text
    # ... but the server does not read it: the run's root is not one of its own.
    _denied(
        server,
        "model-version get-artifact",
        "GET",
        "/model-versions/get-artifact",
        params={"name": name, "version": "1", "path": "secret.txt"},
    )
    resp = requests.post(
        f"{server.url}{API}/logged-models",
        json={"experiment_id": _experiment_of(server, run_id)},
    )
    assert resp.status_code == 200, resp.text
    model_id = resp.json()["model"]["info"]["model_id"]
    _denied(
        server,
        "logged-model list",
        "GET",
        f"{API}/logged-models/{model_id}/artifacts/directories",
    )


def _artifact_uri(server: RunningServer, run_id: str) -> str:
    resp = requests.get(f"{server.url}{API}/runs/get", params={"run_id": run_id})
    return str(resp.json()["run"]["info"]["artifact_uri"])


def _experiment_of(server: RunningServer, run_id: str) -> str:
    resp = requests.get(f"{server.url}{API}/runs/get", params={"run_id": run_id})
    return str(resp.json()["run"]["info"]["experiment_id"])


def test_a_listed_root_is_served(tmp_path: Path) -> None:
    """``--allowed-artifact-roots`` keeps a database with older local roots working."""
    legacy = tmp_path / "legacy-artifacts"
    (legacy / "1" / "abc" / "artifacts").mkdir(parents=True)
    (legacy / "1" / "abc" / "artifacts" / "model.txt").write_text("weights")
    other = tmp_path / "other"
    other.mkdir()
    (other / "secret.txt").write_text(SECRET)
    roots = f"{legacy},{(tmp_path / 'spare').as_uri()}"
    with backend_server("sqlite", tmp_path, "--allowed-artifact-roots", roots) as server:
        run_id = _run_in(server, f"{legacy.as_uri()}/1")
        # The run's artifact root is <location>/<run_id>/artifacts: give it a file.
        resp = requests.get(f"{server.url}{API}/runs/get", params={"run_id": run_id})
        artifact_uri = resp.json()["run"]["info"]["artifact_uri"]
        assert artifact_uri.startswith(legacy.as_uri())
        resp = requests.post(
            f"{server.url}/ajax-api/2.0/mlflow/upload-artifact",
            params={"run_uuid": run_id, "path": "notes.txt"},
            data=b"hello",
        )
        assert resp.status_code == 200, resp.text
        resp = requests.get(
            f"{server.url}/get-artifact", params={"run_id": run_id, "path": "notes.txt"}
        )
        assert resp.status_code == 200 and resp.content == b"hello"
        listed = requests.get(f"{server.url}{API}/artifacts/list", params={"run_id": run_id})
        assert [f["path"] for f in listed.json()["files"]] == ["notes.txt"]
        # A sibling directory that is not listed stays refused.
        _denied(
            server,
            "unlisted sibling",
            "GET",
            "/get-artifact",
            params={"run_id": _run_in(server, other.as_uri()), "path": "secret.txt"},
        )


def test_the_refusal_says_which_flag_to_use(confined: tuple[RunningServer, Path]) -> None:
    server, outside = confined
    run_id = _run_in(server, outside.as_uri())
    resp = requests.get(f"{server.url}{API}/artifacts/list", params={"run_id": run_id})
    assert resp.status_code == 403
    message = resp.json()["message"]
    assert "--allowed-artifact-roots" in message, message
    assert outside.as_uri() in message, message
