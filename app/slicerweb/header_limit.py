"""A bound on the request's header block (431 JSON beyond it), as the fronts have.

h11 (under Hypercorn) bounds only an *incomplete* head (`h11_max_incomplete_size`, 64 KiB): a head
that arrives in two reads passes whatever its size. The bound here matches the fronts (Caddy's
max_header_size 64KB; nginx's 4 x 16k buffers), so a request the proxies pass is never refused by
the app, and the bare server refuses what they would.
"""

from __future__ import annotations

from .asgi_types import ASGIApp, Receive, Scope, Send
from .json_error import send_error

MAX_HEADER_BYTES = 64 << 10


class HeaderLimitMiddleware:
    """Refuse (431 JSON) a request whose header names and values exceed `limit` bytes in all."""

    def __init__(self, app: ASGIApp, limit: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # ": " and CRLF
        if size <= self.limit:
            return await self.app(scope, receive, send)
        await send_error(send, 431, f"request headers total {size} bytes; the limit is {self.limit}",
                         "headers_too_large")
        return None
