"""The study OHIF opens in bench/ohif: one CT series of N axial 512² slices, written once and cached.

Made by the project's own generator (`slicerweb.demo.dicom_studies.write_study`: dciodvfy-clean CT
Image Storage, consistent geometry, a smooth phantom), so both servers get the same Part-10 files.
A marker written last makes a half-written directory detectable and re-generated.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from slicerweb.demo.dicom_studies import uid, write_study

MARKER = "complete.json"
STUDY_INDEX = 0


@dataclass(frozen=True)
class BenchStudy:
    """Where the study's files are and what a viewer opens."""

    directory: Path
    slices: int
    matrix: int

    @property
    def study_uid(self) -> str:
        return uid(1, "CT", 0, STUDY_INDEX)

    @property
    def patient_label(self) -> str:
        """The patient name as OHIF's study list shows it ("Family, Given"): the row a reader clicks.

        (Not the description: Orthanc 1.7 ignores a comma-separated includefield, so its list shows none.)
        """
        name = dcmread(next(self.directory.rglob("*.dcm")), stop_before_pixels=True).PatientName
        return f"{name.family_name}, {name.given_name}"

    @property
    def megabytes(self) -> float:
        return sum(p.stat().st_size for p in self.directory.rglob("*.dcm")) / 1e6


def bench_study(directory: Path, *, slices: int, matrix: int) -> BenchStudy:
    """Write the study under `directory` unless an identical one is complete there."""
    directory = directory.resolve()  # the importer runs in another working directory
    params = {"slices": slices, "matrix": matrix, "version": 1}
    marker = directory / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return BenchStudy(directory, slices, matrix)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    written = write_study(directory, STUDY_INDEX, modality="CT", series_count=1, instances_per_series=slices,
                          rows=matrix, columns=matrix)
    if written != slices:
        raise RuntimeError(f"wrote {written} instances, expected {slices}")
    marker.write_text(json.dumps(params))
    return BenchStudy(directory, slices, matrix)
