"""SceneService: the MRML-style scene behind `/slicer` (nodes, volumes, markups, transforms, exec).

The contract both engines implement (`headless.scene.HeadlessScene`, `slicer.scene.SlicerScene`).
Values crossing it are the frozen dataclasses below; numpy arrays inside them are read-only views
of the scene's current data (a mutation replaces a node's arrays, it never writes into them).

Conventions, fixed here once for every engine and for the renderer:

- Volume arrays are indexed `array[k, j, i]` (slowest axis K), exactly what
  `slicer.util.arrayFromVolume` returns and what `nrrd.read(..., index_order="C")` gives; IJK index
  (i, j, k) is a voxel centre. A 2D image is a volume with K = 1 (`dimension == 2` remembers it).
- `ijk_to_ras` is a 4x4 float64 matrix mapping homogeneous (i, j, k, 1) to RAS millimetres:
  columns 0..2 are the axis directions scaled by spacing, column 3 the origin. LPS files are
  converted on read and write (x and y negated), never inside the scene.
- Markups control points, model points and tracker matrices are in RAS (world) millimetres.
- Node selection follows the WebServer module: `id` wins over `class`/`name`; `class` includes
  subclasses (`vtkMRMLVolumeNode` selects scalar and labelmap volumes); default `vtkMRMLNode` (all).
  "Patterns" (`/volume?id=`, `/fiducial?id=`) are `slicer.util.getNode` patterns: a name or an id,
  `fnmatch` wildcards allowed, first match in scene order.

Every mutation is serialized (one at a time, applied atomically), so a reader never sees a
half-updated node; reads never wait for a long exec or a big upload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .render_api import RenderService

# Layout names of /slicer/gui?viewersLayout= (vtkMRMLLayoutNode.SlicerLayout<Name>View), WebServer appendix A.
LAYOUTS: tuple[str, ...] = (
    "3DTable", "CompareGrid", "Compare", "ConventionalPlot", "Conventional", "ConventionalWidescreen",
    "Custom", "Default", "DicomBrowser", "Dual3D", "DualMonitorFourUp", "Final", "FiveByTwoSlice",
    "FourByThreeSlice", "FourByTwoSlice", "FourOverFour", "FourUpPlotTable", "FourUpPlot", "FourUpTable",
    "FourUp", "Initial", "Maximized", "OneUp3D", "OneUpGreenSlice", "OneUpPlot", "OneUpRedSlice",
    "OneUpYellowSlice", "SideBySide", "Tabbed3D", "TabbedSlice", "ThreeByThreeSlice", "ThreeOverThreePlot",
    "ThreeOverThree", "Triple3DEndoscopy", "TwoOverTwo", "User",
)


@dataclass(frozen=True)
class NodeFilter:
    """Selection of `/mrml` calls: `id` alone, or `class_name` (with subclasses) and `name` (exact)."""

    id: str | None = None
    name: str | None = None
    class_name: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.id or self.name or self.class_name)


@dataclass(frozen=True)
class NodeSummary:
    """A node's identity: Slicer-style id (`vtkMRMLScalarVolumeNode1`), name and MRML class."""

    id: str
    name: str
    class_name: str


@dataclass(frozen=True, eq=False)
class VolumeData:
    """A scalar volume: voxels `array[k, j, i]` and the exact IJK-to-RAS geometry."""

    id: str
    name: str
    array: np.ndarray
    ijk_to_ras: np.ndarray
    class_name: str = "vtkMRMLScalarVolumeNode"
    dimension: int = 3

    @property
    def spacing(self) -> np.ndarray:
        """mm per voxel along i, j, k."""
        spacing: np.ndarray = np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)
        return spacing

    @property
    def origin(self) -> np.ndarray:
        """RAS position of voxel (0, 0, 0)."""
        return self.ijk_to_ras[:3, 3].copy()

    @property
    def directions(self) -> np.ndarray:
        """3x3 unit direction columns (IJK axes in RAS)."""
        directions: np.ndarray = self.ijk_to_ras[:3, :3] / self.spacing
        return directions


@dataclass(frozen=True)
class VolumeUpload:
    """A volume to create or replace (`POST /volume`): voxels `[k, j, i]` and IJK-to-RAS."""

    array: np.ndarray
    ijk_to_ras: np.ndarray
    dimension: int = 3


@dataclass(frozen=True)
class ControlPoint:
    """One markups control point; `position` is RAS (local, untransformed, as `/fiducials` reports)."""

    label: str
    position: tuple[float, float, float]
    selected: bool = True
    visible: bool = True


@dataclass(frozen=True)
class MarkupsData:
    """A markups point list (`vtkMRMLMarkupsFiducialNode`)."""

    id: str
    name: str
    color: tuple[float, float, float]
    scale: float
    points: tuple[ControlPoint, ...]
    visible: bool = True


@dataclass(frozen=True, eq=False)
class GridTransformData:
    """A displacement grid: `displacement[k, j, i, 3]` in RAS mm on the grid geometry `ijk_to_ras`."""

    id: str
    name: str
    displacement: np.ndarray
    ijk_to_ras: np.ndarray


@dataclass(frozen=True)
class Segment:
    id: str
    name: str
    color: tuple[float, float, float]
    label_value: int


@dataclass(frozen=True, eq=False)
class SegmentationData:
    """A segmentation as one labelmap `labelmap[k, j, i]` (0 = background) and its segments."""

    id: str
    name: str
    labelmap: np.ndarray
    ijk_to_ras: np.ndarray
    segments: tuple[Segment, ...]


@dataclass(frozen=True, eq=False)
class ModelData:
    """A surface model in world RAS: `points (n, 3)` float64, `triangles (m, 3)` int32."""

    id: str
    name: str
    points: np.ndarray
    triangles: np.ndarray
    color: tuple[float, float, float]
    visible: bool = True


@dataclass(frozen=True)
class GuiState:
    """What `/slicer/gui` last set: `contents` ("full" or "viewers") and the layout name (Appendix A)."""

    contents: str = "full"
    layout: str = "FourUp"


@dataclass(frozen=True, eq=False)
class RenderInputs:
    """One consistent snapshot of what the views show (what the renderer reads)."""

    background: VolumeData | None
    volumes: tuple[VolumeData, ...]
    markups: tuple[MarkupsData, ...]
    models: tuple[ModelData, ...]
    segmentations: tuple[SegmentationData, ...]
    gui: GuiState = field(default_factory=GuiState)


@dataclass(frozen=True)
class DicomWebSource:
    """Where `accessDICOMwebStudy` fetches a study: `<prefix>/<store>/studies/<study_uid>`."""

    prefix: str
    store: str
    study_uid: str
    access_token: str = ""
    ca_file: str = ""
    allowed_prefixes: tuple[str, ...] | None = None  # redirects may only go here (None: any http(s))

    @property
    def base_url(self) -> str:
        """The DICOMweb service root: prefix and store joined with one slash."""
        store = self.store.strip("/")
        return f"{self.prefix.rstrip('/')}/{store}" if store else self.prefix.rstrip("/")


class SceneService(RenderService, Protocol):
    """Scene access; every mutation is serialized so no reader sees a half-updated node."""

    # --- generic node access (/mrml) ---------------------------------------------------------
    async def select(self, selection: NodeFilter) -> list[NodeSummary]:
        """Nodes matching `selection`, in scene order (unknown id: empty list)."""
        ...

    async def properties(self, selection: NodeFilter) -> dict[str, dict[str, Any]]:
        """`{node id: nested properties}` shaped like the parse of Slicer's PrintSelf text
        (segmentations carry `["Segmentation"]["Segments"][segment id]["Name"]`). NotFound if none."""
        ...

    async def load_file(self, path: str, filetype: str, properties: dict[str, str],
                        roots: tuple[str, ...] | None = None) -> list[str]:
        """Load a server-local file (`VolumeFile`, `MarkupsFile`, `TransformFile`,
        `SegmentationFile`, ...); return the loaded node ids. Invalid/Unsupported on bad input;
        Forbidden when the path (or a detached data file) lies outside `roots` (None: anywhere)."""
        ...

    async def load_url(self, url: str, filetype: str, properties: dict[str, str],
                       max_bytes: int = 4 << 30, prefixes: tuple[str, ...] | None = None) -> list[str]:
        """Download an http(s) URL (at most `max_bytes`; redirects only to `prefixes`, None: any)
        and load it like `load_file` (a detached `.nhdr` data file must come along, not from disk)."""
        ...

    async def save_file(self, selection: NodeFilter, path: str, properties: dict[str, str],
                        roots: tuple[str, ...] | None = None) -> None:
        """Write exactly one selected node to a server-local file (`useCompression` etc.)."""
        ...

    async def remove(self, selection: NodeFilter) -> list[str]:
        """Remove the selected nodes (an empty filter clears the scene); return removed ids."""
        ...

    async def reload(self, selection: NodeFilter, roots: tuple[str, ...] | None = None) -> list[str]:
        """Re-read each selected node from the file it was loaded from; return reloaded ids."""
        ...

    async def open_url(self, url: str) -> list[str]:
        """Handle a `slicer://` URL (slicerio's `/slicer/open`); return loaded node ids."""
        ...

    # --- volumes -----------------------------------------------------------------------------
    async def volumes(self) -> list[NodeSummary]:
        """Scalar and labelmap volumes."""
        ...

    async def volume(self, pattern: str | None = None) -> VolumeData:
        """The volume matching the getNode `pattern` (None: the first scalar volume). NotFound."""
        ...

    async def put_volume(self, pattern: str | None, upload: VolumeUpload) -> NodeSummary:
        """Replace the matching volume's voxels and geometry, or create a new scalar volume named
        `pattern`; the result becomes the active volume."""
        ...

    async def select_volume(self, direction: str) -> NodeSummary:
        """Make the next/previous volume active (`/volumeSelection?cmd=`)."""
        ...

    async def load_dicom_series(self, series_uid: str) -> list[str]:
        """Load a series from the engine's DICOM database as a volume; return node ids."""
        ...

    async def access_dicomweb_study(self, source: DicomWebSource) -> list[str]:
        """Download a study from a DICOMweb server, import it into the DICOM database and load it."""
        ...

    # --- transforms, markups, segmentations, models ------------------------------------------
    async def grid_transforms(self) -> list[NodeSummary]:
        ...

    async def grid_transform(self, pattern: str | None = None) -> GridTransformData:
        """The grid transform matching `pattern` (None: the first one). NotFound."""
        ...

    async def fiducials(self) -> list[MarkupsData]:
        """Every markups point list, in scene order."""
        ...

    async def set_control_point(self, pattern: str | None, index: int,
                                position: tuple[float, float, float]) -> None:
        """Move control point `index` of the matching point list to RAS `position`."""
        ...

    async def segmentations(self) -> list[SegmentationData]:
        ...

    async def tracker(self) -> np.ndarray:
        """The `tracker` transform's 4x4 to-parent matrix (identity before the first `set_tracker`)."""
        ...

    async def set_tracker(self, matrix: np.ndarray) -> None:
        """Set the `tracker` transform (4x4 RAS) that moves the `trackingDevice` cube model."""
        ...

    # --- application state -------------------------------------------------------------------
    async def gui(self) -> GuiState:
        ...

    async def set_gui(self, contents: str | None, layout: str | None) -> GuiState:
        """Record `contents` ("full"/"viewers") and/or a layout from LAYOUTS (case-insensitive)."""
        ...

    async def load_sample(self, name: str) -> list[str]:
        """Load a built-in sample data set (`MRHead`, `CTChest`, ...); return node ids."""
        ...

    async def sample_names(self) -> list[str]:
        ...

    async def render_inputs(self) -> RenderInputs:
        """A consistent snapshot of everything the views show."""
        ...

    async def execute(self, source: str) -> Any:
        """Run Python `source` with the scene in scope (never on the event loop); return its
        `__execResult` (any JSON-able value; default `{}`)."""
        ...
