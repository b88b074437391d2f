"""Rate limiting of authentication failures per client address (app level).

Stock Caddy has no rate limiting, and nginx cannot key a limit on the verifier's verdict, so the
app counts failed authentications (401 and 400 answers) per client address in a sliding window:
after `auth.failure_limit` failures within `auth.failure_window_seconds`, that client's unverified
attempts (no token, a bad token) get 429 until the window has passed. A valid token is never
refused by it (`guard.admit` verifies a presented token even for a throttled address): many users
share one address behind a NAT or VDI host, and one of them failing must not lock the others out
(ASVS 2.2.1). Failures while throttled still count, so a flood stays throttled. The client address is the one
`forwarded.ProxyTrust` derives (the proxy's `X-Forwarded-For` only when the proxy is trusted).
State is per process; a second instance counts on its own (acceptable: it only slows guessing).
"""

from __future__ import annotations

import time
from collections import deque

from ..policy import Policy

MAX_CLIENTS = 65536


class FailureLimiter:
    """Sliding-window counter of authentication failures per client."""

    def __init__(self, policy: Policy) -> None:
        self.limit = policy.auth.failure_limit
        self.window = policy.auth.failure_window_seconds
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again; 0 when it is not blocked."""
        if self.limit == 0:
            return 0
        recent = self._recent(client, time.monotonic())
        if recent is None or len(recent) < self.limit:
            return 0
        return max(1, int(recent[0] + self.window - time.monotonic()) + 1)

    def failed(self, client: str) -> None:
        """Count one failure for `client`."""
        if self.limit == 0:
            return
        now = time.monotonic()
        recent = self._recent(client, now)
        if recent is None:
            if len(self._failures) >= MAX_CLIENTS:
                self._failures.pop(next(iter(self._failures)))
            recent = self._failures[client] = deque()
        recent.append(now)
        while len(recent) > self.limit:
            recent.popleft()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        recent = self._failures.get(client)
        if recent is None:
            return None
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if not recent:
            del self._failures[client]
            return None
        return recent
