"""The bridge framing both engines use to reach state held by another process: calls and answers as
length-prefixed pickles, read back with an allow-list.

Users: the Slicer engine (the server process calls Slicer's main thread: `engine/slicer/bridge.py` holds the
main-thread server) and the headless engine with several workers (worker 0 owns the scene, its siblings
call it: `engine/headless/scene_share.py`). Engines never import each other, so what both need lives here.

Wire format: frames of an 8-byte big-endian length, then a table of out-of-band buffer sizes, a pickle
(protocol 5) and those buffers (numpy arrays' memory, sent and received without copies). Both ends unpickle
with an allow-list (`SafeUnpickler`): engine value types, engine errors, numpy arrays and plain builtins,
nothing else, so a network-facing process cannot make the state-holding one run code by sending a crafted
pickle.

Frames, caller -> state holder: ("call", id, service, method, args, kwargs); answers: ("result", id, value),
("error", id, exception). Any other tuple is a control message of the pair's own protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import pickle
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .errors import EngineError, RemoteFailure

T = TypeVar("T")
HEADER = struct.Struct(">Q")  # the size of the frame's body: buffer table, pickle, buffers
COUNT = struct.Struct(">I")  # buffers in the table
LENGTH = struct.Struct(">Q")  # one buffer's size
MAX_FRAME = 8 << 30  # a frame carries at most one volume; anything larger is a corrupt stream
SEND_SLICE = 1 << 20
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
            if isinstance(found, type) and (dataclasses.is_dataclass(found) or issubclass(found, EngineError)
                                            or found is RemoteFailure):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} may not cross the SlicerWeb bridge")


def encode_parts(message: tuple[Any, ...]) -> list[bytes | memoryview]:
    """A frame as pieces to send in order: the header, the buffer table and the pickle in the first, then each
    numpy array's memory as it is (pickle protocol 5 out-of-band buffers: a volume is never copied to send it)."""
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    table = COUNT.pack(len(raws)) + b"".join(LENGTH.pack(raw.nbytes) for raw in raws)
    size = len(table) + len(payload) + sum(raw.nbytes for raw in raws)
    return [HEADER.pack(size) + table + payload, *raws]


def encode(message: tuple[Any, ...]) -> bytes:
    """A frame in one piece (small messages)."""
    return b"".join(encode_parts(message))


def decode(body: bytes | bytearray | memoryview) -> tuple[Any, ...]:
    """The message of a frame's body (what follows its header). Arrays sent out-of-band are rebuilt over
    `body`'s own memory, without a copy."""
    view = memoryview(body)
    if len(view) < COUNT.size:
        raise pickle.UnpicklingError("a bridge frame too short for its buffer table")
    (count,) = COUNT.unpack_from(view)
    offset = COUNT.size + count * LENGTH.size
    if offset > len(view):
        raise pickle.UnpicklingError(f"a bridge frame announcing {count} buffers")
    lengths = [LENGTH.unpack_from(view, COUNT.size + n * LENGTH.size)[0] for n in range(count)]
    pickled = len(view) - offset - sum(lengths)
    if pickled <= 0:
        raise pickle.UnpicklingError("bridge frame buffers longer than the frame")
    buffers, at = [], offset + pickled
    for length in lengths:
        buffers.append(view[at:at + length])
        at += length
    message = SafeUnpickler(io.BytesIO(view[offset:offset + pickled]), buffers=buffers).load()
    if not isinstance(message, tuple) or not message:
        raise pickle.UnpicklingError("a bridge frame must be a non-empty tuple")
    return message


class FrameBuffer:
    """Accumulates bytes and yields complete frames; a frame the allow-list refuses is yielded as its error
    (the length prefix keeps the stream in step, and calls are answered in order, so the caller knows which
    call it was: the oldest one pending). Each frame's body grows in its own buffer, which the arrays it carries
    then use as their memory (one copy of a volume from the socket, none after)."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._body: bytearray | None = None
        self._size = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[Any, ...]]:
        frames: list[tuple[Any, ...]] = []
        view = memoryview(data)
        while view:
            if self._body is None:
                missing = HEADER.size - len(self._head)
                self._head += view[:missing]
                view = view[missing:]
                if len(self._head) < HEADER.size:
                    break
                (self._size,) = HEADER.unpack(self._head)
                self._head.clear()
                if self._size > MAX_FRAME:
                    raise pickle.UnpicklingError(f"bridge frame of {self._size} bytes")
                self._body = bytearray()
            take = min(len(view), self._size - len(self._body))
            self._body += view[:take]  # grows in place (realloc of a large block moves pages, not bytes)
            view = view[take:]
            if len(self._body) == self._size:
                body, self._body = self._body, None
                try:
                    frames.append(decode(body))
                except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError) as exc:
                    frames.append(("invalid", None, RuntimeError(f"refused bridge frame: {exc}")))
        return frames


async def write_parts(writer: asyncio.StreamWriter, parts: list[bytes | memoryview]) -> None:
    """Send a frame's pieces through a stream a slice at a time, so the transport never holds a copy of more
    than one slice of a volume."""
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), SEND_SLICE):
            writer.write(view[start:start + SEND_SLICE])
            await writer.drain()


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
                    future.set_exception(ConnectionError("the other end closed the bridge"))
            self._on_control(("closed",))

    def pending_calls(self) -> int:
        """Calls sent and not answered yet (Slicer's main thread works through them in order)."""
        return len(self._pending)

    async def send(self, message: tuple[Any, ...]) -> None:
        assert self._writer is not None
        async with self._write_lock:
            await write_parts(self._writer, encode_parts(message))

    async def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        self._next += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        await self.send(("call", self._next, service, method, args, kwargs))
        return await future

    def drop(self) -> None:
        """Close the connection without waiting for the reader (the other end is gone)."""
        if self._writer is not None:
            self._writer.close()

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
