"""The before-request hook each endpoint family installs: flag, token, decision, exec gate, audit.

Runs after the outer Host and CORS checks and before the body is read, so a refused caller cannot
make us buffer anything. Order: family flag (404 when switched off at runtime) -> query-string token
refused -> authenticate (401) -> authorize (403 insufficient_scope) -> exec gate. Denials and
privileged acts are audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Response, current_app, g, request

from ..access_log import REQUEST_ID, SUBJECT
from ..errors import ApiError, BadRequest, Forbidden, NotFound
from ..features import FeatureFlags
from ..services import Services
from .actions import action_of
from .authorize import allowed, is_public
from .exec_gate import ExecGate
from .identity import Principal

PRIVILEGED = frozenset({"exec", "admin", "dicomweb_write", "slicer_write"})
ANONYMOUS = Principal(subject="anonymous", via="anonymous")


def bearer_challenge(realm: str, error: str | None = None, description: str | None = None,
                     scope: str | None = None) -> str:
    """RFC 6750 `WWW-Authenticate` value (no error code when no credentials were sent)."""
    parts = [f'realm="{realm}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append('error_description="{}"'.format(description.replace('"', "'")))
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def make_guard(family: str, services: Services, flags: FeatureFlags,
               gate: ExecGate) -> Callable[[], Awaitable[Response | None]]:
    """Build the before-request hook for `family`."""
    policy = services.policy
    realm = policy.auth.realm

    async def guard() -> Response | None:
        g.request_id = request.scope.get(REQUEST_ID, "-")
        origin = services.trust.resolve(_peer(), request.scheme, request.headers)
        g.origin = origin
        if family != "admin" and not await flags.enabled(family):
            raise NotFound("not found")
        if request.method == "OPTIONS":
            return None
        view = current_app.view_functions.get(request.endpoint or "")
        action = action_of(view, family, request.method)
        g.action = action
        if "access_token" in request.args:
            _deny(services, ANONYMOUS, action, origin.client, 400, "token in query string")
            raise BadRequest("access tokens are accepted only in the Authorization header (RFC 6750 §2.1)",
                             headers={"WWW-Authenticate": bearer_challenge(
                                 realm, "invalid_request", "token in query string")})
        if is_public(action, policy) and "authorization" not in request.headers:
            principal = ANONYMOUS
        else:
            try:
                principal = await services.authenticator.authenticate(request.headers, request.args)
            except ApiError as exc:
                _deny(services, ANONYMOUS, action, origin.client, exc.status, exc.message)
                raise
            decision = allowed(principal, action, policy)
            if not decision.allowed:
                _deny(services, principal, action, origin.client, 403, decision.reason)
                scope = " ".join(decision.required)
                raise Forbidden(f"insufficient scope: {decision.reason}", headers={
                    "WWW-Authenticate": bearer_challenge(realm, "insufficient_scope", decision.reason, scope)})
        g.principal = principal
        request.scope[SUBJECT] = principal.subject
        if action == "exec":
            await gate.check(principal, client=origin.client, request_id=g.request_id)
        return None

    return guard


def audit_privileged(services: Services) -> Callable[[Response], Awaitable[Response]]:
    """After-request hook: one audit line per privileged act with its outcome."""

    async def record(response: Response) -> Response:
        action = g.get("action")
        principal = g.get("principal")
        if action in PRIVILEGED and principal is not None and action != "exec":
            services.audit.record(f"{action}", subject=principal.subject, client=g.origin.client,
                                  request_id=g.request_id, method=request.method, path=request.path,
                                  status=response.status_code)
        return response

    return record


def _deny(services: Services, principal: Principal, action: str, client: str, status: int,
          reason: str) -> None:
    services.audit.record("access.denied", subject=principal.subject, client=client,
                          request_id=g.request_id, method=request.method, path=request.path,
                          action=action, status=status, reason=reason)


def _peer() -> str:
    client = request.scope.get("client")
    return client[0] if client else ""
