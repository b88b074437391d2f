"""Pixel Data against the geometry its header declares, checked before an object is stored.

A native (uncompressed) Pixel Data value must hold Rows x Columns x SamplesPerPixel x
BitsAllocated/8 x NumberOfFrames bytes; an encapsulated one must be a well-formed item sequence
that ends inside the object, with at least one fragment per frame. Geometry whose decoded size is
beyond `max_pixel_bytes` is refused whatever the bytes, since decoding it would allocate that much.
Only item headers are read (8 bytes each, from the file), never the pixel data itself.

    >>> check(fp, 4_000, {"n_rows": 64, "n_columns": 64, "bits_allocated": 16, ...}, EXPLICIT, 1_366, 2_634)
    Refused: Pixel Data holds 2634 bytes, shorter than the 8192 its geometry declares (64 x 64 x ...)
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

from ...engine.dicom_api import FAILURE_CANNOT_UNDERSTAND, FAILURE_DATASET_MISMATCH
from ...engine.errors import Invalid

DEFAULT_MAX_PIXEL_BYTES = 4 << 30
"""Decoded pixel bytes one object may declare (as `limits.upload_max_body_bytes` by default)."""
MAX_FRAGMENTS = 1_000_000
"""Encapsulated items walked at most (each costs a read; a legitimate object has a few per frame)."""
ITEM = 0xFFFEE000
SEQUENCE_DELIMITER = 0xFFFEE0DD
DEFLATED = "1.2.840.10008.1.2.1.99"  # offsets refer to the inflated stream: not checkable in the file
_ITEM_HEADER = struct.Struct("<HHI")


class Refused(Invalid):
    """A DICOM object that reads, but whose content we refuse to store; `failure_reason` is PS3.18's."""

    def __init__(self, failure_reason: int, message: str) -> None:
        super().__init__(message)
        self.failure_reason = failure_reason
        self.instance: tuple[str, str, str, str] = ("", "", "", "")
        """(SOP class, SOP instance, study, series) UIDs, once the caller knows them."""


def check(fp: BinaryIO, size: int, instance: dict[str, Any], transfer_syntax: str, offset: int | None,
          length: int | None, max_pixel_bytes: int = DEFAULT_MAX_PIXEL_BYTES, photometric: str = "") -> None:
    """Refused unless the Pixel Data at `offset` (`length` -1: encapsulated) matches `instance`'s geometry."""
    if offset is None or length is None:
        return  # no pixel data: nothing to check
    rows, columns = instance.get("n_rows"), instance.get("n_columns")
    bits, samples = instance.get("bits_allocated"), instance.get("samples_per_pixel") or 1
    frames = instance.get("number_of_frames")
    frames = 1 if frames is None else frames
    for name, value in (("Rows", rows), ("Columns", columns), ("BitsAllocated", bits)):
        if value is None or value < 1:
            raise Refused(FAILURE_DATASET_MISMATCH, f"the object has Pixel Data but {name} is "
                          f"{'missing' if value is None else value}")
    if frames < 1:
        raise Refused(FAILURE_DATASET_MISMATCH, f"NumberOfFrames is {frames}")
    if not 1 <= samples <= 4 or bits > 64 or (bits != 1 and bits % 8):
        raise Refused(FAILURE_DATASET_MISMATCH, f"SamplesPerPixel {samples} / BitsAllocated {bits} is not an "
                      "image geometry")
    stored_samples = 2 if photometric == "YBR_FULL_422" and length >= 0 else samples  # PS3.3 C.7.6.3.1.2:
    # native 4:2:2 stores two luminance and two chroma values per pair of pixels
    declared = -(-rows * columns * stored_samples * bits * frames // 8)
    geometry = f"{rows} x {columns} x {stored_samples} sample(s) x {bits} bits x {frames} frame(s)"
    if declared > max_pixel_bytes:
        raise Refused(FAILURE_DATASET_MISMATCH, f"the geometry declares {declared} bytes of pixel data "
                      f"({geometry}), more than the limit of {max_pixel_bytes}")
    if transfer_syntax == DEFLATED:
        return
    if length >= 0:
        if offset + length > size:
            raise Refused(FAILURE_CANNOT_UNDERSTAND, f"the Pixel Data element runs past the end of the object "
                          f"({length} bytes announced, {max(0, size - offset)} present): the object is truncated")
        if length < declared:
            raise Refused(FAILURE_DATASET_MISMATCH, f"Pixel Data holds {length} bytes, shorter than the "
                          f"{declared} its geometry declares ({geometry})")
        return
    fragments = _count_fragments(fp, offset, size)
    if fragments < frames:
        raise Refused(FAILURE_DATASET_MISMATCH, f"NumberOfFrames is {frames} but the encapsulated Pixel Data "
                      f"holds only {fragments} fragment(s)")


def _count_fragments(fp: BinaryIO, position: int, size: int) -> int:
    """Fragments of the item sequence at `position` (the Basic Offset Table item not counted)."""
    items = 0
    while True:
        if position + 8 > size:
            raise Refused(FAILURE_CANNOT_UNDERSTAND, "the encapsulated Pixel Data runs past the end of the "
                          "object (no sequence delimiter): the object is truncated")
        fp.seek(position)
        group, element, length = _ITEM_HEADER.unpack(fp.read(8))
        tag = (group << 16) | element
        if tag == SEQUENCE_DELIMITER:
            return max(0, items - 1)
        if tag != ITEM:
            raise Refused(FAILURE_CANNOT_UNDERSTAND, f"the encapsulated Pixel Data holds a ({group:04X},"
                          f"{element:04X}) element where an item belongs")
        position += 8 + length
        if position > size:
            raise Refused(FAILURE_CANNOT_UNDERSTAND, f"an encapsulated Pixel Data item of {length} bytes runs "
                          "past the end of the object: the object is truncated")
        items += 1
        if items > MAX_FRAGMENTS:
            raise Refused(FAILURE_DATASET_MISMATCH, f"the encapsulated Pixel Data holds more than "
                          f"{MAX_FRAGMENTS} fragments")
