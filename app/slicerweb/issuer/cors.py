"""CORS for the endpoints a browser app (OHIF) fetches from its own page: discovery, JWKS, token,
userinfo, revoke. Exact origins only (the clients' redirect-URI origins plus configured ones); no
credentials, since these calls carry no cookies; an unknown origin gets no CORS headers at all.
"""

from __future__ import annotations

from quart import Quart, Response, request

CORS_PATHS = frozenset({"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                        "/jwks.json", "/token", "/userinfo", "/revoke"})


def install(app: Quart, origins: frozenset[str]) -> None:
    """Answer preflights and add Access-Control-Allow-Origin for allowed origins on CORS_PATHS."""

    @app.before_request
    async def preflight() -> Response | None:
        if request.method != "OPTIONS" or request.path not in CORS_PATHS:
            return None
        origin = request.headers.get("origin", "")
        if origin not in origins:
            response = Response("", status=403)
        else:
            response = Response("", status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.after_request
    async def allow_origin(response: Response) -> Response:
        if request.path in CORS_PATHS:
            response.vary.add("Origin")
            origin = request.headers.get("origin", "")
            if origin in origins:
                response.headers["Access-Control-Allow-Origin"] = origin
        return response
