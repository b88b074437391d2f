"""What `/slicer/exec` code sees in the headless engine: a small `slicer`-like API over the scene.

Enough of Slicer's Python surface for the WebServer documentation's examples to run verbatim:

    import SampleData; volumeNode = SampleData.SampleDataLogic().downloadMRHead()
    slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView)
    __execResult = {'volumeNodeID': volumeNode.GetID()}

plus `slicer.util` (getNode, getNodes, arrayFromVolume, updateVolumeFromArray, addVolumeFromArray,
loadVolume / loadNodeFromFile, saveNode, arrayFromMarkupsControlPoints) and `slicer.mrmlScene`.
Each call is one atomic scene change; the namespace is fresh per request (the original shared
module globals across clients). `import slicer` and `import SampleData` resolve to the shims; other
imports are real (exec is, by design, full Python for whoever holds the exec scope).
"""

from __future__ import annotations

import builtins
import fnmatch
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFound
from ..file_access import FileAccess
from ..scene_api import LAYOUTS, ControlPoint, GuiState
from . import files, sampledata
from .nodes import MarkupsNode, Node, VolumeNode, frozen_array, is_a

if TYPE_CHECKING:
    from .scene import HeadlessScene

# Slicer's enum values for the common layouts; the rest get stable values from 100 on.
_KNOWN = {"Initial": 0, "Default": 1, "Conventional": 2, "FourUp": 3, "OneUp3D": 4, "OneUpRedSlice": 6,
          "OneUpYellowSlice": 7, "OneUpGreenSlice": 8, "Tabbed3D": 9, "TabbedSlice": 10, "Dual3D": 15,
          "ConventionalWidescreen": 16, "SideBySide": 29}
LAYOUT_IDS = {name: _KNOWN.get(name, 100 + index) for index, name in enumerate(LAYOUTS)}


class NodeProxy:
    """A live handle on a scene node, with the MRML method names scripts use."""

    def __init__(self, scene: HeadlessScene, node_id: str) -> None:
        self._scene, self._id = scene, node_id

    def _node(self) -> Node:
        node = self._scene.store.get(self._id)
        if node is None:
            raise NotFound(f"node {self._id} is no longer in the scene")
        return node

    def GetID(self) -> str:
        return self._id

    def GetName(self) -> str:
        return self._node().name

    def SetName(self, name: str) -> None:
        self._scene.store.replace(self._node(), name=str(name))

    def GetClassName(self) -> str:
        return self._node().class_name

    def IsA(self, class_name: str) -> bool:
        return is_a(self._node().class_name, class_name)

    def GetSpacing(self) -> tuple[float, ...]:
        return tuple(float(v) for v in np.linalg.norm(self._volume().ijk_to_ras[:3, :3], axis=0))

    def GetOrigin(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self._volume().ijk_to_ras[:3, 3])

    def GetNumberOfControlPoints(self) -> int:
        return len(self._markups().points)

    def GetNthControlPointPosition(self, index: int) -> tuple[float, ...]:
        return tuple(self._markups().points[index].position)

    GetNthControlPointPositionWorld = GetNthControlPointPosition

    def GetNthControlPointLabel(self, index: int) -> str:
        return self._markups().points[index].label

    def SetNthControlPointPosition(self, index: int, *position: Any) -> None:
        ras = tuple(float(v) for v in (position[0] if len(position) == 1 else position))
        self._scene.store.replace(self._markups(), points=tuple(
            ControlPoint(p.label, ras, p.selected, p.visible) if i == index else p  # type: ignore[arg-type]
            for i, p in enumerate(self._markups().points)))

    def AddControlPoint(self, *position: Any) -> int:
        values = position[0] if len(position) in (1, 2) and not np.isscalar(position[0]) else position[:3]
        label = position[1] if len(position) == 2 else position[3] if len(position) == 4 else None
        node = self._markups()
        x, y, z = (float(v) for v in values)
        new = ControlPoint(str(label or f"{node.name}-{len(node.points) + 1}"), (x, y, z))
        self._scene.store.replace(node, points=(*node.points, new))
        return len(node.points)

    def _volume(self) -> VolumeNode:
        node = self._node()
        if not isinstance(node, VolumeNode):
            raise TypeError(f"{node.id} is not a volume node")
        return node

    def _markups(self) -> MarkupsNode:
        node = self._node()
        if not isinstance(node, MarkupsNode):
            raise TypeError(f"{node.id} is not a markups node")
        return node

    def __repr__(self) -> str:
        return f"<{self.GetClassName()} {self._id}>"


def build_slicer(scene: HeadlessScene) -> ModuleType:
    """The `slicer` module stand-in bound to `scene`."""
    store = scene.store

    def proxy(node: Node) -> NodeProxy:
        return NodeProxy(scene, node.id)

    def get_nodes(pattern: str = "*") -> dict[str, NodeProxy]:
        return {n.name: proxy(n) for n in store.nodes() if _matches(n, pattern)}

    def get_node(pattern: str = "*", index: int = 0) -> NodeProxy:
        found = [n for n in store.nodes() if _matches(n, pattern)]
        if len(found) <= index:
            raise slicer.util.MRMLNodeNotFoundException(f"could not find nodes in the scene by name or id '{pattern}'")
        return proxy(found[index])

    def load_node(path: str, filetype: str, properties: dict[str, Any] | None = None) -> NodeProxy:
        nodes = files.load(store, Path(path), filetype, {k: str(v) for k, v in (properties or {}).items()},
                           FileAccess(None))
        return proxy(nodes[0])

    def array_from_volume(node: NodeProxy) -> np.ndarray:
        return np.array(node._volume().array)

    def update_volume_from_array(node: NodeProxy, array: np.ndarray) -> None:
        store.replace(node._volume(), array=frozen_array(np.array(array)))

    def add_volume_from_array(array: np.ndarray, ijkToRAS: Any = None, name: str | None = None,
                              nodeClassName: str = "vtkMRMLScalarVolumeNode") -> NodeProxy:
        matrix = np.eye(4) if ijkToRAS is None else np.asarray(ijkToRAS, dtype=np.float64)
        node = store.add(VolumeNode, name or "Volume", array=frozen_array(np.array(array)),
                         ijk_to_ras=frozen_array(matrix), class_name=nodeClassName)
        return proxy(node)

    def save_node(node: NodeProxy, path: str, properties: dict[str, Any] | None = None) -> bool:
        files.save(node._node(), Path(path), {k: str(v) for k, v in (properties or {}).items()}, FileAccess(None))
        return True

    def markups_array(node: NodeProxy) -> np.ndarray:
        return np.array([p.position for p in node._markups().points], dtype=np.float64).reshape(-1, 3)

    class MRMLNodeNotFoundException(Exception):  # Slicer's name
        pass

    util = SimpleNamespace(
        getNode=get_node, getNodes=get_nodes, MRMLNodeNotFoundException=MRMLNodeNotFoundException,
        getNodesByClass=lambda cls: [proxy(n) for n in store.nodes() if is_a(n.class_name, cls)],
        arrayFromVolume=array_from_volume, updateVolumeFromArray=update_volume_from_array,
        addVolumeFromArray=add_volume_from_array, loadNodeFromFile=load_node,
        loadVolume=lambda path, properties=None: load_node(path, "VolumeFile", properties),
        loadSegmentation=lambda path, properties=None: load_node(path, "SegmentationFile", properties),
        loadMarkups=lambda path, properties=None: load_node(path, "MarkupsFile", properties),
        loadTransform=lambda path, properties=None: load_node(path, "TransformFile", properties),
        saveNode=save_node, exportNode=save_node, arrayFromMarkupsControlPoints=markups_array,
    )
    scene_api = SimpleNamespace(
        GetNodeByID=lambda node_id: proxy(store.get(node_id)) if store.get(node_id) else None,
        GetFirstNodeByName=lambda name: next((proxy(n) for n in store.nodes() if n.name == name), None),
        GetNodesByClass=lambda cls: [proxy(n) for n in store.nodes() if is_a(n.class_name, cls)],
        GetNumberOfNodes=lambda: len(store.nodes()),
        RemoveNode=lambda node: store.remove([node.GetID()]),
        Clear=lambda *_: store.clear(),
    )

    class LayoutManager:
        @property
        def layout(self) -> int:
            return LAYOUT_IDS[store.gui.layout]

        def setLayout(self, layout_id: int) -> None:
            name = next((n for n, v in LAYOUT_IDS.items() if v == int(layout_id)), None)
            if name is None:
                raise ValueError(f"unknown layout id {layout_id}")
            store.set_gui(GuiState(store.gui.contents, name))

    manager = LayoutManager()
    slicer = ModuleType("slicer", "SlicerWeb headless stand-in for Slicer's Python API")
    slicer.util = util  # type: ignore[attr-defined]
    slicer.mrmlScene = scene_api  # type: ignore[attr-defined]
    slicer.app = SimpleNamespace(layoutManager=lambda: manager, processEvents=lambda *_: None,  # type: ignore[attr-defined]
                                 applicationName="SlicerWeb")
    slicer.vtkMRMLLayoutNode = SimpleNamespace(  # type: ignore[attr-defined]
        **{f"SlicerLayout{name}View": value for name, value in LAYOUT_IDS.items()})
    return slicer


def build_sample_data(scene: HeadlessScene) -> ModuleType:
    """The `SampleData` module stand-in: the built-in phantoms, loaded into `scene`."""

    def download(name: str) -> NodeProxy:
        volume = sampledata.sample(name)
        if volume is None:
            raise ValueError(f"sampledata {name} was not found")
        node = scene.store.add(VolumeNode, volume.name, array=volume.array, ijk_to_ras=volume.ijk_to_ras)
        scene.store.set_active_volume(node.id)
        return NodeProxy(scene, node.id)

    class SampleDataLogic:
        def downloadSample(self, name: str) -> NodeProxy:
            return download(name)

        def downloadMRHead(self) -> NodeProxy:
            return download("MRHead")

        def downloadCTChest(self) -> NodeProxy:
            return download("CTChest")

    module = ModuleType("SampleData", "SlicerWeb built-in sample data")
    module.SampleDataLogic = SampleDataLogic  # type: ignore[attr-defined]
    module.downloadSample = download  # type: ignore[attr-defined]
    return module


def _matches(node: Node, pattern: str) -> bool:
    return fnmatch.fnmatchcase(node.name, pattern) or fnmatch.fnmatchcase(node.id, pattern)


def run_source(scene: HeadlessScene, source: str) -> Any:
    """Execute `source` in a fresh namespace; return `__execResult` (default `{}`)."""
    shims = {"slicer": build_slicer(scene), "SampleData": build_sample_data(scene)}

    def shim_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        root = name.partition(".")[0]
        if level == 0 and root in shims:
            module = shims[root]
            if fromlist and name != root:
                return getattr(module, name.partition(".")[2])
            return module
        return builtins.__import__(name, globals, locals, fromlist, level)

    namespace: dict[str, Any] = {
        "__builtins__": {**vars(builtins), "__import__": shim_import},
        "__name__": "__slicerweb_exec__", "__execResult": {},
        "slicer": shims["slicer"], "json": json, "numpy": np, "np": np,
    }
    exec(compile(source, "<slicerweb exec>", "exec"), namespace)
    return namespace.get("__execResult", {})

