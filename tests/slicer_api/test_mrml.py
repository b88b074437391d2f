"""/slicer/mrml contract (the WebServer module's and slicerio's): selection by id/class/name, load from a
server file with `loadedNodeIDs`, save with `useCompression`, reload, remove; file access confined to
`server.file_roots`; unknown nodes are 404 JSON."""

from __future__ import annotations

import nrrd
import numpy as np
import pytest

from slicerweb.formats.nrrd import write_nrrd


@pytest.fixture
def client(make_app):
    app, engine = make_app()
    return app.test_client(), engine


async def test_names_ids_properties_with_filters(client):
    http, _ = client
    await http.get("/slicer/sampledata?name=MRHead")
    await http.get("/slicer/tracking?p=1,2,3")
    assert await (await http.get("/slicer/mrml")).get_json() == ["MRHead", "tracker", "trackingDevice"]
    assert await (await http.get("/slicer/mrml/names?class=vtkMRMLVolumeNode")).get_json() == ["MRHead"]
    assert await (await http.get("/slicer/mrml/ids?class=vtkMRMLTransformNode")).get_json() == [
        "vtkMRMLLinearTransformNode1"]
    props = await (await http.get("/slicer/mrml/properties?name=MRHead")).get_json()
    assert list(props) == ["vtkMRMLScalarVolumeNode1"]
    assert props["vtkMRMLScalarVolumeNode1"]["Spacing"] == [1.0, 1.0, 1.2999954223632812]
    assert props["vtkMRMLScalarVolumeNode1"]["ImageData"]["Dimensions"] == [256, 256, 130]
    assert await (await http.get("/slicer/mrml/names?name=nothing")).get_json() == []
    missing = await http.get("/slicer/mrml/properties?id=vtkMRMLScalarVolumeNode9")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"
    assert "No nodes matched" in (await missing.get_json())["message"]
    bad = await http.get("/slicer/mrml/whatever")
    assert bad.status_code == 404


async def test_load_save_reload_remove_through_server_files(client, tmp_path):
    http, engine = client
    source = tmp_path / "My Head.nrrd"
    write_nrrd(source, np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([2.0, 2.0, 3.0, 1.0]))
    loaded = await http.post(f"/slicer/mrml?localfile={source}&filetype=VolumeFile&name=My%20Head&show=True")
    assert loaded.headers["Content-Type"] == "application/json"
    assert await loaded.get_json() == {"success": True, "loadedNodeIDs": ["vtkMRMLScalarVolumeNode1"]}
    again = await http.post(f"/slicer/mrml/file?localfile={source}&filetype=VolumeFile")  # the docs' path
    assert (await again.get_json())["loadedNodeIDs"] == ["vtkMRMLScalarVolumeNode2"]
    assert await (await http.get("/slicer/mrml/names")).get_json() == ["My Head", "My Head_1"]

    out = tmp_path / "out.nrrd"
    saved = await http.get(f"/slicer/mrml/file?localfile={out}&name=My%20Head&useCompression=False")
    assert await saved.get_json() == {"success": True}
    data, fields = nrrd.read(str(out), index_order="C")
    assert fields["encoding"] == "raw" and np.array_equal(data, np.arange(24).reshape(2, 3, 4))
    ambiguous = await http.get(f"/slicer/mrml/file?localfile={out}&class=vtkMRMLVolumeNode")
    assert ambiguous.status_code == 400

    write_nrrd(source, np.zeros((2, 3, 4), dtype=np.int16), np.eye(4))
    reloaded = await http.put("/slicer/mrml?id=vtkMRMLScalarVolumeNode1")
    assert await reloaded.get_json() == {"success": True, "reloadedNodeIDs": ["vtkMRMLScalarVolumeNode1"]}
    assert int((await engine.scene.volume("vtkMRMLScalarVolumeNode1")).array.sum()) == 0

    assert (await http.delete("/slicer/mrml?name=My%20Head_1")).status_code == 200
    assert await (await http.get("/slicer/mrml/ids")).get_json() == ["vtkMRMLScalarVolumeNode1"]
    assert (await http.delete("/slicer/mrml?name=gone")).status_code == 404
    assert (await http.delete("/slicer/mrml")).status_code == 200  # no filter: clear the scene
    assert await (await http.get("/slicer/mrml/ids")).get_json() == []


async def test_load_errors_are_clear_json(client, tmp_path):
    http, _ = client
    (tmp_path / "bad.nrrd").write_bytes(b"NRRD0004\ntype: short\n\n")
    cases = [
        (f"/slicer/mrml?localfile={tmp_path / 'bad.nrrd'}&filetype=VolumeFile", 400),
        (f"/slicer/mrml?localfile={tmp_path / 'none.nrrd'}&filetype=VolumeFile", 404),
        (f"/slicer/mrml?localfile={tmp_path / 'bad.nrrd'}", 400),  # filetype is required
        ("/slicer/mrml?filetype=VolumeFile", 400),
        ("/slicer/mrml?url=ftp://example.org/a.nrrd&filetype=VolumeFile", 400),
    ]
    for path, status in cases:
        reply = await http.post(path)
        assert reply.status_code == status, path
        assert reply.headers["Content-Type"] == "application/json"
    assert await (await http.get("/slicer/mrml/ids")).get_json() == []


async def test_server_files_are_confined_to_file_roots(make_app, make_policy, tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    app, _ = make_app(make_policy(server__file_roots=[str(root)]))
    http = app.test_client()
    outside = tmp_path / "v.nrrd"
    write_nrrd(outside, np.zeros((1, 2, 2), np.uint8), np.eye(4))
    refused = await http.post(f"/slicer/mrml?localfile={outside}&filetype=VolumeFile")
    assert refused.status_code == 403
    write_nrrd(root / "v.nrrd", np.zeros((1, 2, 2), np.uint8), np.eye(4))
    assert (await http.post(f"/slicer/mrml?localfile={root / 'v.nrrd'}&filetype=VolumeFile")).status_code == 200
    escape = await http.get(f"/slicer/mrml/file?localfile={root}/../escaped.nrrd&name=v")
    assert escape.status_code == 403 and not (tmp_path / "escaped.nrrd").exists()
    assert (await http.get(f"/slicer/mrml/file?localfile={root}/copy.nrrd&name=v")).status_code == 200


async def test_url_loading_follows_url_load_prefixes(make_app, make_policy):
    app, _ = make_app(make_policy(server__url_load_prefixes=["https://data.hospital.lan/"]))
    reply = await app.test_client().post("/slicer/mrml?url=http://169.254.169.254/latest&filetype=VolumeFile")
    assert reply.status_code == 403


async def test_gui_records_layout_and_rejects_unknown_values(client):
    http, engine = client
    reply = await http.put("/slicer/gui?contents=viewers&viewersLayout=fourup")
    assert await reply.get_json() == {"success": True, "contents": "viewers", "viewersLayout": "FourUp"}
    assert (await engine.scene.gui()).layout == "FourUp"
    assert (await http.get("/slicer/gui?viewersLayout=NoSuch")).status_code == 400
    assert (await http.get("/slicer/gui?contents=half")).status_code == 400


async def test_fiducials_and_fiducial_update(client, tmp_path):
    http, _ = client
    markups = tmp_path / "F.mrk.json"
    markups.write_text('{"markups": [{"type": "Fiducial", "coordinateSystem": "RAS", "controlPoints": ['
                       '{"label": "F-1", "position": [1, 2, 3]}, {"label": "F-2", "position": [4, 5, 6]}]}]}')
    await http.post(f"/slicer/mrml?localfile={markups}&filetype=MarkupsFile")
    reply = await http.put("/slicer/fiducial?id=F&index=1&r=-1.5&a=2&s=30")
    assert await reply.get_json() == {"success": True}
    listing = await (await http.get("/slicer/fiducials")).get_json()
    assert listing["vtkMRMLMarkupsFiducialNode1"]["name"] == "F"
    assert listing["vtkMRMLMarkupsFiducialNode1"]["markups"] == [
        {"label": "F-1", "position": [1.0, 2.0, 3.0]}, {"label": "F-2", "position": [-1.5, 2.0, 30.0]}]
    assert (await http.put("/slicer/fiducial?id=F&index=7")).status_code == 404
    assert (await http.put("/slicer/fiducial?id=nope")).status_code == 404
    assert (await http.put("/slicer/fiducial?index=x")).status_code == 400


async def test_tracking_m_is_column_major_and_q_p_override(client):
    http, engine = client
    m = [1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 10, 20, 30, 1]  # rotation about x, translation last
    assert (await http.get("/slicer/tracking?m=" + ",".join(map(str, m)))).status_code == 200
    matrix = await engine.scene.tracker()
    assert np.array_equal(matrix, np.array(m, dtype=float).reshape(4, 4).T)
    assert np.array_equal(matrix[:3, 3], [10, 20, 30])
    await http.get("/slicer/tracking?q=1,0,0,0&p=1,2,3")
    assert np.array_equal(await engine.scene.tracker(), [[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]])
    [cube] = (await engine.scene.render_inputs()).models
    assert np.allclose(cube.points.mean(axis=0), [1, 2, 3])  # the cursor follows the transform
    assert (await http.get("/slicer/tracking?m=1,2,3")).status_code == 400


async def test_sampledata_messages(client):
    http, _ = client
    reply = await http.get("/slicer/sampledata?name=MRHead")
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert await reply.get_data(as_text=True) == "Sample data MRHead loaded"
    assert (await http.get("/slicer/sampledata")).status_code == 400
    assert (await http.get("/slicer/sampledata?name=Nope")).status_code == 404


async def test_server_file_access_is_audited_with_the_path(client, tmp_path):
    http, _ = client
    source = tmp_path / "audited.nrrd"
    write_nrrd(source, np.zeros((1, 2, 2), np.uint8), np.eye(4))
    await http.post(f"/slicer/mrml?localfile={source}&filetype=VolumeFile")
    await http.get(f"/slicer/mrml/file?localfile={tmp_path / 'saved.nrrd'}&name=audited")
    audit = (tmp_path / "data" / "audit.jsonl").read_text()
    assert '"slicer.file.load"' in audit and str(source) in audit
    assert '"slicer.file.save"' in audit and str(tmp_path / "saved.nrrd") in audit


@pytest.mark.parametrize(("method", "query"), [
    ("POST", "localfile=/tmp/a%00.nrrd&filetype=VolumeFile"),
    ("POST", "url=file:///tmp/a%2500.nrrd&filetype=VolumeFile"),
    ("GET", "localfile=/tmp/a%00.nrrd&id=vtkMRMLScalarVolumeNode1"),
])
async def test_a_nul_byte_in_a_server_path_is_400_naming_it(client, method, query):
    http, _ = client
    path = "/slicer/mrml" if method == "POST" else "/slicer/mrml/file"
    response = await http.open(f"{path}?{query}", method=method)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/json"
    assert "NUL" in (await response.get_json())["message"]
    assert (await http.get("/slicer/mrml")).status_code == 200  # still serving
