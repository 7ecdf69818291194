"""Stop a read handler's work when its client hangs up.

aiohttp keeps running a handler after its client disconnects (``handler_cancellation`` is off,
and gunicorn's aiohttp worker offers no way to turn it on), so a costly search went on holding a
database connection and a backend for as long as the statement ran, minutes after the client
gave up. :func:`cancel_on_disconnect` runs the handler as a task and cancels it when the
connection is lost; cancelling it cancels the database call it awaits (asyncpg sends PostgreSQL
a cancel request; SQLite's progress handler interrupts the reader thread). Only for handlers
that do not write: a write is finished or rolled back whole, never cut off half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["ClientClosedRequest", "cancel_on_disconnect"]

#: Seconds between two looks at the connection while the handler runs.
POLL_INTERVAL = 0.25

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ClientClosedRequest(web.HTTPClientError):
    """The client closed the connection before the answer was ready (nginx's 499); nobody
    reads this response."""

    status_code = 499


def cancel_on_disconnect(handler: Handler) -> Handler:
    """Wrap a read-only ``handler`` so that a client hang-up cancels it within
    :data:`POLL_INTERVAL` seconds (it then raises :class:`ClientClosedRequest`)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        task = asyncio.ensure_future(handler(request))
        try:
            while True:
                done, _ = await asyncio.wait((task,), timeout=POLL_INTERVAL)
                if done:
                    return task.result()
                transport = request.transport
                if transport is None or transport.is_closing():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    raise ClientClosedRequest()
        finally:
            if not task.done():  # this request itself was cancelled (e.g. at shutdown)
                task.cancel()

    return wrapper
