"""The browser-policy header values shared by the app (headers.py) and the proxy templates (proxyconf.py).

One builder, so the app, nginx and Caddy send the same Content-Security-Policy byte for byte.
What OHIF 3.13 needs and nothing more (checked in Chromium by tests/test_ohif_signin.py, which
fails on any `securitypolicyviolation`):
- 'unsafe-inline' scripts: index.html's inline bootstrap (window.PUBLIC_URL, the config loader);
- 'unsafe-eval': the codecs' emscripten embind glue (CharLS, OpenJPEG...) builds functions with
  `new Function`; uncompressed images decode without it, JPEG-LS/JPEG 2000 ones do not;
- 'wasm-unsafe-eval', blob: workers and images: the wasm decoders and their web workers;
- connect-src: this origin plus the issuer OHIF signs in at (discovery, token, refresh calls).
form-action stays 'self': the viewer posts no form (the login form lives on the issuer's page, under
the issuer's CSP); no frame source beyond 'self' and frame-ancestors 'none': the viewer renews with
refresh tokens, never in an iframe. Standard library only (deploy/render-proxy imports it).
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


def console_content_security_policy(connect_extra: str = "") -> str:
    """The admin console's CSP: like the viewer's, minus every 'unsafe-*' source (the console has no inline
    script or style, builds no code at run time and loads no wasm), so injected markup cannot run."""
    connect = " ".join(filter(None, ["'self'", connect_extra.strip()]))
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
