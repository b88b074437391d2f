"""Scene calls mapped onto `slicer.util` / `slicer.mrmlScene` (completed by the Slicer-API work)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .mainthread import MainThreadDispatcher


class SlicerScene:
    """The MRML scene of the running Slicer."""

    def __init__(self, slicer: ModuleType, main: MainThreadDispatcher) -> None:
        self._slicer, self._main = slicer, main

    async def execute(self, source: str) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            namespace: dict[str, Any] = {"slicer": self._slicer, "__execResult": {}}
            exec(compile(source, "<slicerweb exec>", "exec"), namespace)
            return namespace["__execResult"]

        return await self._main.call(run)
