"""The Slicer engine: the same Engine Protocol mapped onto 3D Slicer's Python API.

Every call runs on the Qt main thread through `mainthread.MainThreadDispatcher`. The `slicer` and
`qt` modules are passed in (they exist only inside Slicer), which also lets the tests drive the
marshalling with a thin stand-in.
"""

from __future__ import annotations

from .engine import SlicerEngine
from .mainthread import MainThreadDispatcher

__all__ = ["MainThreadDispatcher", "SlicerEngine"]
