"""Scene calls mapped onto `slicer.util` / `slicer.mrmlScene` (completed by the Slicer-API work)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .mainthread import MainThreadDispatcher
from .rendering import SlicerRendering


class SlicerScene(SlicerRendering):
    """The MRML scene of the running Slicer."""

    def __init__(self, slicer: ModuleType, main: MainThreadDispatcher, qt: ModuleType | None = None,
                 vtk: ModuleType | None = None) -> None:
        self._slicer, self._main = slicer, main
        self._qt, self._vtk = qt, vtk  # for rendering (rendering.py)

    async def execute(self, source: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            namespace: dict[str, Any] = {"slicer": self._slicer, "__execResult": {}}
            exec(compile(source, "<slicerweb exec>", "exec"), namespace)
            return namespace["__execResult"]

        return await self._main.call(run)
