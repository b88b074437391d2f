"""The synthetic DICOM generator: deterministic, valid IODs (dciodvfy), consistent geometry, Part-10 output.

Contract: the same (index, options, seed) give byte-identical files; UIDs are unique within and across
studies and seeds; CT and MR instances pass dicom3tools' IOD validator with no errors; slices of a
series are parallel, evenly spaced by SliceThickness and share a frame of reference with the other
series of their study; the phantom looks the same at the same patient position in every series.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset, dcmwrite
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage

from slicerweb.demo import generate_study, write_studies
from slicerweb.demo.benchmark_studies import benchmark_dataset

UID_PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def test_same_inputs_give_identical_bytes() -> None:
    first = [part10(ds) for ds in generate_study(3, modality="MR", series_count=2, instances_per_series=3)]
    again = [part10(ds) for ds in generate_study(3, modality="MR", series_count=2, instances_per_series=3)]
    assert first == again
    assert len(set(first)) == 6


def test_write_studies_matches_generate_study(tmp_path: Path) -> None:
    written = write_studies(tmp_path / "a", 2, instances_per_series=3)
    assert written == 12
    files = sorted((tmp_path / "a" / "study00001").rglob("*.dcm"))
    expected = generate_study(1, modality="MR", instances_per_series=3)
    assert [f.read_bytes() for f in files] == [part10(ds) for ds in expected]
    parallel = write_studies(tmp_path / "b", 2, processes=2, instances_per_series=3)
    assert parallel == written
    for path in (tmp_path / "a").rglob("*.dcm"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_uids_are_valid_unique_and_depend_on_seed_and_index() -> None:
    studies = [generate_study(i, modality=m, seed=s, instances_per_series=4)
               for i in range(3) for m in ("CT", "MR") for s in (0, 1)]
    sops, series, study_uids = set(), set(), set()
    for instances in studies:
        study_uids.add(instances[0].StudyInstanceUID)
        for ds in instances:
            for value in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID):
                assert len(value) <= 64 and UID_PATTERN.match(value), value
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            sops.add(ds.SOPInstanceUID)
            series.add(ds.SeriesInstanceUID)
    assert (len(study_uids), len(series), len(sops)) == (12, 24, 96)


def test_studies_vary_like_a_worklist() -> None:
    studies = [generate_study(i, instances_per_series=1, series_count=1)[0] for i in range(40)]
    assert all("^" in str(ds.PatientName) for ds in studies)
    assert str(studies[0].PatientName).startswith("Doe^Jane")
    for keyword in ("StudyDate", "StudyDescription", "AccessionNumber", "ReferringPhysicianName",
                    "PatientBirthDate", "PatientName"):
        assert len({str(ds.get(keyword)) for ds in studies}) > 2, keyword
    assert len({ds.AccessionNumber for ds in studies}) == 40
    patients = {}
    for ds in studies:
        patients.setdefault(ds.PatientID, set()).add((str(ds.PatientName), ds.PatientBirthDate, ds.PatientSex))
    assert all(len(identities) == 1 for identities in patients.values())


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_instances_pass_dciodvfy(tmp_path: Path, modality: str) -> None:
    dciodvfy = shutil.which("dciodvfy")
    assert dciodvfy, "dciodvfy (Debian dicom3tools) is required: deploy/install-system-deps"
    instances = generate_study(5, modality=modality, series_count=3, instances_per_series=2, rows=32, columns=48)
    for n, ds in enumerate(instances[::2]):
        path = tmp_path / f"{n}.dcm"
        path.write_bytes(part10(ds))
        result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, timeout=60)
        report = result.stdout + result.stderr
        assert ("CTImage" if modality == "CT" else "MRImage") in report
        assert "Error" not in report, report


def test_files_are_explicit_vr_little_endian(tmp_path: Path) -> None:
    write_studies(tmp_path, 2, instances_per_series=1)
    for path in tmp_path.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.SOPClassUID == (CTImageStorage if ds.Modality == "CT" else MRImageStorage)
        assert path.read_bytes()[128:132] == b"DICM"


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_series_geometry_is_consistent(modality: str) -> None:
    instances = generate_study(2, modality=modality, series_count=3, instances_per_series=6, rows=40, columns=56)
    by_series: dict[str, list[Dataset]] = {}
    for ds in instances:
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ds)
    assert len(by_series) == 3
    assert len({ds.FrameOfReferenceUID for ds in instances}) == 1
    for series in by_series.values():
        assert [int(ds.InstanceNumber) for ds in series] == list(range(1, 7))
        orientation = np.array(series[0].ImageOrientationPatient, dtype=float)
        row, col = orientation[:3], orientation[3:]
        assert np.isclose(row @ col, 0) and np.isclose(np.linalg.norm(row), 1) and np.isclose(np.linalg.norm(col), 1)
        normal = np.cross(row, col)
        positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in series])
        offsets = positions @ normal
        steps = np.diff(offsets)
        assert np.allclose(steps, float(series[0].SliceThickness))
        assert np.allclose(positions[:, :2], positions[0, :2])
        assert np.allclose([float(ds.SliceLocation) for ds in series], offsets)
        spacing = [float(v) for v in series[0].PixelSpacing]
        for ds in series:
            assert [float(v) for v in ds.PixelSpacing] == spacing
            assert ds.pixel_array.shape == (ds.Rows, ds.Columns) == (40, 56)
        # the field of view is centred on the patient axis
        centre = positions[0, :2] + np.array([spacing[1] * 55, spacing[0] * 39]) / 2
        assert np.allclose(centre, 0, atol=1e-3)


def test_ct_pixels_are_hounsfield_after_rescale() -> None:
    ds = generate_study(0, modality="CT", series_count=1, instances_per_series=5, rows=64, columns=64)[2]
    assert ds.pixel_array.dtype == np.int16 and ds.PixelRepresentation == 1
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert hu[0, 0] == -1000  # air in the corner
    assert -100 < hu[32, 32] < 200  # soft tissue in the middle of the body
    assert hu.min() >= -1024 and hu.max() < 1500
    lungs = hu[(hu < -500) & (hu > -950)]
    assert lungs.size > 20


def test_same_patient_position_looks_the_same_in_every_series() -> None:
    """Two series of one study with different matrices sample one phantom: the centre pixel agrees."""
    coarse = generate_study(1, modality="CT", series_count=1, instances_per_series=9, rows=33, columns=33)
    fine = generate_study(1, modality="CT", series_count=1, instances_per_series=9, rows=129, columns=129)
    for a, b in zip(coarse, fine, strict=True):
        assert float(a.ImagePositionPatient[2]) == float(b.ImagePositionPatient[2])
        assert abs(int(a.pixel_array[16, 16]) - int(b.pixel_array[64, 64])) < 30
    # smooth along z: neighbouring slices differ far less than the image's dynamic range
    stack = np.stack([ds.pixel_array.astype(float) for ds in fine])
    assert np.abs(np.diff(stack, axis=0)).mean() < 0.1 * (stack.max() - stack.min())


def test_benchmark_dataset_is_written_once(tmp_path: Path) -> None:
    dataset = benchmark_dataset(tmp_path, studies=4, list_instances=5, big_instances=3, big_matrix=32, stow_studies=1)
    assert dataset.instances == 2 * 20 + 5 + 3
    assert dataset.stow_instances == 40
    big = sorted(dataset.corpus_directory.joinpath("study00003").rglob("*.dcm"))
    assert len(big) == 3
    first = pydicom.dcmread(big[0])
    assert (first.StudyInstanceUID, first.SeriesInstanceUID, first.SOPInstanceUID, first.Rows) == (
        dataset.big_series.study_uid, dataset.big_series.series_uid, dataset.big_series.sop_uid(1), 32)
    stamp = big[0].stat().st_mtime_ns
    again = benchmark_dataset(tmp_path, studies=4, list_instances=5, big_instances=3, big_matrix=32, stow_studies=1)
    assert again == dataset and big[0].stat().st_mtime_ns == stamp
    stow_studies = {pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID
                    for p in dataset.stow_directory.rglob("*.dcm")}
    corpus_studies = {pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID
                      for p in dataset.corpus_directory.rglob("00001.dcm")}
    assert len(stow_studies) == 1 and not stow_studies & corpus_studies


def test_rejects_unknown_modality() -> None:
    with pytest.raises(ValueError, match="modality"):
        generate_study(0, modality="US")
