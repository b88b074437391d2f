"""SlicerScene: the SceneService mapped onto the running Slicer's MRML scene.

Every MRML/VTK touch runs on the Qt main thread through `MainThreadDispatcher.call`, with the
calls the WebServer module makes (`nodes.py` holds them). Work that does not need Slicer (file
path checks, downloads) runs off the main thread first, so Slicer's GUI never waits on the network.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import tempfile
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..downloads import download
from ..errors import Invalid, NotFound
from ..file_access import FileAccess, base_name
from ..scene_api import (
    DicomWebSource,
    GridTransformData,
    GuiState,
    MarkupsData,
    NodeFilter,
    NodeSummary,
    RenderInputs,
    Segment,
    SegmentationData,
    VolumeData,
    VolumeUpload,
)
from . import nodes
from .mainthread import Dispatcher
from .printself import parse_print_self
from .rendering import SlicerRendering


def _summary(node: Any) -> NodeSummary:
    return NodeSummary(node.GetID(), node.GetName(), node.GetClassName())


class SlicerScene(SlicerRendering):
    """The MRML scene of the running Slicer."""

    def __init__(self, slicer: ModuleType, main: Dispatcher, qt: ModuleType | None = None,
                 vtk: ModuleType | None = None, data_dir: Path | None = None, ctk: ModuleType | None = None) -> None:
        self._slicer, self._main = slicer, main
        self._qt, self._vtk, self._ctk = qt, vtk, ctk  # for rendering (rendering.py) and VTK matrices
        self._downloads = Path(data_dir or tempfile.gettempdir()) / "downloads"

    def _vtk_module(self) -> ModuleType:
        return self._require("vtk", self._vtk)

    # --- generic node access -------------------------------------------------------------------
    async def select(self, selection: NodeFilter) -> list[NodeSummary]:
        return await self._main.call(lambda: [_summary(n) for n in nodes.select(self._slicer, selection)])

    async def properties(self, selection: NodeFilter) -> dict[str, dict[str, Any]]:
        def run() -> dict[str, dict[str, Any]]:
            found = nodes.select(self._slicer, selection)
            if not found:
                raise NotFound("No nodes matched the filter criteria")
            return {n.GetID(): parse_print_self(str(n)) for n in found}

        return await self._main.call(run)

    async def load_file(self, path: str, filetype: str, properties: dict[str, str],
                        roots: tuple[str, ...] | None = None) -> list[str]:
        checked = str(FileAccess(roots).check(Path(path)))

        def run() -> list[str]:
            try:
                node = self._slicer.util.loadNodeFromFile(checked, filetype, properties)
            except RuntimeError as exc:  # slicer.util raises RuntimeError("Failed to load node from file")
                raise Invalid(f"{Path(path).name}: {exc}") from None
            return [node.GetID()] if node is not None else []

        return await self._main.call(run)

    async def load_url(self, url: str, filetype: str, properties: dict[str, str],
                       max_bytes: int = 4 << 30, prefixes: tuple[str, ...] | None = None) -> list[str]:
        target = await asyncio.to_thread(download, url, self._downloads, max_bytes, prefixes)
        named = {"name": base_name(Path(urllib.parse.urlparse(url).path)), **properties}  # not the cache name
        return await self.load_file(str(target), filetype, named, roots=(str(self._downloads),))

    async def save_file(self, selection: NodeFilter, path: str, properties: dict[str, str],
                        roots: tuple[str, ...] | None = None) -> None:
        checked = str(FileAccess(roots).check(Path(path)))
        apply_transforms = properties.pop("applytransforms", "false").lower() in nodes.TRUE

        def run() -> None:
            found = nodes.select(self._slicer, selection)
            if not found:
                raise NotFound("No nodes matched the filter criteria")
            if len(found) > 1:
                raise Invalid("/mrml/file can only be used for a single node")
            try:
                written = self._slicer.util.exportNode(found[0], checked, nodes.save_properties(properties),
                                                       world=apply_transforms)
            except ValueError as exc:  # no writer for this extension
                raise Invalid(str(exc)) from None
            if not written:  # exportNode returns False when the writer failed (util.py ~1474-1518)
                raise Invalid(f"Slicer could not write {found[0].GetID()} to {Path(path).name} "
                              "(see Slicer's error log)")

        await self._main.call(run)

    async def remove(self, selection: NodeFilter) -> list[str]:
        def run() -> list[str]:
            if selection.empty:
                ids = [n.GetID() for n in nodes.select(self._slicer, NodeFilter())]
                self._slicer.mrmlScene.Clear()
                return ids
            found = nodes.select(self._slicer, selection)
            if not found:
                raise NotFound("No nodes matched the filter criteria")
            for node in found:
                self._slicer.mrmlScene.RemoveNode(node)
            return [n.GetID() for n in found]

        return await self._main.call(run)

    async def reload(self, selection: NodeFilter, roots: tuple[str, ...] | None = None) -> list[str]:
        def run() -> list[str]:
            found = nodes.select(self._slicer, selection)
            if not found:
                raise NotFound("No nodes matched the filter criteria")
            reloaded = []
            for node in found:
                storage = node.GetStorageNode() if hasattr(node, "GetStorageNode") else None
                if storage is not None:
                    # vtkMRMLStorageNode::ReadData returns 0 on failure (Libs/MRML/Core/vtkMRMLStorageNode.h ~60)
                    if not storage.ReadData(node):
                        raise Invalid(f"{node.GetID()}: reading {Path(storage.GetFileName() or '').name} failed")
                    reloaded.append(node.GetID())
            return reloaded

        return await self._main.call(run)

    async def open_url(self, url: str) -> list[str]:
        await self._main.call(self._slicer.app.openUrl, url)
        return []

    # --- volumes -----------------------------------------------------------------------------------
    async def volumes(self) -> list[NodeSummary]:
        return await self.select(NodeFilter(class_name="vtkMRMLScalarVolumeNode"))

    async def volume(self, pattern: str | None = None) -> VolumeData:
        def run() -> VolumeData:
            node = nodes.get_node(self._slicer, pattern, "vtkMRMLScalarVolumeNode*")
            return nodes.volume_data(self._slicer, self._vtk_module(), node)

        return await self._main.call(run)

    async def put_volume(self, pattern: str | None, upload: VolumeUpload) -> NodeSummary:
        return await self._main.call(
            lambda: _summary(nodes.put_volume(self._slicer, pattern, upload.array, upload.ijk_to_ras)))

    async def select_volume(self, direction: str) -> NodeSummary:
        """The original's intent (it always failed on Python 3): cycle the active volume."""
        if direction not in ("next", "previous"):
            raise Invalid("cmd must be 'next' or 'previous'")

        def run() -> NodeSummary:
            volumes = nodes.select(self._slicer, NodeFilter(class_name="vtkMRMLScalarVolumeNode"))
            if not volumes:
                raise NotFound("there are no volumes in the scene")
            selection = self._slicer.app.applicationLogic().GetSelectionNode()
            ids = [v.GetID() for v in volumes]
            current = ids.index(selection.GetActiveVolumeID()) if selection.GetActiveVolumeID() in ids else 0
            chosen = volumes[(current + (1 if direction == "next" else -1)) % len(volumes)]
            selection.SetActiveVolumeID(chosen.GetID())
            self._slicer.app.applicationLogic().PropagateVolumeSelection(0)
            return _summary(chosen)

        return await self._main.call(run)

    async def load_dicom_series(self, series_uid: str) -> list[str]:
        def run() -> list[str]:
            dicom_utils = importlib.import_module("DICOMLib.DICOMUtils")
            return list(dicom_utils.loadSeriesByUID([series_uid]))

        return await self._main.call(run)

    async def access_dicomweb_study(self, source: DicomWebSource) -> list[str]:
        """DICOMUtils.importFromDICOMWeb, then loadSeriesByUID (the original's undefined `loadLoadables`)."""
        def run() -> list[str]:
            dicom_utils = importlib.import_module("DICOMLib.DICOMUtils")
            series = dicom_utils.importFromDICOMWeb(dicomWebEndpoint=source.base_url,
                                                    studyInstanceUID=source.study_uid,
                                                    accessToken=source.access_token or None)
            return list(dicom_utils.loadSeriesByUID(series)) if series else []

        return await self._main.call(run)

    # --- transforms, markups, segmentations -----------------------------------------------------------
    async def grid_transforms(self) -> list[NodeSummary]:
        return await self.select(NodeFilter(class_name="vtkMRMLGridTransformNode"))

    async def grid_transform(self, pattern: str | None = None) -> GridTransformData:
        def run() -> GridTransformData:
            node = nodes.get_node(self._slicer, pattern, "vtkMRMLGridTransformNode*")
            if not node.IsA("vtkMRMLGridTransformNode"):
                raise NotFound(f"{node.GetID()} is not a grid transform")
            displacement = np.array(self._slicer.util.arrayFromGridTransform(node), dtype=np.float64)
            grid_transform = node.GetTransformFromParent()
            grid = grid_transform.GetDisplacementGrid()
            direction = nodes.matrix_of(self._slicer, grid_transform.GetGridDirectionMatrix())
            matrix = np.eye(4)
            matrix[:3, :3] = direction[:3, :3] * np.array(grid.GetSpacing())
            matrix[:3, 3] = grid.GetOrigin()
            return GridTransformData(node.GetID(), node.GetName(), displacement, matrix)

        return await self._main.call(run)

    async def fiducials(self) -> list[MarkupsData]:
        return await self._main.call(nodes.fiducials, self._slicer)

    async def set_control_point(self, pattern: str | None, index: int,
                                position: tuple[float, float, float]) -> None:
        def run() -> None:
            node = nodes.get_node(self._slicer, pattern, "vtkMRMLMarkupsFiducialNode*")
            if not 0 <= index < node.GetNumberOfControlPoints():
                raise NotFound(f"point list {node.GetID()} has no control point {index}")
            node.SetNthControlPointPosition(index, *position)  # index as int (the original sent text)

        await self._main.call(run)

    async def segmentations(self) -> list[SegmentationData]:
        def run() -> list[SegmentationData]:
            result = []
            for node in nodes.by_class(self._slicer, "vtkMRMLSegmentationNode"):
                segmentation = node.GetSegmentation()
                ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
                data = self._export_labelmap(node)
                segments = tuple(Segment(sid, segmentation.GetSegment(sid).GetName(),
                                         tuple(segmentation.GetSegment(sid).GetColor()), number)  # type: ignore[arg-type]
                                 for number, sid in enumerate(ids, 1))
                result.append(SegmentationData(node.GetID(), node.GetName(), data.array, data.ijk_to_ras, segments))
            return result

        return await self._main.call(run)

    def _export_labelmap(self, node: Any) -> VolumeData:
        """ExportAllSegmentsToLabelmapNode, undoing its side effects: it adds a visible `<name>_ColorTable`
        node and keeps a binary labelmap representation in the segmentation
        (vtkSlicerSegmentationsModuleLogic.cxx ~1044-1080, ~1180)."""
        scene, segmentation = self._slicer.mrmlScene, node.GetSegmentation()
        had_labelmap = segmentation.ContainsRepresentation(nodes.BINARY_LABELMAP)
        color_tables = {n.GetID() for n in nodes.by_class(self._slicer, "vtkMRMLColorTableNode")}
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        try:
            if not self._slicer.modules.segmentations.logic().ExportAllSegmentsToLabelmapNode(node, labelmap):
                raise Invalid(f"{node.GetID()}: Slicer could not export the segments to a labelmap")
            return nodes.volume_data(self._slicer, self._vtk_module(), labelmap)
        finally:
            scene.RemoveNode(labelmap)
            for table in nodes.by_class(self._slicer, "vtkMRMLColorTableNode"):
                if table.GetID() not in color_tables:
                    scene.RemoveNode(table)
            if not had_labelmap:
                segmentation.RemoveRepresentation(nodes.BINARY_LABELMAP)

    async def tracker(self) -> np.ndarray:
        return await self._main.call(nodes.tracker, self._slicer, self._vtk_module())

    async def set_tracker(self, matrix: np.ndarray) -> None:
        await self._main.call(nodes.set_tracker, self._slicer, self._vtk_module(), matrix)

    # --- application state --------------------------------------------------------------------------
    async def gui(self) -> GuiState:
        return await self._main.call(nodes.gui, self._slicer)

    async def set_gui(self, contents: str | None, layout: str | None) -> GuiState:
        return await self._main.call(nodes.set_gui, self._slicer, contents, layout)

    async def load_sample(self, name: str) -> list[str]:
        return await self._main.call(nodes.load_sample, self._slicer, name)

    async def sample_names(self) -> list[str]:
        return await self._main.call(nodes.sample_names, self._slicer)

    async def render_inputs(self) -> RenderInputs:
        """Volumes and point lists (Slicer renders its own views; this serves the glTF/markups readers)."""
        def run() -> RenderInputs:
            volumes = tuple(nodes.volume_data(self._slicer, self._vtk_module(), n)
                            for n in nodes.by_class(self._slicer, "vtkMRMLScalarVolumeNode")
                            if n.GetClassName() in ("vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode"))
            active = self._slicer.app.applicationLogic().GetSelectionNode().GetActiveVolumeID()
            background = next((v for v in volumes if v.id == active), None)
            return RenderInputs(background, volumes, tuple(nodes.fiducials(self._slicer)), (), (),
                                nodes.gui(self._slicer))

        return await self._main.call(run)

    async def execute(self, source: str) -> Any:
        """On the main thread, as in Slicer's Python console; a fresh namespace per request holding what the
        original's module globals offered scripts (`json`, `qt`, `vtk`, `slicer`: SlicerRequestHandler.py ~7-16)."""
        def run() -> Any:
            namespace: dict[str, Any] = {"slicer": self._slicer, "qt": self._qt, "vtk": self._vtk, "json": json,
                                         "__execResult": {}}
            exec(compile(source, "<slicerweb exec>", "exec"), namespace)
            return namespace.get("__execResult", {})

        return await self._main.call(run)
