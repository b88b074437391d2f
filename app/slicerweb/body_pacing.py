"""Back-pressure and the size limit for streamed request bodies: the socket waits while a handler is behind.

Quart's ASGI receiver appends every body chunk to the request's buffer as fast as the network
delivers it, whether or not the handler keeps up. A handler that streams a body into slower work
(bzip2 inflation, a STOW spool on a slow disk) therefore ended up holding most of the body in that
buffer: a 64 MiB bzip2 volume upload took +192 MiB. Once a handler reads the body as a stream,
`PacedBody` lets at most `BUFFER_BYTES` pile up unread; the receiver then stops asking Hypercorn
for more, Hypercorn stops reading the socket, and TCP flow control slows the client down.

A handler that awaits the whole body (`get_data`) is never paced (it needs everything first), and
those routes are bounded by their small body limits instead.

The route's size limit (`limit_to`, set by limits.apply_body_limit) counts every byte received, not
what sits unread: Quart's own check sees only its buffer, which a reader that keeps up empties, so a
chunked upload without Content-Length used to be read to its end whatever the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

from hypercorn.typing import ASGIReceiveCallable
from quart import Quart, Request
from quart.asgi import ASGIHTTPConnection
from quart.wrappers.request import Body
from werkzeug.exceptions import RequestEntityTooLarge

BUFFER_BYTES = 1 << 20


class PacedBody(Body):
    """Quart's Body, plus a `drained` event the receiver waits on while a streaming reader is behind,
    and a limit on the bytes received in all."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self.streaming = False
        self.drained = asyncio.Event()
        self.drained.set()
        self.received = 0  # bytes appended so far (read or not)
        self.unread = 0  # bytes appended and not yet handed to a streaming reader
        self.limit: int | None = None
        self.too_large = False

    def limit_to(self, limit: int) -> None:
        """Refuse the body once more than `limit` bytes have arrived (counting those already here)."""
        self.limit = limit
        self._check_limit()

    async def __anext__(self) -> bytes:
        self.streaming = True
        try:
            if self.too_large:
                raise RequestEntityTooLarge()
            try:
                chunk = await super().__anext__()
            except StopAsyncIteration:
                if self.too_large:  # the limit was crossed while this reader waited: not a normal end
                    raise RequestEntityTooLarge() from None
                raise
            self.unread = 0  # Quart hands over everything buffered at once
            return chunk
        finally:
            self.drained.set()

    def __await__(self) -> Generator[Any, None, Any]:
        data = yield from super().__await__()
        if self.too_large:
            raise RequestEntityTooLarge()
        return data

    def append(self, data: bytes) -> None:
        if self.too_large:
            return  # nothing more is kept once the body is refused
        self.received += len(data)
        self.unread += len(data)
        if self._check_limit():
            return
        super().append(data)
        if self.streaming and self.unread > BUFFER_BYTES:
            self.drained.clear()

    def _check_limit(self) -> bool:
        if self.limit is not None and self.received > self.limit and not self.too_large:
            self.too_large = True
            self.clear()
            self.set_complete()  # wakes a waiting reader, which then raises 413
        return self.too_large


class PacedRequest(Request):
    body_class = PacedBody


class PacedConnection(ASGIHTTPConnection):
    """Quart's HTTP connection whose receiver waits for a streaming reader to catch up."""

    async def handle_messages(self, request: Request, receive: ASGIReceiveCallable) -> None:
        body = request.body
        while True:
            if isinstance(body, PacedBody):
                await body.drained.wait()  # cancelled with this task once the response is sent
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body.set_complete()
            elif message["type"] == "http.disconnect":
                return


def pace_request_bodies(app: Quart) -> None:
    """Make `app` use the paced request body and connection."""
    app.request_class = PacedRequest
    app.asgi_http_class = PacedConnection
