"""Transfer-syntax conversion that keeps the object's identity (PS3.18 §8.7.3.5: same instance, other encoding).

A conversion changes the transfer syntax, the pixel encoding and what the standard ties to them, nothing
else: YBR colour decoded becomes RGB with Planar Configuration 0 (PS3.3 C.7.6.3.1.2), Lossy Image
Compression becomes "01" (with its method) when the stored pixels were lossy (C.7.6.1.1.5), the File
Meta's Transfer Syntax UID names the target. Every UID and every other element is written back as read
(pydicom's `decompress()` would mint a new SOP Instance UID; nothing here generates one). Group Length
elements (gggg,0000) are dropped, as pydicom's writer does: they are retired and would be wrong.

Memory: the header, one decoded frame, and the output, which is refused (`NotRepresentable`, 406)
beyond `limit` decoded bytes before anything is decoded; frames are decoded one at a time from the
file (`decode.py`). Encoding is always lossless (`transfer.ENCODED_LOSSLESSLY`).

    >>> data = transcode(Path("mr_rle.dcm"), "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1", 64 << 20)
    >>> dcmread(BytesIO(data)).SOPInstanceUID == dcmread("mr_rle.dcm").SOPInstanceUID
    True
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.pixels.encoders.base import get_encoder
from pydicom.pixels.utils import pack_bits
from pydicom.uid import UID

from ...engine.dicom_api import IMPLICIT_VR_LITTLE_ENDIAN
from ...engine.errors import NotRepresentable
from .decode import PixelSource, little_endian_bytes
from .transfer import (
    BIG_ENDIAN,
    DEFLATED,
    JPEG_2000,
    JPEG_2000_LOSSLESS,
    JPEG_LS_LOSSLESS,
    JPEG_LS_NEAR_LOSSLESS,
    LOSSY,
    NATIVE_TARGETS,
    UNCOMPRESSED,
    can_convert,
)

COPYABLE = UNCOMPRESSED | {DEFLATED}
"""Stored syntaxes whose raw pixel bytes are already little endian (deflated ones once inflated)."""
ENCODER_FOR = {JPEG_2000: JPEG_2000_LOSSLESS, JPEG_LS_NEAR_LOSSLESS: JPEG_LS_LOSSLESS}
"""A lossless stream is valid in these lossy-capable syntaxes: encode with the lossless encoder."""
SWAPPED_VRS = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
"""Binary VRs whose bytes are stored in the syntax's byte order (PS3.5 7.3): swapped from big endian."""
ITEM, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE0DD
PIXEL_TAGS = {"PixelData": 0x7FE00010, "FloatPixelData": 0x7FE00008, "DoubleFloatPixelData": 0x7FE00009}


def decoded_size(header: Dataset, frames: int) -> int:
    """Bytes of all frames decoded to native pixels (YBR 4:2:2 comes back as full RGB)."""
    try:
        rows, columns = int(header.Rows), int(header.Columns)
        samples, bits = int(header.get("SamplesPerPixel", 1) or 1), int(header.BitsAllocated)
    except (AttributeError, TypeError, ValueError) as exc:
        raise NotRepresentable(f"the Image Pixel module is incomplete ({exc})") from exc
    return -(-rows * columns * samples * bits * frames // 8)


def transcode(path: Path, stored: str, target: str, limit: int) -> bytes:
    """The Part-10 bytes of the object at `path` in `target`; NotRepresentable when it cannot be made."""
    if target == stored:
        return path.read_bytes()
    if not can_convert(stored, target):
        raise NotRepresentable(f"cannot convert pixel data stored as {stored} to transfer syntax {target}: "
                               "no codec for it is installed")
    with PixelSource(path, stored, limit) as source:
        header = source.header
        before = _pixel_module(header)
        if stored == BIG_ENDIAN:
            _swap_binary_values(header)
        pixels = b""
        if source.has_pixels:
            copied = stored in COPYABLE and target in NATIVE_TARGETS
            size = source.value_length if copied else decoded_size(header, source.frame_count)
            if size > limit:
                raise NotRepresentable(f"converting this object would produce {size} bytes of pixel data, more "
                                       f"than the limit of {limit} (limits.max_volume_bytes); transfer-syntax=* "
                                       "serves it as stored")
            pixels = _copied_element(source, target) if copied else _pixel_element(source, header, stored, target)
        tail_offset = _tail_offset(source)
        tail = _tail(source, tail_offset)
        stored_elements = _stored_elements(source, stored, target, before, tail_offset, tail)
        if stored_elements is not None:
            data = stored_elements[0] + pixels + stored_elements[1]
        else:
            data = _written_body(header, pixels, tail, target)
    if target == DEFLATED:
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = packer.compress(data) + packer.flush()
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    meta = FileMetaDataset(header.file_meta)
    meta.TransferSyntaxUID = UID(target)
    write_file_meta_info(out, meta, enforce_standard=False)
    out.write(data)
    return out.getvalue()


def _written_body(header: Dataset, pixels: bytes, tail: Dataset | None, target: str) -> bytes:
    """The data set written element by element in `target`'s encoding (pydicom's writer)."""
    for _ in header.iterall():
        pass  # converts every raw element now, with the encoding it was read in
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, target == IMPLICIT_VR_LITTLE_ENDIAN
    write_dataset(body, header)  # read without its pixel data
    body.write(pixels)
    if tail is not None:
        write_dataset(body, tail)
    return body.getvalue()


def _pixel_module(header: Dataset) -> tuple[object, object]:
    """What a conversion may change in the header besides the lossy flags (compared before and after)."""
    return header.get("PhotometricInterpretation"), header.get("PlanarConfiguration")


def _stored_elements(source: PixelSource, stored: str, target: str, before: tuple[object, object],
                     tail_offset: int | None, tail: Dataset | None) -> tuple[bytes, bytes] | None:
    """The stored bytes of the elements before the pixel data and of those after it, when they are already
    what the writer would produce: both syntaxes Explicit VR Little Endian encodings (every encapsulated one
    is), the conversion changed nothing in the header (no YBR made RGB, no planar change, no lossy flag), no
    group length to drop, and what follows the pixel data (padding, signatures) reads as elements.

    Re-encoding the header element by element in Python was three quarters of a conversion's time (py-spy
    over bench/dicomweb's transcoded rows); copied, the elements are the stored ones by construction.
    None: write them element by element."""
    not_explicit_le = {IMPLICIT_VR_LITTLE_ENDIAN, BIG_ENDIAN, DEFLATED}
    if not source.has_pixels or stored in not_explicit_le or target in not_explicit_le or stored in LOSSY:
        return None
    if _pixel_module(source.header) != before or _has_group_length(source.header):
        return None
    fp = source.fp
    fp.seek(128)
    meta = fp.read(16)
    if meta[:12] != b"DICM\x02\x00\x00\x00UL\x04\x00":
        return None  # no standard File Meta group length to skip the group by
    start = 132 + 12 + struct.unpack("<I", meta[12:16])[0]
    if start > source.element_offset:
        return None
    fp.seek(start)
    header = fp.read(source.element_offset - start)
    if tail_offset is None:
        return header, b""
    if tail is None or _has_group_length(tail):  # trailing garbage (the writer drops it), or a group length
        return None
    fp.seek(tail_offset)
    return header, fp.read()


def _has_group_length(dataset: Dataset) -> bool:
    """Whether a (gggg,0000) element is at the top level (tags only: iterating would convert every element)."""
    return any(tag.element == 0 for tag in list(dataset.keys()))


def _swap_binary_values(header: Dataset) -> None:
    """Big endian -> little endian for OW/OF/OL/OD/OV values (pydicom converts numbers, not these bytes)."""
    for element in header.iterall():
        width = SWAPPED_VRS.get(element.VR)
        if width and isinstance(element.value, bytes) and len(element.value) % width == 0:
            element.value = np.frombuffer(element.value, dtype=f">u{width}").astype(f"<u{width}").tobytes()


def _copied_element(source: PixelSource, target: str) -> bytes:
    """Little-endian raw pixels into another little-endian syntax: the value's bytes as they are."""
    source.fp.seek(source.value_offset)
    value = source.fp.read(source.value_length)
    tag = PIXEL_TAGS[source.pixel_keyword]
    return _element_header(tag, source.pixel_vr, len(value), target) + value


def _pixel_element(source: PixelSource, header: Dataset, stored: str, target: str) -> bytes:
    """The encoded Pixel Data element in `target`; updates `header`'s Image Pixel module to match."""
    frames = source.frame_count
    bits = int(header.BitsAllocated)
    decoded: list[bytes] = []
    arrays: list[np.ndarray] = []
    for array, changes in source.frames(list(range(frames))):
        _apply(header, changes)
        if target in NATIVE_TARGETS:
            if bits == 1:
                arrays.append(array)  # bit-packed frames are not byte aligned: pack them together
            else:
                decoded.append(little_endian_bytes(array, bits))
        else:
            decoded.append(encode_frame(array, header, target))
    if int(header.get("SamplesPerPixel", 1) or 1) > 1:
        header.PlanarConfiguration = 0  # decoders return colour-by-pixel
    if stored in LOSSY:
        _mark_lossy(header, LOSSY[stored])
    tag = PIXEL_TAGS[source.pixel_keyword]
    if target in NATIVE_TARGETS:
        value = pack_bits(np.concatenate([a.ravel() for a in arrays])) if arrays else b"".join(decoded)
        vr = source.pixel_vr if tag != PIXEL_TAGS["PixelData"] else ("OW" if bits > 8 else "OB")
        return _element_header(tag, vr, len(value) + len(value) % 2, target) + value + b"\0" * (len(value) % 2)
    return _element_header(tag, "OB", 0xFFFFFFFF, target) + _encapsulated(decoded)


def encode_frame(array: np.ndarray, header: Dataset, target: str) -> bytes:
    """One decoded frame encoded (losslessly) in the compressed `target`."""
    kwargs: dict[str, Any] = {
        "rows": int(header.Rows), "columns": int(header.Columns),
        "samples_per_pixel": int(header.get("SamplesPerPixel", 1) or 1), "bits_allocated": int(header.BitsAllocated),
        "bits_stored": int(header.get("BitsStored", header.BitsAllocated)),
        "pixel_representation": int(header.get("PixelRepresentation", 0) or 0),
        "photometric_interpretation": str(header.PhotometricInterpretation), "number_of_frames": 1,
        "planar_configuration": 0,
    }
    syntax = ENCODER_FOR.get(target, target)
    if syntax == JPEG_2000_LOSSLESS:
        kwargs["use_mct"] = False  # keep the Photometric Interpretation (RGB stays RGB, not YBR_RCT)
    try:
        return bytes(get_encoder(syntax).encode(array, **kwargs))
    except Exception as exc:  # encoders refuse some geometries (bit depths, signedness) with assorted errors
        raise NotRepresentable(f"the installed encoder cannot write these pixels ({header.BitsAllocated}-bit "
                               f"{header.PhotometricInterpretation}) in transfer syntax {target}") from exc


def _apply(header: Dataset, changes: dict[str, str | int]) -> None:
    if "photometric_interpretation" in changes:
        header.PhotometricInterpretation = str(changes["photometric_interpretation"])


def _mark_lossy(header: Dataset, method: str) -> None:
    """PS3.3 C.7.6.1.1.5: once lossy, always flagged (the ratio is not known here, so it is not invented)."""
    header.LossyImageCompression = "01"
    current = header.get("LossyImageCompressionMethod")
    methods = [] if current is None else [str(m) for m in current] if isinstance(current, MultiValue | list) \
        else [str(current)]
    if method not in methods:
        header.LossyImageCompressionMethod = [*methods, method] if methods else method


def _element_header(tag: int, vr: str, length: int, target: str) -> bytes:
    if target == IMPLICIT_VR_LITTLE_ENDIAN:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length)
    return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), 0, length)


def _encapsulated(frames: list[bytes]) -> bytes:
    """PS3.5 A.4: a Basic Offset Table (empty past 4 GiB), one fragment per frame, the sequence delimiter."""
    items = [frame + b"\0" * (len(frame) % 2) for frame in frames]
    offsets, position = [], 0
    for item in items:
        offsets.append(position)
        position += 8 + len(item)
    table = struct.pack(f"<{len(offsets)}I", *offsets) if position < 1 << 32 else b""
    out = io.BytesIO()
    out.write(_item_header(ITEM, len(table)) + table)
    for item in items:
        out.write(_item_header(ITEM, len(item)))
        out.write(item)
    out.write(_item_header(SEQUENCE_DELIMITER, 0))
    return out.getvalue()


def _item_header(tag: int, length: int) -> bytes:
    """(FFFE,xxxx) as group then element, each little endian (not one 32-bit number), then the length."""
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length)


def _tail_offset(source: PixelSource) -> int | None:
    """Where the elements stored after the pixel data begin (None: no pixel data, or nothing after it)."""
    fp = source.fp
    if not source.has_pixels:
        return None
    if source.encapsulated:
        position = source.value_offset
        while True:
            fp.seek(position)
            head = fp.read(8)
            if len(head) < 8:
                return None
            group, element, length = struct.unpack("<HHI", head)
            position += 8 + (0 if (group << 16 | element) == SEQUENCE_DELIMITER else length)
            if (group << 16 | element) == SEQUENCE_DELIMITER:
                break
    else:
        position = source.value_offset + source.value_length
    fp.seek(position)
    return position if fp.read(8) else None


def _tail(source: PixelSource, position: int | None) -> Dataset | None:
    """Elements stored from `position` (`_tail_offset`) on, read as they are; None when there are none, or
    when the bytes there do not read as elements."""
    if position is None:
        return None
    fp = source.fp
    fp.seek(position)
    syntax = source.header.file_meta.get("TransferSyntaxUID", "")
    try:
        tail = read_dataset(fp, syntax == IMPLICIT_VR_LITTLE_ENDIAN, syntax != BIG_ENDIAN)
    except Exception:  # trailing garbage is not an element the object carries: it is dropped
        return None
    return tail if len(tail) else None
