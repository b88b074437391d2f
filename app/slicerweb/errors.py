"""The one error model: every failure becomes `{"message": ..., "code": ...}` with the right status.

`ApiError` subclasses carry a status and a stable code (as datasette's Base400 does). Engine errors
are mapped by `ENGINE_STATUS`; Quart/Werkzeug HTTP exceptions are rendered in the same shape; anything
unexpected is a 500 whose body says "internal error" and gives the request id, never the exception text.
"""

from __future__ import annotations

import errno
import logging
from typing import Any, ClassVar

from quart import Quart, Response
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from .engine import errors as engine_errors
from .json_error import error_headers, error_payload
from .limits import ADMITTED_DRAIN_BYTES, drain_body
from .request_context import context_of, request_id_of, request_scope

log = logging.getLogger("slicerweb.errors")


class ApiError(Exception):
    """An error answered to the client as JSON with `status`; `headers` are added to the response."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.extra = extra


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class InsufficientScope(Forbidden):
    status, code = 403, "insufficient_scope"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class NotAcceptable(ApiError):
    status, code = 406, "not_acceptable"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class TooManyRequests(ApiError):
    status, code = 429, "too_many_requests"


class ServiceUnavailable(ApiError):
    status, code = 503, "unavailable"


class InsufficientStorage(ApiError):
    status, code = 507, "insufficient_storage"


ENGINE_STATUS: dict[type[engine_errors.EngineError], type[ApiError]] = {
    engine_errors.NotFound: NotFound,
    engine_errors.Invalid: BadRequest,
    engine_errors.Conflict: Conflict,
    engine_errors.Unsupported: UnsupportedMediaType,
    engine_errors.NotRepresentable: NotAcceptable,
    engine_errors.Forbidden: Forbidden,
    engine_errors.TooLarge: PayloadTooLarge,
    engine_errors.Unavailable: ServiceUnavailable,
    engine_errors.InsufficientStorage: InsufficientStorage,
}
DISK_FULL = {errno.ENOSPC: "no space left on device (ENOSPC)", errno.EDQUOT: "disk quota exceeded (EDQUOT)"}


def error_response(status: int, message: str, code: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """The one JSON error answer (json_error.py: the same bytes and headers the ASGI layers send)."""
    payload = error_payload(status, message, code, **extra)
    return Response(payload, status=status, headers=Headers(error_headers(payload, headers)))


def api_error_from(exc: engine_errors.EngineError) -> ApiError:
    """The ApiError an engine error becomes (most specific class wins)."""
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    for klass in type(exc).__mro__:
        if klass in ENGINE_STATUS:
            return ENGINE_STATUS[klass](str(exc), headers=headers)
    return ApiError(str(exc))


def install_error_handlers(app: Quart) -> None:
    """Register JSON handlers for ApiError, engine errors, HTTP exceptions and anything else."""

    @app.errorhandler(ApiError)
    async def _api(exc: ApiError) -> Response:
        await _drain_if_admitted()
        return error_response(exc.status, exc.message, exc.code, exc.headers, **exc.extra)

    @app.errorhandler(engine_errors.EngineError)
    async def _engine(exc: engine_errors.EngineError) -> Response:
        await _drain_if_admitted()
        api = api_error_from(exc)
        return error_response(api.status, api.message, api.code, api.headers)

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
        message = exc.description or exc.name
        if status == 404:
            message = "not found"
        elif status == 413:
            message = "request body too large"
        return error_response(status, message, headers=headers)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            # Any writer (upload spooling, downloads) that ran out of disk: the client can act on 507.
            log.warning("disk full while serving a request: %s", exc)
            await _drain_if_admitted()
            return error_response(507, f"insufficient storage on the server: {DISK_FULL[exc.errno]}",
                                  "insufficient_storage")
        request_id = request_id_of(request_scope())
        log.exception("unhandled error (request %s)", request_id)
        await _drain_if_admitted()
        return error_response(500, f"internal error (request id {request_id})", "internal_error",
                              request_id=request_id)


async def _drain_if_admitted() -> None:
    """An admitted caller's upload refused early (bad framing, bad NRRD): read the rest (bounded), so
    a proxy still forwarding it delivers our JSON error instead of a 502."""
    if context_of(request_scope()) is not None:
        await drain_body(ADMITTED_DRAIN_BYTES)
