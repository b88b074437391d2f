"""The browser-policy header values shared by the app (headers.py) and the proxy templates (proxyconf.py).

One builder, so the app, nginx and Caddy send the same Content-Security-Policy byte for byte.
What OHIF needs and nothing more: its inline bootstrap script and styles, eval for its codec glue,
wasm codecs, blob: workers and images, and connect-src to this origin plus the issuer it signs in at
(discovery, token and refresh requests). No frame-src: the viewer renews with refresh tokens, never
in an iframe, and nothing may frame it. Standard library only (deploy/render-proxy imports it).
"""

from __future__ import annotations

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), fullscreen=(self)"


def content_security_policy(connect_extra: str = "") -> str:
    """The CSP, with `connect_extra` (space-separated origins, e.g. the issuer's) added to connect-src."""
    connect = " ".join(filter(None, ["'self'", connect_extra.strip()]))
    return ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
            f"connect-src {connect}; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; "
            "form-action 'self'; object-src 'none'")
