"""How deeply sequences nest in a DICOM object, found without recursion, so hostile nesting is refused.

pydicom reads sequences recursively (a few stack frames per level), so an object with 1,000 nested
sequences raised RecursionError in ingest, metadata and bulkdata (a 500). Real objects nest a few
levels (structured reports reach perhaps 10); `MAX_SEQUENCE_DEPTH` is far above that and far below
Python's recursion limit. The scan reads element headers only (values are seeked over, never read),
with an explicit stack of open sequences and items; anything it cannot follow (deflated or big
endian transfer syntaxes, inconsistent lengths) is left to pydicom, whose RecursionError the
callers also catch.

Example: a Part-10 file whose ReferencedImageSequence holds 40 nested items raises
`Invalid("sequences are nested deeper than 32 levels (limit of this server)")`.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from pydicom.datadict import dictionary_VR

from ...engine.errors import Invalid

MAX_SEQUENCE_DEPTH = 32
UNDEFINED = 0xFFFFFFFF
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"})
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE_FAMILY = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4", "1.2.840.10008.1.2.5")
TOO_DEEP = f"sequences are nested deeper than {MAX_SEQUENCE_DEPTH} levels (limit of this server)"


def check_depth(fp: BinaryIO, limit: int = MAX_SEQUENCE_DEPTH) -> None:
    """Raise Invalid when sequences in the Part-10 object `fp` nest deeper than `limit` (fp is rewound)."""
    try:
        view = _Reader(fp)
        start, syntax = _dataset_start(view)
        if start is None:
            return
        if syntax == IMPLICIT_LE:
            _scan(view, start, implicit=True, limit=limit)
        elif syntax.startswith(EXPLICIT_LE_FAMILY) and syntax != "1.2.840.10008.1.2.1.99":
            _scan(view, start, implicit=False, limit=limit)
    finally:
        fp.seek(0)


class _Reader:
    """Random access to a seekable file: `view[a:b]` reads only those bytes."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        fp.seek(0, 2)
        self.size = fp.tell()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, span: slice) -> bytes:
        self.fp.seek(span.start)
        return self.fp.read(span.stop - span.start)

    def unpack(self, fmt: str, pos: int) -> tuple[int, ...]:
        return struct.unpack(fmt, self[pos:pos + struct.calcsize(fmt)])


def _dataset_start(view: _Reader) -> tuple[int | None, str]:
    """(offset of the dataset after the file meta group, transfer syntax UID); (None, "") if not Part 10."""
    if len(view) < 132 or view[128:132] != b"DICM":
        return None, ""
    pos, syntax = 132, ""
    while pos + 8 <= len(view):
        group, element = view.unpack("<HH", pos)
        if group != 0x0002:
            return pos, syntax
        _, length, pos = _explicit_header(view, pos)
        if element == 0x0010:
            syntax = view[pos:pos + min(length, 64)].decode("ascii", "replace").strip("\x00 ")
        pos += length
    return None, ""


def _explicit_header(view: _Reader, pos: int) -> tuple[bytes, int, int]:
    """(VR, value length, value offset) of the explicit-VR element header at `pos`."""
    vr = view[pos + 4:pos + 6]
    if vr in LONG_VRS:
        return vr, view.unpack("<I", pos + 8)[0], pos + 12
    return vr, view.unpack("<H", pos + 6)[0], pos + 8


def _scan(view: _Reader, pos: int, *, implicit: bool, limit: int) -> None:
    """Walk element headers; the stack holds (kind, end offset or None for undefined length)."""
    stack: list[tuple[bool, int | None]] = []  # (is a sequence, end offset or None: undefined length)
    sequences = 0
    size = len(view)
    try:
        while pos + 8 <= size:
            while stack and (end := stack[-1][1]) is not None and pos >= end:
                sequences -= stack.pop()[0]
            group, element = view.unpack("<HH", pos)
            if group == 0xFFFE:
                (length,) = view.unpack("<I", pos + 4)
                pos += 8
                if element == 0xE000:
                    stack.append((False, None if length == UNDEFINED else pos + length))
                elif element in (0xE00D, 0xE0DD) and stack:
                    sequences -= stack.pop()[0]
                continue
            if implicit:
                (length,) = view.unpack("<I", pos + 4)
                pos += 8
                is_sequence = length == UNDEFINED or _dictionary_vr(group, element) == "SQ"
            else:
                vr, length, pos = _explicit_header(view, pos)
                is_sequence = vr == b"SQ" or (vr == b"UN" and length == UNDEFINED)
            if is_sequence and (group, element) != (0x7FE0, 0x0010):
                stack.append((True, None if length == UNDEFINED else pos + length))
                sequences += 1
                if sequences > limit:
                    raise Invalid(TOO_DEEP)
                continue
            if length == UNDEFINED:  # encapsulated pixel data: fragments up to the sequence delimiter
                pos = _skip_fragments(view, pos)
                continue
            pos += length
    except struct.error:
        return  # truncated or inconsistent: pydicom decides what it is


def _skip_fragments(view: _Reader, pos: int) -> int:
    while pos + 8 <= len(view):
        group, element, length = view.unpack("<HHI", pos)
        pos += 8
        if (group, element) == (0xFFFE, 0xE0DD):
            return pos
        pos += length
    return pos


def _dictionary_vr(group: int, element: int) -> str:
    try:
        return str(dictionary_VR((group << 16) | element))
    except KeyError:
        return ""
