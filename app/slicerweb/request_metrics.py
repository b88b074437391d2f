"""ASGI layer feeding AppMetrics: one observation per answered request.

Sits just inside the access log, so it sees every answer, including those of the outer layers
(Host allow-list, verifier). The route template and family are put into the ASGI scope by a Quart
before-request hook (`label_request`), once the URL rule has matched; requests that never reach a
rule are labelled `unmatched`, so a scanner's random paths add no label values.
"""

from __future__ import annotations

import time

from quart import current_app, request

from .asgi_types import ASGIApp, Message, Receive, Scope, Send, open_scope
from .auth.verify import PATH as VERIFY_PATH
from .metrics import AppMetrics

ROUTE = "slicerweb.route"
FAMILY = "slicerweb.family"
FAMILIES_KEY = "slicerweb.families"  # blueprint -> family, filled by create_app (auth/verify.py)
OPS_BLUEPRINTS = frozenset({"health", "metrics"})


async def label_request() -> None:
    """App-level before-request hook: record the matched route template and family in the scope."""
    rule = request.url_rule
    scope = open_scope(request.scope)
    scope[ROUTE] = rule.rule if rule is not None else "unmatched"
    families: dict[str, str] = current_app.extensions.get(FAMILIES_KEY, {})
    blueprint = request.blueprint or ""
    scope[FAMILY] = "ops" if blueprint in OPS_BLUEPRINTS else families.get(blueprint, "none")


class RequestMetricsMiddleware:
    """Count, time and size every HTTP answer."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 0
        received = 0
        sent = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False):
                    verifier = scope["path"] == VERIFY_PATH  # answered before Quart: no route was matched
                    self.metrics.observe_request(scope.get(FAMILY, "verifier" if verifier else "none"),
                                                 scope.get(ROUTE, VERIFY_PATH if verifier else "unmatched"),
                                                 scope["method"], status, time.perf_counter() - started,
                                                 received, sent)
            await send(message)

        await self.app(scope, counting_receive, counting_send)
        return None
