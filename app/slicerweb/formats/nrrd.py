"""NRRD reading and writing with exact geometry (pynrrd for headers and file encodings).

Arrays are `[k, j, i]` (pynrrd `index_order="C"`); geometry is a 4x4 IJK-to-RAS matrix. Files are
written in LPS, as Slicer writes them: directions and origin with x and y negated, every number
with `repr` so a read gives back the very same float64 values.

    NRRD0004
    type: int16
    dimension: 3
    space: left-posterior-superior
    sizes: 256 256 130
    space directions: (-1.0,0.0,0.0) (0.0,-1.0,0.0) (0.0,0.0,1.3)
    kinds: domain domain domain
    endian: little
    encoding: raw
    space origin: (86.64489746093749,-133.92860412597656,116.78569793701172)

`parse_upload` is the strict reader for `POST /volume` bodies: every field is checked against the
data before anything reaches the scene (Invalid -> 400, Unsupported -> 415).
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import nrrd
import numpy as np

from ..engine.errors import Invalid, Unsupported
from .voxels import COMPRESSED, DEFAULT_LIMITS, VoxelLimits, VoxelSink, expected_bytes, parse_sizes

# numpy dtype -> canonical NRRD type name
NRRD_TYPES: dict[str, str] = {
    "int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16", "int32": "int32",
    "uint32": "uint32", "int64": "int64", "uint64": "uint64", "float32": "float", "float64": "double",
}
# every NRRD type spelling -> numpy dtype name
TYPE_ALIASES: dict[str, str] = {
    **{k: k for k in NRRD_TYPES},
    "signed char": "int8", "int8_t": "int8", "uchar": "uint8", "unsigned char": "uint8", "uint8_t": "uint8",
    "short": "int16", "short int": "int16", "signed short": "int16", "signed short int": "int16",
    "int16_t": "int16", "ushort": "uint16", "unsigned short": "uint16", "unsigned short int": "uint16",
    "uint16_t": "uint16", "int": "int32", "signed int": "int32", "int32_t": "int32", "uint": "uint32",
    "unsigned int": "uint32", "uint32_t": "uint32", "longlong": "int64", "long long": "int64",
    "long long int": "int64", "signed long long": "int64", "signed long long int": "int64",
    "int64_t": "int64", "ulonglong": "uint64", "unsigned long long": "uint64",
    "unsigned long long int": "uint64", "uint64_t": "uint64", "float": "float32", "double": "float64",
}
LPS_SPACES = ("left-posterior-superior", "lps")
RAS_SPACES = ("right-anterior-superior", "ras")
LPS_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])
CHUNK = 1 << 20
MAX_COORDINATE = 1e9  # mm (1,000 km): far beyond any scanner, far below float overflow
MAX_HEADER_BYTES = 1 << 20  # a NRRD header with every optional field is a few KB
MAX_HEADER_LINE = 64 << 10
ASCII_BYTES_PER_VALUE = 32  # an ascii-encoded value longer than this is not a number


@dataclass(frozen=True, eq=False)
class NrrdImage:
    """Voxels `[k, j, i]` (plus trailing component axes), IJK-to-RAS, spatial dimension, header."""

    array: np.ndarray
    ijk_to_ras: np.ndarray
    dimension: int
    header: dict[str, Any]


def _float(value: float) -> str:
    return repr(float(value) + 0.0)  # + 0.0 turns -0.0 into 0.0


def _vector(values: Any) -> str:
    return "(" + ",".join(_float(v) for v in values) + ")"


def nrrd_header(array: np.ndarray, ijk_to_ras: np.ndarray, dimension: int = 3, *, encoding: str = "raw",
                component_kind: str | None = None, fields: dict[str, str] | None = None) -> bytes:
    """The header for `array[k, j, i(, c)]`; `component_kind` (e.g. "vector") adds a leading axis."""
    spatial = array.shape[:3] if array.ndim >= 3 else array.shape
    sizes = list(reversed(spatial))[:dimension]
    if dimension == 2 and len(sizes) == 3:
        sizes = sizes[:2]
    lps = LPS_FLIP @ ijk_to_ras
    directions = [_vector(lps[:3, axis]) for axis in range(dimension)]
    kinds = ["domain"] * dimension
    if component_kind is not None:
        sizes = [array.shape[-1], *sizes]
        directions = ["none", *directions]
        kinds = [component_kind, *kinds]
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {NRRD_TYPES[array.dtype.name]}",
        f"dimension: {len(sizes)}",
        "space: left-posterior-superior",
        "sizes: " + " ".join(str(s) for s in sizes),
        "space directions: " + " ".join(directions),
        "kinds: " + " ".join(kinds),
        "endian: little",
        f"encoding: {encoding}",
        "space origin: " + _vector(lps[:3, 3]),
    ]
    lines += [f"{key}:={value}" for key, value in (fields or {}).items()]
    return ("\n".join(lines) + "\n\n").encode("ascii")


def little_endian(array: np.ndarray) -> np.ndarray:
    """C-contiguous little-endian data (a copy only when needed)."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def iter_nrrd(array: np.ndarray, ijk_to_ras: np.ndarray, dimension: int = 3, chunk: int = CHUNK,
              component_kind: str | None = None) -> Iterator[bytes]:
    """A raw NRRD file as chunks: the header, then zero-copy slices of the voxel buffer."""
    if array.dtype.name not in NRRD_TYPES:
        raise Unsupported(f"cannot write {array.dtype} voxels to NRRD")
    yield nrrd_header(array, ijk_to_ras, dimension, component_kind=component_kind)
    data = memoryview(little_endian(array)).cast("B")
    for start in range(0, len(data), chunk):
        yield bytes(data[start:start + chunk])


def write_nrrd(path: Path, array: np.ndarray, ijk_to_ras: np.ndarray, dimension: int = 3, *,
               compress: bool = True, component_kind: str | None = None,
               fields: dict[str, str] | None = None) -> None:
    """Write atomically (temporary file in the same directory, then rename)."""
    if array.dtype.name not in NRRD_TYPES:
        raise Unsupported(f"cannot write {array.dtype} voxels to NRRD")
    path = Path(path)
    header = nrrd_header(array, ijk_to_ras, dimension, encoding="gzip" if compress else "raw",
                         component_kind=component_kind, fields=fields)
    data = memoryview(little_endian(array)).cast("B")
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(header)
            if compress:
                packer = zlib.compressobj(6, zlib.DEFLATED, 31)
                for start in range(0, len(data), CHUNK):
                    out.write(packer.compress(data[start:start + CHUNK]))
                out.write(packer.flush())
            else:
                out.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def geometry(header: dict[str, Any], spatial_axes: list[int], sizes: list[int] | None = None) -> np.ndarray:
    """IJK-to-RAS from `space directions`/`space origin` (or `spacings`) of the spatial axes.

    Every coordinate the image spans must stay within MAX_COORDINATE mm (given `sizes`), so later
    slicing and rendering arithmetic cannot overflow (`space directions: (1e308,0,0) ...` is Invalid).
    """
    matrix = np.eye(4)
    directions = header.get("space directions")
    if directions is not None:
        directions = np.asarray(directions, dtype=float)
        for column, axis in enumerate(spatial_axes):
            vector = directions[axis]
            if vector.shape[0] != 3 or not np.all(np.isfinite(vector)):
                raise Invalid(f"space directions: axis {axis} must be a finite 3-vector")
            matrix[:3, column] = vector
    elif "spacings" in header:
        spacings = np.asarray(header["spacings"], dtype=float)
        for column, axis in enumerate(spatial_axes):
            value = spacings[axis]
            matrix[column, column] = value if np.isfinite(value) else 1.0
    origin = header.get("space origin")
    if origin is not None:
        origin = np.asarray(origin, dtype=float)
        if origin.shape != (3,) or not np.all(np.isfinite(origin)):
            raise Invalid("space origin must be a finite 3-vector, e.g. (0,0,0)")
        matrix[:3, 3] = origin
    extents = [sizes[axis] for axis in spatial_axes] if sizes is not None else [1] * len(spatial_axes)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is exactly what this check refuses
        span = np.abs(matrix[:3, :len(spatial_axes)]) @ np.asarray(extents, dtype=float) + np.abs(matrix[:3, 3])
    if not np.all(span <= MAX_COORDINATE):
        raise Invalid(f"space directions/space origin place the image beyond {MAX_COORDINATE:g} mm; "
                      "spacing and origin must be in millimetres, e.g. (0.5,0,0) (0,0.5,0) (0,0,1.2)")
    if len(spatial_axes) == 2:  # a 2D image in 3D space: the slice normal, unit spacing
        normal = np.cross(matrix[:3, 0], matrix[:3, 1])
        length = np.linalg.norm(normal)
        matrix[:3, 2] = normal / length if length > 0 else (0.0, 0.0, 1.0)
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise Invalid("space directions are degenerate (zero or parallel axes)")
    space = str(header.get("space", "left-posterior-superior")).lower()
    if space in RAS_SPACES:
        return matrix
    if space in ("left-anterior-superior", "las"):
        return np.diag([-1.0, 1.0, 1.0, 1.0]) @ matrix
    return LPS_FLIP @ matrix  # LPS, and ITK's reading of space-less files


def spatial_axes_of(header: dict[str, Any]) -> list[int]:
    """Axes (in NRRD order, fastest first) that are domain axes."""
    dimension = int(header["dimension"])
    directions = header.get("space directions")
    if directions is not None:
        rows = np.asarray(directions, dtype=float)
        return [a for a in range(dimension) if np.all(np.isfinite(rows[a]))]
    kinds = header.get("kinds")
    if kinds is not None:
        return [a for a in range(dimension) if kinds[a] in ("domain", "space", "time")][:3]
    return list(range(min(dimension, 3)))


def read_nrrd(path: Path, check_path: Callable[[Path], None] | None = None,
              limits: VoxelLimits = DEFAULT_LIMITS) -> NrrdImage:
    """Read a .nrrd or .nhdr file (raw, ascii, gzip, bzip2); `check_path` vets a detached data file.

    The header is checked against `limits` before the voxel buffer is allocated, and compressed data
    is inflated into that one buffer (formats/voxels.py), never past the announced size or ratio.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            lines = _header_lines(handle, path.name)  # leaves the handle at the attached data, if any
            header = nrrd.read_header(lines)
            dtype = np.dtype(nrrd.reader._determine_datatype(header))
            sizes = parse_sizes(_raw_field(lines, "sizes"))
            if len(sizes) != int(header["dimension"]):
                raise Invalid(f"{path.name}: sizes {sizes} do not match dimension {header['dimension']}")
            expected = expected_bytes(sizes, dtype.itemsize, limits)
            data_file = header.get("data file") or header.get("datafile")
            if data_file:
                target = Path(data_file) if os.path.isabs(data_file) else path.parent / data_file
                if check_path is not None:
                    check_path(target)
                with open(target, "rb") as data:
                    voxels = _read_voxels(data, header, expected, limits)
            else:
                voxels = _read_voxels(handle, header, expected, limits)
    except nrrd.NRRDError as exc:
        raise Invalid(f"{path.name}: not a readable NRRD file: {exc}") from None
    except (OSError, EOFError, ValueError, KeyError, zlib.error) as exc:
        raise Invalid(f"{path.name}: cannot read NRRD data: {exc}") from None
    array = np.frombuffer(voxels, dtype=dtype).reshape(tuple(reversed(sizes)))
    axes = spatial_axes_of(header)
    if len(axes) not in (2, 3):
        raise Unsupported(f"{path.name}: {len(axes)} spatial axes; 2D and 3D images are supported")
    return NrrdImage(_move_components_last(array, header, axes), geometry(header, axes, sizes), len(axes), header)


def _header_lines(handle: BinaryIO, name: str) -> list[str]:
    """The header's lines, up to the blank line (or the end of a detached .nhdr header)."""
    lines: list[str] = []
    size = 0
    while line := handle.readline(MAX_HEADER_LINE):
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise Invalid(f"{name}: the NRRD header is longer than {MAX_HEADER_BYTES} bytes")
        text = line.decode("ascii", errors="replace").rstrip("\r\n")
        if not text:
            break
        lines.append(text)
    return lines


def _read_voxels(handle: BinaryIO, header: dict[str, Any], expected: int, limits: VoxelLimits) -> np.ndarray:
    """The data at `handle` (after line/byte skips) decoded into a buffer of exactly `expected` bytes."""
    encoding = str(header["encoding"]).lower()
    line_skip = int(header.get("line skip", header.get("lineskip", 0)) or 0)
    byte_skip = int(header.get("byte skip", header.get("byteskip", 0)) or 0)
    if line_skip < 0 or byte_skip < -1:
        raise Invalid(f"line skip {line_skip} / byte skip {byte_skip} out of range")
    for _ in range(line_skip):
        handle.readline(1 << 16)
    if encoding in ("ascii", "text", "txt"):
        return _read_ascii(handle, header, expected, limits)
    if byte_skip == -1:  # the data are the last `expected` bytes (raw), or of the decompressed stream
        if encoding == "raw":
            handle.seek(-expected, os.SEEK_END)
        else:
            raise Unsupported("'byte skip: -1' with compressed data is not supported")
    elif byte_skip and encoding == "raw":
        handle.seek(byte_skip, os.SEEK_CUR)
    elif byte_skip:
        raise Unsupported("'byte skip' with compressed data is not supported")
    sink = VoxelSink(expected, encoding, limits)
    while chunk := handle.read(CHUNK):
        sink.write(chunk)
        if encoding == "raw" and sink.filled == expected:
            break  # trailing bytes after raw data are ignored, as ITK does
    return sink.finish()


def _read_ascii(handle: BinaryIO, header: dict[str, Any], expected: int, limits: VoxelLimits) -> np.ndarray:
    dtype = np.dtype(nrrd.reader._determine_datatype(header))
    count = expected // dtype.itemsize
    text = handle.read(count * ASCII_BYTES_PER_VALUE + CHUNK)
    values = np.array(text.split(), dtype=dtype) if text.strip() else np.empty(0, dtype)
    if values.size != count:
        raise Invalid(f"ascii data holds {values.size} values, the header announces {count}")
    return np.frombuffer(values.tobytes(), dtype=np.uint8)


def _move_components_last(array: np.ndarray, header: dict[str, Any], axes: list[int]) -> np.ndarray:
    """`[k, j, i, c]` (C order) from a file whose non-spatial axes come first (NRRD order)."""
    dimension = int(header["dimension"])
    others = [a for a in range(dimension) if a not in axes]
    c_axes = [dimension - 1 - a for a in axes]  # C order reverses NRRD order
    c_others = [dimension - 1 - a for a in others]
    order = sorted(c_axes) + sorted(c_others)
    array = np.transpose(array, order)
    if len(axes) == 2:
        array = array[np.newaxis, ...]
    return array


@dataclass(frozen=True)
class UploadHeader:
    """A checked `POST /volume` header: what the data must hold, and where it starts in the body."""

    dtype: np.dtype[Any]
    sizes: list[int]
    dimension: int
    ijk_to_ras: np.ndarray
    encoding: str
    data_offset: int
    expected: int

    def array(self, voxels: np.ndarray) -> np.ndarray:
        """The voxels as `[k, j, i]` (2D images get k = 1), sharing `voxels`' memory."""
        array = np.frombuffer(voxels, dtype=self.dtype.newbyteorder("<")).reshape(tuple(reversed(self.sizes)))
        return array[np.newaxis, ...] if self.dimension == 2 else array


def parse_upload(body: bytes, *, allow_compressed: bool, limits: VoxelLimits = DEFAULT_LIMITS
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Strictly parse a whole `POST /volume` NRRD body into (array [k, j, i], ijk_to_ras, dimension)."""
    header = upload_header(body, allow_compressed=allow_compressed, limits=limits)
    sink = VoxelSink(header.expected, header.encoding, limits)
    sink.write(memoryview(body)[header.data_offset:])
    return header.array(sink.finish()), header.ijk_to_ras, header.dimension


def upload_header(head: bytes, *, allow_compressed: bool, limits: VoxelLimits) -> UploadHeader:
    """Check the header at the start of `head` (Invalid -> 400, Unsupported -> 415, TooLarge -> 413)
    before a single voxel byte is allocated; `head` needs to reach just past the blank line."""
    if not head.startswith(b"NRRD000"):
        raise Unsupported("the body is not a NRRD file (it must start with the magic line NRRD0004)")
    end, skip = _header_end(head)
    try:
        lines = head[:end].decode("ascii").splitlines()
        header = nrrd.read_header(lines)
    except UnicodeDecodeError:
        raise Invalid("the NRRD header is not ASCII text") from None
    except (nrrd.NRRDError, ValueError, IndexError, OverflowError) as exc:
        raise Invalid(f"malformed NRRD header: {exc}") from None
    for required in ("type", "dimension", "sizes", "encoding"):
        if required not in header:
            raise Invalid(f"the NRRD header lacks the required field '{required}'")
    sizes = parse_sizes(_raw_field(lines, "sizes"))
    if header.get("data file") or header.get("datafile"):
        raise Invalid("detached data ('data file') is not accepted in an upload; send the data attached")
    if int(header.get("line skip", 0) or 0) or int(header.get("byte skip", 0) or 0):
        raise Unsupported("'line skip' and 'byte skip' are not supported in uploads")
    dtype_name = TYPE_ALIASES.get(str(header["type"]).strip().lower())
    if dtype_name is None:
        raise Unsupported(f"pixel type '{header['type']}' is not supported; use an integer type "
                          "(int8 ... uint64) or float/double")
    dimension = int(header["dimension"])
    if dimension not in (2, 3):
        raise Unsupported(f"dimension {dimension} is not supported; upload a 2D or 3D scalar volume")
    if len(sizes) != dimension:
        raise Invalid(f"sizes {sizes} do not match dimension {dimension}")
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * dimension)]
    if any(k not in ("domain", "space", "time", "???", "none") for k in kinds):
        raise Unsupported(f"kinds {kinds}: only scalar volumes (all axes 'domain') are accepted")
    dtype = np.dtype(dtype_name)
    if dtype.itemsize > 1:
        endian = str(header.get("endian", "")).lower()
        if endian == "big":
            raise Unsupported("big-endian data is not accepted; send 'endian: little'")
        if endian != "little":
            raise Invalid("multi-byte pixel types need 'endian: little'")
    directions = header.get("space directions")
    if directions is not None and np.asarray(directions).shape[0] != dimension:
        raise Invalid(f"'space directions' must list {dimension} vectors")
    space = str(header.get("space", "")).lower()
    if space and space not in LPS_SPACES + RAS_SPACES + ("left-anterior-superior", "las"):
        raise Unsupported(f"space '{header['space']}' is not supported; use left-posterior-superior")
    encoding = str(header["encoding"]).lower()
    if encoding in COMPRESSED and not allow_compressed:
        raise Unsupported(f"compressed uploads (encoding: {encoding}) are not allowed here; send 'encoding: raw'")
    if encoding not in ("raw", *COMPRESSED):
        raise Unsupported(f"encoding '{encoding}' is not supported in uploads; send 'encoding: raw'")
    expected = expected_bytes(sizes, dtype.itemsize, limits)
    ijk_to_ras = geometry(header, list(range(dimension)), sizes)
    return UploadHeader(dtype, sizes, dimension, ijk_to_ras, encoding, end + skip, expected)


def _raw_field(lines: list[str], name: str) -> str:
    """A field's text as written (pynrrd turns `sizes: 4.5 4 4` into 4 4 4 without a word)."""
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name and not value.startswith("="):
            return value.strip()
    return ""


def header_complete(head: bytes) -> bool:
    """True once `head` holds the blank line that ends a NRRD header."""
    return b"\n\n" in head or b"\r\n\r\n" in head


def _header_end(body: bytes) -> tuple[int, int]:
    """Index of the blank line ending the header, and the separator length (LF or CRLF)."""
    positions = [(body.find(sep), len(sep)) for sep in (b"\n\n", b"\r\n\r\n")]
    found = [(i, n) for i, n in positions if i >= 0]
    if not found:
        raise Invalid("the NRRD header is not terminated by a blank line")
    return min(found)
