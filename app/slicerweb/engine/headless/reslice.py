"""Slice reslicing in physical (RAS) geometry, as Slicer's slice views do it; pure numpy.

A slice view is a plane with a `SliceToRAS` matrix (columns: screen-right direction, screen-up
direction, plane normal, plane centre) and a pixel spacing in mm. Rendering samples the volume at
every pixel centre through the volume's RAS-to-IJK matrix, so oblique and LPS volumes come out in
the same patient orientation Slicer shows:

    axial     screen right = patient Left, up = Anterior, normal = Superior  (patient right on screen left)
    sagittal  screen right = Posterior,    up = Superior, normal = Right     (anterior on screen left)
    coronal   screen right = patient Left, up = Superior, normal = Anterior

Volume arrays are indexed `[k, j, i]` (slicer.util.arrayFromVolume's order); IJK index (i, j, k) is
the voxel centre, and a voxel extends half a voxel either side.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from ..errors import Invalid

Interpolation = Literal["linear", "nearest"]
BAND_PIXELS = 1 << 18  # the general path samples at most this many pixels at a time

# Columns: screen x, screen y, normal (Slicer's vtkMRMLSliceNode orientation presets).
ORIENTATIONS: dict[str, np.ndarray] = {
    "axial": np.array([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
    "sagittal": np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
    "coronal": np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
}


@dataclass(frozen=True)
class SliceGeometry:
    """Where a slice view looks: `slice_to_ras` (4x4) and the mm per output pixel (`spacing`)."""

    slice_to_ras: np.ndarray
    spacing: float
    orientation: str

    @property
    def normal(self) -> np.ndarray:
        return self.slice_to_ras[:3, 2]

    @property
    def offset(self) -> float:
        """The slice slider value: the plane's position along its normal, in mm."""
        return float(self.normal @ self.slice_to_ras[:3, 3])

    def with_offset(self, offset: float) -> SliceGeometry:
        """The same plane moved along its normal so that `offset` is the slider value."""
        matrix = self.slice_to_ras.copy()
        matrix[:3, 3] += (offset - self.offset) * self.normal
        return replace(self, slice_to_ras=matrix)

    def pixel_to_ras(self, width: int, height: int) -> np.ndarray:
        """4x4 mapping (column, row, 0, 1) of a `width`x`height` image to RAS (row 0 at the top)."""
        xy_to_slice = np.array([
            [self.spacing, 0.0, 0.0, (0.5 - width / 2) * self.spacing],
            [0.0, -self.spacing, 0.0, (height / 2 - 0.5) * self.spacing],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ])
        xy_to_ras: np.ndarray = self.slice_to_ras @ xy_to_slice
        return xy_to_ras

    def ras_to_pixel(self, ras: np.ndarray, width: int, height: int) -> np.ndarray:
        """(column, row, distance from plane in mm) of RAS points `(n, 3)`."""
        inverse = np.linalg.inv(self.pixel_to_ras(width, height))
        homogeneous = np.c_[np.asarray(ras, dtype=float).reshape(-1, 3), np.ones(len(ras))]
        points: np.ndarray = (homogeneous @ inverse.T)[:, :3]
        return points


def orientation_matrix(name: str) -> np.ndarray:
    """The 3x3 direction columns of a named orientation; Invalid for unknown names."""
    try:
        return ORIENTATIONS[name.lower()]
    except KeyError:
        raise Invalid(f"orientation must be one of {', '.join(ORIENTATIONS)}, not {name!r}") from None


def voxel_corners(shape_kji: tuple[int, ...], ijk_to_ras: np.ndarray) -> np.ndarray:
    """RAS of the 8 outer corners of the voxel box (half a voxel beyond the centres)."""
    k, j, i = shape_kji[-3:]
    ijk = np.array([[a, b, c, 1.0] for a in (-0.5, i - 0.5) for b in (-0.5, j - 0.5) for c in (-0.5, k - 0.5)])
    corners: np.ndarray = (ijk @ ijk_to_ras.T)[:, :3]
    return corners


def voxel_centres_extent(shape_kji: tuple[int, ...], ijk_to_ras: np.ndarray) -> np.ndarray:
    """RAS of the 8 corner voxel centres."""
    k, j, i = shape_kji[-3:]
    ijk = np.array([[a, b, c, 1.0] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)])
    corners: np.ndarray = (ijk @ ijk_to_ras.T)[:, :3]
    return corners


def fit_to_volume(orientation: str, shape_kji: tuple[int, ...], ijk_to_ras: np.ndarray,
                  width: int, height: int) -> SliceGeometry:
    """Slicer's FitSliceToBackground: centre the plane on the volume; the whole volume fits the view."""
    directions = orientation_matrix(orientation)
    corners = voxel_corners(shape_kji, ijk_to_ras)
    in_slice = corners @ directions  # coordinates along screen x, screen y, normal
    low, high = in_slice.min(axis=0), in_slice.max(axis=0)
    centre = directions @ ((low + high) / 2)
    extent = high - low
    spacing = max(extent[0] / width, extent[1] / height, 1e-6)
    matrix = np.eye(4)
    matrix[:3, :3] = directions
    matrix[:3, 3] = centre
    return SliceGeometry(matrix, float(spacing), orientation.lower())


def offset_range(geometry: SliceGeometry, shape_kji: tuple[int, ...], ijk_to_ras: np.ndarray) -> tuple[float, float]:
    """Slider range: the extreme voxel centres along the plane normal (scrollTo 0 and 1)."""
    along = voxel_centres_extent(shape_kji, ijk_to_ras) @ geometry.normal
    return float(along.min()), float(along.max())


def fit_geometry_to_size(geometry: SliceGeometry, width: int, height: int, previous: tuple[int, int]) -> SliceGeometry:
    """Keep what was visible at `previous` size visible at the new size (scale to the tighter side)."""
    old_width, old_height = previous
    spacing = max(geometry.spacing * old_width / width, geometry.spacing * old_height / height)
    return replace(geometry, spacing=float(spacing))


def _flat_view(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D view of `array`'s memory and its element strides (no copy when it is contiguous)."""
    if not (array.flags.c_contiguous or array.flags.f_contiguous or _is_permuted_contiguous(array)):
        array = np.ascontiguousarray(array)
    itemsize = array.itemsize
    flat = np.lib.stride_tricks.as_strided(array, shape=(array.size,), strides=(itemsize,), writeable=False)
    return flat, np.array(array.strides, dtype=np.int64) // itemsize


def _is_permuted_contiguous(array: np.ndarray) -> bool:
    order = np.argsort(array.strides)[::-1]
    return bool(np.transpose(array, order).flags.c_contiguous) and min(array.strides) > 0


def sample_plane(array: np.ndarray, ijk_to_ras: np.ndarray, geometry: SliceGeometry, width: int, height: int,
                 interpolation: Interpolation = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Volume values at every pixel centre: (values float32 (height, width), inside mask)."""
    volume = array if array.ndim == 3 else array.reshape((1,) * (3 - array.ndim) + array.shape)
    pixel_to_ijk = np.linalg.inv(ijk_to_ras) @ geometry.pixel_to_ras(width, height)
    axes = aligned_axes(pixel_to_ijk)
    if axes is not None:
        return _sample_aligned(volume, pixel_to_ijk, axes, width, height, interpolation)
    return _sample_general(volume, pixel_to_ijk, width, height, interpolation)


def aligned_axes(pixel_to_ijk: np.ndarray) -> tuple[int, int, int] | None:
    """(column, row, normal) IJK axes when screen x and y each run along one voxel axis, else None.

    The usual case (RAS-aligned views of axis-aligned or LPS volumes): sampling is then separable,
    two planes and two 1-D interpolations instead of eight scattered gathers per pixel.
    """
    steps = np.abs(pixel_to_ijk[:3, :2])
    moving = steps > 1e-9 * max(1.0, float(steps.max()))
    if moving[:, 0].sum() != 1 or moving[:, 1].sum() != 1:
        return None
    column, row = int(np.argmax(moving[:, 0])), int(np.argmax(moving[:, 1]))
    return (column, row, 3 - column - row) if column != row else None


def _sample_aligned(volume: np.ndarray, pixel_to_ijk: np.ndarray, axes: tuple[int, int, int], width: int,
                    height: int, interpolation: Interpolation) -> tuple[np.ndarray, np.ndarray]:
    column, row, normal = axes
    planes = np.moveaxis(volume, (2 - normal, 2 - row, 2 - column), (0, 1, 2))  # a view [normal, row, column]
    depth = np.float32(pixel_to_ijk[normal, 3])
    cols = np.float32(pixel_to_ijk[column, 3]) + np.arange(width, dtype=np.float32) * np.float32(
        pixel_to_ijk[column, 0])
    rows = np.float32(pixel_to_ijk[row, 3]) + np.arange(height, dtype=np.float32) * np.float32(pixel_to_ijk[row, 1])
    inside = (((rows >= -0.5) & (rows <= planes.shape[1] - 0.5))[:, None]
              & ((cols >= -0.5) & (cols <= planes.shape[2] - 0.5))[None, :])
    if not -0.5 <= depth <= planes.shape[0] - 0.5:
        inside[:] = False
    if interpolation == "nearest":
        plane = planes[int(np.clip(np.rint(depth), 0, planes.shape[0] - 1))]
        picked = plane[np.ix_(_nearest(rows, planes.shape[1]), _nearest(cols, planes.shape[2]))]
        return picked.astype(np.float32), inside
    # The two voxel planes either side of the slice (basic indexing: views, no copy of the volume).
    clamped = min(max(float(depth), 0.0), planes.shape[0] - 1.0)
    low = min(int(np.floor(clamped)), max(planes.shape[0] - 2, 0))
    fraction = np.float32(clamped - low)
    plane = planes[low].astype(np.float32)
    if planes.shape[0] > 1 and fraction > 0:
        plane += (planes[low + 1].astype(np.float32) - plane) * fraction
    return _lerp_along(_lerp_along(plane, rows, 0), cols, 1), inside


def _nearest(coords: np.ndarray, size: int) -> np.ndarray:
    indices: np.ndarray = np.clip(np.rint(coords), 0, size - 1).astype(np.intp)
    return indices


def _lerp_along(data: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of `data` at fractional indices `coords` along `axis` (edges clamped)."""
    size = data.shape[axis]
    clamped = np.clip(coords, 0, size - 1)
    low = np.minimum(np.floor(clamped), max(size - 2, 0))
    fraction = (clamped - low).astype(np.float32)
    low_index = low.astype(np.intp)
    values: np.ndarray = np.take(data, low_index, axis=axis).astype(np.float32)
    if size == 1 or not fraction.any():
        return values
    shape = [1] * data.ndim
    shape[axis] = -1
    upper = np.take(data, low_index + 1, axis=axis).astype(np.float32)
    upper -= values
    upper *= fraction.reshape(shape)
    values += upper
    return values


def _sample_general(volume: np.ndarray, pixel_to_ijk: np.ndarray, width: int, height: int,
                    interpolation: Interpolation) -> tuple[np.ndarray, np.ndarray]:
    band = max(1, BAND_PIXELS // width)
    if height > band:  # bands of rows keep the index arrays small (a 4096^2 image in one go needs ~1 GB)
        parts = []
        for first in range(0, height, band):
            shifted = pixel_to_ijk.copy()
            shifted[:, 3] += first * pixel_to_ijk[:, 1]
            parts.append(_sample_general(volume, shifted, width, min(band, height - first), interpolation))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    cols = np.arange(width, dtype=np.float32)
    rows = np.arange(height, dtype=np.float32)[:, None]
    coords = [np.float32(pixel_to_ijk[a, 3]) + cols * np.float32(pixel_to_ijk[a, 0])
              + rows * np.float32(pixel_to_ijk[a, 1]) for a in range(3)]  # i, j, k
    sizes = (volume.shape[2], volume.shape[1], volume.shape[0])
    inside = np.ones((height, width), dtype=bool)
    for coord, size in zip(coords, sizes, strict=True):
        inside &= (coord >= -0.5) & (coord <= size - 0.5)
    flat, strides_kji = _flat_view(volume)
    strides = (strides_kji[2], strides_kji[1], strides_kji[0])
    if interpolation == "nearest":
        index = np.zeros((height, width), dtype=np.int64)
        for coord, size, stride in zip(coords, sizes, strides, strict=True):
            index += np.clip(np.rint(coord), 0, size - 1).astype(np.int64) * stride
        return flat.take(index).astype(np.float32), inside
    return _trilinear(flat, coords, sizes, strides, (height, width)), inside


def _trilinear(flat: np.ndarray, coords: list[np.ndarray], sizes: tuple[int, int, int],
               strides: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    base = np.zeros(shape, dtype=np.int64)
    axes: list[tuple[np.ndarray, int]] = []  # (fraction, stride) of the axes that need a neighbour
    for coord, size, stride in zip(coords, sizes, strides, strict=True):
        clamped = np.clip(coord, 0, size - 1)
        low = np.minimum(np.floor(clamped), max(size - 2, 0))
        fraction = clamped - low
        base += low.astype(np.int64) * stride
        # A plane through voxel centres along this axis needs no neighbour: skip half the gathers.
        if size > 1 and float(fraction.max()) > 1e-4:
            axes.append((fraction, int(stride)))
    result = np.zeros(shape, dtype=np.float32)
    for corner in itertools.product((0, 1), repeat=len(axes)):
        index = base
        weight: np.ndarray | None = None
        for high, (fraction, stride) in zip(corner, axes, strict=True):
            factor = fraction if high else 1.0 - fraction
            weight = factor if weight is None else weight * factor
            if high:
                index = index + stride
        values = flat.take(index).astype(np.float32)
        result += values if weight is None else values * weight
    return result


def auto_window_level(array: np.ndarray) -> tuple[float, float]:
    """A robust display window: the 0.5th..99.5th percentile of a strided sample of the volume."""
    step = max(1, round((array.size / 300_000) ** (1 / max(array.ndim, 1))))
    sample = array[(slice(None, None, step),) * array.ndim].astype(np.float32).ravel()
    if sample.size == 0:
        return 1.0, 0.0
    low, high = np.percentile(sample, (0.5, 99.5))
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    window = max(float(high - low), 1e-6)
    return window, float(low + high) / 2


def window_to_uint8(values: np.ndarray, inside: np.ndarray, window: float, level: float) -> np.ndarray:
    """Apply window/level (Slicer's linear ramp) and black outside the volume: uint8 image."""
    window = max(window, 1e-6)
    scale = np.float32(255.0 / window)
    out = (values - np.float32(level - window / 2)) * scale
    np.clip(out, 0, 255, out=out)
    out[~inside] = 0
    return out.astype(np.uint8)
