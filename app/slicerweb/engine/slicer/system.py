"""Version and shutdown mapped onto `slicer.app` (as the WebServer module's /system does)."""

from __future__ import annotations

from types import ModuleType

from ..protocol import VersionInfo
from .mainthread import Dispatcher


class SlicerSystem:
    """`slicer.app` version fields; shutdown = `slicer.app.quit` one second after answering."""

    def __init__(self, slicer: ModuleType, qt: ModuleType, main: Dispatcher) -> None:
        self._slicer, self._qt, self._main = slicer, qt, main

    def _version(self) -> VersionInfo:
        app = self._slicer.app
        return VersionInfo(
            applicationName=app.applicationName,
            applicationDisplayName=app.applicationDisplayName,
            applicationVersion=app.applicationVersion,
            releaseType=app.releaseType,
            repositoryUrl=app.repositoryUrl,
            repositoryBranch=app.repositoryBranch,
            # The original's field (SlicerRequestHandler.py ~810); qSlicerCoreApplication.h ~92-93 has both.
            revision=app.revision,
            majorVersion=app.majorVersion,
            minorVersion=app.minorVersion,
            arch=app.arch,
            os=app.os,
            isCustomMainApplication=app.isCustomMainApplication,
            mainApplicationName=app.mainApplicationName,
            mainApplicationRepositoryUrl=app.mainApplicationRepositoryUrl,
            mainApplicationRepositoryRevision=app.mainApplicationRepositoryRevision,
            mainApplicationRevision=app.mainApplicationRevision,
            mainApplicationMajorVersion=app.mainApplicationMajorVersion,
            mainApplicationMinorVersion=app.mainApplicationMinorVersion,
            mainApplicationPatchVersion=app.mainApplicationPatchVersion,
            engine="slicer",
        )

    async def version(self) -> VersionInfo:
        return await self._main.call(self._version)

    async def request_shutdown(self) -> None:
        await self._main.call(self._qt.QTimer.singleShot, 1000, self._slicer.app.quit)
