"""/slicer/gridtransforms and /gridtransform (both spellings) and /segmentations: listings with names and ids,
grid transforms as a valid 4D vector NRRD with LPS vectors, unknown ids 404 JSON."""

from __future__ import annotations

import nrrd
import numpy as np

from slicerweb.engine.headless.segmentation_io import write_segmentation
from slicerweb.engine.headless.transforms_io import write_grid
from slicerweb.engine.scene_api import Segment


async def test_grid_transform_listing_and_download(make_app, tmp_path):
    app, _ = make_app()
    http = app.test_client()
    displacement = np.random.default_rng(3).normal(size=(3, 4, 5, 3))
    grid = np.diag([2.0, 2.0, 4.0, 1.0])
    grid[:3, 3] = (-10.0, 5.0, 1.0)
    write_grid(tmp_path / "warp.nrrd", displacement, grid, compress=True)
    loaded = await http.post(f"/slicer/mrml?localfile={tmp_path / 'warp.nrrd'}&filetype=TransformFile")
    assert (await loaded.get_json())["loadedNodeIDs"] == ["vtkMRMLGridTransformNode1"]
    for path in ("/slicer/gridtransforms", "/slicer/gridTransforms"):
        assert await (await http.get(path)).get_json() == [{"name": "warp", "id": "vtkMRMLGridTransformNode1"}]
    for path in ("/slicer/gridtransform", "/slicer/gridTransform?id=warp"):
        reply = await http.get(path)
        assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/octet-stream"
        (tmp_path / "down.nrrd").write_bytes(await reply.get_data())
        data, header = nrrd.read(str(tmp_path / "down.nrrd"), index_order="C")
        assert header["kinds"] == ["vector", "domain", "domain", "domain"]
        assert np.array_equal(data, displacement * np.array([-1.0, -1.0, 1.0]))  # LPS vectors on the wire
        assert np.array_equal(header["space origin"], [10.0, -5.0, 1.0])
    missing = await http.get("/slicer/gridtransform?id=nothing")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"


async def test_segmentations_listing_and_labelmap(make_app, tmp_path):
    app, _ = make_app()
    http = app.test_client()
    labelmap = np.zeros((2, 3, 4), dtype=np.uint8)
    labelmap[1, 1, 1:3] = 2
    write_segmentation(tmp_path / "Seg.seg.nrrd", labelmap, np.eye(4),
                       (Segment("s1", "a", (1.0, 0.0, 0.0), 1), Segment("s2", "b", (0.0, 1.0, 0.0), 2)), True)
    await http.post(f"/slicer/mrml?localfile={tmp_path / 'Seg.seg.nrrd'}&filetype=SegmentationFile")
    assert await (await http.get("/slicer/segmentations")).get_json() == {
        "vtkMRMLSegmentationNode1": {"name": "Seg", "segmentIDs": ["s1", "s2"]}}
    reply = await http.get("/slicer/segmentation?segmentationID=vtkMRMLSegmentationNode1")
    (tmp_path / "labels.nrrd").write_bytes(await reply.get_data())
    assert np.array_equal(nrrd.read(str(tmp_path / "labels.nrrd"), index_order="C")[0], labelmap)
    assert (await http.get("/slicer/segmentation?segmentationID=nope")).status_code == 404
