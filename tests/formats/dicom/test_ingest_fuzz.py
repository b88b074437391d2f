"""Fuzzing the DICOM reader of the index (`formats/dicom/fastread.py`, `formats/dicom/ingest.py`): a mutated,
truncated or preamble-less Part-10 object ends in a ParsedInstance with valid UIDs or in `Invalid`
(STOW's failure reason), never another exception; `fastread.read` answers a dataset or None (hand
over to pydicom), never raises; peak memory stays under 64 MiB plus a small multiple of the object."""

from __future__ import annotations

import functools
import io

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from pydicom import Dataset
from pydicom.sequence import Sequence

from audit.known_open import owner_of
from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.errors import Invalid
from slicerweb.formats.dicom import fastread
from slicerweb.formats.dicom.ingest import UID_PATTERN, parse_instance
from tests.fuzzing import MiB, bounded_memory

# pydicom warns (UserWarning) about damaged input and carries on; the server does the same (the
# warnings are logged, not raised), so here they are not failures: exceptions are.
pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::UserWarning")]


def _part10(ds: Dataset, *, preamble: bool = True) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=preamble, implicit_vr=False if not preamble else None,
               little_endian=True if not preamble else None)
    return out.getvalue()


@functools.cache
def _seed() -> bytes:
    return _part10(generate_study(0, series_count=1, instances_per_series=1, rows=8, columns=8)[0])


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    body = bytearray(data)
    for position, kind, value in edits:
        position %= len(body) + 1
        if kind == 0:
            body[position:position + len(value)] = value            # overwrite
        elif kind == 1:
            body[position:position] = value                         # insert
        else:
            del body[position:position + max(1, len(value))]        # delete
    return bytes(body)


EDITS = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 2),
                           st.one_of(st.binary(min_size=1, max_size=8),
                                     st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"SQ\x00\x00",
                                                      b"UN", b"\xe0\x7f\x10\x00", b"\xfe\xff\x00\xe0"]))),
                 min_size=1, max_size=6)
OBJECTS = st.one_of(st.builds(_mutate, st.builds(_seed), EDITS),
                    st.builds(lambda n: _seed()[:n], st.integers(min_value=0, max_value=len(_seed()))),
                    st.binary(max_size=600).map(lambda b: bytes(128) + b"DICM" + b), st.binary(max_size=300))


def _check(data: bytes) -> None:
    try:
        # 64 MiB: pydicom loads dictionaries and codecs lazily on first use (a one-time ~30 MiB seen in the
        # audit run); a parser allocating by what a header claims would take gigabytes.
        with bounded_memory(64 * MiB + 8 * len(data)):
            parsed = parse_instance(io.BytesIO(data))
    except Invalid as exc:
        assert str(exc)
        return
    for uid in (parsed.study_uid, parsed.series_uid, parsed.sop_uid, parsed.sop_class):
        assert UID_PATTERN.match(uid) and len(uid) <= 64
    assert parsed.size == len(data)
    if parsed.pixel_offset is not None and parsed.pixel_length not in (None, -1) and not owner_of(
            "dicom.short_pixel_data"):
        assert parsed.pixel_offset + parsed.pixel_length <= parsed.size, "Pixel Data runs past the end of the file"


@given(OBJECTS)
def test_any_object_is_parsed_or_invalid(data: bytes) -> None:
    note(f"object={data!r}")
    _check(data)


@given(OBJECTS, st.booleans())
def test_fastread_answers_a_dataset_or_none(data: bytes, complete: bool) -> None:
    result = fastread.read(data, complete)
    assert result is None or isinstance(result, fastread.FastDataset)


def _deeply_nested(depth: int) -> bytes:
    """The seed object with a ReferencedSeriesSequence nested `depth` deep (undefined lengths)."""
    ds = generate_study(0, series_count=1, instances_per_series=1, rows=8, columns=8)[0]
    ds.ReferencedSeriesSequence = Sequence([Dataset()])
    data = _part10(ds)
    start, end = b"\xfe\xff\x00\xe0\xff\xff\xff\xff", b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    head, close = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff", b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    written = b"\x08\x00\x15\x11SQ\x00\x00\x08\x00\x00\x00\xfe\xff\x00\xe0\x00\x00\x00\x00"  # one empty item
    assert data.count(written) == 1
    return data.replace(written, (head + start) * (depth + 1) + (end + close) * (depth + 1))


def test_deeply_nested_sequence_is_invalid_or_parsed() -> None:
    if owner := owner_of("dicom.deep_sequence"):
        pytest.skip(f"open, owner: {owner}")
    _check(_deeply_nested(1000))


def test_shallow_nested_sequence_is_parsed() -> None:
    assert parse_instance(io.BytesIO(_deeply_nested(3))).sop_uid  # the builder makes a readable object
