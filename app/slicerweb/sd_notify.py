"""systemd's notify protocol in a few lines: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.

A datagram to the socket named by $NOTIFY_SOCKET (a path, or an abstract name starting with '@');
without it every call is a no-op, so the same code runs under systemd, in a terminal and in tests.
The watchdog pings come from the event loop itself: a blocked loop stops them and systemd restarts
the service after WatchdogSec. Readiness problems are reported in STATUS (a read-only disk is not
cured by a restart, so they do not stop the pings).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable


def notify(*assignments: str) -> bool:
    """Send `assignments` (e.g. "READY=1") to systemd; False when not run under a notify socket."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto("\n".join(assignments).encode(), target)
        except OSError:
            return False  # systemd gone or socket misnamed: never fail the server over a notification
    return True


def watchdog_interval() -> float | None:
    """Seconds between pings (half of WatchdogSec), or None when systemd asked for none (or not us)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


async def watchdog(status: Callable[[], Awaitable[str]], interval: float) -> None:
    """Ping every `interval` seconds with a STATUS line from `status()`, until cancelled."""
    while True:
        text = "ready"
        with contextlib.suppress(Exception):  # a failing status must not stop the pings
            text = await status()
        notify("WATCHDOG=1", f"STATUS={text}")
        await asyncio.sleep(interval)
