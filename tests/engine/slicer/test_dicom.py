"""The Slicer engine's DICOM service against a thin stand-in of ctkDICOMDatabase: every database call
happens on the main thread, and the results are marshalled into the same values the headless
engine gives (QIDO records, stored instances, metadata, frames, store reports)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from slicerweb.demo.dicom_studies import generate_study, write_studies
from slicerweb.engine.dicom_api import FAILURE_DATASET_MISMATCH, Match, SearchQuery, StowPart
from slicerweb.engine.slicer.dicom import SlicerDicom
from slicerweb.engine.slicer.dicom_catalog import DicomCatalog
from tests.formats.dicom.test_geometry import sample, short_pixel_data
from tests.slicer_standin.dicomdb import StandInDicomDatabase

from .test_mainthread import main_loop  # noqa: F401  # the stand-in Qt main loop fixture


@pytest.fixture
def service(tmp_path, main_loop):  # noqa: F811
    write_studies(tmp_path / "db", 2, series_count=2, instances_per_series=3)
    database = StandInDicomDatabase(tmp_path / "db", "stand-in-main")
    return SlicerDicom(DicomCatalog(SimpleNamespace(dicomDatabase=database), main_loop.dispatcher)), database


async def test_search_retrieve_and_metadata(service) -> None:
    dicom, _ = service
    assert await dicom.count_studies() == 2
    ct = generate_study(0, series_count=2, instances_per_series=3)
    family = str(ct[0].PatientName).split("^")[0]
    result = await dicom.search_for_studies(SearchQuery(
        "study", matches=(Match(0x00100010, "PatientName", "wildcard", (family.lower() + "*",)),)))
    assert result.total == 2  # studies 0 and 1 belong to the same patient
    result = await dicom.search_for_studies(SearchQuery(
        "study", matches=(Match(0x00080061, "ModalitiesInStudy", "list", ("CT", "SR")),)))
    (study,) = result.records
    assert study["0020000D"]["Value"] == [ct[0].StudyInstanceUID]
    assert study["00201206"]["Value"] == [2] and study["00201208"]["Value"] == [6]
    series = await dicom.search_for_series(SearchQuery("series", study_uid=ct[0].StudyInstanceUID, limit=1))
    assert series.total == 2 and len(series.records) == 1
    instances = await dicom.retrieve_series(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID)
    assert [i.sop_uid for i in instances] == [ds.SOPInstanceUID for ds in ct[:3]]
    metadata = json.loads(await dicom.retrieve_series_metadata(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID))
    assert len(metadata) == 3 and "BulkDataURI" in metadata[0]["7FE00010"]
    (frame,) = await dicom.retrieve_instance_frames(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID,
                                                    ct[0].SOPInstanceUID, [1], None)
    assert frame.data == ct[0].PixelData


async def test_store_goes_through_insert_on_the_main_thread(service) -> None:
    dicom, database = service
    new = generate_study(5, series_count=1, instances_per_series=2)
    parts = []
    for ds in new:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        parts.append(StowPart("application/dicom", buffer))
    report = await dicom.store_instances(parts)
    assert len(report.stored) == 2 and not report.failed
    assert new[0].SOPInstanceUID in database.files
    assert database.displayed_fields_updates == 1  # Slicer's DICOM browser shows the new study
    again = await dicom.store_instances(parts[:1])
    assert again.outcomes[0].already_stored
    assert database.displayed_fields_updates == 1


async def test_store_reports_an_instance_ctk_did_not_index(service) -> None:
    dicom, database = service
    database.refuse = True
    (ds,) = generate_study(7, series_count=1, instances_per_series=1)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    report = await dicom.store_instances([StowPart("application/dicom", buffer)])
    assert not report.stored and report.outcomes[0].failure_reason == 0x0110
    assert "did not index" in report.outcomes[0].detail


async def test_transfer_syntax_comes_from_the_file_meta_header(service) -> None:
    dicom, _ = service
    ct = generate_study(0, series_count=2, instances_per_series=3)
    instance = await dicom.retrieve_instance(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID, ct[0].SOPInstanceUID)
    assert instance.transfer_syntax == ct[0].file_meta.TransferSyntaxUID != ""


async def test_store_refuses_damaged_pixel_data_with_its_reason(service) -> None:
    dicom, database = service
    report = await dicom.store_instances([StowPart("application/dicom", io.BytesIO(short_pixel_data(False)))])
    (outcome,) = report.outcomes
    assert outcome.failure_reason == FAILURE_DATASET_MISMATCH
    assert outcome.sop_instance_uid == sample().SOPInstanceUID and "shorter" in outcome.detail
    assert sample().SOPInstanceUID not in database.files
