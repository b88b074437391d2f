"""Preamble-less datasets wrapped as Part-10 files: same dataset out, bounded memory, garbage refused early."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import pytest
from pydicom import Dataset, dcmread
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.errors import Invalid
from slicerweb.formats.dicom import ingest
from slicerweb.formats.dicom.ingest import parse_instance
from slicerweb.formats.dicom.part10 import as_part10

MB = 1 << 20


def bare_dataset(implicit: bool, frames: int = 1) -> tuple[Dataset, bytes]:
    """A CT dataset (with a sequence) encoded without preamble, DICM or file meta."""
    ds = generate_study(50, series_count=1, instances_per_series=1)[0]
    del ds.file_meta
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator = "T-D0050", "SRT"
    ds.AnatomicRegionSequence = Sequence([item])
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = frames
    ds.PixelData = np.arange(frames * 512 * 512, dtype=np.uint16).tobytes()
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, implicit
    write_dataset(out, ds)
    return ds, out.getvalue()


@pytest.mark.parametrize("implicit", [True, False])
def test_a_bare_dataset_becomes_the_same_dataset_in_a_part10_file(tmp_path: Path, implicit: bool) -> None:
    ds, data = bare_dataset(implicit)
    source = tmp_path / "bare.dcm"
    source.write_bytes(data)
    with open(source, "rb") as fp, as_part10(fp) as wrapped:
        written = wrapped.read()
    assert written[128:132] == b"DICM"
    assert written.endswith(data)  # the dataset's own bytes, unchanged
    read = dcmread(DicomBytesIO(written))
    assert read.file_meta.TransferSyntaxUID == ("1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1")
    assert read.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert read.AnatomicRegionSequence[0].CodeValue == "T-D0050"
    assert read.PixelData == ds.PixelData
    with open(source, "rb") as fp:
        parsed = parse_instance(fp)
    assert parsed.normalized is not None  # the rewritten Part-10 copy, the caller's to close
    with parsed.normalized:
        assert parsed.sop_uid == ds.SOPInstanceUID


def test_wrapping_a_large_bare_dataset_holds_no_copy_of_it_in_memory(tmp_path: Path) -> None:
    _, data = bare_dataset(implicit=False, frames=32)  # 16 MiB of pixels
    source = tmp_path / "bare.dcm"
    source.write_bytes(data)
    del data
    tracemalloc.start()
    try:
        with open(source, "rb") as fp, as_part10(fp):
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB, f"peak {peak / MB:.1f} MiB while wrapping a 16 MiB dataset"


@pytest.mark.parametrize(("data", "reason"), [
    (bytes(4 * MB), r"starts with tag \(0000,0000\), not a dataset element"),        # all zeros
    (b"\x09\x00\x10\x00" + bytes(4 * MB), r"starts with tag \(0009,0010\)"),         # odd group first
    (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100" + bytes(4 * MB), "not a readable DICOM object"),
    (b"\x08\x00\x18\x00UI\x04\x001.2\x00" + b"\x08\x00\x16\x00" * MB, "not a readable DICOM object"),
])
def test_garbage_is_refused_after_a_few_elements(tmp_path: Path, data: bytes, reason: str) -> None:
    """Refused by their first elements; the speed (it used to cost ~0.3 s of CPU per MiB, element by
    element) is measured by `bench/stow_parse.py`."""
    source = tmp_path / "garbage"
    source.write_bytes(data)
    tracemalloc.start()
    try:
        with open(source, "rb") as fp, pytest.raises(Invalid, match=reason):
            as_part10(fp)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MB


def test_a_refused_bare_dataset_leaves_no_open_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Part-10 copy of a dataset that is then refused is closed at once (its temporary file with it)."""
    copies: list[IO[bytes]] = []

    def tracked(fp: BinaryIO) -> IO[bytes]:
        copies.append(as_part10(fp))
        return copies[-1]

    monkeypatch.setattr(ingest, "as_part10", tracked)
    _, data = bare_dataset(implicit=False)
    source = tmp_path / "short.dcm"
    source.write_bytes(data[:-1000])  # Pixel Data shorter than its header says
    with open(source, "rb") as fp, pytest.raises(Invalid):
        parse_instance(fp)
    assert len(copies) == 1 and copies[0].closed
