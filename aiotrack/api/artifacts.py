"""Run-artifact routes of the tracking service and the UI's artifact routes (reference §9.4).

* ``/mlflow/artifacts/list`` (under ``/api/2.0`` and ``/ajax-api/2.0``): a run's artifacts, from
  the proxy destination for ``mlflow-artifacts:`` roots, else from the root's own storage
  (local path, ``file:``, ``s3://``).
* ``/mlflow/artifacts/presigned-{upload,download}-url``: direct-to-storage URLs for runs whose
  root is in S3; 501 for local roots, 400 for proxied roots (as MLflow).
* ``/get-artifact``, ``/model-versions/get-artifact``: downloads for the UI, always as attachments.
* ``/ajax-api/2.0/mlflow/upload-artifact``: the UI's small-file upload (at most 10 MB).
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from aiotrack.api.artifact_proxy import read_body, send_artifact
from aiotrack.api.codec import json_response
from aiotrack.api.messages import Message, int64, run_id_field, string
from aiotrack.artifacts.base import ArtifactRepository
from aiotrack.artifacts.paths import INVALID_PATH, validate_relative_path
from aiotrack.errors import InvalidParameter, NotImplementedFeature
from aiotrack.keys import ARTIFACT_STORAGE, REGISTRY_STORE, TRACKING_STORE
from aiotrack.store.sql.registry_search import IS_PROMPT_TAG

__all__ = ["UPLOAD_LIMIT", "add_ui_routes", "routes"]

#: Largest file the UI may upload through ``upload-artifact`` (MLflow's limit).
UPLOAD_LIMIT = 10 * 1024 * 1024
_TOO_LARGE = "Artifact size is too large. Max size is 10MB."
_PROXIED_SCHEMES = ("http", "https", "mlflow-artifacts")


@dataclass(frozen=True, slots=True)
class ListArtifacts(Message):
    run_id: str = run_id_field()
    path: str | None = string()
    page_token: str | None = string()


@dataclass(frozen=True, slots=True)
class PresignedUploadUrl(Message):
    run_id: str | None = string()
    model_id: str | None = string()
    path: str = string(required=True)
    expiration: int | None = int64()


@dataclass(frozen=True, slots=True)
class PresignedDownloadUrl(Message):
    run_id: str = string(required=True)
    path: str = string(required=True)
    expiration: int | None = int64()


routes = web.RouteTableDef()


async def _run_repository(request: web.Request, run_id: str) -> tuple[str, ArtifactRepository]:
    run = await request.app[TRACKING_STORE].get_run(run_id)
    uri = run.info.artifact_uri or ""
    return uri, await request.app[ARTIFACT_STORAGE].for_artifact_uri(uri)


@routes.get("/mlflow/artifacts/list")
async def list_artifacts(request: web.Request) -> web.Response:
    """``{root_uri, files}``: the immediate children of ``path`` in the run's artifact root."""
    msg = await ListArtifacts.from_request(request)
    relative = validate_relative_path(msg.path) if msg.path else None
    uri, repo = await _run_repository(request, msg.run_id)
    files = await repo.listdir(relative)
    body: dict[str, Any] = {"root_uri": uri}
    if files:
        body["files"] = [info.to_json() for info in files]
    return json_response(body)


def _direct_root(uri: str, what: str) -> None:
    scheme = urlparse(uri).scheme
    if scheme in _PROXIED_SCHEMES:
        raise InvalidParameter(
            f"Presigned {what} is not supported for proxied artifact storage "
            f"(artifact URI scheme: {scheme}). This endpoint requires a direct cloud storage "
            "artifact URI."
        )


@routes.post("/mlflow/artifacts/presigned-upload-url")
async def presigned_upload_url(request: web.Request) -> web.Response:
    """A URL the client PUTs one run artifact to, straight into S3."""
    msg = await PresignedUploadUrl.from_request(request)
    if bool(msg.run_id) == bool(msg.model_id):
        raise InvalidParameter("Exactly one of run_id and model_id must be provided.")
    if msg.model_id:
        raise NotImplementedFeature("Presigned upload of logged-model artifacts is not supported")
    path = validate_relative_path(msg.path)
    run = await request.app[TRACKING_STORE].get_run(msg.run_id or "")
    uri = run.info.artifact_uri or ""
    _direct_root(uri, "upload")
    repo = await request.app[ARTIFACT_STORAGE].open(uri)
    presigned = await repo.presigned_upload(path, msg.expiration or 900)
    return json_response({"presigned_url": presigned.url, "headers": presigned.headers})


@routes.post("/mlflow/artifacts/presigned-download-url")
async def presigned_download_url(request: web.Request) -> web.Response:
    """A URL the client GETs one run artifact from, straight from S3."""
    msg = await PresignedDownloadUrl.from_request(request)
    path = validate_relative_path(msg.path)
    expiration = 300 if msg.expiration is None else msg.expiration
    if not 1 <= expiration <= 604800:
        raise InvalidParameter(
            f"expiration must be between 1 and 604800 seconds (got {expiration})."
        )
    run = await request.app[TRACKING_STORE].get_run(msg.run_id)
    uri = run.info.artifact_uri or ""
    _direct_root(uri, "download")
    repo = await request.app[ARTIFACT_STORAGE].open(uri)
    presigned = await repo.presigned_download(path, expiration)
    body: dict[str, Any] = {"presigned_url": presigned.url, "headers": presigned.headers}
    if presigned.file_size is not None:
        body["file_size"] = presigned.file_size
    return json_response(body)


# --- UI routes -------------------------------------------------------------------------------


def _required_query(request: web.Request, *names: str) -> str:
    for name in names:
        value = request.query.get(name)
        if value:
            return value
    raise InvalidParameter(f"Missing value for required parameter '{names[0]}'.")


async def get_artifact(request: web.Request) -> web.StreamResponse:
    """``GET /get-artifact?run_id=&path=``: one run artifact as an attachment."""
    run_id = _required_query(request, "run_id", "run_uuid")
    path = validate_relative_path(_required_query(request, "path"))
    _, repo = await _run_repository(request, run_id)
    return await send_artifact(request, repo, path)


async def _model_version_uri(request: web.Request, name: str, version: str) -> str:
    """The version's download URI, from the registry store (wherever it lives).

    A prompt version has no artifacts: its source is a placeholder (checked when it is
    created), and one written by an older server is never opened as a location.
    """
    if not name:
        raise InvalidParameter("Registered model name cannot be empty.")
    mv = await request.app[REGISTRY_STORE].get_model_version(name, version)
    tags = {t.key: t.value for t in mv.tags}
    if tags.get(IS_PROMPT_TAG, "false").lower() == "true":
        raise InvalidParameter(
            f"Model version {version} of '{name}' is a prompt version, which has no artifacts."
        )
    return str(mv.storage_location or mv.source or "")


async def get_model_version_artifact(request: web.Request) -> web.StreamResponse:
    """``GET /model-versions/get-artifact?name=&version=&path=``: a model version's file."""
    name = request.query.get("name", "")
    version = request.query.get("version", "")
    path = validate_relative_path(_required_query(request, "path"))
    uri = await _model_version_uri(request, name, version)
    repo = await request.app[ARTIFACT_STORAGE].for_artifact_uri(uri)
    return await send_artifact(request, repo, path)


async def _limited(request: web.Request) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in read_body(request):
        seen += len(chunk)
        if seen > UPLOAD_LIMIT:
            raise InvalidParameter(_TOO_LARGE)
        yield chunk


async def upload_artifact(request: web.Request) -> web.Response:
    """``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=``: body -> run artifact."""
    run_id = request.query.get("run_uuid") or request.query.get("run_id")
    if not run_id:
        raise InvalidParameter("Request must specify run_uuid.")
    raw = request.query.get("path")
    if not raw:
        raise InvalidParameter("Request must specify path.")
    path = validate_relative_path(raw)
    if not path or posixpath.basename(path) != posixpath.basename(raw.rstrip("/")):
        raise InvalidParameter(INVALID_PATH)
    length = request.content_length
    if length is not None and length > UPLOAD_LIMIT:
        raise InvalidParameter(_TOO_LARGE)
    if length == 0 or (length is None and not request.body_exists):
        raise InvalidParameter("Request must specify data.")
    _, repo = await _run_repository(request, run_id)
    written = await repo.write(path, _limited(request))
    if written == 0:
        await repo.delete(path)
        raise InvalidParameter("Request must specify data.")
    return json_response({})


def add_ui_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """Register the UI's artifact routes (they live outside the ``/api`` trees)."""
    router.add_get(f"{prefix}/get-artifact", get_artifact)
    router.add_get(f"{prefix}/model-versions/get-artifact", get_model_version_artifact)
    router.add_post(f"{prefix}/ajax-api/2.0/mlflow/upload-artifact", upload_artifact)
