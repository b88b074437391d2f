"""Pixel work on stored files: frames, rendering, bulk data and transfer-syntax conversion.

Uncompressed frames are read with one `os.pread` at the offset the index recorded; everything else
(encapsulated frames, decompression, rendering) goes through pydicom and Pillow. Blocking: call it
from a worker thread. Used by both engines (Slicer's database also keeps Part-10 files on disk).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame

from ...engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, Frame, RenderParams
from ...engine.errors import Invalid, NotFound, Unsupported
from . import nesting
from .instance_row import InstanceRow
from .transfer import UNCOMPRESSED, frame_media_type, native_transfer_syntax

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


def read_frames(path: Path, row: InstanceRow, numbers: list[int], transfer_syntax: str | None) -> list[Frame]:
    """Frames `numbers` (1-based); `transfer_syntax` None = Explicit VR LE, "*" = as stored."""
    _check_frames(row, numbers)
    native = native_transfer_syntax(row.transfer_syntax)
    target = EXPLICIT_VR_LITTLE_ENDIAN if transfer_syntax is None else transfer_syntax
    if target in ("*", native):
        if row.transfer_syntax in UNCOMPRESSED:
            return _raw_frames(path, row, numbers)
        ds = dcmread(path)
        return [Frame(n, get_frame(ds.PixelData, n - 1, number_of_frames=frame_count(row)), native,
                      frame_media_type(native)) for n in numbers]
    if target == EXPLICIT_VR_LITTLE_ENDIAN:
        arrays = _decoded_frames_from(dcmread(path), numbers)
        return [Frame(n, a.tobytes(), target, "application/octet-stream") for n, a in zip(numbers, arrays, strict=True)]
    raise Unsupported(f"cannot provide transfer syntax {target} for an instance stored as {row.transfer_syntax}")


def _raw_frames(path: Path, row: InstanceRow, numbers: list[int]) -> list[Frame]:
    bits = row.bits_allocated or 8
    size = (row.rows or 0) * (row.columns or 0) * (row.samples_per_pixel or 1) * bits // 8
    if size <= 0 or row.pixel_offset is None:
        raise Unsupported("cannot locate frames in this instance (missing Rows/Columns/BitsAllocated)")
    frames = []
    with open(path, "rb") as fh:
        for number in numbers:
            data = os.pread(fh.fileno(), size, row.pixel_offset + (number - 1) * size)
            frames.append(Frame(number, data, EXPLICIT_VR_LITTLE_ENDIAN, "application/octet-stream"))
    return frames


def read_bulkdata(path: Path, row: InstanceRow, tag: int) -> bytes:
    """The raw value of `tag` (the first occurrence, top level first)."""
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


def read_part10(path: Path, row: InstanceRow, transfer_syntax: str) -> bytes:
    """The file's bytes in `transfer_syntax` ("*" = as stored), converting when possible."""
    if transfer_syntax in ("*", row.transfer_syntax):
        return path.read_bytes()
    if transfer_syntax != EXPLICIT_VR_LITTLE_ENDIAN:
        raise Unsupported(f"cannot convert {row.transfer_syntax} to {transfer_syntax}")
    ds = dcmread(path)
    try:
        if row.transfer_syntax not in UNCOMPRESSED:
            ds.decompress()
        ds.file_meta.TransferSyntaxUID = EXPLICIT_VR_LITTLE_ENDIAN
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # codecs raise assorted errors; the client gets 406 via Unsupported
        raise Unsupported(f"cannot convert {row.transfer_syntax} to {transfer_syntax}: {exc}") from exc
    return buffer.getvalue()


def render(path: Path, row: InstanceRow, frame: int, params: RenderParams) -> bytes:
    """Frame `frame` as JPEG or PNG: modality LUT, window (given or stored, else min/max), viewport."""
    _check_frames(row, [frame])
    ds = dcmread(path)
    (pixels,) = _decoded_frames_from(ds, [frame])
    image = Image.fromarray(_to_8bit(ds, pixels, params))
    if params.viewport is not None:
        width, height = params.viewport
        image.thumbnail((max(1, width), max(1, height)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if params.media_type == "image/png":
        image.save(out, "PNG")
    else:
        image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(
            out, "JPEG", quality=params.quality)
    return out.getvalue()


def _decoded_frames_from(ds: Dataset, numbers: list[int]) -> list[np.ndarray]:
    try:
        array = ds.pixel_array
    except Exception as exc:  # missing codec plugins raise assorted errors
        raise Unsupported(f"cannot decode pixel data stored as {ds.file_meta.TransferSyntaxUID}: {exc}") from exc
    if int(ds.get("NumberOfFrames", 1) or 1) == 1:
        return [array]
    return [array[n - 1] for n in numbers]


def _to_8bit(ds: Dataset, pixels: np.ndarray, params: RenderParams) -> np.ndarray:
    if pixels.ndim == 3 and int(ds.get("SamplesPerPixel", 1)) == 3:
        if pixels.dtype == np.uint8:
            return pixels
        return np.clip(pixels / max(1, pixels.max()) * 255.0, 0, 255).astype(np.uint8)
    values = pixels.astype(np.float64) * float(ds.get("RescaleSlope", 1) or 1) + float(
        ds.get("RescaleIntercept", 0) or 0)
    if params.window is not None:
        center, width, function = params.window
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        center, width, function = _first(ds.WindowCenter), _first(ds.WindowWidth), "linear"
    else:
        low, high = float(values.min()), float(values.max())
        center, width, function = (low + high) / 2, max(1.0, high - low), "linear"
    width = max(width, 1.0)
    if function.lower() == "sigmoid":
        scaled = 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    else:
        scaled = np.clip((values - (center - 0.5)) / (width - 1 if width > 1 else 1) + 0.5, 0.0, 1.0)
    out = (scaled * 255.0 + 0.5).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out


def _first(value: object) -> float:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return float(value[0])  # type: ignore[index]
    return float(value)  # type: ignore[arg-type]
