"""The Slicer engine: the same Engine Protocol mapped onto 3D Slicer's Python API.

Every MRML/ctk call runs on the Qt main thread. Inside Slicer, `host.SlicerWebHost` starts the server
in its own process (`slicerweb/slicer_process.py`, `remote.RemoteEngine`) and answers its calls on the main
thread through `bridge.py`; `SlicerEngine` composes the same services in one process (unit tests).
The `slicer`, `qt`, `vtk` and `ctk` modules are passed in (they exist only inside Slicer), which lets
the tests drive everything with a stand-in (tests/slicer_standin, tests/engine/slicer).
See SLICER_CALLS.md for every Slicer call made and the source that confirms it.
"""

from __future__ import annotations

from .engine import SlicerEngine
from .mainthread import MainThreadDispatcher

__all__ = ["MainThreadDispatcher", "SlicerEngine"]
