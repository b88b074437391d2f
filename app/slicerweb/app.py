"""create_app(policy, engine): the one app factory.

Hook order, in one place:
  ASGI (outermost first): access log + request id -> Connection: close on unread body
                          -> header size bound -> Host allow-list -> proxy verifier (GET /auth/verify) -> CORS -> Quart
  Quart before_request:   family guard (flag, token, scope, exec gate) -> body limit
  Quart after_request:    privileged-act audit -> security headers (Quart runs them in reverse
                          order of registration)
Families whose policy flag is off are never mounted: every path in them is a 404 JSON.
Third-party families come from the `slicerweb.families` entry-point group (see `extensions.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from quart import Blueprint, Quart, g

from . import admin, extensions, health, metrics_routes, static
from .access_log import AccessLogMiddleware
from .audit import AuditLog
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
from .headers import security_headers_hook
from .hosts import TrustedHostMiddleware
from .keepalive import CloseOnUnreadBody
from .limits import apply_body_limit, largest_limit
from .metrics import AppMetrics
from .policy import Policy, data_dir_of
from .request_metrics import RequestMetricsMiddleware, label_request
from .services import Services
from .slicer_api import create_blueprint as slicer_blueprint
from .slicer_api.compat import create_blueprint as slicer_compat_blueprint

BlueprintFactory = Callable[[Services], Blueprint]

# (family, policy flag, factory). Static comes last: its catch-all must not shadow the others.
FAMILIES: tuple[tuple[str, str | None, BlueprintFactory], ...] = (
    ("admin", None, admin.create_blueprint),
    ("dicomweb", "dicomweb", dicomweb_blueprint),
    ("slicer", "slicer", slicer_blueprint),
    ("slicer", "slicer", slicer_compat_blueprint),  # slicerio's DELETE /system (no /slicer prefix)
    ("static", "static", static.create_blueprint),
)


def create_app(policy: Policy, engine: Engine, *, authenticator: Authenticator | None = None,
               audit: AuditLog | None = None) -> Quart:
    """Build the Quart app for `policy` over `engine`."""
    app = Quart("slicerweb", static_folder=None)
    pace_request_bodies(app)  # streamed uploads hold at most body_pacing.BUFFER_BYTES unread
    app.config.update(MAX_CONTENT_LENGTH=largest_limit(policy),  # each route lowers it (limits.py)
                      BODY_TIMEOUT=int(policy.limits.body_timeout), PROVIDE_AUTOMATIC_OPTIONS=True,
                      JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep engine field order on the wire
    audit = audit or AuditLog(Path(policy.audit.path or data_dir_of(policy) / "audit.jsonl"))
    flags = FeatureFlags(policy, engine.features, audit)
    metrics = AppMetrics(engine, flags)
    services = Services(policy=policy, engine=engine, flags=flags, audit=audit,
                        authenticator=authenticator or authenticator_for(policy), trust=ProxyTrust(policy),
                        metrics=metrics)
    gate = ExecGate(flags, audit)
    limiter = FailureLimiter(policy)
    app.extensions["slicerweb"] = services
    app.extensions["slicerweb.exec_gate"] = gate
    install_error_handlers(app)
    audit.observers.append(metrics.observe_audit)
    app.extensions["slicerweb.metrics"] = metrics
    app.before_request(label_request)

    factories = [*FAMILIES[:-1], *extensions.discover(), FAMILIES[-1]]
    families: dict[str, str] = app.extensions.setdefault(verify.FAMILIES_KEY, {})
    # Operations endpoints: their own local-caller rule instead of the family guard (health.py,
    # metrics_routes.py); not in `families`, so the proxies' verifier never admits them as a family.
    if policy.features.health:
        app.register_blueprint(health.create_blueprint(services))
    if policy.features.metrics:
        app.register_blueprint(metrics_routes.create_blueprint(services, metrics, gate, limiter))
    for family, flag, factory in factories:
        if flag is not None and not getattr(policy.features, flag, False):
            continue  # never mounted: every path in it is a 404
        bp = factory(services)
        bp.before_request(make_guard(family, services, flags, gate, limiter))
        bp.before_request(_body_limit(policy))
        app.register_blueprint(bp)
        families[bp.name] = family  # blueprint -> family, for the proxies' verifier (auth/verify.py)

    app.after_request(security_headers_hook(policy))
    app.after_request(audit_privileged(services))

    @app.before_serving
    async def _start() -> None:
        await engine.start()

    @app.after_serving
    async def _stop() -> None:
        await engine.close()

    asgi = AccessLogMiddleware(
        RequestMetricsMiddleware(CloseOnUnreadBody(HeaderLimitMiddleware(
            TrustedHostMiddleware(
                verify.VerifierMiddleware(  # GET /auth/verify for the proxies (same decision as the guard)
                    CORSMiddleware(app.asgi_app, policy) if policy.features.cors else app.asgi_app,
                    app, services, gate, limiter),
                policy.server.allowed_hosts))), metrics),
        enabled=bool(policy.logging.access_log))
    app.asgi_app = asgi  # type: ignore[method-assign]  # Quart's documented middleware hook
    return app


def _body_limit(policy: Policy) -> Callable[[], object]:
    async def hook() -> None:
        apply_body_limit(policy, g.get("action"))

    return hook


def services_of(app: Quart) -> Services:
    """The Services an app was built with (for the CLI and tests)."""
    return app.extensions["slicerweb"]  # type: ignore[no-any-return]
