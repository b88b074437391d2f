"""Transform files: ITK text `.tfm`/`.txt` (linear) and displacement-field NRRD (grid).

ITK files hold the resampling transform (fixed to moving, "from parent") in LPS; Slicer's linear
transform node shows "to parent" in RAS. Reading converts `to_parent = inv(F @ M @ F)` with
`F = diag(-1, -1, 1)`; writing does the inverse, so a file written here reads back identically.
A displacement field is a 4D NRRD (`kinds: vector domain domain domain`, LPS vectors).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...formats.nrrd import NrrdImage, read_nrrd, write_nrrd
from ...formats.voxels import DEFAULT_LIMITS, VoxelLimits
from ..errors import Invalid, Unsupported

FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])
ITK_LINEAR = ("AffineTransform", "MatrixOffsetTransformBase", "Euler3DTransform", "VersorRigid3DTransform",
              "Rigid3DTransform", "ScaleVersor3DTransform", "Similarity3DTransform", "TranslationTransform",
              "IdentityTransform")


def read_tfm(path: Path) -> np.ndarray:
    """The 4x4 to-parent RAS matrix of the first transform in an ITK text transform file."""
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"{Path(path).name}: cannot read transform file: {exc}") from None
    fields: dict[str, str] = {}
    for line in lines:
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    kind = fields.get("Transform", "")
    if not kind.startswith(ITK_LINEAR):
        raise Unsupported(f"{Path(path).name}: transform type '{kind}' is not supported (linear only)")
    try:
        params = [float(v) for v in fields.get("Parameters", "").split()]
        fixed = [float(v) for v in fields.get("FixedParameters", "").split()] or [0.0, 0.0, 0.0]
    except ValueError:
        raise Invalid(f"{Path(path).name}: transform parameters are not numbers") from None
    matrix = np.eye(4)
    if kind.startswith("TranslationTransform") and len(params) == 3:
        matrix[:3, 3] = params
    elif kind.startswith("IdentityTransform"):
        pass
    elif len(params) == 12 and len(fixed) >= 3:
        linear = np.array(params[:9]).reshape(3, 3)
        center = np.array(fixed[:3])
        matrix[:3, :3] = linear
        matrix[:3, 3] = np.array(params[9:]) + center - linear @ center
    else:
        raise Unsupported(f"{Path(path).name}: '{kind}' with {len(params)} parameters is not supported")
    try:
        return np.linalg.inv(FLIP @ matrix @ FLIP)
    except np.linalg.LinAlgError:
        raise Invalid(f"{Path(path).name}: the transform is not invertible") from None


def write_tfm(path: Path, to_parent: np.ndarray) -> None:
    """Write a to-parent RAS matrix as an ITK AffineTransform (LPS, from parent)."""
    itk = FLIP @ np.linalg.inv(to_parent) @ FLIP
    params = [*itk[:3, :3].ravel(), *itk[:3, 3]]
    text = ("#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n"
            "Parameters: " + " ".join(repr(float(v)) for v in params) + "\nFixedParameters: 0 0 0\n")
    Path(path).write_text(text, encoding="ascii")


def read_grid(path: Path, check_path: Callable[[Path], None] | None = None,
              limits: VoxelLimits = DEFAULT_LIMITS) -> NrrdImage:
    """A displacement field NRRD as `[k, j, i, 3]` RAS vectors on its grid geometry."""
    image = read_nrrd(path, check_path, limits)
    if image.array.ndim != 4 or image.array.shape[-1] != 3 or image.dimension != 3:
        raise Unsupported(f"{Path(path).name}: not a 3D displacement field (need 3-vectors on a 3D grid)")
    ras = image.array.astype(np.float64) * np.array([-1.0, -1.0, 1.0])
    return NrrdImage(ras, image.ijk_to_ras, 3, image.header)


def write_grid(path: Path, displacement: np.ndarray, ijk_to_ras: np.ndarray, compress: bool) -> None:
    """Write `[k, j, i, 3]` RAS displacements as an LPS vector NRRD."""
    lps = np.ascontiguousarray(displacement * np.array([-1.0, -1.0, 1.0]), dtype=displacement.dtype)
    write_nrrd(path, lps, ijk_to_ras, 3, compress=compress, component_kind="vector")
