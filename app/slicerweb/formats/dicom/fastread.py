"""A pydicom-free reader for the common Part-10 layout: explicit VR little endian, no sequences.

Ingest (STOW, import) spends most of its time in `dcmread`. Most objects a PACS sends are plain
explicit-VR little-endian datasets, which this module walks directly in the bytes: it returns the
top-level elements up to the pixel data as pydicom `RawDataElement`s (the same input
`to_json_model`'s fast path takes) and the pixel data header. Anything else (implicit VR, big
endian, deflate, sequences, undefined lengths, unknown VRs, truncation) returns None and the caller
uses pydicom, so the result never differs from `dcmread(stop_before_pixels=True)`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.dataelem import RawDataElement

PREAMBLE = 132
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
PIXEL_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
SHORT_VRS = frozenset({"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH", "SL",
                       "SS", "ST", "TM", "UI", "UL", "US"})
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SV", "UC", "UR", "UT", "UV"})  # no SQ, no UN
NOT_EXPLICIT_LE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})
_HEADER = struct.Struct("<HH2s")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class FastDataset:
    """What `parse_instance` needs from one object."""

    meta: dict[int, RawDataElement]
    elements: dict[int, RawDataElement]
    pixel_tag: int | None
    pixel_vr: str
    pixel_offset: int | None
    pixel_length: int | None
    transfer_syntax: str


def text(element: RawDataElement | None) -> str:
    if element is None or element.value is None:
        return ""
    return bytes(element.value).decode("ascii", "replace").strip(" \x00")


def read(data: bytes | memoryview, complete: bool) -> FastDataset | None:
    """Parse `data` (a whole file when `complete`, else its beginning); None when pydicom must."""
    if len(data) < PREAMBLE or bytes(data[128:132]) != b"DICM":
        return None
    view = memoryview(data)
    meta: dict[int, RawDataElement] = {}
    position = _walk(view, PREAMBLE, meta, group=2)
    if position is None:
        return None
    transfer_syntax = text(meta.get(0x00020010))
    if not transfer_syntax or transfer_syntax in NOT_EXPLICIT_LE:
        return None
    elements: dict[int, RawDataElement] = {}
    end = _walk(view, position, elements, group=None)
    if end is None:
        return None
    if end >= len(view):
        if not complete:
            return None
        return FastDataset(meta, elements, None, "", None, None, transfer_syntax)
    tag = _tag_at(view, end)
    if tag not in PIXEL_TAGS or end + 12 > len(view):
        return None
    vr = bytes(view[end + 4:end + 6]).decode("ascii", "replace")
    if vr not in PIXEL_VRS:
        return None  # e.g. an implicit-VR pixel data header inside an explicit dataset: pydicom decides
    (length,) = _U32.unpack_from(view, end + 8)
    return FastDataset(meta, elements, tag, vr, end + 12, -1 if length == 0xFFFFFFFF else length, transfer_syntax)


def _tag_at(view: memoryview, position: int) -> int:
    group, element = struct.unpack_from("<HH", view, position)
    return (group << 16) | element


def _walk(view: memoryview, position: int, out: dict[int, RawDataElement], group: int | None) -> int | None:
    """Read elements from `position` into `out`: while in `group` (meta), or until the pixel data.

    Returns where it stopped (the end of the data, the first non-meta element, or the pixel data
    element's start); None on anything this reader does not handle."""
    size = len(view)
    last = -1
    while position < size:
        if position + 8 > size:
            return None
        number, element, vr_bytes = _HEADER.unpack_from(view, position)
        tag = (number << 16) | element
        if group is not None and number != group:
            return position
        if tag in PIXEL_TAGS or tag <= last:  # the pixel data; or out of order (pydicom decides)
            return position if tag in PIXEL_TAGS else None
        last = tag
        try:
            vr = vr_bytes.decode("ascii")
        except UnicodeDecodeError:
            return None
        if vr in SHORT_VRS:
            (length,) = _U16.unpack_from(view, position + 6)
            start = position + 8
        elif vr in LONG_VRS:
            if position + 12 > size:
                return None
            (length,) = _U32.unpack_from(view, position + 8)
            if length == 0xFFFFFFFF:
                return None
            start = position + 12
        else:
            return None  # SQ, UN, or not a VR: pydicom
        end = start + length
        if end > size:
            return None
        out[tag] = RawDataElement(tag, vr, length, bytes(view[start:end]), start, False, True)
        position = end
    return position
