"""WADO-RS (PS3.18 §10.4) and WADO-URI (§9) conformance.

§10.4.1: retrieve as multipart/related with CRLF framing and typed parts; §8.7.3: transfer-syntax
negotiation (default Explicit VR LE, `*` as stored, 406 otherwise); metadata with BulkDataURI built
from the public URL (trusted proxy headers); frames with the clients' real Accept headers;
rendered/thumbnail; bulk data; WADO-URI incl. the Slicer `object=` shorthand.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import StowPart

from .conftest import STOW_TYPE, part10, stow_body

EXPLICIT = "1.2.840.10008.1.2.1"


def split_multipart(body: bytes) -> tuple[str, list[tuple[dict[str, str], bytes]]]:
    """Parse the way the JS client and cornerstone do: boundary from the body, CRLF framing."""
    assert body.startswith(b"--")
    boundary = body[2:body.index(b"\r\n")].decode()
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    parts = []
    for chunk in body[len(boundary) + 4:-(len(boundary) + 8)].split(f"\r\n--{boundary}\r\n".encode()):
        head, _, data = chunk.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append((headers, data))
    return boundary, parts


def path_of(app, index: int, position: int = 0) -> tuple[str, str, str, str]:
    ds = app.studies[index][position]
    base = f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, base


async def test_retrieve_series_streams_typed_crlf_parts(dicom_app) -> None:
    app = await dicom_app()
    st, se, _, _ = path_of(app, 2)
    response = await app.client.get(f"/dicom/studies/{st}/series/{se}",
                                     headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert response.status_code == 200
    boundary, parts = split_multipart(await response.get_data())
    assert response.headers["Content-Type"].startswith('multipart/related; type="application/dicom"')
    assert f"boundary={boundary}" in response.headers["Content-Type"]
    assert [h["Content-Type"] for h, _ in parts] == [f"application/dicom; transfer-syntax={EXPLICIT}"] * 4
    numbers = [dcmread(io.BytesIO(data)).InstanceNumber for _, data in parts]
    assert numbers == [1, 2, 3, 4]


@pytest.mark.parametrize(("accept", "status"), [
    ('multipart/related; type="application/dicom"; transfer-syntax=*', 200),
    ("multipart/related;   type =  application/dicom  ", 200),
    ("multipart/related", 200),
    ("*/*", 200),
    ("application/dicom", 200),
    ('multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2', 406),
    ('multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50', 406),
    ('multipart/related; type="application/dicom"; transfer-syntax=nope', 406),
    ('multipart/related; type="  application/dicom"', 406),
    ("application/json", 406),
    ("image/png, multipart/related; type=application/dicom; q=0.5", 200),
])
async def test_transfer_syntax_and_accept_negotiation(dicom_app, accept: str, status: int) -> None:
    app = await dicom_app()
    _, _, sop, base = path_of(app, 3)
    response = await app.client.get(base, headers={"Accept": accept})
    assert response.status_code == status, accept
    if status == 406:
        assert (await response.get_json())["code"] == "not_acceptable"
    elif accept == "application/dicom":
        assert dcmread(io.BytesIO(await response.get_data())).SOPInstanceUID == sop


async def test_metadata_uses_bulkdata_uris_from_the_public_url(dicom_app) -> None:
    app = await dicom_app(server__trusted_proxies=["127.0.0.1/32"])
    st, se, _, _ = path_of(app, 2)
    response = await app.client.get(f"/dicom/studies/{st}/series/{se}/metadata", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "pacs.hospital.lan", "X-Forwarded-Prefix": "/slicer-a"},
        scope_base={"client": ("127.0.0.1", 5000)})
    assert response.headers["Content-Type"] == "application/dicom+json"
    documents = await response.get_json()
    assert len(documents) == 4 and documents[0]["00280010"]["Value"] == [64]
    pixel = documents[0]["7FE00010"]
    assert "InlineBinary" not in pixel
    assert pixel["BulkDataURI"].startswith(f"https://pacs.hospital.lan/slicer-a/dicom/studies/{st}/series/{se}/")
    bulk = await app.client.get(pixel["BulkDataURI"].split("/slicer-a", 1)[1],
                                headers={"Accept": "application/octet-stream"})
    assert bulk.status_code == 200 and len(await bulk.get_data()) == 64 * 64 * 2


async def test_forwarded_headers_from_untrusted_peers_are_ignored(dicom_app) -> None:
    app = await dicom_app()  # no trusted proxies
    st, se, _, _ = path_of(app, 2)
    response = await app.client.get(f"/dicom/studies/{st}/series/{se}/metadata", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"})
    assert "evil.example" not in (await response.get_data(as_text=True))
    studies = await app.client.get("/dicom/studies", headers={"X-Forwarded-Host": "evil.example"})
    assert all(s["00081190"]["Value"][0].startswith("http://localhost/dicom/") for s in await studies.get_json())


async def test_series_metadata_cache_follows_new_instances(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    st, se, _, _ = path_of(app, 3)
    before = await (await app.client.get(f"/dicom/studies/{st}/series/{se}/metadata")).get_json()
    extra = copy.deepcopy(app.studies[3][0])
    extra.SOPInstanceUID = extra.file_meta.MediaStorageSOPInstanceUID = extra.SOPInstanceUID + ".99"
    stored = await app.client.post("/dicom/studies", data=stow_body([part10(extra)]),
                                   headers={"Content-Type": STOW_TYPE})
    assert stored.status_code == 200
    after = await (await app.client.get(f"/dicom/studies/{st}/series/{se}/metadata")).get_json()
    assert len(after) == len(before) + 1


@pytest.mark.parametrize("accept", [
    'multipart/related; type="*/*"',                                          # dicomweb-client (Python)
    "multipart/related; type=application/octet-stream; transfer-syntax=*",    # OHIF, unquoted
    'multipart/related; type="application/octet-stream"',                     # dicomweb-client (JS)
    f"multipart/related; type=application/octet-stream; transfer-syntax={EXPLICIT}",
    "application/dicom+json, multipart/related; type=application/octet-stream; transfer-syntax=*",
])
async def test_frames_with_real_client_accept_headers(dicom_app, accept: str) -> None:
    app = await dicom_app()
    _, _, _, base = path_of(app, 2, 1)
    response = await app.client.get(f"{base}/frames/1", headers={"Accept": accept})
    assert response.status_code == 200, await response.get_data()
    _, parts = split_multipart(await response.get_data())
    (headers, data), = parts
    assert headers["Content-Type"] == f"application/octet-stream; transfer-syntax={EXPLICIT}"
    expected = app.studies[2][1].pixel_array
    assert np.array_equal(np.frombuffer(data, dtype=expected.dtype).reshape(expected.shape), expected)


async def test_frames_errors(dicom_app) -> None:
    app = await dicom_app()
    _, _, _, base = path_of(app, 2)
    assert (await app.client.get(f"{base}/frames/2")).status_code == 404      # single-frame instance
    assert (await app.client.get(f"{base}/frames/0")).status_code == 400
    response = await app.client.get(f"{base}/frames/1", headers={"Accept": 'multipart/related; type="image/jpeg"'})
    assert response.status_code == 406


async def test_rendered_and_thumbnail(dicom_app) -> None:
    app = await dicom_app()
    st, se, _, base = path_of(app, 2)
    jpeg = await app.client.get(f"{base}/rendered", query_string={"viewport": "32,32", "quality": "80"})
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(await jpeg.get_data())).size == (32, 32)
    png = await app.client.get(f"{base}/frames/1/rendered", query_string={"window": "40,400,linear"},
                               headers={"Accept": "image/png"})
    image = Image.open(io.BytesIO(await png.get_data()))
    assert image.format == "PNG" and image.size == (64, 64)
    thumbnail = await app.client.get(f"/dicom/studies/{st}/series/{se}/thumbnail",
                                     query_string={"accept": "image/jpeg"})
    assert Image.open(io.BytesIO(await thumbnail.get_data())).format == "JPEG"
    bad = await app.client.get(f"{base}/rendered", query_string={"window": "40"})
    assert bad.status_code == 400 and (await bad.get_json())["parameter"] == "window"


async def test_wado_uri(dicom_app) -> None:
    app = await dicom_app()
    st, se, sop, _ = path_of(app, 3)
    ohif = await app.client.get("/dicom", query_string={
        "requestType": "WADO", "studyUID": st, "seriesUID": se, "objectUID": sop,
        "contentType": "application/dicom", "transferSyntax": "*"},
        headers={"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"})
    assert ohif.headers["Content-Type"] == "application/dicom"
    assert dcmread(io.BytesIO(await ohif.get_data())).SOPInstanceUID == sop
    default = await app.client.get("/dicom", query_string={"requestType": "WADO", "studyUID": st,
                                                           "seriesUID": se, "objectUID": sop})
    assert default.headers["Content-Type"] == "image/jpeg"  # PS3.18 §9.3 default
    shorthand = await app.client.get("/dicom", query_string={"object": sop})
    assert dcmread(io.BytesIO(await shorthand.get_data())).SOPInstanceUID == sop
    assert (await app.client.get("/dicom", query_string={"object": "1.2.3"})).status_code == 404
    assert (await app.client.get("/dicom")).status_code == 400


async def test_unknown_resources_are_404(dicom_app) -> None:
    app = await dicom_app()
    assert (await app.client.get("/dicom/studies/1.2.3")).status_code == 404
    assert (await app.client.get("/dicom/studies/1.2.3/metadata")).status_code == 404
    st, se, _, _ = path_of(app, 2)
    assert (await app.client.get(f"/dicom/studies/{st}/series/{se}/instances/1.2/metadata")).status_code == 404


async def test_retrieve_study_of_large_and_small_files_sends_each_file_byte_for_byte(dicom_app) -> None:
    """Large files go out as they were read, small ones gathered into bigger writes (wado.instance_parts):
    either way each part is the stored file, whole, and the Content-Length is the body's."""
    app = await dicom_app()
    large = generate_study(40, series_count=1, instances_per_series=2, rows=768, columns=768)  # 1.2 MB each
    small = generate_study(41, modality="MR", series_count=1, instances_per_series=3, rows=64, columns=64)
    for ds in small:
        ds.StudyInstanceUID = large[0].StudyInstanceUID
    files = [part10(ds) for ds in [*large, *small]]
    assert min(len(f) for f in files[:2]) > 1 << 20 and max(len(f) for f in files[2:]) < 64 << 10
    report = await app.engine.dicom.store_instances([StowPart("application/dicom", io.BytesIO(f)) for f in files])
    assert len(report.stored) == len(files)
    as_stored = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    response = await app.client.get(f"/dicom/studies/{large[0].StudyInstanceUID}", headers={"Accept": as_stored})
    body = await response.get_data()
    assert response.status_code == 200 and int(response.headers["Content-Length"]) == len(body)
    _, parts = split_multipart(body)
    assert sorted(data for _, data in parts) == sorted(files)
