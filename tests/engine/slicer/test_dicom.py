"""The Slicer engine's DICOM service against a thin stand-in of ctkDICOMDatabase: every database call
happens on the main thread, and the results are marshalled into the same values the headless
engine gives (QIDO records, stored instances, metadata, frames, store reports)."""

from __future__ import annotations

import io
import json
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import dcmread

from slicerweb.demo.dicom_studies import generate_study, write_studies
from slicerweb.engine.dicom_api import FAILURE_DATASET_MISMATCH, Match, SearchQuery, StowPart
from slicerweb.engine.slicer.dicom import SlicerDicom
from tests.engine.headless.dicomdb.test_geometry import sample, short_pixel_data

from .test_mainthread import main_loop  # noqa: F401  # the stand-in Qt main loop fixture


class StandInDicomDatabase:
    """The ctkDICOMDatabase calls SlicerDicom makes, over a folder of Part-10 files."""

    def __init__(self, root: Path) -> None:
        self.root, self.files = root, {}
        for path in sorted(root.rglob("*.dcm")):
            self._add(path)

    def _add(self, path: Path) -> None:
        ds = dcmread(path, stop_before_pixels=True)
        self.files[ds.SOPInstanceUID] = (str(path), ds)

    def _main(self) -> None:
        assert threading.current_thread().name == "stand-in-main", "ctkDICOMDatabase used off the main thread"

    def patients(self):
        self._main()
        return sorted({ds.PatientID for _, ds in self.files.values()})

    def studiesForPatient(self, patient):
        return sorted({ds.StudyInstanceUID for _, ds in self.files.values() if ds.PatientID == patient})

    def seriesForStudy(self, study):
        return sorted({ds.SeriesInstanceUID for _, ds in self.files.values() if ds.StudyInstanceUID == study})

    def instancesForSeries(self, series):
        return [uid for uid, (_, ds) in sorted(self.files.items(), key=lambda kv: kv[1][1].InstanceNumber)
                if ds.SeriesInstanceUID == series]

    def studyForSeries(self, series):
        return next(ds.StudyInstanceUID for _, ds in self.files.values() if ds.SeriesInstanceUID == series)

    def fileForInstance(self, sop):
        self._main()
        return self.files.get(sop, ("", None))[0]

    def seriesForFile(self, path):
        return next(ds.SeriesInstanceUID for p, ds in self.files.values() if p == path)

    def instanceValue(self, sop, tag):
        self._main()
        element = self.files[sop][1].get(int(tag.replace(",", ""), 16))
        return "" if element is None else str(element.value)

    def fileValue(self, path, tag):
        ds = dcmread(path, stop_before_pixels=True)
        element = (ds.file_meta if tag.startswith("0002") else ds).get(int(tag.replace(",", ""), 16))
        return "" if element is None else str(element.value)

    def insert(self, path, store_file, thumbnail):
        self._main()
        target = self.root / "inserted" / Path(path).name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(path, target)
        self._add(target)


@pytest.fixture
def service(tmp_path, main_loop):  # noqa: F811
    write_studies(tmp_path / "db", 2, series_count=2, instances_per_series=3)
    database = StandInDicomDatabase(tmp_path / "db")
    return SlicerDicom(SimpleNamespace(dicomDatabase=database), main_loop.dispatcher), database


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
    again = await dicom.store_instances(parts[:1])
    assert again.outcomes[0].already_stored


async def test_store_refuses_damaged_pixel_data_with_its_reason(service) -> None:
    dicom, database = service
    report = await dicom.store_instances([StowPart("application/dicom", io.BytesIO(short_pixel_data(False)))])
    (outcome,) = report.outcomes
    assert outcome.failure_reason == FAILURE_DATASET_MISMATCH
    assert outcome.sop_instance_uid == sample().SOPInstanceUID and "shorter" in outcome.detail
    assert sample().SOPInstanceUID not in database.files
