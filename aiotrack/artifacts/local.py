"""Artifacts on the server's local disk, every filesystem call off the event loop.

Writes go to a hidden temporary file next to the target (``.aiotrack-upload-*``, never listed)
and are renamed into place when complete, so a broken upload leaves no truncated artifact and
nothing is staged anywhere else. Every path is confined to the root with symlinks resolved.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import stat
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiotrack.artifacts.base import (
    CHUNK_SIZE,
    ArtifactRepository,
    FileInfo,
    MultipartUpload,
    ObjectStream,
    PresignedDownload,
    parse_range,
)
from aiotrack.artifacts.paths import (
    INVALID_PATH,
    MAX_PATH_BYTES,
    confine,
    validate_relative_path,
)
from aiotrack.artifacts.splice import DetachedBody, splice_into
from aiotrack.errors import InvalidParameter, NotImplementedFeature, ResourceNotFound

__all__ = ["MULTIPART_UNSUPPORTED", "LocalArtifactRepository"]

T = TypeVar("T")

#: MLflow's message; the client falls back to a plain PUT when it sees this prefix.
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
_PRESIGNED_UNSUPPORTED = "Presigned download is not supported for the current artifact repository"
_TEMP_PREFIX = ".aiotrack-upload-"
#: Upload bytes gathered before one write() in a worker thread (fewer thread hops).
_WRITE_BUFFER = 4 * CHUNK_SIZE


#: Filesystem errors caused by the path a client chose (too long, a file where a directory is
#: expected, a symlink loop...): 400, not a server fault.
_PATH_ERRNOS = frozenset(
    {errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP, errno.EINVAL}
)


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, path-caused OS errors turned into 400."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        if exc.errno in _PATH_ERRNOS:
            reason = os.strerror(exc.errno) if exc.errno is not None else str(exc)
            raise InvalidParameter(f"Invalid artifact path: {reason}") from None
        raise


def _make_dirs(path: Path) -> None:
    """``mkdir -p`` without recursion (``Path.mkdir(parents=True)`` recurses once per missing
    level, and a path of 2,000 one-letter segments exceeds Python's recursion limit)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise


class LocalArtifactRepository:
    """`ArtifactRepository` over a directory ``root`` (created on first write)."""

    supports_multipart = False

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.uri = self.root.as_uri()

    def child(self, relative: str) -> ArtifactRepository:
        rel = validate_relative_path(relative)
        return LocalArtifactRepository(self.root / rel) if rel else self

    # --- helpers (run in worker threads) ----------------------------------------------------

    def _target(self, path: str | None) -> Path:
        if not self.root.exists():
            # Nothing exists yet: validate the text, then the path cannot escape via symlinks.
            rel = validate_relative_path(path) if path else ""
            return self.root / rel if rel else self.root
        return confine(self.root, path)

    def _open_for_write(self, path: str) -> tuple[Path, Path, int]:
        rel = validate_relative_path(path)
        if not rel or path.endswith("/"):
            raise InvalidParameter(INVALID_PATH)
        # The longest path the upload creates is its temporary file's.
        longest = (self.root / rel).parent / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
        if len(os.fsencode(longest)) >= MAX_PATH_BYTES:
            # The kernel refuses it anyway (ENAMETOOLONG, or ENOENT from a parent's mkdir).
            raise InvalidParameter(
                f"Invalid artifact path: '{path[:80]}...' is too long for this server's disk."
            )
        self.root.mkdir(parents=True, exist_ok=True)
        target = confine(self.root, rel)
        if target.is_dir():
            raise InvalidParameter(f"Artifact path refers to a directory, not a file: '{path}'")
        parent = target.parent
        try:
            _make_dirs(parent)
        except FileNotFoundError:
            # The root exists, so only the path itself can be at fault (deep nesting near the
            # kernel's path limit gives ENOENT rather than ENAMETOOLONG).
            raise InvalidParameter(
                f"Invalid artifact path: cannot create the directories of '{path[:80]}'."
            ) from None
        # A symlinked parent created meanwhile must not carry the file outside the root.
        confine(self.root, os.path.relpath(parent, self.root.resolve()))
        temp = parent / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        return target, temp, fd

    @staticmethod
    def _discard(fd: int, temp: Path) -> None:
        os.close(fd)
        temp.unlink(missing_ok=True)

    @staticmethod
    def _finish(fd: int, temp: Path, target: Path) -> None:
        os.close(fd)
        os.replace(temp, target)

    @staticmethod
    def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    @classmethod
    def _writev_all(cls, fd: int, chunks: list[bytes]) -> None:
        written = os.writev(fd, chunks)
        size = sum(len(c) for c in chunks)
        if written < size:  # a short write: finish the rest piece by piece
            rest = memoryview(b"".join(chunks))[written:]
            cls._write_all(fd, rest)

    def _regular_file(self, path: str) -> Path:
        rel = validate_relative_path(path)
        target = self._target(rel)
        try:
            mode = target.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise ResourceNotFound(f"No such artifact: '{path}'") from None
        if stat.S_ISDIR(mode):
            raise InvalidParameter(f"Artifact path refers to a directory, not a file: '{path}'")
        if not stat.S_ISREG(mode):
            raise ResourceNotFound(f"No such artifact: '{path}'")
        return target

    def _list(self, path: str | None) -> list[FileInfo]:
        rel = validate_relative_path(path) if path else ""
        directory = self._target(rel)
        if not directory.is_dir():
            return []
        infos: list[FileInfo] = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(_TEMP_PREFIX):
                    continue
                child = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    infos.append(FileInfo(child, True))
                elif entry.is_file(follow_symlinks=False):
                    infos.append(FileInfo(child, False, entry.stat(follow_symlinks=False).st_size))
                # Symlinks and special files are not listed: they may point outside the root.
        return sorted(infos, key=lambda info: info.path)

    def _delete(self, path: str | None) -> None:
        rel = validate_relative_path(path) if path else ""
        if not self.root.exists():
            return
        # Refuse links that leave the root, but delete the link itself, never what it targets.
        unresolved = self.root / rel if rel else self.root
        if unresolved.is_symlink():
            confine(self.root, rel)
            unresolved.unlink()
            return
        target = confine(self.root, rel)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    # --- protocol ---------------------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> int:
        target, temp, fd = await _off_loop(self._open_for_write, path)
        total = 0
        # Chunks are collected as they arrive (no concatenation copy) and written with one
        # writev in a worker thread while the next batch fills from the socket, so the network
        # and the disk overlap; at most two batches exist at a time.
        batch: list[bytes] = []
        batched = 0
        pending: asyncio.Future[None] | None = None
        try:
            async for chunk in chunks:
                batch.append(chunk)
                batched += len(chunk)
                total += len(chunk)
                if batched >= _WRITE_BUFFER:
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(self._writev_all, fd, batch))
                    batch, batched = [], 0
            if pending is not None:
                await pending
                pending = None
            if batch:
                await asyncio.to_thread(self._writev_all, fd, batch)
        except BaseException:
            if pending is not None:
                await asyncio.shield(asyncio.gather(pending, return_exceptions=True))
            await asyncio.shield(asyncio.to_thread(self._discard, fd, temp))
            raise
        await asyncio.to_thread(self._finish, fd, temp, target)
        return total

    async def write_detached(self, path: str, body: DetachedBody) -> int:
        """`write` for a body taken off the socket (`aiotrack.artifacts.splice`): the kernel
        moves it into the file without copying it through Python. Same guarantees."""
        target, temp, fd = await _off_loop(self._open_for_write, path)
        copy = asyncio.ensure_future(asyncio.to_thread(splice_into, body, fd))
        try:
            await asyncio.shield(copy)
        except BaseException:
            body.cancelled.set()  # the thread notices within half a second
            await asyncio.gather(copy, return_exceptions=True)
            await asyncio.shield(asyncio.to_thread(self._discard, fd, temp))
            raise
        await asyncio.to_thread(self._finish, fd, temp, target)
        return sum(map(len, body.head)) + body.remaining

    async def local_file(self, path: str) -> Path | None:
        return await _off_loop(self._regular_file, path)

    async def open_read(self, path: str, byte_range: str | None = None) -> ObjectStream:
        target = await _off_loop(self._regular_file, path)
        handle = await asyncio.to_thread(open, target, "rb")
        st = os.fstat(handle.fileno())
        try:
            window = parse_range(byte_range, st.st_size)
        except BaseException:
            handle.close()
            raise
        start, length = window if window is not None else (0, st.st_size)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                offset, remaining = start, length
                while remaining > 0:
                    data = await asyncio.to_thread(
                        os.pread, handle.fileno(), min(CHUNK_SIZE, remaining), offset
                    )
                    if not data:
                        break
                    offset += len(data)
                    remaining -= len(data)
                    yield data
            finally:
                handle.close()

        return ObjectStream(
            size=st.st_size,
            start=start,
            length=length,
            partial=window is not None,
            chunks=chunks(),
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
            last_modified=st.st_mtime,
        )

    async def listdir(self, path: str | None) -> list[FileInfo]:
        return await _off_loop(self._list, path)

    async def delete(self, path: str | None) -> None:
        await _off_loop(self._delete, path)

    # Direct transfers do not exist for a local disk: the client falls back to PUT/GET on 501.
    # The path is still checked first, so an unsafe one is a 400 like everywhere else.

    async def _unsupported(self, path: str, message: str) -> NotImplementedFeature:
        await _off_loop(self._target, validate_relative_path(path))
        return NotImplementedFeature(message)

    async def create_multipart(self, path: str, num_parts: int) -> MultipartUpload:
        raise await self._unsupported(path, MULTIPART_UNSUPPORTED)

    async def complete_multipart(
        self, path: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        raise await self._unsupported(path, MULTIPART_UNSUPPORTED)

    async def abort_multipart(self, path: str, upload_id: str) -> None:
        raise await self._unsupported(path, MULTIPART_UNSUPPORTED)

    async def presigned_download(self, path: str, expiration: int) -> PresignedDownload:
        raise await self._unsupported(path, _PRESIGNED_UNSUPPORTED)

    async def presigned_upload(self, path: str, expiration: int) -> PresignedDownload:
        raise await self._unsupported(
            path, "Presigned upload is not supported for the current artifact repository"
        )
