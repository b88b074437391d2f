"""A DICOM image series -> one scalar volume with exact geometry (what Slicer's DICOM scalar volume
plugin does for a single-frame series).

Slices are sorted along the slice normal (cross product of the ImageOrientationPatient row and
column directions) by ImagePositionPatient; the slice spacing is the distance between the first two
positions. Geometry is built in LPS (DICOM's patient space) and converted to RAS:

    column i (fastest):  row direction    * PixelSpacing[1]
    row j:               column direction * PixelSpacing[0]
    slice k:             normal           * slice spacing
    origin:              ImagePositionPatient of the first sorted slice

Rescale slope/intercept are applied; integer results stay integers (int16 when they fit, as ITK
gives for CT), anything else becomes float32.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from ..errors import Invalid, Unsupported

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_series(paths: Iterable[str | Path]) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(voxels [k, j, i], IJK-to-RAS, series description, series number) of the image slices in `paths`."""
    slices = []
    for path in paths:
        try:
            dataset = pydicom.dcmread(str(path))
        except (InvalidDicomError, OSError) as exc:
            raise Invalid(f"{Path(path).name}: not a readable DICOM file: {exc}") from None
        if "PixelData" not in dataset:
            continue  # SR, KO, PR and other non-image objects of the series
        if int(getattr(dataset, "NumberOfFrames", 1) or 1) > 1:
            raise Unsupported("multi-frame DICOM images are not supported by the headless engine")
        slices.append(dataset)
    if not slices:
        raise Invalid("the series has no image slices")
    first = slices[0]
    try:
        orientation = np.array([float(v) for v in first.ImageOrientationPatient])
        row, column = orientation[:3], orientation[3:]
        normal = np.cross(row, column)
        positions = {id(s): np.array([float(v) for v in s.ImagePositionPatient]) for s in slices}
        spacing_j, spacing_i = (float(v) for v in first.PixelSpacing)
    except (AttributeError, ValueError, TypeError) as exc:
        raise Invalid(f"the series lacks image geometry (orientation, position, spacing): {exc}") from None
    slices.sort(key=lambda s: float(positions[id(s)] @ normal))
    if len({(int(s.Rows), int(s.Columns)) for s in slices}) != 1:
        raise Unsupported("the slices of the series differ in size")
    distances = [float(positions[id(s)] @ normal) for s in slices]
    spacing_k = distances[1] - distances[0] if len(slices) > 1 else float(getattr(first, "SliceThickness", 1) or 1)
    if len(slices) > 1 and spacing_k <= 0:
        raise Invalid("two slices of the series share the same position")
    lps = np.eye(4)
    lps[:3, 0] = row * spacing_i
    lps[:3, 1] = column * spacing_j
    lps[:3, 2] = normal * spacing_k
    lps[:3, 3] = positions[id(slices[0])]
    return (_voxels(slices), LPS_TO_RAS @ lps, str(getattr(first, "SeriesDescription", "") or ""),
            str(getattr(first, "SeriesNumber", "") or ""))


def _voxels(slices: Sequence[pydicom.Dataset]) -> np.ndarray:
    stack = np.stack([s.pixel_array for s in slices])
    slope = float(getattr(slices[0], "RescaleSlope", 1) or 1)
    intercept = float(getattr(slices[0], "RescaleIntercept", 0) or 0)
    if any(float(getattr(s, "RescaleSlope", 1) or 1) != slope
           or float(getattr(s, "RescaleIntercept", 0) or 0) != intercept for s in slices):
        return np.stack([s.pixel_array * float(getattr(s, "RescaleSlope", 1) or 1)
                         + float(getattr(s, "RescaleIntercept", 0) or 0) for s in slices]).astype(np.float32)
    if slope == 1 and intercept == int(intercept):
        values = stack.astype(np.int64) + int(intercept)
        for dtype in (np.int16, np.int32):
            info = np.iinfo(dtype)
            if values.min() >= info.min and values.max() <= info.max:
                return values.astype(dtype)
        return values
    return (stack * slope + intercept).astype(np.float32)
