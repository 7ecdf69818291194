"""Reading a whole JSON request body: declared size checked first, compression inflated bounded.

The server runs with aiohttp's ``auto_decompress`` off, so artifact uploads are stored exactly as
sent (``Content-Encoding: gzip`` included, as MLflow stores them). JSON endpoints read their body
here instead: a declared ``Content-Length`` over ``--max-request-size`` is answered 413 before a
byte is read, and a ``gzip``/``deflate`` body is inflated only up to that same limit, so a small
compressed body cannot expand into gigabytes. Other encodings are refused with 400.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from aiohttp import web

from aiotrack.errors import InvalidParameter

__all__ = ["read_json_bytes"]

#: ``Content-Encoding`` value -> zlib ``wbits`` (gzip header / zlib header, either accepted).
_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": 32 + zlib.MAX_WBITS,
}


#: Compressed bodies up to this size are inflated on the event loop (well under a millisecond).
_INLINE_INFLATE = 64 * 1024


def _too_large(request: web.Request, size: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(max_size=request.client_max_size, actual_size=size)


async def read_json_bytes(request: web.Request) -> bytes:
    """The request body, inflated when compressed, never more than ``client_max_size`` bytes.

    Raises ``HTTPRequestEntityTooLarge`` (answered 413 in MLflow's error shape by the limits
    middleware) when the declared, received or inflated size exceeds the limit, and
    `InvalidParameter` for an unsupported ``Content-Encoding`` or a corrupt compressed body.
    """
    limit = request.client_max_size
    declared = request.content_length
    if declared is not None and limit and declared > limit:
        raise _too_large(request, declared)
    raw = await request.read()
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise InvalidParameter(
            f"Unsupported Content-Encoding '{encoding}' for a JSON request body; send it "
            "uncompressed or as gzip or deflate."
        )
    inflater = zlib.decompressobj(wbits)
    # Up to 64 MiB of output: off the loop unless the input is small.
    if len(raw) > _INLINE_INFLATE:
        body = await asyncio.to_thread(_inflate, inflater, raw, limit, encoding)
    else:
        body = _inflate(inflater, raw, limit, encoding)
    if limit and (len(body) > limit or inflater.unconsumed_tail):
        raise _too_large(request, len(body) + len(inflater.unconsumed_tail))
    return body


def _inflate(inflater: Any, raw: bytes, limit: int, encoding: str) -> bytes:
    try:
        return bytes(inflater.decompress(raw, limit + 1 if limit else 0))
    except zlib.error as exc:
        raise InvalidParameter(f"The {encoding} request body cannot be inflated: {exc}") from None
