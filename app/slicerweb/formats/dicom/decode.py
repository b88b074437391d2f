"""Decoding stored pixel data one frame at a time, from the file, through pydicom's pixel-data plugins.

`PixelSource` opens a stored object (a deflated one inflated into a spool, `inflate.py`), reads its
header without the pixel data, and hands pydicom's decoder the open file positioned at the Pixel Data
value: pydicom then reads only the bytes of the frames asked for (native: one slice; encapsulated: the
frame's fragments), so memory is one decoded frame however many frames the object declares. YBR
colour comes back as RGB (`changes` says what the decoder changed in the Image Pixel module).

    >>> with PixelSource(Path("ct.dcm"), "1.2.840.10008.1.2.4.90", limit) as source:
    ...     for array, changes in source.frames([0, 1]): ...
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import as_pixel_options, pack_bits
from pydicom.uid import UID

from ...engine.errors import Invalid, NotFound, NotRepresentable
from . import nesting
from .inflate import HEADER_ALLOWANCE, inflated
from .transfer import BIG_ENDIAN, DEFLATED, can_decode

PREFERRED_PLUGINS = {"1.2.840.10008.1.2.4.90": "gdcm", "1.2.840.10008.1.2.4.91": "gdcm"}
"""Where pydicom's default order is not the fastest (bench/codecs: 64 CT frames of 512x512, JPEG 2000
lossless, 2.3 s with gdcm against 6.4 s with pylibjpeg); used only when that plugin is installed."""
PIXEL_KEYWORDS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
UNDEFINED_LENGTH = 0xFFFFFFFF


class PixelSource:
    """One stored object opened for decoding: `header` (every element but the pixel data) and `frames`."""

    def __init__(self, path: Path, transfer_syntax: str, limit: int) -> None:
        """`limit`: the decoded pixel bytes the caller is prepared for (bounds a deflated object's inflation)."""
        self.path = path
        self.transfer_syntax = transfer_syntax
        self._limit = limit
        self._stack = ExitStack()
        self.header = Dataset()
        self.pixel_keyword = ""
        self.pixel_vr = ""
        self.element_offset = 0  # where the pixel data element (its tag) starts
        self.value_offset = 0
        self.value_length = 0
        self.fp: BinaryIO

    def __enter__(self) -> PixelSource:
        try:
            raw = self._stack.enter_context(open(self.path, "rb"))
            self.fp = (self._stack.enter_context(inflated(raw, self._limit + HEADER_ALLOWANCE))
                       if self.transfer_syntax == DEFLATED else raw)
            self._read_header()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stack.close()

    def _read_header(self) -> None:
        nesting.check_depth(self.fp)  # pydicom recurses per sequence level (a file stored before the limit)
        self.fp.seek(0)
        try:
            self.header = dcmread(self.fp, stop_before_pixels=True)
        except RecursionError as exc:
            raise Invalid(nesting.TOO_DEEP) from exc
        except Exception as exc:  # stored objects were parsed at ingest; this is damage since then
            raise NotRepresentable(f"the stored object can no longer be read ({type(exc).__name__})") from exc
        start = self.fp.tell()
        head = self.fp.read(12)
        order = ">" if self.transfer_syntax == BIG_ENDIAN else "<"
        tag = struct.unpack(f"{order}HH", head[:4]) if len(head) >= 8 else (0, 0)
        if (tag[0] << 16 | tag[1]) not in PIXEL_KEYWORDS:
            self.fp.seek(start)
            return  # no pixel data (SR, RT structure sets...): `has_pixels` is False
        self.pixel_keyword = PIXEL_KEYWORDS[tag[0] << 16 | tag[1]]
        self.element_offset = start
        explicit = self.header.file_meta.get("TransferSyntaxUID", "") != "1.2.840.10008.1.2"
        if explicit and head[4:6].isalpha():
            self.pixel_vr = head[4:6].decode("ascii")
            (length,) = struct.unpack(f"{order}I", head[8:12])
            self.value_offset = start + 12
        else:
            self.pixel_vr = "OB" if int(self.header.get("BitsAllocated", 8) or 8) <= 8 else "OW"
            (length,) = struct.unpack(f"{order}I", head[4:8])
            self.value_offset = start + 8
        self.value_length = -1 if length == UNDEFINED_LENGTH else length

    @property
    def has_pixels(self) -> bool:
        return bool(self.pixel_keyword)

    @property
    def encapsulated(self) -> bool:
        return self.value_length < 0

    @property
    def frame_count(self) -> int:
        try:
            return max(1, int(self.header.get("NumberOfFrames", 1) or 1))
        except (TypeError, ValueError):
            return 1

    def options(self) -> dict[str, Any]:
        """pydicom's decoding options for this object (Image Pixel module values, syntax, pixel element)."""
        meta_syntax = UID(str(self.header.file_meta.get("TransferSyntaxUID", "")))
        try:
            opts = as_pixel_options(self.header)
        except Exception as exc:  # missing or contradictory Image Pixel module elements
            raise NotRepresentable(f"the Image Pixel module cannot be decoded ({exc})") from exc
        opts.update(transfer_syntax_uid=meta_syntax, pixel_keyword=self.pixel_keyword, as_rgb=True)
        if self.pixel_keyword == "PixelData" and meta_syntax != "1.2.840.10008.1.2":
            opts["pixel_vr"] = self.pixel_vr
        return opts

    def frames(self, indices: list[int]) -> Iterator[tuple[np.ndarray, dict[str, str | int]]]:
        """Decoded frames `indices` (0-based) with the Image Pixel changes decoding made (e.g. YBR -> RGB)."""
        if not self.has_pixels:
            raise NotFound("the instance has no pixel data")
        if not can_decode(self.transfer_syntax):
            raise NotRepresentable(f"no decoder is installed for pixel data stored as {self.transfer_syntax}")
        opts = self.options()
        decoder = get_decoder(opts["transfer_syntax_uid"])
        preferred = PREFERRED_PLUGINS.get(self.transfer_syntax, "")
        plugins = [preferred, ""] if preferred in decoder.available_plugins else [""]
        for index in indices:
            for attempt, plugin in enumerate(plugins, 1):
                self.fp.seek(self.value_offset)
                try:
                    array, changes = decoder.as_array(self.fp, index=index, decoding_plugin=plugin, **opts)
                    break
                except Exception as exc:  # codecs raise assorted errors on damaged data
                    if attempt == len(plugins):  # the preferred plugin, then pydicom's own order, both failed
                        raise NotRepresentable(
                            f"the pixel data of frame {index + 1} (stored as {self.transfer_syntax}) cannot be "
                            "decoded by the installed codecs: it is damaged, or a variant they do not support; "
                            "transfer-syntax=* serves it as stored") from exc
            yield array, changes


def little_endian_bytes(array: np.ndarray, bits_allocated: int) -> bytes:
    """A decoded frame as native Explicit VR Little Endian pixel bytes (1-bit data packed again)."""
    if bits_allocated == 1:
        return pack_bits(array)
    if array.dtype.itemsize > 1:
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return array.tobytes()
