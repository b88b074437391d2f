"""The issuer's HTML pages (login form, errors, signed out) and their security headers.

No JavaScript; the one inline style block is allowed by its hash, nothing else by the CSP. The form
posts only to the issuer ('self'); the redirect origin of the pending request is allowed as well,
because Chromium applies `form-action` to the redirect that follows the form's POST.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from quart import Response

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto;padding:0 1rem}"
          "label,input,button{display:block;width:100%;box-sizing:border-box;margin:.3rem 0}"
          "input,button{padding:.5rem;font-size:1rem}p.error{color:#a00}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def login_page(*, request_id: str, csrf: str, client_id: str, username: str = "", error: str = "",
               redirect_origin: str = "", status: int = 200, retry_after: int | None = None) -> Response:
    """The username + password form of one pending authorization request."""
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - SlicerWeb</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><main><h1>Sign in</h1><p>to continue to <strong>{escape(client_id)}</strong></p>{message}
<form method="post" action="login">
<input type="hidden" name="request" value="{escape(request_id)}">
<input type="hidden" name="csrf" value="{escape(csrf)}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus value="{escape(username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></main></body></html>
"""
    response = page(body, status, form_targets=redirect_origin)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def message_page(title: str, text: str, status: int) -> Response:
    """A page that only says something (an error that must not redirect, or "signed out")."""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} - SlicerWeb</title>
<style>{_STYLE}</style></head>
<body><main><h1>{escape(title)}</h1><p>{escape(text)}</p></main></body></html>
"""
    return page(body, status)


def page(body: str, status: int, *, form_targets: str = "") -> Response:
    response = Response(body, status=status, content_type="text/html; charset=utf-8")
    add_security_headers(response, form_targets)
    return response


def add_security_headers(response: Response, form_targets: str = "") -> None:
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self' {form_targets}".rstrip()
        + "; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
