"""HeadlessEngine: composes the headless services over one data directory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from ...formats.dicom.geometry import DEFAULT_MAX_PIXEL_BYTES
from ...formats.voxels import DEFAULT_LIMITS, VoxelLimits
from ..errors import EngineError
from ..feature_state import SCHEMA, SqlFeatureStore, SqliteFeatureStore
from ..health_api import OK, IndexStatistics, Readiness
from ..scene_api import SceneService
from . import health
from .dicomdb import HeadlessDicom
from .scene import HeadlessScene
from .scene_share import SceneHost, SceneShare, SharedScene
from .system import HeadlessSystem


class HeadlessEngine:
    """The embedded default engine (no 3D Slicer needed)."""

    name = "headless"

    def __init__(self, data_dir: Path, *, demo_studies: Callable[[], list[BinaryIO]] | None = None,
                 voxel_limits: VoxelLimits = DEFAULT_LIMITS,
                 max_dicom_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES, index_url: str = "",
                 scene_share: SceneShare | None = None) -> None:
        """`demo_studies`: demo mode; makes the Part-10 files stored into an empty DICOM database at start
        (`serve --demo` passes `demo.demo_instances`: the engine never imports demo code).
        `max_dicom_pixel_bytes`: decoded pixel bytes one stored DICOM object may declare (`serve`
        passes the policy's `limits.upload_max_body_bytes`); `index_url`: the policy's `index.url`;
        `scene_share`: one of several workers (`serve --workers N`): worker 0 holds the scene and serves it to
        the others, whose `scene` forwards there (scene_share.py)."""
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.demo_studies = demo_studies
        self.system = HeadlessSystem()
        self.dicom = HeadlessDicom(self.data_dir / "dicom", max_dicom_pixel_bytes, voxel_limits.max_bytes,
                                   index_url=index_url)
        self.features = self._feature_store(bool(index_url))
        self.scene: SceneService
        self.local_scene: HeadlessScene | None = None  # None: the scene is worker 0's
        self._scene_host: SceneHost | None = None
        if scene_share is None or scene_share.owner:
            self.scene = self.local_scene = HeadlessScene(self.data_dir, dicom=self.dicom, voxel_limits=voxel_limits)
            if scene_share is not None:
                self._scene_host = SceneHost(self.local_scene, scene_share.path)
        else:
            # SharedScene forwards every SceneService method by name (__getattr__), which mypy cannot see.
            self.scene = cast(SceneService, SharedScene(scene_share.path))
        self.started = False

    def _feature_store(self, shared_index: bool) -> SqlFeatureStore:
        """Runtime feature overrides beside the index: `features.sqlite` in the data directory, or a table
        in the PostgreSQL index (`index.url`), so that every instance on every host sees a change at once."""
        if not shared_index:
            return SqliteFeatureStore(self.data_dir / "features.sqlite")
        db = self.dicom.index.db
        with db.transaction() as conn:
            conn.execute(db.ddl(SCHEMA))
        return SqlFeatureStore(db.read, db.transaction, db.error)

    async def start(self) -> None:
        """Load demo content when asked (`--demo`): the given DICOM studies, the MRHead phantom."""
        if self.demo_studies is not None:
            await self.dicom.seed(self.demo_studies)
            await self.scene.load_sample("MRHead")
        if self._scene_host is not None:
            await self._scene_host.start()
        self.started = True

    async def close(self) -> None:
        """Stop the scene's worker threads (a running exec finishes on its own); close the DICOM index."""
        self.started = False
        if self._scene_host is not None:
            await self._scene_host.close()
        if self.local_scene is not None:
            self.local_scene.close()
        else:
            await cast(SharedScene, self.scene).close()
        self.dicom.close()

    async def readiness(self) -> Readiness:
        """Started, index readable, storage writable (probes run off the event loop, on threads of their own)."""
        index, storage = await asyncio.gather(
            health.probe_off_loop(self.dicom.index.db.probe),
            health.probe_off_loop(health.storage_verdict, self.dicom.storage.tmp, self.dicom.storage.objects))
        return Readiness({"engine": OK if self.started else "engine not started", "index": index,
                          "storage": storage})

    def queue_depth(self) -> int | None:
        """No main thread to wait for: scene work runs on worker threads."""
        return None

    async def index_statistics(self) -> IndexStatistics:
        """The index's counts; unknown (None) while it cannot be read, so /metrics still answers
        (/readyz says why)."""
        try:
            return IndexStatistics(*await asyncio.to_thread(self.dicom.index.statistics))
        except EngineError:
            return IndexStatistics()
