"""The local socket between Slicer's main thread and the SlicerWeb server process.

Why a second process (issue 17, bench/slicer_mainloop): Slicer's main thread holds the GIL while Qt's
event loop waits in native code (neither Slicer nor CTK enables PythonQt's thread support,
PythonQt/src/PythonQtThreadSupport.cpp), so a server thread inside Slicer runs only while the GUI
happens to execute Python: an idle GUI stalls every request. The server process has its own GIL; only
the calls that must touch MRML or ctkDICOMDatabase cross this socket, and Slicer's main thread answers
them when Qt reports the socket readable (a `QSocketNotifier`, as the original WebServer module watched
its sockets: Modules/Scripted/WebServer/WebServer.py ~534).

Connection: a loopback TCP connection the server process opens to a port Slicer listens on only for
it, presenting a one-time token Slicer wrote to its stdin (`host.py`); no descriptor inheritance, so
the same code path serves Windows.

Wire format: the neutral bridge framing (`engine/bridge.py`: length-prefixed pickles read back with an
allow-list), shared with the headless engine's workers; this module holds Slicer's main-thread side.

Frames, server process -> Slicer: ("call", id, service, method, args, kwargs), ("ready", url),
("note", text). Slicer -> server process: ("result", id, value), ("error", id, exception),
("start", policy file, policy changes), ("set_exec", enabled, minutes, actor), ("stop",).
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..bridge import FrameBuffer, encode_parts
from ..errors import EngineError, RemoteFailure

T = TypeVar("T")


def send_blocking(sock: socket.socket, message: tuple[Any, ...]) -> None:
    """Send a frame on a non-blocking socket, waiting for room (the peer reads continuously)."""
    for part in encode_parts(message):
        view = memoryview(part)
        while view:
            try:
                view = view[sock.send(view):]
            except BlockingIOError:
                select.select([], [sock], [], 1.0)


class InlineDispatcher:
    """The dispatcher of code that already runs on the main thread: call at once."""

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that must finish without waiting (engine calls with an InlineDispatcher)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("this engine call waits on I/O and cannot run on Slicer's main thread")


class BridgeServer:
    """Slicer's side: answers calls on the main thread whenever the socket is readable.

    One callback answers calls until `budget` seconds have passed, then hands the rest to `defer`
    (Qt: `QTimer.singleShot(0, ...)`), so a burst of requests cannot keep the GUI from repainting.
    """

    def __init__(self, sock: socket.socket, services: dict[str, object],
                 on_message: Callable[[tuple[Any, ...]], None] = lambda message: None,
                 defer: Callable[[Callable[[], None]], None] | None = None, budget: float = 0.02,
                 on_closed: Callable[[], None] = lambda: None) -> None:
        self.sock, self._services, self._on_message = sock, services, on_message
        self._defer, self._budget, self._on_closed = defer, budget, on_closed
        self._buffer = FrameBuffer()
        self._queue: deque[tuple[Any, ...]] = deque()
        self._deferred = False
        self._working = False
        self.closed = False
        sock.setblocking(False)

    def on_readable(self, *_: Any) -> None:
        """Connected to the QSocketNotifier: read what is there, answer calls within the time budget."""
        while not self.closed:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                # The server process is gone: a socket at EOF stays readable, so the notifier must stop
                # watching it or Qt would call us in a busy loop.
                self.closed = True
                self._on_closed()
                break
            self._queue.extend(self._buffer.feed(data))
        self._work()

    def _work(self) -> None:
        # A call may run a nested event loop (the screenshot's processEvents, a modal progress dialog), in
        # which Qt calls us again: queue only, and let the outer loop answer in order, one call at a time.
        if self._working:
            return
        self._working = True
        try:
            self._answer_queued()
        finally:
            self._working = False

    def _answer_queued(self) -> None:
        self._deferred = False
        deadline = time.perf_counter() + self._budget
        while self._queue and not self.closed:
            message = self._queue.popleft()
            if message[0] == "call":
                self._answer(*message[1:])
            elif message[0] == "invalid":  # a call we cannot read: it still gets its (error) answer
                self.send(("error", None, message[2]))
            else:
                self._on_message(message)
            if self._queue and self._defer is not None and time.perf_counter() > deadline:
                if not self._deferred:
                    self._deferred = True
                    self._defer(self._work)  # let the GUI run; the rest follows from Qt's loop
                return

    def _answer(self, call_id: int, service: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            target = self._services[service]
            if method.startswith("_"):
                raise AttributeError(method)
            value = run_now(getattr(target, method)(*args, **kwargs))
            reply: tuple[Any, ...] = ("result", call_id, value)
            parts = encode_parts(reply)
        except EngineError as exc:
            parts = encode_parts(("error", call_id, exc))
        except Exception as exc:  # any other failure is a 500 in the server process, with its text logged there
            parts = encode_parts(("error", call_id, RemoteFailure(type(exc).__name__, str(exc))))
        self.send_parts(parts)

    def send(self, message: tuple[Any, ...]) -> None:
        self.send_parts(encode_parts(message))

    def send_parts(self, parts: list[bytes | memoryview]) -> None:
        """Send a frame's pieces in order (an array's memory as it is), waiting for room as needed."""
        for part in parts:
            view = memoryview(part)
            while view:
                try:
                    view = view[self.sock.send(view):]
                except BlockingIOError:
                    select.select([], [self.sock], [], 1.0)
                except OSError:
                    self.closed = True
                    return
