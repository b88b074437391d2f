"""The one JSON error answer, `{"success": false, "message": ..., "code": ...}`, for Quart and ASGI alike.

`errors.error_response` (handlers, hooks) and `send_error` (the ASGI layers: Host allow-list, header
bound, CORS preflight, the proxies' verifier) write the same body bytes (compact JSON and a newline,
as Quart's `jsonify`) and the same headers in the same order: `Content-Type` exactly
`application/json` (slicerio reads the message only then), `Content-Length`, `Cache-Control:
no-store`, then the error's own. The security headers are added to every answer by one ASGI layer
(`headers.SecurityHeadersMiddleware`), so a refusal by an outer layer and one by a handler differ
only in their body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .asgi_types import Send

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 408: "request_timeout", 409: "conflict",
    411: "length_required", 413: "payload_too_large", 414: "uri_too_long",
    415: "unsupported_media_type", 416: "range_not_satisfiable", 429: "too_many_requests",
    503: "unavailable", 507: "insufficient_storage",
}


def error_payload(status: int, message: str, code: str | None = None, **extra: Any) -> bytes:
    """The body: `success: false` keeps the WebServer module's clients happy; `code` defaults from `status`."""
    body = {"success": False, "message": message, "code": code or HTTP_CODES.get(status, "error"), **extra}
    return (json.dumps(body, separators=(",", ":")) + "\n").encode()


def error_headers(payload: bytes, headers: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The headers of an error answer carrying `payload`, in the order every writer sends them."""
    return [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"), *(headers or {}).items()]


async def send_error(send: Send, status: int, message: str, code: str | None = None,
                     headers: Mapping[str, str] | None = None, **extra: Any) -> None:
    """Answer an ASGI request with the JSON error (for layers outside Quart)."""
    payload = error_payload(status, message, code, **extra)
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1", errors="replace"))
           for name, value in error_headers(payload, headers)]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
