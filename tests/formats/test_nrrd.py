"""NRRD contract: files and uploads keep voxels and geometry bit-exact; bad uploads are refused clearly.

Geometry is compared as the exact float64 IJK-to-RAS matrix (no tolerance): LPS on disk, RAS in the scene.
"""

from __future__ import annotations

import gzip

import nrrd
import numpy as np
import pytest

from slicerweb.engine.errors import Forbidden, Invalid, Unsupported
from slicerweb.engine.file_access import FileAccess
from slicerweb.formats.nrrd import iter_nrrd, parse_upload, read_nrrd, write_nrrd

DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "float32", "float64")
OBLIQUE = np.array([[-0.8660254037844386, -0.5, 0.0, 12.345678901234567],
                    [0.5, -0.8660254037844386, 0.1, -98.76543210987654],
                    [0.0, 0.0, 2.5000001, 33.3],
                    [0.0, 0.0, 0.0, 1.0]])


def volume(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    values = np.random.default_rng(7).uniform(float(info.min) / 2, float(info.max) / 2, size=shape)
    array = values.astype(dtype)
    array.flat[0], array.flat[-1] = info.min, info.max  # extremes survive too
    return array


def geometry_2d(matrix: np.ndarray) -> np.ndarray:
    """A 2D image's matrix: third column is the unit normal (what a 2D NRRD can describe)."""
    result = matrix.copy()
    normal = np.cross(result[:3, 0], result[:3, 1])
    result[:3, 2] = normal / np.linalg.norm(normal)
    return result


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dimension", [2, 3])
@pytest.mark.parametrize("compress", [False, True])
def test_file_round_trip_is_bit_exact(tmp_path, dtype, dimension, compress):
    shape = (1, 6, 5) if dimension == 2 else (4, 6, 5)
    array = volume(dtype, shape)
    matrix = geometry_2d(OBLIQUE) if dimension == 2 else OBLIQUE
    path = tmp_path / "v.nrrd"
    write_nrrd(path, array, matrix, dimension, compress=compress)
    image = read_nrrd(path)
    assert image.dimension == dimension
    assert image.array.dtype == np.dtype(dtype)
    assert np.array_equal(image.array, array)
    assert np.array_equal(image.ijk_to_ras, matrix)
    assert nrrd.read_header(str(path))["dimension"] == dimension


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dimension", [2, 3])
def test_upload_of_a_written_file_is_bit_exact(dtype, dimension):
    shape = (1, 3, 7) if dimension == 2 else (2, 3, 7)
    array = volume(dtype, shape)
    matrix = geometry_2d(OBLIQUE) if dimension == 2 else OBLIQUE
    body = b"".join(iter_nrrd(array, matrix, dimension))
    parsed, parsed_matrix, parsed_dimension = parse_upload(body, allow_compressed=False)
    assert parsed_dimension == dimension and parsed.dtype == np.dtype(dtype)
    assert np.array_equal(parsed, array) and np.array_equal(parsed_matrix, matrix)


@pytest.mark.parametrize("encoding", ["raw", "gzip", "bzip2", "ascii"])
def test_pynrrd_files_in_every_encoding_give_ras_geometry(tmp_path, encoding):
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    header = {"space": "left-posterior-superior", "encoding": encoding,
              "space directions": np.diag([0.5, 0.75, 2.0]), "space origin": np.array([10.0, 20.0, 30.0])}
    path = tmp_path / "p.nrrd"
    nrrd.write(str(path), array, header, index_order="C")
    image = read_nrrd(path)
    assert np.array_equal(image.array, array)
    expected = np.array([[-0.5, 0, 0, -10.0], [0, -0.75, 0, -20.0], [0, 0, 2.0, 30.0], [0, 0, 0, 1]])
    assert np.array_equal(image.ijk_to_ras, expected)


def test_detached_header_data_outside_the_allowed_roots_is_refused(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (outside / "secret.raw").write_bytes(bytes(8))
    (allowed / "v.nhdr").write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n"
                                    f"data file: {outside / 'secret.raw'}\n\n")
    with pytest.raises(Forbidden):
        read_nrrd(allowed / "v.nhdr", FileAccess((str(allowed),)).check)
    assert read_nrrd(allowed / "v.nhdr").array.shape == (2, 2, 2)


def header(**fields: str) -> bytes:
    values = {"type": "short", "dimension": "3", "space": "left-posterior-superior", "sizes": "2 2 2",
              "space directions": "(1,0,0) (0,1,0) (0,0,1)", "kinds": "domain domain domain",
              "endian": "little", "encoding": "raw", "space origin": "(0,0,0)"}
    values.update({k.replace("_", " "): v for k, v in fields.items()})
    return ("NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in values.items() if v) + "\n").encode()


GOOD_DATA = np.arange(8, dtype="<i2").tobytes()


def test_the_documented_upload_parses():
    array, matrix, dimension = parse_upload(header() + GOOD_DATA, allow_compressed=False)
    assert array.shape == (2, 2, 2) and dimension == 3
    assert np.array_equal(matrix, np.diag([-1.0, -1.0, 1.0, 1.0]))


def test_crlf_headers_parse():
    body = header().replace(b"\n", b"\r\n") + GOOD_DATA
    assert parse_upload(body, allow_compressed=False)[0].shape == (2, 2, 2)


@pytest.mark.parametrize(("body", "error", "words"), [
    (b"P5 2 2 255\n" + bytes(4), Unsupported, "not a NRRD"),
    (header(dimension="4", sizes="2 2 2 1", space_directions="(1,0,0) (0,1,0) (0,0,1) none",
            kinds="domain domain domain list") + GOOD_DATA, Unsupported, "dimension 4"),
    (header(encoding="gzip") + gzip.compress(GOOD_DATA), Unsupported, "compressed"),
    (header(encoding="hex") + GOOD_DATA.hex().encode(), Unsupported, "encoding"),
    (header(endian="big") + GOOD_DATA, Unsupported, "big-endian"),
    (header(endian="") + GOOD_DATA, Invalid, "endian"),
    (header() + GOOD_DATA[:-3], Invalid, "truncated"),
    (header(sizes="2 2 1") + GOOD_DATA, Invalid, "does not match"),
    (header(sizes="2 2") + GOOD_DATA, Invalid, "sizes"),
    (header(type="block") + GOOD_DATA, Unsupported, "pixel type"),
    (header(space_directions="(1,0,0) (2,0,0) (0,0,0)") + GOOD_DATA, Invalid, "degenerate"),
    (header(space_origin="(0,nan,0)") + GOOD_DATA, Invalid, "origin"),
    (header(data_file="/etc/passwd") + b"", Invalid, "detached"),
    (header().replace(b"\n\n", b"\n") + GOOD_DATA, Invalid, "header"),
])
def test_bad_uploads_are_refused_with_a_clear_reason(body, error, words):
    with pytest.raises(error, match=words):
        parse_upload(body, allow_compressed=False)


def test_compressed_upload_when_allowed_is_capped_at_the_announced_size():
    assert parse_upload(header(encoding="gzip") + gzip.compress(GOOD_DATA), allow_compressed=True)[0].size == 8
    bomb = gzip.compress(bytes(10_000_000))
    with pytest.raises(Invalid, match="does not match"):
        parse_upload(header(encoding="gzip") + bomb, allow_compressed=True)
