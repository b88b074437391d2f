"""Back-pressure for streamed request bodies: the socket waits while a handler is behind.

Quart's ASGI receiver appends every body chunk to the request's buffer as fast as the network
delivers it, whether or not the handler keeps up. A handler that streams a body into slower work
(bzip2 inflation, a STOW spool on a slow disk) therefore ended up holding most of the body in that
buffer: a 64 MiB bzip2 volume upload took +192 MiB. Once a handler reads the body as a stream,
`PacedBody` lets at most `BUFFER_BYTES` pile up unread; the receiver then stops asking Hypercorn
for more, Hypercorn stops reading the socket, and TCP flow control slows the client down.

A handler that awaits the whole body (`get_data`) is never paced (it needs everything first), and
those routes are bounded by their small body limits instead.
"""

from __future__ import annotations

import asyncio

from hypercorn.typing import ASGIReceiveCallable
from quart import Quart, Request
from quart.asgi import ASGIHTTPConnection
from quart.wrappers.request import Body

BUFFER_BYTES = 1 << 20


class PacedBody(Body):
    """Quart's Body, plus a `drained` event the receiver waits on while a streaming reader is behind."""

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        super().__init__(expected_content_length, max_content_length)
        self.streaming = False
        self.drained = asyncio.Event()
        self.drained.set()

    async def __anext__(self) -> bytes:
        self.streaming = True
        try:
            return await super().__anext__()
        finally:
            self.drained.set()

    def append(self, data: bytes) -> None:
        super().append(data)
        if self.streaming and len(self._data) > BUFFER_BYTES:
            self.drained.clear()


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
