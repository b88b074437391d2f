"""Services: what a blueprint factory is given (policy, engine, flags, audit, auth, proxy trust, metrics).

Blueprints are built by `create_blueprint(services)` functions and close over this object, so no
handler reaches for process-wide globals.
"""

from __future__ import annotations

from dataclasses import dataclass

from .audit import AuditLog
from .auth.authenticator import Authenticator
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
    metrics: AppMetrics
