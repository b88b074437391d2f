"""Conversions keep the instance (formats/dicom/transcode.py), element by element, over pydicom's bundled files.

Contract: a conversion changes the transfer syntax, the pixel encoding and only what the standard ties
to them (Photometric Interpretation YBR* -> RGB, Planar Configuration -> 0, Lossy Image Compression
"01" + method for lossy sources); every UID and every other element is the stored one. `can_convert`
answers True exactly when the conversion then succeeds (for pixels pydicom itself can decode).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom.data
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from slicerweb.engine.errors import NotRepresentable
from slicerweb.formats.dicom.transcode import transcode
from slicerweb.formats.dicom.transfer import BIG_ENDIAN, DEFLATED, LOSSY, UNCOMPRESSED, can_convert

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
RLE, JLS, JLS_NEAR, J2K_LOSSLESS, J2K = ("1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
                                        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91")
NO_ENCODER = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.201", BIG_ENDIAN)
LIMIT = 64 << 20
TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
GROUP_LENGTH = 0x0000
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on the odd bundled files (logged
# in production); pytest's filterwarnings=error would turn each into an exception


def _readable(path: Path) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path)
            str(ds.file_meta.TransferSyntaxUID)
    except Exception:
        return None
    return ds if "TransferSyntaxUID" in ds.file_meta else None


def _bundled() -> list[Path]:
    return sorted(p for p in TEST_FILES.rglob("*") if p.is_file() and p.stat().st_size < (2 << 20)
                  and _readable(p) is not None)


BUNDLED = _bundled()
BY_SYNTAX: dict[str, Path] = {}
for _path in BUNDLED:
    _ds = _readable(_path)
    if _ds is not None and "PixelData" in _ds:
        BY_SYNTAX.setdefault(str(_ds.file_meta.TransferSyntaxUID), _path)


def _quiet_pixels(ds: Dataset) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.pixel_array


def _reference_decodes(ds: Dataset) -> bool:
    try:
        _quiet_pixels(ds)
    except Exception:
        return False
    return True


def _assert_same_instance(source: Dataset, out: Dataset, stored: str, target: str) -> None:
    """Same UIDs; every element equal but what the conversion is allowed to change (implicit VR targets
    lose the VR of private elements pydicom's dictionary does not know: compared by UID only)."""
    assert out.file_meta.TransferSyntaxUID == target
    for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "SOPClassUID"):
        assert out.get(keyword) == source.get(keyword)
    if target == IMPLICIT:
        return
    for keyword in ("MediaStorageSOPInstanceUID", "MediaStorageSOPClassUID"):
        assert out.file_meta.get(keyword) == source.file_meta.get(keyword)
    changed = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for element in source:
            if element.tag.element == GROUP_LENGTH or element.tag == 0x7FE00010:
                continue
            assert element.tag in out, f"{element.keyword or element.tag} was dropped"
            if out[element.tag].value != element.value:
                changed[element.keyword] = (element.value, out[element.tag].value)
        added = {e.keyword for e in out if e.tag not in source and e.tag.element != GROUP_LENGTH}
    photometric = changed.pop("PhotometricInterpretation", None)
    if photometric is not None:
        assert str(photometric[0]).startswith("YBR") and photometric[1] == "RGB", photometric
    planar = changed.pop("PlanarConfiguration", None)
    if planar is not None:
        assert planar[1] == 0
    for keyword in ("LossyImageCompression", "LossyImageCompressionMethod"):
        if keyword in changed or keyword in added:
            assert stored in LOSSY, f"{keyword} changed for a lossless source"
            changed.pop(keyword, None)
            added.discard(keyword)
    if stored in LOSSY:
        assert out.LossyImageCompression == "01"
    assert not changed, changed
    assert not added, added


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_conversion_to_explicit_little_endian_keeps_every_element(path: Path) -> None:
    source = _readable(path)
    assert source is not None
    stored = str(source.file_meta.TransferSyntaxUID)
    target = DEFLATED if stored == EXPLICIT else EXPLICIT  # both keep explicit VRs: comparable element by element
    assert can_convert(stored, target)
    if "PixelData" in source and stored not in UNCOMPRESSED | {DEFLATED} and not _reference_decodes(source):
        with pytest.raises(NotRepresentable, match="cannot be decoded"):
            transcode(path, stored, target, LIMIT)
        return
    out = dcmread(io.BytesIO(transcode(path, stored, target, LIMIT)))
    _assert_same_instance(source, out, stored, target)
    if "PixelData" not in source:
        assert "PixelData" not in out
    elif stored in UNCOMPRESSED | {DEFLATED}:
        assert out.PixelData == source.PixelData  # little endian already: the bytes as stored
    else:
        assert np.array_equal(_quiet_pixels(out), _quiet_pixels(source))


TARGETS = (EXPLICIT, IMPLICIT, DEFLATED, RLE, JLS, JLS_NEAR, J2K_LOSSLESS, J2K, *NO_ENCODER)


@pytest.mark.parametrize("stored", sorted(BY_SYNTAX))
@pytest.mark.parametrize("target", TARGETS)
def test_can_convert_answers_what_transcode_does(stored: str, target: str) -> None:
    path = BY_SYNTAX[stored]
    source = _readable(path)
    assert source is not None
    if not can_convert(stored, target):
        assert target in NO_ENCODER and target != stored
        with pytest.raises(NotRepresentable, match="no codec"):
            transcode(path, stored, target, LIMIT)
        return
    if stored not in UNCOMPRESSED | {DEFLATED} and not _reference_decodes(source):
        pytest.skip(f"{path.name}: pydicom cannot decode it either")
    try:
        data = transcode(path, stored, target, LIMIT)
    except NotRepresentable as exc:  # an encoder may refuse a geometry: 32-bit data, J2K below 32 pixels a side
        assert "installed encoder cannot write" in str(exc)
        assert int(source.BitsAllocated) > 16 or min(int(source.Rows), int(source.Columns)) < 32
        return
    out = dcmread(io.BytesIO(data))
    _assert_same_instance(source, out, stored, target)
    assert np.array_equal(_quiet_pixels(out), _quiet_pixels(source))  # every encoder here is lossless


def test_a_conversion_past_the_limit_is_refused_before_decoding() -> None:
    path = TEST_FILES / "SC_rgb_rle_2frame.dcm"
    with pytest.raises(NotRepresentable, match=r"more than the limit of 1000 \(limits.max_volume_bytes\)"):
        transcode(path, RLE, EXPLICIT, 1000)


def _pixel_data_offset(data: bytes) -> int:
    """Where (7FE0,0010) starts in an Explicit VR Little Endian Part-10 file (its tag and VR bytes)."""
    return max(data.rfind(b"\xe0\x7f\x10\x00OB"), data.rfind(b"\xe0\x7f\x10\x00OW"))


def _with_group_length(path: Path, tmp_path: Path) -> Path:
    ds = dcmread(path)
    ds.add_new(0x00080000, "UL", 0)  # retired, and wrong after any change: dropped by every conversion
    out = tmp_path / path.name
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm", "SC_rgb_rle.dcm"])
def test_decompressing_keeps_the_stored_header_bytes_and_what_follows_the_pixels(name: str, tmp_path: Path) -> None:
    """Decoding an encapsulated object to Explicit VR Little Endian changes only the pixel element: the
    elements before it are the stored bytes (private tags pydicom cannot name included), and so are the
    elements after it (the JPEG-LS file ends with Data Set Trailing Padding)."""
    path = TEST_FILES / name
    stored_bytes = path.read_bytes()
    stored = str(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    out = transcode(path, stored, EXPLICIT, LIMIT)
    meta_end = 132 + 12 + int.from_bytes(stored_bytes[140:144], "little")
    out_meta_end = 132 + 12 + int.from_bytes(out[140:144], "little")
    stored_pixels, out_pixels = _pixel_data_offset(stored_bytes), _pixel_data_offset(out)
    assert out[out_meta_end:out_pixels] == stored_bytes[meta_end:stored_pixels]
    if name == "MR_small_jpeg_ls_lossless.dcm":
        assert 0xFFFCFFFC in dcmread(io.BytesIO(out)) and out.endswith(stored_bytes[-126:])
    # A retired group length in the stored header is still dropped (that header is written element by element).
    with_length = _with_group_length(path, tmp_path)
    assert 0x00080000 not in dcmread(io.BytesIO(transcode(with_length, stored, EXPLICIT, LIMIT)))
