"""Pixel work on stored files: frames, rendering, bulk data and transfer-syntax conversion.

Uncompressed little-endian frames are read with one `os.pread` at the offset the index recorded;
everything else goes through `decode.PixelSource` (one frame at a time, big endian and deflated
included), `transcode.py` (conversions that keep the instance's identity) and `rendering.py`.
`limit` is the policy's `limits.max_volume_bytes`: the decoded bytes one conversion may produce. Blocking: call it
from a worker thread. Used by both engines (Slicer's database also keeps Part-10 files on disk).
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

from PIL import Image
from pydicom import dcmread
from pydicom.encaps import get_frame

from ...engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, Frame, RenderParams
from ...engine.errors import Invalid, NotFound, NotRepresentable
from ..voxels import DEFAULT_LIMITS
from . import nesting
from .decode import PixelSource, little_endian_bytes
from .instance_row import InstanceRow
from .rendering import to_display
from .transcode import encode_frame, transcode
from .transfer import BIG_ENDIAN, DEFLATED, UNCOMPRESSED, can_convert, frame_media_type, native_transfer_syntax

PIXEL_DATA = 0x7FE00010


def is_raw(row: InstanceRow) -> bool:
    """Uncompressed little-endian pixel data at a known offset (frames are plain byte ranges)."""
    return row.transfer_syntax in UNCOMPRESSED and row.pixel_offset is not None


def frame_count(row: InstanceRow) -> int:
    return max(1, row.number_of_frames or 1)


def _check_frames(row: InstanceRow, numbers: list[int]) -> None:
    if row.pixel_offset is None:
        raise NotFound(f"instance {row.sop_uid} has no pixel data")
    count = frame_count(row)
    for number in numbers:
        if not 1 <= number <= count:
            raise NotFound(f"frame {number} does not exist (instance {row.sop_uid} has {count})")


def read_frames(path: Path, row: InstanceRow, numbers: list[int], transfer_syntax: str | None,
                limit: int = DEFAULT_LIMITS.max_bytes) -> list[Frame]:
    """Frames `numbers` (1-based); `transfer_syntax` None = Explicit VR LE, "*" = as stored (raw pixels of
    any native syntax are served little endian). Decoded one frame at a time; NotRepresentable (406) when
    the frames cannot be decoded or encoded."""
    _check_frames(row, numbers)
    native = native_transfer_syntax(row.transfer_syntax)
    target = native if transfer_syntax == "*" else transfer_syntax or EXPLICIT_VR_LITTLE_ENDIAN
    if target == EXPLICIT_VR_LITTLE_ENDIAN and is_raw(row):
        return _raw_frames(path, row, numbers)
    if target != native and not can_convert(row.transfer_syntax, target):
        raise NotRepresentable(f"cannot provide transfer syntax {target} for frames stored as {row.transfer_syntax}")
    with PixelSource(path, row.transfer_syntax, limit) as source:
        if target == native and target != EXPLICIT_VR_LITTLE_ENDIAN:  # encapsulated, as stored
            source.fp.seek(source.value_offset)
            return [Frame(n, _stored_frame(source, n), native, frame_media_type(native)) for n in numbers]
        bits = int(source.header.get("BitsAllocated", 8) or 8)
        frames = []
        for n, (array, _changes) in zip(numbers, source.frames([n - 1 for n in numbers]), strict=True):
            data = little_endian_bytes(array, bits) if target == EXPLICIT_VR_LITTLE_ENDIAN \
                else encode_frame(array, source.header, target)
            frames.append(Frame(n, data, target, frame_media_type(target)))
        return frames


def _stored_frame(source: PixelSource, number: int) -> bytes:
    """Frame `number`'s encapsulated bytes, read fragment by fragment from the file."""
    try:
        return bytes(get_frame(source.fp, number - 1, number_of_frames=source.frame_count))
    except (ValueError, OSError, struct.error) as exc:
        raise NotRepresentable(f"frame {number} cannot be cut from the stored pixel data ({exc})") from exc


def _raw_frames(path: Path, row: InstanceRow, numbers: list[int]) -> list[Frame]:
    bits = row.bits_allocated or 8
    size = (row.rows or 0) * (row.columns or 0) * (row.samples_per_pixel or 1) * bits // 8
    if size <= 0 or row.pixel_offset is None:
        raise NotRepresentable("cannot locate frames in this instance (missing Rows/Columns/BitsAllocated)")
    frames = []
    with open(path, "rb") as fh:
        for number in numbers:
            data = os.pread(fh.fileno(), size, row.pixel_offset + (number - 1) * size)
            frames.append(Frame(number, data, EXPLICIT_VR_LITTLE_ENDIAN, "application/octet-stream"))
    return frames


def read_bulkdata(path: Path, row: InstanceRow, tag: int, limit: int = DEFAULT_LIMITS.max_bytes) -> bytes:
    """The raw value of `tag` (the first occurrence, top level first); Pixel Data of big-endian and
    deflated objects as little endian (PS3.18: bulk data's default syntax is Explicit VR Little Endian)."""
    if tag == PIXEL_DATA and row.transfer_syntax in (BIG_ENDIAN, DEFLATED) and row.pixel_offset is not None:
        return b"".join(f.data for f in read_frames(path, row, list(range(1, frame_count(row) + 1)), None, limit))
    if tag == PIXEL_DATA and row.pixel_offset is not None and row.pixel_length is not None \
            and row.pixel_length >= 0:
        with open(path, "rb") as fh:
            return os.pread(fh.fileno(), row.pixel_length, row.pixel_offset)
    with open(path, "rb") as fh:
        nesting.check_depth(fh)  # pydicom recurses per sequence level (a file from before the limit)
    try:
        ds = dcmread(path)
        element = ds.get(tag) if tag in ds else next((e for e in ds.iterall() if e.tag == tag), None)
    except RecursionError as exc:
        raise Invalid(nesting.TOO_DEEP) from exc
    if element is None or not isinstance(element.value, bytes | bytearray):
        raise NotFound(f"instance {row.sop_uid} has no bulk data element {tag:08X}")
    return bytes(element.value)


def read_part10(path: Path, row: InstanceRow, transfer_syntax: str, limit: int = DEFAULT_LIMITS.max_bytes) -> bytes:
    """The file's bytes in `transfer_syntax` ("*" = as stored), converted keeping its identity (`transcode`)."""
    if transfer_syntax in ("*", row.transfer_syntax):
        return path.read_bytes()
    return transcode(path, row.transfer_syntax, transfer_syntax, limit)


def render(path: Path, row: InstanceRow, frame: int, params: RenderParams,
           limit: int = DEFAULT_LIMITS.max_bytes) -> bytes:
    """Frame `frame` as JPEG or PNG (`rendering.to_display`: colour, LUTs, window), fitted into the viewport."""
    _check_frames(row, [frame])
    with PixelSource(path, row.transfer_syntax, limit) as source:
        ((array, changes),) = list(source.frames([frame - 1]))
        image = Image.fromarray(to_display(source.header, array, changes, params))
    if params.viewport is not None:
        width, height = params.viewport
        image.thumbnail((max(1, width), max(1, height)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if params.media_type == "image/png":
        image.save(out, "PNG")
    else:
        image.save(out, "JPEG", quality=params.quality)
    return out.getvalue()
