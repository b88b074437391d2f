"""STOW-RS refuses what would corrupt the archive: objects whose pixel data contradicts their
header (truncated, absurd geometry) and instances whose series already belongs to another study.
The response names the reason (FailedSOPSequence with a FailureReason, Warning in plain words) and
nothing is stored or indexed."""

from __future__ import annotations

import copy
from pathlib import Path

import httpx
from pydicom.uid import RLELossless

from slicerweb.demo.dicom_studies import generate_study
from tests.conftest import start_server

from ..formats.dicom.test_geometry import absurd, cut_in_half, rle, sample
from .conftest import STOW_TYPE, part10, stow_body


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def stored_files(app) -> list[str]:
    return sorted(str(p) for p in app.engine.dicom.storage.objects.rglob("*.dcm"))


async def test_truncated_object_is_refused_with_a_reason_and_not_stored(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    before = stored_files(app)
    data = cut_in_half()
    response = await app.client.post("/dicom/studies", data=stow_body([data]), headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/dicom+json"
    (failed,) = (await response.get_json())["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xC000]
    sop_uid = generate_study(40, series_count=1, instances_per_series=1, rows=64, columns=64)[0].SOPInstanceUID
    assert failed["00081155"]["Value"] == [sop_uid]
    assert "truncated" in response.headers["Warning"]
    assert stored_files(app) == before
    found = await app.client.get("/dicom/instances", query_string={"SOPInstanceUID": sop_uid})
    assert found.status_code == 204


async def test_series_of_another_study_is_refused_naming_that_study(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    existing = app.studies[2][0]
    intruder = copy.deepcopy(generate_study(9, series_count=1, instances_per_series=1)[0])
    intruder.SeriesInstanceUID = existing.SeriesInstanceUID  # a new study claiming an archived series
    response = await app.client.post("/dicom/studies", data=stow_body([part10(intruder)]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 409
    (failed,) = (await response.get_json())["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xA900]
    assert existing.StudyInstanceUID in response.headers["Warning"]
    new_study = await app.client.get("/dicom/studies", query_string={"StudyInstanceUID": intruder.StudyInstanceUID})
    assert new_study.status_code == 204
    series = await app.client.get(f"/dicom/studies/{existing.StudyInstanceUID}/series/"
                                  f"{existing.SeriesInstanceUID}/instances")
    assert intruder.SOPInstanceUID not in [i["00080018"]["Value"][0] for i in await series.get_json()]
    assert len(await series.get_json()) == 4


async def test_one_request_cannot_file_a_series_under_two_studies(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    first, second = (copy.deepcopy(ds) for ds in generate_study(9, series_count=1, instances_per_series=2))
    other = generate_study(10, series_count=1, instances_per_series=1)[0]
    second.StudyInstanceUID = other.StudyInstanceUID
    response = await app.client.post("/dicom/studies", data=stow_body([part10(first), part10(second)]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 202
    body = await response.get_json()
    assert [r["00081155"]["Value"][0] for r in body["00081199"]["Value"]] == [first.SOPInstanceUID]
    (failed,) = body["00081198"]["Value"]
    assert failed["00081155"]["Value"] == [second.SOPInstanceUID] and failed["00081197"]["Value"] == [0xA900]
    assert first.StudyInstanceUID in response.headers["Warning"]


async def test_a_uid_is_used_at_one_level_only(dicom_app) -> None:
    app = await dicom_app(features__dicomweb_write=True)
    existing = app.studies[2][0]
    series_as_study = copy.deepcopy(generate_study(11, series_count=1, instances_per_series=1)[0])
    series_as_study.StudyInstanceUID = existing.SeriesInstanceUID
    study_as_series = copy.deepcopy(generate_study(12, series_count=1, instances_per_series=1)[0])
    study_as_series.SeriesInstanceUID = existing.StudyInstanceUID
    response = await app.client.post("/dicom/studies", data=stow_body([part10(series_as_study),
                                                                       part10(study_as_series)]),
                                      headers={"Content-Type": STOW_TYPE})
    assert response.status_code == 409
    failed = (await response.get_json())["00081198"]["Value"]
    assert [f["00081197"]["Value"] for f in failed] == [[0xA900], [0xA900]]
    warning = " ".join(response.headers.getlist("Warning"))  # one header or several
    assert "is a series" in warning and "is a study" in warning


def test_absurd_geometry_is_refused_without_memory_growth(tmp_path: Path) -> None:
    """65535 x 65535 x (2^31-1) frames declares 2^63 bytes: refused from arithmetic alone, and the
    server's peak RSS does not move (a frame request would otherwise read gigabytes)."""
    server = start_server(tmp_path, policy_toml="[features]\ndicomweb_write = true\n")
    encapsulated = rle()
    encapsulated.NumberOfFrames = 2**31 - 1
    encapsulated.SOPInstanceUID = encapsulated.SOPInstanceUID[:-1] + "9"
    bodies = [absurd(Rows=65535, Columns=65535, NumberOfFrames=2**31 - 1), part10(encapsulated)]
    ds = sample()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            http.get("/dicom/studies")  # warm up
            before = peak_rss_mb(server.process.pid)
            response = http.post("/dicom/studies", content=stow_body(bodies), headers={"Content-Type": STOW_TYPE})
            assert response.status_code == 409
            failed = response.json()["00081198"]["Value"]
            assert [f["00081197"]["Value"] for f in failed] == [[0xA900], [0xA900]]
            assert "more than the limit" in " ".join(response.headers.get_list("Warning"))
            for sop_uid in (ds.SOPInstanceUID, encapsulated.SOPInstanceUID):
                frames = http.get(f"/dicom/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/"
                                  f"instances/{sop_uid}/frames/1")
                assert frames.status_code == 404
            growth = peak_rss_mb(server.process.pid) - before
            assert growth < 32, f"peak RSS grew by {growth:.0f} MB"
    finally:
        server.stop()


def test_the_pixel_bound_is_the_policy_upload_limit(tmp_path: Path) -> None:
    """An RLE object of 43 KB declaring 512 x 512 x 16 bits (512 KiB decoded) on a server whose
    upload limit is 256 KiB: refused by the policy's bound, not the built-in 4 GiB."""
    ds = generate_study(41, series_count=1, instances_per_series=1, rows=512, columns=512)[0]
    ds.compress(RLELossless)
    server = start_server(tmp_path, policy_toml="[features]\ndicomweb_write = true\n"
                                                "[limits]\nupload_max_body_bytes = 262144\n")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            response = http.post("/dicom/studies", content=stow_body([part10(ds)]), headers={"Content-Type": STOW_TYPE})
        assert response.status_code == 409
        (failed,) = response.json()["00081198"]["Value"]
        assert failed["00081197"]["Value"] == [0xA900]
        assert "524288 bytes of pixel data" in " ".join(response.headers.get_list("Warning"))
        assert "limit of 262144" in " ".join(response.headers.get_list("Warning"))
    finally:
        server.stop()
