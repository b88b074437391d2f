"""Worker 0's scene, shared with its sibling workers (`slicerweb serve --workers N`).

A scene is one process's state, as a running Slicer is: worker 0 holds the `HeadlessScene` and answers its
siblings' scene calls on a private Unix socket (`SceneHost`); every other worker's `engine.scene` is a
`SharedScene`, which forwards each SceneService call there by name. HTTP work (token, scope, exec gate,
client address, audit) stays in the worker that got the request; only the engine call crosses.

Framing and allow-list: `engine/bridge.py` (the same as the Slicer engine's bridge). The socket lives in a
directory only this user may enter (the supervisor makes it with mode 0700) and is itself mode 0600.
Calls are answered concurrently, as in one process: the scene serializes its own mutations.

While worker 0 is away (killed, restarting), scene calls answer `Unavailable` (503, Retry-After) and the
next call after it is back reconnects; its scene starts empty, as a restarted single process's would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bridge import HEADER, BridgeClient, FrameBuffer, decode, encode_parts, write_parts
from ..errors import EngineError, RemoteFailure, Unavailable, Unsupported
from ..scene_api import SceneService
from .scene import HeadlessScene

# The calls a sibling may make: the SceneService Protocol's methods, nothing else of the scene object.
SCENE_METHODS = frozenset(name for name in dir(SceneService) if not name.startswith("_"))
AWAY = "the scene's worker (worker 0) is restarting; try again in a moment"


@dataclass(frozen=True)
class SceneShare:
    """Where worker 0's scene is reached (`path`), and whether this worker is the one holding it."""

    path: Path
    owner: bool


class SceneHost:
    """Worker 0's side: answers scene calls from sibling workers on the Unix socket at `path`."""

    def __init__(self, scene: HeadlessScene, path: Path) -> None:
        self.scene, self.path = scene, path
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)  # a previous worker 0's socket (killed with -9)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=1 << 20)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._connections):
            writer.close()  # each sibling sees the end of the bridge; its reader here ends with it
        self.path.unlink(missing_ok=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer, lock = FrameBuffer(), asyncio.Lock()
        self._connections.add(writer)
        try:
            while data := await reader.read(1 << 20):
                for message in buffer.feed(data):
                    if message[0] != "call" or len(message) != 6:
                        return  # a frame we cannot answer by its id: the sibling's bridge is broken, drop it
                    self._spawn(self._answer(writer, lock, *message[1:]))
        except (pickle.UnpicklingError, ConnectionError):
            return
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, lock: asyncio.Lock, call_id: int, service: str,
                      method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            if service != "scene" or method not in SCENE_METHODS:
                raise Unsupported(f"no scene call {service}.{method}")
            value = await getattr(self.scene, method)(*args, **kwargs)
            if method == "execute":
                # A user's value: only what the handler's JSON answer holds may cross (the same TypeError as in
                # one process when it is not JSON).
                value = json.loads(json.dumps(value))
            parts = encode_parts(("result", call_id, value))
        except Exception as exc:  # every failure goes back to the caller by its id
            parts = _error_frame(call_id, exc)
        with contextlib.suppress(ConnectionError):
            async with lock:
                await write_parts(writer, parts)


def _error_frame(call_id: int, exc: Exception) -> list[bytes | memoryview]:
    """The answer carrying `exc`: an engine error as itself when its pickle passes the allow-list, anything
    else as RemoteFailure(type name, text)."""
    if isinstance(exc, EngineError):
        parts = encode_parts(("error", call_id, exc))
        with contextlib.suppress(Exception):
            decode(b"".join(parts)[HEADER.size:])  # an attribute the allow-list refuses would cost the caller its id
            return parts
    return encode_parts(("error", call_id, RemoteFailure(type(exc).__name__, str(exc))))


class SharedScene:
    """`engine.scene` of workers 1..N-1: each SceneService call runs in worker 0's scene."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._client: BridgeClient | None = None
        self._lock = asyncio.Lock()

    def __getattr__(self, method: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        if method not in SCENE_METHODS:
            raise AttributeError(method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            client = await self._connected()
            try:
                return await client.call("scene", method, *args, **kwargs)
            except ConnectionError as exc:  # worker 0 went away during the call
                self._forget(client)
                raise Unavailable(AWAY, retry_after=1) from exc

        return call

    async def _connected(self) -> BridgeClient:
        async with self._lock:
            if self._client is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    await asyncio.get_running_loop().sock_connect(sock, str(self.path))
                except OSError as exc:
                    sock.close()
                    raise Unavailable(AWAY, retry_after=1) from exc
                client = BridgeClient(sock, lambda message: self._forget(client) if message[0] == "closed" else None)
                await client.open()
                self._client = client
            return self._client

    def _forget(self, client: BridgeClient) -> None:
        if self._client is client:
            self._client = None
        client.drop()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
