"""Wrapping a preamble-less DICOM dataset as a Part-10 file, streamed, in bounded memory and CPU.

dicomweb-client's `store_instances` sends datasets without the 128-byte preamble and `DICM`. Only
the elements before Pixel Data are parsed (to learn the encoding and the SOP UIDs); the output is a
preamble, `DICM`, a new file meta group, then the dataset's own bytes copied unchanged, through a
spool that moves to an anonymous temporary file past `SPOOL_BYTES`. So memory is the header
elements plus 1 MiB whatever the part's size, and garbage is refused after a few elements: a
dataset's top-level tags ascend, so a run of zero bytes (read as (0000,0000) elements) stops at once
instead of costing ~0.3 s of CPU per MiB.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Callable
from typing import IO, BinaryIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filereader import _read_file_meta_info, read_dataset
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID
from pydicom.values import converters

from ...engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from ...engine.errors import Invalid

SPOOL_BYTES = 1 << 20
COPY_BYTES = 1 << 20
PIXEL_GROUP = 0x7FE00000
UNSUPPORTED_SYNTAXES = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2")  # deflated, big endian


def as_part10(fp: BinaryIO) -> IO[bytes]:
    """A Part-10 file holding the preamble-less dataset in `fp` (Invalid if it is not one)."""
    fp.seek(0)
    head = fp.read(8)
    if len(head) < 8:
        raise Invalid("not a readable DICOM object: fewer than 8 bytes")
    group = struct.unpack("<H", head[:2])[0]
    if group == 0x0000 or group % 2:
        raise Invalid(f"not a readable DICOM object: it starts with tag ({group:04X},"
                      f"{struct.unpack('<H', head[2:4])[0]:04X}), not a dataset element")
    fp.seek(0)
    try:
        meta = _read_file_meta_info(fp) if group == 0x0002 else FileMetaDataset()
        start = fp.tell()
        syntax = str(meta.get("TransferSyntaxUID", "")) or _guess_syntax(fp)
        if syntax in UNSUPPORTED_SYNTAXES:
            raise Invalid(f"datasets in transfer syntax {syntax} must be sent as Part-10 files")
        fp.seek(start)
        ds = read_dataset(fp, syntax == IMPLICIT_VR_LITTLE_ENDIAN, True, stop_when=_top_level_header(),
                          defer_size=COPY_BYTES)
        sop_class, sop_instance = str(ds.SOPClassUID), str(ds.SOPInstanceUID)
    except Invalid:
        raise
    except Exception as exc:  # anything pydicom raises on garbage means: not a DICOM object
        raise Invalid(f"not a readable DICOM object: {type(exc).__name__}: {exc}") from exc
    return _write(fp, start, _file_meta(meta, syntax, sop_class, sop_instance))


def _guess_syntax(fp: BinaryIO) -> str:
    """Explicit VR when the first element carries a known VR after its tag (as pydicom guesses)."""
    fp.read(4)
    vr = fp.read(2)
    return EXPLICIT_VR_LITTLE_ENDIAN if vr.isalpha() and vr.decode("ascii") in converters else IMPLICIT_VR_LITTLE_ENDIAN


def _top_level_header() -> Callable[[BaseTag, str | None, int], bool]:
    """A read_dataset `stop_when`: stop at Pixel Data, or at a tag not above the previous one."""
    last = -1

    def stop(tag: BaseTag, vr: str | None, length: int) -> bool:
        nonlocal last
        if tag >= PIXEL_GROUP or tag <= last:
            return True
        last = tag
        return False

    return stop


def _file_meta(meta: Dataset, syntax: str, sop_class: str, sop_instance: str) -> FileMetaDataset:
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = sop_class
    file_meta.MediaStorageSOPInstanceUID = sop_instance
    file_meta.TransferSyntaxUID = syntax
    file_meta.ImplementationClassUID = str(meta.get("ImplementationClassUID", "")) or PYDICOM_IMPLEMENTATION_UID
    return file_meta


def _write(fp: BinaryIO, start: int, file_meta: FileMetaDataset) -> IO[bytes]:
    out = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115  # handed to the caller, who closes it
    try:
        out.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(DicomFileLike(out), file_meta, enforce_standard=True)
        fp.seek(start)
        shutil.copyfileobj(fp, out, COPY_BYTES)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out
