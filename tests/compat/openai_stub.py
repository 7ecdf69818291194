"""A small OpenAI-compatible chat-completions server for the autolog tests.

It answers ``POST /v1/chat/completions`` (non-streaming) on 127.0.0.1 with a fixed-shape
completion whose content echoes the last user message and whose token usage is derived from the
request, so the test knows what the trace must hold. It runs an aiohttp app on an event loop in
a daemon thread; use it as a context manager::

    with OpenAIStub() as stub:
        client = openai.OpenAI(base_url=stub.base_url, api_key="test")
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

__all__ = ["OpenAIStub", "usage_for"]

START_TIMEOUT_S = 10.0


def usage_for(messages: list[dict[str, Any]], answer: str) -> dict[str, int]:
    """The token usage the stub reports: one token per word of the prompt and of the answer."""
    prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
    completion = len(answer.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def answer_for(messages: list[dict[str, Any]]) -> str:
    """The stub's reply: the last user message, echoed."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    return f"stub says: {last.get('content', '')}"


class OpenAIStub:
    """The stub server; ``base_url`` is ``http://127.0.0.1:<port>/v1``; ``requests`` holds the
    JSON bodies received, in order."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("stream"):
            return web.json_response(
                {"error": {"message": "streaming is not stubbed", "type": "invalid_request"}},
                status=400,
            )
        messages = body.get("messages", [])
        answer = answer_for(messages)
        return web.json_response(
            {
                "id": f"chatcmpl-stub-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body.get("model", "stub-model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage_for(messages, answer),
            }
        )

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(START_TIMEOUT_S)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(
                START_TIMEOUT_S
            )
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)
        self._loop.close()
