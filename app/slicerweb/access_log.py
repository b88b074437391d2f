"""Request ids and the structured access log (one JSON object per line).

Outermost ASGI layer: it assigns the request id (kept from `X-Request-ID` when well-formed, so a
proxy's id carries through), returns it in the response, and logs method, path, status, bytes,
duration, client and subject when the response body is complete. The query string is not logged:
QIDO queries carry patient names.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time

from .asgi_types import ASGIApp, Message, Receive, Scope, Send
from .request_context import REQUEST_ID, context_of

_ID_PATTERN = re.compile(rb"[A-Za-z0-9._\-]{1,64}")
log = logging.getLogger("slicerweb.access")


def new_request_id() -> str:
    return secrets.token_hex(8)


class AccessLogMiddleware:
    """Assign request ids; write one JSON access line per request when `enabled`."""

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = given.decode() if _ID_PATTERN.fullmatch(given) else new_request_id()
        scope[REQUEST_ID] = request_id
        started = time.perf_counter()
        status = 0
        sent = 0

        async def send_logged(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if not message.get("more_body", False) and self.enabled:
                    self._write(scope, status, sent, started)
            await send(message)

        await self.app(scope, receive, send_logged)
        return None

    @staticmethod
    def _write(scope: Scope, status: int, sent: int, started: float) -> None:
        client = scope.get("client") or ("", 0)
        context = context_of(scope)
        log.info(json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "request_id": scope[REQUEST_ID],
            "client": client[0],
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "bytes": sent,
            "ms": round((time.perf_counter() - started) * 1000, 3),
            "subject": context.subject if context is not None else None,
        }, separators=(",", ":")))
