"""The bridge framing both engines use to reach state held by another process: calls and answers as
length-prefixed pickles, read back with an allow-list.

Users: the Slicer engine (the server process calls Slicer's main thread: `engine/slicer/bridge.py` holds the
main-thread server) and the headless engine with several workers (worker 0 owns the scene, its siblings
call it: `engine/headless/scene_share.py`). Engines never import each other, so what both need lives here.

Wire format: frames of an 8-byte big-endian length and a pickle. Both ends unpickle with an allow-list
(`SafeUnpickler`): engine value types, engine errors, numpy arrays and plain builtins, nothing else, so
a network-facing process cannot make the state-holding one run code by sending a crafted pickle.

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
            if isinstance(found, type) and (dataclasses.is_dataclass(found) or issubclass(found, EngineError)
                                            or found is RemoteFailure):
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
            self._writer.write(encode(message))
            await self._writer.drain()

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
