"""RequestContext: what the guard decided about one request, set once, read through one accessor.

Identity and authorization stay separate typed objects (as in Jupyter Server's `auth/`): the
`Principal` says who is asking (auth/identity.py); the context adds what the guard decided for this
request: its id, the client's origin, the family and the action it admitted that principal to.

The guard (or /metrics' own admission) builds it once, after admitting the request, and stores it
in the ASGI scope, so the access log outside Quart reads the same object. Handlers call `current()`;
hooks that also run for refused or unguarded requests call `context_of(request.scope)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from quart import request

from .asgi_types import Scope
from .auth.identity import Principal
from .forwarded import Origin

CONTEXT = "slicerweb.context"
REQUEST_ID = "slicerweb.request_id"  # set by the outermost layer (access_log.py) before anything else


@dataclass(frozen=True)
class RequestContext:
    """One admitted request: id, origin, family, action and the principal it was admitted for."""

    request_id: str
    origin: Origin
    family: str
    action: str
    principal: Principal

    @property
    def client(self) -> str:
        """The client's address (a trusted proxy's forwarded one, else the socket peer's)."""
        return self.origin.client

    @property
    def subject(self) -> str:
        return self.principal.subject


def attach(scope: Scope, context: RequestContext) -> None:
    """Store the request's context; a second attempt is a programming error, not an overwrite."""
    if CONTEXT in scope:
        raise RuntimeError("the request context is set once, by the guard")
    scope[CONTEXT] = context


def context_of(scope: Scope) -> RequestContext | None:
    """The context of the request behind `scope`, or None when no guard admitted it (yet)."""
    context = scope.get(CONTEXT)
    return context if isinstance(context, RequestContext) else None


def current() -> RequestContext:
    """The admitted request's context (handlers in a guarded family)."""
    context = context_of(request_scope())
    if context is None:
        raise RuntimeError("no request context: this handler is not behind a family guard")
    return context


def request_scope() -> Scope:
    """This request's ASGI scope: the same dict the ASGI layers see (Quart types it as a closed TypedDict)."""
    return cast(Scope, request.scope)


def request_headers() -> Mapping[str, str]:
    """This request's headers, case-insensitive (werkzeug's `Headers` reads like a Mapping; its types say otherwise)."""
    return cast("Mapping[str, str]", request.headers)


def request_id_of(scope: Scope) -> str:
    """The request id the access log assigned (`-` outside the app's ASGI stack)."""
    return str(scope.get(REQUEST_ID, "-"))
