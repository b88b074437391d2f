"""SlicerWeb as a 3D Slicer scripted module (WebServer-style): start/stop and the feature checkboxes.

Importable only inside Slicer (it imports `slicer`, `qt`, `ctk`). Install SlicerWeb into Slicer's
Python (`slicer.util.pip_install(...)` with this checkout) and add this folder to Slicer's
additional module paths.

Threads: Hypercorn runs its asyncio loop on a worker thread; every scene call goes through
`MainThreadDispatcher`, whose wake-up descriptor is watched here by a `qt.QSocketNotifier`, so the
MRML scene is only ever touched on the Qt main thread (the GUI never waits on the network).
"""

from __future__ import annotations

import asyncio
import getpass
import threading
from pathlib import Path

import ctk  # type: ignore[import-not-found]  # only inside Slicer
import qt  # type: ignore[import-not-found]
import slicer  # type: ignore[import-not-found]
import vtk  # type: ignore[import-not-found]
from slicer.ScriptedLoadableModule import (  # type: ignore[import-not-found]
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleWidget,
)

from slicerweb.app import create_app, services_of
from slicerweb.engine.slicer import MainThreadDispatcher, SlicerEngine
from slicerweb.policy import Policy, default_policy, load_policy
from slicerweb.server import hypercorn_config, listen, run

FLAGS = (("static", "Static pages"), ("dicomweb", "DICOMweb API"), ("slicer", "Slicer API"), ("cors", "CORS"))
SETTINGS_PREFIX = "SlicerWeb/"


class SlicerWeb(ScriptedLoadableModule):
    def __init__(self, parent: object) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SlicerWeb"
        self.parent.categories = ["Servers"]
        self.parent.contributors = ["SlicerWeb developers"]
        self.parent.helpText = ("Hardened web server: Slicer REST API at /slicer, DICOMweb at /dicom, static "
                                "pages at /. Loopback only unless a policy with authentication says otherwise.")


class SlicerWebLogic(ScriptedLoadableModuleLogic):
    """Owns the server thread, the dispatcher and its QSocketNotifier."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.dispatcher: MainThreadDispatcher | None = None
        self.notifier: object | None = None
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.app: object | None = None
        self.url = ""

    def policy(self, policy_file: str, port: int, flags: dict[str, bool]) -> Policy:
        """The policy file (or the closed defaults) with the panel's port and checkboxes applied."""
        base = load_policy(policy_file) if policy_file else default_policy()
        data_dir = base.server.data_dir or str(Path(slicer.app.slicerUserSettingsFilePath).parent / "SlicerWeb")
        changes: dict[str, object] = {f"features.{name}": value for name, value in flags.items()}
        changes.update({"server.port": port, "server.data_dir": data_dir})
        return base.replace(**changes)

    def start(self, policy: Policy) -> str:
        """Bind (the port or the next free one), then serve on a worker thread; returns the URL."""
        self.stop()
        self.dispatcher = MainThreadDispatcher()
        self.notifier = qt.QSocketNotifier(self.dispatcher.wake_fd, qt.QSocketNotifier.Read)
        self.notifier.connect("activated(int)", self.dispatcher.drain)
        engine = SlicerEngine(slicer, qt, self.dispatcher, Path(policy.server.data_dir), vtk=vtk)
        app = create_app(policy, engine)
        self.app = app
        listener = listen(policy)
        config = hypercorn_config(policy, listener)
        self.url = listener.url
        ready = threading.Event()

        def serve() -> None:
            async def main() -> None:
                self.loop = asyncio.get_running_loop()
                self.stop_event = asyncio.Event()
                ready.set()
                await run(app, config, stop=self.stop_event, handle_signals=False)

            asyncio.run(main())

        self.thread = threading.Thread(target=serve, name="SlicerWeb-server", daemon=True)
        self.thread.start()
        ready.wait(10)
        return self.url

    def set_exec(self, enabled: bool, minutes: float) -> None:
        """The operator's exec checkbox: an audited toggle with expiry, like the admin endpoint."""
        if self.app is None or self.loop is None:
            return
        flags = services_of(self.app).flags
        actor = f"slicer-gui:{getpass.getuser()}"
        change = flags.set("exec", enabled, actor=actor, minutes=minutes if enabled else None, via="gui")
        asyncio.run_coroutine_threadsafe(change, self.loop).result(10)

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        if self.thread is not None:
            # Keep running queued scene calls while Hypercorn finishes in-flight requests.
            while self.thread.is_alive():
                if self.dispatcher is not None:
                    self.dispatcher.drain()
                self.thread.join(0.05)
        if self.notifier is not None:
            self.notifier.setEnabled(False)
        if self.dispatcher is not None:
            self.dispatcher.close()
        self.thread = self.loop = self.stop_event = self.notifier = self.dispatcher = None


class SlicerWebWidget(ScriptedLoadableModuleWidget):
    """Start/Stop, port, policy file and the feature checkboxes (persisted in Slicer's settings)."""

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = SlicerWebLogic()
        settings = qt.QSettings()
        box = ctk.ctkCollapsibleButton()
        box.text = "Server"
        form = qt.QFormLayout(box)
        self.layout.addWidget(box)
        self.port = qt.QSpinBox()
        self.port.setRange(1, 65535)
        self.port.value = int(settings.value(SETTINGS_PREFIX + "port", 2016))
        form.addRow("Port:", self.port)
        self.policy_file = ctk.ctkPathLineEdit()
        self.policy_file.currentPath = settings.value(SETTINGS_PREFIX + "policy", "")
        form.addRow("Policy file:", self.policy_file)
        self.checks: dict[str, object] = {}
        for name, label in FLAGS:
            check = qt.QCheckBox(label)
            check.checked = settings.value(SETTINGS_PREFIX + name, "false" if name == "cors" else "true") == "true"
            form.addRow(check)
            self.checks[name] = check
        self.exec_check = qt.QCheckBox("Slicer API exec (15 minutes, audited)")
        self.exec_check.toggled.connect(lambda on: self.logic.set_exec(on, 15))
        form.addRow(self.exec_check)
        self.start_button = qt.QPushButton("Start server")
        self.stop_button = qt.QPushButton("Stop server")
        self.status = qt.QLabel("Stopped")
        self.start_button.clicked.connect(self.on_start)
        self.stop_button.clicked.connect(self.on_stop)
        form.addRow(self.start_button, self.stop_button)
        form.addRow(self.status)
        self.layout.addStretch(1)

    def on_start(self) -> None:
        settings = qt.QSettings()
        flags = {name: bool(check.checked) for name, check in self.checks.items()}
        for name, value in flags.items():
            settings.setValue(SETTINGS_PREFIX + name, "true" if value else "false")
        settings.setValue(SETTINGS_PREFIX + "port", self.port.value)
        settings.setValue(SETTINGS_PREFIX + "policy", self.policy_file.currentPath)
        try:
            url = self.logic.start(self.logic.policy(self.policy_file.currentPath, self.port.value, flags))
        except Exception as exc:  # shown to the operator, not swallowed
            slicer.util.errorDisplay(f"SlicerWeb could not start: {exc}")
            return
        self.status.text = f"Serving on {url}"
        for check in self.checks.values():
            check.enabled = False  # families take effect on the next start, as in the WebServer module

    def on_stop(self) -> None:
        self.logic.stop()
        self.status.text = "Stopped"
        for check in self.checks.values():
            check.enabled = True

    def cleanup(self) -> None:
        self.logic.stop()
