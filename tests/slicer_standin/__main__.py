"""A stand-in Slicer process serving SlicerWeb: `python -m tests.slicer_standin --dicom DIR --data DIR [options]`.

Its main thread runs `mainloop.MainLoop` (GIL held while idle, as in Slicer); `--busy-ms` adds a
"render" of that many ms of native, GIL-holding work every 33 ms. It prints the server URL on the
first line of stdout, then reads commands on stdin: `exec on`, `exec off`, `stop` (or EOF).
On stop it prints one JSON line: how long each main-thread callback took (ms), to show the work per request.

Designs (`--design`), prototyped for bench/slicer_mainloop:
- process: the shipped design, `SlicerWebHost` (a server process; engine calls over the bridge socket).
- thread:  Hypercorn on a thread of this process, calls marshalled through MainThreadDispatcher
           (the design before issue 17): stalls while the loop idles holding the GIL.
- pump:    the thread design plus a timer every `--pump-ms` that runs Python (sleep 0.5 ms), so
           the server thread gets the GIL at least that often.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from slicerweb.app import create_app
from slicerweb.engine.slicer import MainThreadDispatcher, SlicerEngine
from slicerweb.engine.slicer.host import SlicerWebHost
from slicerweb.policy import default_policy
from slicerweb.server import hypercorn_config, listen, run

from .dicomdb import StandInDicomDatabase
from .mainloop import MainLoop, StandInQt

VERSION = {"applicationName": "Slicer", "applicationDisplayName": "3D Slicer", "applicationVersion": "5.9.0",
           "releaseType": "Preview", "repositoryUrl": "https://github.com/Slicer/Slicer",
           "repositoryBranch": "main", "revision": "33333", "repositoryRevision": "583e9b37d50e",
           "majorVersion": 5, "minorVersion": 9, "arch": "amd64", "os": "linux", "isCustomMainApplication": False,
           "mainApplicationName": "Slicer", "mainApplicationRepositoryUrl": "https://github.com/Slicer/Slicer",
           "mainApplicationRepositoryRevision": "583e9b37d50e", "mainApplicationRevision": "33333",
           "mainApplicationMajorVersion": 5, "mainApplicationMinorVersion": 9, "mainApplicationPatchVersion": 0}


def stand_in_slicer(dicom: Path) -> SimpleNamespace:
    """`slicer` with what version and DICOMweb requests touch: `slicer.app` (quit) and `slicer.dicomDatabase`."""
    app = SimpleNamespace(**VERSION, quit=lambda: None)
    return SimpleNamespace(app=app, dicomDatabase=StandInDicomDatabase(dicom, threading.current_thread().name),
                           modules=SimpleNamespace())


class Timed:
    """Wraps a main-thread callback and records how long each call took."""

    def __init__(self) -> None:
        self.durations: list[float] = []

    def wrap(self, fn: Any) -> Any:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.durations.append((time.perf_counter() - start) * 1000)
        return timed


def start_in_thread(slicer: Any, qt: StandInQt, data: Path, timed: Timed) -> tuple[str, Any]:
    """The pre-issue-17 design: Hypercorn on a thread, MainThreadDispatcher woken through a notifier."""
    dispatcher = MainThreadDispatcher()
    notifier = qt.QSocketNotifier(dispatcher.wake_fd, qt.QSocketNotifier.Read)
    notifier.activated.connect(timed.wrap(dispatcher.drain))
    policy = default_policy().replace(**{"server.port": 0, "server.data_dir": str(data)})
    app = create_app(policy, SlicerEngine(slicer, qt, dispatcher, data))  # type: ignore[arg-type]
    listener = listen(policy)
    config = hypercorn_config(policy, listener)
    state: dict[str, Any] = {}
    ready = threading.Event()

    def serve() -> None:
        async def main() -> None:
            state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await run(app, config, stop=state["stop"], handle_signals=False)
        asyncio.run(main())

    thread = threading.Thread(target=serve, name="server", daemon=True)
    thread.start()
    ready.wait(10)
    return listener.url, state


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.slicer_standin")
    parser.add_argument("--dicom", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--design", choices=("process", "thread", "pump"), default="process")
    parser.add_argument("--busy-ms", type=float, default=0.0)
    parser.add_argument("--pump-ms", type=float, default=5.0)
    args = parser.parse_args()
    threading.current_thread().name = "stand-in-main"
    loop = MainLoop(busy_ms=args.busy_ms)
    qt = StandInQt(loop)
    slicer = stand_in_slicer(args.dicom)
    timed = Timed()
    host: SlicerWebHost | None = None
    if args.design == "process":
        host = SlicerWebHost(slicer, qt)  # type: ignore[arg-type]
        url = host.start("", {"server.port": 0, "server.data_dir": str(args.data)}, args.data)
        assert host.bridge is not None
        host.notifier.activated.slots[:] = [timed.wrap(host.bridge.on_readable)]
    else:
        url, _ = start_in_thread(slicer, qt, args.data, timed)
        if args.design == "pump":
            def pump() -> None:
                time.sleep(0.0005)  # Python code: the server thread may take the GIL now
                loop.call_later(args.pump_ms / 1000, pump)
            loop.call_later(0, pump)
    print(url, flush=True)

    commands = qt.QSocketNotifier(sys.stdin.fileno(), qt.QSocketNotifier.Read)

    def on_command(*_: Any) -> None:
        line = os.read(sys.stdin.fileno(), 4096).decode().strip()
        if line in ("exec on", "exec off") and host is not None:
            host.set_exec(line == "exec on", 15, "stand-in-operator")
            return
        if line and line != "stop":
            return
        commands.setEnabled(False)
        if host is not None:
            host.stop()
        loop.stopping = True

    commands.activated.connect(on_command)
    loop.run()
    durations = sorted(timed.durations) or [0.0]
    print(json.dumps({"main_thread_calls": len(timed.durations),
                      "p50_ms": durations[len(durations) // 2], "max_ms": durations[-1],
                      "notes": host.notes if host else []}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
