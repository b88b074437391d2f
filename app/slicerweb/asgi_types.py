"""ASGI type aliases and a tiny JSON responder for the outer middleware layer."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias, cast

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

# Request headers by lower-case name: Quart's `request.headers`, or a dict the ASGI layers build.
HeaderMap: TypeAlias = "Mapping[str, str] | Headers"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def open_scope(scope: object) -> Scope:
    """`scope` as the open mapping ASGI makes it (servers and middleware may add keys, as ours add
    `slicerweb.*`); Quart types `request.scope` as hypercorn's closed TypedDicts."""
    return cast(Scope, scope)


async def send_json(send: Send, status: int, body: dict[str, Any],
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer from middleware in the same JSON error shape as `errors.error_response`."""
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"), *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})
