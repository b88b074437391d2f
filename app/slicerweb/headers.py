"""Security headers added to every response by one ASGI layer (Quart's answers and the outer layers' alike).

The bundled proxies add the same set (plus HSTS, which only makes sense over TLS); the app sets
them too so a direct loopback client and a misconfigured proxy get them as well. The CSP (csp.py,
shared with the proxies) admits what OHIF needs and, when OHIF signs in, the issuer's origin in
connect-src.
"""

from __future__ import annotations

from .asgi_types import ASGIApp, Message, Receive, Scope, Send
from .csp import PERMISSIONS_POLICY, content_security_policy
from .policy import Policy
from .viewer_config import authority_origin


def security_headers(policy: Policy) -> dict[str, str]:
    """Header name -> value for `policy` (decided once, at app creation)."""
    return {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-site",
        "Permissions-Policy": PERMISSIONS_POLICY,
        "Content-Security-Policy": content_security_policy(authority_origin(policy)),
    }


class SecurityHeadersMiddleware:
    """Add each security header (and `Cache-Control: no-store`) a response does not set itself."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in
                        [*headers.items(), ("Cache-Control", "no-store")]]  # API answers are never cached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in self.headers if name not in present)]
            await send(message)

        await self.app(scope, receive, send_secured)
        return None
