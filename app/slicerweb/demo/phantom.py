"""A smooth anatomical phantom in patient coordinates (mm), sampled slice by slice.

The phantom is a label volume defined analytically (body, lungs, heart, spine), so any matrix size,
pixel spacing and slice position samples the same anatomy: neighbouring slices and series of one
study agree geometrically. `SliceGrid` holds the per-series coordinate grids once; `labels(z)` is a
handful of numpy operations per slice, cheap enough for 512² series of several hundred slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BACKGROUND, BODY, LUNG, HEART, SPINE = range(5)
TISSUES = ("background", "body", "lung", "heart", "spine")

# Tissue values per modality flavour: CT in Hounsfield units, MR as 12-bit signal intensities.
CT_HU = np.array([-1000, 40, -820, 55, 700], dtype=np.int16)
MR_SIGNAL = {
    "T1": np.array([0, 900, 60, 700, 1300], dtype=np.int16),
    "T2": np.array([0, 700, 40, 1400, 500], dtype=np.int16),
    "PD": np.array([0, 1100, 80, 1200, 900], dtype=np.int16),
}


@dataclass(frozen=True)
class SliceGrid:
    """Patient-coordinate grids of one axial series (x along columns, y along rows)."""

    x: np.ndarray
    y: np.ndarray
    texture: np.ndarray

    @classmethod
    def axial(cls, rows: int, columns: int, spacing: float, origin_x: float, origin_y: float) -> SliceGrid:
        x = (origin_x + spacing * np.arange(columns, dtype=np.float32))[np.newaxis, :]
        y = (origin_y + spacing * np.arange(rows, dtype=np.float32))[:, np.newaxis]
        texture = (np.cos(x / 23.0) * np.sin(y / 31.0)).astype(np.float32)
        return cls(x=x, y=y, texture=texture)

    def labels(self, z: float) -> np.ndarray:
        """The tissue label of every pixel on the axial plane at height `z` (mm)."""
        x, y = self.x, self.y
        out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.uint8)
        out[(x / 150.0) ** 2 + (y / 110.0) ** 2 <= 1.0] = BODY
        zz = (z / 130.0) ** 2
        if zz < 1.0:
            lung_y = ((y + 5.0) / 65.0) ** 2 + zz
            out[((x - 65.0) / 45.0) ** 2 + lung_y <= 1.0] = LUNG
            out[((x + 65.0) / 45.0) ** 2 + lung_y <= 1.0] = LUNG
        hz = ((z - 20.0) / 60.0) ** 2
        if hz < 1.0:
            out[((x - 15.0) / 45.0) ** 2 + ((y + 15.0) / 40.0) ** 2 + hz <= 1.0] = HEART
        out[(x / 16.0) ** 2 + ((y - 75.0) / 16.0) ** 2 <= 1.0] = SPINE
        return out

    def sample(self, z: float, values: np.ndarray, texture_amplitude: float) -> np.ndarray:
        """Tissue values at height `z` plus a smooth texture inside the body (int16)."""
        labels = self.labels(z)
        image = values[labels].astype(np.float32)
        image += np.where(labels > 0, texture_amplitude * self.texture, 0.0)
        pixels: np.ndarray = np.rint(image).astype(np.int16)
        return pixels
