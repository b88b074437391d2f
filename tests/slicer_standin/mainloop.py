"""A stand-in for Slicer's Qt main loop: it keeps the GIL while it waits, as Slicer's does.

Slicer embeds Python through PythonQt; neither Slicer nor CTK calls `PythonQt::setEnableThreadSupport`
or `PyEval_SaveThread`, so PythonQt's GIL switching stays off (PythonQt src/PythonQtThreadSupport.cpp)
and the main thread keeps the GIL while Qt's event loop blocks in native code. Here the loop blocks in
libc `poll()` called through `ctypes.PyDLL`, which (unlike `CDLL`) does not release the GIL: a Python
thread of this process runs only while the loop executes Python (a notifier or timer callback).

"Busy" stands for rendering: a repeating timer spends `busy_ms` in native code (`usleep` through PyDLL,
GIL held), as VTK rendering does on Slicer's main thread.

`StandInQt` offers the few `qt` names the engine and host use, with Qt 6 behaviour (Slicer builds with
Qt 6.8, CMakeLists.txt ~196-201): `QSocketNotifier.connect("activated(int)", fn)` fails, because Qt 6's
signal is `activated(QSocketDescriptor, QSocketNotifier::Type)`; `notifier.activated.connect(fn)` works.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

LIBC = ctypes.PyDLL(None)  # PyDLL: the GIL stays held during the call
POLLIN = 0x001


class PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


class Signal:
    """A PythonQt signal object: `.connect(callable)`."""

    def __init__(self) -> None:
        self.slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> bool:
        self.slots.append(slot)
        return True

    def emit(self, *args: Any) -> None:
        for slot in list(self.slots):
            slot(*args)


class MainLoop:
    """poll() on the notifiers' descriptors and timers, GIL held throughout."""

    def __init__(self, busy_ms: float = 0.0, busy_period_ms: float = 33.0) -> None:
        self.notifiers: list[Any] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.stopping = False
        if busy_ms > 0:
            def render() -> None:
                LIBC.usleep(int(busy_ms * 1000))  # native work holding the GIL, like a VTK render
                self.call_later(busy_period_ms / 1000, render)
            self.call_later(0, render)

    def call_later(self, seconds: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + seconds, next(self._order), fn))

    def run(self) -> None:
        while not self.stopping:
            active = [n for n in self.notifiers if n.enabled]
            fds = (PollFd * max(1, len(active)))()
            for slot, notifier in zip(fds, active, strict=False):
                slot.fd, slot.events = notifier.fd, POLLIN
            timeout = -1
            if self._timers:
                timeout = max(0, int((self._timers[0][0] - time.monotonic()) * 1000 + 0.999))
            LIBC.poll(fds, len(active), timeout)
            for slot, notifier in zip(fds, active, strict=False):
                if slot.revents and notifier.enabled:
                    notifier.activated.emit(notifier.fd, 0)  # Qt 6: (QSocketDescriptor, Type)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                fn()


class StandInQt:
    """`qt` as far as SlicerWebHost and the engine use it, bound to one MainLoop."""

    def __init__(self, loop: MainLoop) -> None:
        self.loop = loop

        class QSocketNotifier:
            Read = 0

            def __init__(self, fd: int, kind: int) -> None:
                self.fd, self.enabled, self.activated = fd, True, Signal()
                loop.notifiers.append(self)

            def setEnabled(self, enabled: bool) -> None:  # Qt's name
                self.enabled = enabled

            def connect(self, signature: str, slot: Callable[..., Any]) -> bool:
                """PythonQt's connect by signature returns False (and only warns "signal ... does not exist")
                when the signature is unknown (PythonQt src/PythonQtStdDecorators.cpp, connect); Qt 6 has no
                `activated(int)`, so nothing is connected."""
                return False

        class QTimer:
            @staticmethod
            def singleShot(ms: int, fn: Callable[[], None]) -> None:  # Qt's name
                loop.call_later(ms / 1000, fn)

        self.QSocketNotifier = QSocketNotifier
        self.QTimer = QTimer
