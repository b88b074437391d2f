"""GET /auth/verify: the bearer check for nginx `auth_request` and Caddy `forward_auth`.

The proxy sends the client's `Authorization` header and the original method and URI in
`X-Forwarded-Method` / `X-Forwarded-Uri` (set by the proxy, never passed through from the client).
The URI is matched against this app's own route table, so the edge decides the family and action
exactly as the app's guard will (`actions.action_of`), and `guard.admit` makes the same decision:

    204  allowed; `X-Auth-Subject` and `X-Auth-Scopes` go upstream (for logs; the app re-verifies)
    400  token in the query string, malformed credentials (RFC 6750 invalid_request)
    401  no or bad token, with the RFC 6750 `WWW-Authenticate` challenge
    403  insufficient scope (with its challenge), or exec switched off
    429  too many failed authentications from this client (`Retry-After`)

nginx's `auth_request` turns any status other than 2xx/401/403 into a 500, so with `?edge=nginx`
a 400 or 429 is sent as 403 and the real status travels in `X-Auth-Status`, which the nginx config
maps back. Every refusal also carries `X-Auth-Error` (the error code) for the proxy's error page.
A preflight (`OPTIONS`) passes: the app's CORS layer answers it without credentials.

It runs once per proxied request, so it is a plain ASGI layer (inside the Host check), not a Quart
route: no request context, no blueprint hooks, and the token's key is already cached.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from quart import Quart
from werkzeug.exceptions import HTTPException

from ..asgi_types import ASGIApp, Receive, Scope, Send
from ..errors import ApiError, BadRequest
from ..forwarded import header_map
from ..json_error import send_error
from ..request_context import request_id_of
from ..services import Services
from .actions import action_of, default_action
from .guard import admit

PATH = "/auth/verify"


def route_action(app: Quart, families: dict[str, str], method: str, path: str) -> tuple[str, str]:
    """(family, action) of `method path` in `app`, as the guard will decide it.

    Blueprints map to families through `families` (`Services.families`, filled by `create_app`: the
    slicer family has two blueprints, the docroot's is called `static_pages`). A path no route takes
    (404/405 in the app) gets the default action of the family whose URL prefix it falls under,
    else the docroot's: the caller still needs a token for that family.
    """
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method=method)
    except HTTPException:
        endpoint = None
    if endpoint is not None:
        family = families.get(str(endpoint).split(".", 1)[0])
        if family is not None:
            return family, action_of(app.view_functions.get(endpoint), family, method)
    for name, blueprint in app.blueprints.items():
        prefix = (blueprint.url_prefix or "").rstrip("/")
        if name in families and prefix and (path == prefix or path.startswith(prefix + "/")):
            return families[name], default_action(families[name], method)
    return "static", default_action("static", method)


class VerifierMiddleware:
    """Answers GET /auth/verify; passes everything else on to `inner`."""

    def __init__(self, inner: ASGIApp, app: Quart, services: Services) -> None:
        self.inner, self.app, self.services = inner, app, services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            return await self.inner(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD"):
            return await send_error(send, 405, "GET only", "method_not_allowed", {"Allow": "GET, HEAD"})
        status, error, headers = await self.decide(scope)
        if error is not None:
            return await send_error(send, status, error.message, error.code, headers)
        return await _admitted(send, headers)

    async def decide(self, scope: Scope) -> tuple[int, ApiError | None, dict[str, str]]:
        """(status, the refusal or None when admitted, headers) for one verification request."""
        headers = header_map(scope["headers"])
        method = headers.get("x-forwarded-method", "GET").upper()
        if method == "OPTIONS":
            return 204, None, {}
        nginx = b"edge=nginx" in scope.get("query_string", b"")
        peer = scope.get("client")
        origin = self.services.trust.resolve(peer[0] if peer else "", scope.get("scheme", "http"), headers)
        try:
            parts = urlsplit(headers.get("x-forwarded-uri", "/"))
            path = unquote(parts.path) or "/"
            if not path.startswith("/"):
                raise BadRequest("X-Forwarded-Uri must be an absolute path")
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            family, action = route_action(self.app, self.services.families, method, path)
            principal = await admit(self.services, action=action, headers=headers, query=query,
                                    client=origin.client, request_id=request_id_of(scope), method=method, path=path)
        except ApiError as exc:
            status = exc.status if (exc.status in (401, 403) or not nginx) else 403
            extra = {**exc.headers, "X-Auth-Error": exc.code, "X-Auth-Status": str(exc.status)}
            return status, exc, extra
        return 204, None, {"X-Auth-Subject": principal.subject, "X-Auth-Scopes": " ".join(sorted(principal.scopes)),
                           "X-Auth-Family": family, "X-Auth-Action": action}


async def _admitted(send: Send, headers: dict[str, str]) -> None:
    """204, no body: the proxy forwards the request (security headers come from the outer layer)."""
    raw = [(b"content-length", b"0"), (b"cache-control", b"no-store")]
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1", errors="replace"))
            for name, value in headers.items()]
    await send({"type": "http.response.start", "status": 204, "headers": raw})
    await send({"type": "http.response.body", "body": b""})
