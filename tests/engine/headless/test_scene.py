"""Headless scene contract: files load and save with exact content, properties have the PrintSelf shape,
mutations are atomic, and a long exec does not stall other scene calls."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from slicerweb.engine.errors import Forbidden, NotFound, Unsupported
from slicerweb.engine.headless.markups_io import markups_json
from slicerweb.engine.headless.scene import HeadlessScene
from slicerweb.engine.headless.segmentation_io import write_segmentation
from slicerweb.engine.headless.transforms_io import read_tfm, write_tfm
from slicerweb.engine.scene_api import ControlPoint, NodeFilter, Segment
from slicerweb.formats.nrrd import write_nrrd


@pytest.fixture
async def scene(tmp_path):
    scene = HeadlessScene(tmp_path)
    yield scene
    scene.close()


async def test_markups_json_round_trip_keeps_ras_positions(scene, tmp_path):
    points = (ControlPoint("F-1", (1.5, -2.25, 3.0)), ControlPoint("F-2", (-10.0, 20.0, -30.5)))
    (tmp_path / "F.mrk.json").write_text(markups_json("F", points, (0.4, 1.0, 1.0), (1.0, 0.5, 0.5), 3.0))
    document = json.loads((tmp_path / "F.mrk.json").read_text())
    assert document["markups"][0]["controlPoints"][0]["position"] == [-1.5, 2.25, 3.0]  # LPS on disk
    [node_id] = await scene.load_file(str(tmp_path / "F.mrk.json"), "MarkupsFile", {})
    assert node_id == "vtkMRMLMarkupsFiducialNode1"
    await scene.save_file(NodeFilter(id=node_id), str(tmp_path / "G.mrk.json"), {})
    await scene.remove(NodeFilter())
    await scene.load_file(str(tmp_path / "G.mrk.json"), "MarkupsFile", {})
    [loaded] = await scene.fiducials()
    assert [p.position for p in loaded.points] == [p.position for p in points]
    assert [p.label for p in loaded.points] == ["F-1", "F-2"]


async def test_linear_transform_file_round_trip(scene, tmp_path):
    matrix = np.array([[0.0, -1.0, 0.0, 10.0], [1.0, 0.0, 0.0, -5.0], [0.0, 0.0, 1.0, 2.5], [0, 0, 0, 1]])
    write_tfm(tmp_path / "t.tfm", matrix)
    assert np.allclose(read_tfm(tmp_path / "t.tfm"), matrix, atol=1e-12)
    [node_id] = await scene.load_file(str(tmp_path / "t.tfm"), "TransformFile", {})
    props = (await scene.properties(NodeFilter(id=node_id)))[node_id]
    assert np.allclose(props["MatrixTransformToParent"], matrix, atol=1e-12)


async def test_segmentation_properties_have_the_shape_slicerio_documents(scene, tmp_path):
    labelmap = np.zeros((3, 4, 5), dtype=np.uint8)
    labelmap[1, 1:3, 1:4] = 1
    labelmap[2, 2, 2] = 2
    segments = (Segment("Segment_1", "liver", (0.9, 0.4, 0.3), 1), Segment("Segment_2", "tumor", (1.0, 1.0, 0.0), 2))
    write_segmentation(tmp_path / "Segmentation.seg.nrrd", labelmap, np.eye(4), segments, True)
    [node_id] = await scene.load_file(str(tmp_path / "Segmentation.seg.nrrd"), "SegmentationFile", {})
    props = (await scene.properties(NodeFilter(name="Segmentation")))[node_id]
    assert node_id == "vtkMRMLSegmentationNode1"
    assert props["Segmentation"]["Segments"]["Segment_2"]["Name"] == "tumor"
    assert props["Segmentation"]["Segments"]["Segment_1"]["Color"] == [0.9, 0.4, 0.3]
    [segmentation] = await scene.segmentations()
    assert np.array_equal(segmentation.labelmap, labelmap)


async def test_volume_class_filter_and_reload_from_the_changed_file(scene, tmp_path):
    path = tmp_path / "v.nrrd"
    write_nrrd(path, np.zeros((2, 2, 2), np.int16), np.eye(4), compress=False)
    [node_id] = await scene.load_file(str(path), "VolumeFile", {"name": "Vol"})
    write_nrrd(path, np.ones((2, 2, 2), np.int16), np.eye(4), compress=False)
    assert await scene.reload(NodeFilter(name="Vol")) == [node_id]
    volume = await scene.volume("Vol")
    assert volume.id == node_id and int(volume.array.sum()) == 8
    assert [n.id for n in await scene.select(NodeFilter(class_name="vtkMRMLVolumeNode"))] == [node_id]


async def test_files_outside_roots_are_forbidden_and_unknown_types_unsupported(scene, tmp_path):
    path = tmp_path / "v.nrrd"
    write_nrrd(path, np.zeros((2, 2, 2), np.int16), np.eye(4))
    (tmp_path / "allowed").mkdir()
    with pytest.raises(Forbidden):
        await scene.load_file(str(path), "VolumeFile", {}, roots=(str(tmp_path / "allowed"),))
    link = tmp_path / "allowed" / "link.nrrd"
    link.symlink_to(path)
    with pytest.raises(Forbidden):  # a symlink out of the root is followed, then refused
        await scene.load_file(str(link), "VolumeFile", {}, roots=(str(tmp_path / "allowed"),))
    with pytest.raises(Unsupported):
        await scene.load_file(str(path), "SceneFile", {})
    with pytest.raises(NotFound):
        await scene.load_file(str(tmp_path / "missing.nrrd"), "VolumeFile", {})
    assert await scene.select(NodeFilter()) == []


async def test_sample_data_is_deterministic_and_named_like_slicer(scene):
    first = await scene.load_sample("MRHead")
    second = await scene.load_sample("MRHead")
    a, b = await scene.volume(first[0]), await scene.volume(second[0])
    assert (a.name, b.name) == ("MRHead", "MRHead_1")
    assert a.array.shape == (130, 256, 256) and a.array.dtype == np.int16
    assert np.array_equal(a.array, b.array) and np.array_equal(a.spacing, [1.0, 1.0, 1.2999954223632812])
    chest = await scene.volume((await scene.load_sample("CTChest"))[0])
    assert chest.array.min() <= -1000 and chest.array.max() >= 600  # air and bone in HU
    with pytest.raises(NotFound):
        await scene.load_sample("NoSuchSample")


async def test_a_long_exec_does_not_stall_other_scene_calls(scene, tmp_path):
    release = tmp_path / "release"
    source = (f"import time, pathlib\nwhile not pathlib.Path({str(release)!r}).exists():\n    time.sleep(0.01)\n"
              "__execResult = {'done': True}")
    running = asyncio.ensure_future(scene.execute(source))
    await scene.load_sample("MRHead")  # a mutation and reads complete while the exec still runs
    assert [n.name for n in await scene.select(NodeFilter())] == ["MRHead"]
    assert not running.done()
    release.touch()
    assert await asyncio.wait_for(running, 30) == {"done": True}


async def test_exec_namespace_runs_the_documented_example(scene):
    result = await scene.execute(
        "import SampleData; volumeNode = SampleData.SampleDataLogic().downloadMRHead(); "
        "slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView); "
        "__execResult = {'volumeNodeID': volumeNode.GetID()}")
    assert result == {"volumeNodeID": "vtkMRMLScalarVolumeNode1"}
    assert (await scene.gui()).layout == "OneUpRedSlice"
    result = await scene.execute("import slicer.util\nfrom slicer.util import getNode\n"
                                 "a = slicer.util.arrayFromVolume(getNode('MRHead'))\n"
                                 "__execResult = {'shape': list(a.shape), 'n': slicer.mrmlScene.GetNumberOfNodes()}")
    assert result == {"shape": [130, 256, 256], "n": 1}
