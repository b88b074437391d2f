"""QIDO beyond the index's columns (PS3.18 §8.3.4.1, §8.3.4.3): sequence matching keys and any other
standard attribute matched on the stored DICOM JSON, includefield of any attribute at every level,
and the larger default limit of instance-level searches.

Study and series records take attributes the index does not hold from a representative instance
(the first in retrieval order). Matching on stored JSON reads at most MAX_JSON_SCAN candidates.
"""

from __future__ import annotations

import io

import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import StowPart
from slicerweb.engine.headless.dicomdb import search as search_module

from .conftest import part10

REQUEST_ATTRIBUTES = "00400275"
KEY = "RequestAttributesSequence.ScheduledProcedureStepID"


def requested(*steps: tuple[str, str]) -> Sequence:
    items = []
    for step, procedure in steps:
        item = Dataset()
        item.ScheduledProcedureStepID = step
        item.RequestedProcedureID = procedure
        items.append(item)
    return Sequence(items)


async def with_requests(dicom_app, **policy):
    """The test app plus study 9: series A (2 instances) requested as SPS1/RP1 + SPS2/RP2, series B
    (1 instance) as SPS3/RP3."""
    app = await dicom_app(**policy)
    datasets = generate_study(9, modality="MR", series_count=2, instances_per_series=2)
    series_a = [ds for ds in datasets if ds.SeriesInstanceUID == datasets[0].SeriesInstanceUID]
    series_b = [ds for ds in datasets if ds.SeriesInstanceUID != datasets[0].SeriesInstanceUID][:1]
    for ds in series_a:
        ds.RequestAttributesSequence = requested(("SPS1", "RP1"), ("SPS2", "RP2"))
    for ds in series_b:
        ds.RequestAttributesSequence = requested(("SPS3", "RP3"))
    report = await app.engine.dicom.store_instances(
        [StowPart("application/dicom", io.BytesIO(part10(ds))) for ds in series_a + series_b])
    assert not report.failed
    return app, series_a, series_b


async def found(app, path: str, **params) -> list[dict]:
    response = await app.client.get(path, query_string=params)
    assert response.status_code in (200, 204), await response.get_data(as_text=True)
    assert "not supported" not in response.headers.get("Warning", "")
    return [] if response.status_code == 204 else await response.get_json()


def uids(records: list[dict], tag: str) -> set[str]:
    return {r[tag]["Value"][0] for r in records}


async def test_sequence_matching_at_every_level(dicom_app) -> None:
    app, series_a, series_b = await with_requests(dicom_app)
    study = series_a[0].StudyInstanceUID
    series = await found(app, f"/dicom/studies/{study}/series", **{KEY: "SPS1"})
    assert uids(series, "0020000E") == {series_a[0].SeriesInstanceUID}
    items = series[0][REQUEST_ATTRIBUTES]["Value"]  # the matched sequence is returned
    assert [i["00400009"]["Value"] for i in items] == [["SPS1"], ["SPS2"]]
    assert uids(await found(app, "/dicom/instances", **{KEY: "SPS3"}), "00080018") == {series_b[0].SOPInstanceUID}
    assert uids(await found(app, "/dicom/instances", **{KEY: "SPS?"}), "00080018") == {
        ds.SOPInstanceUID for ds in series_a + series_b}
    assert uids(await found(app, "/dicom/studies", **{KEY: "SPS2"}), "0020000D") == {study}
    assert await found(app, "/dicom/studies", **{KEY: "SPS9"}) == []


async def test_keys_in_one_sequence_must_hold_in_the_same_item(dicom_app) -> None:
    app, series_a, _ = await with_requests(dicom_app)
    same = {KEY: "SPS2", "RequestAttributesSequence.RequestedProcedureID": "RP2"}
    crossed = {KEY: "SPS1", "RequestAttributesSequence.RequestedProcedureID": "RP2"}
    assert len(await found(app, "/dicom/instances", **same)) == len(series_a)
    assert await found(app, "/dicom/instances", **crossed) == []


@pytest.mark.parametrize(("key", "why"), [
    ("PatientName.PatientID", "PatientName is not a sequence"),
    ("RequestAttributesSequence", None),
    ("RequestAttributesSequence.NoSuchKeyword", "is not a DICOM keyword"),
    ("RequestAttributeSequence.ScheduledProcedureStepID", "is not a DICOM keyword"),
    (".".join(["ReferencedSeriesSequence"] * 5 + ["SeriesInstanceUID"]), "at most 4 nested sequences"),
])
async def test_bad_sequence_keys_are_400_naming_them(dicom_app, key: str, why: str | None) -> None:
    app = await dicom_app()
    response = await app.client.get("/dicom/instances", query_string={key: "x"})
    if why is None:  # a sequence itself: universal matching is all PS3.4 C.2.2.2.6 allows for it
        assert response.status_code in (200, 204)
        return
    assert response.status_code == 400
    body = await response.get_json()
    assert body["parameter"] == key and why in body["message"]


async def test_attributes_outside_the_index_are_matched_on_stored_json(dicom_app) -> None:
    app = await dicom_app()
    ct = [ds for index in (0, 2) for ds in (app.studies[index] if index else generate_study(0, modality="CT"))]
    axial = await found(app, "/dicom/instances", ImageType="*AXIAL")
    assert uids(axial, "00080018") == {ds.SOPInstanceUID for ds in ct}
    assert all(r["00080008"]["Value"][-1] == "AXIAL" for r in axial)  # the matching key is returned
    assert uids(await found(app, "/dicom/series", ImageType="*OTHER"), "0020000E") == {
        ds.SeriesInstanceUID for index in (1, 3) for ds in app.studies[index]}


async def test_includefield_of_any_attribute_at_every_level(dicom_app) -> None:
    app = await dicom_app()
    first = app.first(2)  # study 2's representative instance: series 1, instance 1
    (study,) = await found(app, "/dicom/studies", StudyInstanceUID=app.study_uid(2),
                           includefield="Manufacturer,00180050,BodyPartExamined")
    assert study["00080070"]["Value"] == [first.Manufacturer]
    assert study["00180050"]["Value"] == [float(first.SliceThickness)]
    assert "00180015" not in study  # an indexed series attribute keeps its level (PS3.18 §8.3.4.3)
    series = await found(app, f"/dicom/studies/{app.study_uid(2)}/series", includefield="ImageType")
    assert [s["00080008"]["Value"] for s in series] == [list(first.ImageType)] * 3
    instances = await found(app, f"/dicom/studies/{app.study_uid(2)}/instances", includefield="ImagePositionPatient")
    assert len({tuple(i["00200032"]["Value"]) for i in instances}) > 1  # each instance its own


async def test_instance_searches_have_a_larger_default_limit(dicom_app) -> None:
    app = await dicom_app(limits__qido_default_limit=2, limits__qido_instance_default_limit=50)
    studies = await app.client.get("/dicom/studies")
    assert len(await studies.get_json()) == 2 and "additional results" in studies.headers["Warning"]
    instances = await app.client.get("/dicom/instances")
    assert len(await instances.get_json()) == 50
    assert "There are 5 additional results" in instances.headers["Warning"]  # 55 in the test database


async def test_stored_json_matching_is_bounded_and_the_server_keeps_serving(dicom_app, monkeypatch) -> None:
    app = await dicom_app()
    monkeypatch.setattr(search_module, "MAX_JSON_SCAN", 10)
    response = await app.client.get("/dicom/instances", query_string={"ImageType": "*AXIAL"})
    assert response.status_code == 400
    body = await response.get_json()
    assert "ImageType" in body["message"] and "at most 10" in body["message"]
    narrowed = await found(app, "/dicom/instances", ImageType="*AXIAL", StudyInstanceUID=app.study_uid(3))
    assert narrowed == []  # 3 MR candidates: within the bound
