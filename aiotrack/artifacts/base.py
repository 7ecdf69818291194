"""The async artifact-repository protocol every storage backend implements.

A repository is rooted at one location (a directory, an ``s3://bucket/prefix``); every ``path``
argument is relative to that root and is validated by `aiotrack.artifacts.paths` inside the
repository as well, so a repository never touches anything outside its root even when a caller
forgets to validate. Data moves in chunks of at most `CHUNK_SIZE` bytes in both directions:
nothing is held whole in memory or staged whole on the server's disk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "CHUNK_SIZE",
    "ArtifactRepository",
    "FileInfo",
    "MultipartCredential",
    "MultipartUpload",
    "ObjectStream",
    "PresignedDownload",
    "RangeNotSatisfiable",
    "parse_range",
]

#: Bytes moved per read/write step (the unit the server's memory use is bounded by).
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One immediate child of a listed directory: ``path`` relative to the repository root."""

    path: str
    is_dir: bool
    file_size: int | None = None

    def to_json(self) -> dict[str, object]:
        """MLflow's ``FileInfo`` JSON (``file_size`` only for files)."""
        body: dict[str, object] = {"path": self.path, "is_dir": self.is_dir}
        if not self.is_dir and self.file_size is not None:
            body["file_size"] = self.file_size
        return body


@dataclass(frozen=True, slots=True)
class ObjectStream:
    """An open download: ``chunks`` yields the bytes of ``[start, start + length)``.

    ``size`` is the whole object's size; ``partial`` tells whether a ``Range`` was honoured
    (then ``start``/``length`` describe it). Close it with ``await stream.aclose()`` when the
    chunks are not consumed to the end.
    """

    size: int
    start: int
    length: int
    partial: bool
    chunks: AsyncIterator[bytes]
    etag: str | None = None
    last_modified: float | None = None

    async def aclose(self) -> None:
        """Release the underlying file or connection."""
        aclose = getattr(self.chunks, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(frozen=True, slots=True)
class MultipartCredential:
    """Where the client PUTs part ``part_number`` of a multipart upload."""

    url: str
    part_number: int
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"url": self.url, "part_number": self.part_number, "headers": self.headers}


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    """The answer to ``mpu/create``: an ``upload_id`` and one credential per part."""

    upload_id: str
    credentials: list[MultipartCredential]

    def to_json(self) -> dict[str, object]:
        return {
            "upload_id": self.upload_id,
            "credentials": [c.to_json() for c in self.credentials],
        }


@dataclass(frozen=True, slots=True)
class PresignedDownload:
    """A time-limited URL the client can GET (with ``Range``) directly from the storage."""

    url: str
    headers: dict[str, str]
    file_size: int | None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"url": self.url, "headers": self.headers}
        if self.file_size is not None:
            body["file_size"] = self.file_size
        return body


class ArtifactRepository(Protocol):
    """Storage for one artifact root. All methods are coroutines and never block the loop.

    Errors: an unsafe path raises `InvalidParameter` (400); a missing file raises
    `ResourceNotFound` (404); reading a directory raises `InvalidParameter`.
    """

    #: Whether `create_multipart` & co and `presigned_download` work (S3: yes, local: no).
    supports_multipart: bool
    #: The URI of the root, e.g. ``file:///srv/mlartifacts`` or ``s3://bucket/prefix``.
    uri: str

    def child(self, relative: str) -> ArtifactRepository:
        """A repository rooted at ``relative`` below this one (validated; shares connections)."""
        ...

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> int:
        """Store the bytes of ``chunks`` at ``path`` (parents created); returns bytes written.

        The file appears only once complete: a failed or aborted upload leaves nothing behind.
        """
        ...

    async def open_read(self, path: str, byte_range: str | None = None) -> ObjectStream:
        """Open ``path`` for streaming, honouring an HTTP ``Range`` header value when given.

        An unsatisfiable range raises `RangeNotSatisfiable`.
        """
        ...

    async def local_file(self, path: str) -> Path | None:
        """The confined, resolved local file behind ``path`` if this storage is a local disk."""
        ...

    async def listdir(self, path: str | None) -> list[FileInfo]:
        """The immediate children of directory ``path`` (root when empty), sorted by path.

        A missing directory or a file lists as ``[]``.
        """
        ...

    async def delete(self, path: str | None) -> None:
        """Delete the file or the whole directory tree at ``path`` (missing: no error)."""
        ...

    async def create_multipart(self, path: str, num_parts: int) -> MultipartUpload:
        """Start a multipart upload of ``path`` with presigned part URLs."""
        ...

    async def complete_multipart(
        self, path: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        """Assemble the uploaded ``(part_number, etag)`` parts into ``path``."""
        ...

    async def abort_multipart(self, path: str, upload_id: str) -> None:
        """Abandon a multipart upload and free its parts."""
        ...

    async def presigned_download(self, path: str, expiration: int) -> PresignedDownload:
        """A URL valid for ``expiration`` seconds that downloads ``path`` directly."""
        ...

    async def presigned_upload(self, path: str, expiration: int) -> PresignedDownload:
        """A URL valid for ``expiration`` seconds that uploads ``path`` directly (HTTP PUT)."""
        ...


class RangeNotSatisfiable(Exception):
    """The requested ``Range`` lies outside the object; ``size`` is the object's length."""

    def __init__(self, size: int) -> None:
        super().__init__(f"Range not satisfiable for an object of {size} bytes")
        self.size = size


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, length)`` of a single ``bytes=`` range of an object of ``size`` bytes.

    ``None`` means "send everything" (no header, a multi-range or a malformed one, which RFC 9110
    lets a server ignore); raises `RangeNotSatisfiable` when the range starts past the end.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = spec.strip().partition("-")
    if not sep or not (first.isdigit() or last.isdigit()):
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        start = max(size - suffix, 0)
        return start, size - start
    start = int(first)
    if last and not last.isdigit():
        return None
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, end - start + 1
