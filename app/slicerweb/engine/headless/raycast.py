"""The headless 3D view: orthographic ray casting of a volume (MIP or composite) plus markups as dots.

The camera follows ctkVTKRenderView.lookFromAxis: it sits on the named patient axis looking at the
scene centre, with Superior up for the L/R/A/P views and Anterior up for S/I. Screen right is
`forward x up`, so looking from Anterior the patient's left is on the viewer's right, as in Slicer.
Slicer's default 3D view looks from Anterior. Unlike Slicer's perspective camera the projection is
orthographic, so distances on screen are true to scale.

Rays are marched front to back one plane at a time (each plane is one vectorised `sample_plane`), at
an internal resolution of at most `MAX_INTERNAL` pixels and `MAX_STEPS` samples per ray; the image is
then scaled to the requested size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..errors import Invalid
from ..render_api import RenderMode
from .reslice import SliceGeometry, sample_plane, voxel_corners

MAX_INTERNAL = 256
MAX_STEPS = 256
DEPTH_CUE = 0.6  # composite: the far side of the volume at 40% brightness
# Slicer's default 3D view background gradient (top, bottom).
BACKGROUND_TOP = np.array([0.7568, 0.7647, 0.9098], dtype=np.float32)
BACKGROUND_BOTTOM = np.array([0.4549, 0.4706, 0.7451], dtype=np.float32)

AXES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # letter: (camera position direction from the centre, view up)
    "r": ((1, 0, 0), (0, 0, 1)),
    "l": ((-1, 0, 0), (0, 0, 1)),
    "a": ((0, 1, 0), (0, 0, 1)),
    "p": ((0, -1, 0), (0, 0, 1)),
    "s": ((0, 0, 1), (0, 1, 0)),
    "i": ((0, 0, -1), (0, 1, 0)),
}


@dataclass(frozen=True)
class Camera:
    """Screen right, screen up and viewing direction (unit RAS vectors)."""

    right: np.ndarray
    up: np.ndarray
    forward: np.ndarray


def camera_for_axis(axis: str) -> Camera:
    """The camera of `lookFromAxis` (`L`, `left`, `A`, `anterior`, ...: the first letter counts)."""
    letter = axis.strip()[:1].lower()
    if letter not in AXES:
        raise Invalid(f"lookFromAxis must be one of L, R, A, P, S, I (or left, right, ...), not {axis!r}")
    position, up = (np.array(v, dtype=float) for v in AXES[letter])
    forward = -position
    return Camera(np.cross(forward, up), up, forward)


@dataclass(frozen=True)
class Volume3D:
    """What the ray caster needs of a volume: values `[k, j, i]`, IJK-to-RAS and the display window."""

    array: np.ndarray
    ijk_to_ras: np.ndarray
    window: float
    level: float


def scene_bounds(volume: Volume3D | None, points: np.ndarray) -> np.ndarray | None:
    """RAS points spanning what is visible: the volume's voxel box corners and the markups."""
    parts = [points.reshape(-1, 3)] if len(points) else []
    if volume is not None:
        parts.append(voxel_corners(volume.array.shape, volume.ijk_to_ras))
    return np.concatenate(parts) if parts else None


def view_geometry(camera: Camera, bounds: np.ndarray, width: int, height: int) -> tuple[SliceGeometry, float, float]:
    """A plane facing the camera through the bounds' centre, fitted with a 10% margin; (geometry, near, far)."""
    basis = np.stack([camera.right, camera.up, camera.forward], axis=1)
    local = bounds @ basis
    low, high = local.min(axis=0), local.max(axis=0)
    extent = np.maximum(high - low, 1.0)
    spacing = 1.1 * max(extent[0] / width, extent[1] / height)
    matrix = np.eye(4)
    matrix[:3, :3] = basis
    matrix[:3, 3] = basis @ ((low + high) / 2)
    half_depth = extent[2] / 2
    return SliceGeometry(matrix, float(spacing), "3d"), -half_depth, half_depth


def render_volume(volume: Volume3D, geometry: SliceGeometry, near: float, far: float, width: int, height: int,
                  mode: RenderMode) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast premultiplied grey intensity and opacity, each float32 (height, width) in 0..1."""
    voxel = float(np.min(np.linalg.norm(volume.ijk_to_ras[:3, :3], axis=0)))
    steps = int(min(MAX_STEPS, max(2, np.ceil((far - near) / max(voxel, 1e-6)))))
    step_mm = (far - near) / steps
    low = volume.level - volume.window / 2
    scale = np.float32(1.0 / max(volume.window, 1e-6))
    colour = np.zeros((height, width), dtype=np.float32)
    alpha = np.zeros((height, width), dtype=np.float32)
    # Opacity per sample scaled to the step length so the look does not depend on MAX_STEPS.
    opacity = np.float32(min(1.0, 0.08 * step_mm / max(voxel, 1e-6)))
    for n in range(steps):
        plane = geometry.with_offset(geometry.offset + near + (n + 0.5) * step_mm)
        values, inside = sample_plane(volume.array, volume.ijk_to_ras, plane, width, height, "nearest")
        intensity = np.clip((values - np.float32(low)) * scale, 0, 1)
        intensity[~inside] = 0
        if mode == "mip":
            np.maximum(colour, intensity, out=colour)
            continue
        sample_alpha = intensity * intensity * opacity
        depth_cue = np.float32(1.0 - DEPTH_CUE * n / steps)  # nearer is brighter: surfaces read as 3D
        colour += (1 - alpha) * sample_alpha * intensity * depth_cue
        alpha += (1 - alpha) * sample_alpha
        if float(alpha.min()) > 0.98:
            break
    if mode == "mip":
        alpha = colour.copy()
        colour = colour * colour  # premultiplied: intensity weighted by its own opacity
    return colour, alpha


def background(width: int, height: int) -> np.ndarray:
    """Slicer's blue 3D-view gradient, float32 (height, width, 3)."""
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    row = BACKGROUND_TOP * (1 - t) + BACKGROUND_BOTTOM * t
    return np.broadcast_to(row, (height, width, 3)).copy()


def render_threed(volume: Volume3D | None, points: np.ndarray, colours: Sequence[tuple[int, int, int]],
                  camera: Camera, width: int, height: int, mode: RenderMode = "mip",
                  show_box: bool = True) -> Image.Image:
    """The 3D view as an RGB image: background, ray-cast volume, its box outline, markups as dots."""
    rgb = background(width, height)
    bounds = scene_bounds(volume, points)
    if bounds is None:
        return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")
    scale = min(1.0, MAX_INTERNAL / max(width, height))
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    geometry, near, far = view_geometry(camera, bounds, inner_w, inner_h)
    if volume is not None:
        colour, alpha = render_volume(volume, geometry, near, far, inner_w, inner_h, mode)
        inner = np.concatenate([colour[..., None], alpha[..., None]], axis=2)
        if (inner_w, inner_h) != (width, height):
            inner = np.stack([np.asarray(Image.fromarray(inner[..., c], "F").resize((width, height),
                              Image.Resampling.BILINEAR)) for c in range(2)], axis=2)
        rgb = rgb * (1 - inner[..., 1:2]) + inner[..., 0:1]
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
    full = SliceGeometry(geometry.slice_to_ras, geometry.spacing * inner_w / width, "3d")
    draw = ImageDraw.Draw(image)
    if volume is not None and show_box:
        _draw_box(draw, voxel_corners(volume.array.shape, volume.ijk_to_ras), full, width, height)
    if len(points):
        radius = max(3.0, min(width, height) / 80)
        for (col, row, _), colour_rgb in zip(full.ras_to_pixel(points, width, height), colours, strict=True):
            draw.ellipse((col - radius, row - radius, col + radius, row + radius), fill=tuple(colour_rgb),
                         outline=(40, 40, 40))
    return image


def _draw_box(draw: ImageDraw.ImageDraw, corners: np.ndarray, geometry: SliceGeometry, width: int,
              height: int) -> None:
    pixels = geometry.ras_to_pixel(corners, width, height)[:, :2]
    for a in range(8):
        for bit in (1, 2, 4):
            b = a | bit
            if b != a:
                draw.line([tuple(pixels[a]), tuple(pixels[b])], fill=(230, 230, 230), width=1)
