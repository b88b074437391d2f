"""What slice views draw over the resliced image: segments, markups control points, orientation letters.

Each takes the uint8 image (grey (H, W) or RGB (H, W, 3)) and the view's `SliceGeometry`, and returns
an RGB image; the look follows Slicer's defaults (segments filled at 50%, control points as dots in
their markups colour, patient-direction letters at the edges).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..scene_api import SegmentationData
from . import reslice
from .gltf import PointSet

SEGMENT_OPACITY = 0.5
LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))  # (negative, positive) per RAS axis


def direction_letter(vector: np.ndarray) -> str:
    """The patient direction a unit RAS vector points to most (`R`, `L`, `A`, `P`, `S`, `I`)."""
    axis = int(np.argmax(np.abs(vector)))
    return LETTERS[axis][1 if vector[axis] > 0 else 0]


def overlay_segmentations(pixels: np.ndarray, segmentations: Sequence[SegmentationData],
                          geometry: reslice.SliceGeometry) -> np.ndarray:
    """Segments filled in their colours at SEGMENT_OPACITY over the grey image (Slicer's default look)."""
    height, width = pixels.shape[:2]
    rgb = np.repeat(pixels[..., None], 3, axis=2).astype(np.float32) if pixels.ndim == 2 else pixels.astype(np.float32)
    for segmentation in segmentations:
        if not segmentation.segments:
            continue
        labels, inside = reslice.sample_plane(segmentation.labelmap, segmentation.ijk_to_ras, geometry, width, height,
                                              "nearest")
        labels = np.where(inside, labels, 0).astype(np.int64)
        top = max(int(labels.max()), max(s.label_value for s in segmentation.segments))
        colours = np.zeros((top + 1, 3), dtype=np.float32)
        opacity = np.zeros(top + 1, dtype=np.float32)
        for segment in segmentation.segments:
            if segment.label_value > 0:
                colours[segment.label_value] = np.array(segment.color, dtype=np.float32) * 255
                opacity[segment.label_value] = SEGMENT_OPACITY
        alpha = opacity[labels][..., None]
        rgb = rgb * (1 - alpha) + colours[labels] * alpha
    return rgb.astype(np.uint8)


def draw_control_points(pixels: np.ndarray, sets: Sequence[PointSet], geometry: reslice.SliceGeometry,
                        tolerance: float) -> np.ndarray:
    """Markups control points within `tolerance` mm of the plane, as dots in their markups colour."""
    height, width = pixels.shape[:2]
    image = Image.fromarray(pixels).convert("RGB")
    draw = ImageDraw.Draw(image)
    radius = max(3.0, min(width, height) * 0.015)
    for point_set in sets:
        if not len(point_set.points):
            continue
        colour = tuple(int(c * 255) for c in point_set.colour)
        for col, row, distance in geometry.ras_to_pixel(point_set.points, width, height):
            if abs(distance) <= tolerance:
                draw.ellipse((col - radius, row - radius, col + radius, row + radius), fill=colour)
    return np.asarray(image)


def draw_orientation_labels(pixels: np.ndarray, geometry: reslice.SliceGeometry) -> np.ndarray:
    """Patient-direction letters at the four edges (as Slicer's orientation markers), in yellow."""
    image = Image.fromarray(pixels).convert("RGB")
    height, width = pixels.shape[:2]
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, min(width, height) // 24))
    right, up = geometry.slice_to_ras[:3, 0], geometry.slice_to_ras[:3, 1]
    margin = 4
    for vector, anchor, xy in ((up, "mt", (width / 2, margin)), (-up, "mb", (width / 2, height - margin)),
                               (-right, "lm", (margin, height / 2)), (right, "rm", (width - margin, height / 2))):
        draw.text(xy, direction_letter(vector), fill=(255, 220, 0), font=font, anchor=anchor)
    return np.asarray(image)
