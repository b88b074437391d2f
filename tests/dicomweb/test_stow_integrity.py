"""STOW-RS refuses what would corrupt the archive: objects whose pixel data contradicts their
header (truncated, absurd geometry) and instances whose series already belongs to another study.
The response names the reason (FailedSOPSequence with a FailureReason, Warning in plain words) and
nothing is stored or indexed."""

from __future__ import annotations

import copy

from slicerweb.demo.dicom_studies import generate_study

from ..engine.headless.dicomdb.test_geometry import cut_in_half
from .conftest import STOW_TYPE, part10, stow_body


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
