"""NRRD voxel data decoded within limits: sizes checked first, then one buffer, filled while streaming.

The sender picks what a NRRD header announces, so nothing is allocated from it before it is checked
against the policy (`VoxelLimits.max_bytes`). Compressed data (gzip/zlib, bzip2) is inflated in
pieces of at most `PIECE` bytes straight into a buffer of exactly the announced size: inflation stops
the moment it would pass that size, or when the output outgrows the input by more than
`max_ratio` (a bomb of a few hundred bytes never becomes hundreds of MB). Peak memory is the
announced voxel bytes (<= the policy limit) plus one piece.

    sink = VoxelSink(expected_bytes(sizes, dtype, limits), "gzip", limits)
    for chunk in body: sink.write(chunk)
    voxels = sink.finish()          # uint8 array of exactly the announced size
"""

from __future__ import annotations

import bz2
import math
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..engine.errors import Invalid, TooLarge, Unsupported

PIECE = 1 << 20  # largest piece one inflate call may produce
RATIO_GRACE = 1 << 20  # output below this never counts as a bomb (headers, tiny images)
MAX_SIZE = 1 << 31  # one axis longer than this is absurd (and overflows VTK's int extents)
GZIP = ("gzip", "gz")
BZIP2 = ("bzip2", "bz2")
COMPRESSED = GZIP + BZIP2


@dataclass(frozen=True)
class VoxelLimits:
    """How big one decoded volume may be, and how much compressed data may expand (policy [limits])."""

    max_bytes: int = 4 << 30
    max_ratio: int = 1100


DEFAULT_LIMITS = VoxelLimits()


def expected_bytes(sizes: list[int], itemsize: int, limits: VoxelLimits) -> int:
    """Bytes the header announces; Invalid when absurd, TooLarge above `limits.max_bytes`."""
    if any(size < 1 or size > MAX_SIZE for size in sizes):
        raise Invalid(f"sizes {sizes}: every size must be between 1 and {MAX_SIZE}")
    total = math.prod(sizes) * itemsize  # Python ints: no overflow
    if total >= 1 << 63:
        raise Invalid(f"sizes {sizes}: the voxel count overflows 64 bits")
    if total > limits.max_bytes:
        raise TooLarge(f"the header announces {total} bytes of voxels; this server accepts at most "
                       f"{limits.max_bytes} (limits.max_volume_bytes)")
    return total


def parse_sizes(value: object) -> list[int]:
    """`sizes` as integers; Invalid for '4.5 4 4' or anything not a whole number."""
    values = np.asarray(value).reshape(-1).tolist() if not isinstance(value, str) else value.split()
    sizes = []
    for item in values:
        try:
            number = float(item)
        except (TypeError, ValueError):
            raise Invalid(f"sizes must be whole numbers, got {item!r}") from None
        if not math.isfinite(number) or number != int(number):
            raise Invalid(f"sizes must be whole numbers, got {item!r}")
        sizes.append(int(number))
    return sizes


class _Unpacker(Protocol):
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


class VoxelSink:
    """Takes encoded data in chunks and writes the decoded voxels into one preallocated buffer."""

    def __init__(self, expected: int, encoding: str, limits: VoxelLimits) -> None:
        if encoding not in ("raw", *COMPRESSED):
            raise Unsupported(f"encoding '{encoding}' is not supported here; use raw, gzip or bzip2")
        self.expected = expected
        self.encoding = encoding
        self.limits = limits
        # np.empty leaves the pages untouched: memory grows as data arrives, not at the announced size
        self.buffer = np.empty(expected, dtype=np.uint8)
        self._view = memoryview(self.buffer)
        self.filled = 0
        self.consumed = 0
        self._unpacker: _Unpacker | None = self._new_unpacker()
        self._done = False

    def _new_unpacker(self) -> _Unpacker | None:
        if self.encoding in GZIP:
            return zlib.decompressobj(47)  # gzip or zlib header
        if self.encoding in BZIP2:
            return bz2.BZ2Decompressor()
        return None

    def write(self, chunk: bytes | memoryview) -> None:
        """Decode one chunk of the encoded data (Invalid on corrupt, oversized or bomb-like data)."""
        if not chunk:
            return
        self.consumed += len(chunk)
        if self._unpacker is None:
            self._put(chunk)
            return
        try:
            self._inflate(bytes(chunk))
        except (OSError, EOFError, zlib.error) as exc:
            raise Invalid(f"the compressed data is corrupt: {exc}") from None

    def _inflate(self, data: bytes) -> None:
        while data:
            if self._done:  # a further gzip member or bzip2 stream after the end of the previous one
                self._unpacker, self._done = self._new_unpacker(), False
            unpacker = self._unpacker
            if isinstance(unpacker, bz2.BZ2Decompressor):
                self._put(unpacker.decompress(data, PIECE))
                while not unpacker.needs_input and not unpacker.eof:
                    self._put(unpacker.decompress(b"", PIECE))
                data, self._done = (unpacker.unused_data, True) if unpacker.eof else (b"", False)
            else:
                piece = unpacker.decompress(data, PIECE)
                self._put(piece)
                # more output may be pending even when all input was taken (a piece came back full)
                while (unpacker.unconsumed_tail or len(piece) == PIECE) and not unpacker.eof:  # type: ignore[attr-defined]
                    piece = unpacker.decompress(unpacker.unconsumed_tail, PIECE)  # type: ignore[attr-defined]
                    if not piece:
                        break
                    self._put(piece)
                data, self._done = (unpacker.unused_data, True) if unpacker.eof else (b"", False)  # type: ignore[attr-defined]
            if data and not data.strip(b"\0"):  # zero padding after the last member
                return

    def _put(self, piece: bytes | memoryview) -> None:
        end = self.filled + len(piece)
        if end > self.expected:
            raise Invalid(f"the header does not match the data: it announces {self.expected} bytes of voxels, "
                          "the data holds more")
        self._view[self.filled:end] = piece
        self.filled = end
        if self._unpacker is not None and self.filled > RATIO_GRACE and \
                self.filled > self.limits.max_ratio * self.consumed:
            raise Invalid(f"the compressed data expands more than {self.limits.max_ratio}:1 "
                          "(limits.max_compression_ratio); refused as a decompression bomb")

    def finish(self) -> np.ndarray:
        """The voxel bytes (uint8); Invalid when the data ended before the announced size."""
        if self.filled < self.expected:
            raise Invalid(f"truncated data: the header announces {self.expected} bytes of voxels, "
                          f"the data holds {self.filled}")
        self._view.release()
        return self.buffer
