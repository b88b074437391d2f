"""Marshal calls onto the application's main thread, and await them: the in-process dispatcher.

`MainThreadDispatcher.call(fn, ...)` queues `fn`, wakes the main thread through a socket pair (a
`QSocketNotifier` on `wake_fd` calls `drain()` there) and returns an awaitable for the result. It serves
`SlicerEngine` composed in one process: the engine's unit tests (a selector thread stands in for Qt's
loop) and the in-process prototypes of bench/slicer_mainloop. Inside a real Slicer that design stalls
(the idle main thread keeps the GIL), so the Slicer module runs the server in its own process and
answers engine calls through `bridge.py`/`host.py`, where `InlineDispatcher` plays this role.
`Dispatcher` is what the engine's services accept.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Dispatcher(Protocol):
    """Runs a callable on Slicer's main thread and awaits its outcome."""

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


class MainThreadDispatcher:
    """Queue of calls for the main thread, woken through a socket pair."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def queued(self) -> int:
        """Calls waiting for the main thread (approximate while calls are added: for metrics)."""
        return self._calls.qsize()

    @property
    def wake_fd(self) -> int:
        """File descriptor the main thread watches for readability."""
        return self._reader.fileno()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` on the main thread; return (or raise) its outcome here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def run() -> None:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # delivered to the awaiting coroutine, not swallowed
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

        self._calls.put(run)
        # A full pipe already holds wake-ups; drain() empties the whole queue on any of them.
        with contextlib.suppress(BlockingIOError):
            self._writer.send(b"\0")
        return await future

    def drain(self, *_: Any) -> None:
        """Main thread: run every queued call (connected to the wake_fd notifier)."""
        try:
            while self._reader.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                run = self._calls.get_nowait()
            except queue.Empty:
                return
            run()

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
