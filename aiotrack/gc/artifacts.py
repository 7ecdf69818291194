"""Deleting the artifact root of a run or logged model, confined to that root.

``mlflow gc`` calls ``get_artifact_repository(artifact_uri).delete_artifacts()``. Here:

* ``mlflow-artifacts:/<path>`` (and ``http(s)://.../mlflow-artifacts/artifacts/<path>``), the
  URIs of proxied artifacts, are deleted as ``<path>`` inside the artifacts destination (local
  directory or ``s3://``) -- or, when gc was given an ``http(s)`` tracking server and no
  destination, through that server's ``DELETE /api/2.0/mlflow-artifacts/artifacts/<path>/``,
  which is what ``mlflow gc`` does;
* local paths and ``file:`` URIs, and ``s3://`` URIs, are deleted where they are.

Before anything is deleted the URI must end with ``<run or model id>/artifacts`` (the only shape
MLflow and aiotrack ever give an artifact root) and contain no ``.``/``..`` segment: a damaged or
hostile row such as ``artifact_uri = file:///home`` is refused instead of wiping a directory
that is not the run's. Local deletion goes through `aiotrack.artifacts.local`, which resolves
symlinks and removes a link itself, never its target.
"""

from __future__ import annotations

import os
import re
import ssl
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlparse, urlunparse

from aiotrack.artifacts.factory import ArtifactStorage, proxied_subpath
from aiotrack.artifacts.local import LocalArtifactRepository
from aiotrack.errors import AiotrackError
from aiotrack.gc.stores import GcError

__all__ = ["ArtifactCleaner", "check_artifact_root"]

_PROXY_ROOT = "/api/2.0/mlflow-artifacts/artifacts"
#: MLflow's default ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (seconds).
_HTTP_TIMEOUT_S = 120


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "t", "yes", "y", "on")


def check_artifact_root(uri: str, owner_id: str, kind: str) -> None:
    """Refuse to treat ``uri`` as the artifact root of ``kind`` ``owner_id`` unless it ends
    with ``<owner_id>/artifacts`` and has no ``.``/``..`` segment (`GcError` otherwise)."""
    parsed = urlparse(uri)
    has_scheme = len(parsed.scheme) > 1  # one letter: a Windows drive
    path = unquote(parsed.path) if has_scheme else uri
    segments = [s for s in path.replace("\\", "/").split("/") if s]
    if any(s in (".", "..") for s in segments) or segments[-2:] != [owner_id, "artifacts"]:
        raise GcError(
            f"refusing to delete the artifacts of {kind} {owner_id} at '{uri}': it is not an "
            f"artifact root of that {kind} ('.../{owner_id}/artifacts'); delete them by hand"
        )


class ArtifactCleaner:
    """Deletes artifact roots; ``async with`` it (it owns the S3 and HTTP clients).

    ``destination`` resolves proxied URIs unless ``tracking_server`` (an ``http(s)`` URI) is
    given, in which case the server deletes them.
    """

    def __init__(self, destination: str, tracking_server: str | None) -> None:
        self._server = tracking_server
        self._storage = ArtifactStorage(None if tracking_server else destination)
        self._http: Any = None
        self.warnings: list[str] = []
        self._warned_missing = False

    async def __aenter__(self) -> ArtifactCleaner:
        await self._storage.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
        await self._storage.__aexit__(exc_type, exc, tb)

    @property
    def describe_destination(self) -> str:
        """Where proxied artifacts are deleted, for the plan line."""
        if self._server is not None:
            return f"through the tracking server {_without_userinfo(self._server)}"
        dest = self._storage.destination
        return f"under {dest.uri}" if dest is not None else "nowhere"

    async def delete(self, uri: str | None, owner_id: str, kind: str) -> None:
        """Delete the artifact root ``uri`` of ``kind`` (``run``/``logged model``) ``owner_id``.

        Nothing to delete (an empty URI, a missing directory) is not an error. Raises `GcError`
        when the URI is refused or the storage fails.
        """
        if not uri:
            return
        check_artifact_root(uri, owner_id, kind)
        try:
            sub = proxied_subpath(uri)
            if sub is None:
                repo = await self._storage.open(uri)
                await repo.delete(None)
            elif self._server is not None:
                await self._delete_through_server(uri)
            else:
                destination = self._storage.destination
                assert destination is not None  # opened whenever there is no server
                self._warn_if_missing(destination)
                # Deleted relative to the destination root, so the confinement (and symlink
                # handling) is checked against the destination, not against the run's own dir.
                await destination.delete(sub)
        except AiotrackError as exc:
            raise GcError(f"cannot delete the artifacts at '{uri}': {exc.message}") from None
        except OSError as exc:
            raise GcError(f"cannot delete the artifacts at '{uri}': {exc}") from None

    def _warn_if_missing(self, destination: object) -> None:
        if (
            not self._warned_missing
            and isinstance(destination, LocalArtifactRepository)
            and not destination.root.exists()
        ):
            self._warned_missing = True
            self.warnings.append(
                f"the artifacts destination {destination.root} does not exist, so proxied "
                "(mlflow-artifacts:) artifacts found nothing to delete there; pass "
                "--artifacts-destination (the server's) or --tracking-uri http://<server>"
            )

    async def _delete_through_server(self, uri: str) -> None:
        import aiohttp

        assert self._server is not None
        url = _server_url(uri, self._server)
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=_HTTP_TIMEOUT_S),
                headers=_auth_headers(),
                auth=_basic_auth(),
            )
        try:
            async with self._http.delete(url + "/", ssl=_ssl_setting()) as resp:
                if resp.status >= 300:
                    body = (await resp.text())[:300]
                    raise GcError(
                        f"cannot delete the artifacts at '{uri}': the tracking server answered "
                        f"HTTP {resp.status} to DELETE {url}/: {body}"
                    )
        except aiohttp.ClientError as exc:
            raise GcError(
                f"cannot delete the artifacts at '{uri}' through the tracking server "
                f"{_without_userinfo(self._server)}: {exc}"
            ) from None


def _server_url(uri: str, server: str) -> str:
    """The proxy URL of artifact ``uri``, resolved as MLflow's ``MlflowArtifactsRepository``."""
    parsed = urlparse(uri)
    if parsed.scheme != "mlflow-artifacts":
        return uri.rstrip("/")  # already an http(s) proxy URL
    track = urlparse(server)
    path = re.sub(r"//+", "/", f"{track.path}/{_PROXY_ROOT}/{parsed.path}")
    netloc = parsed.netloc or track.netloc
    return urlunparse((track.scheme, netloc, path, "", "", "")).rstrip("/")


def _auth_headers() -> dict[str, str]:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _basic_auth() -> Any:
    import aiohttp

    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password and not os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return aiohttp.BasicAuth(user, password)
    return None


def _ssl_setting() -> ssl.SSLContext | bool:
    """MLflow's TLS variables: ``MLFLOW_TRACKING_INSECURE_TLS``, ``..._SERVER_CERT_PATH`` and
    ``..._CLIENT_CERT_PATH``."""
    if _truthy(os.environ.get("MLFLOW_TRACKING_INSECURE_TLS")):
        return False
    server_cert = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH")
    client_cert = os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH")
    if not server_cert and not client_cert:
        return True
    context = ssl.create_default_context(cafile=server_cert or None)
    if client_cert:
        context.load_cert_chain(client_cert)
    return context


def _without_userinfo(uri: str) -> str:
    parsed = urlparse(uri)
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()
