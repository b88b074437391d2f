"""Who a request is addressed to, checked first: HTTP version, absolute-form target, Host allow-list.

A web page on an attacker's domain that rebinds its name to 127.0.0.1 still sends its own name in
`Host`; refusing unknown hosts closes that door even for loopback-only servers. A request line in
absolute form (`GET http://evil/ HTTP/1.1`, what a client sends to a forward proxy) names its host
in the URI, and RFC 9112 §3.2.2 says the server then ignores `Host`: so the URI's authority is what
the allow-list judges, and the rest of the app sees an ordinary origin-form path and that Host.
h11 parses any `HTTP/d.d` version; only 1.0 and 1.1 are HTTP/1 (RFC 9110 §6.2), others get 505.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from .asgi_types import ASGIApp, Receive, Scope, Send
from .json_error import send_error

HTTP_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})
CLOSE = {"Connection": "close"}


def host_name(host: str) -> str:
    """'Example.org:2016' -> 'example.org'; '[::1]:2016' -> '[::1]'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def origin_form(scope: Scope) -> Scope | None:
    """`scope` with an absolute-form target turned into origin form, its authority as Host; None if malformed.

    'http://localhost:2016/a?b' (raw_path 'http://localhost:2016/a') -> path '/a', Host 'localhost:2016'.
    """
    raw = bytes(scope.get("raw_path") or scope["path"].encode())
    if raw.startswith(b"/") or raw == b"*":
        return scope
    parts = urlsplit(raw.decode("latin-1"))
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    path = parts.path or "/"
    headers = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", parts.netloc.encode("latin-1"))]
    return {**scope, "path": unquote(path), "raw_path": path.encode("latin-1"), "headers": headers}


class TrustedHostMiddleware:
    """Refuse (403 JSON) requests whose Host (or absolute-form authority) is not in `server.allowed_hosts`."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.allowed = frozenset(host_name(h) for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("http_version", "1.1") not in HTTP_VERSIONS:
            await send_error(send, 505, "only HTTP/1.0, 1.1 and 2 are supported", "http_version_not_supported",
                             CLOSE)
            return None
        addressed = origin_form(scope)
        if addressed is None:
            await send_error(send, 400, "the request target must be a path or an http(s) URI with a host",
                             "bad_request_target", CLOSE)
            return None
        host = next((v.decode("latin-1") for k, v in addressed["headers"] if k == b"host"), "")
        if self.any or host_name(host) in self.allowed:
            return await self.app(addressed, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return None
        await send_error(send, 403, "Host header not allowed (server.allowed_hosts)", "host_not_allowed")
        return None
