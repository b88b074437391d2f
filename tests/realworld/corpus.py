"""A mixed real-world DICOM corpus: the composite objects bundled with pydicom's own test data.

Every transfer syntax those files cover (implicit/explicit little endian, big endian, deflated, RLE,
JPEG baseline/extended/lossless, JPEG-LS lossless and near-lossless, JPEG 2000 lossless and lossy;
HTJ2K when a newer pydicom bundles one), single and multi-frame, palette colour, YBR, RGB,
MONOCHROME1, SEG, RT (dose, plan; the structure set has no File Meta header), SR, ECG waveform, and
three objects without a File Meta header. Only the local files are used (`get_testdata_files()`
never downloads).

Several files are the same instance in different transfer syntaxes (the nine `MR_small*`, the
`rtdose*` and `SC_rgb_rle*` families share a SOP Instance UID). A store keeps one object per UID, so
every copy after the first gets a new SOP Instance UID of the same length, substituted in the raw
bytes: every element length and every other byte stays as the file has it (the deflated file is
unique, so no compressed bytes are ever patched).

Left out, with the reason: `SKIPPED` (pydicom cannot read them or they are not composite instances)
and `BROKEN` (objects whose pixel data is shorter than the header says: STOW must refuse them).
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom.data
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
# pydicom's DICOMDIR test tree: fifty stripped copies (no pixel data) and 28 small explicit-VR CT/MR slices
# like CT_small.dcm; only its three MONOCHROME1 CRs add something, the rest would only add time.
DICOMDIR_TESTS = "dicomdirtests/"
KEPT_FROM_DICOMDIR_TESTS = "dicomdirtests/77654033/CR"
BROKEN = {
    "MR_truncated.dcm": "Pixel Data shorter than Rows x Columns x Bits Allocated declares",
    "rtplan_truncated.dcm": "the file ends inside an element",
    "badVR.dcm": "Number of Frames is '1A' (not an IS): the pixel data cannot be split into frames",
}
NOT_DICOM_SUFFIXES = {".txt", ".json", ".icc", ".dump", ".gz"}
COMPOSITE_KEYS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
BIG_ENDIAN = "1.2.840.10008.1.2.2"


@dataclass(frozen=True)
class CorpusObject:
    """One object as a test needs it: the bytes to send and what a correct answer holds."""

    name: str                 # path under pydicom's test_files
    path: Path
    data: bytes               # the file's bytes (SOP Instance UID substituted for a repeated instance)
    transfer_syntax: str      # as stored; for a file without File Meta, the syntax pydicom found
    has_file_meta: bool
    has_pixels: bool
    frames: int               # 0 without pixel data
    photometric: str          # "" without pixel data
    modality: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    sop_uid: str
    renamed_from: str = ""    # the original SOP Instance UID when `data` has a substituted one

    @property
    def instance_path(self) -> str:
        """The WADO-RS path of this object below the DICOMweb root."""
        return f"studies/{self.study_uid}/series/{self.series_uid}/instances/{self.sop_uid}"

    def dataset(self) -> Dataset:
        """The object as pydicom reads it (a fresh copy per call: callers may decode pixels)."""
        return parse(self.data)


def parse(data: bytes) -> Dataset:
    """Read DICOM bytes as pydicom does, quietly: real-world files carry values pydicom warns about
    (over-long UIDs, implicit VR where explicit was announced), and tests run with warnings as errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dcmread(io.BytesIO(data), force=True)


def _read(path: Path) -> Dataset | str:
    """The dataset, or why it is skipped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = dcmread(path, force=True)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            return f"pydicom cannot read it: {type(exc).__name__}"
    if not all(key in ds for key in COMPOSITE_KEYS):
        return "not a composite instance (no SOP Class, SOP Instance, Study or Series UID)"
    return ds


def _found_syntax(ds: Dataset) -> str:
    meta_syntax = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta else None
    if meta_syntax:
        return str(meta_syntax)
    if ds.is_little_endian:
        return IMPLICIT if ds.is_implicit_VR else EXPLICIT
    return BIG_ENDIAN


def _substitute(uid: str, copy: int) -> str:
    """A new UID of the same length: its last four digits become 9 and the copy number in digits 1-9
    (no zero, so no component can gain a leading zero)."""
    tail = "9" + "".join(str(1 + (copy // 9 ** power) % 9) for power in (2, 1, 0))
    digits = list(uid)
    positions = [i for i, char in enumerate(digits) if char.isdigit()][-len(tail):]
    for position, digit in zip(positions, tail, strict=True):
        digits[position] = digit
    new = "".join(digits)
    if new == uid:
        raise ValueError(f"cannot substitute {uid}")
    return new


def _objects() -> Iterator[CorpusObject | tuple[str, str]]:
    seen: dict[str, int] = {}
    for file in sorted(pydicom.data.get_testdata_files()):
        path = Path(file)
        name = path.relative_to(TEST_FILES).as_posix()
        redundant = name.startswith(DICOMDIR_TESTS) and not name.startswith(KEPT_FROM_DICOMDIR_TESTS)
        if path.is_dir() or redundant or name in BROKEN:
            continue
        if path.suffix in NOT_DICOM_SUFFIXES or path.name.startswith("README"):
            yield name, "not a DICOM file"
            continue
        ds = _read(path)
        if isinstance(ds, str):
            yield name, ds
            continue
        data, sop_uid, renamed_from = path.read_bytes(), str(ds.SOPInstanceUID), ""
        copies = seen.get(sop_uid, 0)
        seen[sop_uid] = copies + 1
        if copies:
            renamed_from, sop_uid = sop_uid, _substitute(sop_uid, copies)
            data = data.replace(renamed_from.encode(), sop_uid.encode())
            ds = parse(data)  # the UID may be used elsewhere too (e.g. Study UID)
        pixels = "PixelData" in ds
        yield CorpusObject(
            name=name, path=path, data=data, transfer_syntax=_found_syntax(ds),
            has_file_meta="TransferSyntaxUID" in getattr(ds, "file_meta", ()), has_pixels=pixels,
            frames=int(ds.get("NumberOfFrames") or 1) if pixels else 0,
            photometric=str(ds.get("PhotometricInterpretation", "")) if pixels else "",
            modality=str(ds.get("Modality", "")), sop_class_uid=str(ds.SOPClassUID),
            study_uid=str(ds.StudyInstanceUID), series_uid=str(ds.SeriesInstanceUID), sop_uid=sop_uid,
            renamed_from=renamed_from)


@functools.cache
def _built() -> tuple[tuple[CorpusObject, ...], tuple[tuple[str, str], ...]]:
    objects: list[CorpusObject] = []
    skipped: list[tuple[str, str]] = []
    for item in _objects():
        if isinstance(item, CorpusObject):
            objects.append(item)
        else:
            skipped.append(item)
    return tuple(objects), tuple(skipped)


def corpus() -> tuple[CorpusObject, ...]:
    """Every object of the corpus, in file-name order."""
    return _built()[0]


def skipped() -> dict[str, str]:
    """Files of pydicom's test data left out of the corpus -> why (unreadable or not an instance)."""
    return dict(_built()[1]) | {name: f"broken: {why}" for name, why in BROKEN.items()}


def broken(name: str) -> bytes:
    """The bytes of one of the `BROKEN` files (for refusal tests)."""
    if name not in BROKEN:
        raise KeyError(name)
    return (TEST_FILES / name).read_bytes()
