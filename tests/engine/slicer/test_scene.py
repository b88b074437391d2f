"""The Slicer engine's scene calls against a thin stand-in of `slicer`/`vtk`: each call reaches the
slicer.util / MRML API the WebServer module uses, on the main thread, and its result is marshalled
into the engine's value types (arrays [k, j, i], IJK-to-RAS, RAS points, PrintSelf-shaped properties)."""

from __future__ import annotations

import fnmatch
import os
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from slicerweb.engine.errors import Forbidden, Invalid, NotFound, Unsupported
from slicerweb.engine.headless.nodes import PARENTS
from slicerweb.engine.scene_api import NodeFilter, VolumeUpload
from slicerweb.engine.slicer import SlicerEngine

from .test_mainthread import main_loop  # noqa: F401  # the stand-in Qt main loop fixture

MAIN = "stand-in-main"

# Slicer's class tree where the engine depends on it (Libs/MRML/Core/vtkMRML*Node.h): vector volumes
# derive from tensor volumes, which derive from scalar volumes; DWI derives from scalar volumes directly.
STAND_IN_PARENTS = {**PARENTS,
                    "vtkMRMLTensorVolumeNode": "vtkMRMLScalarVolumeNode",
                    "vtkMRMLVectorVolumeNode": "vtkMRMLTensorVolumeNode",
                    "vtkMRMLDiffusionImageVolumeNode": "vtkMRMLTensorVolumeNode",
                    "vtkMRMLDiffusionTensorVolumeNode": "vtkMRMLDiffusionImageVolumeNode",
                    "vtkMRMLDiffusionWeightedVolumeNode": "vtkMRMLScalarVolumeNode",
                    "vtkMRMLColorTableNode": "vtkMRMLNode"}


def is_a(class_name, base):
    while class_name is not None:
        if class_name == base:
            return True
        class_name = STAND_IN_PARENTS.get(class_name)
    return False


class Node:
    def __init__(self, world, class_name, name, **extra):
        world.counters[class_name] = world.counters.get(class_name, 0) + 1
        self.world, self.class_name, self.name = world, class_name, name
        self.id = f"{class_name}{world.counters[class_name]}"
        self.__dict__.update(extra)
        world.nodes.append(self)

    def _touch(self):
        assert threading.current_thread().name == MAIN, "MRML touched off the main thread"

    def GetID(self):
        self._touch()
        return self.id

    def GetName(self):
        return self.name

    def SetName(self, name):
        self.name = name

    def GetClassName(self):
        return self.class_name

    def IsA(self, base):
        return is_a(self.class_name, base)

    def GetIJKToRASMatrix(self, matrix):
        matrix.array = self.ijk.copy()

    def SetIJKToRASMatrix(self, matrix):
        self.ijk = matrix.array.copy()

    def CreateDefaultDisplayNodes(self):
        pass

    def GetDisplayNode(self):
        return SimpleNamespace(GetSelectedColor=lambda: (1.0, 0.5, 0.5), GetGlyphScale=lambda: 3.0,
                               SetColor=lambda *c: setattr(self, "color", c))

    def GetNumberOfControlPoints(self):
        return len(self.points)

    def GetNthControlPointLabel(self, i):
        return f"{self.name}-{i + 1}"

    def GetNthControlPointPosition(self, i):
        return self.points[i]

    def SetNthControlPointPosition(self, i, r, a, s):
        assert isinstance(i, int)
        self.points[i] = (r, a, s)

    def SetMatrixTransformToParent(self, matrix):
        self.matrix = matrix.array.copy()

    def GetMatrixTransformToParent(self, matrix):
        matrix.array = self.matrix.copy()

    def SetAndObserveTransformNodeID(self, node_id):
        self.transform_id = node_id

    def __str__(self):
        return (f"{self.class_name} (0x1)\n  ID: {self.id}\n  Name: {self.name}\n"
                "  Description: (none)\n  Selected: false\n")


class Matrix:
    def __init__(self, array=None):
        self.array = np.eye(4) if array is None else np.array(array, dtype=float)


class World:
    def __init__(self):
        self.nodes, self.counters, self.calls, self.live_collections = [], {}, [], []
        self.layout = 3
        self.active = None


def fake_slicer(world):
    class NotFoundError(Exception):
        pass

    def get_node(pattern):
        for key in ("name", "id"):
            for node in world.nodes:
                if fnmatch.fnmatchcase(getattr(node, key), pattern):
                    return node
        raise NotFoundError(pattern)

    def collection(class_name):
        """vtkMRMLScene::GetNodesByClass returns a new vtkCollection the caller must UnRegister
        (Libs/MRML/Core/vtkMRMLScene.h ~318): live ones are counted as leaks."""
        found = [n for n in world.nodes if is_a(n.class_name, class_name)]
        handle = SimpleNamespace(GetNumberOfItems=lambda: len(found), GetItemAsObject=lambda i: found[i])
        handle.UnRegister = lambda owner: world.live_collections.remove(handle)
        world.live_collections.append(handle)
        return handle

    def get_nodes_by_class(class_name):
        """slicer.util.getNodesByClass: GetNodesByClass, then UnRegister (Base/Python/slicer/util.py ~1910-1925)."""
        handle = collection(class_name)
        handle.UnRegister(None)
        return [handle.GetItemAsObject(i) for i in range(handle.GetNumberOfItems())]

    def array_from_volume(node):
        """slicer.util.arrayFromVolume (util.py ~2055-2092): dispatch on the exact class name."""
        if node.GetClassName() in ("vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode"):
            return node.array
        if node.GetClassName() in ("vtkMRMLVectorVolumeNode", "vtkMRMLMultiVolumeNode",
                                   "vtkMRMLDiffusionWeightedVolumeNode"):
            return node.array  # [k, j, i, component]
        if node.GetClassName() == "vtkMRMLDiffusionTensorVolumeNode":
            return node.array.reshape((*node.array.shape[:3], 3, 3))
        raise RuntimeError("Unsupported volume type: " + node.GetClassName())

    def array_from_vtk_matrix(matrix):
        """util.arrayFromVTKMatrix raises for anything but a vtkMatrix4x4/3x3 (util.py ~2268-2290)."""
        if not isinstance(matrix, Matrix):
            raise RuntimeError("Input must be vtk.vtkMatrix3x3 or vtk.vtkMatrix4x4")
        return matrix.array

    def export_node(node, filename, properties, world=False):
        """util.exportNode returns False when the writer fails (util.py ~1474-1518); it raises only for an
        unknown extension."""
        record("exportNode")(node, filename, properties, world=world)
        if not filename.endswith((".nrrd", ".nii.gz", ".vtk")):
            raise ValueError(f"Failed to export {node.GetID()} - no known file format was found for {filename}")
        return os.path.isdir(os.path.dirname(filename))

    def record(name):
        return lambda *args, **kwargs: world.calls.append((name, args, kwargs, threading.current_thread().name))

    selection = SimpleNamespace(GetActiveVolumeID=lambda: world.active,
                                SetActiveVolumeID=lambda node_id: setattr(world, "active", node_id))
    logic = SimpleNamespace(GetSelectionNode=lambda: selection, PropagateVolumeSelection=record("Propagate"))
    panel = SimpleNamespace(visible=True)
    panel.setVisible = lambda v: setattr(panel, "visible", v)
    panel.isVisible = lambda: panel.visible
    manager = type("LM", (), {"layout": property(lambda self: world.layout),
                              "setLayout": lambda self, v: setattr(world, "layout", v)})()

    def add_model(port):
        return Node(world, "vtkMRMLModelNode", "Model", port=port)

    def remove(node):
        world.nodes.remove(node)

    def update_volume(node, array):
        node.array = np.array(array)

    def load(path, filetype, properties):
        world.calls.append(("loadNodeFromFile", (path, filetype, properties), {}, threading.current_thread().name))
        return Node(world, "vtkMRMLScalarVolumeNode", "Loaded", array=np.zeros((1, 1, 1)), ijk=np.eye(4))

    return SimpleNamespace(
        mrmlScene=SimpleNamespace(
            GetNodeByID=lambda node_id: next((n for n in world.nodes if n.id == node_id), None),
            GetNodesByClass=collection,
            GetFirstNodeByName=lambda name: next((n for n in world.nodes if n.name == name), None),
            AddNewNodeByClass=lambda cls, name="": Node(world, cls, name),
            RemoveNode=remove, Clear=lambda: world.nodes.clear()),
        util=SimpleNamespace(
            getNode=get_node, MRMLNodeNotFoundException=NotFoundError,
            arrayFromVolume=array_from_volume, updateVolumeFromArray=update_volume,
            vtkMatrixFromArray=Matrix, arrayFromVTKMatrix=array_from_vtk_matrix, getNodesByClass=get_nodes_by_class,
            arrayFromGridTransform=lambda node: node.displacement,
            loadNodeFromFile=load, exportNode=export_node,
            mainWindow=lambda: "main window", findChild=lambda window, name: panel,
            setStatusBarVisible=record("status"), setMenuBarsVisible=record("menus"),
            setToolbarsVisible=record("toolbars")),
        app=SimpleNamespace(applicationLogic=lambda: logic, layoutManager=lambda: manager,
                            openUrl=record("openUrl")),
        modules=SimpleNamespace(models=SimpleNamespace(logic=lambda: SimpleNamespace(AddModel=add_model)),
                                segmentations=SimpleNamespace(logic=lambda: SegmentationsLogic(world))),
        vtkMRMLLayoutNode=SimpleNamespace(SlicerLayoutFourUpView=3, SlicerLayoutOneUp3DView=4),
    )


class Segmentation:
    """vtkSegmentation: segments and the set of representations it holds."""

    def __init__(self, segments):
        self.segments, self.representations = segments, {"Closed surface"}

    def GetNumberOfSegments(self):
        return len(self.segments)

    def GetNthSegmentID(self, i):
        return list(self.segments)[i]

    def GetSegment(self, sid):
        name, color = self.segments[sid]
        return SimpleNamespace(GetName=lambda: name, GetColor=lambda: color)

    def ContainsRepresentation(self, name):
        return name in self.representations

    def CreateRepresentation(self, name):
        self.representations.add(name)
        return True

    def RemoveRepresentation(self, name):
        self.representations.discard(name)


class SegmentationsLogic:
    """vtkSlicerSegmentationsModuleLogic::ExportAllSegmentsToLabelmapNode (ModuleLogic.cxx ~1044-1080, ~1156-1190):
    converts every segment to a binary labelmap representation (kept in the segmentation) and adds a
    visible `<segmentation name>_ColorTable` node to the scene."""

    def __init__(self, world):
        self.world = world

    def ExportAllSegmentsToLabelmapNode(self, node, labelmap):
        segmentation = node.GetSegmentation()
        segmentation.CreateRepresentation("Binary labelmap")
        Node(self.world, "vtkMRMLColorTableNode", f"{node.GetName()}_ColorTable")
        labelmap.array = np.ones((1, 2, 2), np.uint8)
        labelmap.ijk = np.eye(4)
        return True


def fake_vtk(world):
    class Cube:
        def __getattr__(self, name):
            return lambda *args: world.calls.append((name, args, {}, threading.current_thread().name))

    return SimpleNamespace(vtkMatrix4x4=Matrix, vtkCubeSource=Cube)


@pytest.fixture
def stand_in(tmp_path, main_loop):  # noqa: F811
    world = World()
    engine = SlicerEngine(fake_slicer(world), SimpleNamespace(), main_loop.dispatcher, tmp_path, vtk=fake_vtk(world))
    return engine.scene, world


async def test_selection_and_properties(stand_in):
    scene, world = stand_in
    Node(world, "vtkMRMLScalarVolumeNode", "MRHead", array=np.zeros((2, 3, 4), np.int16), ijk=np.eye(4))
    Node(world, "vtkMRMLLabelMapVolumeNode", "seg", array=np.zeros((1, 1, 1), np.uint8), ijk=np.eye(4))
    Node(world, "vtkMRMLMarkupsFiducialNode", "F", points=[(1.0, 2.0, 3.0)])
    names = [n.name for n in await scene.select(NodeFilter(class_name="vtkMRMLVolumeNode"))]
    assert names == ["MRHead", "seg"]
    assert [n.id for n in await scene.select(NodeFilter(id="vtkMRMLMarkupsFiducialNode1"))] == [
        "vtkMRMLMarkupsFiducialNode1"]
    props = await scene.properties(NodeFilter(name="MRHead"))
    assert props == {"vtkMRMLScalarVolumeNode1": {"ID": "vtkMRMLScalarVolumeNode1", "Name": "MRHead",
                                                  "Selected": False}}
    with pytest.raises(NotFound):
        await scene.properties(NodeFilter(name="none"))


async def test_volume_download_and_upload(stand_in):
    scene, world = stand_in
    matrix = np.array([[-1.0, 0, 0, 5], [0, -1.0, 0, 6], [0, 0, 2.5, 7], [0, 0, 0, 1]])
    voxels = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    Node(world, "vtkMRMLScalarVolumeNode", "MRHead", array=voxels, ijk=matrix)
    volume = await scene.volume()
    assert volume.array.dtype == np.float32 and np.array_equal(volume.array, voxels)  # no cast to short
    assert np.array_equal(volume.ijk_to_ras, matrix)
    created = await scene.put_volume("New", VolumeUpload(np.ones((1, 2, 2), np.int8), np.eye(4) * 2, 2))
    assert created.id == "vtkMRMLScalarVolumeNode2" and world.active == created.id
    replaced = await scene.put_volume("MRHead", VolumeUpload(np.ones((1, 1, 1), np.int16), np.eye(4)))
    assert replaced.id == "vtkMRMLScalarVolumeNode1"
    assert all(thread == "stand-in-main" for *_, thread in world.calls)
    with pytest.raises(NotFound):
        await scene.volume("nothing")


async def test_markups_tracker_gui(stand_in):
    scene, world = stand_in
    Node(world, "vtkMRMLMarkupsFiducialNode", "F", points=[(1.0, 2.0, 3.0), (4.0, 5.0, 6.0)])
    await scene.set_control_point("F", 1, (7.0, 8.0, 9.0))
    [markups] = await scene.fiducials()
    assert [p.position for p in markups.points] == [(1.0, 2.0, 3.0), (7.0, 8.0, 9.0)]
    assert markups.points[1].label == "F-2"
    with pytest.raises(NotFound):
        await scene.set_control_point("F", 5, (0.0, 0.0, 0.0))

    matrix = np.eye(4)
    matrix[:3, 3] = (1, 2, 3)
    await scene.set_tracker(matrix)
    await scene.set_tracker(matrix)
    assert [n.name for n in world.nodes if n.class_name != "vtkMRMLMarkupsFiducialNode"] == [
        "tracker", "trackingDevice"]  # created once
    assert np.array_equal(await scene.tracker(), matrix)

    state = await scene.set_gui("viewers", "oneup3d")
    assert (state.contents, state.layout, world.layout) == ("viewers", "OneUp3D", 4)


async def test_files_go_through_load_and_export_with_roots_checked(stand_in, tmp_path):
    scene, world = stand_in
    assert await scene.load_file(str(tmp_path / "a.nrrd"), "VolumeFile", {"name": "a"}) == [
        "vtkMRMLScalarVolumeNode1"]
    with pytest.raises(Forbidden):
        await scene.load_file("/etc/passwd", "TextFile", {}, roots=(str(tmp_path),))
    await scene.save_file(NodeFilter(name="Loaded"), str(tmp_path / "out.nrrd"), {"useCompression": "False"})
    export = next(call for call in world.calls if call[0] == "exportNode")
    assert export[1][2] == {"useCompression": False} and export[3] == "stand-in-main"
    assert await scene.remove(NodeFilter()) == ["vtkMRMLScalarVolumeNode1"]
    assert world.nodes == []


async def test_selection_frees_the_collections_it_asks_for(stand_in):
    scene, world = stand_in
    Node(world, "vtkMRMLScalarVolumeNode", "MRHead", array=np.zeros((1, 1, 1), np.int16), ijk=np.eye(4))
    await scene.select(NodeFilter(class_name="vtkMRMLVolumeNode"))
    await scene.volumes()
    await scene.fiducials()
    await scene.volume()
    assert world.live_collections == []  # every vtkCollection from GetNodesByClass was UnRegistered


async def test_segmentations_leave_no_color_table_and_keep_the_representations(stand_in):
    scene, world = stand_in
    Node(world, "vtkMRMLSegmentationNode", "Tumor",
         segmentation=Segmentation({"s1": ("tumor", (1.0, 0.0, 0.0))}), GetSegmentation=None)
    world.nodes[-1].GetSegmentation = lambda: world.nodes[0].segmentation
    [data] = await scene.segmentations()
    assert [s.name for s in data.segments] == ["tumor"] and data.labelmap.shape == (1, 2, 2)
    assert [n.name for n in world.nodes] == ["Tumor"]  # no Tumor_ColorTable, no labelmap left behind
    assert world.nodes[0].segmentation.representations == {"Closed surface"}  # no forced binary labelmap


async def test_vector_volumes_come_out_4d_and_tensor_volumes_are_refused(stand_in):
    scene, world = stand_in
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    Node(world, "vtkMRMLVectorVolumeNode", "Color", array=rgb, ijk=np.eye(4))
    Node(world, "vtkMRMLDiffusionTensorVolumeNode", "DTI", array=np.zeros((2, 3, 4, 9), np.float32), ijk=np.eye(4))
    Node(world, "vtkMRMLDiffusionWeightedVolumeNode", "DWI", array=np.zeros((2, 3, 4, 7), np.int16), ijk=np.eye(4))
    volume = await scene.volume("Color")
    assert volume.array.shape == (2, 3, 4, 3) and np.array_equal(volume.array, rgb)
    assert volume.class_name == "vtkMRMLVectorVolumeNode" and volume.dimension == 3
    with pytest.raises(Unsupported, match="tensor"):
        await scene.volume("DTI")
    with pytest.raises(Unsupported, match="diffusion-weighted"):
        await scene.volume("DWI")


async def test_grid_transform_without_a_direction_matrix(stand_in):
    """Grid transforms made in Slicer have no direction matrix: GetGridDirectionMatrix() is None
    (vtkAddon vtkOrientedGridTransform.cxx ~26, vtkMRMLGridTransformNode.cxx ~44)."""
    scene, world = stand_in
    grid = SimpleNamespace(GetSpacing=lambda: (2.0, 3.0, 4.0), GetOrigin=lambda: (5.0, 6.0, 7.0))
    transform = SimpleNamespace(GetDisplacementGrid=lambda: grid, GetGridDirectionMatrix=lambda: None)
    Node(world, "vtkMRMLGridTransformNode", "Warp", displacement=np.zeros((2, 2, 2, 3)),
         GetTransformFromParent=lambda: transform)
    data = await scene.grid_transform("Warp")
    assert np.array_equal(data.ijk_to_ras, [[2, 0, 0, 5], [0, 3, 0, 6], [0, 0, 4, 7], [0, 0, 0, 1]])


async def test_export_failure_and_failed_reload_are_errors(stand_in, tmp_path):
    scene, world = stand_in
    node = Node(world, "vtkMRMLScalarVolumeNode", "MRHead", array=np.zeros((1, 1, 1)), ijk=np.eye(4))
    with pytest.raises(Invalid, match="could not write"):
        await scene.save_file(NodeFilter(name="MRHead"), str(tmp_path / "missing" / "out.nrrd"), {})
    # vtkMRMLStorageNode::ReadData returns 0 on failure (Libs/MRML/Core/vtkMRMLStorageNode.h ~60)
    storage = SimpleNamespace(ReadData=lambda n: 0, GetFileName=lambda: "/data/MRHead.nrrd")
    node.GetStorageNode = lambda: storage
    with pytest.raises(Invalid, match=r"MRHead\.nrrd"):
        await scene.reload(NodeFilter(name="MRHead"))
    storage.ReadData = lambda n: 1
    assert await scene.reload(NodeFilter(name="MRHead")) == [node.id]


async def test_sample_data_registry_is_built_before_lookup(stand_in, monkeypatch):
    """slicer.modules.sampleDataSources exists (and is filled) only once a SampleDataLogic() was created
    (Modules/Scripted/SampleData/SampleData.py ~105-110, ~659-673); downloadSample creates one (~50-55)."""
    scene, world = stand_in
    slicer = scene._slicer
    modules = slicer.modules

    class SampleDataLogic:
        def __init__(self):
            if not hasattr(modules, "sampleDataSources"):
                modules.sampleDataSources = {}
            general = modules.sampleDataSources.setdefault("General", [])
            if not general:  # isSampleDataSourceRegistered: registering twice adds nothing (~600-604)
                general.append(SimpleNamespace(sampleName="MRHead"))

        def downloadSamples(self, name):
            return [Node(world, "vtkMRMLScalarVolumeNode", name, array=np.zeros((1, 1, 1)), ijk=np.eye(4))]

    sample_data = SimpleNamespace(SampleDataLogic=SampleDataLogic,
                                  downloadSample=lambda name: SampleDataLogic().downloadSamples(name)[0])
    monkeypatch.setitem(__import__("sys").modules, "SampleData", sample_data)
    assert await scene.sample_names() == ["MRHead"]
    assert await scene.load_sample("MRHead") == ["vtkMRMLScalarVolumeNode1"]
    with pytest.raises(NotFound):
        await scene.load_sample("NoSuchSample")


async def test_put_volume_fits_the_slice_views_and_exec_has_qt_vtk_json(stand_in):
    scene, world = stand_in
    await scene.put_volume("New", VolumeUpload(np.ones((1, 2, 2), np.int8), np.eye(4)))
    # vtkMRMLApplicationLogic::PropagateVolumeSelection(int fit = 1) (Libs/MRML/Logic/vtkMRMLApplicationLogic.h ~92):
    # the original called it with the default, which fits every slice view to the new volume.
    assert [call[1] for call in world.calls if call[0] == "Propagate"] == [(1,)]
    result = await scene.execute("__execResult = [qt is not None, vtk is not None, json.dumps({'a': 1})]")
    assert result == [True, True, '{"a": 1}']
