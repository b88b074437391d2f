"""Effective feature flags: the policy's value, unless a runtime override is in force.

The policy is the ceiling for endpoint families: a family off in the policy is never mounted and
cannot be switched on at runtime. Within that, an admin may switch a family off and on, and may switch
`exec` on for a bounded time (when `features.exec_toggle` allows it). Overrides live in the engine's
FeatureStore (the data directory), so every instance behind the proxy agrees; this process caches
them for at most `CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from .audit import AuditLog
from .engine.protocol import FeatureOverride, FeatureStore
from .policy import FAMILIES, Policy

TOGGLEABLE = (*FAMILIES, "dicomweb_write", "exec")
CACHE_SECONDS = 1.0
DEFAULT_EXEC_MINUTES = 15
EXPIRY_CHECK_SECONDS = 5.0  # how soon an expiry set by another instance is noticed (and audited)


class FeatureRefused(Exception):
    """A toggle the policy does not allow (message says why)."""


@dataclass(frozen=True)
class FeatureState:
    name: str
    enabled: bool
    policy_value: bool
    override: FeatureOverride | None

    def as_json(self) -> dict[str, object]:
        o = self.override
        return {"name": self.name, "enabled": self.enabled, "policy": self.policy_value,
                "override": None if o is None else {
                    "enabled": o.enabled, "expires_at": o.expires_at, "changed_by": o.changed_by,
                    "changed_at": o.changed_at}}


class FeatureFlags:
    """Reads and toggles features; every toggle is audited with who, when, old and new value."""

    def __init__(self, policy: Policy, store: FeatureStore, audit: AuditLog) -> None:
        self.policy, self.store, self.audit = policy, store, audit
        self._cache: tuple[float, dict[str, FeatureOverride]] = (0.0, {})
        self._changed = asyncio.Event()  # wakes watch_expiry when this process sets a new expiry

    async def _overrides(self) -> dict[str, FeatureOverride]:
        now = time.time()
        stamp, cached = self._cache
        if now - stamp > CACHE_SECONDS or any(o.expires_at and o.expires_at <= now for o in cached.values()):
            cached = await self.store.overrides(now)
            self._cache = (now, cached)
        return cached

    async def state(self, name: str) -> FeatureState:
        policy_value = bool(getattr(self.policy.features, name))
        override = (await self._overrides()).get(name)
        enabled = policy_value if override is None else override.enabled
        if name in FAMILIES and not policy_value:
            enabled = False  # the policy is the ceiling for families
        return FeatureState(name, enabled, policy_value, override)

    async def enabled(self, name: str) -> bool:
        return (await self.state(name)).enabled

    async def set(self, name: str, enabled: bool, *, actor: str, minutes: float | None = None,
                  **context: Any) -> FeatureState:
        """Override `name`; exec turns itself off after `minutes` (default 15, bounded by policy)."""
        if name not in TOGGLEABLE:
            raise FeatureRefused(f"unknown feature {name!r}; toggleable: {', '.join(TOGGLEABLE)}")
        old = await self.state(name)
        if enabled and name in FAMILIES and not old.policy_value:
            raise FeatureRefused(f"{name} is disabled by the policy ({self.policy.source})")
        if name == "exec" and enabled and not self.policy.features.exec_toggle:
            raise FeatureRefused("the policy does not allow switching exec on at runtime "
                                 "(features.exec_toggle = false)")
        expires_at = None
        if name == "exec" and enabled:
            limit = self.policy.features.exec_toggle_max_minutes
            minutes = DEFAULT_EXEC_MINUTES if minutes is None else minutes
            if not 0 < minutes <= limit:
                raise FeatureRefused(f"minutes must be between 0 and {limit} (features.exec_toggle_max_minutes)")
        if minutes is not None:
            expires_at = time.time() + minutes * 60
        await self.store.set_override(FeatureOverride(name, enabled, expires_at, actor, time.time()))
        self._cache = (0.0, {})
        self._changed.set()
        new = await self.state(name)
        self.audit.record("feature.toggle", feature=name, subject=actor, old=old.enabled, new=new.enabled,
                          expires_at=expires_at, **context)
        return new

    async def reset(self, name: str, *, actor: str, **context: Any) -> FeatureState:
        """Drop any override: back to the policy's value."""
        old = await self.state(name)
        await self.store.clear_override(name)
        self._cache = (0.0, {})
        new = await self.state(name)
        self.audit.record("feature.reset", feature=name, subject=actor, old=old.enabled, new=new.enabled,
                          **context)
        return new

    async def expire_due(self) -> list[FeatureOverride]:
        """Drop the overrides whose time is up, auditing each once (`feature.expired`, subject `system`).

        Exec is already off at its expiry (`state()` ignores an expired override); this makes the
        end visible in the audit log and the console even when nobody asks for exec.
        """
        expired = await self.store.expire(time.time())
        if expired:
            self._cache = (0.0, {})
        for override in expired:
            new = await self.state(override.name)
            self.audit.record("feature.expired", feature=override.name, subject="system", old=override.enabled,
                              new=new.enabled, expires_at=override.expires_at, changed_by=override.changed_by)
        return expired

    async def watch_expiry(self) -> None:
        """Run `expire_due` at each expiry (and every EXPIRY_CHECK_SECONDS for other instances' toggles)."""
        while True:
            self._changed.clear()  # before reading: a toggle from now on wakes the wait below
            await self.expire_due()
            now = time.time()
            due = [o.expires_at - now for o in (await self._overrides()).values() if o.expires_at]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.05, min([EXPIRY_CHECK_SECONDS, *due])))
