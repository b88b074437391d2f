"""Services: the shared objects of one app, and the only way handlers and hooks reach them.

Blueprints are built by `create_blueprint(services)` functions and close over this object, so no
handler reaches for process-wide globals or `current_app.extensions` string keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .audit import AuditLog
from .auth.authenticator import Authenticator
from .auth.exec_gate import ExecGate
from .auth.failures import FailureLimiter
from .engine.protocol import Engine
from .features import FeatureFlags
from .forwarded import ProxyTrust
from .metrics import AppMetrics
from .policy import Policy


@dataclass(frozen=True)
class Services:
    policy: Policy
    engine: Engine
    flags: FeatureFlags
    audit: AuditLog
    authenticator: Authenticator
    trust: ProxyTrust
    gate: ExecGate  # exec switch: checked by the guard, runs recorded by the exec handler
    limiter: FailureLimiter  # failed authentications per client, shared by every family and the verifier
    metrics: AppMetrics
    worker: int | None = None  # this process's index among `serve --workers N` workers (None: the only one)
    # Blueprint name -> family, filled by create_app while mounting (the proxies' verifier and the
    # request metrics map a matched route back to its family with it).
    families: dict[str, str] = field(default_factory=dict)
