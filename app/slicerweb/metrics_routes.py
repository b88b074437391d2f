"""GET /metrics: the Prometheus text format, for local callers or a token with a `metrics` scope.

A local caller (loopback, not forwarded: see local_caller.py) needs no token while the policy's
auth.metrics_local_without_token is on; anyone else goes through the same admission as every
family (token, `[scopes] metrics`, failure limiter, audited denials).
"""

from __future__ import annotations

from quart import Blueprint, Response, g, request

from .access_log import REQUEST_ID, SUBJECT
from .asgi_types import open_scope
from .auth.exec_gate import ExecGate
from .auth.failures import FailureLimiter
from .auth.guard import admit
from .local_caller import is_local_caller
from .metrics import CONTENT_TYPE_LATEST, AppMetrics
from .services import Services


def create_blueprint(services: Services, metrics: AppMetrics, gate: ExecGate, limiter: FailureLimiter) -> Blueprint:
    bp = Blueprint("metrics", __name__)

    @bp.before_request
    async def admitted() -> None:
        client = request.scope.get("client")
        peer = client[0] if client else ""
        if services.policy.auth.metrics_local_without_token and is_local_caller(
                peer, request.headers, services.trust, request.scheme):
            return
        origin = services.trust.resolve(peer, request.scheme, request.headers)
        request_id = open_scope(request.scope).get(REQUEST_ID, "-")
        principal = await admit(services, gate, limiter, action="metrics", headers=request.headers,
                                query=request.args, client=origin.client, request_id=request_id,
                                method=request.method, path=request.path)
        g.principal = principal
        open_scope(request.scope)[SUBJECT] = principal.subject

    @bp.get("/metrics")
    async def scrape() -> Response:
        return Response(await metrics.exposition(), status=200,
                        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

    return bp
