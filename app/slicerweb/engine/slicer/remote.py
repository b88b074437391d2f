"""RemoteEngine: the Slicer engine as the SlicerWeb server process sees it.

Scene and system calls go whole to Slicer's main thread over the bridge (`bridge.py`); the DICOM
service reads files here and asks Slicer's DICOM database through the bridged `DicomCatalog`; the
feature store is the shared SQLite file of the data directory. Downloads (`load_url`) happen here too,
so Slicer's main thread never waits on the network.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path
from typing import Any

from ..bridge import BridgeClient, RemoteService
from ..downloads import download
from ..feature_state import SqliteFeatureStore
from ..file_access import base_name
from ..protocol import VersionInfo
from .dicom import SlicerDicom
from .engine import SlicerOwnedState


class RemoteScene(RemoteService):
    """SlicerScene across the bridge; `load_url` downloads in this process, then loads in Slicer."""

    def __init__(self, client: BridgeClient, downloads: Path) -> None:
        super().__init__(client, "scene")
        self._downloads = downloads

    async def load_url(self, url: str, filetype: str, properties: dict[str, str],
                       max_bytes: int = 4 << 30, prefixes: tuple[str, ...] | None = None) -> list[str]:
        target = await asyncio.to_thread(download, url, self._downloads, max_bytes, prefixes)
        named = {"name": base_name(Path(urllib.parse.urlparse(url).path)), **properties}  # not the cache name
        result: list[str] = await self.load_file(str(target), filetype, named, roots=(str(self._downloads),))
        return result


class RemoteSystem(RemoteService):
    """SlicerSystem across the bridge; the version is asked once: every field it reads is a CONSTANT
    Q_PROPERTY of qSlicerCoreApplication (Base/QTCore/qSlicerCoreApplication.h ~75-110) or QCoreApplication's
    name and version, set once at start-up."""

    def __init__(self, client: BridgeClient) -> None:
        super().__init__(client, "system")
        self._version: VersionInfo | None = None

    async def version(self) -> VersionInfo:
        if self._version is None:
            self._version = await self._client.call("system", "version")
        return self._version


class RemoteEngine(SlicerOwnedState):
    """Engine whose state lives in the Slicer process at the other end of `client`."""

    name = "slicer"

    def __init__(self, client: BridgeClient, data_dir: Path) -> None:
        self.system: Any = RemoteSystem(client)
        self.features = SqliteFeatureStore(Path(data_dir) / "features.sqlite")
        self.scene: Any = RemoteScene(client, Path(data_dir) / "downloads")
        self.dicom = SlicerDicom(RemoteService(client, "catalog"))
        self.client = client

    def queue_depth(self) -> int | None:
        """Calls sent to Slicer's main thread across the bridge and not answered yet."""
        return self.client.pending_calls()
