"""WADO-RS frames (PS3.18 §10.4.1.1.4): the frame list is bounded by policy and the answer streams.

A frame list names each frame at most once and at most `limits.max_frames_per_request` frames, so an
answer is never larger than the instance's own pixel data (a 4 KB URL repeating frame 1 used to
build a 1 GB answer in memory). Frames are read and sent a batch at a time.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import StowPart

from .conftest import part10
from .test_wado import split_multipart

OCTET_ACCEPT = 'multipart/related; type="application/octet-stream"'
EXPLICIT = "1.2.840.10008.1.2.1"


def multiframe(frames: int = 5, rows: int = 32, columns: int = 48, index: int = 40):
    """A CT dataset holding `frames` distinct uint16 frames of rows x columns."""
    ds = generate_study(index, series_count=1, instances_per_series=1)[0]
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    pixels = np.arange(frames * rows * columns, dtype=np.uint16).reshape(frames, rows, columns)
    ds.PixelData = pixels.tobytes()
    return ds, pixels


async def stored_multiframe(dicom_app, frames: int = 5, **policy):
    app = await dicom_app(**policy)
    ds, pixels = multiframe(frames)
    report = await app.engine.dicom.store_instances([StowPart("application/dicom", io.BytesIO(part10(ds)))])
    assert not report.failed
    base = (f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}/frames/")
    return app, base, pixels


async def test_frames_stream_in_the_order_asked(dicom_app) -> None:
    app, base, pixels = await stored_multiframe(dicom_app)
    response = await app.client.get(base + "5,1,3", headers={"Accept": OCTET_ACCEPT})
    assert response.status_code == 200
    _, parts = split_multipart(await response.get_data())
    assert [h["Content-Type"] for h, _ in parts] == [f"application/octet-stream; transfer-syntax={EXPLICIT}"] * 3
    assert [d for _, d in parts] == [pixels[4].tobytes(), pixels[0].tobytes(), pixels[2].tobytes()]


async def test_a_repeated_frame_is_a_400_naming_it(dicom_app) -> None:
    app, base, _ = await stored_multiframe(dicom_app)
    response = await app.client.get(base + "2,1,2", headers={"Accept": OCTET_ACCEPT})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    body = await response.get_json()
    assert body["success"] is False and "frame 2 is listed more than once" in body["message"]


async def test_a_frame_list_longer_than_the_policy_allows_is_a_400(dicom_app) -> None:
    app, base, _ = await stored_multiframe(dicom_app, limits__max_frames_per_request=3)
    assert (await app.client.get(base + "1,2,3", headers={"Accept": OCTET_ACCEPT})).status_code == 200
    response = await app.client.get(base + "1,2,3,4", headers={"Accept": OCTET_ACCEPT})
    assert response.status_code == 400
    assert "4 frames" in (await response.get_json())["message"]
    assert "limits.max_frames_per_request = 3" in (await response.get_json())["message"]


async def test_the_hostile_url_of_the_report_is_refused(dicom_app) -> None:
    """2,000 repeats of frame 1 in a 4 KB URL (the default policy allows 1,000 distinct frames)."""
    app, base, _ = await stored_multiframe(dicom_app)
    response = await app.client.get(base + ",".join(["1"] * 2000), headers={"Accept": OCTET_ACCEPT})
    assert response.status_code == 400
    assert "limits.max_frames_per_request" in (await response.get_json())["message"]


@pytest.mark.parametrize("frames", ["1,2,9", "9,1"])
async def test_a_frame_out_of_range_anywhere_in_the_list_is_a_404_before_any_part(dicom_app, frames: str) -> None:
    app, base, _ = await stored_multiframe(dicom_app)
    response = await app.client.get(base + frames, headers={"Accept": OCTET_ACCEPT})
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
