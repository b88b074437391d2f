"""create_app(policy, engine): the one app factory.

The order requests pass through is code, in two lists here: `asgi_layers()` (the ASGI layers,
outermost first, built by middleware.build_stack) and `family_hooks()` (each family's Quart
before-request hooks, in order). App-wide, one before-request hook labels the matched route for the
request metrics and one after-request hook audits privileged acts.
Families whose policy flag is off are never mounted: every path in them is a 404 JSON.
Third-party families come from the `slicerweb.families` entry-point group (see `extensions.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from quart import Blueprint, Quart

from . import admin, extensions, health, metrics_routes, static
from .access_log import AccessLogMiddleware
from .asgi_types import ASGIApp
from .audit import AuditLog
from .audit_files import open_audit_log
from .auth import verify
from .auth.authenticator import Authenticator, authenticator_for
from .auth.exec_gate import ExecGate
from .auth.failures import FailureLimiter
from .auth.guard import audit_privileged, make_guard
from .body_pacing import pace_request_bodies
from .cors import CORSMiddleware
from .dicomweb import create_blueprint as dicomweb_blueprint
from .engine.protocol import Engine
from .errors import install_error_handlers
from .features import FeatureFlags
from .forwarded import ProxyTrust
from .header_limit import HeaderLimitMiddleware
from .headers import SecurityHeadersMiddleware, security_headers
from .hosts import TrustedHostMiddleware
from .keepalive import CloseOnUnreadBody
from .limits import apply_body_limit, largest_limit
from .metrics import AppMetrics
from .middleware import Middleware, build_stack
from .policy import Policy
from .request_context import context_of, request_scope
from .request_metrics import RequestMetricsMiddleware, request_labeller
from .services import Services
from .slicer_api import create_blueprint as slicer_blueprint
from .slicer_api.compat import create_blueprint as slicer_compat_blueprint

BlueprintFactory = Callable[[Services], Blueprint]
SERVICES_KEY = "slicerweb"

# (family, policy flag, factory). Static comes last: its catch-all must not shadow the others.
FAMILIES: tuple[tuple[str, str | None, BlueprintFactory], ...] = (
    ("admin", None, admin.create_blueprint),
    ("dicomweb", "dicomweb", dicomweb_blueprint),
    ("slicer", "slicer", slicer_blueprint),
    ("slicer", "slicer", slicer_compat_blueprint),  # slicerio's DELETE /system (no /slicer prefix)
    ("static", "static", static.create_blueprint),
)


def create_app(policy: Policy, engine: Engine, *, authenticator: Authenticator | None = None,
               audit: AuditLog | None = None, worker: int | None = None) -> Quart:
    """Build the Quart app for `policy` over `engine`; `worker`: this process's index among `serve --workers N`
    (None: the only process)."""
    app = Quart("slicerweb", static_folder=None)
    pace_request_bodies(app)  # streamed uploads hold at most body_pacing.BUFFER_BYTES unread
    app.config.update(MAX_CONTENT_LENGTH=largest_limit(policy),  # each route lowers it (limits.py)
                      BODY_TIMEOUT=policy.limits.body_timeout, PROVIDE_AUTOMATIC_OPTIONS=True,
                      JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep engine field order on the wire
    audit = audit or open_audit_log(policy)
    flags = FeatureFlags(policy, engine.features, audit)
    services = Services(policy=policy, engine=engine, flags=flags, audit=audit,
                        authenticator=authenticator or authenticator_for(policy), trust=ProxyTrust(policy),
                        gate=ExecGate(flags, audit), limiter=FailureLimiter(policy),
                        metrics=AppMetrics(engine, flags), worker=worker)
    app.extensions[SERVICES_KEY] = services  # for services_of() only: handlers get `services` when built
    install_error_handlers(app)
    audit.observers.append(services.metrics.observe_audit)
    app.before_request(request_labeller(services.families))

    factories = [*FAMILIES[:-1], *extensions.discover(), FAMILIES[-1]]
    # Operations endpoints: their own local-caller rule instead of the family guard (health.py,
    # metrics_routes.py); not in `families`, so the proxies' verifier never admits them as a family.
    if policy.features.health:
        app.register_blueprint(health.create_blueprint(services))
    if policy.features.metrics:
        app.register_blueprint(metrics_routes.create_blueprint(services))
    for family, flag, factory in factories:
        if flag is not None and not policy.features.enabled(flag):
            continue  # never mounted: every path in it is a 404
        bp = factory(services)
        for hook in family_hooks(family, services):
            bp.before_request(hook)
        app.register_blueprint(bp)
        services.families[bp.name] = family  # blueprint -> family, for the proxies' verifier (auth/verify.py)

    app.after_request(audit_privileged(services))

    @app.before_serving
    async def _start() -> None:
        await engine.start()

    @app.after_serving
    async def _stop() -> None:
        await engine.close()

    stack = build_stack(cast(ASGIApp, app.asgi_app), asgi_layers(app, services))
    app.asgi_app = stack  # type: ignore[assignment,method-assign]  # Quart's documented middleware hook
    return app


def asgi_layers(app: Quart, services: Services) -> list[Middleware]:
    """The ASGI layers around Quart, outermost first: a request meets them in this order."""
    policy = services.policy
    layers = [
        # Request id and access log first, so every answer below (refusals included) carries the id.
        Middleware(AccessLogMiddleware, enabled=bool(policy.logging.access_log)),
        Middleware(RequestMetricsMiddleware, services.metrics),  # counts every answer, the outer layers' too
        Middleware(SecurityHeadersMiddleware, security_headers(policy)),  # on every answer, one place
        Middleware(CloseOnUnreadBody),  # Connection: close when a refusal leaves the body unread
        Middleware(HeaderLimitMiddleware),  # 431 before any header is interpreted
        Middleware(TrustedHostMiddleware, policy.server.allowed_hosts),  # DNS rebinding; absolute-form targets
        Middleware(verify.VerifierMiddleware, app, services),  # GET /auth/verify: the guard's decision for proxies
    ]
    if policy.features.cors:
        layers.append(Middleware(CORSMiddleware, policy))  # preflights answered before authentication
    return layers


def family_hooks(family: str, services: Services) -> list[Callable[[], Awaitable[object]]]:
    """Each mounted family's before-request hooks, in order: guard (sets the request context), body limit."""
    policy = services.policy

    async def body_limit() -> None:
        context = context_of(request_scope())
        apply_body_limit(policy, context.action if context is not None else None)

    return [make_guard(family, services), body_limit]


def services_of(app: Quart) -> Services:
    """The Services an app was built with (for the CLI and tests)."""
    services = app.extensions[SERVICES_KEY]
    if not isinstance(services, Services):
        raise TypeError("not an app built by slicerweb.create_app")
    return services
