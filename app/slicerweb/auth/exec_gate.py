"""The exec gate: /slicer/exec runs only while the exec feature is on, and every attempt is audited.

Exec is off unless the policy turns it on or an admin (or the local operator, through the CLI)
switches it on for a bounded time (`features.py`). Even then the caller needs the exec scope
(checked by the guard before this gate). Refusals answer 403 JSON and leave an audit line.
"""

from __future__ import annotations

import hashlib

from ..audit import AuditLog
from ..errors import Forbidden
from ..features import FeatureFlags
from .identity import Principal


class ExecGate:
    """Checks the exec flag and writes exec audit records."""

    def __init__(self, flags: FeatureFlags, audit: AuditLog) -> None:
        self.flags, self.audit = flags, audit

    async def check(self, principal: Principal, *, client: str, request_id: str) -> None:
        """Raise Forbidden (and audit it) unless exec is on."""
        if not await self.flags.enabled("exec"):
            self.audit.record("exec.denied", subject=principal.subject, client=client,
                              request_id=request_id, reason="exec disabled")
            raise Forbidden("remote exec is disabled; an admin can enable it for a limited time "
                            "(PUT /admin/features/exec)")

    def record_run(self, principal: Principal, source: str, *, client: str, request_id: str,
                   outcome: str, error: str | None = None) -> None:
        """Audit one exec run: who, from where, the code's digest and size, and the outcome."""
        data = source.encode()
        self.audit.record("exec.run", subject=principal.subject, client=client, request_id=request_id,
                          sha256=hashlib.sha256(data).hexdigest(), size=len(data), outcome=outcome,
                          error=error)
