"""What the log says while the index's database is unreachable: a few lines per outage, not one per call.

Under load every request that needs a PostgreSQL that is down is refused (503); logging each refusal
would bury the log under thousands of identical warnings a minute. `OutageLog` writes instead:
- one warning when the database becomes unreachable, with the reason (the driver's first line, which
  names the server but never a password: the caller passes a redacted location);
- at most one reminder per `reminder_seconds` while it stays down, with how long and how many calls
  were refused since the last line;
- one info line when a call reaches it again, with the outage's length and total refusals.

    >>> outage = OutageLog(logging.getLogger("demo"), "DICOM index db/slicerweb", 60)
    >>> outage.refused("connection refused"); outage.refused("connection refused"); outage.down
    True
    >>> outage.reached(); outage.down
    False

Per process: each instance reports what it sees (its own refusals), which is what its operator needs.
"""

from __future__ import annotations

import logging
import threading
import time


class OutageLog:
    """Turns a stream of failed and successful calls into outage-start, reminder and recovery lines."""

    def __init__(self, log: logging.Logger, what: str, reminder_seconds: float) -> None:
        self._log = log
        self._what = what
        self._reminder_seconds = reminder_seconds
        self._lock = threading.Lock()
        self.down = False
        self._since = 0.0  # monotonic start of the outage
        self._reported = 0.0  # monotonic time of the last line about it
        self._refused = 0  # calls refused since the last line
        self._total = 0  # calls refused in this outage

    def refused(self, reason: str) -> None:
        """A call failed because the database is unreachable (`reason`: one line, no credentials)."""
        now = time.monotonic()
        with self._lock:
            self._refused += 1
            self._total += 1
            if not self.down:
                self.down, self._since, self._reported, self._refused = True, now, now, 0
                self._log.warning("%s unreachable: %s; its calls are refused (503) until it is back", self._what,
                                  reason)
            elif now - self._reported >= self._reminder_seconds:
                self._log.warning("%s still unreachable after %.0f s: %d calls refused since the last report (%s)",
                                  self._what, now - self._since, self._refused, reason)
                self._reported, self._refused = now, 0

    def reached(self) -> None:
        """A call got a connection: if an outage was on, it is over."""
        if not self.down:  # the common case: one attribute read, no lock
            return
        with self._lock:
            if not self.down:
                return
            self._log.info("%s is back after %.0f s (%d calls refused meanwhile)", self._what,
                           time.monotonic() - self._since, self._total)
            self.down, self._refused, self._total = False, 0, 0
