"""The one authorization decision: allowed(principal, action, policy) -> Decision.

Actions are the policy's `ACTIONS`. A principal may perform an action when any scope listed for it
in `[scopes]` was granted, or the action is listed in `auth.public`. With auth off (loopback only)
the local operator may do everything the feature flags allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..policy import Policy
from .identity import Principal


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    required: tuple[str, ...] = ()


def allowed(principal: Principal, action: str, policy: Policy) -> Decision:
    """Decide whether `principal` may perform `action` under `policy`."""
    if principal.is_local:
        return Decision(True, "local operator (auth off, loopback only)")
    required = policy.scopes.granting(action)
    granted = principal.scopes.intersection(required)
    if granted:
        return Decision(True, f"scope {sorted(granted)[0]}", required)
    return Decision(False, f"needs one of the scopes: {' '.join(required)}", required)


def is_public(action: str, policy: Policy) -> bool:
    """Actions open without a token (never exec, admin or writes: the policy loader refuses those)."""
    return action in policy.auth.public
