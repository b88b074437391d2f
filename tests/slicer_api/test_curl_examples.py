"""The curl examples of the WebServer reference document, run verbatim with real curl (only the port
and the output file differ), against `slicerweb serve --enable-exec` on the headless engine."""

from __future__ import annotations

import json
import shutil
import subprocess

import nrrd
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

EXEC_EXAMPLE = ('curl -X POST localhost:2016/slicer/exec --data "import SampleData; volumeNode = '
                "SampleData.SampleDataLogic().downloadMRHead(); slicer.app.layoutManager().setLayout("
                "slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView); __execResult = {'volumeNodeID': "
                "volumeNode.GetID()}\"")
LAYOUT_EXAMPLE = ('curl -X POST localhost:2016/slicer/exec --data '
                  '"slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutOneUpRedSliceView)"')
VOLUME_EXAMPLE = "curl -v http://localhost:2016/slicer/volume\\&id='MRHead' -o /tmp/local.nrrd"


def shell(command: str, port: int, output: str | None = None) -> subprocess.CompletedProcess[str]:
    command = command.replace("localhost:2016", f"localhost:{port}")
    if output:
        command = command.replace("/tmp/local.nrrd", output)
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_documented_curl_examples(live_server, tmp_path):
    server = live_server(args=["--enable-exec"])
    port = port_of(server.url)
    loaded = shell(EXEC_EXAMPLE, port)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == {"volumeNodeID": "vtkMRMLScalarVolumeNode1"}
    layout = shell(LAYOUT_EXAMPLE, port)
    assert json.loads(layout.stdout) == {}
    output = tmp_path / "local.nrrd"
    download = shell(VOLUME_EXAMPLE, port, str(output))
    assert download.returncode == 0, download.stderr
    assert "< HTTP/1.1 200" in download.stderr
    data, header = nrrd.read(str(output), index_order="C")
    assert data.shape == (130, 256, 256) and data.dtype == np.int16
    assert header["space"] == "left-posterior-superior"
    with server.client() as http:
        assert http.get("/slicer/mrml/names").json() == ["MRHead"]


def test_exec_is_refused_with_403_json_when_disabled(live_server):
    server = live_server()
    result = shell(LAYOUT_EXAMPLE.replace("curl ", "curl -s -i "), port_of(server.url))
    head, _, body = result.stdout.partition("\n\n")  # text mode turned CRLF into LF
    assert head.startswith("HTTP/1.1 403")
    assert "content-type: application/json" in head.lower().splitlines()
    assert json.loads(body)["success"] is False
