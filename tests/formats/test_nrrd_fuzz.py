"""Fuzzing `formats/nrrd.py` (`parse_upload`, the `POST /slicer/volume` reader): any body
ends in a volume whose voxel count matches its header and whose geometry is finite and invertible,
or in an engine error (400/413/415), never another exception; peak memory stays under a bound set by
the body and a fixed allowance, never by the sizes the header claims."""

from __future__ import annotations

import bz2
import functools
import gzip
import re

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from audit.known_open import owner_of
from slicerweb.engine.errors import EngineError
from slicerweb.formats.nrrd import parse_upload
from slicerweb.formats.voxels import DEFAULT_LIMITS, VoxelLimits
from tests.fuzzing import MiB, bounded_memory

pytestmark = pytest.mark.fuzz

ALLOWANCE = 32 * MiB  # fixed working memory per upload on top of a few copies of the body
TYPES = st.sampled_from(["short", "uint8", "float", "double", "int64", "unsigned long long", "block", "int", "x"])
NUMBER = st.one_of(st.integers(min_value=-3, max_value=6).map(str),
                   st.sampled_from(["4.5", "1e308", "-0", "nan", "inf", "99999999999", "2147483648", "0x10", ""]))
VECTOR = st.lists(st.sampled_from(["1", "0", "0.5", "-1", "1e308", "nan", "1e-320"]), min_size=1, max_size=4).map(
    lambda xs: "(" + ",".join(xs) + ")")


@st.composite
def nrrd_bodies(draw: st.DrawFn) -> bytes:
    """A NRRD upload, mostly well-formed: plausible fields with hostile values, then a payload."""
    dimension = draw(st.sampled_from([2, 3, 3, 4, 1]))
    sizes = draw(st.lists(st.integers(min_value=0, max_value=9), min_size=dimension, max_size=dimension))
    dtype = draw(TYPES)
    fields = {"type": dtype, "dimension": str(dimension), "sizes": " ".join(map(str, sizes)),
              "encoding": draw(st.sampled_from(["raw", "gzip", "bzip2", "ascii", "hex"])),
              "endian": draw(st.sampled_from(["little", "big", ""])),
              "space": draw(st.sampled_from(["left-posterior-superior", "RAS", "LAS", "scanner-xyz", ""])),
              "space directions": " ".join(draw(VECTOR) for _ in range(draw(st.integers(0, 4)))),
              "space origin": draw(VECTOR), "kinds": " ".join(draw(st.sampled_from(["domain", "vector", "space"]))
                                                               for _ in range(dimension))}
    for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=3)):
        fields[name] = draw(st.one_of(NUMBER, st.text(alphabet="abc 012()", max_size=12)))
    for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=2)):
        del fields[name]
    extra = draw(st.sampled_from(["", "line skip: 1\n", "data file: /etc/passwd\n", "byte skip: -1\n"]))
    header = "NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + extra + "\n"
    try:
        voxels = int(np.prod(sizes)) * (np.dtype({"float": "f4", "double": "f8", "short": "i2", "int": "i4"}
                                                 .get(dtype, "u1")).itemsize)
    except TypeError:
        voxels = 0
    data = draw(st.one_of(st.just(bytes(voxels)), st.binary(max_size=64)))
    if fields.get("encoding") == "gzip" and draw(st.booleans()):
        data = gzip.compress(data)
    elif fields.get("encoding") == "bzip2" and draw(st.booleans()):
        data = bz2.compress(data)
    return header.encode("latin-1") + data


@functools.cache
def _bomb(encoding: str) -> bytes:
    """A few kB that inflate to 64 MiB of zeros, announced as such by the header."""
    data = bytes(64 * MiB)
    packed = gzip.compress(data) if encoding == "gzip" else bz2.compress(data)
    return f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1024 1024 64\nencoding: {encoding}\n\n".encode() + packed


BODIES = st.one_of(nrrd_bodies(), st.binary(max_size=512).map(lambda b: b"NRRD0004\n" + b),
                   st.binary(max_size=256))


def _check(body: bytes, allow_compressed: bool) -> None:
    note(f"body={body!r}")
    try:
        with bounded_memory(ALLOWANCE + 4 * len(body)):
            array, ijk_to_ras, dimension = parse_upload(body, allow_compressed=allow_compressed)
    except EngineError as exc:
        assert str(exc)
        return
    _check_volume(array, ijk_to_ras, dimension)


def _check_volume(array: np.ndarray, ijk_to_ras: np.ndarray, dimension: int) -> None:
    assert dimension in (2, 3) and array.ndim == 3 and array.size > 0
    assert np.isfinite(ijk_to_ras).all() and np.isfinite(np.linalg.inv(ijk_to_ras)).all()


@given(BODIES, st.booleans())
def test_any_body_ends_in_a_volume_or_an_engine_error(body: bytes, allow_compressed: bool) -> None:
    if owner_of("nrrd.non_integer_sizes"):
        assume(not re.search(rb"\nsizes:[^\n]*[.eEn]", body))
    _check(body, allow_compressed)


@pytest.mark.parametrize(("encoding", "limits", "refused_by"), [
    # ~1000:1 is honest gzip: only the size limit stops it; a few dozen bytes of bzip2 for 64 MiB are over the ratio
    ("gzip", VoxelLimits(max_bytes=16 * MiB), "limits.max_volume_bytes"),
    ("bzip2", VoxelLimits(max_bytes=16 * MiB), "limits.max_volume_bytes"),
    ("bzip2", DEFAULT_LIMITS, "expands more than 1100:1"),
])
def test_decompression_bomb_is_refused_within_the_bound(encoding: str, limits: VoxelLimits,
                                                        refused_by: str) -> None:
    """The policy's limits, not the header's announced size, bound what a compressed body may cost."""
    if owner := owner_of(f"nrrd.{encoding}_bomb"):
        pytest.skip(f"open, owner: {owner}")
    body = _bomb(encoding)
    with pytest.raises(EngineError) as refused, bounded_memory(ALLOWANCE + 4 * len(body)):
        parse_upload(body, allow_compressed=True, limits=limits)
    assert refused_by in str(refused.value)
