"""DICOM series -> volume contract: slices sorted along the normal, rescale applied, geometry exact
(LPS in the files, RAS in the scene), whatever order the files come in."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from slicerweb.engine.errors import Invalid
from slicerweb.engine.headless.dicom_series import read_series

ROW = np.array([0.0, 1.0, 0.0])  # an oblique-free sagittal-ish orientation: rows go Posterior
COLUMN = np.array([0.0, 0.0, -1.0])  # columns go Inferior


def write_slice(path, index, pixels, *, slope=1.0, intercept=-1024.0, series=None, study=None):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study or generate_uid(), series or generate_uid()
    ds.Modality, ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber = "CT", 3, "Sagittal", index + 1
    ds.ImageOrientationPatient = [*ROW, *COLUMN]
    normal = np.cross(ROW, COLUMN)
    ds.ImagePositionPatient = list(np.array([10.0, -20.0, 30.0]) + normal * 2.5 * index)
    ds.PixelSpacing = [0.75, 0.5]  # row spacing (j), column spacing (i)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_series_geometry_and_values(tmp_path):
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 3000, size=(4, 3, 5))
    series, study = generate_uid(), generate_uid()
    paths = []
    for index in (2, 0, 3, 1):  # files in scrambled order
        path = tmp_path / f"s{index}.dcm"
        write_slice(path, index, stack[index], series=series, study=study)
        paths.append(path)
    voxels, ijk_to_ras, description, number = read_series(paths)
    assert (description, number) == ("Sagittal", "3")
    assert voxels.dtype == np.int16 and np.array_equal(voxels, stack - 1024)
    normal = np.cross(ROW, COLUMN)
    expected = np.eye(4)
    expected[:3, 0], expected[:3, 1], expected[:3, 2] = ROW * 0.5, COLUMN * 0.75, normal * 2.5
    expected[:3, 3] = (10.0, -20.0, 30.0)
    assert np.allclose(ijk_to_ras, np.diag([-1.0, -1.0, 1.0, 1.0]) @ expected, atol=1e-12)


def test_fractional_rescale_gives_float(tmp_path):
    write_slice(tmp_path / "a.dcm", 0, np.full((2, 2), 10), slope=0.5, intercept=0.25)
    voxels, *_ = read_series([tmp_path / "a.dcm"])
    assert voxels.dtype == np.float32 and voxels[0, 0, 0] == 5.25


def test_non_dicom_is_refused(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"not dicom")
    with pytest.raises(Invalid):
        read_series([tmp_path / "x.dcm"])
