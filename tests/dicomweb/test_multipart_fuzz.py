"""Fuzzing `dicomweb/multipart.py`: a body the writer produced reads back part for part whatever the
chunking; any other body (mutated, truncated, random) ends in parts or a 400, never another
exception, with peak memory bounded by a small multiple of the body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slicerweb.dicomweb import multipart
from slicerweb.errors import ApiError, BadRequest
from tests.fuzzing import MiB, bounded_memory

pytestmark = pytest.mark.fuzz

BOUNDARY_CHARS = st.sampled_from(list("abcXYZ0123456789'()+_,-./:=?"))
BOUNDARIES = st.text(alphabet=BOUNDARY_CHARS, min_size=1, max_size=70)
PART_TYPES = st.sampled_from(["application/dicom", "application/dicom+json", "application/octet-stream", ""])
PAYLOADS = st.one_of(st.binary(max_size=2048), st.sampled_from([b"", b"\r\n", b"--", b"\r\n--", b"\r\n\r\n"]))


async def _chunks(body: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in sorted({c % (len(body) + 1) for c in cuts}):
        yield body[start:cut]
        start = cut
    yield body[start:]


async def _read(body: bytes, boundary: str, cuts: list[int]) -> list[tuple[str, bytes]]:
    parts = await multipart.read_parts(_chunks(body, cuts), boundary)
    try:
        return [(p.content_type, p.data.read()) for p in parts]
    finally:
        for p in parts:
            p.data.close()


@given(BOUNDARIES, st.lists(st.tuples(PART_TYPES.filter(bool), PAYLOADS), max_size=5),
       st.lists(st.integers(min_value=0), max_size=8))
async def test_written_body_reads_back_part_for_part(boundary: str, parts: list[tuple[str, bytes]],
                                                     cuts: list[int]) -> None:
    # A payload containing the delimiter cannot be framed by this boundary: real writers pick another.
    delimiter = ("\r\n--" + boundary).encode("latin-1")
    if any(delimiter in b"\r\n" + data + b"\r\n" for _, data in parts):
        return
    body = multipart.encode(boundary, parts)
    assert await _read(body, boundary, cuts) == parts


def _mutations() -> st.SearchStrategy[bytes]:
    valid = st.builds(lambda parts: multipart.encode("b0undary", parts),
                      st.lists(st.tuples(PART_TYPES.filter(bool), PAYLOADS), max_size=4))

    def mutate(body: bytes, position: int, cut: bool, insert: bytes) -> bytes:
        position %= len(body) + 1
        return body[:position] + insert if cut else body[:position] + insert + body[position:]

    return st.one_of(st.builds(mutate, valid, st.integers(min_value=0), st.booleans(),
                               st.sampled_from([b"", b"\r\n", b"--", b"--b0undary", b"\r\n--b0undary--", b"\x00",
                                                b"Content-Type: x\r\n", b"no-colon\r\n\r\n", b" " * 40])),
                     st.binary(max_size=4096))


@given(_mutations(), st.lists(st.integers(min_value=0), max_size=8))
async def test_any_body_ends_in_parts_or_a_400(body: bytes, cuts: list[int]) -> None:
    try:
        with bounded_memory(4 * len(body) + MiB):
            await _read(body, "b0undary", cuts)
    except BadRequest as exc:
        assert exc.status == 400 and str(exc)


@given(st.text(max_size=200))
def test_any_content_type_gives_a_boundary_or_a_4xx(header: str) -> None:
    try:
        kind, boundary = multipart.boundary_of(header)
    except ApiError as exc:
        assert exc.status in (400, 415) and str(exc)
    else:
        assert boundary and kind
