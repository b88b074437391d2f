"""GET /metrics: the Prometheus text format, for local callers or a token with a `metrics` scope.

A local caller (loopback, not forwarded: see local_caller.py) needs no token while the policy's
auth.metrics_local_without_token is on; anyone else goes through the same admission as every
family (token, `[scopes] metrics`, failure limiter, audited denials).
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from .auth.guard import admit
from .local_caller import is_local_caller
from .metrics import CONTENT_TYPE_LATEST
from .request_context import RequestContext, attach, request_headers, request_id_of, request_scope
from .services import Services

FAMILY = "ops"  # as request_metrics labels /livez, /readyz and /metrics


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("metrics", __name__)

    @bp.before_request
    async def admitted() -> None:
        client = request.scope.get("client")
        peer = client[0] if client else ""
        if services.policy.auth.metrics_local_without_token and is_local_caller(
                peer, request_headers(), services.trust, request.scheme):
            return
        origin = services.trust.resolve(peer, request.scheme, request_headers())
        request_id = request_id_of(request_scope())
        principal = await admit(services, action="metrics", headers=request_headers(), query=request.args,
                                client=origin.client, request_id=request_id, method=request.method,
                                path=request.path)
        attach(request_scope(), RequestContext(request_id=request_id, origin=origin, family=FAMILY, action="metrics",
                                             principal=principal))

    @bp.get("/metrics")
    async def scrape() -> Response:
        return Response(await services.metrics.exposition(), status=200,
                        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

    return bp
