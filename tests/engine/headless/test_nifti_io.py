"""NIfTI-1 contract: sform or qform affine used as RAS IJK-to-RAS, voxels [k, j, i], gzip accepted."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from slicerweb.engine.errors import Unsupported
from slicerweb.engine.headless.nifti_io import read_nifti


def nifti(voxels: np.ndarray, *, sform: np.ndarray | None = None, quaternion=None, pixdim=(1.0, 1.0, 1.0),
          qfac: float = 1.0, dims: tuple[int, ...] | None = None) -> bytes:
    header = bytearray(352)
    nz, ny, nx = voxels.shape
    shape = dims or (3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, *shape)
    struct.pack_into("<hh", header, 70, {np.dtype("int16"): 4, np.dtype("float32"): 16}[voxels.dtype], 16)
    struct.pack_into("<8f", header, 76, qfac, *pixdim, 0, 0, 0, 0)
    struct.pack_into("<f", header, 108, 352.0)
    struct.pack_into("<2f", header, 112, 1.0, 0.0)
    if sform is not None:
        struct.pack_into("<2h", header, 252, 0, 1)
        struct.pack_into("<12f", header, 280, *sform[:3].ravel())
    elif quaternion is not None:
        struct.pack_into("<2h", header, 252, 1, 0)
        struct.pack_into("<6f", header, 256, *quaternion)
    header[344:348] = b"n+1\0"
    return bytes(header) + voxels.astype("<" + voxels.dtype.str[1:]).tobytes()


def test_sform_and_voxel_order(tmp_path):
    voxels = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    sform = np.array([[-2.0, 0, 0, 10], [0, 1.5, 0, -20], [0, 0, 3.0, 5], [0, 0, 0, 1]])
    (tmp_path / "a.nii.gz").write_bytes(gzip.compress(nifti(voxels, sform=sform)))
    read, matrix, dimension = read_nifti(tmp_path / "a.nii.gz")
    assert dimension == 3 and np.array_equal(read, voxels) and np.array_equal(matrix, sform)


def test_qform_rotation(tmp_path):
    voxels = np.zeros((2, 2, 2), dtype=np.float32)
    # 90 degrees about S: b=c=0, d=sin(45), a=cos(45)
    d = float(np.sin(np.pi / 4))
    (tmp_path / "q.nii").write_bytes(nifti(voxels, quaternion=(0.0, 0.0, d, 1.0, 2.0, 3.0), pixdim=(1.0, 2.0, 3.0)))
    _, matrix, _ = read_nifti(tmp_path / "q.nii")
    expected = np.array([[0.0, -2.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 3.0, 3.0], [0, 0, 0, 1]])
    assert np.allclose(matrix, expected, atol=1e-6)


def test_4d_is_refused(tmp_path):
    voxels = np.zeros((2, 2, 2), dtype=np.int16)
    (tmp_path / "t.nii").write_bytes(nifti(voxels, dims=(4, 2, 2, 1, 2, 1, 1, 1)))
    with pytest.raises(Unsupported):
        read_nifti(tmp_path / "t.nii")
