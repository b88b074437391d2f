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

from ..downloads import download
from ..feature_state import SqliteFeatureStore
from ..headless.files import base_name
from .bridge import BridgeClient, RemoteService
from .dicom import SlicerDicom


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


class RemoteEngine:
    """Engine whose state lives in the Slicer process at the other end of `client`."""

    name = "slicer"

    def __init__(self, client: BridgeClient, data_dir: Path) -> None:
        self.system: Any = RemoteService(client, "system")
        self.features = SqliteFeatureStore(Path(data_dir) / "features.sqlite")
        self.scene: Any = RemoteScene(client, Path(data_dir) / "downloads")
        self.dicom = SlicerDicom(RemoteService(client, "catalog"))  # type: ignore[arg-type]  # duck-typed Catalog

    async def start(self) -> None:
        """Slicer's scene and database are already open."""

    async def close(self) -> None:
        """Nothing to release here; Slicer owns its state."""
