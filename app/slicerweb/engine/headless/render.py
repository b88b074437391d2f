"""The headless engine's views: three slice views, one 3D view, their state, and their images.

`HeadlessViews` is given the scene's `RenderInputs` snapshot (what is visible: volumes, markups, models)
on each call and keeps only view state: each slice view's geometry and size, the volume it was fitted to, and
the 3D camera. Rendering is pure numpy + Pillow (reslice.py, raycast.py, gltf.py) and runs in a worker
thread; a lock serializes the view-state updates.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ..errors import NotFound
from ..render_api import SLICE_VIEWS, SliceRequest, ThreeDRequest
from ..scene_api import RenderInputs, VolumeData
from . import gltf, raycast, reslice
from .overlays import draw_control_points, draw_orientation_labels, overlay_segmentations
from .png import encode_png

DEFAULT_ORIENTATION = {"red": "axial", "yellow": "sagittal", "green": "coronal"}
DEFAULT_SIZE = (512, 512)
SCREENSHOT_TILE = (400, 400)
# Screenshot layouts: (view, column, row, columns wide, rows high) on a grid of SCREENSHOT_TILE cells.
LAYOUT_TILES: dict[str, tuple[tuple[str, int, int, int, int], ...]] = {
    "fourup": (("3d", 0, 0, 1, 1), ("red", 1, 0, 1, 1), ("yellow", 0, 1, 1, 1), ("green", 1, 1, 1, 1)),
    "conventional": (("3d", 0, 0, 3, 2), ("red", 0, 2, 1, 1), ("yellow", 1, 2, 1, 1), ("green", 2, 2, 1, 1)),
    "oneup3d": (("3d", 0, 0, 2, 2),),
    "oneupredslice": (("red", 0, 0, 2, 2),),
    "oneupyellowslice": (("yellow", 0, 0, 2, 2),),
    "oneupgreenslice": (("green", 0, 0, 2, 2),),
    "sidebyside": (("red", 0, 0, 2, 2), ("yellow", 2, 0, 2, 2)),
}
# Slicer's slice controller bar colours.
VIEW_COLOURS = {"red": (243, 74, 51), "yellow": (237, 213, 76), "green": (110, 176, 75)}


def find_volume(inputs: RenderInputs, ref: str | None) -> VolumeData | None:
    """The volume with id or name `ref` (NotFound), or the background volume when `ref` is None."""
    if ref is None:
        return inputs.background or (inputs.volumes[0] if inputs.volumes else None)
    for volume in inputs.volumes:
        if ref in (volume.id, volume.name):
            return volume
    raise NotFound(f"no volume with id or name {ref!r}")


def _rgb255(colour: tuple[float, float, float]) -> tuple[int, int, int]:
    red, green, blue = colour
    return int(red * 255), int(green * 255), int(blue * 255)


def point_sets(inputs: RenderInputs) -> list[gltf.PointSet]:
    """Visible control points of visible markups, one set per markups node."""
    sets = []
    for markups in inputs.markups:
        shown = [p for p in markups.points if p.visible] if markups.visible else []
        sets.append(gltf.PointSet(markups.name, np.array([p.position for p in shown], dtype=float).reshape(-1, 3),
                                  [p.label for p in shown], markups.color))
    return sets


@dataclass
class SliceView:
    """State of one slice view (Slicer: its vtkMRMLSliceNode)."""

    orientation: str
    size: tuple[int, int] = DEFAULT_SIZE
    geometry: reslice.SliceGeometry | None = None
    fitted_to: str | None = None  # id of the volume the geometry was fitted to
    active_seen: str | None = None  # the scene's active volume when the view last looked


@dataclass
class HeadlessViews:
    """Slice views red/yellow/green and 3D view 0 of the headless scene."""

    slices: dict[str, SliceView] = field(
        default_factory=lambda: {name: SliceView(DEFAULT_ORIENTATION[name]) for name in SLICE_VIEWS})
    camera_axis: str = "a"  # Slicer's default 3D view looks from Anterior
    threed_size: tuple[int, int] = DEFAULT_SIZE
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _windows: dict[tuple[str, int, tuple[int, ...]], tuple[float, float]] = field(default_factory=dict)

    # --- slice views -------------------------------------------------------------------------------

    def slice_png(self, request: SliceRequest, scene: RenderInputs) -> bytes:
        """Apply `request` to its view and render it as PNG."""
        with self._lock:
            image = self._render_slice(request, scene)
        return encode_png(image)

    def _view(self, name: str) -> SliceView:
        try:
            return self.slices[name.lower()]
        except KeyError:
            raise NotFound(f"no slice view {name!r} (views: {', '.join(self.slices)})") from None

    def _render_slice(self, request: SliceRequest, scene: RenderInputs) -> np.ndarray:
        view = self._view(request.view)
        volume = find_volume(scene, request.volume) if request.volume else self._shown_volume(view, scene)
        if request.copy_geometry_from is not None:
            self._copy_geometry(view, self._view(request.copy_geometry_from), volume)
        if request.orientation is not None:
            reslice.orientation_matrix(request.orientation)  # Invalid for unknown names
            if request.orientation.lower() != view.orientation:
                view.orientation, view.geometry = request.orientation.lower(), None
        width, height = request.size or view.size
        if volume is None:
            view.size = (width, height)
            return np.zeros((height, width), dtype=np.uint8)
        geometry = self._fitted(view, volume, (width, height))
        if request.scroll_to is not None:
            low, high = reslice.offset_range(geometry, volume.array.shape, volume.ijk_to_ras)
            geometry = geometry.with_offset(low + request.scroll_to * (high - low))
        if request.offset is not None:
            geometry = geometry.with_offset(request.offset)
        view.geometry, view.size = geometry, (width, height)
        values, inside = reslice.sample_plane(volume.array, volume.ijk_to_ras, geometry, width, height,
                                              request.interpolation)
        window, level = self._window(volume, request.window, request.level)
        pixels = reslice.window_to_uint8(values, inside, window, level)
        if scene.segmentations:
            pixels = overlay_segmentations(pixels, scene.segmentations, geometry)
        if any(len(p.points) for p in point_sets(scene)):
            # Slicer shows a control point in the slice that contains it: within half a voxel of the plane.
            half_voxel = 0.5 * float(np.abs(volume.ijk_to_ras[:3, :3].T @ geometry.normal).max())
            pixels = draw_control_points(pixels, point_sets(scene), geometry, half_voxel)
        return draw_orientation_labels(pixels, geometry) if request.labels else pixels

    def _shown_volume(self, view: SliceView, scene: RenderInputs) -> VolumeData | None:
        """A newly active volume (Slicer shows a loaded volume in every view), else the one the view
        showed last if it still exists, else the background volume."""
        active = scene.background.id if scene.background is not None else None
        changed, view.active_seen = active != view.active_seen, active
        if not changed:
            for volume in scene.volumes:
                if volume.id == view.fitted_to:
                    return volume
        return find_volume(scene, None)

    def _fitted(self, view: SliceView, volume: VolumeData, size: tuple[int, int]) -> reslice.SliceGeometry:
        if view.geometry is None or view.fitted_to != volume.id:
            view.fitted_to = volume.id
            return reslice.fit_to_volume(view.orientation, volume.array.shape, volume.ijk_to_ras, *size)
        if size != view.size:
            return reslice.fit_geometry_to_size(view.geometry, *size, previous=view.size)
        return view.geometry

    def _copy_geometry(self, view: SliceView, source: SliceView, volume: VolumeData | None) -> None:
        """Slicer's copySliceGeometryFrom: take the other view's plane and scale."""
        if volume is not None:
            source.geometry = self._fitted(source, volume, source.size)
        view.orientation, view.geometry, view.fitted_to = source.orientation, source.geometry, source.fitted_to
        if view.geometry is not None:
            view.geometry = reslice.fit_geometry_to_size(view.geometry, *view.size, previous=source.size)

    def _window(self, volume: VolumeData, window: float | None, level: float | None) -> tuple[float, float]:
        # Snapshots hand out fresh read-only views of the same buffer; a mutation replaces the buffer.
        key = (volume.id, volume.array.__array_interface__["data"][0], volume.array.shape)
        if key not in self._windows:
            self._windows = {k: v for k, v in self._windows.items() if k[0] != volume.id}
            self._windows[key] = reslice.auto_window_level(volume.array)
        auto = self._windows[key]
        return (window if window is not None else auto[0]), (level if level is not None else auto[1])

    # --- 3D view ------------------------------------------------------------------------------------

    def threed_image(self, request: ThreeDRequest, scene: RenderInputs) -> Image.Image:
        """The 3D view after applying `request` (the camera axis persists, as Slicer's camera does)."""
        with self._lock:
            if request.look_from_axis is not None:
                raycast.camera_for_axis(request.look_from_axis)  # validates
                self.camera_axis = request.look_from_axis.strip()[:1].lower()
            if request.size is not None:
                self.threed_size = request.size
            axis, (width, height) = self.camera_axis, self.threed_size
            volume = find_volume(scene, None)
            source = None if volume is None else raycast.Volume3D(
                volume.array, volume.ijk_to_ras, *self._window(volume, None, None))
        sets = point_sets(scene)
        points = [p for s in sets for p in s.points]
        colours = [_rgb255(s.colour) for s in sets for _ in s.points]
        return raycast.render_threed(source, np.array(points, dtype=float).reshape(-1, 3), colours,
                                     raycast.camera_for_axis(axis), width, height, request.mode)

    def threed_png(self, request: ThreeDRequest, scene: RenderInputs) -> bytes:
        return encode_png(self.threed_image(request, scene))

    # --- layout and export ---------------------------------------------------------------------------

    def screenshot_png(self, scene: RenderInputs) -> bytes:
        """The view layout recorded by `/gui?viewersLayout=` (FourUp unless one of LAYOUT_TILES)."""
        tiles = LAYOUT_TILES.get(scene.gui.layout.lower(), LAYOUT_TILES["fourup"])
        unit_w, unit_h = SCREENSHOT_TILE
        columns = max(x + w for _, x, _, w, _ in tiles)
        rows = max(y + h for _, _, y, _, h in tiles)
        canvas = Image.new("RGB", (columns * unit_w, rows * unit_h), (20, 20, 20))
        for name, x, y, w, h in tiles:
            size = (w * unit_w - 2, h * unit_h - 2)  # a 2-pixel gap between views
            if name == "3d":
                with self._lock:
                    saved = self.threed_size
                tile = self.threed_image(ThreeDRequest(size=size), scene)
                with self._lock:
                    self.threed_size = saved
            else:
                tile = self._slice_tile(name, size, scene)
            canvas.paste(tile, (x * unit_w, y * unit_h))
        return encode_png(canvas)

    def _slice_tile(self, name: str, size: tuple[int, int], scene: RenderInputs) -> Image.Image:
        """A slice view under its controller-bar colour, rendered without changing the view's size."""
        bar = 6
        width, height = size
        with self._lock:
            view = self.slices[name]
            saved = view.size
            pixels = self._render_slice(SliceRequest(view=name, size=(width, height - bar)), scene)
            if view.geometry is not None:
                view.geometry = reslice.fit_geometry_to_size(view.geometry, *saved, previous=(width, height - bar))
            view.size = saved
        tile = Image.new("RGB", size, VIEW_COLOURS[name])
        tile.paste(Image.fromarray(pixels).convert("RGB"), (0, bar))
        return tile

    def gltf(self, scene: RenderInputs, widget_index: int, box_visible: bool) -> dict[str, Any]:
        if widget_index != 0:
            raise NotFound(f"no 3D view {widget_index} (the headless engine has one: 0)")
        boxes = [(v.name, reslice.voxel_corners(v.array.shape, v.ijk_to_ras)) for v in scene.volumes]
        meshes = [gltf.Mesh(m.name, m.points, m.triangles, m.color) for m in scene.models if m.visible]
        return gltf.export_scene(meshes, point_sets(scene), boxes, box_visible)


class HeadlessRendering:
    """The RenderService half of HeadlessScene: snapshots the scene, renders in a worker thread.

    The scene provides `render_inputs()` (a consistent snapshot, taken under its lock) and `views`.
    """

    views: HeadlessViews

    async def render_inputs(self) -> RenderInputs:
        raise NotImplementedError

    async def render_slice(self, request: SliceRequest) -> bytes:
        return await asyncio.to_thread(self.views.slice_png, request, await self.render_inputs())

    async def render_threed(self, request: ThreeDRequest) -> bytes:
        return await asyncio.to_thread(self.views.threed_png, request, await self.render_inputs())

    async def screenshot(self) -> bytes:
        return await asyncio.to_thread(self.views.screenshot_png, await self.render_inputs())

    async def export_gltf(self, widget_index: int = 0, box_visible: bool = False) -> dict[str, Any]:
        return await asyncio.to_thread(self.views.gltf, await self.render_inputs(), widget_index, box_visible)
