"""The benchmark-sized DICOM dataset (bench/dicomweb), written once and described by `BenchmarkDataset`.

Layout (default sizes; `--quick` shrinks them):
  studies 0..N-3   regular studies: 2 series x 10 instances of 64², alternating CT and MR
  study N-2        one CT series of 200 instances (128²): the instance-list QIDO target
  study N-1        one CT series of 500 instances (512²): series metadata, frame and retrieve target
  stow/            separate studies (seed 1, so no UID collides) for the STOW ingest measurement
A `complete.json` marker written last makes a half-written directory detectable and re-generated.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .dicom_studies import uid, write_studies, write_study

MARKER = "complete.json"


@dataclass(frozen=True)
class SeriesRef:
    """One CT series of the dataset (seed 0), addressed by the UIDs a DICOMweb client uses."""

    study_index: int
    series_number: int
    instances: int
    rows: int

    @property
    def study_uid(self) -> str:
        return uid(1, "CT", 0, self.study_index)

    @property
    def series_uid(self) -> str:
        return uid(2, "CT", 0, self.study_index, self.series_number)

    def sop_uid(self, instance_number: int) -> str:
        return uid(3, "CT", 0, self.study_index, self.series_number, instance_number)


@dataclass(frozen=True)
class BenchmarkDataset:
    """Where the benchmark data is and which series each measurement targets."""

    directory: Path
    studies: int
    instances: int
    list_series: SeriesRef
    big_series: SeriesRef
    stow_directory: Path
    stow_instances: int

    @property
    def corpus_directory(self) -> Path:
        return self.directory / "corpus"


def benchmark_dataset(directory: Path, *, studies: int = 1000, list_instances: int = 200, big_instances: int = 500,
                      big_matrix: int = 512, stow_studies: int = 10, processes: int = 1) -> BenchmarkDataset:
    """Write the dataset under `directory` unless an identical one is already complete there."""
    if studies < 3:
        raise ValueError("the benchmark dataset needs at least 3 studies")
    directory = Path(directory)
    params = {"studies": studies, "list_instances": list_instances, "big_instances": big_instances,
              "big_matrix": big_matrix, "stow_studies": stow_studies, "version": 2}
    marker = directory / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("params") == params:
        return _describe(directory, json.loads(marker.read_text()))
    if directory.exists():
        shutil.rmtree(directory)
    corpus = directory / "corpus"
    written = write_studies(corpus, studies - 2, processes=processes)
    written += write_study(corpus, studies - 2, modality="CT", series_count=1, instances_per_series=list_instances,
                           rows=128, columns=128)
    written += write_study(corpus, studies - 1, modality="CT", series_count=1, instances_per_series=big_instances,
                           rows=big_matrix, columns=big_matrix)
    stow = write_studies(directory / "stow", stow_studies, seed=1, series_count=2, instances_per_series=20, rows=128,
                         columns=128,
                         processes=processes)
    record = {"params": params, "instances": written, "stow_instances": stow}
    marker.write_text(json.dumps(record, indent=1))
    return _describe(directory, record)


def _describe(directory: Path, record: dict[str, Any]) -> BenchmarkDataset:
    params = record["params"]
    studies = int(params["studies"])
    return BenchmarkDataset(
        directory=directory, studies=studies, instances=int(record["instances"]),
        list_series=SeriesRef(studies - 2, 1, int(params["list_instances"]), 128),
        big_series=SeriesRef(studies - 1, 1, int(params["big_instances"]), int(params["big_matrix"])),
        stow_directory=directory / "stow", stow_instances=int(record["stow_instances"]))


def describe(dataset: BenchmarkDataset) -> dict[str, Any]:
    """A JSON-able summary (for the benchmark's header line)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(dataset).items()}
