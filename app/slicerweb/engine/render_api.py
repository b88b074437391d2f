"""RenderService: the views of the scene as images (`/slicer/slice`, `threeD`, `screenshot`, `threeDGraphics`).

Part of `SceneService` (scene_api.py). Requests are validated values; the engine answers PNG bytes
(or a glTF document) and raises `NotFound` for an unknown view, volume or widget and `Invalid` for
parameters it cannot apply. View state persists between calls, as in Slicer: a slice view keeps its
orientation and position until a request changes them, and the 3D view keeps its camera.

Empty scene: the views still exist, so a slice is a black image of the requested size, the 3D
view is its background and the screenshot is the layout of those; only an explicitly named volume
that does not exist is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

SLICE_VIEWS = ("red", "yellow", "green")
MAX_IMAGE_SIZE = 4096


Interpolation = Literal["linear", "nearest"]
INTERPOLATIONS: tuple[Interpolation, ...] = ("linear", "nearest")
RenderMode = Literal["mip", "composite"]  # maximum intensity projection, or alpha compositing
RENDER_MODES: tuple[RenderMode, ...] = ("mip", "composite")


@dataclass(frozen=True)
class SliceRequest:
    """What `GET /slicer/slice` asks of a slice view. `None` leaves the view's setting as it is.

    Applied in this order: `copy_geometry_from`, `orientation` (a change re-fits the view to the
    volume, as Slicer's FitSliceToBackground), `scroll_to`, `offset`. The original applied the
    position first and lost it when the orientation changed in the same request.
    """

    view: str = "red"
    orientation: str | None = None     # axial | sagittal | coronal
    scroll_to: float | None = None     # 0..1 across the volume's voxel centres along the normal
    offset: float | None = None        # absolute slider position in mm along the normal (0 honoured)
    copy_geometry_from: str | None = None
    size: tuple[int, int] | None = None  # (width, height) pixels; None keeps the view's size
    window: float | None = None        # display window/level for this image; None: the volume's
    level: float | None = None
    volume: str | None = None          # node id or name shown in the view; None: the background volume
    interpolation: Interpolation = "linear"
    labels: bool = False               # draw orientation letters (R/L, A/P, S/I) at the edges


@dataclass(frozen=True)
class ThreeDRequest:
    """What `GET /slicer/threeD` asks of the first 3D view."""

    look_from_axis: str | None = None  # L R A P S I (first letter counts: left, anterior, ...)
    size: tuple[int, int] | None = None
    mode: RenderMode = "mip"


class RenderService(Protocol):
    """The scene's views rendered to images."""

    async def render_slice(self, request: SliceRequest) -> bytes:
        """PNG of a slice view after applying `request` (NotFound: unknown view or volume)."""
        ...

    async def render_threed(self, request: ThreeDRequest) -> bytes:
        """PNG of the first 3D view after applying `request`."""
        ...

    async def screenshot(self) -> bytes:
        """PNG of the whole view layout (headless: four-up, 3D top left; Slicer: the main window)."""
        ...

    async def export_gltf(self, widget_index: int = 0, box_visible: bool = False) -> dict[str, Any]:
        """glTF 2.0 document of 3D view `widget_index` (NotFound if there is no such view)."""
        ...
