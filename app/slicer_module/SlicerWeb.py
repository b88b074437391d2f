"""SlicerWeb as a 3D Slicer scripted module: start/stop, the feature checkboxes and the audited exec toggle.

Importable only inside Slicer (it imports `slicer`, `qt`, `ctk`); installation: README.md next to this
file. On first start it installs its pinned Python dependencies into Slicer's Python
(`SlicerWebLib/dependencies.py`, `requirements.txt`) and says clearly what to do when that fails offline.

Threads: the server runs in its own process (`slicerweb.engine.slicer.host.SlicerWebHost`), because
Slicer's main thread holds the GIL while the GUI idles and a server thread here would stall. Engine
calls come back over a local socket watched by a `qt.QSocketNotifier`, so MRML and the DICOM database
are only ever touched on the Qt main thread, one short call at a time.
"""

from __future__ import annotations

import getpass
import sys
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
from SlicerWebLib import dependencies

# The slicerweb package of this checkout (app/), so module and server always come from the same version.
APP_DIR = str(Path(__file__).resolve().parents[1])
if APP_DIR not in sys.path:
    sys.path.insert(0, APP_DIR)

FLAGS = (("static", "Static pages"), ("dicomweb", "DICOMweb API"), ("slicer", "Slicer API"), ("cors", "CORS"))
SETTINGS_PREFIX = "SlicerWeb/"
EXEC_MINUTES = 15


class SlicerWeb(ScriptedLoadableModule):
    def __init__(self, parent: object) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SlicerWeb"
        self.parent.categories = ["Servers"]
        self.parent.contributors = ["SlicerWeb developers"]
        self.parent.helpText = ("Hardened web server: Slicer REST API at /slicer, DICOMweb at /dicom, static "
                                "pages at /. Loopback only unless a policy with authentication says otherwise.")


class SlicerWebLogic(ScriptedLoadableModuleLogic):
    """Owns the SlicerWebHost (server process, bridge socket and its QSocketNotifier)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.host: object | None = None

    @staticmethod
    def ensure_dependencies() -> str | None:
        """Install missing pinned dependencies; the message to show when that failed, else None."""
        return dependencies.ensure(slicer.util.pip_install)

    def start(self, policy_file: str, port: int, flags: dict[str, bool]) -> str:
        """Start serving (the port or the next free one); returns the URL."""
        # Imported here, not at the top: Slicer imports this file at start-up to list the module, before
        # ensure_dependencies() could install what slicerweb needs; a top-level import would hide the module.
        from slicerweb.engine.slicer.host import SlicerWebHost
        from slicerweb.policy import default_policy, load_policy

        base = load_policy(policy_file) if policy_file else default_policy()
        data_dir = base.server.data_dir or str(Path(slicer.app.slicerUserSettingsFilePath).parent / "SlicerWeb")
        changes: dict[str, object] = {f"features.{name}": value for name, value in flags.items()}
        changes.update({"server.port": port, "server.data_dir": data_dir})
        base.replace(**changes)  # a policy error shows here, before any process starts
        self.stop()
        self.host = SlicerWebHost(slicer, qt, vtk, ctk)
        return self.host.start(policy_file, changes, Path(data_dir))  # type: ignore[attr-defined]

    def set_exec(self, enabled: bool) -> None:
        """The operator's exec checkbox: audited in the server (actor slicer-gui:<user>, via gui)."""
        if self.host is not None:
            self.host.set_exec(enabled, EXEC_MINUTES, f"slicer-gui:{getpass.getuser()}")  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()  # type: ignore[attr-defined]
            self.host = None


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
        self.exec_check = qt.QCheckBox(f"Slicer API exec ({EXEC_MINUTES} minutes, audited)")
        self.exec_check.toggled.connect(self.logic.set_exec)
        form.addRow(self.exec_check)
        self.start_button = qt.QPushButton("Start server")
        self.stop_button = qt.QPushButton("Stop server")
        self.status = qt.QLabel("Stopped")
        self.status.wordWrap = True
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
        problem = self.logic.ensure_dependencies()
        if problem:
            self.status.text = problem
            slicer.util.errorDisplay(problem)
            return
        try:
            url = self.logic.start(self.policy_file.currentPath, self.port.value, flags)
        except Exception as exc:  # shown to the operator (policy error, port in use), not swallowed
            slicer.util.errorDisplay(f"SlicerWeb could not start: {exc}")
            return
        self.status.text = f"Serving on {url}"
        for check in self.checks.values():
            check.enabled = False  # families take effect on the next start, as in the WebServer module

    def on_stop(self) -> None:
        self.logic.stop()
        self.status.text = "Stopped"
        self.exec_check.checked = False
        for check in self.checks.values():
            check.enabled = True

    def cleanup(self) -> None:
        self.logic.stop()
