"""Host header allow-list (DNS-rebinding protection), the outermost check on every request.

A web page on an attacker's domain that rebinds its name to 127.0.0.1 still sends its own name in
`Host`; refusing unknown hosts closes that door even for loopback-only servers.
"""

from __future__ import annotations

from .asgi_types import ASGIApp, Receive, Scope, Send, send_json


def host_name(host: str) -> str:
    """'Example.org:2016' -> 'example.org'; '[::1]:2016' -> '[::1]'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class TrustedHostMiddleware:
    """Refuse (403 JSON) requests whose Host is not in `server.allowed_hosts`."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.allowed = frozenset(host_name(h) for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.any:
            return await self.app(scope, receive, send)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if host_name(host) in self.allowed:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return None
        await send_json(send, 403, {"success": False, "code": "host_not_allowed",
                                    "message": "Host header not allowed (server.allowed_hosts)"})
        return None
