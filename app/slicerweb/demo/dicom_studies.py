"""Deterministic, realistic CT/MR studies for the demo, the tests and the benchmark.

`generate_study(index, ...)` returns the instances of one study as pydicom Datasets: CT Image or
MR Image Storage with every mandatory module (patient, general study, general series, frame of
reference, general equipment, general acquisition, general image, image plane, image pixel, CT/MR
image, VOI LUT, SOP common), axial geometry that is consistent across slices and series, and a
smooth phantom (`phantom.py`) as pixel data. The same (index, seed, options) always give the same
bytes: UIDs are `UID_ROOT` plus numbers, names and dates come from fixed tables, nothing is random.

`demo_instances()` is the content of `slicerweb serve --demo` (studies 0 and 1, CT and MR, as Part-10 files).

`write_studies(directory, count, ...)` writes studies 0..count-1 as Explicit VR Little Endian Part-10
files, `<directory>/study<index>/series<n>/<instance>.dcm`. It builds one template per series and
varies only the per-instance elements (optionally over several processes), so it scales to 1,000
studies and 100k instances.
"""

from __future__ import annotations

import copy
import datetime
import io
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from pydicom import Dataset, dcmwrite
from pydicom.dataset import FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, CTImageStorage, ExplicitVRLittleEndian, MRImageStorage

from .phantom import CT_HU, MR_SIGNAL, SliceGrid

# pydicom's root for generated UIDs; SlicerWeb's synthetic objects add <kind>.<modality>.<seed>.<index>...
UID_ROOT = "1.2.826.0.1.3680043.8.498."
MODALITIES = {"CT": 1, "MR": 2}
SOP_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage}

FAMILY_NAMES = ("Doe", "Smith", "Garcia", "Müller", "Nguyen", "Rossi", "Kowalski", "Okafor", "Tanaka", "Larsen",
                "Dubois", "Silva", "O'Brien", "Novak", "Haddad", "Johansson", "Moreau", "Ivanova", "Khan", "Kim")
GIVEN_NAMES = (("Jane", "F"), ("John", "M"), ("Maria", "F"), ("Ahmed", "M"), ("Mei", "F"), ("Lukas", "M"),
               ("Aisha", "F"), ("Pierre", "M"), ("Sofia", "F"), ("Kenji", "M"), ("Elena", "F"), ("Tomasz", "M"))
MIDDLE_NAMES = ("", "", "A", "", "Marie", "", "J", "")
REFERRING = ("House^Gregory^^Dr^", "Grey^Meredith^^^MD", "Watson^John^H^Dr^", "Quinn^Michaela^^^",
             "Kildare^James^^Dr^", "")
CT_STUDIES = (("CT CHEST W CONTRAST", "CHEST"), ("CT ABDOMEN PELVIS", "ABDOMEN"), ("CT THORAX LOW DOSE", "CHEST"),
              ("CT CHEST ABDOMEN", "CHEST"))
MR_STUDIES = (("MR THORAX", "CHEST"), ("MR CARDIAC MORPHOLOGY", "HEART"), ("MR SPINE THORACIC", "TSPINE"))
# (description, thickness mm, kernel, window centre, window width)
CT_SERIES = (("Axial Soft Tissue", 2.5, "STANDARD", 40, 400), ("Axial Lung", 1.25, "LUNG", -600, 1500),
             ("Axial Bone", 1.25, "BONE", 400, 1800), ("Axial Mediastinum", 5.0, "SOFT", 50, 350))
# (description, weighting, TR ms, TE ms, thickness mm)
MR_SERIES = (("T1 AX", "T1", 550.0, 12.0, 4.0), ("T2 AX", "T2", 4200.0, 95.0, 4.0), ("PD AX", "PD", 2500.0, 20.0, 3.0))
EPOCH = datetime.date(2019, 1, 7)


def uid(kind: int, modality: str, seed: int, *numbers: int) -> str:
    """A stable UID: root, object kind (1 study, 2 series, 3 instance, 4 frame of reference), modality, seed, path."""
    return UID_ROOT + ".".join(str(n) for n in (kind, MODALITIES[modality], seed, *numbers))


@dataclass(frozen=True)
class SeriesPlan:
    """Everything that is constant across the instances of one series."""

    template: Dataset
    grid: SliceGrid
    values: np.ndarray
    texture: float
    count: int
    thickness: float
    z0: float
    origin: tuple[float, float]


def generate_study(index: int, *, modality: str = "CT", series_count: int = 2, instances_per_series: int = 10,
                   rows: int = 64, columns: int = 64, seed: int = 0) -> list[Dataset]:
    """The instances of study `index` (series by series, slices in InstanceNumber order)."""
    return list(_instances(index, modality=modality, series_count=series_count,
                           instances_per_series=instances_per_series, rows=rows, columns=columns, seed=seed,
                           independent=True))


def demo_instances() -> list[BinaryIO]:
    """The DICOM content of `slicerweb serve --demo`: a CT and an MR study (2 series x 10 slices each) as
    Part-10 files in memory, for `HeadlessEngine(demo_studies=demo_instances)`."""
    files: list[BinaryIO] = []
    for index, modality in ((0, "CT"), (1, "MR")):
        for ds in generate_study(index, modality=modality):
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            files.append(buffer)
    return files


def write_studies(directory: Path, count: int, *, start: int = 0, processes: int = 1, **kwargs: Any) -> int:
    """Write studies start..start+count-1 under `directory`; returns the number of instances written.

    `kwargs` go to `generate_study`; without `modality`, even studies are CT and odd ones MR.
    `processes > 1` spreads the studies over worker processes.
    """
    directory = Path(directory)
    indices = range(start, start + count)
    if processes <= 1 or count < 2:
        return sum(write_study(directory, i, **kwargs) for i in indices)
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_write_chunk, directory, list(indices[p::processes]), kwargs) for p in range(processes)]
        return sum(f.result() for f in futures)


def write_study(directory: Path, index: int, **kwargs: Any) -> int:
    """Write one study under `directory/study<index>`; returns its number of instances."""
    if "modality" not in kwargs:
        kwargs["modality"] = "CT" if index % 2 == 0 else "MR"
    written = 0
    study_dir = Path(directory) / f"study{index:05d}"
    for ds in _instances(index, independent=False, **kwargs):
        series_dir = study_dir / f"series{int(ds.SeriesNumber):02d}"
        if written == 0 or ds.InstanceNumber == 1:
            series_dir.mkdir(parents=True, exist_ok=True)
        dcmwrite(series_dir / f"{int(ds.InstanceNumber):05d}.dcm", ds, enforce_file_format=True)
        written += 1
    return written


def _write_chunk(directory: Path, indices: list[int], kwargs: dict[str, Any]) -> int:
    return sum(write_study(directory, i, **dict(kwargs)) for i in indices)


def _instances(index: int, *, modality: str = "CT", series_count: int = 2, instances_per_series: int = 10,
               rows: int = 64, columns: int = 64, seed: int = 0, independent: bool) -> Iterator[Dataset]:
    """Yield the instances; with `independent=False` they share the template's (read-only) elements."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {sorted(MODALITIES)}, not {modality!r}")
    if series_count < 1 or instances_per_series < 1 or rows < 8 or columns < 8:
        raise ValueError("need at least one series, one instance and an 8x8 matrix")
    study = _study_template(index, modality, seed)
    for s in range(series_count):
        plan = _series_plan(study, index, s, modality, seed, instances_per_series, rows, columns)
        for i in range(instances_per_series):
            yield _instance(plan, index, s, i, modality, seed, independent)


def _study_template(index: int, modality: str, seed: int) -> Dataset:
    patient = index // 2 + seed * 100_003
    family = FAMILY_NAMES[patient % len(FAMILY_NAMES)]
    given, sex = GIVEN_NAMES[(patient // len(FAMILY_NAMES)) % len(GIVEN_NAMES)]
    middle = MIDDLE_NAMES[(patient // 7) % len(MIDDLE_NAMES)]
    study_date = EPOCH + datetime.timedelta(days=(index * 37 + seed * 11) % 1461)
    birth = datetime.date(1938 + patient * 7 % 62, 1 + patient % 12, 1 + patient * 5 % 28)
    studies = CT_STUDIES if modality == "CT" else MR_STUDIES
    description, body_part = studies[(index // 2 + seed) % len(studies)]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.StudyTime = f"{7 + index % 11:02d}{index * 7 % 60:02d}{index * 13 % 60:02d}"
    ds.AccessionNumber = f"A{seed % 100:02d}{index:07d}"
    ds.Modality = modality
    ds.Manufacturer = "SlicerWeb Synthetic"
    ds.InstitutionName = "SlicerWeb Demo Hospital"
    ds.ReferringPhysicianName = REFERRING[(index + seed) % len(REFERRING)]
    ds.StationName = f"{modality}SCAN{1 + index % 3}"
    ds.StudyDescription = description
    ds.ManufacturerModelName = "Phantom " + modality
    ds.PatientName = f"{family}^{given}^{middle}^^"
    ds.PatientID = f"SW{seed % 1000:03d}{patient:06d}"
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    ds.PatientSex = sex
    ds.BodyPartExamined = body_part
    ds.StudyInstanceUID = uid(1, modality, seed, index)
    ds.StudyID = f"{index + 1}"
    ds.FrameOfReferenceUID = uid(4, modality, seed, index)
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    return ds


def _series_plan(study: Dataset, index: int, s: int, modality: str, seed: int, count: int, rows: int,
                 columns: int) -> SeriesPlan:
    ds = Dataset()
    ds.update(study)
    fov = 360.0 if modality == "CT" else 320.0
    spacing = round(fov / max(rows, columns), 6)
    # DS values hold at most 16 characters: keep positions to 0.1 µm
    origin = (round(-spacing * (columns - 1) / 2.0, 4), round(-spacing * (rows - 1) / 2.0, 4))
    minutes = 2 + 4 * s
    series_time = f"{int(study.StudyTime[:2]):02d}{(int(study.StudyTime[2:4]) + minutes) % 60:02d}00"
    ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study.StudyDate
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = series_time
    ds.SeriesInstanceUID = uid(2, modality, seed, index, s + 1)
    ds.SeriesNumber = s + 1
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [spacing, spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = 16
    if modality == "CT":
        description, thickness, kernel, center, width = CT_SERIES[s % len(CT_SERIES)]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = 120
        ds.ConvolutionKernel = kernel
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        values, texture = (CT_HU + 1024).astype(np.int16), 12.0
    else:
        description, weighting, tr, te, thickness = MR_SERIES[s % len(MR_SERIES)]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "NONE", ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = tr, te, 1 if weighting == "T1" else 16
        ds.MagneticFieldStrength = 1.5
        ds.ImagedNucleus = "1H"
        ds.SpacingBetweenSlices = thickness
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        values, texture = MR_SIGNAL[weighting], 40.0
        center, width = int(values.max()) // 2, int(values.max())
    tables = len(CT_SERIES) if modality == "CT" else len(MR_SERIES)
    ds.SeriesDescription = description if s < tables else f"{description} {s + 1}"
    ds.SliceThickness = thickness
    ds.WindowCenter, ds.WindowWidth = center, width
    ds.WindowCenterWidthExplanation = "DEFAULT"
    grid = SliceGrid.axial(rows, columns, spacing, *origin)
    z0 = round(-thickness * (count - 1) / 2.0, 4)
    return SeriesPlan(template=ds, grid=grid, values=values, texture=texture, count=count, thickness=thickness,
                      z0=z0, origin=origin)


def _instance(plan: SeriesPlan, index: int, s: int, i: int, modality: str, seed: int, independent: bool) -> Dataset:
    sop_uid = uid(3, modality, seed, index, s + 1, i + 1)
    z = round(plan.z0 + i * plan.thickness, 4)
    if independent:
        ds = copy.deepcopy(plan.template)
    else:
        ds = Dataset()
        ds.update(plan.template)
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = i + 1
    ds.ImagePositionPatient = [plan.origin[0], plan.origin[1], z]
    ds.SliceLocation = z
    ds.PixelData = plan.grid.sample(z, plan.values, plan.texture).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "SLICERWEB_GEN"
    ds.file_meta = meta
    return ds
