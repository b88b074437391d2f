"""Main-thread functions behind SlicerScene: each is the `slicer.util` / MRML call the WebServer module
makes for the same endpoint (SlicerRequestHandler), with its bugs fixed where noted.

They run on Slicer's main thread only (`SlicerScene` marshals them through MainThreadDispatcher) and
take the running `slicer` module explicitly.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import Invalid, NotFound, Unsupported
from ..scene_api import LAYOUTS, ControlPoint, GuiState, MarkupsData, NodeFilter, VolumeData

TRUE = ("true", "1", "yes", "on")

# IsA("vtkMRMLScalarVolumeNode") is true for all of these (Libs/MRML/Core: vtkMRMLTensorVolumeNode,
# vtkMRMLVectorVolumeNode and vtkMRMLDiffusionWeightedVolumeNode derive from it); their voxels are not scalars.
VECTOR_VOLUMES = ("vtkMRMLVectorVolumeNode", "vtkMRMLMultiVolumeNode")
REFUSED_VOLUMES = {
    "vtkMRMLDiffusionWeightedVolumeNode": "a diffusion-weighted volume (its gradients have no place in this NRRD)",
    "vtkMRMLDiffusionTensorVolumeNode": "a diffusion tensor volume",
    "vtkMRMLTensorVolumeNode": "a tensor volume",
}
BINARY_LABELMAP = "Binary labelmap"  # vtkSegmentationConverter::GetSegmentationBinaryLabelmapRepresentationName()


def select(slicer: ModuleType, selection: NodeFilter) -> list[Any]:
    """getNodesFilteredByQuery: id wins; else nodes of the class (subclasses included) then exact name."""
    if selection.id:
        node = slicer.mrmlScene.GetNodeByID(selection.id)
        return [node] if node is not None else []
    return by_class(slicer, selection.class_name or "vtkMRMLNode", selection.name)


def by_class(slicer: ModuleType, class_name: str, name: str | None = None) -> list[Any]:
    """slicer.util.getNodesByClass: it UnRegisters the vtkCollection that vtkMRMLScene::GetNodesByClass
    hands its caller (Base/Python/slicer/util.py ~1910-1925); calling the scene directly leaked it and
    every node in it."""
    nodes = list(slicer.util.getNodesByClass(class_name))
    if name is not None:
        nodes = [n for n in nodes if n.GetName() == name]
    return nodes


def matrix_of(slicer: ModuleType, vtk_matrix: Any) -> np.ndarray:
    """util.arrayFromVTKMatrix; a missing (None) matrix is the identity (it raises for None, util.py ~2268)."""
    if vtk_matrix is None:
        return np.eye(4)
    return np.array(slicer.util.arrayFromVTKMatrix(vtk_matrix), dtype=np.float64)


def get_node(slicer: ModuleType, pattern: str | None, default: str) -> Any:
    """slicer.util.getNode, with its exception turned into NotFound."""
    try:
        return slicer.util.getNode(pattern or default)
    except slicer.util.MRMLNodeNotFoundException:
        raise NotFound(f"could not find nodes in the scene by name or id '{pattern or default}'") from None


def volume_data(slicer: ModuleType, vtk: ModuleType, node: Any) -> VolumeData:
    """arrayFromVolume (a copy, read-only) and GetIJKToRASMatrix: voxels in their own type.

    Scalar volumes give `[k, j, i]`, vector volumes `[k, j, i, component]` (util.arrayFromVolume,
    util.py ~2055-2092); tensor and DWI volumes are refused by name.
    """
    if not node.IsA("vtkMRMLScalarVolumeNode"):
        raise NotFound(f"{node.GetID()} is not a scalar volume")
    refused = REFUSED_VOLUMES.get(node.GetClassName())
    if refused is None and node.IsA("vtkMRMLTensorVolumeNode") and node.GetClassName() not in VECTOR_VOLUMES:
        refused = "a tensor volume"
    if refused is not None:
        raise Unsupported(f"{node.GetID()} is {refused}: only scalar and vector volumes can be served")
    array = np.array(slicer.util.arrayFromVolume(node))
    array.flags.writeable = False
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return VolumeData(node.GetID(), node.GetName(), array, matrix_of(slicer, matrix), node.GetClassName(),
                      2 if array.shape[0] == 1 else 3)


def put_volume(slicer: ModuleType, pattern: str | None, array: np.ndarray, ijk_to_ras: np.ndarray) -> Any:
    """Replace the matching volume's voxels and geometry or create a scalar volume; make it active."""
    try:
        node = slicer.util.getNode(pattern or "vtkMRMLScalarVolumeNode*")
        if not node.IsA("vtkMRMLVolumeNode"):
            node = None  # the original overwrote any class; only volumes are replaced here
    except slicer.util.MRMLNodeNotFoundException:
        node = None
    if node is None:
        name = pattern if pattern and not any(c in pattern for c in "*?[") else "Volume"
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        node.CreateDefaultDisplayNodes()
    slicer.util.updateVolumeFromArray(node, np.array(array))
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(ijk_to_ras))
    selection = slicer.app.applicationLogic().GetSelectionNode()
    selection.SetActiveVolumeID(node.GetID())
    # PropagateVolumeSelection(int fit = 1) (Libs/MRML/Logic/vtkMRMLApplicationLogic.h ~92): fit every
    # slice view to the new volume, as the original's postNRRD did by calling it with the default.
    slicer.app.applicationLogic().PropagateVolumeSelection(1)
    return node


def fiducials(slicer: ModuleType) -> list[MarkupsData]:
    """Every point list: display selected color, glyph scale, local (untransformed) RAS positions."""
    result = []
    for node in select(slicer, NodeFilter(class_name="vtkMRMLMarkupsFiducialNode")):
        display = node.GetDisplayNode()
        color = tuple(display.GetSelectedColor()) if display is not None else (1.0, 0.5, 0.5)
        scale = float(display.GetGlyphScale()) if display is not None else 3.0
        points = tuple(ControlPoint(node.GetNthControlPointLabel(i), _ras(node.GetNthControlPointPosition(i)))
                       for i in range(node.GetNumberOfControlPoints()))
        result.append(MarkupsData(node.GetID(), node.GetName(), color, scale, points))
    return result


def set_tracker(slicer: ModuleType, vtk: ModuleType, matrix: np.ndarray) -> None:
    """Find or create the `tracker` transform and the yellow 30x70x5 mm `trackingDevice` cube under it."""
    transform = slicer.mrmlScene.GetFirstNodeByName("tracker")
    if transform is None:
        transform = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "tracker")
    if slicer.mrmlScene.GetFirstNodeByName("trackingDevice") is None:
        cube = vtk.vtkCubeSource()
        cube.SetXLength(30)
        cube.SetYLength(70)
        cube.SetZLength(5)
        cube.Update()
        model = slicer.modules.models.logic().AddModel(cube.GetOutputPort())
        model.SetName("trackingDevice")
        model.GetDisplayNode().SetColor(1, 1, 0)
        model.SetAndObserveTransformNodeID(transform.GetID())
    transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))


def tracker(slicer: ModuleType, vtk: ModuleType) -> np.ndarray:
    transform = slicer.mrmlScene.GetFirstNodeByName("tracker")
    if transform is None:
        return np.eye(4)
    matrix = vtk.vtkMatrix4x4()
    transform.GetMatrixTransformToParent(matrix)
    return matrix_of(slicer, matrix)


def set_gui(slicer: ModuleType, contents: str | None, layout: str | None) -> GuiState:
    """Viewers-only or full main window, and a SlicerLayout<Name>View layout (case-insensitive)."""
    if contents:
        if contents.lower() not in ("viewers", "full"):
            raise Invalid("contents must be 'viewers' or 'full'")
        visible = contents.lower() == "full"
        slicer.util.findChild(slicer.util.mainWindow(), "PanelDockWidget").setVisible(visible)
        slicer.util.setStatusBarVisible(visible)
        slicer.util.setMenuBarsVisible(visible)
        slicer.util.setToolbarsVisible(visible)
    if layout:
        name = next((n for n in LAYOUTS if n.lower() == layout.lower()), None)
        if name is None or not hasattr(slicer.vtkMRMLLayoutNode, f"SlicerLayout{name}View"):
            raise Invalid(f"Unknown layout name: {layout}")
        slicer.app.layoutManager().setLayout(getattr(slicer.vtkMRMLLayoutNode, f"SlicerLayout{name}View"))
    return gui(slicer)


def gui(slicer: ModuleType) -> GuiState:
    current = slicer.app.layoutManager().layout
    name = next((n for n in LAYOUTS if getattr(slicer.vtkMRMLLayoutNode, f"SlicerLayout{n}View", None) == current),
                "Custom")
    panel = slicer.util.findChild(slicer.util.mainWindow(), "PanelDockWidget")
    return GuiState("full" if panel.isVisible() else "viewers", name)


def load_sample(slicer: ModuleType, name: str) -> list[str]:
    """SampleData.downloadSample(name): the node(s) it loaded."""
    sample_data = importlib.import_module("SampleData")
    if name not in sample_names(slicer):
        raise NotFound(f"sampledata {name} was not found")
    loaded = sample_data.downloadSample(name)
    nodes = loaded if isinstance(loaded, list) else [loaded]
    return [node.GetID() for node in nodes if node is not None]


def sample_names(slicer: ModuleType) -> list[str]:
    """Names in slicer.modules.sampleDataSources, which is empty (or absent) until a SampleDataLogic() is
    created: its constructor registers the built-in sources (Modules/Scripted/SampleData/SampleData.py
    ~105-110, ~659-673; registering twice adds nothing, ~600-604)."""
    importlib.import_module("SampleData").SampleDataLogic()
    return sorted({source.sampleName for sources in slicer.modules.sampleDataSources.values() for source in sources})


def save_properties(properties: dict[str, str]) -> dict[str, Any]:
    """exportNode properties: `useCompression` as a bool (the original passed the string "False")."""
    result: dict[str, Any] = dict(properties)
    if "useCompression" in result:
        result["useCompression"] = str(result["useCompression"]).strip().lower() in TRUE
    return result


def _ras(position: Any) -> tuple[float, float, float]:
    """A control point position from Slicer (a 3-sequence of numbers) as floats."""
    x, y, z = (float(v) for v in position)
    return x, y, z
