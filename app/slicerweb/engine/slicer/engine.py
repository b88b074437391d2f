"""SlicerEngine: composes the Slicer-backed services."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from ..feature_state import SqliteFeatureStore
from ..health_api import OK, IndexStatistics, Readiness
from .dicom import SlicerDicom
from .dicom_catalog import DicomCatalog
from .mainthread import MainThreadDispatcher
from .scene import SlicerScene
from .system import SlicerSystem


class SlicerOwnedState:
    """Lifecycle and health of an engine whose state Slicer owns (in process, or over the bridge)."""

    system: Any

    async def start(self) -> None:
        """Slicer's scene and database are already open."""

    async def close(self) -> None:
        """Nothing to release; Slicer owns its state."""

    async def readiness(self) -> Readiness:
        """Minimal: Slicer answers its version call (its database is Slicer's own)."""
        try:
            await self.system.version()
        except Exception as exc:  # any failure to reach Slicer means not ready
            return Readiness({"engine": f"Slicer not answering: {exc}"})
        return Readiness({"engine": OK})

    async def index_statistics(self) -> IndexStatistics:
        """Slicer's DICOM database is not ours to count cheaply."""
        return IndexStatistics()

class SlicerEngine(SlicerOwnedState):
    """Engine backed by the running 3D Slicer (`slicer`, `qt` passed in)."""

    name = "slicer"

    def __init__(self, slicer: ModuleType, qt: ModuleType, main: MainThreadDispatcher,
                 data_dir: Path, vtk: ModuleType | None = None, ctk: ModuleType | None = None) -> None:
        self.main = main
        self.system = SlicerSystem(slicer, qt, main)
        self.features = SqliteFeatureStore(Path(data_dir) / "features.sqlite")
        self.scene = SlicerScene(slicer, main, qt, vtk, Path(data_dir), ctk)
        self.dicom = SlicerDicom(DicomCatalog(slicer, main))

    def queue_depth(self) -> int | None:
        """Calls queued for Slicer's main thread and not run yet."""
        return self.main.queued()
