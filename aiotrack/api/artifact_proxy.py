"""The artifact proxy (reference §4.5, §9.3): ``/api/2.0/mlflow-artifacts/...`` and its ajax twin.

Every route reads and writes the ``--artifacts-destination`` repository (``ARTIFACT_STORAGE``)
in `CHUNK_SIZE` pieces. Every path goes through `validate_relative_path` (and the repository's
own confinement) before storage is touched. With ``--no-serve-artifacts`` every route answers
MLflow's 503 text. Downloads are always attachments, never active content (`send_artifact`).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from aiotrack.api import bodies
from aiotrack.api.codec import json_response
from aiotrack.artifacts.base import CHUNK_SIZE, ArtifactRepository, RangeNotSatisfiable
from aiotrack.artifacts.headers import content_disposition, content_type
from aiotrack.artifacts.local import LocalArtifactRepository
from aiotrack.artifacts.paths import INVALID_PATH, validate_relative_path
from aiotrack.artifacts.splice import detach_body
from aiotrack.errors import InvalidParameter
from aiotrack.keys import ARTIFACT_STORAGE, CONFIG

__all__ = [
    "artifacts_only_middleware",
    "read_body",
    "routes",
    "send_artifact",
]

routes = web.RouteTableDef()

#: Seconds a presigned download URL stays valid (MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS).
PRESIGNED_TTL = int(os.environ.get("MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS", "300") or 300)


def _attachment_headers(name: str) -> dict[str, str]:
    return {
        "Content-Type": content_type(name),
        "Content-Disposition": content_disposition(name),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
        # Even if a browser rendered it, nothing active may run on our origin.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }


class _PlainFileResponse(web.FileResponse):
    """``FileResponse`` (sendfile, ``Range``, conditional GET) minus precompressed siblings.

    aiohttp would answer a request for ``x`` with ``x.gz`` when the client accepts gzip and that
    file exists; for artifacts that would serve a different artifact.
    """

    def _get_file_path_stat_encoding(
        self, accept_encoding: str
    ) -> tuple[Path | None, os.stat_result, str | None]:
        return super()._get_file_path_stat_encoding("")


async def send_artifact(
    request: web.Request, repo: ArtifactRepository, path: str
) -> web.StreamResponse:
    """Stream artifact ``path`` of ``repo`` as an attachment, honouring ``Range``.

    400 for a directory or a bad path, 404 when missing, 416 for an unsatisfiable range.
    """
    rel = validate_relative_path(path)
    if not rel:
        raise InvalidParameter(INVALID_PATH)
    headers = _attachment_headers(rel)
    local = await repo.local_file(rel)
    if local is not None:
        return _PlainFileResponse(local, chunk_size=CHUNK_SIZE, headers=headers)
    try:
        stream = await repo.open_read(rel, request.headers.get("Range"))
    except RangeNotSatisfiable as exc:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{exc.size}"})
    response = web.StreamResponse(status=206 if stream.partial else 200, headers=headers)
    response.headers["Accept-Ranges"] = "bytes"
    response.content_length = stream.length
    if stream.partial:
        end = stream.start + stream.length - 1
        response.headers["Content-Range"] = f"bytes {stream.start}-{end}/{stream.size}"
    if stream.etag:
        response.headers["ETag"] = f'"{stream.etag}"'
    try:
        await response.prepare(request)
        async for chunk in stream.chunks:
            await response.write(chunk)
    finally:
        await stream.aclose()
    await response.write_eof()
    return response


async def read_body(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (no buffering beyond aiohttp's socket reads)."""
    async for chunk in request.content.iter_any():
        yield chunk


# --- gating --------------------------------------------------------------------------------


def _disabled(request: web.Request, reason: str, fix: str) -> web.Response:
    route = request.match_info.route.resource
    rule = route.canonical if route is not None else request.path
    return web.Response(
        status=503,
        text=f"Endpoint: {rule} disabled due to the mlflow server running {reason}. {fix}",
    )


def _destination(request: web.Request) -> ArtifactRepository | None:
    if not request.app[CONFIG].serve_artifacts:
        return None
    return request.app[ARTIFACT_STORAGE].destination


def _not_serving(request: web.Request) -> web.Response:
    return _disabled(
        request,
        "with `--no-serve-artifacts`",
        "To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`",
    )


#: Paths (after ``--static-prefix``) that stay up in ``--artifacts-only`` mode.
_ARTIFACTS_ONLY_ALLOWED = (
    "/api/2.0/mlflow-artifacts/",
    "/ajax-api/2.0/mlflow-artifacts/",
    "/api/3.0/mlflow/server-info",
    "/ajax-api/3.0/mlflow/server-info",
)
_TRACKING_PATHS = ("/api/", "/ajax-api/", "/get-artifact", "/model-versions/")


@web.middleware
async def artifacts_only_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """In ``--artifacts-only`` mode, tracking and registry routes answer MLflow's 503 text."""
    path = request.path
    prefix = request.app[CONFIG].static_prefix or ""
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :]
    matched = request.match_info.http_exception is None
    if (
        matched
        and path.startswith(_TRACKING_PATHS)
        and not path.startswith(_ARTIFACTS_ONLY_ALLOWED)
    ):
        return _disabled(
            request,
            "in `--artifacts-only` mode",
            "To enable tracking server functionality, run `mlflow server` without "
            "`--artifacts-only`",
        )
    return await handler(request)


# --- routes --------------------------------------------------------------------------------


def _raw_artifact_path(request: web.Request) -> str:
    """The ``{artifact_path}`` of the URL, refused when the request target hid a ``#`` in it.

    aiohttp drops everything after a raw ``#`` (a fragment), so ``PUT .../a#b`` would otherwise
    write ``a``. Like MLflow, no artifact path may contain ``#``, raw or percent-encoded.
    """
    if "#" in request.message.path:
        raise InvalidParameter(INVALID_PATH)
    return request.match_info["artifact_path"]


def _file_path(request: web.Request) -> str:
    raw = _raw_artifact_path(request)
    rel = validate_relative_path(raw)
    if not rel or raw.endswith("/"):
        raise InvalidParameter(INVALID_PATH)
    return rel


@routes.get("/mlflow-artifacts/artifacts/{artifact_path:.+}")
async def download_artifact(request: web.Request) -> web.StreamResponse:
    """``GET``: the file, streamed, as an attachment (``Range`` supported)."""
    repo = _destination(request)
    if repo is None:
        return _not_serving(request)
    return await send_artifact(request, repo, _file_path(request))


@routes.put("/mlflow-artifacts/artifacts/{artifact_path:.+}")
async def upload_artifact(request: web.Request) -> web.Response:
    """``PUT``: the raw body becomes the file (parents created); ``{}``."""
    repo = _destination(request)
    if repo is None:
        return _not_serving(request)
    path = _file_path(request)
    if isinstance(repo, LocalArtifactRepository):
        body = await detach_body(request)
        if body is not None:
            try:
                await repo.write_detached(path, body)
            except BaseException:
                # The rest of the body is unread on the socket: nothing more can be said on it.
                if request.transport is not None:
                    request.transport.close()
                raise
            response = json_response({})
            response.force_close()  # aiohttp's parser never saw the body: no keep-alive
            return response
    await repo.write(path, read_body(request))
    return json_response({})


@routes.get("/mlflow-artifacts/artifacts")
async def list_artifacts(request: web.Request) -> web.Response:
    """``GET ?path=``: the immediate children of ``path`` by base name; ``{}`` when none."""
    repo = _destination(request)
    if repo is None:
        return _not_serving(request)
    raw = request.query.get("path")
    path = validate_relative_path(raw) if raw else None
    files = await repo.listdir(path)
    if not files:
        return json_response({})
    return json_response(
        {"files": [{**info.to_json(), "path": posixpath.basename(info.path)} for info in files]}
    )


@routes.delete("/mlflow-artifacts/artifacts/{artifact_path:.+}")
async def delete_artifact(request: web.Request) -> web.Response:
    """``DELETE``: the file or the whole directory tree; ``{}``.

    A trailing ``/`` names a directory, as MLflow accepts it: the client's
    ``delete_artifacts()`` (``mlflow gc``) sends ``DELETE .../<run artifact root>/``.
    """
    repo = _destination(request)
    if repo is None:
        return _not_serving(request)
    path = validate_relative_path(_raw_artifact_path(request))
    if not path:
        raise InvalidParameter(INVALID_PATH)
    await repo.delete(path)
    return json_response({})


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await bodies.read_json_bytes(request)) if request.can_read_body else {}
    except ValueError:
        raise InvalidParameter("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidParameter("Request body must be a JSON object")
    return body


def _string_field(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidParameter(f"Missing value for required parameter '{name}'.")
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{name}'")
    return value


async def _multipart_target(request: web.Request) -> tuple[ArtifactRepository, str, dict[str, Any]]:
    """The repository, the file's path (URL directory + base name of ``path``) and the body."""
    repo = request.app[ARTIFACT_STORAGE].destination
    assert repo is not None
    raw = _raw_artifact_path(request)
    directory = validate_relative_path(raw)
    body = await _json_object(request)
    local = _string_field(body, "path")
    name = posixpath.basename(local.replace("\\", "/"))
    name = validate_relative_path(name)
    if not name or "/" in name:
        raise InvalidParameter(INVALID_PATH)
    return repo, posixpath.join(directory, name) if directory else name, body


@routes.post("/mlflow-artifacts/mpu/create/{artifact_path:.*}")
async def create_multipart_upload(request: web.Request) -> web.Response:
    """``{path, num_parts}`` -> ``{upload_id, credentials}`` (presigned part URLs; S3 only)."""
    if _destination(request) is None:
        return _not_serving(request)
    repo, path, body = await _multipart_target(request)
    num_parts = body.get("num_parts", 1)
    try:
        num_parts = int(num_parts)
    except (TypeError, ValueError):
        raise InvalidParameter(f"Invalid value {num_parts!r} for parameter 'num_parts'") from None
    upload = await repo.create_multipart(path, num_parts)
    return json_response(upload.to_json())


@routes.post("/mlflow-artifacts/mpu/complete/{artifact_path:.*}")
async def complete_multipart_upload(request: web.Request) -> web.Response:
    """``{path, upload_id, parts: [{part_number, etag}]}`` -> ``{}``."""
    if _destination(request) is None:
        return _not_serving(request)
    repo, path, body = await _multipart_target(request)
    upload_id = _string_field(body, "upload_id")
    raw_parts = body.get("parts")
    if not isinstance(raw_parts, list) or not raw_parts:
        raise InvalidParameter("Missing value for required parameter 'parts'.")
    parts: list[tuple[int, str]] = []
    for part in raw_parts:
        try:
            parts.append((int(part["part_number"]), str(part["etag"])))
        except (KeyError, TypeError, ValueError):
            raise InvalidParameter(f"Invalid multipart upload part: {part!r}") from None
    await repo.complete_multipart(path, upload_id, parts)
    return json_response({})


@routes.post("/mlflow-artifacts/mpu/abort/{artifact_path:.*}")
async def abort_multipart_upload(request: web.Request) -> web.Response:
    """``{path, upload_id}`` -> ``{}``."""
    if _destination(request) is None:
        return _not_serving(request)
    repo, path, body = await _multipart_target(request)
    await repo.abort_multipart(path, _string_field(body, "upload_id"))
    return json_response({})


@routes.get("/mlflow-artifacts/presigned/{artifact_path:.+}")
async def presigned_download(request: web.Request) -> web.Response:
    """``{url, headers, file_size}``: a direct download URL (S3 only)."""
    repo = _destination(request)
    if repo is None:
        return _not_serving(request)
    presigned = await repo.presigned_download(_file_path(request), PRESIGNED_TTL)
    return json_response(presigned.to_json())
