"""The real mlflow 3.17.2 client logging, listing, downloading and deleting artifacts.

Every test runs against a server whose ``--artifacts-destination`` is a local directory and one
whose destination is S3 (moto's server over HTTP), and checks where the bytes really landed.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
import requests
from mlflow.tracking import MlflowClient

from tests.artifacts.conftest import BUCKET, ArtifactServer, Moto

pytestmark = pytest.mark.compat


def _stored(server: ArtifactServer, moto: Moto | None, relative: str) -> bytes | None:
    """The bytes the destination holds at ``relative`` (None when absent)."""
    if server.kind == "local":
        path = Path(server.destination) / relative
        return path.read_bytes() if path.is_file() else None
    assert moto is not None
    prefix = server.destination.removeprefix(f"s3://{BUCKET}/")
    try:
        obj = moto.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{relative}")
    except Exception:
        return None
    data: bytes = obj["Body"].read()
    return data


@pytest.fixture
def moto_or_none(artifact_server: ArtifactServer, request: pytest.FixtureRequest) -> Moto | None:
    if artifact_server.kind != "s3":
        return None
    moto: Moto = request.getfixturevalue("moto_s3")
    return moto


@pytest.fixture
def client(artifact_server: ArtifactServer) -> MlflowClient:
    return MlflowClient(tracking_uri=artifact_server.url)


@pytest.fixture
def run_id(client: MlflowClient) -> str:
    experiment = client.create_experiment(f"art-{uuid.uuid4().hex}")
    return client.create_run(experiment).info.run_id


def _tree(root: Path) -> dict[str, bytes]:
    files = {
        "model/MLmodel": b"flavors: {}\n",
        "model/data/weights.bin": os.urandom(300_000),
        "model/data/deeper/config.json": b'{"a": 1}',
        "plots/loss.svg": b"<svg onload=alert(1)></svg>",
        "notes.txt": "héllo wörld\n".encode(),
        "empty.txt": b"",
    }
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return files


def test_log_artifact_lands_in_destination(
    client: MlflowClient,
    run_id: str,
    artifact_server: ArtifactServer,
    moto_or_none: Moto | None,
    tmp_path: Path,
) -> None:
    run = client.get_run(run_id)
    assert run.info.artifact_uri == f"mlflow-artifacts:/{run.info.experiment_id}/{run_id}/artifacts"
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello artifacts")
    client.log_artifact(run_id, str(source))
    client.log_artifact(run_id, str(source), artifact_path="sub/dir")
    prefix = f"{run.info.experiment_id}/{run_id}/artifacts"
    assert _stored(artifact_server, moto_or_none, f"{prefix}/hello.txt") == b"hello artifacts"
    assert _stored(artifact_server, moto_or_none, f"{prefix}/sub/dir/hello.txt") == (
        b"hello artifacts"
    )


def test_log_artifacts_tree_list_and_download(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    files = _tree(tmp_path / "src")
    client.log_artifacts(run_id, str(tmp_path / "src"))

    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in top] == [
        ("empty.txt", False),
        ("model", True),
        ("notes.txt", False),
        ("plots", True),
    ]
    assert {f.path: f.file_size for f in top if not f.is_dir} == {
        "empty.txt": 0,
        "notes.txt": len(files["notes.txt"]),
    }
    data = client.list_artifacts(run_id, "model/data")
    assert [(f.path, f.is_dir, f.file_size) for f in data] == [
        ("model/data/deeper", True, None),
        ("model/data/weights.bin", False, 300_000),
    ]
    # Listing a file is empty (the client checks this to tell files from directories).
    assert client.list_artifacts(run_id, "notes.txt") == []
    assert client.list_artifacts(run_id, "missing") == []

    one = client.download_artifacts(run_id, "model/data/weights.bin", str(tmp_path / "one"))
    assert Path(one).read_bytes() == files["model/data/weights.bin"]

    # A directory: the whole subtree, byte for byte. (An empty path would make the 3.x client
    # look for logged models first, a different issue's API.)
    model = Path(client.download_artifacts(run_id, "model", str(tmp_path / "model")))
    got = {
        f"model/{p.relative_to(model).as_posix()}": p.read_bytes()
        for p in model.rglob("*")
        if p.is_file()
    }
    assert got == {k: v for k, v in files.items() if k.startswith("model/")}


def test_delete_through_rest(
    client: MlflowClient,
    run_id: str,
    artifact_server: ArtifactServer,
    moto_or_none: Moto | None,
    tmp_path: Path,
) -> None:
    _tree(tmp_path / "src")
    client.log_artifacts(run_id, str(tmp_path / "src"))
    run = client.get_run(run_id)
    prefix = f"{run.info.experiment_id}/{run_id}/artifacts"
    api = f"{artifact_server.url}/api/2.0/mlflow-artifacts/artifacts"

    resp = requests.delete(f"{api}/{prefix}/notes.txt", timeout=30)
    assert resp.status_code == 200 and resp.json() == {}
    assert _stored(artifact_server, moto_or_none, f"{prefix}/notes.txt") is None

    resp = requests.delete(f"{api}/{prefix}/model", timeout=30)
    assert resp.status_code == 200
    assert [f.path for f in client.list_artifacts(run_id)] == ["empty.txt", "plots"]
    assert _stored(artifact_server, moto_or_none, f"{prefix}/model/data/weights.bin") is None
    # Deleting what is not there is not an error (as MLflow).
    assert requests.delete(f"{api}/{prefix}/model", timeout=30).status_code == 200


def test_download_headers_and_ranges(
    client: MlflowClient, run_id: str, artifact_server: ArtifactServer, tmp_path: Path
) -> None:
    _tree(tmp_path / "src")
    client.log_artifacts(run_id, str(tmp_path / "src"))
    run = client.get_run(run_id)
    base = (
        f"{artifact_server.url}/api/2.0/mlflow-artifacts/artifacts/"
        f"{run.info.experiment_id}/{run_id}/artifacts"
    )
    weights = (tmp_path / "src/model/data/weights.bin").read_bytes()

    resp = requests.get(f"{base}/model/data/weights.bin", timeout=30)
    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == str(len(weights))
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="weights.bin"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.content == weights

    part = requests.get(
        f"{base}/model/data/weights.bin", headers={"Range": "bytes=100-199"}, timeout=30
    )
    assert part.status_code == 206
    assert part.headers["Content-Length"] == "100"
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(weights)}"
    assert part.content == weights[100:200]
    tail = requests.get(
        f"{base}/model/data/weights.bin", headers={"Range": "bytes=-10"}, timeout=30
    )
    assert tail.status_code == 206 and tail.content == weights[-10:]
    beyond = requests.get(
        f"{base}/model/data/weights.bin", headers={"Range": "bytes=999999999-"}, timeout=30
    )
    assert beyond.status_code == 416

    # Active content is never served as itself.
    svg = requests.get(f"{base}/plots/loss.svg", timeout=30)
    assert svg.headers["Content-Type"].startswith("text/plain")
    assert svg.headers["Content-Disposition"].startswith("attachment")
    text = requests.get(f"{base}/notes.txt", timeout=30)
    assert text.headers["Content-Type"].startswith("text/plain")

    directory = requests.get(f"{base}/model", timeout=30)
    assert directory.status_code == 400
    assert directory.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = requests.get(f"{base}/nope.txt", timeout=30)
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    ui = requests.get(
        f"{artifact_server.url}/get-artifact",
        params={"run_id": run_id, "path": "model/MLmodel"},
        timeout=30,
    )
    assert ui.status_code == 200 and ui.content == b"flavors: {}\n"
    assert ui.headers["Content-Type"].startswith("text/plain")


def test_ui_upload_artifact(
    client: MlflowClient, run_id: str, artifact_server: ArtifactServer
) -> None:
    url = f"{artifact_server.url}/ajax-api/2.0/mlflow/upload-artifact"
    resp = requests.post(url, params={"run_uuid": run_id, "path": "ui/x.txt"}, data=b"from ui")
    assert resp.status_code == 200, resp.text
    assert [f.path for f in client.list_artifacts(run_id, "ui")] == ["ui/x.txt"]
    too_big = requests.post(
        url, params={"run_uuid": run_id, "path": "ui/big.bin"}, data=b"\0" * (10 * 1024 * 1024 + 1)
    )
    assert too_big.status_code == 400
    assert [f.path for f in client.list_artifacts(run_id, "ui")] == ["ui/x.txt"]


def test_large_streamed_upload_roundtrip(
    client: MlflowClient, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 40 MB file crosses several S3 part boundaries (server-side streaming multipart)."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "false")
    source = tmp_path / "big.bin"
    with source.open("wb") as f:
        for _ in range(40):
            f.write(os.urandom(1024 * 1024))
    client.log_artifact(run_id, str(source))
    out = Path(client.download_artifacts(run_id, "big.bin", str(tmp_path / "out")))
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()


def test_s3_presigned_multipart_upload_and_download(
    s3_server: ArtifactServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """server-info advertises multipart for S3; the client then uploads parts straight to S3."""
    info = requests.get(f"{s3_server.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert info["multipart_uploads_enabled"] is True
    assert info["multipart_downloads_enabled"] is True
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 * 1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * 1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(4 * 1024 * 1024))
    client = MlflowClient(tracking_uri=s3_server.url)
    run_id = client.create_run(client.create_experiment(f"mpu-{uuid.uuid4().hex}")).info.run_id
    source = tmp_path / "parts.bin"
    source.write_bytes(os.urandom(12 * 1024 * 1024))
    client.log_artifact(run_id, str(source), "m")
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "m")] == [
        ("m/parts.bin", 12 * 1024 * 1024)
    ]
    out = Path(client.download_artifacts(run_id, "m/parts.bin", str(tmp_path / "out")))
    assert out.read_bytes() == source.read_bytes()


def test_local_destination_refuses_multipart(local_server: ArtifactServer) -> None:
    info = requests.get(f"{local_server.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert info["multipart_uploads_enabled"] is False
    resp = requests.post(
        f"{local_server.url}/api/2.0/mlflow-artifacts/mpu/create/0/x",
        json={"path": "/tmp/f.bin", "num_parts": 2},
        timeout=30,
    )
    assert resp.status_code == 501
    assert resp.json()["message"] == (
        "Multipart upload is not supported for the current artifact repository"
    )


def test_s3_run_root_not_proxied(s3_server: ArtifactServer, moto_s3: Moto, tmp_path: Path) -> None:
    """An experiment rooted at s3:// directly: the client writes to S3, the server lists it."""
    client = MlflowClient(tracking_uri=s3_server.url)
    location = f"s3://{BUCKET}/direct-{uuid.uuid4().hex[:8]}"
    experiment = client.create_experiment(f"direct-{uuid.uuid4().hex}", artifact_location=location)
    run_id = client.create_run(experiment).info.run_id
    _tree(tmp_path / "src")
    client.log_artifacts(run_id, str(tmp_path / "src"))
    listed = client.list_artifacts(run_id, "model")
    assert [(f.path, f.is_dir) for f in listed] == [("model/MLmodel", False), ("model/data", True)]
    resp = requests.get(
        f"{s3_server.url}/get-artifact", params={"run_id": run_id, "path": "notes.txt"}, timeout=30
    )
    assert resp.status_code == 200
    assert resp.content == "héllo wörld\n".encode()
    assert "filename=" in resp.headers["Content-Disposition"]
