"""From artifact URIs to repositories: `ArtifactStorage`, opened once per application.

It owns the long-lived resources (one aiobotocore S3 client, created on first use) and hands
out cheap repository objects for:

* the proxy destination (``--artifacts-destination``: a local path, ``file:`` or ``s3://``);
* a run's or model version's artifact URI: ``mlflow-artifacts:`` / ``http(s)://.../
  mlflow-artifacts/artifacts/...`` resolve *inside* the destination (refused when the server
  does not serve artifacts), ``file:``/plain paths and ``s3://`` are opened directly.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from aiotrack.artifacts.base import ArtifactRepository
from aiotrack.artifacts.local import LocalArtifactRepository
from aiotrack.artifacts.paths import validate_relative_path
from aiotrack.errors import InvalidParameter, NotImplementedFeature, PermissionDenied

__all__ = ["ArtifactStorage", "proxied_subpath"]

_PROXY_MARKER = "/mlflow-artifacts/artifacts"


def proxied_subpath(uri: str) -> str | None:
    """The destination-relative path of a proxied artifact URI, ``None`` if not proxied.

    ``mlflow-artifacts:/1/abc/artifacts`` and
    ``http://host/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts`` both give
    ``1/abc/artifacts``. The result is validated (a stored URI is client input too).
    """
    parsed = urlparse(uri)
    if parsed.scheme == "mlflow-artifacts":
        tail = parsed.path
    elif parsed.scheme in ("http", "https") and _PROXY_MARKER in parsed.path:
        tail = parsed.path.split(_PROXY_MARKER, 1)[1]
    else:
        return None
    return validate_relative_path(tail.strip("/"))


class ArtifactStorage:
    """Repositories for the proxy destination and for artifact URIs; ``async with`` it.

    ``destination`` is ``None`` when the server does not serve artifacts (``--no-serve-artifacts``).
    """

    def __init__(
        self, destination_uri: str | None, local_roots: Sequence[str] | None = None
    ) -> None:
        self._destination_uri = destination_uri
        # Resolved lazily (realpath touches the disk): None = no confinement (admin commands).
        self._root_paths = None if local_roots is None else tuple(local_roots)
        self._resolved_roots: tuple[str, ...] | None = None
        self._stack = AsyncExitStack()
        self._s3_client: object | None = None
        self._s3_lock = asyncio.Lock()
        self.destination: ArtifactRepository | None = None

    async def __aenter__(self) -> ArtifactStorage:
        if self._destination_uri is not None:
            self.destination = await self.open(self._destination_uri)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _s3(self) -> object:
        async with self._s3_lock:
            if self._s3_client is None:
                from aiotrack.artifacts.s3 import open_s3_client

                self._s3_client = await open_s3_client(self._stack)
            return self._s3_client

    async def open(self, uri: str) -> ArtifactRepository:
        """A repository rooted at storage ``uri`` (local path, ``file:`` or ``s3://``)."""
        parsed = urlparse(uri)
        scheme = parsed.scheme.lower()
        if scheme in ("s3", "s3a", "s3n"):
            from aiotrack.artifacts.s3 import S3ArtifactRepository

            if not parsed.netloc:
                raise InvalidParameter(f"Invalid S3 URI '{uri}': no bucket")
            return S3ArtifactRepository(await self._s3(), parsed.netloc, parsed.path)
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise NotImplementedFeature(f"Remote file URIs are not supported: '{uri}'")
            return await self._local(uri, Path(url2pathname(unquote(parsed.path))))
        if scheme == "" or (len(scheme) == 1 and os.name == "nt"):
            return await self._local(uri, Path(uri))
        raise NotImplementedFeature(
            f"Artifacts stored at '{uri}' (scheme '{scheme}') are not supported by aiotrack yet; "
            "supported: local paths, file:, s3:"
        )

    async def _local(self, uri: str, path: Path) -> ArtifactRepository:
        """A local repository at ``path``, if it lies under one of the server's local roots.

        Symlinks and ``..`` are resolved on both sides, so neither a stored location such as
        ``file:///srv/mlartifacts/../../etc`` nor a link inside a root leads outside them.
        """
        if self._root_paths is not None:
            roots, real = await asyncio.to_thread(self._resolve, path)
            if not any(
                real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots
            ):
                # The roots are not named: a client need not learn the server's layout.
                raise PermissionDenied(
                    f"Artifact location '{uri}' is outside the local directories this server "
                    "reads and writes artifacts under. If it holds artifacts this server should "
                    "serve, restart the server with --allowed-artifact-roots set to a directory "
                    "that contains it."
                )
        return LocalArtifactRepository(path)

    def _resolve(self, path: Path) -> tuple[tuple[str, ...], str]:
        if self._resolved_roots is None:
            assert self._root_paths is not None
            self._resolved_roots = tuple(os.path.realpath(r) for r in self._root_paths)
        return self._resolved_roots, os.path.realpath(path)

    async def for_artifact_uri(self, uri: str) -> ArtifactRepository:
        """The repository holding the artifacts of a run or model version stored at ``uri``."""
        sub = proxied_subpath(uri)
        if sub is None:
            return await self.open(uri)
        if self.destination is None:
            raise NotImplementedFeature(
                f"The artifacts at '{uri}' are served through the artifact proxy, which this "
                "server runs without (--no-serve-artifacts)."
            )
        return self.destination.child(sub) if sub else self.destination
