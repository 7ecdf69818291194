"""Zero-copy uploads: move the rest of a request body from the socket into a file with splice(2).

A streamed upload through Python costs two copies per byte (socket -> user buffer -> page
cache) plus aiohttp's per-chunk bookkeeping; on a 2-core machine that made a 1 GiB proxy upload
CPU-bound at ~60-75% of a disk copy. ``splice`` moves the socket's pages through a pipe into the
file inside the kernel instead.

`detach_body` takes the body away from aiohttp: it drains what aiohttp already buffered,
pauses the transport (so the event loop no longer reads the socket) and marks the payload
complete. Only plain-TCP requests with a ``Content-Length`` qualify (TLS would hand us
ciphertext; chunked bodies need aiohttp's parser); anything else returns None and the caller
streams as usual. The connection is closed after the response (aiohttp's parser never saw the
bytes, so it cannot serve another request on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import select
import threading
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["SPLICE_AVAILABLE", "DetachedBody", "detach_body", "splice_into"]

SPLICE_AVAILABLE = hasattr(os, "splice")
#: Below this many remaining bytes the usual path is as fast; splice is for big files.
_MIN_SPLICE_BYTES = 8 * 1024 * 1024
_PIPE_SIZE = 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
#: A client that sends nothing for this long is dropped (the upload is discarded).
IDLE_TIMEOUT_S = 300.0
_POLL_MS = 500  # how often a waiting splice looks at its cancel flag


@dataclass
class DetachedBody:
    """A request body split into what aiohttp had already read and what is still on the socket."""

    head: list[bytes]
    socket_fd: int
    remaining: int
    #: Set to stop a `splice_into` running in a worker thread (the request was cancelled).
    cancelled: threading.Event = field(default_factory=threading.Event)


async def detach_body(request: web.Request) -> DetachedBody | None:
    """Take the body of ``request`` away from aiohttp for `splice_into`, or None when the
    request does not qualify (then nothing was consumed and ``request.content`` is intact)."""
    length = request.content_length
    transport = request.transport
    if (
        not SPLICE_AVAILABLE
        or length is None
        or length < _MIN_SPLICE_BYTES
        or request.headers.get("Transfer-Encoding")
        or transport is None
        or transport.get_extra_info("sslcontext") is not None
        or transport.get_extra_info("socket") is None
    ):
        return None
    sock = transport.get_extra_info("socket")
    head: list[bytes] = []
    taken = 0
    # Drain, pause, let a read that was already scheduled run, and repeat until a drain finds
    # nothing: afterwards the loop never reads this socket again. (A drain that takes data may
    # make aiohttp resume reading, hence the pause after each one.)
    while True:
        got = False
        while taken < length:
            chunk = request.content.read_nowait(length - taken)
            if not chunk:
                break
            head.append(chunk)
            taken += len(chunk)
            got = True
        transport.pause_reading()
        await asyncio.sleep(0)
        if not got:
            break
    # Mark the body complete, or aiohttp would linger reading it after the response. feed_eof
    # also resumes the transport: pause it again at once (no await between, so no read runs).
    request.content.feed_eof()
    transport.pause_reading()
    return DetachedBody(head=head, socket_fd=sock.fileno(), remaining=length - taken)


def splice_into(body: DetachedBody, file_fd: int) -> None:
    """Move ``body.remaining`` bytes from the socket to ``file_fd`` (blocking: run it in a
    worker thread). Raises ``ConnectionResetError`` when the client goes away early and
    ``TimeoutError`` when it stalls for `IDLE_TIMEOUT_S`."""
    for chunk in body.head:
        view = memoryview(chunk)
        while view:
            view = view[os.write(file_fd, view) :]
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # capped by /proc/sys/fs/pipe-max-size: keep default
            fcntl.fcntl(write_end, _F_SETPIPE_SZ, _PIPE_SIZE)
        poller = select.poll()
        poller.register(body.socket_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        remaining = body.remaining
        idle_ms = 0.0
        while remaining:
            try:
                moved = os.splice(
                    body.socket_fd, write_end, min(remaining, _PIPE_SIZE), flags=os.SPLICE_F_MOVE
                )
            except BlockingIOError:
                if body.cancelled.is_set():
                    raise ConnectionAbortedError("the upload was cancelled") from None
                if poller.poll(_POLL_MS):
                    idle_ms = 0.0
                else:
                    idle_ms += _POLL_MS
                    if idle_ms >= IDLE_TIMEOUT_S * 1000:
                        raise TimeoutError(
                            f"the client sent nothing for {IDLE_TIMEOUT_S:.0f} s"
                        ) from None
                continue
            except OSError as exc:
                if exc.errno in (errno.ECONNRESET, errno.EPIPE):
                    raise ConnectionResetError("the client closed the connection") from exc
                raise
            if moved == 0:
                raise ConnectionResetError(
                    f"the client closed the connection with {remaining} bytes of the body unsent"
                )
            remaining -= moved
            while moved:
                moved -= os.splice(read_end, file_fd, moved, flags=os.SPLICE_F_MOVE)
    finally:
        os.close(read_end)
        os.close(write_end)
