"""Server-sent events as a Starlette response that always closes what it streams from.

A client that goes away cancels the response; ``EventStreamResponse`` then runs its ``close``
whatever the point it was cancelled at, so the generation behind the stream is stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class EventStreamResponse(StreamingResponse):
    """SSE that always runs ``close`` when the response ends, even when the client left
    before the first byte was sent (Starlette then never starts the body iterator)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        close: Callable[[], Awaitable[None]],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})},
        )
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._close()
