"""A worker's side of `serve --workers N`: its role (hidden `--worker-*` options the supervisor adds) and the
pipe it reports on (`ready`, `alive <status>`, `shutdown`; see supervisor.py).

The report pipe doubles as the worker's lifeline: when a write finds no reader, the supervisor is gone (killed
with -9) and the worker stops, so no orphan keeps serving on the shared socket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

STATUS_EVERY = 10.0  # seconds between readiness checks behind the `alive` lines (each probe writes a file)
MAX_LINE = 1000  # a report stays well below PIPE_BUF, so a line is never interleaved or split


@dataclass(frozen=True)
class WorkerRole:
    """Which worker this process is and what it inherited from the supervisor."""

    index: int
    listen_fd: int  # the shared listening socket
    report_fd: int  # write end of this worker's report pipe
    directory: Path  # the supervisor's private directory (worker 0's scene socket lives there)
    ping: float  # seconds between `alive` reports

    @property
    def scene_socket(self) -> Path:
        return self.directory / "scene.sock"

    def arguments(self) -> list[str]:
        return ["--worker-index", str(self.index), "--worker-listen-fd", str(self.listen_fd), "--worker-report-fd",
                str(self.report_fd), "--worker-dir", str(self.directory), "--worker-ping", str(self.ping)]

    def listening_socket(self) -> socket.socket:
        return socket.socket(fileno=self.listen_fd)


def add_role_arguments(parser: argparse.ArgumentParser) -> None:
    """The supervisor's options for its workers: not for people, so not in --help."""
    parser.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-listen-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-report-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", help=argparse.SUPPRESS)
    parser.add_argument("--worker-ping", type=float, default=1.0, help=argparse.SUPPRESS)


def role_of(args: argparse.Namespace) -> WorkerRole | None:
    """The role given on the command line, or None for a process started by a person."""
    if getattr(args, "worker_index", None) is None:
        return None
    return WorkerRole(args.worker_index, args.worker_listen_fd, args.worker_report_fd, Path(args.worker_dir),
                      args.worker_ping)


class Reports:
    """The write end of the report pipe (non-blocking: a slow supervisor costs a ping, never the loop)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    def send(self, kind: str, text: str = "") -> bool:
        """Write one line; False when the supervisor is gone."""
        line = f"{kind} {text}".strip().replace("\n", " ")[:MAX_LINE] + "\n"
        try:
            os.write(self.fd, line.encode())
        except BlockingIOError:
            return True  # the pipe is full: the supervisor is behind, not gone
        except OSError:
            return False
        return True

    async def alive(self, status: Callable[[], Awaitable[str]], interval: float,
                    orphaned: Callable[[], None]) -> None:
        """`alive <status>` every `interval` seconds from this event loop, until cancelled or orphaned."""
        text, checked = "ready", float("-inf")
        while True:
            if time.monotonic() - checked >= STATUS_EVERY:
                checked = time.monotonic()
                with contextlib.suppress(Exception):  # a failing check must not stop the pings
                    text = await status()
            if not self.send("alive", text):
                orphaned()
                return
            await asyncio.sleep(interval)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
