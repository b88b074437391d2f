"""SlicerWebHost: what the Slicer module runs on Slicer's main thread to serve the running Slicer.

It starts the SlicerWeb server process, answers its engine calls on the main thread when a
`qt.QSocketNotifier` reports the bridge socket readable, relays the panel's exec toggle, and stops it.
Nothing here blocks the GUI between requests, and each request costs the main thread one engine call
(a scene operation, or one ctkDICOMDatabase lookup); HTTP, TLS, JSON, NRRD and DICOM file work happen
in the server process. `slicer`, `qt` and `vtk` are passed in: the module passes Slicer's, the tests a
stand-in (tests/slicer_standin).
"""

from __future__ import annotations

import hmac
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ..bridge import FrameBuffer
from .bridge import BridgeServer, InlineDispatcher, send_blocking
from .dicom_catalog import DicomCatalog
from .scene import SlicerScene
from .system import SlicerSystem

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ServerStartError(RuntimeError):
    """The server process could not start (policy error, port in use, missing package)."""


def python_executable() -> str:
    """Slicer's own Python: `PythonSlicer` is on Slicer's PATH (Base/Python/slicer/util.py ~4440-4451,
    executePythonModule); `sys.executable` inside Slicer is the Slicer application, not a Python."""
    return shutil.which("PythonSlicer") or sys.executable


class SlicerWebHost:
    """One SlicerWeb server process serving this Slicer session."""

    def __init__(self, slicer: ModuleType, qt: ModuleType, vtk: ModuleType | None = None,
                 ctk: ModuleType | None = None) -> None:
        self._slicer, self._qt, self._vtk, self._ctk = slicer, qt, vtk, ctk
        self.process: subprocess.Popen[bytes] | None = None
        self.bridge: BridgeServer | None = None
        self.notifier: Any = None
        self.url = ""
        self.notes: list[str] = []

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, policy_file: str, changes: dict[str, object], data_dir: Path) -> str:
        """Start the server process and wait (on the main thread, bounded) until it serves; return its URL."""
        self.stop()
        main = InlineDispatcher()
        services = {"system": SlicerSystem(self._slicer, self._qt, main),
                    "scene": SlicerScene(self._slicer, main, self._qt, self._vtk, data_dir, self._ctk),
                    "catalog": DicomCatalog(self._slicer, main)}
        # The server imports this very slicerweb package (the module puts its checkout's app/ on sys.path).
        package_root = str(Path(__file__).resolve().parents[3])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
        with socket.create_server(("127.0.0.1", 0)) as listener:
            token = secrets.token_hex(32)
            self.process = subprocess.Popen(
                [python_executable(), "-m", "slicerweb.slicer_process"], stdin=subprocess.PIPE, env=env)
            assert self.process.stdin is not None
            # Port and one-time token through the child's stdin (works on Windows, unlike inherited descriptors);
            # any other local process that connects first is turned away by the token check.
            self.process.stdin.write(f"{listener.getsockname()[1]} {token}\n".encode())
            self.process.stdin.close()
            try:
                ours = self._accept(listener, token)
            except ServerStartError:
                self._reap()
                raise
        ours.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small request/answer frames
        ours.setblocking(False)
        send_blocking(ours, ("start", policy_file, changes))
        try:
            self.url = self._await_ready(ours)
        except ServerStartError:
            ours.close()
            self._reap()
            raise
        self.bridge = BridgeServer(ours, services, self._on_message,
                                   defer=lambda work: self._qt.QTimer.singleShot(0, work), on_closed=self._on_closed)
        self.notifier = self._qt.QSocketNotifier(ours.fileno(), self._qt.QSocketNotifier.Read)
        # Qt 6 dropped the `activated(int)` signature (QSocketNotifier::activated(QSocketDescriptor, Type)),
        # so PythonQt's connect("activated(int)", ...) fails there; the signal object connects in Qt 5 and 6.
        self.notifier.activated.connect(self.bridge.on_readable)
        return self.url

    def _accept(self, listener: socket.socket, token: str) -> socket.socket:
        """The server process's connection: the first one on the loopback port that presents the token."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            readable, _, _ = select.select([listener], [], [], 0.1)
            if not readable:
                continue
            conn, _ = listener.accept()
            conn.settimeout(5.0)
            received = b""
            try:
                while len(received) <= len(token) and not received.endswith(b"\n"):
                    chunk = conn.recv(len(token) + 1 - len(received))
                    if not chunk:
                        break
                    received += chunk
            except OSError:
                pass
            presented = received.decode("ascii", "replace").strip()
            if hmac.compare_digest(presented, token):
                return conn
            conn.close()
        raise ServerStartError(f"the SlicerWeb server process did not connect within {START_TIMEOUT:.0f} s")

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ServerStartError(f"the SlicerWeb server process exited with status {self.process.returncode} "
                                   "(see Slicer's log for its message)")

    def _await_ready(self, sock: socket.socket) -> str:
        buffer = FrameBuffer()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            readable, _, _ = select.select([sock], [], [], 0.1)
            if not readable:
                continue
            data = sock.recv(1 << 16)
            if not data:
                continue
            for message in buffer.feed(data):
                if message[0] == "ready":
                    return str(message[1])
                if message[0] == "failed":
                    raise ServerStartError(str(message[1]))
        raise ServerStartError(f"the SlicerWeb server process did not start within {START_TIMEOUT:.0f} s")

    def _on_closed(self) -> None:
        if self.notifier is not None:
            self.notifier.setEnabled(False)
        self.notes.append("the SlicerWeb server process ended")

    def _on_message(self, message: tuple[Any, ...]) -> None:
        if message[0] == "note":
            self.notes.append(str(message[1]))

    def set_exec(self, enabled: bool, minutes: float | None, actor: str) -> None:
        """The operator's exec checkbox: audited in the server process (FeatureFlags.set, via="gui")."""
        if self.bridge is not None and self.running:
            self.bridge.send(("set_exec", enabled, minutes if enabled else None, actor))

    def stop(self) -> None:
        """Ask the server to finish in-flight requests and exit; keep answering its calls meanwhile."""
        if self.bridge is not None and self.running:
            self.bridge.send(("stop",))
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.running and time.monotonic() < deadline:
                select.select([self.bridge.sock], [], [], 0.05)
                self.bridge.on_readable()
        if self.notifier is not None:
            self.notifier.setEnabled(False)
        if self.bridge is not None:
            self.bridge.sock.close()
        self._reap()
        self.bridge = self.notifier = None

    def _reap(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None



