"""HeadlessScene: the in-process scene behind `/slicer` (the SceneService of the headless engine).

Blocking work (file parsing, NRRD encoding, downloads) runs on a small pool of scene threads, and
user code from `/slicer/exec` on a separate pool, so neither a big upload nor a long script stalls
the event loop or each other. Changes go through `SceneStore`, whose lock makes each one atomic.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ...formats.voxels import DEFAULT_LIMITS, VoxelLimits
from ..dicom_api import SearchQuery, StowPart
from ..downloads import download
from ..errors import Invalid, NotFound, Unsupported
from ..file_access import FileAccess
from ..scene_api import (
    LAYOUTS,
    DicomWebSource,
    GridTransformData,
    GuiState,
    MarkupsData,
    NodeFilter,
    NodeSummary,
    RenderInputs,
    SegmentationData,
    VolumeData,
    VolumeUpload,
)
from . import files, sampledata
from .dicom_series import read_series
from .dicomweb_fetch import fetch_study
from .exec_namespace import run_source
from .nodes import (
    GridTransformNode,
    LinearTransformNode,
    MarkupsNode,
    ModelNode,
    Node,
    SegmentationNode,
    VolumeNode,
    frozen_array,
)
from .properties import node_properties
from .render import HeadlessRendering, HeadlessViews
from .store import SceneStore
from .tracking import TRACKER_NAME, set_tracker

T = TypeVar("T")
VOLUME_CLASSES = ("vtkMRMLVolumeNode",)


class HeadlessScene(HeadlessRendering):
    """In-process scene (see module docstring); rendering comes from `HeadlessRendering`."""

    def __init__(self, data_dir: Path | None = None, *, dicom: Any = None,
                 voxel_limits: VoxelLimits = DEFAULT_LIMITS) -> None:
        self.store = SceneStore()
        self.views = HeadlessViews()
        self.dicom = dicom
        self.downloads = Path(data_dir or tempfile.gettempdir()) / "downloads"
        self.max_download_bytes = 4 << 30
        self.voxel_limits = voxel_limits  # every NRRD read from a file or URL stays within these
        self._io = ThreadPoolExecutor(4, thread_name_prefix="slicerweb-scene")
        self._exec = ThreadPoolExecutor(4, thread_name_prefix="slicerweb-exec")

    def close(self) -> None:
        self._io.shutdown(wait=False, cancel_futures=True)
        self._exec.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, partial(fn, *args, **kwargs))

    # --- generic node access -----------------------------------------------------------------
    async def select(self, selection: NodeFilter) -> list[NodeSummary]:
        return [n.summary() for n in self.store.select(selection)]

    async def properties(self, selection: NodeFilter) -> dict[str, dict[str, Any]]:
        nodes = self.store.select(selection)
        if not nodes:
            raise NotFound("No nodes matched the filter criteria")
        return {n.id: node_properties(n) for n in nodes}

    async def load_file(self, path: str, filetype: str, properties: dict[str, str],
                        roots: tuple[str, ...] | None = None) -> list[str]:
        nodes = await self._run(files.load, self.store, Path(path), filetype, properties, FileAccess(roots),
                                self.voxel_limits)
        return [n.id for n in nodes]

    async def load_url(self, url: str, filetype: str, properties: dict[str, str],
                       max_bytes: int = 4 << 30, prefixes: tuple[str, ...] | None = None) -> list[str]:
        """Download into `<data_dir>/downloads` (kept for reload), then load; a downloaded `.nhdr`
        may only name data files inside the downloads directory."""
        target = await self._run(download, url, self.downloads, max_bytes, prefixes)
        named = {"name": files.base_name(Path(urllib.parse.urlparse(url).path)), **properties}
        try:
            return await self.load_file(str(target), filetype, named, roots=(str(self.downloads),))
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    async def save_file(self, selection: NodeFilter, path: str, properties: dict[str, str],
                        roots: tuple[str, ...] | None = None) -> None:
        nodes = self.store.select(selection)
        if not nodes:
            raise NotFound("No nodes matched the filter criteria")
        if len(nodes) > 1:
            raise Invalid("/mrml/file can only be used for a single node")
        await self._run(files.save, nodes[0], Path(path), properties, FileAccess(roots))

    async def remove(self, selection: NodeFilter) -> list[str]:
        if selection.empty:
            return self.store.clear()
        nodes = self.store.select(selection)
        if not nodes:
            raise NotFound("No nodes matched the filter criteria")
        return self.store.remove([n.id for n in nodes])

    async def reload(self, selection: NodeFilter, roots: tuple[str, ...] | None = None) -> list[str]:
        nodes = self.store.select(selection)
        if not nodes:
            raise NotFound("No nodes matched the filter criteria")
        reloaded = []
        for node in nodes:
            if await self._run(files.reread, self.store, node, FileAccess(roots), self.voxel_limits) is not None:
                reloaded.append(node.id)
        return reloaded

    async def open_url(self, url: str) -> list[str]:
        """`slicer://viewer/?studyUID=...&dicomweb_endpoint=...` loads a DICOMweb study."""
        parsed = urllib.parse.urlparse(url)
        query = urllib.parse.parse_qs(parsed.query)
        if parsed.scheme == "slicer" and "studyUID" in query and "dicomweb_endpoint" in query:
            return await self.access_dicomweb_study(
                DicomWebSource(query["dicomweb_endpoint"][0], "", query["studyUID"][0]))
        raise Unsupported(f"cannot open '{url}': only slicer://viewer/?studyUID=...&dicomweb_endpoint=... "
                          "is supported by the headless engine")

    # --- volumes -------------------------------------------------------------------------------
    async def volumes(self) -> list[NodeSummary]:
        return [n.summary() for n in self.store.nodes() if isinstance(n, VolumeNode)]

    def _volume(self, pattern: str | None) -> VolumeNode:
        node = self.store.find(pattern, "vtkMRMLScalarVolumeNode*", VOLUME_CLASSES)
        if not isinstance(node, VolumeNode):
            raise NotFound(f"could not find a volume by name or id '{pattern or 'vtkMRMLScalarVolumeNode*'}'")
        return node

    async def volume(self, pattern: str | None = None) -> VolumeData:
        return self._volume(pattern).data()

    async def put_volume(self, pattern: str | None, upload: VolumeUpload) -> NodeSummary:
        array, matrix = frozen_array(upload.array), frozen_array(np.asarray(upload.ijk_to_ras, dtype=np.float64))
        with self.store.transaction():
            node = self.store.find(pattern, "vtkMRMLScalarVolumeNode*", VOLUME_CLASSES)
            if isinstance(node, VolumeNode):
                node = self.store.replace(node, array=array, ijk_to_ras=matrix, dimension=upload.dimension)
            else:
                name = pattern if pattern and not any(c in pattern for c in "*?[") else "Volume"
                node = self.store.add(VolumeNode, name, array=array, ijk_to_ras=matrix,
                                      dimension=upload.dimension)
            self.store.set_active_volume(node.id)
            return node.summary()

    async def select_volume(self, direction: str) -> NodeSummary:
        if direction not in ("next", "previous"):
            raise Invalid("cmd must be 'next' or 'previous'")
        with self.store.transaction():
            volumes = [n for n in self.store.nodes() if isinstance(n, VolumeNode)]
            if not volumes:
                raise NotFound("there are no volumes in the scene")
            active = self.store.active_volume
            index = next((i for i, n in enumerate(volumes) if active is not None and n.id == active.id), 0)
            chosen = volumes[(index + (1 if direction == "next" else -1)) % len(volumes)]
            self.store.set_active_volume(chosen.id)
            return chosen.summary()

    async def load_dicom_series(self, series_uid: str) -> list[str]:
        """The series from the engine's DICOM database as a volume named `<number>: <description>`."""
        if self.dicom is None:
            raise Unsupported("this scene has no DICOM database")
        found = await self.dicom.search_for_series(SearchQuery(level="series", series_uid=series_uid, limit=1))
        if not found.records:
            raise NotFound(f"series {series_uid} is not in the DICOM database")
        study_uid = str(found.records[0]["0020000D"]["Value"][0])
        instances = await self.dicom.retrieve_series(study_uid, series_uid)
        voxels, ijk_to_ras, description, number = await self._run(read_series, [i.path for i in instances])
        name = f"{number}: {description}" if description else (f"{number}: Series" if number else "Series")
        node = self.store.add(VolumeNode, name, array=frozen_array(voxels), ijk_to_ras=frozen_array(ijk_to_ras),
                              attributes=(("DICOM.instanceUIDs", " ".join(i.sop_uid for i in instances)),
                                          ("DICOM.SeriesInstanceUID", series_uid)))
        self.store.set_active_volume(node.id)
        return [node.id]

    async def access_dicomweb_study(self, source: DicomWebSource) -> list[str]:
        """WADO-RS retrieve of the study, STOW into the DICOM database, then each image series loaded."""
        if self.dicom is None:
            raise Unsupported("this scene has no DICOM database")
        payloads = await self._run(fetch_study, source, self.max_download_bytes)
        report = await self.dicom.store_instances([StowPart("application/dicom", io.BytesIO(p)) for p in payloads])
        series = list(dict.fromkeys(o.series_uid for o in report.outcomes if o.failure_reason is None))
        if not series:
            raise Invalid(f"no instance of study {source.study_uid} could be stored")
        loaded: list[str] = []
        for series_uid in series:
            try:
                loaded += await self.load_dicom_series(series_uid)
            except (Invalid, Unsupported):
                continue  # a non-image series (SR, KO) or one the headless reader cannot build
        return loaded

    # --- transforms, markups, segmentations ----------------------------------------------------
    async def grid_transforms(self) -> list[NodeSummary]:
        return [n.summary() for n in self.store.nodes() if isinstance(n, GridTransformNode)]

    async def grid_transform(self, pattern: str | None = None) -> GridTransformData:
        node = self.store.find(pattern, "vtkMRMLGridTransformNode*", ("vtkMRMLGridTransformNode",))
        if not isinstance(node, GridTransformNode):
            raise NotFound(f"could not find a grid transform by name or id '{pattern or 'vtkMRMLGridTransformNode*'}'")
        return node.data()

    async def fiducials(self) -> list[MarkupsData]:
        return [n.data() for n in self.store.nodes() if isinstance(n, MarkupsNode)]

    async def set_control_point(self, pattern: str | None, index: int,
                                position: tuple[float, float, float]) -> None:
        with self.store.transaction():
            node = self.store.find(pattern, "vtkMRMLMarkupsFiducialNode*", ("vtkMRMLMarkupsNode",))
            if not isinstance(node, MarkupsNode):
                raise NotFound(f"could not find a point list by name or id '{pattern or '*'}'")
            if not 0 <= index < len(node.points):
                raise NotFound(f"point list {node.id} has no control point {index} ({len(node.points)} points)")
            points = list(node.points)
            points[index] = type(points[index])(points[index].label, position, points[index].selected,
                                                points[index].visible)
            self.store.replace(node, points=tuple(points))

    async def segmentations(self) -> list[SegmentationData]:
        return [n.data() for n in self.store.nodes() if isinstance(n, SegmentationNode)]

    async def tracker(self) -> np.ndarray:
        node = next((n for n in self.store.nodes()
                     if isinstance(n, LinearTransformNode) and n.name == TRACKER_NAME), None)
        return np.array(node.matrix) if node is not None else np.eye(4)

    async def set_tracker(self, matrix: np.ndarray) -> None:
        set_tracker(self.store, matrix)

    # --- application state -----------------------------------------------------------------------
    async def gui(self) -> GuiState:
        return self.store.gui

    async def set_gui(self, contents: str | None, layout: str | None) -> GuiState:
        current = self.store.gui
        if contents:
            if contents.lower() not in ("viewers", "full"):
                raise Invalid("contents must be 'viewers' or 'full'")
            current = GuiState(contents.lower(), current.layout)
        if layout:
            match = next((name for name in LAYOUTS if name.lower() == layout.lower()), None)
            if match is None:
                raise Invalid(f"Unknown layout name: {layout}")
            current = GuiState(current.contents, match)
        self.store.set_gui(current)
        return current

    async def load_sample(self, name: str) -> list[str]:
        volume = await self._run(sampledata.sample, name)
        if volume is None:
            raise NotFound(f"sampledata {name} was not found (available: {', '.join(sampledata.names())})")
        node = self.store.add(VolumeNode, volume.name, array=volume.array, ijk_to_ras=volume.ijk_to_ras)
        self.store.set_active_volume(node.id)
        return [node.id]

    async def sample_names(self) -> list[str]:
        return sampledata.names()

    async def render_inputs(self) -> RenderInputs:
        with self.store.transaction():
            nodes = self.store.nodes()
            active = self.store.active_volume
            gui = self.store.gui
        world = _world_transforms(nodes)
        volumes = tuple(_volume_in_world(n, world) for n in nodes if isinstance(n, VolumeNode))
        background = next((v for v in volumes if active is not None and v.id == active.id), None)
        return RenderInputs(
            background=background, volumes=volumes,
            markups=tuple(n.data() for n in nodes if isinstance(n, MarkupsNode)),
            models=tuple(n.data(world.get(n.transform_id or "")) for n in nodes if isinstance(n, ModelNode)),
            segmentations=tuple(n.data() for n in nodes if isinstance(n, SegmentationNode)), gui=gui)

    async def execute(self, source: str) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._exec, run_source, self, source)


def _world_transforms(nodes: list[Node]) -> dict[str, np.ndarray]:
    """Transform id -> 4x4 to-world matrix (linear parents composed; grid transforms ignored)."""
    by_id = {n.id: n for n in nodes}
    result: dict[str, np.ndarray] = {}
    for node in nodes:
        if not isinstance(node, LinearTransformNode):
            continue
        matrix, current, seen = np.eye(4), node, set()
        while isinstance(current, LinearTransformNode) and current.id not in seen:
            seen.add(current.id)
            matrix = np.asarray(current.matrix) @ matrix
            current = by_id.get(current.transform_id or "")
        result[node.id] = matrix
    return result


def _volume_in_world(node: VolumeNode, world: dict[str, np.ndarray]) -> VolumeData:
    data = node.data()
    if node.transform_id and node.transform_id in world:
        matrix = frozen_array(world[node.transform_id] @ node.ijk_to_ras)
        return VolumeData(data.id, data.name, data.array, matrix, data.class_name, data.dimension)
    return data
