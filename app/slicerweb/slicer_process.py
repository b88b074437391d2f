"""The SlicerWeb server process that a Slicer session starts: `python -m slicerweb.slicer_process`.

Its stdin carries one line from Slicer, `PORT TOKEN`: it connects to 127.0.0.1:PORT and presents the
one-time TOKEN, and that connection is the bridge (`bridge.py`). Slicer sends the
policy file and the panel's changes, this process binds, serves with Hypercorn in its own interpreter
(its own GIL, so an idle or busy Slicer GUI does not stall the network side), and reports its URL.
It stops when Slicer sends "stop" or closes the socket (Slicer exited), and applies the panel's exec
toggle through the same audited FeatureFlags as the admin endpoint.

Like cli.py it is an entry point that composes the app with an engine (here `RemoteEngine`), so it
lives beside cli.py, not inside engine/slicer/: engines never import HTTP code (tests/test_import_rules.py).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

from .app import create_app, services_of
from .engine.bridge import BridgeClient
from .engine.slicer.remote import RemoteEngine
from .features import FeatureRefused
from .policy import PolicyError, default_policy, load_policy
from .server import hypercorn_config, listen, run


async def serve(sock: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    started: asyncio.Future[tuple[Any, ...]] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()
    app: Any = None

    async def set_exec(enabled: bool, minutes: float | None, actor: str) -> None:
        try:
            state = await services_of(app).flags.set("exec", enabled, actor=actor, minutes=minutes, via="gui")
            note = f"exec is {'on' if state.enabled else 'off'}"
        except FeatureRefused as exc:
            note = f"exec not changed: {exc}"
        await client.send(("note", note))

    def on_control(message: tuple[Any, ...]) -> None:
        if message[0] == "start" and not started.done():
            started.set_result(message[1:])
        elif message[0] in ("stop", "closed"):
            stop.set()
            if not started.done():
                started.cancel()
        elif message[0] == "set_exec" and app is not None:
            task = asyncio.create_task(set_exec(*message[1:]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    client = BridgeClient(sock, on_control)
    await client.open()
    try:
        policy_file, changes = await started
    except asyncio.CancelledError:
        return 0
    try:
        policy = (load_policy(policy_file) if policy_file else default_policy()).replace(**changes)
        listener = listen(policy)
    except (PolicyError, OSError) as exc:
        await client.send(("failed", str(exc)))
        return 2
    app = create_app(policy, RemoteEngine(client, Path(policy.server.data_dir)))
    config = hypercorn_config(policy, listener)

    def ready() -> None:
        task = asyncio.create_task(client.send(("ready", listener.url)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await run(app, config, stop=stop, on_ready=ready)
    await client.close()
    return 0


def main() -> int:
    fields = sys.stdin.readline().split()
    if len(fields) != 2 or not fields[0].isdigit():
        print("the SlicerWeb server process is started by the SlicerWeb module in Slicer "
              "(it expects 'PORT TOKEN' on stdin)", file=sys.stderr)
        return 2
    sock = socket.create_connection(("127.0.0.1", int(fields[0])))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(fields[1].encode() + b"\n")
    return asyncio.run(serve(sock))


if __name__ == "__main__":
    sys.exit(main())
