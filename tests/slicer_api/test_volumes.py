"""/slicer/volume contract: NRRD down and up is bit-exact for every integer and float type, 2D and 3D;
a malformed upload is refused with 400/415 JSON and leaves the scene exactly as it was."""

from __future__ import annotations

import gzip

import nrrd
import numpy as np
import pytest

from slicerweb.engine.scene_api import NodeFilter, VolumeData
from slicerweb.formats.nrrd import iter_nrrd
from tests.formats.test_nrrd import DTYPES, OBLIQUE, geometry_2d, header, volume


@pytest.fixture
def client(make_app):
    app, engine = make_app()
    return app.test_client(), engine


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dimension", [2, 3])
async def test_upload_then_download_is_bit_exact(client, tmp_path, dtype, dimension):
    http, engine = client
    array = volume(dtype, (1, 5, 4) if dimension == 2 else (3, 5, 4))
    matrix = geometry_2d(OBLIQUE) if dimension == 2 else OBLIQUE
    body = b"".join(iter_nrrd(array, matrix, dimension))
    reply = await http.post("/slicer/volume?id=Upload", data=body)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert (await reply.get_json())["id"] == "vtkMRMLScalarVolumeNode1"
    download = await http.get("/slicer/volume?id=Upload")
    assert download.status_code == 200
    data = await download.get_data()
    assert data == body  # the very same bytes come back
    (tmp_path / "d.nrrd").write_bytes(data)
    read, fields = nrrd.read(str(tmp_path / "d.nrrd"), index_order="C")
    assert read.dtype == np.dtype(dtype) and fields["dimension"] == dimension
    assert np.array_equal(read.reshape(array.shape), array)
    stored = await engine.scene.volume("Upload")
    assert np.array_equal(stored.ijk_to_ras, matrix)


async def test_upload_replaces_the_matching_volume_in_place(client):
    http, engine = client
    await http.get("/slicer/sampledata?name=MRHead")
    small = np.ones((2, 2, 2), np.float32)
    reply = await http.post("/slicer/volume?id=MRHead", data=b"".join(iter_nrrd(small, np.eye(4))))
    assert (await reply.get_json())["id"] == "vtkMRMLScalarVolumeNode1"
    assert (await engine.scene.volume("MRHead")).array.dtype == np.float32


async def scene_state(engine):
    nodes = await engine.scene.select(NodeFilter())
    volumes = await engine.scene.volumes()
    arrays = [(await engine.scene.volume(v.id)) for v in volumes]
    return nodes, [(v.id, v.name) for v in volumes], [(a.array.tobytes(), a.ijk_to_ras.tobytes()) for a in arrays]


GOOD = np.arange(8, dtype="<i2").tobytes()


@pytest.mark.parametrize(("body", "status"), [
    (b"not a nrrd at all", 415),
    (header(dimension="4", sizes="2 2 2 1", space_directions="(1,0,0) (0,1,0) (0,0,1) none",
            kinds="domain domain domain list") + GOOD, 415),
    (header(encoding="gzip") + gzip.compress(GOOD), 415),
    (header(endian="big") + GOOD, 415),
    (header() + GOOD[:-1], 400),
    (header(sizes="4 4 4") + GOOD, 400),
    (header() + GOOD + b"extra", 400),
    (header(data_file="/etc/hostname"), 400),
    (b"", 400),
])
async def test_malformed_upload_changes_nothing(client, body, status):
    http, engine = client
    await http.get("/slicer/sampledata?name=MRHead")
    before = await scene_state(engine)
    for target in ("MRHead", "NewVolume"):
        reply = await http.post(f"/slicer/volume?id={target}", data=body)
        assert reply.status_code == status
        assert reply.headers["Content-Type"] == "application/json"
        assert (await reply.get_json())["message"]
    assert await scene_state(engine) == before


async def test_compressed_upload_is_accepted_when_the_policy_allows(make_app, make_policy):
    app, engine = make_app(make_policy(limits__volume_upload_compressed=True))
    reply = await app.test_client().post("/slicer/volume?id=z", data=header(encoding="gzip") + gzip.compress(GOOD))
    assert reply.status_code == 200
    assert (await engine.scene.volume("z")).array.tobytes() == GOOD


async def test_documented_curl_path_with_ampersand_returns_the_first_volume(client):
    http, _ = client
    await http.get("/slicer/sampledata?name=CTChest")
    await http.get("/slicer/sampledata?name=MRHead")
    first = await (await http.get("/slicer/volume")).get_data()
    odd = await http.get("/slicer/volume&id=MRHead")
    assert odd.status_code == 200
    assert await odd.get_data() == first  # the original ignores the id here too


async def test_unknown_volume_is_404_json_and_listing_has_names_and_ids(client):
    http, _ = client
    missing = await http.get("/slicer/volume?id=nope")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"
    await http.get("/slicer/sampledata?name=MRHead")
    assert await (await http.get("/slicer/volumes")).get_json() == [
        {"name": "MRHead", "id": "vtkMRMLScalarVolumeNode1"}]


async def test_volume_selection_cycles_the_active_volume(client):
    http, engine = client
    await http.get("/slicer/sampledata?name=MRHead")
    await http.get("/slicer/sampledata?name=CTChest")
    assert (await engine.scene.render_inputs()).background.name == "CTChest"
    reply = await http.get("/slicer/volumeSelection?cmd=next")
    assert reply.status_code == 200 and "MRHead" in (await reply.get_data(as_text=True))
    assert (await engine.scene.render_inputs()).background.name == "MRHead"
    await http.get("/slicer/volumeSelection?cmd=previous")
    assert (await engine.scene.render_inputs()).background.name == "CTChest"


async def test_vector_volume_downloads_as_a_4d_nrrd_with_a_vector_axis(client, tmp_path, monkeypatch):
    """The Slicer engine gives vector volumes as [k, j, i, component]; the file must say so (a 3-D header over
    4-D data was a corrupt file, issue 17)."""
    http, engine = client
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)

    async def vector_volume(pattern=None):
        return VolumeData("vtkMRMLVectorVolumeNode1", "Color", rgb, OBLIQUE, "vtkMRMLVectorVolumeNode")

    monkeypatch.setattr(engine.scene, "volume", vector_volume)
    download = await http.get("/slicer/volume?id=Color")
    assert download.status_code == 200
    (tmp_path / "v.nrrd").write_bytes(await download.get_data())
    read, fields = nrrd.read(str(tmp_path / "v.nrrd"), index_order="C")
    assert fields["dimension"] == 4 and list(fields["kinds"]) == ["vector", "domain", "domain", "domain"]
    assert read.shape == (2, 3, 4, 3) and np.array_equal(read, rgb)
