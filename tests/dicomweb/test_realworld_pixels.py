"""Every stored object with pixels serves them (issue 12 items 4 and 5), through the app over STOW-RS.

Contract: big-endian and deflated objects are indexed with their Pixel Data (metadata carries its
BulkDataURI, frames come out little endian, `rendered` works); multi-frame objects serve any frame;
palette colour renders in colour, MONOCHROME1 inverted, `window=` applied; pixels no codec can
decode answer 406 JSON (never 415/5xx) while `transfer-syntax=*` still serves the stored bytes; a
conversion keeps the SOP Instance UID; STOW refuses truncated pixel data in plain words and stores
nothing of it.
"""

from __future__ import annotations

import copy
import io
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom.data
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut

from .conftest import STOW_TYPE, DicomApp, stow_body
from .test_wado import split_multipart

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
EXPLICIT = "1.2.840.10008.1.2.1"
OCTET = 'multipart/related; type="application/octet-stream"'
AppFactory = Callable[..., Awaitable[DicomApp]]
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on the odd bundled files


def base_of(ds: Dataset) -> str:
    return f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


async def stow(app: DicomApp, *names: str) -> tuple[dict[str, Any], list[Dataset]]:
    files = [(TEST_FILES / name).read_bytes() for name in names]
    response = await app.client.post("/dicom/studies", data=stow_body(files), headers={"Content-Type": STOW_TYPE})
    assert response.headers["Content-Type"] == "application/dicom+json"
    return await response.get_json(), [dcmread(io.BytesIO(data)) for data in files]


async def frame(app: DicomApp, ds: Dataset, number: int) -> bytes:
    response = await app.client.get(f"{base_of(ds)}/frames/{number}", headers={"Accept": OCTET})
    assert response.status_code == 200, await response.get_data()
    (headers, data), = split_multipart(await response.get_data(as_text=False))[1]
    assert headers["Content-Type"] == f"application/octet-stream; transfer-syntax={EXPLICIT}"
    return data


async def rendered(app: DicomApp, ds: Dataset, query: str = "", frame_number: int = 1) -> np.ndarray:
    response = await app.client.get(f"{base_of(ds)}/frames/{frame_number}/rendered{query}",
                                    headers={"Accept": "image/png"})
    assert response.status_code == 200, await response.get_data()
    assert response.headers["Content-Type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(await response.get_data(as_text=False))))


@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "rtdose_expb.dcm", "ExplVR_BigEnd.dcm",
                                  "image_dfl.dcm", "liver_expb_1frame.dcm"])
async def test_big_endian_and_deflated_objects_serve_their_pixels(dicom_app: AppFactory, name: str) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    body, (ds,) = await stow(app, name)
    assert "00081198" not in body, body
    metadata = await app.client.get(f"{base_of(ds)}/metadata")
    document = (await metadata.get_json())[0]
    assert document["7FE00010"]["BulkDataURI"].endswith(f"{base_of(ds)}/bulkdata/7FE00010")
    expected = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    last = await frame(app, ds, frames)
    if ds.BitsAllocated == 1:
        assert np.array_equal(np.unpackbits(np.frombuffer(last, np.uint8), bitorder="little")[:expected.size],
                              expected.ravel())
    else:
        wanted = expected[-1] if frames > 1 else expected
        assert last == wanted.astype(wanted.dtype.newbyteorder("<")).tobytes()
    image = await rendered(app, ds, frame_number=frames)
    assert image.shape[:2] == (ds.Rows, ds.Columns)
    retrieved = await app.client.get(base_of(ds), headers={"Accept": 'multipart/related; type="application/dicom"'})
    (_headers, data), = split_multipart(await retrieved.get_data(as_text=False))[1]
    converted = dcmread(io.BytesIO(data))
    assert converted.file_meta.TransferSyntaxUID == EXPLICIT
    assert converted.SOPInstanceUID == ds.SOPInstanceUID  # rtdose_expb's meta UID differs: kept as stored too
    assert converted.file_meta.MediaStorageSOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert np.array_equal(converted.pixel_array, expected)


async def test_multi_frame_serves_any_frame_and_a_compressed_copy_keeps_its_uid(dicom_app: AppFactory) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    _, (ds,) = await stow(app, "rtdose_rle.dcm")
    for number in (1, 8, 15):
        assert await frame(app, ds, number) == ds.pixel_array[number - 1].astype("<u4").tobytes()
    missing = await app.client.get(f"{base_of(ds)}/frames/16", headers={"Accept": OCTET})
    assert missing.status_code == 404 and "frame 16" in (await missing.get_json())["message"]
    single = await app.client.get(base_of(ds), headers={"Accept": "application/dicom"})
    converted = dcmread(io.BytesIO(await single.get_data(as_text=False)))
    assert converted.SOPInstanceUID == ds.SOPInstanceUID
    assert converted.file_meta.MediaStorageSOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
    assert converted.file_meta.TransferSyntaxUID == EXPLICIT
    assert np.array_equal(converted.pixel_array, ds.pixel_array)


async def test_palette_colour_renders_in_colour(dicom_app: AppFactory) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    _, (ds,) = await stow(app, "examples_palette.dcm")
    image = await rendered(app, ds)
    assert image.shape == (ds.Rows, ds.Columns, 3)
    colours = apply_color_lut(ds.pixel_array, ds)  # 16-bit LUT entries
    assert np.abs(image.astype(int) - np.round(colours / 65535 * 255).astype(int)).max() <= 1
    assert (image[..., 0] != image[..., 2]).any()  # not grey indices


async def test_ybr_multi_frame_renders_as_rgb(dicom_app: AppFactory) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    _, (ds,) = await stow(app, "examples_ybr_color.dcm")  # JPEG baseline, YBR_FULL_422, 30 frames
    image = await rendered(app, ds, frame_number=30)
    expected = ds.pixel_array[29]  # pydicom converts YBR to RGB
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 2  # plugins round YCbCr -> RGB alike


async def test_monochrome1_is_inverted_and_window_applies(dicom_app: AppFactory) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    _, (inverted,) = await stow(app, "dicomdirtests/77654033/CR1/6154")
    as_monochrome2 = copy.deepcopy(inverted)
    as_monochrome2.PhotometricInterpretation = "MONOCHROME2"
    as_monochrome2.SOPInstanceUID = inverted.SOPInstanceUID + ".2"
    as_monochrome2.file_meta.MediaStorageSOPInstanceUID = as_monochrome2.SOPInstanceUID
    buffer = io.BytesIO()
    as_monochrome2.save_as(buffer, enforce_file_format=True)
    stored = await app.client.post("/dicom/studies", data=stow_body([buffer.getvalue()]),
                                   headers={"Content-Type": STOW_TYPE})
    assert stored.status_code == 200
    assert np.array_equal(await rendered(app, inverted), 255 - await rendered(app, as_monochrome2))
    values = inverted.pixel_array.astype(float) * float(inverted.get("RescaleSlope", 1)) + float(
        inverted.get("RescaleIntercept", 0))
    center = float(np.median(values))
    hard = await rendered(app, as_monochrome2, f"?window={center},1,linear")
    assert set(np.unique(hard)) <= {0, 255}
    assert np.array_equal(hard == 255, values > center - 0.5)
    soft = await rendered(app, as_monochrome2, f"?window={center},100,sigmoid")
    assert np.count_nonzero((soft > 0) & (soft < 255)) > 0


async def test_pixels_no_codec_decodes_are_406_and_served_as_stored(dicom_app: AppFactory) -> None:
    try:
        assert dcmread(TEST_FILES / "JPGExtended.dcm").pixel_array.size
    except RuntimeError:
        pass  # no installed plugin decodes 12-bit JPEG Extended (gdcm's and Pillow's refuse it)
    else:
        pytest.skip("a 12-bit JPEG Extended decoder (pylibjpeg-libjpeg, the gpl-jpeg extra) is installed")
    app = await dicom_app(features__dicomweb_write=True)
    body, (ds,) = await stow(app, "JPGExtended.dcm")
    assert "00081198" not in body
    for path, accept in ((f"{base_of(ds)}/rendered", "image/jpeg"), (f"{base_of(ds)}/thumbnail", "image/png"),
                         (f"{base_of(ds)}/frames/1", OCTET), (base_of(ds), "application/dicom")):
        response = await app.client.get(path, headers={"Accept": accept})
        assert response.status_code == 406, (path, response.status_code)
        assert response.headers["Content-Type"] == "application/json"
        assert "cannot be decoded" in (await response.get_json())["message"]
    as_stored = await app.client.get(base_of(ds), headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert as_stored.status_code == 200
    assert await as_stored.get_data() == (TEST_FILES / "JPGExtended.dcm").read_bytes()


def _rle_with_offset_table_past_the_end() -> bytes:
    ds = dcmread(TEST_FILES / "SC_rgb_rle_2frame.dcm")
    data = bytes(ds.PixelData)
    table_length = struct.unpack("<I", data[4:8])[0]
    assert table_length == 8
    offsets = struct.pack("<2I", 0, 10_000_000)
    ds.PixelData = data[:8] + offsets + data[16:]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


async def test_stow_refuses_truncated_pixel_data_in_plain_words(dicom_app: AppFactory) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    truncated = (TEST_FILES / "MR_truncated.dcm").read_bytes()
    broken_table = _rle_with_offset_table_past_the_end()
    response = await app.client.post("/dicom/studies", data=stow_body([truncated, broken_table]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 409
    failed = (await response.get_json())["00081198"]["Value"]
    reasons = {item["00081155"]["Value"][0]: (item["00081197"]["Value"][0], item["00000902"]["Value"][0])
               for item in failed}
    short = dcmread(io.BytesIO(truncated))
    truncated_reason = ("the Pixel Data element runs past the end of the object (8192 bytes announced, 8130 "
                        "present): the object is truncated")
    table = dcmread(io.BytesIO(broken_table))
    table_reason = ("the Basic Offset Table points 10000000 bytes into fragments that hold only 1344: the object "
                    "is truncated")
    for uid, reason, text in ((short.SOPInstanceUID, 0xC000, truncated_reason),
                              (table.SOPInstanceUID, 0xC000, table_reason)):
        assert reasons[uid][0] == reason
        assert text.startswith(reasons[uid][1].removesuffix("..."))  # Error Comment is LO: 64 characters
        assert f"{uid}: {text}" in response.headers["Warning"]  # the whole reason
    for ds in (short, table):
        found = await app.client.get("/dicom/instances", query_string={"SOPInstanceUID": ds.SOPInstanceUID})
        assert found.status_code == 204
