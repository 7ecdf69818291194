"""Artifacts in S3 or any S3-compatible store, through aiobotocore.

Configured like MLflow's S3 repository: ``MLFLOW_S3_ENDPOINT_URL`` (MinIO, moto, ...),
``MLFLOW_S3_IGNORE_TLS``, ``MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE``,
``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` (JSON, e.g. server-side encryption) and the standard AWS
credential chain (environment, shared config/credentials files, instance roles).

Uploads stream: a body that fits one part (`PART_SIZE`) is one ``PutObject``; anything larger
becomes a multipart upload with at most `PARALLEL_PARTS` parts in flight, so the server holds a
few parts in memory whatever the object size. Downloads stream ``GetObject`` in `CHUNK_SIZE`
pieces and forward ``Range``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from aiotrack.artifacts.base import (
    CHUNK_SIZE,
    ArtifactRepository,
    FileInfo,
    MultipartCredential,
    MultipartUpload,
    ObjectStream,
    PresignedDownload,
    RangeNotSatisfiable,
)
from aiotrack.artifacts.headers import content_disposition, content_type
from aiotrack.artifacts.paths import INVALID_PATH, join_key, validate_relative_path
from aiotrack.errors import (
    AiotrackError,
    InvalidParameter,
    ResourceNotFound,
    TemporarilyUnavailable,
)

__all__ = ["PART_SIZE", "S3ArtifactRepository", "S3Client", "open_s3_client"]

#: Size of each part of a streamed multipart upload (S3's minimum is 5 MiB).
PART_SIZE = 8 * 1024 * 1024
#: Parts uploaded concurrently while the next one is being received.
PARALLEL_PARTS = 2
_DELETE_BATCH = 1000
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})

S3Client = Any  # aiobotocore's client is generated at runtime; there is no static type for it.


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "t", "yes", "y", "on")


async def open_s3_client(stack: AsyncExitStack) -> S3Client:
    """An S3 client configured from MLflow's environment variables, closed with ``stack``."""
    session = get_session()
    signature = os.environ.get("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "s3v4")
    config = AioConfig(
        signature_version=signature,
        s3={"addressing_style": os.environ.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "auto")},
        max_pool_connections=32,
    )
    client = session.create_client(
        "s3",
        endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None,
        verify=False if _truthy(os.environ.get("MLFLOW_S3_IGNORE_TLS")) else None,
        config=config,
    )
    return await stack.enter_async_context(client)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _storage_error(exc: Exception, what: str) -> AiotrackError:
    """Map a botocore failure onto the error tree (unreachable storage: retryable 503)."""
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code in ("NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            return InvalidParameter(f"{what}: {code}")
        if code in _NOT_FOUND or code == "NoSuchBucket":
            return ResourceNotFound(f"{what}: {code}")
        if code in ("SlowDown", "ServiceUnavailable", "RequestTimeout", "503"):
            return TemporarilyUnavailable(f"{what}: {code}")
        return AiotrackError(f"{what}: S3 error {code}")
    return TemporarilyUnavailable(f"{what}: storage unreachable ({type(exc).__name__})")


class S3ArtifactRepository:
    """`ArtifactRepository` over ``s3://bucket/prefix`` using a shared aiobotocore client."""

    supports_multipart = True

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        extra = os.environ.get("MLFLOW_S3_UPLOAD_EXTRA_ARGS")
        self._extra_args: dict[str, Any] = json.loads(extra) if extra else {}

    def child(self, relative: str) -> ArtifactRepository:
        return S3ArtifactRepository(self._client, self.bucket, join_key(self.prefix, relative))

    def _file_key(self, path: str) -> str:
        rel = validate_relative_path(path)
        if not rel or path.endswith("/"):
            raise InvalidParameter(INVALID_PATH)
        return join_key(self.prefix, rel)

    def _dir_prefix(self, path: str | None) -> str:
        key = join_key(self.prefix, path)
        return f"{key}/" if key else ""

    async def _is_dir(self, path: str) -> bool:
        resp = await self._client.list_objects_v2(
            Bucket=self.bucket, Prefix=self._dir_prefix(path), MaxKeys=1
        )
        return bool(resp.get("KeyCount", 0))

    # --- writes -----------------------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> int:
        key = self._file_key(path)
        try:
            return await self._write(key, chunks)
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, f"Cannot store artifact '{path}'") from exc

    async def _write(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        buffer = bytearray()
        total = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        in_flight: set[asyncio.Task[dict[str, Any]]] = set()

        async def send_part(number: int, data: bytes) -> dict[str, Any]:
            resp = await self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
            return {"PartNumber": number, "ETag": resp["ETag"]}

        try:
            async for chunk in chunks:
                buffer += chunk
                total += len(chunk)
                while len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        created = await self._client.create_multipart_upload(
                            Bucket=self.bucket, Key=key, **self._extra_args
                        )
                        upload_id = created["UploadId"]
                    data = bytes(buffer[:PART_SIZE])
                    del buffer[:PART_SIZE]
                    number = len(parts) + len(in_flight) + 1
                    in_flight.add(asyncio.create_task(send_part(number, data)))
                    if len(in_flight) >= PARALLEL_PARTS:
                        done, in_flight = await asyncio.wait(
                            in_flight, return_when=asyncio.FIRST_COMPLETED
                        )
                        parts.extend(task.result() for task in done)
            if upload_id is None:
                await self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(buffer), **self._extra_args
                )
                return total
            if buffer:
                number = len(parts) + len(in_flight) + 1
                in_flight.add(asyncio.create_task(send_part(number, bytes(buffer))))
            if in_flight:
                parts.extend(await asyncio.gather(*in_flight))
                in_flight = set()
            parts.sort(key=lambda part: int(part["PartNumber"]))
            await self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            return total
        except BaseException:
            for task in in_flight:
                task.cancel()
            if upload_id is not None:
                await asyncio.shield(self._abort_quietly(key, upload_id))
            raise

    async def _abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            await self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
        except (ClientError, BotoCoreError):
            pass

    # --- reads ------------------------------------------------------------------------------

    async def local_file(self, path: str) -> Path | None:
        return None

    async def open_read(self, path: str, byte_range: str | None = None) -> ObjectStream:
        key = self._file_key(path)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if byte_range and byte_range.strip().lower().startswith("bytes=") and "," not in byte_range:
            kwargs["Range"] = byte_range.strip()
        try:
            resp = await self._client.get_object(**kwargs)
        except ClientError as exc:
            code = _code(exc)
            if code == "InvalidRange":
                head = await self._client.head_object(Bucket=self.bucket, Key=key)
                raise RangeNotSatisfiable(int(head["ContentLength"])) from None
            if code in _NOT_FOUND:
                if await self._is_dir(path):
                    raise InvalidParameter(
                        f"Artifact path refers to a directory, not a file: '{path}'"
                    ) from None
                raise ResourceNotFound(f"No such artifact: '{path}'") from None
            raise _storage_error(exc, f"Cannot read artifact '{path}'") from exc
        except BotoCoreError as exc:
            raise _storage_error(exc, f"Cannot read artifact '{path}'") from exc
        length = int(resp["ContentLength"])
        content_range = resp.get("ContentRange")
        if content_range:  # "bytes 0-99/1234"
            span, _, total = content_range.removeprefix("bytes ").partition("/")
            start, size, partial = int(span.split("-", 1)[0]), int(total), True
        else:
            start, size, partial = 0, length, False
        body = resp["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in body.iter_chunks(CHUNK_SIZE):
                    yield chunk
            finally:
                body.close()

        modified = resp.get("LastModified")
        return ObjectStream(
            size=size,
            start=start,
            length=length,
            partial=partial,
            chunks=chunks(),
            etag=str(resp.get("ETag", "")).strip('"') or None,
            last_modified=modified.timestamp() if modified is not None else None,
        )

    async def listdir(self, path: str | None) -> list[FileInfo]:
        rel = validate_relative_path(path) if path else ""
        prefix = self._dir_prefix(rel)
        infos: list[FileInfo] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for sub in page.get("CommonPrefixes", []):
                    name = sub["Prefix"][len(prefix) :].rstrip("/")
                    if name:
                        infos.append(FileInfo(f"{rel}/{name}" if rel else name, True))
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix) :]
                    if name and "/" not in name:
                        infos.append(
                            FileInfo(f"{rel}/{name}" if rel else name, False, int(obj["Size"]))
                        )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, f"Cannot list artifacts at '{path or ''}'") from exc
        return sorted(infos, key=lambda info: info.path)

    async def delete(self, path: str | None) -> None:
        rel = validate_relative_path(path) if path else ""
        keys: list[str] = []
        try:
            if rel:
                keys.append(join_key(self.prefix, rel))
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._dir_prefix(rel)):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
            for i in range(0, len(keys), _DELETE_BATCH):
                batch = keys[i : i + _DELETE_BATCH]
                await self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, f"Cannot delete artifact '{path or ''}'") from exc

    # --- direct transfers -------------------------------------------------------------------

    async def create_multipart(self, path: str, num_parts: int) -> MultipartUpload:
        key = self._file_key(path)
        if not 1 <= num_parts <= 10000:
            raise InvalidParameter(f"num_parts must be between 1 and 10000, got {num_parts}")
        try:
            created = await self._client.create_multipart_upload(
                Bucket=self.bucket, Key=key, **self._extra_args
            )
            upload_id = created["UploadId"]
            credentials = [
                MultipartCredential(
                    url=await self._client.generate_presigned_url(
                        "upload_part",
                        Params={
                            "Bucket": self.bucket,
                            "Key": key,
                            "UploadId": upload_id,
                            "PartNumber": number,
                        },
                    ),
                    part_number=number,
                )
                for number in range(1, num_parts + 1)
            ]
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, f"Cannot start a multipart upload of '{path}'") from exc
        return MultipartUpload(upload_id, credentials)

    async def complete_multipart(
        self, path: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        key = self._file_key(path)
        try:
            await self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in sorted(parts)]},
            )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, f"Cannot complete the upload of '{path}'") from exc

    async def abort_multipart(self, path: str, upload_id: str) -> None:
        key = self._file_key(path)
        try:
            await self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, f"Cannot abort the upload of '{path}'") from exc

    async def presigned_download(self, path: str, expiration: int) -> PresignedDownload:
        key = self._file_key(path)
        try:
            head = await self._client.head_object(Bucket=self.bucket, Key=key)
            url = await self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    # Signed into the URL: a browser following it downloads, never renders.
                    "ResponseContentDisposition": content_disposition(key),
                    "ResponseContentType": content_type(key),
                },
                ExpiresIn=expiration,
            )
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise ResourceNotFound(f"No such artifact: '{path}'") from None
            raise _storage_error(exc, f"Cannot sign a download of '{path}'") from exc
        except BotoCoreError as exc:
            raise _storage_error(exc, f"Cannot sign a download of '{path}'") from exc
        return PresignedDownload(url, {}, int(head["ContentLength"]))

    async def presigned_upload(self, path: str, expiration: int) -> PresignedDownload:
        key = self._file_key(path)
        try:
            url = await self._client.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expiration
            )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, f"Cannot sign an upload of '{path}'") from exc
        return PresignedDownload(url, {}, None)
