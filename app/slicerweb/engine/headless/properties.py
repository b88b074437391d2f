"""`/mrml/properties` for headless nodes, shaped like the WebServer module's parse of PrintSelf.

The original turns each node's VTK `PrintSelf` text into nested JSON (indentation makes groups,
`key: value` lines become typed values, `(none)` is left out). Clients rely on that shape, e.g.
slicerio's documented `properties["Segmentation"]["Segments"][segment_id]["Name"]`; this module
builds the same keys directly from the node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...formats.nrrd import NRRD_TYPES
from .nodes import (
    GridTransformNode,
    LinearTransformNode,
    MarkupsNode,
    ModelNode,
    Node,
    SegmentationNode,
    VolumeNode,
)

VTK_SCALAR_NAMES = {"int8": "signed char", "uint8": "unsigned char", "int16": "short",
                    "uint16": "unsigned short", "int32": "int", "uint32": "unsigned int", "int64": "long long",
                    "uint64": "unsigned long long", "float32": "float", "float64": "double"}


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values).ravel()]


def _rows(matrix: np.ndarray) -> list[list[float]]:
    return [_floats(row) for row in matrix]


def _grid(ijk_to_ras: np.ndarray, shape: tuple[int, ...]) -> dict[str, Any]:
    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    return {"Origin": _floats(ijk_to_ras[:3, 3]), "Spacing": _floats(spacing),
            "IJKToRASDirections": _rows(ijk_to_ras[:3, :3] / spacing),
            "Dimensions": [int(n) for n in reversed(shape[:3])]}


def node_properties(node: Node) -> dict[str, Any]:
    """The nested properties of one node."""
    props: dict[str, Any] = {
        "ID": node.id, "ClassName": node.class_name, "Name": node.name, "Debug": False,
        "HideFromEditors": False, "Selectable": True, "Selected": False, "UndoEnabled": False,
    }
    if node.attributes:
        props["Attributes"] = dict(node.attributes)
    if node.transform_id:
        props["TransformNodeID"] = node.transform_id
    if node.storage is not None:
        props["StorageNode"] = {"FileName": node.storage.path, "FileType": node.storage.filetype}
    if isinstance(node, VolumeNode):
        grid = _grid(node.ijk_to_ras, node.array.shape)
        dimensions = grid.pop("Dimensions")
        props.update(grid)
        props["ImageData"] = {"Dimensions": dimensions, "ScalarType": VTK_SCALAR_NAMES[node.array.dtype.name],
                              "NRRDType": NRRD_TYPES[node.array.dtype.name], "NumberOfScalarComponents": 1}
        if node.class_name == "vtkMRMLLabelMapVolumeNode":
            props["LabelMap"] = True
    elif isinstance(node, SegmentationNode):
        props["Segmentation"] = {
            "MasterRepresentationName": "Binary labelmap",
            "ContainedRepresentationNames": ["Binary labelmap"],
            "Segments": {segment.id: {"Name": segment.name, "Color": list(segment.color),
                                      "LabelValue": segment.label_value, "Layer": 0}
                         for segment in node.segments},
        }
        props["ReferenceImageGeometry"] = _grid(node.ijk_to_ras, node.labelmap.shape)
    elif isinstance(node, MarkupsNode):
        props["NumberOfControlPoints"] = len(node.points)
        props["ControlPoints"] = [{"Label": p.label, "Position": list(p.position), "Selected": p.selected,
                                   "Visibility": p.visible} for p in node.points]
        props["Display"] = {"Color": list(node.color), "SelectedColor": list(node.selected_color),
                            "GlyphScale": node.scale, "Visibility": node.visible}
    elif isinstance(node, LinearTransformNode):
        props["MatrixTransformToParent"] = _rows(node.matrix)
    elif isinstance(node, GridTransformNode):
        props["DisplacementGrid"] = _grid(node.ijk_to_ras, node.displacement.shape)
    elif isinstance(node, ModelNode):
        props["NumberOfPoints"] = len(node.points)
        props["NumberOfCells"] = len(node.triangles)
        props["Display"] = {"Color": list(node.color), "Visibility": node.visible}
    return props
