"""Built-in sample data: deterministic, offline phantoms named like Slicer's SampleData sets.

- `MRHead`: 256 x 256 x 130 int16, 1 x 1 x 1.3 mm voxels on LPS-stored axes, centred on the head:
  scalp, skull, CSF, folded grey/white matter, deep nuclei, ventricles, corpus callosum, cerebellum,
  brainstem, eyes and nose, with seeded noise; T1-like intensities (0..~400).
- `CTChest`: 256 x 256 x 120 int16 in Hounsfield units on a reduced grid (1.4 x 1.4 x 2.5 mm):
  body, lungs, heart, contrast-filled aorta, spine and ribs.

The same name always gives the same voxels (seeded noise), so tests can compare against them.
Voxels are generated once per process and shared read-only between nodes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from .nodes import frozen_array


@dataclass(frozen=True, eq=False)
class SampleVolume:
    name: str
    array: np.ndarray
    ijk_to_ras: np.ndarray


def _grid(shape: tuple[int, int, int], ijk_to_ras: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RAS coordinates (float32, broadcastable) of the voxel centres of an axis-aligned grid."""
    k, j, i = (np.arange(n, dtype=np.float32) for n in shape)
    r = (ijk_to_ras[0, 0] * i + ijk_to_ras[0, 3]).astype(np.float32)[np.newaxis, np.newaxis, :]
    a = (ijk_to_ras[1, 1] * j + ijk_to_ras[1, 3]).astype(np.float32)[np.newaxis, :, np.newaxis]
    s = (ijk_to_ras[2, 2] * k + ijk_to_ras[2, 3]).astype(np.float32)[:, np.newaxis, np.newaxis]
    return r, a, s


def _inside(r: np.ndarray, a: np.ndarray, s: np.ndarray, centre: tuple[float, float, float],
            radii: tuple[float, float, float]) -> np.ndarray:
    return (((r - centre[0]) / radii[0]) ** 2 + ((a - centre[1]) / radii[1]) ** 2
            + ((s - centre[2]) / radii[2]) ** 2) <= 1.0


def _mr_head() -> SampleVolume:
    shape = (130, 256, 256)
    # LPS-stored axes; the origin puts the grid centre at the head centre (0, -10, 10) RAS. (MRHead.nrrd's
    # own origin belongs to its sagittal axes: with these axial ones it left the head outside the grid.)
    ijk_to_ras = np.array([[-1.0, 0.0, 0.0, 127.5],
                           [0.0, -1.0, 0.0, 117.5],
                           [0.0, 0.0, 1.2999954223632812, -73.85],
                           [0.0, 0.0, 0.0, 1.0]])
    r, a, s = _grid(shape, ijk_to_ras)
    centre = (0.0, -10.0, 10.0)
    volume = np.zeros(shape, dtype=np.float32)
    volume[_inside(r, a, s, centre, (78, 98, 80))] = 220.0  # scalp and fat
    volume[_inside(r, a, s, centre, (74, 94, 76))] = 40.0  # skull (dark on T1)
    volume[_inside(r, a, s, centre, (71, 91, 73))] = 70.0  # CSF over the convexity
    brain = _inside(r, a, s, (0.0, -10.0, 12.0), (68, 88, 69))
    volume[brain] = 165.0  # cortical grey matter
    # Gyri: the grey/white boundary undulates, so slices show folded white matter, not an egg.
    folds = 0.22 * np.sin(r * 0.55) * np.sin(a * 0.5 + 1.0) * np.sin(s * 0.6 + 0.5)
    for side in (-1.0, 1.0):
        hemisphere = (((r - side * 30.0) / 33.0) ** 2 + ((a + 10.0) / 74.0) ** 2 + ((s - 18.0) / 52.0) ** 2
                      <= 1.0 + folds)
        volume[hemisphere & brain & (r * side > 2.5)] = 285.0  # white matter; the midline falx stays grey
        volume[_inside(r, a, s, (side * 13.0, -18.0, 4.0), (9, 13, 9))] = 200.0  # thalamus
        volume[_inside(r, a, s, (side * 17.0, 2.0, 8.0), (5, 11, 9))] = 190.0  # caudate / putamen
        volume[_inside(r, a, s, (side * 7.0, -2.0, 22.0), (4.5, 24, 7))] = 55.0  # lateral ventricle body
        volume[_inside(r, a, s, (side * 12.0, -40.0, 12.0), (4, 12, 5))] = 55.0  # occipital horn
        volume[_inside(r, a, s, (side * 32.0, 70.0, -25.0), (12, 12, 12))] = 95.0  # eye
        volume[_inside(r, a, s, (side * 32.0, 80.0, -25.0), (5, 2, 5))] = 240.0  # lens
    volume[_inside(r, a, s, (0.0, -12.0, 6.0), (1.5, 10, 6))] = 55.0  # third ventricle
    volume[_inside(r, a, s, (0.0, -8.0, 30.0), (18, 38, 3))] = 300.0  # corpus callosum
    volume[_inside(r, a, s, (0.0, -68.0, -38.0), (44, 24, 20))] = 175.0  # cerebellum
    volume[_inside(r, a, s, (0.0, -66.0, -36.0), (20, 11, 9))] = 270.0  # cerebellar white matter
    volume[_inside(r, a, s, (0.0, -34.0, -30.0), (10, 11, 26))] = 240.0  # brainstem
    volume[_inside(r, a, s, (0.0, 92.0, -30.0), (10, 16, 18)) & (a > 86.0)] = 220.0  # nose
    noise = np.random.default_rng(2016).normal(0.0, 6.0, shape).astype(np.float32)
    volume = np.where(volume > 0, volume + noise, np.abs(noise) * 0.5)
    return SampleVolume("MRHead", np.clip(volume, 0, 32767).astype(np.int16), ijk_to_ras)


def _ct_chest() -> SampleVolume:
    shape = (120, 256, 256)
    ijk_to_ras = np.array([[-1.4, 0.0, 0.0, 178.5],
                           [0.0, -1.4, 0.0, 178.5],
                           [0.0, 0.0, 2.5, -300.0],
                           [0.0, 0.0, 0.0, 1.0]])
    r, a, s = _grid(shape, ijk_to_ras)
    volume = np.full(shape, -1000.0, dtype=np.float32)
    body = _inside(r, a, s, (0.0, 0.0, -150.0), (160, 110, 1000))
    volume[body] = 40.0
    for side in (-1.0, 1.0):
        volume[_inside(r, a, s, (side * 70.0, 0.0, -140.0), (55, 75, 130))] = -820.0  # lungs
        for rib in range(6):
            z = -220.0 + rib * 30.0
            ring = _inside(r, a, s, (0.0, 0.0, z), (150, 102, 6)) & ~_inside(r, a, s, (0.0, 0.0, z), (142, 94, 8))
            volume[ring & (r * side > 20)] = 650.0
    volume[_inside(r, a, s, (15.0, 20.0, -170.0), (45, 40, 50))] = 50.0  # heart
    volume[_inside(r, a, s, (-20.0, -10.0, -150.0), (12, 12, 200))] = 220.0  # aorta with contrast
    volume[_inside(r, a, s, (0.0, -80.0, -150.0), (16, 16, 1000))] = 700.0  # spine
    noise = np.random.default_rng(2017).normal(0.0, 12.0, shape).astype(np.float32)
    volume = np.where(body, volume + noise, volume)
    return SampleVolume("CTChest", np.clip(volume, -1024, 3071).astype(np.int16), ijk_to_ras)


GENERATORS: dict[str, Callable[[], SampleVolume]] = {"MRHead": _mr_head, "CTChest": _ct_chest}
_lock = threading.Lock()


@cache
def _generated(name: str) -> SampleVolume:
    sample = GENERATORS[name]()
    return SampleVolume(sample.name, frozen_array(sample.array), frozen_array(sample.ijk_to_ras))


def sample(name: str) -> SampleVolume | None:
    """The named phantom (case-sensitive, as SampleData), generated on first use; None if unknown."""
    if name not in GENERATORS:
        return None
    with _lock:
        return _generated(name)


def names() -> list[str]:
    return list(GENERATORS)
