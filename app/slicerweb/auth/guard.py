"""The before-request hook each endpoint family installs: flag, token, decision, exec gate, audit.

Runs after the outer Host and CORS checks and before the body is read, so a refused caller cannot
make us buffer anything. Order: family flag (404 when switched off at runtime) -> query-string token
refused -> authenticate (401) -> authorize (403 insufficient_scope) -> exec gate. Denials and
privileged acts are audited. An admitted request gets its one `RequestContext` (request_context.py)
here; handlers read it with `request_context.current()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from quart import Response, current_app, request

from ..asgi_types import HeaderMap
from ..errors import ApiError, BadRequest, InsufficientScope, NotFound, TooManyRequests
from ..limits import REFUSED_DRAIN_BYTES, drain_body
from ..request_context import RequestContext, attach, context_of, request_headers, request_id_of, request_scope
from ..services import Services
from .actions import action_of
from .authorize import allowed, is_public
from .challenge import bearer_challenge
from .identity import Principal

__all__ = ["ANONYMOUS", "PRIVILEGED", "admit", "audit_privileged", "bearer_challenge", "make_guard"]

PRIVILEGED = frozenset({"exec", "admin", "dicomweb_write", "dicomweb_delete", "slicer_write"})
ANONYMOUS = Principal(subject="anonymous", via="anonymous")


def make_guard(family: str, services: Services) -> Callable[[], Awaitable[Response | None]]:
    """Build the before-request hook for `family`: it admits the request and sets its context once."""

    async def guard() -> Response | None:
        request_id = request_id_of(request_scope())
        origin = services.trust.resolve(_peer(), request.scheme, request_headers())
        if family != "admin" and not await services.flags.enabled(family):
            raise NotFound("not found")
        if request.method == "OPTIONS":
            return None
        view = current_app.view_functions.get(request.endpoint or "")
        action = action_of(view, family, request.method)
        try:
            principal = await admit(services, action=action, headers=request_headers(), query=request.args,
                                    client=origin.client, request_id=request_id, method=request.method,
                                    path=request.path)
        except ApiError:
            await drain_body(REFUSED_DRAIN_BYTES)
            raise
        attach(request_scope(), RequestContext(request_id=request_id, origin=origin, family=family, action=action,
                                             principal=principal))
        return None

    return guard


async def admit(services: Services, *, action: str, headers: HeaderMap, query: Mapping[str, str],
                client: str, request_id: str, method: str, path: str) -> Principal:
    """The one admission decision (guard and proxy verifier alike): token, scope, exec gate.

    Raises 429 (too many failures), 400/401 (RFC 6750), 403 (insufficient_scope, exec off); every
    refusal is audited. The failure limiter only ever refuses *unverified* attempts: a client address
    over its limit still has a presented token verified, and a valid one is admitted (ASVS 2.2.1:
    anti-automation must not let one machine behind a NAT lock out everyone else there).
    """
    policy, limiter = services.policy, services.limiter
    realm = policy.auth.realm
    audit = _Denials(services, client, request_id, method, path, action)
    wait = limiter.retry_after(client)

    def throttled() -> TooManyRequests:
        audit.deny(ANONYMOUS, 429, "too many failed authentications")
        return TooManyRequests("too many failed authentications; try again later", headers={"Retry-After": str(wait)})

    if "access_token" in query:
        if wait:
            raise throttled()
        limiter.failed(client)
        audit.deny(ANONYMOUS, 400, "token in query string")
        raise BadRequest("access tokens are accepted only in the Authorization header (RFC 6750 §2.1)",
                         headers={"WWW-Authenticate": bearer_challenge(
                             realm, "invalid_request", "token in query string")})
    if is_public(action, policy) and "authorization" not in headers:
        return ANONYMOUS  # not an authentication attempt
    if wait and "authorization" not in headers:
        raise throttled()
    try:
        principal = await services.authenticator.authenticate(headers, query)
    except ApiError as exc:
        if "authorization" in headers:  # a bad credential, not merely a missing one
            limiter.failed(client)
        if wait:
            raise throttled() from exc
        audit.deny(ANONYMOUS, exc.status, exc.message)
        raise
    decision = allowed(principal, action, policy)
    if not decision.allowed:
        audit.deny(principal, 403, decision.reason)
        scope = " ".join(decision.required)
        raise InsufficientScope(f"insufficient scope: {decision.reason}", headers={
            "WWW-Authenticate": bearer_challenge(realm, "insufficient_scope", decision.reason, scope)})
    if action == "exec":
        await services.gate.check(principal, client=client, request_id=request_id)
    return principal


def audit_privileged(services: Services) -> Callable[[Response], Awaitable[Response]]:
    """After-request hook: one audit line per privileged act with its outcome, on disk before the response.

    Exec runs are recorded by the exec handler (`ExecGate.record_run`); waiting for `durable()` here
    makes that record, and any the handler wrote (file access, feature toggles), durable too.
    """

    async def record(response: Response) -> Response:
        context = context_of(request_scope())
        if context is not None and context.action in PRIVILEGED:
            if context.action != "exec":
                services.audit.record(context.action, subject=context.subject, client=context.client,
                                      request_id=context.request_id, method=request.method, path=request.path,
                                      status=response.status_code)
            await services.audit.durable()
        return response

    return record


class _Denials:
    """Writes `access.denied` audit records for one request."""

    def __init__(self, services: Services, client: str, request_id: str, method: str, path: str,
                 action: str) -> None:
        self.audit = services.audit
        self.fields = {"client": client, "request_id": request_id, "method": method, "path": path,
                       "action": action}

    def deny(self, principal: Principal, status: int, reason: str) -> None:
        # droppable: only a stalled disk under a flood can fill the queue; then denials are counted.
        self.audit.record("access.denied", droppable=True, subject=principal.subject, status=status, reason=reason,
                          **self.fields)


def _peer() -> str:
    client = request.scope.get("client")
    return client[0] if client else ""
