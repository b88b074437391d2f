"""multipart/related reading and writing (RFC 2387) as DICOMweb clients frame it.

The reader takes what dicomweb-client and the JS client send (leading CRLF, quoted boundary, no
final CRLF, bodies split at any byte), rejects broken framing with 400, and the writer's output is
parsed back by the body-boundary rules cornerstone uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from slicerweb.dicomweb.multipart import boundary_of, closing, encode, part_head, read_parts
from slicerweb.errors import BadRequest, UnsupportedMediaType


async def chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
async def test_reads_parts_whatever_the_chunking(size: int) -> None:
    body = (b"\r\n--xyz\r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--xyz\r\n"
            b"Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n\r\n\r\n--xy\r\n"
            b"--xyz\r\n\r\nno headers\r\n--xyz--")
    parts = await read_parts(chunks(body, size), "xyz")
    assert [p.data.read() for p in parts] == [b"first", b"\r\n--xy", b"no headers"]
    assert parts[1].content_type.endswith("transfer-syntax=1.2.840.10008.1.2.1")


@pytest.mark.parametrize("body", [
    b"--xyz\r\nContent-Type: application/dicom\r\n\r\ndata without end",
    b"no delimiter at all",
    b"--xyz\r\nbroken header line\r\n\r\ndata\r\n--xyz--",
    b"--xyzGARBAGE\r\n\r\ndata\r\n--xyz--",
])
async def test_broken_framing_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest):
        await read_parts(chunks(body, 5), "xyz")


def test_request_content_type() -> None:
    assert boundary_of('multipart/related; type="application/dicom"; boundary="a b"') == ("a b", "application/dicom")
    with pytest.raises(UnsupportedMediaType):
        boundary_of("application/json")
    with pytest.raises(BadRequest):
        boundary_of("multipart/related; type=application/dicom")


async def test_writer_output_reads_back() -> None:
    body = encode("bnd", [("application/octet-stream", b"\x00\x01"), ("application/octet-stream", b"")])
    assert body.startswith(b"--bnd\r\nContent-Type: application/octet-stream\r\n")
    assert body.endswith(b"\r\n--bnd--\r\n")
    parts = await read_parts(chunks(body, 3), "bnd")
    assert [p.data.read() for p in parts] == [b"\x00\x01", b""]
    assert part_head("b", "image/jpeg").endswith(b"\r\n\r\n") and closing("b") == b"--b--\r\n"
