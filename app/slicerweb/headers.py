"""Security headers added to every app response in one after-request hook.

The bundled proxies add the same set (plus HSTS, which only makes sense over TLS); the app sets
them too so a direct loopback client and a misconfigured proxy get them as well. The CSP (csp.py,
shared with the proxies) admits what OHIF needs and, when OHIF signs in, the issuer's origin in
connect-src.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Response

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


def security_headers_hook(policy: Policy) -> Callable[[Response], Awaitable[Response]]:
    """After-request hook: security headers, and no caching of API answers."""
    headers = security_headers(policy)

    async def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return add_security_headers
