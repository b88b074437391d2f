"""multipart/related (RFC 2387) for DICOMweb: a streaming writer and a streaming, bounded reader.

Writer framing, as the JS client and cornerstone need it (they read the boundary from the body):

    --b\\r\\nContent-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\\r\\n\\r\\n<part>\\r\\n
    --b\\r\\n...\\r\\n
    --b--\\r\\n

The reader accepts a leading CRLF or preamble, quoted boundaries, empty part headers, transport
padding after a delimiter and a missing final CRLF. The parts of one body are spooled back to back
(memory up to SPOOL_BYTES, then one anonymous temporary file) and handed out as windows onto that
spool, so a STOW body costs at most SPOOL_BYTES of memory whatever its size or number of parts.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

from ..errors import BadRequest, UnsupportedMediaType

# A request's parts stay in memory up to this size in all, then move to an anonymous temporary file:
# 30 parts of 15 MiB cost 1 MiB of memory, not 450 (the per-request bound in policies/README.md).
SPOOL_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 10
READ_BUFFER = 64 << 10  # parsers read parts in small pieces; this spares a seek+read per DICOM element
MAX_PARTS = 100_000


def new_boundary() -> str:
    return uuid.uuid4().hex


def content_type(boundary: str, part_type: str, transfer_syntax: str | None = None) -> str:
    """The response's Content-Type header for a multipart/related body."""
    value = f'multipart/related; type="{part_type}"; boundary={boundary}'
    return value + (f"; transfer-syntax={transfer_syntax}" if transfer_syntax else "")


def part_head(boundary: str, part_type: str, **headers: str) -> bytes:
    """Delimiter and headers of one part (its data and a CRLF follow)."""
    lines = [f"--{boundary}", f"Content-Type: {part_type}"]
    lines += [f"{name.replace('_', '-').title()}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def encode(boundary: str, parts: list[tuple[str, bytes]]) -> bytes:
    """A whole multipart body from (part content type, data) pairs (for small responses)."""
    pieces: list[bytes] = []
    for part_type, data in parts:
        pieces += (part_head(boundary, part_type, content_length=str(len(data))), data, b"\r\n")
    pieces.append(closing(boundary))
    return b"".join(pieces)  # one copy of the (frame-sized) data


@dataclass
class Part:
    """One received part: its Content-Type and its data (a seekable stream positioned at 0)."""

    content_type: str
    data: BinaryIO


def spool() -> BinaryIO:
    """A file-like sink that stays in memory up to SPOOL_BYTES, then moves to an anonymous temp file."""
    # A binary-mode SpooledTemporaryFile is a binary file; typeshed types it only as IO[bytes].
    return cast(BinaryIO, tempfile.SpooledTemporaryFile(SPOOL_BYTES))


class _SharedSpool:
    """One request body's parts, back to back in one spool; closed when its last window closes."""

    def __init__(self) -> None:
        # Closed by release() when the last window closes. Typed concretely for readinto().
        self.file: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(SPOOL_BYTES)  # noqa: SIM115
        self.windows = 0

    def release(self) -> None:
        self.windows -= 1
        if self.windows == 0:
            self.file.close()


class PartWindow(io.RawIOBase):
    """Bytes [start, end) of the shared spool as a read-only, seekable stream of their own."""

    def __init__(self, shared: _SharedSpool, start: int, end: int) -> None:
        super().__init__()
        self._shared, self._start, self._end, self._position = shared, start, end, 0
        shared.windows += 1

    @property
    def name(self) -> str:
        """pydicom's dcmread takes `.name` of any io.BufferedReader (our parts are wrapped in one) as the
        file name; a window has no path of its own, so this names the part instead."""
        return f"<multipart part, bytes {self._start}-{self._end}>"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._end - self._start - self._position)
        if wanted <= 0:
            return 0
        self._shared.file.seek(self._start + self._position)
        got = self._shared.file.readinto(memoryview(buffer)[:wanted])
        self._position += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._end - self._start}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._shared.release()
        super().close()


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """'multipart/related; type="application/dicom"; boundary="b"' -> ('multipart/related', {...})."""
    main, *rest = value.split(";")
    params: dict[str, str] = {}
    for piece in rest:
        name, _, raw = piece.partition("=")
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1]
        params[name.strip().lower()] = raw
    return main.strip().lower(), params


def boundary_of(header: str | None) -> tuple[str, str]:
    """(boundary, type parameter) of a multipart/related request; 415/400 otherwise."""
    media_type, params = parse_content_type(header or "")
    if media_type != "multipart/related":
        raise UnsupportedMediaType("STOW-RS expects Content-Type: multipart/related; type=\"application/dicom\"; "
                                   f"boundary=...; got {media_type or 'none'!r}")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise BadRequest("multipart/related request without a usable boundary parameter")
    return boundary, params.get("type", "application/dicom").lower()


async def read_parts(chunks: AsyncIterable[bytes], boundary: str) -> list[Part]:
    """Split a multipart body into parts; BadRequest when the framing is broken.

    All parts share one spool (memory up to SPOOL_BYTES, then one anonymous temporary file), so a
    body of any number of parts costs at most SPOOL_BYTES of memory and one file descriptor.
    """
    reader = _Reader(chunks.__aiter__(), ("\r\n--" + boundary).encode("latin-1"))
    try:
        return await reader.run()
    except BaseException:
        for part in reader.parts:
            part.data.close()
        reader.shared.file.close()
        raise


class _Reader:
    def __init__(self, chunks: AsyncIterator[bytes], delimiter: bytes) -> None:
        self.chunks = chunks
        self.delimiter = delimiter
        self.buffer = bytearray(b"\r\n")  # so a body starting with the delimiter matches CRLF--b too
        self.parts: list[Part] = []
        self.shared = _SharedSpool()

    async def fill(self) -> None:
        try:
            self.buffer += await self.chunks.__anext__()
        except StopAsyncIteration:
            raise BadRequest("multipart body ended before its closing delimiter") from None

    async def skip_to_delimiter(self, sink: IO[bytes] | None) -> None:
        """Move the data before the next delimiter into `sink`; the search only ever covers the new
        chunk plus the delimiter's length kept from before, so the scan is linear in the body."""
        keep = len(self.delimiter)
        while (index := self.buffer.find(self.delimiter)) < 0:
            if len(self.buffer) > keep:
                if sink is not None:
                    sink.write(memoryview(self.buffer)[:-keep])
                del self.buffer[:-keep]
            await self.fill()
        if sink is not None:
            sink.write(memoryview(self.buffer)[:index])
        del self.buffer[:index + keep]

    async def run(self) -> list[Part]:
        await self.skip_to_delimiter(None)  # preamble
        while True:
            while len(self.buffer) < 2:
                await self.fill()
            if self.buffer[:2] == b"--":
                if not self.parts:
                    self.shared.file.close()
                return self.parts
            while (end := self.buffer.find(b"\r\n")) < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    raise BadRequest("malformed multipart body: no line break after a delimiter")
                await self.fill()
            if self.buffer[:end].strip(b" \t"):
                raise BadRequest("malformed multipart body: text after a delimiter")
            del self.buffer[:end + 2]
            headers = await self.headers()
            if len(self.parts) >= MAX_PARTS:
                raise BadRequest(f"more than {MAX_PARTS} parts in one request")
            start = self.shared.file.tell()
            await self.skip_to_delimiter(self.shared.file)
            window = PartWindow(self.shared, start, self.shared.file.tell())
            self.parts.append(Part(headers.get("content-type", ""), io.BufferedReader(window, READ_BUFFER)))

    async def headers(self) -> dict[str, str]:
        while not self.buffer.startswith(b"\r\n") and (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise BadRequest("malformed multipart body: part headers too long or unterminated")
            await self.fill()
        if self.buffer.startswith(b"\r\n"):
            del self.buffer[:2]
            return {}
        block = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[:end + 4]
        headers = {}
        for line in block.split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest(f"malformed multipart part header {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        return headers
