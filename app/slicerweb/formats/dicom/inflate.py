"""Deflated Explicit VR Little Endian objects (1.2.840.10008.1.2.1.99) as plain explicit little-endian files.

The data set after the File Meta group is one raw deflate stream (PS3.5 A.5). pydicom inflates it whole
in memory; here it is inflated 1 MiB at a time into a spool (memory: 1 MiB, then an anonymous
temporary file), stopping at `limit` bytes, so a deflate bomb costs neither memory nor unbounded disk.
The result is a Part-10 file whose meta says Explicit VR Little Endian: everything that reads raw
pixel data at an offset (ingest, frames, transcoding) then treats it like any other native object.

    >>> with inflated(open("image_dfl.dcm", "rb"), limit=64 << 20) as fp:
    ...     dcmread(fp).file_meta.TransferSyntaxUID
    '1.2.840.10008.1.2.1'
"""

from __future__ import annotations

import tempfile
import zlib
from typing import IO, BinaryIO, cast

from pydicom.filebase import DicomFileLike
from pydicom.filereader import _read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from ...engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN
from ...engine.errors import Invalid
from .reasons import plain_reason

CHUNK = 1 << 20
SPOOL_BYTES = 1 << 20
HEADER_ALLOWANCE = 64 << 20
"""Inflated bytes allowed beyond the pixel data a caller expects (the non-pixel elements)."""


def inflated(fp: BinaryIO, limit: int) -> BinaryIO:
    """A Part-10 spool holding the deflated object in `fp` inflated (Invalid past `limit` bytes or on a
    broken stream); the caller closes it."""
    fp.seek(128)
    if fp.read(4) != b"DICM":
        raise Invalid("a deflated object must be a Part-10 file (preamble and DICM)")
    try:
        meta = _read_file_meta_info(fp)
    except Exception as exc:  # pydicom raises assorted errors on a damaged meta group
        raise Invalid(f"not a readable DICOM Part-10 object: {plain_reason(exc)}") from exc
    meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    out = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115  # handed to the caller, who closes it
    try:
        out.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(DicomFileLike(out), meta, enforce_standard=False)
        _inflate_into(fp, out, limit)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return cast(BinaryIO, out)  # SpooledTemporaryFile is a binary file object


def _inflate_into(fp: BinaryIO, out: IO[bytes], limit: int) -> None:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    written = 0
    try:
        while chunk := fp.read(CHUNK):
            while chunk:
                piece = inflater.decompress(chunk, CHUNK)
                written += len(piece)
                if written > limit:
                    raise Invalid(f"the deflated data set inflates to more than {limit} bytes")
                out.write(piece)
                chunk = inflater.unconsumed_tail
            if inflater.eof:
                break
        piece = inflater.flush()
    except zlib.error as exc:
        raise Invalid("the deflated data set is damaged: it is not a valid deflate stream") from exc
    if written + len(piece) > limit:
        raise Invalid(f"the deflated data set inflates to more than {limit} bytes")
    out.write(piece)
    if not inflater.eof:
        raise Invalid("the deflated data set ends before its deflate stream does: the object is truncated")
