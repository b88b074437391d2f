"""slicerio 1.4.0, unmodified, against `slicerweb serve`: every function the issue names works.

slicerio hard-codes http://127.0.0.1:<SERVER_PORT>; the test points SERVER_PORT at the live server.
"""

from __future__ import annotations

from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from urllib.parse import urlparse

import nrrd
import numpy as np
import pytest
import slicerio.server

from slicerweb.engine.headless.segmentation_io import write_segmentation
from slicerweb.engine.scene_api import Segment
from slicerweb.formats.nrrd import write_nrrd


@pytest.fixture
def slicer(live_server, monkeypatch, tmp_path):
    server = live_server()
    monkeypatch.setattr(slicerio.server, "SERVER_PORT", urlparse(server.url).port)
    return server


@pytest.fixture
def file_server(tmp_path):
    """A tiny local HTTP server for `file_load(url)` (loopback, free port)."""
    root = tmp_path / "web"
    root.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_slicerio_functions(slicer, file_server, tmp_path):
    assert slicerio.server.is_server_running()
    volume = tmp_path / "MRHead.nrrd"
    voxels = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    write_nrrd(volume, voxels, np.diag([-1.0, -1.0, 1.3, 1.0]))
    assert slicerio.server.file_load(str(volume), auto_start=False) == ["vtkMRMLScalarVolumeNode1"]

    segmentation = tmp_path / "Segmentation.seg.nrrd"
    write_segmentation(segmentation, (voxels > 30).astype(np.uint8), np.eye(4),
                       (Segment("Segment_1", "bright", (1.0, 0.0, 0.0), 1),), compress=True)
    assert slicerio.server.file_load(str(segmentation), "SegmentationFile", auto_start=False) == [
        "vtkMRMLSegmentationNode1"]
    properties = slicerio.server.node_properties(name="Segmentation")[0]
    assert properties["Segmentation"]["Segments"]["Segment_1"]["Name"] == "bright"

    root, base = file_server
    write_nrrd(root / "remote.nrrd", voxels * 2, np.eye(4))
    assert slicerio.server.file_load(f"{base}/remote.nrrd", properties={"name": "Remote"},
                                     auto_start=False) == ["vtkMRMLScalarVolumeNode2"]

    assert slicerio.server.node_names() == ["MRHead", "Segmentation", "Remote"]
    assert slicerio.server.node_names(class_name="vtkMRMLVolumeNode") == ["MRHead", "Remote"]
    assert slicerio.server.node_ids(name="Remote") == ["vtkMRMLScalarVolumeNode2"]

    out = tmp_path / "MRHeadOutput.nrrd"
    slicerio.server.file_save(str(out), name="MRHead", properties={"useCompression": False})
    data, header = nrrd.read(str(out), index_order="C")
    assert header["encoding"] == "raw" and np.array_equal(data, voxels)

    write_nrrd(volume, voxels + 1, np.eye(4))
    slicerio.server.node_reload(name="MRHead")
    slicerio.server.file_save(str(out), id="vtkMRMLScalarVolumeNode1")
    assert np.array_equal(nrrd.read(str(out), index_order="C")[0], voxels + 1)

    with pytest.raises(RuntimeError, match="No nodes matched"):  # the server's message reaches the user
        slicerio.server.node_properties(name="nothing")
    slicerio.server.node_remove(name="Remote")
    assert slicerio.server.node_ids() == ["vtkMRMLScalarVolumeNode1", "vtkMRMLSegmentationNode1"]
    slicerio.server.node_remove()
    assert slicerio.server.node_ids() == []


def test_slicerio_stop_server(slicer):
    assert slicerio.server.stop_server() == {"success": True}
    assert slicer.process.wait(15) == 0
