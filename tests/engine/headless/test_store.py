"""Scene store contract: Slicer-style ids and unique names, `class=` with inheritance, Clear keeps counters."""

from __future__ import annotations

import numpy as np

from slicerweb.engine.headless.nodes import LinearTransformNode, MarkupsNode, VolumeNode, frozen_array
from slicerweb.engine.headless.store import SceneStore
from slicerweb.engine.scene_api import NodeFilter


def add_volume(store: SceneStore, name: str, class_name: str = "vtkMRMLScalarVolumeNode") -> VolumeNode:
    return store.add(VolumeNode, name, array=frozen_array(np.zeros((1, 2, 2))), ijk_to_ras=frozen_array(np.eye(4)),
                     class_name=class_name)


def test_ids_count_per_class_and_names_are_made_unique():
    store = SceneStore()
    first, second = add_volume(store, "MRHead"), add_volume(store, "MRHead")
    label = add_volume(store, "seg", "vtkMRMLLabelMapVolumeNode")
    points = store.add(MarkupsNode, "F")
    assert [first.id, second.id, label.id, points.id] == [
        "vtkMRMLScalarVolumeNode1", "vtkMRMLScalarVolumeNode2", "vtkMRMLLabelMapVolumeNode1",
        "vtkMRMLMarkupsFiducialNode1"]
    assert [first.name, second.name] == ["MRHead", "MRHead_1"]


def test_class_filter_includes_subclasses_and_name_is_exact():
    store = SceneStore()
    add_volume(store, "a")
    add_volume(store, "b", "vtkMRMLLabelMapVolumeNode")
    store.add(LinearTransformNode, "t")
    assert [n.name for n in store.select(NodeFilter(class_name="vtkMRMLVolumeNode"))] == ["a", "b"]
    assert [n.name for n in store.select(NodeFilter(class_name="vtkMRMLScalarVolumeNode"))] == ["a", "b"]
    assert [n.name for n in store.select(NodeFilter(class_name="vtkMRMLLabelMapVolumeNode"))] == ["b"]
    assert [n.name for n in store.select(NodeFilter())] == ["a", "b", "t"]
    assert [n.name for n in store.select(NodeFilter(class_name="vtkMRMLVolumeNode", name="b"))] == ["b"]
    assert store.select(NodeFilter(name="B")) == []
    # id wins over class and name, as in the WebServer module
    assert [n.name for n in store.select(NodeFilter(id="vtkMRMLLinearTransformNode1", name="a"))] == ["t"]


def test_get_node_patterns_match_names_then_ids_with_wildcards():
    store = SceneStore()
    add_volume(store, "MRHead")
    add_volume(store, "CTChest")
    classes = ("vtkMRMLVolumeNode",)
    assert store.find("CT*", "x", classes).name == "CTChest"
    assert store.find("vtkMRMLScalarVolumeNode2", "x", classes).name == "CTChest"
    assert store.find(None, "vtkMRMLScalarVolumeNode*", classes).name == "MRHead"
    assert store.find("nothing", "x", classes) is None


def test_clear_removes_everything_but_ids_keep_counting():
    store = SceneStore()
    add_volume(store, "a")
    store.clear()
    assert store.nodes() == []
    assert add_volume(store, "a").id == "vtkMRMLScalarVolumeNode2"


def test_stored_arrays_are_read_only():
    store = SceneStore()
    node = add_volume(store, "a")
    assert not node.array.flags.writeable
