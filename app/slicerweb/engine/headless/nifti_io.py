"""NIfTI-1 reading (`.nii`, `.nii.gz`), for `VolumeFile` loads: voxels `[k, j, i]` and IJK-to-RAS.

NIfTI's world space is already RAS, so the affine is used as is: the sform when `sform_code > 0`,
else the qform (quaternion, `pixdim`, `qfac`), else `diag(pixdim)`. `scl_slope`/`scl_inter` are
applied (float32 result) when they are not the identity. 3D and 2D scalar images only; NIfTI-2,
4D and vector images are refused.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ..errors import Invalid, Unsupported

DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}
HEADER_SIZE = 348


def _affine(header: bytes, endian: str, pixdim: tuple[float, ...]) -> np.ndarray:
    qform_code, sform_code = struct.unpack_from(endian + "2h", header, 252)
    if sform_code > 0:
        rows = struct.unpack_from(endian + "12f", header, 280)
        return np.vstack([np.array(rows, dtype=np.float64).reshape(3, 4), [0.0, 0.0, 0.0, 1.0]])
    affine = np.eye(4)
    if qform_code > 0:
        b, c, d, x, y, z = (float(v) for v in struct.unpack_from(endian + "6f", header, 256))
        a = np.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
        rotation = np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                             [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                             [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b]])
        qfac = -1.0 if pixdim[0] < 0 else 1.0
        affine[:3, :3] = rotation * np.array([pixdim[1], pixdim[2], pixdim[3] * qfac])
        affine[:3, 3] = (x, y, z)
        return affine
    affine[:3, :3] = np.diag([p if p > 0 else 1.0 for p in pixdim[1:4]])
    return affine


def read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(voxels [k, j, i], IJK-to-RAS, dimension) of a NIfTI-1 file."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise Invalid(f"{path.name}: cannot read NIfTI file: {exc}") from None
    if len(raw) < HEADER_SIZE:
        raise Invalid(f"{path.name}: too short for a NIfTI header")
    endian = "<" if struct.unpack_from("<i", raw, 0)[0] == HEADER_SIZE else ">"
    if struct.unpack_from(endian + "i", raw, 0)[0] != HEADER_SIZE or raw[344:347] not in (b"n+1", b"ni1"):
        raise Unsupported(f"{path.name}: not a NIfTI-1 single file (.nii/.nii.gz)")
    dims = struct.unpack_from(endian + "8h", raw, 40)
    datatype = struct.unpack_from(endian + "h", raw, 70)[0]
    pixdim = struct.unpack_from(endian + "8f", raw, 76)
    vox_offset = int(struct.unpack_from(endian + "f", raw, 108)[0])
    slope, intercept = struct.unpack_from(endian + "2f", raw, 112)
    ndim = dims[0]
    if ndim not in (2, 3) and not (ndim > 3 and all(d == 1 for d in dims[4:ndim + 1])):
        raise Unsupported(f"{path.name}: {ndim}D NIfTI images are not supported (2D and 3D scalar only)")
    if datatype not in DTYPES:
        raise Unsupported(f"{path.name}: NIfTI datatype {datatype} is not supported")
    nx, ny = dims[1], dims[2]
    nz = dims[3] if ndim >= 3 else 1
    dtype = np.dtype(endian + DTYPES[datatype])
    count = nx * ny * nz
    if min(nx, ny, nz) < 1 or len(raw) < vox_offset + count * dtype.itemsize:
        raise Invalid(f"{path.name}: truncated NIfTI data")
    voxels = np.frombuffer(raw, dtype=dtype, count=count, offset=vox_offset).reshape(nz, ny, nx)
    voxels = voxels.astype(dtype.newbyteorder("="))
    if slope not in (0.0, 1.0) or intercept != 0.0:
        voxels = (voxels * np.float32(slope or 1.0) + np.float32(intercept)).astype(np.float32)
    return voxels, _affine(raw, endian, pixdim), 2 if ndim == 2 else 3
