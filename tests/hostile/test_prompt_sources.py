"""Prompt versions never point the artifact routes at a file (issue class: arbitrary file read).

A model version tagged ``mlflow.prompt.is_prompt=true`` used to skip every source check, so a
source such as ``file:///etc`` let ``/model-versions/get-artifact`` return any file the server
could read. MLflow 3.18 accepts only a prompt placeholder as a prompt's source; aiotrack does
the same, and never opens the source of a prompt version, even one an older server stored.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
import requests

from tests.hostile.cases import Case, check
from tests.servers import RunningServer

API = "/api/2.0/mlflow"
PROMPT = {"key": "mlflow.prompt.is_prompt", "value": "true"}
HOSTILE_SOURCES = [
    "file:///etc",
    "file:///etc/passwd",
    "/etc",
    "/proc/self/cwd",
    "/proc/self/root/etc/passwd",
    "file://localhost/etc",
    "dummy-source/../../etc",
    "./mlflow.db",
    "mlflow.db",
    "mlflow-artifacts:/",
    "runs:/0123456789abcdef0123456789abcdef/model",
    "models:/m/1",
    "s3://bucket/key",
    "",
]


def _model(server: RunningServer) -> str:
    name = f"p-{uuid.uuid4().hex[:8]}"
    resp = requests.post(f"{server.url}{API}/registered-models/create", json={"name": name})
    assert resp.status_code == 200, resp.text
    return name


@pytest.mark.parametrize("source", HOSTILE_SOURCES)
def test_a_prompt_version_needs_a_placeholder_source(server: RunningServer, source: str) -> None:
    name = _model(server)
    check(
        server,
        Case(
            id=f"prompt source {source!r}",
            method="POST",
            path=f"{API}/model-versions/create",
            json={"name": name, "source": source, "tags": [PROMPT]},
            message="Missing value for required parameter 'source'"
            if not source
            else "Prompt sources must use an MLflow placeholder",
        ),
    )
    # Nothing was registered.
    resp = requests.get(
        f"{server.url}{API}/model-versions/get", params={"name": name, "version": "1"}
    )
    assert resp.status_code == 404, resp.text


@pytest.mark.parametrize(
    "tags",
    [
        [{"key": "mlflow.prompt.is_prompt", "value": "TRUE"}],
        [{"key": "mlflow.prompt.is_prompt", "value": "false"}, PROMPT],  # the last value wins
    ],
    ids=["upper-case", "last-wins"],
)
def test_every_spelling_of_the_prompt_tag_is_checked(
    server: RunningServer, tags: list[dict[str, str]]
) -> None:
    name = _model(server)
    check(
        server,
        Case(
            id="prompt tag spelling",
            method="POST",
            path=f"{API}/model-versions/create",
            json={"name": name, "source": "file:///etc", "tags": tags},
            message="Invalid prompt source",
        ),
    )


def test_a_false_prompt_tag_gets_the_model_source_checks(server: RunningServer) -> None:
    name = _model(server)
    tags = [PROMPT, {"key": "mlflow.prompt.is_prompt", "value": "false"}]
    check(
        server,
        Case(
            id="not a prompt",
            method="POST",
            path=f"{API}/model-versions/create",
            json={"name": name, "source": "file:///etc", "tags": tags},
            message="To use a local path as a model version source",
        ),
    )


@pytest.mark.parametrize("placeholder", ["dummy-source", "prompt-template"])
def test_a_placeholder_prompt_registers_and_has_no_artifacts(
    server: RunningServer, placeholder: str
) -> None:
    name = _model(server)
    resp = requests.post(
        f"{server.url}{API}/model-versions/create",
        json={"name": name, "source": placeholder, "tags": [PROMPT]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["model_version"]["source"] == placeholder
    for path in ["x", "mlflow.db", "passwd"]:
        check(
            server,
            Case(
                id=f"prompt artifact {path}",
                method="GET",
                path="/model-versions/get-artifact",
                params={"name": name, "version": "1", "path": path},
                message="is a prompt version",
            ),
        )


def test_a_hostile_prompt_row_from_an_older_server_is_never_opened(tmp_path: Path) -> None:
    """A row written before the check (source ``file:///etc``) serves nothing."""
    from tests.hostile.conftest import backend_server

    with backend_server("sqlite", tmp_path) as server:
        name = _model(server)
        resp = requests.post(
            f"{server.url}{API}/model-versions/create",
            json={"name": name, "source": "dummy-source", "tags": [PROMPT]},
        )
        assert resp.status_code == 200, resp.text
        # What an unpatched server let through: point the stored row at the filesystem.
        with sqlite3.connect(tmp_path / "mlflow.db") as db:
            db.execute(
                "UPDATE model_versions SET source = ?, storage_location = ? WHERE name = ?",
                ("file:///etc", "file:///etc", name),
            )
        for path in ["passwd", "hostname", "../" * 8 + "etc/passwd"]:
            resp = requests.get(
                f"{server.url}/model-versions/get-artifact",
                params={"name": name, "version": "1", "path": path},
            )
            assert resp.status_code == 400, resp.text
            assert "root:" not in resp.text
