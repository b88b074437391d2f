"""GET /auth/verify: the bearer check for nginx `auth_request` and Caddy `forward_auth`.

The proxy sends the client's `Authorization` header and the original method and URI in
`X-Forwarded-Method` / `X-Forwarded-Uri` (set by the proxy, never passed through from the client).
The URI is matched against this app's own route table, so the edge decides the family and action
exactly as the app's guard will (`actions.action_of`), and `guard.admit` makes the same decision:

    204  allowed; `X-Auth-Subject` and `X-Auth-Scopes` go upstream (for logs; the app re-verifies)
    401  no or bad token, with the RFC 6750 `WWW-Authenticate` challenge
    403  insufficient scope (with its challenge), or exec switched off
    429  too many failed authentications from this client (`Retry-After`)

nginx's `auth_request` turns any status other than 2xx/401/403 into a 500, so with `?edge=nginx`
a 400 or 429 is sent as 403 and the real status travels in `X-Auth-Status`, which the nginx config
maps back. Every refusal also carries `X-Auth-Error` (the error code) for the proxy's error page.
A preflight (`OPTIONS`) passes: the app's CORS layer answers it without credentials.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from quart import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..access_log import REQUEST_ID
from ..errors import ApiError, BadRequest, error_response
from ..services import Services
from .actions import action_of, default_action
from .exec_gate import ExecGate
from .failures import FailureLimiter
from .guard import admit

PATH = "/auth/verify"


def route_action(method: str, path: str) -> tuple[str, str]:
    """(family, action) of `method path` in this app, as the guard will decide it.

    A path no route takes (404/405 in the app) gets the default action of the blueprint whose URL
    prefix it falls under, else the docroot's: the caller still needs a token for that family.
    """
    adapter = current_app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method=method)
    except HTTPException:
        endpoint = None
    if endpoint is not None and not str(endpoint).startswith("auth."):
        family = str(endpoint).split(".", 1)[0]
        return family, action_of(current_app.view_functions.get(endpoint), family, method)
    for name, blueprint in current_app.blueprints.items():
        prefix = (blueprint.url_prefix or "").rstrip("/")
        if prefix and name != "auth" and (path == prefix or path.startswith(prefix + "/")):
            return name, default_action(name, method)
    return "static", default_action("static", method)


def create_blueprint(services: Services, gate: ExecGate, limiter: FailureLimiter) -> Blueprint:
    bp = Blueprint("auth", __name__)

    @bp.get(PATH)
    async def verify() -> Response:
        method = request.headers.get("x-forwarded-method", "GET").upper()
        uri = request.headers.get("x-forwarded-uri", "/")
        nginx = request.args.get("edge") == "nginx"
        peer = request.scope.get("client")
        origin = services.trust.resolve(peer[0] if peer else "", request.scheme, request.headers)
        request_id = request.scope.get(REQUEST_ID, "-")
        if method == "OPTIONS":
            return Response(status=204)
        try:
            parts = urlsplit(uri)
            path = unquote(parts.path) or "/"
            if not path.startswith("/"):
                raise BadRequest("X-Forwarded-Uri must be an absolute path")
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            family, action = route_action(method, path)
            principal = await admit(services, gate, limiter, action=action, headers=request.headers,
                                    query=query, client=origin.client, request_id=request_id,
                                    method=method, path=path)
        except ApiError as exc:
            status = exc.status if (exc.status in (401, 403) or not nginx) else 403
            headers = {**exc.headers, "X-Auth-Error": exc.code, "X-Auth-Status": str(exc.status)}
            return error_response(status, exc.message, exc.code, headers)
        response = Response(status=204)
        response.headers["X-Auth-Subject"] = principal.subject
        response.headers["X-Auth-Scopes"] = " ".join(sorted(principal.scopes))
        response.headers["X-Auth-Family"] = family
        response.headers["X-Auth-Action"] = action
        return response

    return bp
