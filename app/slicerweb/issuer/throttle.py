"""Failed-login throttling per (username, client address), with a bounded backoff.

After `free_attempts` failures from one address for one name, each further attempt must wait
`base * 2**k` seconds (capped at `max_delay`) after the last failure. The key includes the address,
so an attacker hammering a name from elsewhere never locks its owner out, and the cap means the owner
is never locked out for longer than `max_delay` either. A success clears the key. The table is bounded:
the oldest entries go first, so a flood of names costs fixed memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 10_000


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Per (username, address) failure counts and the wait they impose."""

    def __init__(self, *, free_attempts: int = 5, base_delay: float = 1.0, max_delay: float = 60.0,
                 max_keys: int = MAX_KEYS) -> None:
        self.free_attempts, self.base_delay, self.max_delay, self.max_keys = (
            free_attempts, base_delay, max_delay, max_keys)
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()

    def wait(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds before this name may be tried again from this address (0: try now)."""
        entry = self._failures.get((username, address))
        if entry is None or entry.count < self.free_attempts:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2.0 ** (entry.count - self.free_attempts))
        return max(0.0, entry.last + delay - (time.monotonic() if now is None else now))

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        key = (username, address)
        entry = self._failures.pop(key, None) or _Failures(0, 0.0)
        entry.count, entry.last = entry.count + 1, time.monotonic() if now is None else now
        self._failures[key] = entry
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username, address), None)
