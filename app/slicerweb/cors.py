"""CORS from the policy, decided at start-up (as Starlette's CORSMiddleware computes its headers once).

- CORS off: no Access-Control-* header is ever sent; preflights reach the app like any OPTIONS.
- CORS on: only listed origins are echoed (`*` only if listed and never with credentials);
  every response varies on Origin; a preflight is answered here, before authentication, with
  204 when allowed and 403 JSON when not.
"""

from __future__ import annotations

from .asgi_types import ASGIApp, Message, Receive, Scope, Send
from .json_error import send_error
from .policy import Policy

SAFE_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")


class CORSMiddleware:
    """Allow-listed CORS (see module docstring)."""

    def __init__(self, app: ASGIApp, policy: Policy) -> None:
        self.app = app
        origins = policy.cors.allow_origins
        self.any_origin = "*" in origins
        self.origins = frozenset(o for o in origins if o != "*")
        self.credentials = policy.cors.allow_credentials
        self.allow_headers = frozenset(h.lower() for h in policy.cors.allow_headers)
        self.preflight_headers = [
            (b"access-control-allow-methods", ", ".join(SAFE_METHODS).encode()),
            (b"access-control-allow-headers", ", ".join(policy.cors.allow_headers).encode()),
            (b"access-control-max-age", str(policy.cors.max_age).encode()),
        ]
        self.expose = ", ".join(policy.cors.expose_headers).encode()

    def _allow_origin(self, origin: str) -> bytes | None:
        if origin in self.origins:
            return origin.encode()
        if self.any_origin:
            return b"*"
        return None

    def _origin_headers(self, allowed: bytes) -> list[tuple[bytes, bytes]]:
        headers = [(b"access-control-allow-origin", allowed), (b"vary", b"Origin")]
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get(b"origin")
        if scope["method"] == "OPTIONS" and origin is not None and b"access-control-request-method" in headers:
            return await self._preflight(send, origin, headers)
        allowed = self._allow_origin(origin) if origin is not None else None

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = self._origin_headers(allowed) if allowed else [(b"vary", b"Origin")]
                if allowed:
                    extra.append((b"access-control-expose-headers", self.expose))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        return await self.app(scope, receive, send_with_cors)

    async def _preflight(self, send: Send, origin: str, headers: dict[bytes, str]) -> None:
        allowed = self._allow_origin(origin)
        method = headers[b"access-control-request-method"].upper()
        requested = {h.strip().lower() for h in headers.get(b"access-control-request-headers", "").split(",")
                     if h.strip()}
        problem = None
        if allowed is None:
            problem = "origin not allowed"
        elif method not in SAFE_METHODS:
            problem = f"method {method} not allowed"
        elif not requested <= self.allow_headers:
            problem = "headers not allowed: " + ", ".join(sorted(requested - self.allow_headers))
        if problem or allowed is None:
            await send_error(send, 403, f"CORS preflight refused: {problem}", "cors_refused", {"Vary": "Origin"})
            return
        await send({"type": "http.response.start", "status": 204,
                    "headers": [*self._origin_headers(allowed), *self.preflight_headers]})
        await send({"type": "http.response.body", "body": b""})

