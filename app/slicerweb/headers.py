"""Security headers added to every app response in one after-request hook.

The bundled proxies add the same set (plus HSTS, which only makes sense over TLS); the app sets
them too so a direct loopback client and a misconfigured proxy get them as well. The CSP admits
what the docroot pages and OHIF need (inline styles, blob: workers, wasm).
"""

from __future__ import annotations

from quart import Response

CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
       "connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'; object-src 'none'")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-site",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Content-Security-Policy": CSP,
}


async def add_security_headers(response: Response) -> Response:
    """After-request hook: security headers, and no caching of API answers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response
