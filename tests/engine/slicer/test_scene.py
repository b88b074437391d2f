"""The Slicer engine's scene calls against a thin stand-in of `slicer`/`vtk`: each call reaches the
slicer.util / MRML API the WebServer module uses, on the main thread, and its result is marshalled
into the engine's value types (arrays [k, j, i], IJK-to-RAS, RAS points, PrintSelf-shaped properties)."""

from __future__ import annotations

import fnmatch
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from slicerweb.engine.errors import Forbidden, NotFound
from slicerweb.engine.headless.nodes import is_a
from slicerweb.engine.scene_api import NodeFilter, VolumeUpload
from slicerweb.engine.slicer import SlicerEngine

from .test_mainthread import main_loop  # noqa: F401  # the stand-in Qt main loop fixture

MAIN = "stand-in-main"


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
        self.nodes, self.counters, self.calls = [], {}, []
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
        found = [n for n in world.nodes if is_a(n.class_name, class_name)]
        return SimpleNamespace(GetNumberOfItems=lambda: len(found), GetItemAsObject=lambda i: found[i])

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
            arrayFromVolume=lambda node: node.array, updateVolumeFromArray=update_volume,
            vtkMatrixFromArray=Matrix, arrayFromVTKMatrix=lambda m: m.array,
            loadNodeFromFile=load, exportNode=record("exportNode"),
            mainWindow=lambda: "main window", findChild=lambda window, name: panel,
            setStatusBarVisible=record("status"), setMenuBarsVisible=record("menus"),
            setToolbarsVisible=record("toolbars")),
        app=SimpleNamespace(applicationLogic=lambda: logic, layoutManager=lambda: manager,
                            openUrl=record("openUrl")),
        modules=SimpleNamespace(models=SimpleNamespace(logic=lambda: SimpleNamespace(AddModel=add_model))),
        vtkMRMLLayoutNode=SimpleNamespace(SlicerLayoutFourUpView=3, SlicerLayoutOneUp3DView=4),
    )


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
