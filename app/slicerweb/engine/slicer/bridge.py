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

Wire format: frames of an 8-byte big-endian length and a pickle. Both ends unpickle with an allow-list
(`SafeUnpickler`): engine value types, engine errors, numpy arrays and plain builtins, nothing else, so
the network-facing process cannot make Slicer run code by sending a crafted pickle.

Frames, server process -> Slicer: ("call", id, service, method, args, kwargs), ("ready", url),
("note", text). Slicer -> server process: ("result", id, value), ("error", id, exception),
("start", policy file, policy changes), ("set_exec", enabled, minutes, actor), ("stop",).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import pickle
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..errors import EngineError

T = TypeVar("T")
HEADER = struct.Struct(">Q")
MAX_FRAME = 8 << 30  # a frame carries at most one volume; anything larger is a corrupt stream
SAFE_BUILTINS = {"set", "frozenset", "slice", "complex", "bytearray", "range", "RuntimeError", "ValueError",
                 "KeyError", "TypeError", "OSError", "Exception"}
# What numpy's own pickles name (arrays, dtypes, scalars; numpy 1.x and 2.x module names), nothing callable
# beyond that: numpy.load(..., allow_pickle=True) would be a way around this allow-list.
SAFE_NUMPY = {("numpy", "dtype"), ("numpy", "ndarray")} | {
    (f"numpy.{core}.{module}", name) for core in ("core", "_core")
    for module, name in (("multiarray", "scalar"), ("multiarray", "_reconstruct"), ("numeric", "_frombuffer"))}


class SafeUnpickler(pickle.Unpickler):
    """Only engine value types and errors, numpy arrays and harmless builtins may be rebuilt."""

    def find_class(self, module: str, name: str) -> Any:
        if (module == "builtins" and name in SAFE_BUILTINS) or (module, name) in SAFE_NUMPY:
            return super().find_class(module, name)
        if module.startswith("slicerweb.engine."):
            found = super().find_class(module, name)
            # classes only (dataclasses, engine errors): no function of the engine may be called by a frame
            if isinstance(found, type) and (dataclasses.is_dataclass(found) or issubclass(found, EngineError)):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} may not cross the SlicerWeb bridge")


def encode(message: tuple[Any, ...]) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> tuple[Any, ...]:
    message = SafeUnpickler(io.BytesIO(payload)).load()
    if not isinstance(message, tuple) or not message:
        raise pickle.UnpicklingError("a bridge frame must be a non-empty tuple")
    return message


class FrameBuffer:
    """Accumulates bytes and yields complete frames; a frame the allow-list refuses is yielded as its error
    (the length prefix keeps the stream in step, and calls are answered in order, so the caller knows which
    call it was: the oldest one pending)."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        self._data += data
        frames: list[tuple[Any, ...]] = []
        while len(self._data) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._data)
            if size > MAX_FRAME:
                raise pickle.UnpicklingError(f"bridge frame of {size} bytes")
            if len(self._data) < HEADER.size + size:
                break
            try:
                frames.append(decode(bytes(self._data[HEADER.size:HEADER.size + size])))
            except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError) as exc:
                frames.append(("invalid", None, RuntimeError(f"refused bridge frame: {exc}")))
            del self._data[:HEADER.size + size]
        return frames


def send_blocking(sock: socket.socket, message: tuple[Any, ...]) -> None:
    """Send a frame on a non-blocking socket, waiting for room (the peer reads continuously)."""
    view = memoryview(encode(message))
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
            payload = encode(reply)
        except EngineError as exc:
            payload = encode(("error", call_id, exc))
        except Exception as exc:  # any other failure is a 500 in the server process, with its text logged there
            payload = encode(("error", call_id, RuntimeError(f"{type(exc).__name__}: {exc}")))
        self.send_frame(payload)

    def send(self, message: tuple[Any, ...]) -> None:
        self.send_frame(encode(message))

    def send_frame(self, payload: bytes) -> None:
        view = memoryview(payload)
        while view:
            try:
                view = view[self.sock.send(view):]
            except BlockingIOError:
                select.select([], [self.sock], [], 1.0)
            except OSError:
                self.closed = True
                return


class BridgeClient:
    """The server process's side: awaitable calls, control messages handed to `on_control`."""

    def __init__(self, sock: socket.socket, on_control: Callable[[tuple[Any, ...]], None]) -> None:
        self._sock, self._on_control = sock, on_control
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._write_lock = asyncio.Lock()

    async def open(self) -> None:
        reader, self._writer = await asyncio.open_connection(sock=self._sock, limit=1 << 20)
        self._reader = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = FrameBuffer()
        try:
            while data := await reader.read(1 << 20):
                for message in buffer.feed(data):
                    if message[0] in ("result", "error", "invalid"):
                        # answers come in call order: an unreadable one belongs to the oldest call pending
                        key = message[1] if message[1] is not None else next(iter(self._pending), None)
                        future = self._pending.pop(key, None) if key is not None else None
                        if future is not None and not future.done():
                            if message[0] == "result":
                                future.set_result(message[2])
                            else:
                                future.set_exception(message[2])
                    else:
                        self._on_control(message)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("Slicer closed the bridge"))
            self._on_control(("closed",))

    def pending_calls(self) -> int:
        """Calls sent and not answered yet (Slicer's main thread works through them in order)."""
        return len(self._pending)

    async def send(self, message: tuple[Any, ...]) -> None:
        assert self._writer is not None
        async with self._write_lock:
            self._writer.write(encode(message))
            await self._writer.drain()

    async def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        self._next += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        await self.send(("call", self._next, service, method, args, kwargs))
        return await future

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._writer is not None:
            self._writer.close()


class RemoteService:
    """A service living in Slicer, called by name: `await remote.volume("MRHead")`."""

    def __init__(self, client: BridgeClient, name: str) -> None:
        self._client, self._name = client, name

    def __getattr__(self, method: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._client.call(self._name, method, *args, **kwargs)

        return call
