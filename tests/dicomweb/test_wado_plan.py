"""Every retrieve decides each part's representation before its status line (PS3.18 §8.7.3).

A study holding one object no codec converts (MPEG-2 video frames) is a 406 naming that instance
and its syntax under the default Accept, never `200` and then a broken body; where the Accept also
allows `transfer-syntax=*` that part goes out as stored and the others converted. A failure after
the status line (a file gone from disk) cuts the connection, is logged once with the request id and
counted, and the next request is answered normally.
"""

from __future__ import annotations

import io
import re

import httpx
import pytest
from pydicom import dcmread
from pydicom.encaps import encapsulate

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.dicomweb.accept import InstanceChoice
from slicerweb.dicomweb.wado_plan import plan_instances
from slicerweb.engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, StoredInstance, StowPart
from slicerweb.errors import NotAcceptable
from slicerweb.formats.dicom.transfer import can_convert

from .conftest import STOW_TYPE, part10, stow_body
from .test_wado import split_multipart

MPEG2 = "1.2.840.10008.1.2.4.100"  # video: no installed codec turns it into Explicit VR LE
MULTIPART_DICOM = 'multipart/related; type="application/dicom"'
WITH_FALLBACK = f"{MULTIPART_DICOM}, {MULTIPART_DICOM}; transfer-syntax=*; q=0.5"


def video_instance(study: int) -> bytes:
    """An instance of generated study `study`'s last series whose pixels are MPEG-2 encoded."""
    ds = generate_study(study, modality="MR", series_count=1, instances_per_series=1)[0]
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".99"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = 99
    ds.file_meta.TransferSyntaxUID = MPEG2
    ds.NumberOfFrames = 1
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(64)])
    ds["PixelData"].VR = "OB"
    return part10(ds)


async def stored_with_video(dicom_app):
    assert not can_convert(MPEG2, EXPLICIT_VR_LITTLE_ENDIAN)
    app = await dicom_app()
    data = video_instance(3)
    report = await app.engine.dicom.store_instances([StowPart("application/dicom", io.BytesIO(data))])
    assert not report.failed, report.failed
    ds = dcmread(io.BytesIO(data))
    return app, ds, data


async def test_study_with_an_unconvertible_part_is_406_naming_it(dicom_app) -> None:
    app, video, _ = await stored_with_video(dicom_app)
    response = await app.client.get(f"/dicom/studies/{video.StudyInstanceUID}", headers={"Accept": MULTIPART_DICOM})
    assert response.status_code == 406
    assert response.headers["Content-Type"] == "application/json"
    body = await response.get_json()
    assert body["code"] == "not_acceptable"
    assert body["instance"] == video.SOPInstanceUID and body["transfer_syntax"] == MPEG2
    assert video.SOPInstanceUID in body["message"] and MPEG2 in body["message"]
    series = await app.client.get(f"/dicom/studies/{video.StudyInstanceUID}/series/{video.SeriesInstanceUID}")
    assert series.status_code == 406  # no Accept: the default syntax, the same decision
    again = await app.client.get(f"/dicom/studies/{app.study_uid(2)}", headers={"Accept": MULTIPART_DICOM})
    assert again.status_code == 200 and len(split_multipart(await again.get_data())[1]) == 12


async def test_transfer_syntax_star_sends_that_part_as_stored_and_converts_the_others(dicom_app) -> None:
    app, video, data = await stored_with_video(dicom_app)
    response = await app.client.get(f"/dicom/studies/{video.StudyInstanceUID}", headers={"Accept": WITH_FALLBACK})
    assert response.status_code == 200
    parts = split_multipart(await response.get_data())[1]
    labels = {dcmread(io.BytesIO(body)).SOPInstanceUID: head["Content-Type"] for head, body in parts}
    assert labels.pop(video.SOPInstanceUID) == f"application/dicom; transfer-syntax={MPEG2}"
    assert set(labels.values()) == {f"application/dicom; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"}
    assert [body for _, body in parts if body == data] == [data]  # the stored bytes, untouched


async def test_single_instance_frames_and_rendered_decide_before_the_status_line(dicom_app) -> None:
    app, video, data = await stored_with_video(dicom_app)
    base = (f"/dicom/studies/{video.StudyInstanceUID}/series/{video.SeriesInstanceUID}"
            f"/instances/{video.SOPInstanceUID}")
    single = await app.client.get(base, headers={"Accept": "application/dicom"})
    assert single.status_code == 406 and (await single.get_json())["instance"] == video.SOPInstanceUID
    as_stored = await app.client.get(base, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert as_stored.status_code == 200 and await as_stored.get_data() == data
    assert as_stored.headers["Content-Type"] == f"application/dicom; transfer-syntax={MPEG2}"
    frames = await app.client.get(f"{base}/frames/1",
                                  headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert frames.status_code == 406
    assert (await frames.get_json())["transfer_syntax"] == MPEG2
    for suffix in ("rendered", "thumbnail", "frames/1/rendered"):
        rendered = await app.client.get(f"{base}/{suffix}", headers={"Accept": "image/jpeg"})
        assert rendered.status_code == 406, suffix  # was 415, a request-body status
        assert video.SOPInstanceUID in (await rendered.get_json())["message"]


async def test_wado_uri_decides_before_the_status_line_too(dicom_app) -> None:
    app, video, data = await stored_with_video(dicom_app)
    uri = f"/dicom?requestType=WADO&objectUID={video.SOPInstanceUID}"
    for content_type in ("application/dicom", "image/jpeg"):
        response = await app.client.get(f"{uri}&contentType={content_type}")
        assert response.status_code == 406, content_type  # rendered was 415, a request-body status
        body = await response.get_json()
        assert body["instance"] == video.SOPInstanceUID and body["transfer_syntax"] == MPEG2
    as_stored = await app.client.get(f"{uri}&contentType=application/dicom&transferSyntax={MPEG2}")
    assert as_stored.status_code == 200 and await as_stored.get_data() == data


def stored(sop: str, syntax: str) -> StoredInstance:
    return StoredInstance("1.2", "1.2.3", sop, "1.2.840.10008.5.1.4.1.1.4", syntax, "/nowhere", 1)


def test_plan_prefers_the_first_framing_every_part_fits() -> None:
    explicit = stored("1", EXPLICIT_VR_LITTLE_ENDIAN)
    video = stored("2", MPEG2)
    plan = plan_instances([explicit, video], [InstanceChoice(False, EXPLICIT_VR_LITTLE_ENDIAN),
                                              InstanceChoice(True, EXPLICIT_VR_LITTLE_ENDIAN),
                                              InstanceChoice(True, "*")])
    assert plan.multipart and plan.syntaxes == (EXPLICIT_VR_LITTLE_ENDIAN, MPEG2)
    assert plan.as_stored([explicit, video])  # nothing converted: the body's length is known
    implicit = stored("3", "1.2.840.10008.1.2")
    converted = plan_instances([implicit], [InstanceChoice(True, EXPLICIT_VR_LITTLE_ENDIAN)])
    assert converted.syntaxes == (EXPLICIT_VR_LITTLE_ENDIAN,) and not converted.as_stored([implicit])
    with pytest.raises(NotAcceptable) as refused:
        plan_instances([explicit, video], [InstanceChoice(True, EXPLICIT_VR_LITTLE_ENDIAN)])
    assert refused.value.extra == {"instance": "2", "transfer_syntax": MPEG2}


def test_a_file_gone_after_planning_cuts_the_answer_and_the_server_stays_healthy(live_server) -> None:
    server = live_server(policy_toml="[features]\ndicomweb_write = true\n")
    datasets = generate_study(7, series_count=1, instances_per_series=3)
    st, se = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    with server.client() as http:
        stored_answer = http.post("/dicom/studies", content=stow_body([part10(ds) for ds in datasets]),
                                  headers={"Content-Type": STOW_TYPE})
        assert stored_answer.status_code == 200
        # The index still lists the last instance: the plan (made from the index) is 200, the file is not there.
        victim = datasets[-1].SOPInstanceUID
        (path,) = [p for p in (server.data_dir / "dicom" / "objects").rglob("*.dcm")
                   if dcmread(p, stop_before_pixels=True).SOPInstanceUID == victim]
        path.unlink()
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"/dicom/studies/{st}/series/{se}",
                     headers={"Accept": f"{MULTIPART_DICOM}; transfer-syntax=*", "X-Request-ID": "cut-off-1"})
        healthy = http.get(f"/dicom/studies/{st}/series/{se}/instances/{datasets[0].SOPInstanceUID}",
                           headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert healthy.status_code == 200
        assert dcmread(io.BytesIO(healthy.content)).SOPInstanceUID == datasets[0].SOPInstanceUID
        metrics = http.get("/metrics").text
    assert re.search(r'^slicerweb_dicomweb_stream_failures_total\{kind="instances"\} 1\.0$', metrics, re.M), metrics
    lines = [line for line in server.log().splitlines() if "cut-off-1" in line and "cut off" in line]
    assert len(lines) == 1 and "FileNotFoundError" in lines[0], server.log()[-3000:]
