"""The headless scene's nodes: MRML class names and inheritance, and one frozen dataclass per kind.

Nodes are immutable: a change builds a new node (`dataclasses.replace`) and the store swaps it in
under its lock, so a reader holding a node never sees it half-updated. Arrays are made read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..scene_api import (
    ControlPoint,
    GridTransformData,
    MarkupsData,
    ModelData,
    NodeSummary,
    Segment,
    SegmentationData,
    VolumeData,
)

# MRML class -> parent class (the subset the headless scene holds), for `class=` filters.
PARENTS: dict[str, str | None] = {
    "vtkMRMLNode": None,
    "vtkMRMLStorableNode": "vtkMRMLNode",
    "vtkMRMLTransformableNode": "vtkMRMLStorableNode",
    "vtkMRMLDisplayableNode": "vtkMRMLTransformableNode",
    "vtkMRMLVolumeNode": "vtkMRMLDisplayableNode",
    "vtkMRMLScalarVolumeNode": "vtkMRMLVolumeNode",
    "vtkMRMLLabelMapVolumeNode": "vtkMRMLScalarVolumeNode",
    "vtkMRMLMarkupsNode": "vtkMRMLDisplayableNode",
    "vtkMRMLMarkupsFiducialNode": "vtkMRMLMarkupsNode",
    "vtkMRMLTransformNode": "vtkMRMLDisplayableNode",
    "vtkMRMLLinearTransformNode": "vtkMRMLTransformNode",
    "vtkMRMLGridTransformNode": "vtkMRMLTransformNode",
    "vtkMRMLSegmentationNode": "vtkMRMLDisplayableNode",
    "vtkMRMLModelNode": "vtkMRMLDisplayableNode",
}


def is_a(class_name: str, base: str) -> bool:
    """True when `class_name` is `base` or derives from it (vtkObject::IsA)."""
    current: str | None = class_name
    while current is not None:
        if current == base:
            return True
        current = PARENTS.get(current)
    return False


def frozen_array(array: np.ndarray) -> np.ndarray:
    """The array itself, marked read-only (a C-contiguous copy when it is not contiguous)."""
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Storage:
    """Where a node was loaded from, for `PUT /mrml` reload."""

    path: str
    filetype: str
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, eq=False, kw_only=True)
class Node:
    id: str
    name: str
    class_name: str = "vtkMRMLNode"
    storage: Storage | None = None
    transform_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    def summary(self) -> NodeSummary:
        return NodeSummary(self.id, self.name, self.class_name)


@dataclass(frozen=True, eq=False, kw_only=True)
class VolumeNode(Node):
    class_name: str = "vtkMRMLScalarVolumeNode"
    array: np.ndarray
    ijk_to_ras: np.ndarray
    dimension: int = 3
    window_level: tuple[float, float] | None = None

    def data(self) -> VolumeData:
        return VolumeData(self.id, self.name, self.array, self.ijk_to_ras, self.class_name, self.dimension)


@dataclass(frozen=True, eq=False, kw_only=True)
class MarkupsNode(Node):
    class_name: str = "vtkMRMLMarkupsFiducialNode"
    points: tuple[ControlPoint, ...] = ()
    color: tuple[float, float, float] = (1.0, 0.5000076295109483, 0.5000076295109483)
    selected_color: tuple[float, float, float] = (1.0, 0.5000076295109483, 0.5000076295109483)
    scale: float = 3.0
    visible: bool = True

    def data(self) -> MarkupsData:
        return MarkupsData(self.id, self.name, self.selected_color, self.scale, self.points, self.visible)


@dataclass(frozen=True, eq=False, kw_only=True)
class LinearTransformNode(Node):
    class_name: str = "vtkMRMLLinearTransformNode"
    matrix: np.ndarray = field(default_factory=lambda: frozen_array(np.eye(4)))


@dataclass(frozen=True, eq=False, kw_only=True)
class GridTransformNode(Node):
    class_name: str = "vtkMRMLGridTransformNode"
    displacement: np.ndarray
    ijk_to_ras: np.ndarray

    def data(self) -> GridTransformData:
        return GridTransformData(self.id, self.name, self.displacement, self.ijk_to_ras)


@dataclass(frozen=True, eq=False, kw_only=True)
class SegmentationNode(Node):
    class_name: str = "vtkMRMLSegmentationNode"
    labelmap: np.ndarray
    ijk_to_ras: np.ndarray
    segments: tuple[Segment, ...] = ()

    def data(self) -> SegmentationData:
        return SegmentationData(self.id, self.name, self.labelmap, self.ijk_to_ras, self.segments)


@dataclass(frozen=True, eq=False, kw_only=True)
class ModelNode(Node):
    class_name: str = "vtkMRMLModelNode"
    points: np.ndarray
    triangles: np.ndarray
    color: tuple[float, float, float] = (1.0, 1.0, 0.0)
    visible: bool = True

    def data(self, to_world: np.ndarray | None = None) -> ModelData:
        points = self.points
        if to_world is not None:
            points = frozen_array(points @ to_world[:3, :3].T + to_world[:3, 3])
        return ModelData(self.id, self.name, points, self.triangles, self.color, self.visible)
