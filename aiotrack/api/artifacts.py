"""``artifacts/list`` and the presigned-URL RPCs of the tracking service.

A run whose artifact root is ``mlflow-artifacts:/...`` is listed from ``--artifacts-destination``
when the server serves artifacts; a local (``file:`` or plain path) root is listed directly.
Other schemes (S3, ...) arrive with the artifacts issue and answer 501 until then.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiohttp import web

from aiotrack.api.codec import json_response
from aiotrack.api.messages import Message, run_id_field, string
from aiotrack.artifacts.paths import confine, validate_relative_path
from aiotrack.errors import NotImplementedFeature
from aiotrack.keys import CONFIG, TRACKING_STORE

__all__ = ["routes"]


@dataclass(frozen=True, slots=True)
class ListArtifacts(Message):
    run_id: str = run_id_field()
    path: str | None = string()
    page_token: str | None = string()


routes = web.RouteTableDef()


def _local_root(artifact_uri: str, destination: str, serve_artifacts: bool) -> Path | None:
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "mlflow-artifacts":
        if not serve_artifacts:
            return None
        dest = urlparse(destination)
        base = dest.path if dest.scheme == "file" else destination
        if dest.scheme not in ("", "file"):
            return None
        return Path(base) / parsed.path.lstrip("/")
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(artifact_uri)
    return None


def _list_dir(root: Path, relative: str | None) -> list[dict[str, Any]]:
    directory = confine(root, relative) if root.exists() else root
    if not directory.is_dir():
        return []
    files: list[dict[str, Any]] = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        rel = posixpath.join(relative, entry.name) if relative else entry.name
        if entry.is_dir():
            files.append({"path": rel, "is_dir": True})
        else:
            files.append({"path": rel, "is_dir": False, "file_size": entry.stat().st_size})
    return files


@routes.get("/mlflow/artifacts/list")
async def list_artifacts(request: web.Request) -> web.Response:
    msg = await ListArtifacts.from_request(request)
    relative = validate_relative_path(msg.path) if msg.path else None
    run = await request.app[TRACKING_STORE].get_run(msg.run_id)
    uri = run.info.artifact_uri or ""
    config = request.app[CONFIG]
    root = _local_root(uri, config.artifacts_destination, config.serve_artifacts)
    if root is None:
        raise NotImplementedFeature(
            f"Listing artifacts stored at '{uri}' is not supported by this aiotrack version yet."
        )
    files = await asyncio.to_thread(_list_dir, root, relative)
    body: dict[str, Any] = {"root_uri": uri}
    if files:
        body["files"] = files
    return json_response(body)


@routes.post("/mlflow/artifacts/presigned-upload-url")
async def presigned_upload_url(request: web.Request) -> web.Response:
    raise NotImplementedFeature(
        "Presigned upload is not supported for the current artifact repository"
    )


@routes.post("/mlflow/artifacts/presigned-download-url")
async def presigned_download_url(request: web.Request) -> web.Response:
    raise NotImplementedFeature(
        "Presigned download is not supported for the current artifact repository"
    )
