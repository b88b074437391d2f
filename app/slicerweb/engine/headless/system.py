"""Version and shutdown for the headless engine."""

from __future__ import annotations

import platform
from collections.abc import Callable

from ...version import __version__
from ..protocol import VersionInfo


class HeadlessSystem:
    """Reports SlicerWeb's own version; shutdown calls the server's stop hook."""

    def __init__(self, on_shutdown: Callable[[], None] | None = None) -> None:
        self.on_shutdown = on_shutdown

    async def version(self) -> VersionInfo:
        major, minor, patch = (int(p) for p in __version__.split(".")[:3])
        return VersionInfo(
            applicationName="SlicerWeb",
            applicationDisplayName="SlicerWeb (headless engine)",
            applicationVersion=__version__,
            releaseType="Stable",
            repositoryUrl="",
            repositoryBranch="main",
            revision="",
            majorVersion=major,
            minorVersion=minor,
            arch=platform.machine(),
            os=platform.system().lower(),
            isCustomMainApplication=True,
            mainApplicationName="SlicerWeb",
            mainApplicationRepositoryUrl="",
            mainApplicationRepositoryRevision="",
            mainApplicationRevision="",
            mainApplicationMajorVersion=major,
            mainApplicationMinorVersion=minor,
            mainApplicationPatchVersion=patch,
            engine="headless",
        )

    async def request_shutdown(self) -> None:
        if self.on_shutdown is not None:
            self.on_shutdown()
