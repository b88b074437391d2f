"""`slicerweb serve`: one server process; with `server.workers` > 1, the supervisor that binds the socket and
runs that many workers on it (supervisor.py); or, with the supervisor's hidden `--worker-*` options, one of them.

Start-up problems print one line and exit 2 (the supervisor exits with a worker's 2 when it fails to start).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import BinaryIO

from .app import create_app, services_of
from .engine.headless import HeadlessEngine
from .engine.headless.scene_share import SceneShare
from .features import FeatureRefused
from .formats.voxels import VoxelLimits
from .log_output import configure
from .policy import Policy, data_dir_of
from .sd_notify import notify, watchdog, watchdog_interval
from .server import Listener, certificate_problem, hypercorn_config, listen, run
from .supervisor import Supervisor
from .version import __version__
from .worker_role import Reports, role_of


def serve(policy: Policy, args: argparse.Namespace, argv: list[str], *,
          demo_studies: Callable[[], list[BinaryIO]] | None = None) -> int:
    """`slicerweb serve`: one server, the supervisor of `server.workers` workers, or one of those workers."""
    if bool(args.certfile) != bool(args.keyfile):
        print("slicerweb: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    if args.certfile and (problem := certificate_problem(args.certfile, args.keyfile)):
        print(f"slicerweb: {problem}", file=sys.stderr)
        return 2
    role = role_of(args)  # None: a process started by a person (one server, or the supervisor of several)
    if role is None and policy.server.workers > 1:
        return supervise(policy, args, argv)
    first = role is None or role.index == 0  # the one process that holds the scene and does one-time work
    log_files = configure(policy)
    voxel_limits = VoxelLimits(policy.limits.max_volume_bytes, policy.limits.max_compression_ratio)
    engine = HeadlessEngine(data_dir_of(policy), demo_studies=demo_studies if first else None,
                            voxel_limits=voxel_limits, max_dicom_pixel_bytes=policy.limits.upload_max_body_bytes,
                            index_url=policy.index.url,
                            scene_share=SceneShare(role.scene_socket, owner=first) if role else None)
    app = create_app(policy, engine, worker=role.index if role else None)
    if role is not None:
        listener = Listener(role.listening_socket(), "")
    else:
        try:
            listener = listen(policy, tls=bool(args.certfile))
        except OSError as exc:
            print(f"slicerweb: cannot listen: {exc}", file=sys.stderr)
            return 2
    config = hypercorn_config(policy, listener, args.certfile or "", args.keyfile or "")
    reports = Reports(role.report_fd) if role else None

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def shutdown() -> None:  # answer DELETE /system first, then stop (every worker: the supervisor stops all)
            loop.call_later(0.2, stop.set if reports is None else lambda: reports.send("shutdown"))

        engine.system.on_shutdown = shutdown
        if args.enable_exec and first:
            await services_of(app).flags.set("exec", True, actor=f"local:{getpass.getuser()}",
                                            minutes=policy.features.exec_toggle_max_minutes, via="cli")

        async def status() -> str:
            problems = (await engine.readiness()).problems
            return "ready" if not problems else "not ready: " + "; ".join(problems.values())

        pings: list[asyncio.Task[None]] = []

        def ready() -> None:
            if reports is not None and role is not None:
                reports.send("ready")  # the supervisor prints the URL once every worker is ready
                pings.append(loop.create_task(reports.alive(status, role.ping, orphaned=stop.set)))
                return
            print(f"SlicerWeb {__version__} serving on {listener.url}", flush=True)
            notify("READY=1", f"STATUS=serving on {listener.url}")
            interval = watchdog_interval()
            if interval is not None:
                pings.append(loop.create_task(watchdog(status, interval)))

        try:
            await run(app, config, on_ready=ready, stop=stop, on_hangup=log_files.reopen)
        finally:
            if reports is None:
                notify("STOPPING=1")
            for task in pings:
                task.cancel()

    try:
        asyncio.run(main_loop())
    except FeatureRefused as exc:
        print(f"slicerweb: {exc}", file=sys.stderr)
        return 2
    finally:
        if reports is not None:
            reports.close()
    return 0


def supervise(policy: Policy, args: argparse.Namespace, argv: list[str]) -> int:
    """Bind once, then run `server.workers` worker processes on the socket (supervisor.py)."""
    configure(policy)
    try:
        listener = listen(policy, tls=bool(args.certfile))
    except OSError as exc:
        print(f"slicerweb: cannot listen: {exc}", file=sys.stderr)
        return 2
    return Supervisor([sys.executable, "-m", "slicerweb", *argv], policy.server.workers, listener).run()
