"""Say `Connection: close` when a response leaves the request body unread.

Refusals (401/403/404/413) are answered before the body is read, on purpose: an unauthorised
caller must not make us buffer anything. HTTP/1.1 cannot then reuse the connection (the unread
body would be parsed as the next request), so the server closes it; without this header a
keep-alive client (httpx, requests, browsers) would send its next request into that closing
socket and see "server disconnected without sending a response".
"""

from __future__ import annotations

from .asgi_types import ASGIApp, Message, Receive, Scope, Send


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class CloseOnUnreadBody:
    """Add `Connection: close` to HTTP/1.x responses sent before the whole request body arrived."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("http_version", "1.1") not in ("1.0", "1.1") \
                or not _has_body(scope):
            return await self.app(scope, receive, send)
        body_done = False

        async def receive_tracked() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] == "http.disconnect" or (
                    message["type"] == "http.request" and not message.get("more_body", False)):
                body_done = True
            return message

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_done:
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive_tracked, send_marked)
        return None
