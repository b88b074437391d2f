"""Compressed objects (PS3.18 §8.7.3, §10.4.1.1.4): frames go out as stored when the client accepts
that (`type="*/*"`, `transfer-syntax=*`, the image media type) and labelled with their transfer
syntax; a client asking uncompressed gets decoded Explicit VR Little Endian; retrieve transcodes to
the default transfer syntax; rendering decodes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom.data
from pydicom import dcmread

from slicerweb.engine.dicom_api import StowPart

from .test_wado import split_multipart

RLE = "1.2.840.10008.1.2.5"
EXPLICIT = "1.2.840.10008.1.2.1"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"


async def stored_rle(dicom_app):
    app = await dicom_app()
    path = Path(pydicom.data.__file__).parent / "test_files" / "SC_rgb_rle_2frame.dcm"
    data = path.read_bytes()
    report = await app.engine.dicom.store_instances([StowPart("application/dicom", io.BytesIO(data))])
    assert not report.failed
    ds = dcmread(io.BytesIO(data))
    base = f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    return app, ds, base


async def test_frames_as_stored_or_decoded(dicom_app) -> None:
    app, ds, base = await stored_rle(dicom_app)
    native = await app.client.get(f"{base}/frames/2", headers={"Accept": 'multipart/related; type="*/*"'})
    (headers, _), = split_multipart(await native.get_data())[1]
    assert headers["Content-Type"] == f"image/dicom-rle; transfer-syntax={RLE}"
    ohif = await app.client.get(f"{base}/frames/1", headers={
        "Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"})
    (headers, _), = split_multipart(await ohif.get_data())[1]
    assert headers["Content-Type"] == f"application/octet-stream; transfer-syntax={RLE}"
    decoded = await app.client.get(f"{base}/frames/2", headers={
        "Accept": 'multipart/related; type="application/octet-stream"'})
    (headers, data), = split_multipart(await decoded.get_data())[1]
    assert headers["Content-Type"] == f"application/octet-stream; transfer-syntax={EXPLICIT}"
    assert data == np.ascontiguousarray(ds.pixel_array[1]).tobytes()


async def test_retrieve_transcodes_to_the_default_and_rendering_decodes(dicom_app) -> None:
    app, ds, base = await stored_rle(dicom_app)
    response = await app.client.get(base, headers={"Accept": 'multipart/related; type="application/dicom"'})
    (headers, data), = split_multipart(await response.get_data())[1]
    assert headers["Content-Type"] == f"application/dicom; transfer-syntax={EXPLICIT}"
    copy = dcmread(io.BytesIO(data))
    assert copy.file_meta.TransferSyntaxUID == EXPLICIT
    assert np.array_equal(copy.pixel_array, ds.pixel_array)
    as_stored = await app.client.get(base, headers={
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    (headers, _), = split_multipart(await as_stored.get_data())[1]
    assert headers["Content-Type"] == f"application/dicom; transfer-syntax={RLE}"
    rendered = await app.client.get(f"{base}/frames/2/rendered", headers={"Accept": "image/png"})
    assert rendered.status_code == 200 and (await rendered.get_data())[:4] == b"\x89PNG"


async def test_htj2k_frames_carry_their_media_type(dicom_app) -> None:
    """One media-type table (formats/dicom/transfer.py): WADO once had its own, without HTJ2K."""
    app = await dicom_app()
    ds = dcmread(Path(pydicom.data.__file__).parent / "test_files" / "SC_rgb_rle_2frame.dcm")
    ds.file_meta.TransferSyntaxUID = HTJ2K_LOSSLESS  # served as stored: the fragments are never decoded here
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    report = await app.engine.dicom.store_instances([StowPart("application/dicom", io.BytesIO(buffer.getvalue()))])
    assert not report.failed
    base = f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    response = await app.client.get(f"{base}/frames/1", headers={"Accept": 'multipart/related; type="*/*"'})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith('multipart/related; type="image/jphc"')
    (headers, _), = split_multipart(await response.get_data())[1]
    assert headers["Content-Type"] == f"image/jphc; transfer-syntax={HTJ2K_LOSSLESS}"
